//! The expansions inside words: `$…` (parameters, `${ … }`, `$( … )`, `$(( … ))`,
//! `$' … '`), backticks and here-document bodies. Command substitutions are parsed as
//! scripts; their commands are added to the parser's output.

use super::ParseError;
use super::lex::{is_name_char, is_name_start};
use super::parse::{End, Parser};

impl Parser {
    /// At a `$`: a parameter, `${ … }`, `$( … )`, `$(( … ))`, `$' … '`, `$" … "` or a
    /// literal `$`.
    pub(super) fn read_dollar(
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
                if !self.nested(|p| p.read_arith())? {
                    // Not arithmetic after all: `$( (…) … )`.
                    self.pos = save_pos - 1;
                    self.truncate_out(save_out);
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
                self.nested(|p| p.read_brace_param())?;
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
    /// Longer text is not taken for arithmetic (it is read as commands instead, which checks
    /// more, not less): a scan per `((` of an unbalanced input stays linear.
    pub(super) fn read_arith(&mut self) -> Result<bool, ParseError> {
        const MAX_ARITH: usize = 1024;
        let start = self.pos;
        let mut depth = 0usize;
        let mut scratch = String::new();
        let mut known = true;
        loop {
            let Some(c) = self.peek_at(0) else {
                return Ok(false);
            };
            if self.pos - start > MAX_ARITH {
                return Ok(false);
            }
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
    pub(super) fn read_backtick(&mut self, in_dq: bool) -> Result<(), ParseError> {
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
    pub(super) fn read_heredocs(&mut self) -> Result<(), ParseError> {
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
                let line = self.text(start, self.pos);
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
                body.push_str(cmp); // `<<-` strips leading tabs from every line
                body.push('\n');
            }
            if let Some(slot) = self.bodies.get_mut(h.id) {
                *slot = Some(body.clone());
            }
            if h.expand {
                let depth = self.depth + self.sub_depth + 1;
                let mut sub = Parser::new(&body, depth);
                if depth > super::MAX_DEPTH {
                    return self.too_deep();
                }
                let (mut v, mut k) = (String::new(), true);
                sub.read_dquoted(&mut v, &mut k, false)?;
                self.out.extend(sub.out);
            }
        }
        Ok(())
    }
}
