//! A POSIX (and common bash) shell lexer/parser for command policy: it finds every simple
//! command a script could run, without running anything (pure, no I/O).
//!
//! [`parse`] returns the simple commands in the order the shell would meet them (the
//! commands inside a `$( … )`, backticks, `<( … )` or an expanding here-document come before
//! the command whose word contains them). Each command is its argv after removing `VAR=x`
//! prefixes and redirections; each [`Word`] is either its literal value after quote removal,
//! or unknown when it depends on run-time state (parameter expansion, command substitution,
//! arithmetic, a glob or brace expansion).
//!
//! What is seen through: quotes (`'…'`, `"…"`, `$'…'`, `$"…"`), backslashes, line
//! continuations, `&&` `||` `;` `|` `|&` `&` and newlines, `( … )`, `{ …; }`, `$( … )`,
//! `` `…` `` (recursively, also inside double quotes and `${…}`), `$(( … ))`, `<( … )`,
//! `>( … )`, redirections (`2>&1`, `{fd}>x`, `<<<`), here-documents (bodies are data, but an
//! unquoted delimiter's body is scanned for substitutions), comments, the bodies of
//! `if/while/until/for/select/case`, `[[ … ]]`, `(( … ))`, functions and `coproc`.
//!
//! Input the shell itself would reject, or that this parser cannot follow (an unterminated
//! quote or substitution, an unbalanced parenthesis, a `case` without `esac`, nesting
//! deeper than [`MAX_DEPTH`]) is an error: callers fail closed.

mod expand;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

/// How deep substitutions and nested scripts may nest before the input is refused.
pub const MAX_DEPTH: usize = 32;

/// One word of a simple command. Its strings borrow the script's text where they can (a
/// word written plainly costs no allocation); [`Word::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    /// The value after quote removal, or `None` when it cannot be known statically.
    pub value: Option<Cow<'a, str>>,
    /// The word as written (for messages).
    pub source: Cow<'a, str>,
    /// For a word only known at run time, the literal text before its first unknown part
    /// as far as the lexer can tell (`git` for `git${IFS}push`, empty for `$CMD`); a
    /// prefix of the word's real value. Empty for known words.
    pub prefix: Cow<'a, str>,
}

impl<'a> Word<'a> {
    /// A word whose value is known (a copy of `s`).
    pub fn lit(s: &str) -> Word<'static> {
        Word::borrowed(s).into_owned()
    }

    /// A word whose value is known, borrowing `s`.
    pub fn borrowed(s: &'a str) -> Word<'a> {
        Word {
            value: Some(Cow::Borrowed(s)),
            source: Cow::Borrowed(s),
            prefix: Cow::Borrowed(""),
        }
    }

    /// A word whose value is not known statically, written as `source`.
    pub fn unknown(source: &str) -> Word<'static> {
        Word {
            value: None,
            source: Cow::Owned(source.to_string()),
            prefix: Cow::Borrowed(""),
        }
    }

    /// The same word, owning its strings.
    pub fn into_owned(self) -> Word<'static> {
        Word {
            value: self.value.map(|v| Cow::Owned(v.into_owned())),
            source: Cow::Owned(self.source.into_owned()),
            prefix: Cow::Owned(self.prefix.into_owned()),
        }
    }
}

/// A simple command: its words (argv), never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand<'a> {
    pub words: Vec<Word<'a>>,
    /// The text its standard input reads when the script gives it literally (a
    /// here-document's body, a here-string and its newline): a shell reading it runs it.
    pub stdin: Option<String>,
}

impl SimpleCommand<'_> {
    /// The words as written, joined by spaces (for messages).
    pub fn display(&self) -> String {
        display_words(&self.words)
    }

    /// The same command, owning its words.
    pub fn into_owned(self) -> SimpleCommand<'static> {
        SimpleCommand {
            words: self.words.into_iter().map(Word::into_owned).collect(),
            stdin: self.stdin,
        }
    }
}

/// `words` as written, joined by spaces.
pub fn display_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.source.as_ref())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Why a script could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// Refused for nesting deeper than [`MAX_DEPTH`] (not a syntax error: a caller that
    /// tries a second reading must not take it for "this is not a script").
    pub too_deep: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Every simple command `script` could run, or why it cannot be parsed.
pub fn parse(script: &str) -> Result<Vec<SimpleCommand<'_>>, ParseError> {
    parse_nested(script, 0)
}

/// [`parse`] for a script found at nesting depth `depth` (`sh -c`, `eval`, backticks).
pub fn parse_nested(script: &str, depth: usize) -> Result<Vec<SimpleCommand<'_>>, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError {
            message: format!("nested more than {MAX_DEPTH} levels deep"),
            too_deep: true,
        });
    }
    let mut p = parse::Parser::new(script, depth);
    p.parse_script()?;
    Ok(p.out)
}
