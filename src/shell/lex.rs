//! The lexer half of [`Parser`]: tokens, words, quotes and the expansions inside them.
//! Command substitutions call back into the grammar (`parse.rs`), so `$( … )` ends at the
//! `)` the shell's grammar would end it at, not at the first `)` character.

use std::borrow::Cow;

use super::ParseError;
use super::parse::{End, Parser};

/// An operator token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `;`, `&`, `&&`, `||`: end of a simple command.
    Sep,
    /// `|`, `|&`: end of a simple command whose output the next one reads.
    Pipe,
    LParen,
    RParen,
    /// `;;`, `;&`, `;;&`.
    CaseEnd,
    /// A redirection; `heredoc` for `<<` and `<<-` (the target is a here-document
    /// delimiter), with `<<-` stripping leading tabs; `herestring` for `<<<`; `input` for
    /// the other redirections of standard input (`<`, `<&`, `<>`).
    Redir {
        heredoc: bool,
        strip_tabs: bool,
        herestring: bool,
        input: bool,
    },
}

/// A word token. Its [`Word`] is built ([`Parser::word`]) only for the words a command
/// keeps: reserved words, assignments and redirection targets cost no allocation.
#[derive(Debug, Clone)]
pub(super) struct WordTok<'a> {
    /// Where it is written: the bytes `start..end` of the script.
    pub start: usize,
    pub end: usize,
    /// Its value is known.
    pub known: bool,
    /// The known value when it is not the text as written.
    pub value: Option<String>,
    /// See [`Word::prefix`].
    pub prefix: Cow<'a, str>,
    /// Written without any quoting or expansion (can be a reserved word).
    pub plain: bool,
    /// The reserved word (or other word the grammar looks for) it is, written plainly.
    pub kw: Option<&'static str>,
    /// Quoting appeared in it (a here-document delimiter written so is not expanded).
    pub quoted: bool,
}

/// The words the grammar recognises when written plainly (see `parse.rs`).
const KEYWORDS: [&str; 23] = [
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "time",
    "esac", "case", "for", "select", "function", "[[", "]]", "coproc", "in", "-p",
];

#[derive(Debug, Clone)]
pub(super) enum Tok<'a> {
    Word(WordTok<'a>),
    Op(Op),
    Newline,
    Eof,
}

/// A here-document whose body starts after the next newline.
#[derive(Debug, Clone)]
pub(super) struct HereDoc {
    /// Where its body goes in `Parser::bodies`.
    pub id: usize,
    pub delim: String,
    pub strip_tabs: bool,
    pub expand: bool,
}

/// A word being built.
struct Acc {
    value: String,
    known: bool,
    plain: bool,
    quoted: bool,
    /// Unquoted `{` seen, and then an unquoted `,` or `..` (brace expansion).
    brace_open: bool,
    brace_list: bool,
}

const fn redir(heredoc: bool, strip_tabs: bool, herestring: bool, input: bool) -> Op {
    Op::Redir {
        heredoc,
        strip_tabs,
        herestring,
        input,
    }
}

/// Byte classes, looked up per byte ([`CLASS`]).
const META: u8 = 1;
const WORD_SPECIAL: u8 = 2;
const DQUOTE_SPECIAL: u8 = 4;
const KEYWORD_START: u8 = 8;

/// The classes of every byte: metacharacters; the bytes [`Parser::read_word`] looks at
/// (any other is copied as it is); those double quotes look at; first bytes of keywords.
static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let sets: [(&[u8], u8); 4] = [
        (b" \t\n;&|()<>", META | WORD_SPECIAL),
        (b"\\'\"$`*?[={},.", WORD_SPECIAL),
        (b"\"\\$`", DQUOTE_SPECIAL),
        (b"itefdwu{}!cs[]-", KEYWORD_START),
    ];
    let mut i = 0;
    while i < sets.len() {
        let (bytes, class) = sets[i];
        let mut j = 0;
        while j < bytes.len() {
            t[bytes[j] as usize] |= class;
            j += 1;
        }
        i += 1;
    }
    t
}

pub(super) fn is_meta(c: u8) -> bool {
    CLASS[c as usize] & META != 0
}

fn is_word_special(c: u8) -> bool {
    CLASS[c as usize] & WORD_SPECIAL != 0
}

fn is_dquote_special(c: u8) -> bool {
    CLASS[c as usize] & DQUOTE_SPECIAL != 0
}

pub(super) fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

pub(super) fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// The reserved word (or other word the grammar looks for) `w` is.
fn keyword(w: &str) -> Option<&'static str> {
    let first = *w.as_bytes().first()?;
    if w.len() > 8 || CLASS[first as usize] & KEYWORD_START == 0 {
        return None;
    }
    KEYWORDS.into_iter().find(|k| *k == w)
}

/// The operator at the start of `b` (whose first byte is a metacharacter other than a
/// blank or newline) and its length; `None` for `<` or `>` alone.
fn operator(b: &[u8]) -> (usize, Op) {
    const OUT: Op = redir(false, false, false, false);
    const IN: Op = redir(false, false, false, true);
    let at = |i: usize| b.get(i).copied();
    match (b[0], at(1), at(2)) {
        (b';', Some(b';'), Some(b'&')) => (3, Op::CaseEnd),
        (b';', Some(b';' | b'&'), _) => (2, Op::CaseEnd),
        (b';', _, _) => (1, Op::Sep),
        (b'&', Some(b'&'), _) => (2, Op::Sep),
        (b'&', Some(b'>'), Some(b'>')) => (3, OUT),
        (b'&', Some(b'>'), _) => (2, OUT),
        (b'&', _, _) => (1, Op::Sep),
        (b'|', Some(b'|'), _) => (2, Op::Sep),
        (b'|', Some(b'&'), _) => (2, Op::Pipe),
        (b'|', _, _) => (1, Op::Pipe),
        (b'(', _, _) => (1, Op::LParen),
        (b')', _, _) => (1, Op::RParen),
        (b'<', Some(b'<'), Some(b'<')) => (3, redir(false, false, true, false)),
        (b'<', Some(b'<'), Some(b'-')) => (3, redir(true, true, false, false)),
        (b'<', Some(b'<'), _) => (2, redir(true, false, false, false)),
        (b'<', Some(b'>' | b'&'), _) => (2, IN),
        (b'<', _, _) => (1, IN),
        (b'>', Some(b'>' | b'|' | b'&'), _) => (2, OUT),
        _ => (1, OUT),
    }
}

impl<'a> Parser<'a> {
    pub(super) fn err<T>(&self, msg: &str) -> Result<T, ParseError> {
        Err(ParseError {
            message: msg.to_string(),
            too_deep: false,
        })
    }

    pub(super) fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos + off).copied()
    }

    /// The character at byte `pos` (a character boundary).
    pub(super) fn char_at(&self, pos: usize) -> Option<char> {
        self.src.get(pos..).and_then(|s| s.chars().next())
    }

    /// Where the run of bytes from `from` that `stop` does not stop ends.
    pub(super) fn run_end(&self, from: usize, stop: impl Fn(u8) -> bool) -> usize {
        let rest = self.b.get(from..).unwrap_or(&[]);
        from + rest.iter().position(|&c| stop(c)).unwrap_or(rest.len())
    }

    /// The next token. `Tok::Newline` also reads the pending here-document bodies.
    pub(super) fn lex(&mut self) -> Result<Tok<'a>, ParseError> {
        loop {
            match self.peek_at(0) {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\\') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                Some(b'#') => self.pos = self.run_end(self.pos, |c| c == b'\n'),
                _ => break,
            }
        }
        let Some(c) = self.peek_at(0) else {
            return Ok(Tok::Eof);
        };
        if c == b'\n' {
            self.pos += 1;
            self.read_heredocs()?;
            return Ok(Tok::Newline);
        }
        // `<(` and `>(` are process substitutions: words.
        let procsub = matches!(c, b'<' | b'>') && self.peek_at(1) == Some(b'(');
        if !procsub && is_meta(c) {
            let (len, op) = operator(&self.b[self.pos..]);
            self.pos += len;
            return Ok(Tok::Op(op));
        }
        let w = self.read_word()?;
        // An IO number (`2>`) or `{fd}>` right before a redirection is not a word.
        let next_redir =
            matches!(self.peek_at(0), Some(b'<' | b'>')) && self.peek_at(1) != Some(b'(');
        if next_redir && w.plain {
            let v = &self.b[w.start..w.end];
            let io_number = !v.is_empty() && v.iter().all(|c| c.is_ascii_digit());
            let fd_var = v.len() > 2
                && v[0] == b'{'
                && v[v.len() - 1] == b'}'
                && v[1..v.len() - 1].iter().all(|c| is_name_char(*c));
            if io_number || fd_var {
                return self.lex();
            }
        }
        Ok(Tok::Word(w))
    }

    fn read_word(&mut self) -> Result<WordTok<'a>, ParseError> {
        let start = self.pos;
        let mut buf = std::mem::take(&mut self.word_buf);
        buf.clear();
        let mut a = Acc {
            value: buf,
            known: true,
            plain: true,
            quoted: false,
            brace_open: false,
            brace_list: false,
        };
        let mut prefix: Option<usize> = None;
        while let Some(c) = self.peek_at(0) {
            let (before, was_known) = (a.value.len(), a.known);
            match c {
                b'<' | b'>' if self.peek_at(1) == Some(b'(') => {
                    self.pos += 2;
                    self.parse_list(End::RParen)?;
                    a.known = false;
                    a.plain = false;
                }
                c if is_meta(c) => break,
                b'\\' => {
                    a.plain = false;
                    a.quoted = true;
                    match self.char_at(self.pos + 1) {
                        Some('\n') => self.pos += 2,
                        Some(n) => {
                            a.value.push(n);
                            self.pos += 1 + n.len_utf8();
                        }
                        None => {
                            self.pos += 1;
                        }
                    }
                }
                b'\'' => {
                    a.plain = false;
                    a.quoted = true;
                    let end = self.run_end(self.pos + 1, |c| c == b'\'');
                    if end == self.b.len() {
                        return self.err("unterminated single quote");
                    }
                    a.value.push_str(&self.src[self.pos + 1..end]);
                    self.pos = end + 1;
                }
                b'"' => {
                    a.plain = false;
                    a.quoted = true;
                    self.pos += 1;
                    self.read_dquoted(&mut a.value, &mut a.known, true)?;
                }
                b'$' => {
                    let before = self.pos;
                    self.read_dollar(&mut a.value, &mut a.known, false)?;
                    if self.pos != before + 1 || !a.value.ends_with('$') {
                        a.plain = false;
                    }
                    if self.pos > before + 1 && self.b[before + 1] == b'\'' {
                        a.quoted = true;
                    }
                }
                b'`' => {
                    a.plain = false;
                    self.pos += 1;
                    self.read_backtick(false)?;
                    a.known = false;
                }
                b'*' | b'?' => {
                    // `?(`, `*(`... are extglobs; either way a pattern.
                    a.known = false;
                    a.value.push(char::from(c));
                    self.pos += 1;
                }
                b'[' => {
                    // A bracket expression if a `]` follows in the word (looked for in a
                    // bounded window, so that `[[[[…` stays linear; past it, assume one).
                    let rest = self.src[self.pos + 1..].chars();
                    let window = rest
                        .take(256)
                        .take_while(|c| !c.is_ascii() || !is_meta(*c as u8));
                    let span = window.clone().count();
                    if window.into_iter().any(|c| c == ']') || span == 256 {
                        a.known = false;
                    }
                    a.value.push('[');
                    self.pos += 1;
                }
                b'=' if self.pos == start && self.peek_at(1).is_some_and(is_name_start) => {
                    // zsh's `=cmd` is the path of cmd.
                    a.known = false;
                    a.value.push('=');
                    self.pos += 1;
                }
                b'{' => {
                    a.brace_open = true;
                    a.value.push('{');
                    self.pos += 1;
                }
                b',' if a.brace_open => {
                    a.brace_list = true;
                    a.value.push(',');
                    self.pos += 1;
                }
                b'.' if a.brace_open && self.peek_at(1) == Some(b'.') => {
                    a.brace_list = true;
                    a.value.push_str("..");
                    self.pos += 2;
                }
                b'}' => {
                    if a.brace_list {
                        a.known = false;
                    }
                    a.value.push('}');
                    self.pos += 1;
                }
                b'=' if self.peek_at(1) == Some(b'(') && is_assignment_lhs(&a.value) && a.plain => {
                    // An array assignment `a=(x y)`: its elements are words.
                    self.pos += 2;
                    self.read_array()?;
                    a.value.push_str("=()");
                    a.known = false;
                }
                _ => {
                    // This byte and the ordinary ones after it (a run that ends at an
                    // ASCII byte or the end: whole characters).
                    let end = self.run_end(self.pos + 1, is_word_special);
                    a.value.push_str(&self.src[self.pos..end]);
                    self.pos = end;
                }
            }
            if was_known && !a.known {
                prefix = Some(before);
            }
        }
        let src = self.src;
        let written = &src[start..self.pos];
        let value = (a.known && a.value != written).then(|| a.value.clone());
        let kw = match a.plain {
            true => keyword(written),
            false => None,
        };
        let prefix = match prefix {
            None | Some(0) => Cow::Borrowed(""),
            // Written as it reads (`git${IFS}push`): a slice of the script.
            Some(n) if written.as_bytes().get(..n) == Some(&a.value.as_bytes()[..n]) => {
                Cow::Borrowed(&src[start..start + n])
            }
            Some(n) => Cow::Owned(a.value[..n].to_string()),
        };
        self.word_buf = a.value;
        Ok(WordTok {
            start,
            end: self.pos,
            known: a.known,
            value,
            prefix,
            plain: a.plain,
            kw,
            quoted: a.quoted,
        })
    }

    /// The elements of `a=( … )` up to the closing `)` (consumed).
    fn read_array(&mut self) -> Result<(), ParseError> {
        loop {
            match self.lex()? {
                Tok::Op(Op::RParen) => return Ok(()),
                Tok::Word(_) | Tok::Newline => {}
                Tok::Eof => return self.err("unterminated array assignment"),
                Tok::Op(_) => return self.err("syntax error in array assignment"),
            }
        }
    }

    /// Double-quoted text after the opening `"`. With `closing`, it ends at `"` (consumed);
    /// without (an expanding here-document body), at the end of input.
    pub(super) fn read_dquoted(
        &mut self,
        val: &mut String,
        known: &mut bool,
        closing: bool,
    ) -> Result<(), ParseError> {
        loop {
            let Some(c) = self.peek_at(0) else {
                if closing {
                    return self.err("unterminated double quote");
                }
                return Ok(());
            };
            match c {
                b'"' if closing => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => match self.peek_at(1) {
                    Some(b'\n') => self.pos += 2,
                    Some(n @ (b'$' | b'`' | b'\\')) => {
                        val.push(char::from(n));
                        self.pos += 2;
                    }
                    Some(b'"') if closing => {
                        val.push('"');
                        self.pos += 2;
                    }
                    _ => {
                        val.push('\\');
                        self.pos += 1;
                    }
                },
                b'$' => self.read_dollar(val, known, true)?,
                b'`' => {
                    self.pos += 1;
                    self.read_backtick(closing)?;
                    *known = false;
                }
                _ => {
                    let end = self.run_end(self.pos + 1, is_dquote_special);
                    val.push_str(&self.src[self.pos..end]);
                    self.pos = end;
                }
            }
        }
    }
}

/// `NAME=` or `NAME+=` (an assignment's left side, before the value).
pub(super) fn is_assignment_lhs(s: &str) -> bool {
    let s = s.strip_suffix('+').unwrap_or(s);
    let mut cs = s.bytes();
    cs.next().is_some_and(is_name_start) && cs.all(is_name_char)
}

/// A `NAME=value`, `NAME+=value` or `NAME[i]=value` word as written.
pub(super) fn is_assignment(source: &str) -> bool {
    let Some(eq) = source.find('=') else {
        return false;
    };
    let lhs = &source[..eq];
    let lhs = match lhs.find('[') {
        Some(b) if lhs.ends_with(']') || lhs.ends_with("]+") => &lhs[..b],
        _ => lhs,
    };
    is_assignment_lhs(lhs)
}
