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

use std::fmt;

/// How deep substitutions and nested scripts may nest before the input is refused.
pub const MAX_DEPTH: usize = 32;

/// One word of a simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The value after quote removal, or `None` when it cannot be known statically.
    pub value: Option<String>,
    /// The word as written (for messages).
    pub source: String,
    /// For a word only known at run time, the literal text before its first unknown part
    /// as far as the lexer can tell (`git` for `git${IFS}push`, empty for `$CMD`); a
    /// prefix of the word's real value. Empty for known words.
    pub prefix: String,
}

impl Word {
    /// A word whose value is known.
    pub fn lit(s: &str) -> Word {
        Word {
            value: Some(s.to_string()),
            source: s.to_string(),
            prefix: String::new(),
        }
    }

    /// A word whose value is not known statically, written as `source`.
    pub fn unknown(source: &str) -> Word {
        Word {
            value: None,
            source: source.to_string(),
            prefix: String::new(),
        }
    }
}

/// A simple command: its words (argv), never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    pub words: Vec<Word>,
    /// The text its standard input reads when the script gives it literally (a
    /// here-document's body, a here-string and its newline): a shell reading it runs it.
    pub stdin: Option<String>,
}

impl SimpleCommand {
    /// The words as written, joined by spaces (for messages).
    pub fn display(&self) -> String {
        display_words(&self.words)
    }
}

/// `words` as written, joined by spaces.
pub fn display_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.source.as_str())
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
pub fn parse(script: &str) -> Result<Vec<SimpleCommand>, ParseError> {
    parse_nested(script, 0)
}

/// [`parse`] for a script found at nesting depth `depth` (`sh -c`, `eval`, backticks).
pub fn parse_nested(script: &str, depth: usize) -> Result<Vec<SimpleCommand>, ParseError> {
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
