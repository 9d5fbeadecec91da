//! The lexer half of [`Parser`]: tokens, words, quotes and the expansions inside them.
//! Command substitutions call back into the grammar (`parse.rs`), so `$( … )` ends at the
//! `)` the shell's grammar would end it at, not at the first `)` character.

use super::parse::{End, Parser};
use super::{ParseError, Word};

/// An operator token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `;`, `&`, `&&`, `||`, `|`, `|&`: end of a simple command.
    Sep,
    LParen,
    RParen,
    /// `;;`, `;&`, `;;&`.
    CaseEnd,
    /// A redirection; `true` for `<<` and `<<-` (the target is a here-document delimiter),
    /// with `<<-` stripping leading tabs.
    Redir {
        heredoc: bool,
        strip_tabs: bool,
    },
}

/// A word token.
#[derive(Debug, Clone)]
pub(super) struct WordTok {
    pub word: Word,
    /// Written without any quoting or expansion (can be a reserved word).
    pub plain: bool,
    /// Quoting appeared in it (a here-document delimiter written so is not expanded).
    pub quoted: bool,
}

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

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
    )
}

pub(super) fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

impl Parser {
    pub(super) fn err<T>(&self, msg: &str) -> Result<T, ParseError> {
        Err(ParseError {
            message: msg.to_string(),
        })
    }

    fn peek_at(&self, off: usize) -> Option<char> {
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
        const OPS: [(&str, Op); 21] = [
            (";;&", Op::CaseEnd),
            (";;", Op::CaseEnd),
            (";&", Op::CaseEnd),
            (";", Op::Sep),
            ("&&", Op::Sep),
            (
                "&>>",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                "&>",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            ("&", Op::Sep),
            ("||", Op::Sep),
            ("|&", Op::Sep),
            ("|", Op::Sep),
            ("(", Op::LParen),
            (")", Op::RParen),
            (
                "<<<",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                "<<-",
                Op::Redir {
                    heredoc: true,
                    strip_tabs: true,
                },
            ),
            (
                "<<",
                Op::Redir {
                    heredoc: true,
                    strip_tabs: false,
                },
            ),
            (
                "<>",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                "<&",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                ">>",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                ">|",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
            (
                ">&",
                Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                },
            ),
        ];
        // `<(` and `>(` are process substitutions: words.
        let procsub = matches!(c, '<' | '>') && self.peek_at(1) == Some('(');
        if !procsub {
            for (text, op) in OPS {
                if self.starts(text) {
                    self.pos += text.chars().count();
                    return Ok(Tok::Op(op));
                }
            }
            if matches!(c, '<' | '>') {
                self.pos += 1;
                return Ok(Tok::Op(Op::Redir {
                    heredoc: false,
                    strip_tabs: false,
                }));
            }
        }
        let w = self.read_word()?;
        // An IO number (`2>`) or `{fd}>` right before a redirection is not a word.
        let next_redir = matches!(self.peek_at(0), Some('<' | '>')) && self.peek_at(1) != Some('(');
        if next_redir && w.plain {
            let v = w.word.source.as_str();
            let io_number = !v.is_empty() && v.chars().all(|c| c.is_ascii_digit());
            let fd_var = v.len() > 2
                && v.starts_with('{')
                && v.ends_with('}')
                && v[1..v.len() - 1].chars().all(is_name_char);
            if io_number || fd_var {
                return self.lex();
            }
        }
        Ok(Tok::Word(w))
    }

    fn read_word(&mut self) -> Result<WordTok, ParseError> {
        let start = self.pos;
        let mut a = Acc {
            value: String::new(),
            known: true,
            plain: true,
            quoted: false,
            brace_open: false,
            brace_list: false,
        };
        while let Some(c) = self.peek_at(0) {
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
        }
        let source: String = self.s[start..self.pos].iter().collect();
        Ok(WordTok {
            word: Word {
                value: a.known.then_some(a.value),
                source,
            },
            plain: a.plain,
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

    /// At a `$`: a parameter, `${ … }`, `$( … )`, `$(( … ))`, `$' … '`, `$" … "` or a
    /// literal `$`.
    fn read_dollar(
        &mut self,
        val: &mut String,
        known: &mut bool,
        in_dq: bool,
    ) -> Result<(), ParseError> {
        self.pos += 1;
        match self.peek_at(0) {
            Some('(') if self.peek_at(1) == Some('(') => {
                self.pos += 2;
                let save_pos = self.pos;
                let save_out = self.out.len();
                if !self.read_arith()? {
                    // Not arithmetic after all: `$( (…) … )`.
                    self.pos = save_pos - 1;
                    self.out.truncate(save_out);
                    self.parse_list(End::RParen)?;
                }
                *known = false;
            }
            Some('(') => {
                self.pos += 1;
                self.parse_list(End::RParen)?;
                *known = false;
            }
            Some('{') => {
                self.pos += 1;
                self.read_brace_param()?;
                *known = false;
            }
            Some('\'') if !in_dq => {
                self.pos += 1;
                self.read_ansi_c(val)?;
            }
            Some('"') if !in_dq => {
                self.pos += 1;
                self.read_dquoted(val, known, true)?;
            }
            Some(c) if is_name_start(c) => {
                while self.peek_at(0).is_some_and(is_name_char) {
                    self.pos += 1;
                }
                *known = false;
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                self.pos += 1;
                *known = false;
            }
            _ => val.push('$'),
        }
        Ok(())
    }

    /// After `$((` (or a command's `((`): arithmetic up to the matching `))` (consumed).
    /// Substitutions inside are parsed. `false` (position unspecified) when the text is not
    /// arithmetic, i.e. a `)` at depth 0 is not followed by another `)`.
    pub(super) fn read_arith(&mut self) -> Result<bool, ParseError> {
        let mut depth = 0usize;
        let mut scratch = String::new();
        let mut known = true;
        loop {
            let Some(c) = self.peek_at(0) else {
                return Ok(false);
            };
            match c {
                '(' => {
                    depth += 1;
                    self.pos += 1;
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                ')' => {
                    if self.peek_at(1) == Some(')') {
                        self.pos += 2;
                        return Ok(true);
                    }
                    return Ok(false);
                }
                '$' => self.read_dollar(&mut scratch, &mut known, true)?,
                '`' => {
                    self.pos += 1;
                    self.read_backtick(false)?;
                }
                '\\' => self.pos += 2,
                '\'' | '"' => {
                    self.pos += 1;
                    if c == '"' {
                        self.read_dquoted(&mut scratch, &mut known, true)?;
                    } else {
                        while self.peek_at(0).is_some_and(|x| x != '\'') {
                            self.pos += 1;
                        }
                        self.pos += 1;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// After `${`: up to the matching `}` (consumed); substitutions inside are parsed.
    fn read_brace_param(&mut self) -> Result<(), ParseError> {
        let mut depth = 0usize;
        let mut scratch = String::new();
        let mut known = true;
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.err("unterminated ${");
            };
            match c {
                '}' if depth == 0 => {
                    self.pos += 1;
                    return Ok(());
                }
                '}' => {
                    depth -= 1;
                    self.pos += 1;
                }
                '{' => {
                    depth += 1;
                    self.pos += 1;
                }
                '\\' => self.pos += 2,
                '\'' => {
                    self.pos += 1;
                    while self.peek_at(0).is_some_and(|x| x != '\'') {
                        self.pos += 1;
                    }
                    if self.peek_at(0).is_none() {
                        return self.err("unterminated single quote");
                    }
                    self.pos += 1;
                }
                '"' => {
                    self.pos += 1;
                    self.read_dquoted(&mut scratch, &mut known, true)?;
                }
                '$' => self.read_dollar(&mut scratch, &mut known, true)?,
                '`' => {
                    self.pos += 1;
                    self.read_backtick(false)?;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// After an opening backtick: the text up to the closing one, unescaped and parsed as
    /// a script of its own.
    fn read_backtick(&mut self, in_dq: bool) -> Result<(), ParseError> {
        let mut body = String::new();
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.err("unterminated backquote");
            };
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => match self.peek_at(0) {
                    Some(n @ ('$' | '`' | '\\')) => {
                        body.push(n);
                        self.pos += 1;
                    }
                    Some('"') if in_dq => {
                        body.push('"');
                        self.pos += 1;
                    }
                    _ => body.push('\\'),
                },
                _ => body.push(c),
            }
        }
        let inner = super::parse_nested(&body, self.depth + self.sub_depth + 1)?;
        self.out.extend(inner);
        Ok(())
    }

    /// After `$'`: ANSI-C quoted text up to the closing `'` (consumed), decoded into `val`.
    fn read_ansi_c(&mut self, val: &mut String) -> Result<(), ParseError> {
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.err("unterminated $' quote");
            };
            self.pos += 1;
            match c {
                '\'' => return Ok(()),
                '\\' => {
                    let Some(e) = self.peek_at(0) else {
                        return self.err("unterminated $' quote");
                    };
                    self.pos += 1;
                    match e {
                        'n' => val.push('\n'),
                        't' => val.push('\t'),
                        'r' => val.push('\r'),
                        'a' => val.push('\x07'),
                        'b' => val.push('\x08'),
                        'e' | 'E' => val.push('\x1b'),
                        'f' => val.push('\x0c'),
                        'v' => val.push('\x0b'),
                        'c' => {
                            if let Some(x) = self.peek_at(0) {
                                self.pos += 1;
                                val.push(char::from((x as u32 & 0x1f) as u8));
                            }
                        }
                        'x' => self.push_code(val, 16, 2),
                        'u' => self.push_code(val, 16, 4),
                        'U' => self.push_code(val, 16, 8),
                        '0'..='7' => {
                            self.pos -= 1;
                            self.push_code(val, 8, 3);
                        }
                        _ => {
                            if !matches!(e, '\\' | '\'' | '"' | '?') {
                                val.push('\\');
                            }
                            val.push(e);
                        }
                    }
                }
                _ => val.push(c),
            }
        }
    }

    /// Up to `max` digits in `radix` as one character (`\x67` is `g`).
    fn push_code(&mut self, val: &mut String, radix: u32, max: usize) {
        let mut n: u32 = 0;
        let mut digits = 0;
        while digits < max {
            match self.peek_at(0).and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    n = n.saturating_mul(radix).saturating_add(d);
                    self.pos += 1;
                    digits += 1;
                }
                None => break,
            }
        }
        if digits == 0 {
            val.push('\\');
            return;
        }
        val.push(char::from_u32(n).unwrap_or('\u{fffd}'));
    }

    /// At the start of a line: the bodies of the pending here-documents. An unquoted
    /// delimiter's body is scanned for substitutions (they run); the text itself is data.
    fn read_heredocs(&mut self) -> Result<(), ParseError> {
        let pending = std::mem::take(&mut self.pending);
        for h in pending {
            let mut body = String::new();
            loop {
                if self.pos >= self.s.len() {
                    break; // the shell warns and ends the document at end of input
                }
                let start = self.pos;
                while self.peek_at(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.s[start..self.pos].iter().collect();
                if self.pos < self.s.len() {
                    self.pos += 1;
                }
                let cmp = if h.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if cmp == h.delim {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if h.expand {
                let depth = self.depth + self.sub_depth + 1;
                let mut sub = Parser::new(&body, depth);
                if depth > super::MAX_DEPTH {
                    return self.err("nested too deeply");
                }
                let (mut v, mut k) = (String::new(), true);
                sub.read_dquoted(&mut v, &mut k, false)?;
                self.out.extend(sub.out);
            }
        }
        Ok(())
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
