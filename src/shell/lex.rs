//! The lexer half of [`Parser`]: tokens, words, quotes and the expansions inside them.
//! Command substitutions call back into the grammar (`parse.rs`), so `$( … )` ends at the
//! `)` the shell's grammar would end it at, not at the first `)` character.

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
pub(super) struct WordTok {
    /// Where it is written: the characters `start..end` of the script.
    pub start: usize,
    pub end: usize,
    /// Its value is known.
    pub known: bool,
    /// The known value when it is not the text as written.
    pub value: Option<String>,
    /// See [`Word::prefix`].
    pub prefix: String,
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
pub(super) enum Tok {
    Word(WordTok),
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

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
    )
}

pub(super) fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

pub(super) fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

impl Parser {
    pub(super) fn err<T>(&self, msg: &str) -> Result<T, ParseError> {
        Err(ParseError {
            message: msg.to_string(),
            too_deep: false,
        })
    }

    pub(super) fn peek_at(&self, off: usize) -> Option<char> {
        self.s.get(self.pos + off).copied()
    }

    fn starts(&self, pat: &str) -> bool {
        let mut i = self.pos;
        pat.chars().all(|c| {
            let ok = self.s.get(i) == Some(&c);
            i += 1;
            ok
        })
    }

    /// The next token. `Tok::Newline` also reads the pending here-document bodies.
    pub(super) fn lex(&mut self) -> Result<Tok, ParseError> {
        loop {
            match self.peek_at(0) {
                Some(' ' | '\t') => self.pos += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while self.peek_at(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.peek_at(0) else {
            return Ok(Tok::Eof);
        };
        if c == '\n' {
            self.pos += 1;
            self.read_heredocs()?;
            return Ok(Tok::Newline);
        }
        const OUT: Op = redir(false, false, false, false);
        const IN: Op = redir(false, false, false, true);
        const OPS: [(&str, Op); 21] = [
            (";;&", Op::CaseEnd),
            (";;", Op::CaseEnd),
            (";&", Op::CaseEnd),
            (";", Op::Sep),
            ("&&", Op::Sep),
            ("&>>", OUT),
            ("&>", OUT),
            ("&", Op::Sep),
            ("||", Op::Sep),
            ("|&", Op::Pipe),
            ("|", Op::Pipe),
            ("(", Op::LParen),
            (")", Op::RParen),
            ("<<<", redir(false, false, true, false)),
            ("<<-", redir(true, true, false, false)),
            ("<<", redir(true, false, false, false)),
            ("<>", IN),
            ("<&", IN),
            (">>", OUT),
            (">|", OUT),
            (">&", OUT),
        ];
        // `<(` and `>(` are process substitutions: words.
        let procsub = matches!(c, '<' | '>') && self.peek_at(1) == Some('(');
        if !procsub && is_meta(c) {
            for (text, op) in OPS {
                if self.starts(text) {
                    self.pos += text.chars().count();
                    return Ok(Tok::Op(op));
                }
            }
            if matches!(c, '<' | '>') {
                self.pos += 1;
                return Ok(Tok::Op(redir(false, false, false, c == '<')));
            }
        }
        let w = self.read_word()?;
        // An IO number (`2>`) or `{fd}>` right before a redirection is not a word.
        let next_redir = matches!(self.peek_at(0), Some('<' | '>')) && self.peek_at(1) != Some('(');
        if next_redir && w.plain {
            let v = &self.s[w.start..w.end];
            let io_number = !v.is_empty() && v.iter().all(|c| c.is_ascii_digit());
            let fd_var = v.len() > 2
                && v[0] == '{'
                && v[v.len() - 1] == '}'
                && v[1..v.len() - 1].iter().all(|c| is_name_char(*c));
            if io_number || fd_var {
                return self.lex();
            }
        }
        Ok(Tok::Word(w))
    }

    fn read_word(&mut self) -> Result<WordTok, ParseError> {
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
        let mut prefix: Option<String> = None;
        while let Some(c) = self.peek_at(0) {
            let (before, was_known) = (a.value.len(), a.known);
            match c {
                '<' | '>' if self.peek_at(1) == Some('(') => {
                    self.pos += 2;
                    self.parse_list(End::RParen)?;
                    a.known = false;
                    a.plain = false;
                }
                c if is_meta(c) => break,
                '\\' => {
                    a.plain = false;
                    a.quoted = true;
                    match self.peek_at(1) {
                        Some('\n') => self.pos += 2,
                        Some(n) => {
                            a.value.push(n);
                            self.pos += 2;
                        }
                        None => {
                            self.pos += 1;
                        }
                    }
                }
                '\'' => {
                    a.plain = false;
                    a.quoted = true;
                    self.pos += 1;
                    loop {
                        match self.peek_at(0) {
                            None => return self.err("unterminated single quote"),
                            Some('\'') => break,
                            Some(ch) => a.value.push(ch),
                        }
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                '"' => {
                    a.plain = false;
                    a.quoted = true;
                    self.pos += 1;
                    self.read_dquoted(&mut a.value, &mut a.known, true)?;
                }
                '$' => {
                    let before = self.pos;
                    self.read_dollar(&mut a.value, &mut a.known, false)?;
                    if self.pos != before + 1 || !a.value.ends_with('$') {
                        a.plain = false;
                    }
                    if self.s[before + 1..self.pos].first() == Some(&'\'') {
                        a.quoted = true;
                    }
                }
                '`' => {
                    a.plain = false;
                    self.pos += 1;
                    self.read_backtick(false)?;
                    a.known = false;
                }
                '*' | '?' => {
                    // `?(`, `*(`... are extglobs; either way a pattern.
                    a.known = false;
                    a.value.push(c);
                    self.pos += 1;
                }
                '[' => {
                    // A bracket expression if a `]` follows in the word (looked for in a
                    // bounded window, so that `[[[[…` stays linear; past it, assume one).
                    let rest = &self.s[self.pos + 1..];
                    let window = rest.iter().take(256).take_while(|c| !is_meta(**c));
                    let span = window.clone().count();
                    if window.into_iter().any(|c| *c == ']') || span == 256 {
                        a.known = false;
                    }
                    a.value.push(c);
                    self.pos += 1;
                }
                '=' if self.pos == start && self.peek_at(1).is_some_and(is_name_start) => {
                    // zsh's `=cmd` is the path of cmd.
                    a.known = false;
                    a.value.push(c);
                    self.pos += 1;
                }
                '{' => {
                    a.brace_open = true;
                    a.value.push(c);
                    self.pos += 1;
                }
                ',' if a.brace_open => {
                    a.brace_list = true;
                    a.value.push(c);
                    self.pos += 1;
                }
                '.' if a.brace_open && self.peek_at(1) == Some('.') => {
                    a.brace_list = true;
                    a.value.push_str("..");
                    self.pos += 2;
                }
                '}' => {
                    if a.brace_list {
                        a.known = false;
                    }
                    a.value.push(c);
                    self.pos += 1;
                }
                '=' if self.peek_at(1) == Some('(') && is_assignment_lhs(&a.value) && a.plain => {
                    // An array assignment `a=(x y)`: its elements are words.
                    self.pos += 2;
                    self.read_array()?;
                    a.value.push_str("=()");
                    a.known = false;
                }
                _ => {
                    a.value.push(c);
                    self.pos += 1;
                }
            }
            if was_known && !a.known {
                prefix = Some(a.value[..before].to_string());
            }
        }
        let copy;
        let written = match self.is_ascii() {
            true => &self.ascii[start..self.pos],
            false => {
                copy = self.text(start, self.pos);
                copy.as_str()
            }
        };
        let value = (a.known && a.value != written).then(|| a.value.as_str().to_string());
        let kw = match a.plain {
            true => KEYWORDS.into_iter().find(|k| *k == written),
            false => None,
        };
        self.word_buf = a.value;
        Ok(WordTok {
            start,
            end: self.pos,
            known: a.known,
            value,
            prefix: prefix.unwrap_or_default(),
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
                '"' if closing => {
                    self.pos += 1;
                    return Ok(());
                }
                '\\' => match self.peek_at(1) {
                    Some('\n') => self.pos += 2,
                    Some(n @ ('$' | '`' | '\\')) => {
                        val.push(n);
                        self.pos += 2;
                    }
                    Some('"') if closing => {
                        val.push('"');
                        self.pos += 2;
                    }
                    _ => {
                        val.push('\\');
                        self.pos += 1;
                    }
                },
                '$' => self.read_dollar(val, known, true)?,
                '`' => {
                    self.pos += 1;
                    self.read_backtick(closing)?;
                    *known = false;
                }
                _ => {
                    val.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// `NAME=` or `NAME+=` (an assignment's left side, before the value).
pub(super) fn is_assignment_lhs(s: &str) -> bool {
    let s = s.strip_suffix('+').unwrap_or(s);
    let mut cs = s.chars();
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
