//! Maps between text positions and key paths in a JSON document.
//!
//! Used to turn a `serde_json` error position into the dotted path of the
//! config value being parsed (`network.allowedDomains[1]`), and to find where
//! a key path is written. Positions are 1-based lines and 1-based *byte*
//! columns, as `serde_json::Error::line()` / `column()` report them.
//!
//! The text may be invalid or truncated: nothing here panics. Scanning stops
//! at the first token that makes no sense in its place.

use std::fmt::Write as _;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member, by its (unescaped) key.
    Key(String),
    /// An array element, by its 0-based index.
    Index(usize),
}

/// Renders a path like `network.allowedDomains[1]`, `filesystem` or `[0]`;
/// the empty path (the document root) renders as an empty string. Keys are
/// written as-is, even when they contain `.` or brackets.
pub fn render(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    out
}

/// The path of the value (or key) at or immediately before a position.
///
/// `line` and `column` are 1-based; `column` counts bytes and names the last
/// character consumed, as `serde_json` reports errors (column 0 means "before
/// the first character of the line"). The answer is the most recent member
/// or element, in each container still open at that position, whose key or
/// value starts at or before it. A position on the closing `}` / `]` of a
/// value gives that value's path. A position past the end of the text gives
/// the deepest path still open at the end. Returns the empty path (the root)
/// when nothing better is known.
pub fn path_at(json: &str, line: usize, column: usize) -> Vec<Segment> {
    let end = byte_offset(json, line, column);
    let mut walker = Walker::default();
    let mut tokens = Tokens::new(json);
    while let Some((start, token)) = tokens.next_token() {
        if start >= end || walker.apply(token).is_err() {
            break;
        }
    }
    walker.path()
}

/// The 1-based `(line, column)` where `path` is written: for an object member,
/// the opening quote of its key; for an array element (or the empty path), the
/// first byte of the value. `None` if the path does not exist in the text.
pub fn position_of(json: &str, path: &[Segment]) -> Option<(usize, usize)> {
    let mut walker = Walker::default();
    let mut tokens = Tokens::new(json);
    while let Some((start, token)) = tokens.next_token() {
        let began = walker.apply(token).ok()?;
        let found = match began {
            Began::Member => walker.path() == path,
            Began::Root => path.is_empty(),
            Began::Nothing => false,
        };
        if found {
            return Some(line_column(json, start));
        }
    }
    None
}

/// The 1-based `(line, column)` where the value at `path` starts: for an object member,
/// its value (not its key). `None` if the path does not exist in the text.
pub fn value_position(json: &str, path: &[Segment]) -> Option<(usize, usize)> {
    let (line, column) = position_of(json, path)?;
    if !matches!(path.last(), Some(Segment::Key(_))) {
        return Some((line, column));
    }
    // The member's key starts there: skip it and the colon.
    let mut tokens = Tokens {
        json,
        pos: byte_offset(json, line, column - 1),
        unterminated: false,
    };
    let _key = tokens.next_token()?;
    let (_, Token::Colon) = tokens.next_token()? else {
        return None;
    };
    let (start, _) = tokens.next_token()?;
    Some(line_column(json, start))
}

/// The first element of the array at `array` that is written as `element` (a string's
/// unescaped text, or the text of a number or literal): its index and 1-based `(line,
/// column)`.
pub fn find_element(
    json: &str,
    array: &[Segment],
    element: &str,
) -> Option<(usize, (usize, usize))> {
    let mut walker = Walker::default();
    let mut tokens = Tokens::new(json);
    while let Some((start, token)) = tokens.next_token() {
        let matches = match &token {
            Token::Str(text) => text == element,
            Token::Scalar => &json[start..tokens.pos] == element,
            _ => false,
        };
        if walker.apply(token).ok()? != Began::Member || !matches {
            continue;
        }
        let path = walker.path();
        if let Some((Segment::Index(index), parent)) = path.split_last() {
            if parent == array {
                return Some((*index, line_column(json, start)));
            }
        }
    }
    None
}

/// What is still open where a truncated text ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed {
    /// `{`, `[` or `"`.
    pub opener: char,
    /// 1-based line and byte column of the opener.
    pub line: usize,
    pub column: usize,
    /// The key path of the unclosed object, array or string (for a string that is a key,
    /// the key itself).
    pub path: Vec<Segment>,
}

/// The innermost object, array or string left open at the end of `json`, or `None` when
/// everything is closed (or the text stops making sense before its end).
pub fn unclosed(json: &str) -> Option<Unclosed> {
    let mut walker = Walker::default();
    let mut tokens = Tokens::new(json);
    // Openers of the containers still open: offset and character.
    let mut open: Vec<(usize, char, Vec<Segment>)> = Vec::new();
    while let Some((start, token)) = tokens.next_token() {
        let opener = match token {
            Token::Open(Kind::Object) => Some('{'),
            Token::Open(Kind::Array) => Some('['),
            _ => None,
        };
        let closes = matches!(token, Token::Close(_));
        walker.apply(token).ok()?;
        if tokens.unterminated {
            open.push((start, '"', walker.path()));
        } else if let Some(c) = opener {
            open.push((start, c, walker.path()));
        } else if closes {
            open.pop();
        }
    }
    let (offset, opener, path) = open.pop()?;
    let (line, column) = line_column(json, offset);
    Some(Unclosed {
        opener,
        line,
        column,
        path,
    })
}

/// The 1-based line and byte column of the last byte that is not whitespace, if any.
pub fn last_significant(json: &str) -> Option<(usize, usize)> {
    let last = json.bytes().rposition(|b| !b.is_ascii_whitespace())?;
    Some(line_column(json, last))
}

/// Number of bytes consumed at `(line, column)`, clamped to that line.
fn byte_offset(json: &str, line: usize, column: usize) -> usize {
    let mut line_start = 0;
    for _ in 1..line {
        match json[line_start..].find('\n') {
            Some(p) => line_start += p + 1,
            None => return json.len(),
        }
    }
    let line_end = json[line_start..]
        .find('\n')
        .map_or(json.len(), |p| line_start + p);
    line_start.saturating_add(column).min(line_end)
}

/// 1-based line and byte column of the byte at `offset`.
fn line_column(json: &str, offset: usize) -> (usize, usize) {
    let before = &json.as_bytes()[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

/// A lexical token of JSON text.
#[derive(Debug)]
enum Token {
    Open(Kind),
    Close(Kind),
    Colon,
    Comma,
    /// A string literal, unescaped.
    Str(String),
    /// A number, `true`, `false`, `null` or any other run of bytes.
    Scalar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
}

/// Splits JSON text into tokens, each with the byte offset where it starts.
struct Tokens<'a> {
    json: &'a str,
    pos: usize,
    /// The last string read ran to the end of the text without its closing quote.
    unterminated: bool,
}

impl Tokens<'_> {
    fn new(json: &str) -> Tokens<'_> {
        Tokens {
            json,
            pos: 0,
            unterminated: false,
        }
    }

    fn next_token(&mut self) -> Option<(usize, Token)> {
        let bytes = self.json.as_bytes();
        while bytes.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let token = match *bytes.get(start)? {
            b'{' => Token::Open(Kind::Object),
            b'[' => Token::Open(Kind::Array),
            b'}' => Token::Close(Kind::Object),
            b']' => Token::Close(Kind::Array),
            b':' => Token::Colon,
            b',' => Token::Comma,
            b'"' => return Some((start, Token::Str(self.string()))),
            _ => {
                let len = bytes[start..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || b"{}[]:,\"".contains(b))
                    .unwrap_or(bytes.len() - start);
                self.pos += len;
                return Some((start, Token::Scalar));
            }
        };
        self.pos += 1;
        Some((start, token))
    }

    /// Reads the string literal at `self.pos` (an opening quote) and returns
    /// its unescaped contents; an unterminated string runs to the end.
    fn string(&mut self) -> String {
        let json = self.json;
        let bytes = json.as_bytes();
        let mut out = String::new();
        let mut i = self.pos + 1;
        let mut run = i;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                out.push_str(&json[run..i]);
                let (ch, len) = unescape(&bytes[i + 1..]);
                out.push(ch);
                // An escape is ASCII, so `i` stays on a character boundary.
                i += 1 + len;
                run = i;
            } else {
                i += 1;
            }
        }
        out.push_str(&json[run..i]);
        self.unterminated = i >= bytes.len();
        self.pos = (i + 1).min(bytes.len());
        out
    }
}

/// Decodes the escape sequence after a backslash. Returns the character and
/// the number of bytes it used (at least one, unless at the end of text).
fn unescape(rest: &[u8]) -> (char, usize) {
    let hex = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(rest.get(at..at + 4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    let simple = match rest.first() {
        None => return ('\\', 0),
        Some(b'n') => '\n',
        Some(b't') => '\t',
        Some(b'r') => '\r',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'u') => {
            let Some(high) = hex(1) else {
                return (char::REPLACEMENT_CHARACTER, 1);
            };
            if (0xD800..0xDC00).contains(&high) && rest.get(5..7) == Some(b"\\u") {
                if let Some(low @ 0xDC00..0xE000) = hex(7) {
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    return (char::from_u32(code).unwrap_or('\u{fffd}'), 11);
                }
            }
            return (char::from_u32(high).unwrap_or('\u{fffd}'), 5);
        }
        Some(&other) if other.is_ascii() => char::from(other),
        // `\` followed by a non-ASCII byte: keep the backslash, let the
        // caller copy the character itself.
        Some(_) => return ('\\', 0),
    };
    (simple, 1)
}

/// What an object or array expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Key,
    Colon,
    Value,
    Comma,
}

/// An open container: its kind, its current member and what comes next.
#[derive(Debug)]
struct Frame {
    kind: Kind,
    current: Option<Segment>,
    next_index: usize,
    expect: Expect,
}

/// What a token began, for [`position_of`].
#[derive(Debug, PartialEq, Eq)]
enum Began {
    Nothing,
    Root,
    Member,
}

/// Tracks the containers open at the current point of the text.
#[derive(Debug, Default)]
struct Walker {
    stack: Vec<Frame>,
    root_seen: bool,
}

/// The token does not fit where it is: stop scanning.
struct Incoherent;

impl Walker {
    fn path(&self) -> Vec<Segment> {
        self.stack
            .iter()
            .filter_map(|f| f.current.clone())
            .collect()
    }

    fn apply(&mut self, token: Token) -> Result<Began, Incoherent> {
        let top = self.stack.last_mut();
        match (token, top) {
            (Token::Str(key), Some(f)) if f.expect == Expect::Key => {
                f.current = Some(Segment::Key(key));
                f.expect = Expect::Colon;
                Ok(Began::Member)
            }
            (Token::Colon, Some(f)) if f.expect == Expect::Colon => {
                f.expect = Expect::Value;
                Ok(Began::Nothing)
            }
            (Token::Comma, Some(f)) if f.expect == Expect::Comma => {
                f.expect = match f.kind {
                    Kind::Object => Expect::Key,
                    Kind::Array => Expect::Value,
                };
                Ok(Began::Nothing)
            }
            (Token::Close(kind), Some(f)) if f.kind == kind && f.expect != Expect::Colon => {
                // Tolerates `{"a": }` and `[1,]`: serde_json reports those.
                self.stack.pop();
                Ok(Began::Nothing)
            }
            (Token::Open(kind), _) => {
                let began = self.begin_value()?;
                self.stack.push(Frame {
                    kind,
                    current: None,
                    next_index: 0,
                    expect: match kind {
                        Kind::Object => Expect::Key,
                        Kind::Array => Expect::Value,
                    },
                });
                Ok(began)
            }
            (Token::Str(_) | Token::Scalar, _) => self.begin_value(),
            _ => Err(Incoherent),
        }
    }

    /// Records that a value starts in the innermost container (or at the root).
    fn begin_value(&mut self) -> Result<Began, Incoherent> {
        let Some(f) = self.stack.last_mut() else {
            if self.root_seen {
                return Err(Incoherent);
            }
            self.root_seen = true;
            return Ok(Began::Root);
        };
        if f.expect != Expect::Value {
            return Err(Incoherent);
        }
        f.expect = Expect::Comma;
        if f.kind == Kind::Object {
            return Ok(Began::Nothing);
        }
        f.current = Some(Segment::Index(f.next_index));
        f.next_index += 1;
        Ok(Began::Member)
    }
}

#[cfg(test)]
mod tests;
