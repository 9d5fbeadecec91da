//! The expansions inside words: `$…` (parameters, `${ … }`, `$( … )`, `$(( … ))`,
//! `$' … '`), backticks and here-document bodies. Command substitutions are parsed as
//! scripts; their commands are added to the parser's output.

use super::ParseError;
use super::lex::{is_name_char, is_name_start};
use super::parse::{End, Parser};

impl<'a> Parser<'a> {
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
            Some(b'(') if self.peek_at(1) == Some(b'(') => {
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
            Some(b'(') => {
                self.pos += 1;
                self.parse_list(End::RParen)?;
                *known = false;
            }
            Some(b'{') => {
                self.pos += 1;
                self.nested(|p| p.read_brace_param())?;
                *known = false;
            }
            Some(b'\'') if !in_dq => {
                self.pos += 1;
                self.read_ansi_c(val)?;
            }
            Some(b'"') if !in_dq => {
                self.pos += 1;
                self.read_dquoted(val, known, true)?;
            }
            Some(c) if is_name_start(c) => {
                self.pos = self.run_end(self.pos, |c| !is_name_char(c));
                *known = false;
            }
            Some(c) if c.is_ascii_digit() || b"@*#?-$!".contains(&c) => {
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
        // Characters from `start` to `counted` (the limit is in characters, not bytes).
        let (mut chars, mut counted) = (0usize, start);
        let mut depth = 0usize;
        let mut scratch = String::new();
        let mut known = true;
        loop {
            let Some(c) = self.peek_at(0) else {
                return Ok(false);
            };
            if self.pos - start > MAX_ARITH {
                let new = self.b.get(counted..self.pos).unwrap_or(&[]);
                chars += new.iter().filter(|b| (**b & 0xc0) != 0x80).count();
                counted = self.pos;
                if chars > MAX_ARITH {
                    return Ok(false);
                }
            }
            match c {
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                b')' => {
                    if self.peek_at(1) == Some(b')') {
                        self.pos += 2;
                        return Ok(true);
                    }
                    return Ok(false);
                }
                b'$' => self.read_dollar(&mut scratch, &mut known, true)?,
                b'`' => {
                    self.pos += 1;
                    self.read_backtick(false)?;
                }
                b'\\' => self.pos += 2,
                b'\'' | b'"' => {
                    self.pos += 1;
                    if c == b'"' {
                        self.read_dquoted(&mut scratch, &mut known, true)?;
                    } else {
                        self.pos = self.run_end(self.pos, |x| x == b'\'') + 1;
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
                b'}' if depth == 0 => {
                    self.pos += 1;
                    return Ok(());
                }
                b'}' => {
                    depth -= 1;
                    self.pos += 1;
                }
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'\\' => self.pos += 2,
                b'\'' => {
                    self.pos = self.run_end(self.pos + 1, |x| x == b'\'');
                    if self.peek_at(0).is_none() {
                        return self.err("unterminated single quote");
                    }
                    self.pos += 1;
                }
                b'"' => {
                    self.pos += 1;
                    self.read_dquoted(&mut scratch, &mut known, true)?;
                }
                b'$' => self.read_dollar(&mut scratch, &mut known, true)?,
                b'`' => {
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
        let depth = self.depth + self.sub_depth + 1;
        let end = self.run_end(self.pos, |c| c == b'`' || c == b'\\');
        if self.b.get(end) == Some(&b'`') {
            // Nothing escaped: the body is a slice of the script, and so are its words.
            let src = self.src;
            let inner = super::parse_nested(&src[self.pos..end], depth)?;
            self.pos = end + 1;
            self.out.extend(inner);
            return Ok(());
        }
        let mut body = String::new();
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.err("unterminated backquote");
            };
            match c {
                b'`' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek_at(0) {
                        Some(n @ (b'$' | b'`' | b'\\')) => {
                            body.push(char::from(n));
                            self.pos += 1;
                        }
                        Some(b'"') if in_dq => {
                            body.push('"');
                            self.pos += 1;
                        }
                        _ => body.push('\\'),
                    }
                }
                _ => {
                    let end = self.run_end(self.pos + 1, |c| c == b'`' || c == b'\\');
                    body.push_str(&self.src[self.pos..end]);
                    self.pos = end;
                }
            }
        }
        let inner = super::parse_nested(&body, depth)?;
        self.out.extend(inner.into_iter().map(|c| c.into_owned()));
        Ok(())
    }

    /// After `$'`: ANSI-C quoted text up to the closing `'` (consumed), decoded into `val`.
    fn read_ansi_c(&mut self, val: &mut String) -> Result<(), ParseError> {
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.err("unterminated $' quote");
            };
            match c {
                b'\'' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.char_at(self.pos) else {
                        return self.err("unterminated $' quote");
                    };
                    self.pos += e.len_utf8();
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
                            if let Some(x) = self.char_at(self.pos) {
                                self.pos += x.len_utf8();
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
                _ => {
                    let end = self.run_end(self.pos + 1, |c| c == b'\'' || c == b'\\');
                    val.push_str(&self.src[self.pos..end]);
                    self.pos = end;
                }
            }
        }
    }

    /// Up to `max` digits in `radix` as one character (`\x67` is `g`).
    fn push_code(&mut self, val: &mut String, radix: u32, max: usize) {
        let mut n: u32 = 0;
        let mut digits = 0;
        while digits < max {
            match self.peek_at(0).and_then(|c| char::from(c).to_digit(radix)) {
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
                if self.pos >= self.b.len() {
                    break; // the shell warns and ends the document at end of input
                }
                let start = self.pos;
                self.pos = self.run_end(start, |c| c == b'\n');
                let src = self.src;
                let line = &src[start..self.pos];
                if self.pos < self.b.len() {
                    self.pos += 1;
                }
                let cmp = if h.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if cmp == h.delim {
                    break;
                }
                body.push_str(cmp); // `<<-` strips leading tabs from every line
                body.push('\n');
            }
            if h.expand {
                let depth = self.depth + self.sub_depth + 1;
                let mut sub = Parser::new(&body, depth);
                if depth > super::MAX_DEPTH {
                    return self.too_deep();
                }
                let (mut v, mut k) = (String::new(), true);
                sub.read_dquoted(&mut v, &mut k, false)?;
                self.out.extend(sub.out.into_iter().map(|c| c.into_owned()));
            }
            if let Some(slot) = self.bodies.get_mut(h.id) {
                *slot = Some(body);
            }
        }
        Ok(())
    }
}
