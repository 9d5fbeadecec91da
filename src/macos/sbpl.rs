//! The pieces of Seatbelt profile text (SBPL) that must be exact: string and regex
//! literals, parameters, and a rule list kept in first-seen order without duplicates.
//!
//! Values that come from the config or the host never appear in the text as strings: a
//! path or a Mach service name is a parameter (`sandbox-exec -D NAME=VALUE`, read in the
//! profile with `(param "NAME")`), so whatever bytes it holds are never parsed as SBPL.
//! Only regexes (globs, wildcard Mach names) carry config text into the profile; they are
//! built by [`super::regex`], whose output is printable and whose every `"` and `\` is
//! escaped, and written with [`regex_literal`].

use std::ffi::OsString;

/// An SBPL string literal for text fence itself chose (an operation's fixed path, the log
/// tag): `"` and `\` are escaped and control characters written as `\n`, `\t` or `\r`, or
/// replaced by `?` (fence's own strings never hold them).
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regex literal `#"…"` around `regex`, which must come from [`super::regex`]: there
/// every `"` of the matched text is already written `\"` (the regex for a literal `"`,
/// and an escaped quote for the profile reader) and every `\` doubled, so the literal
/// ends at its own closing quote whatever the config held.
pub fn regex_literal(regex: &str) -> String {
    debug_assert!(!regex.ends_with('\\'), "{regex}");
    format!("#\"{regex}\"")
}

/// `(param "NAME")`: the value of a `-D NAME=VALUE` definition.
fn param_ref(name: &str) -> String {
    format!("(param {})", string_literal(name))
}

/// A profile being written: its rules (one line each, first-seen order, duplicates
/// dropped) and its parameters (one name per distinct value and prefix).
#[derive(Debug, Default)]
pub struct Builder {
    lines: Vec<String>,
    seen: std::collections::HashSet<String>,
    params: Vec<(String, OsString)>,
}

impl Builder {
    /// Appends a rule (or a comment) unless the very same text is already there: the
    /// rules of several sections may coincide (a path both readable and a socket
    /// directory), and a repeated rule only makes the profile longer.
    pub fn rule(&mut self, text: impl Into<String>) {
        let text = text.into();
        if self.seen.insert(text.clone()) {
            self.lines.push(text);
        }
    }

    /// A section comment: `;; name`. Not deduplicated against rules (they never start
    /// with `;`), but a section is written once.
    pub fn section(&mut self, name: &str) {
        self.rule(format!(";; {name}"));
    }

    /// `(param "PREFIX_n")` for `value`: the same value under the same prefix gets the
    /// same name; `n` counts the prefix's distinct values from 0.
    pub fn param(&mut self, prefix: &str, value: impl Into<OsString>) -> String {
        debug_assert!(
            prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "{prefix}"
        );
        let value = value.into();
        let own = |name: &str| {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if let Some((name, _)) = self
            .params
            .iter()
            .find(|(name, v)| own(name) && *v == value)
        {
            return param_ref(name);
        }
        let n = self.params.iter().filter(|(name, _)| own(name)).count();
        let name = format!("{prefix}_{n}");
        self.params.push((name.clone(), value));
        param_ref(&name)
    }

    /// The profile text and its parameters.
    pub fn finish(self) -> (String, Vec<(String, OsString)>) {
        let mut text = self.lines.join("\n");
        text.push('\n');
        (text, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(string_literal("/dev/null"), "\"/dev/null\"");
        assert_eq!(string_literal("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(string_literal("x\ny\tz\r\u{1}"), "\"x\\ny\\tz\\r?\"");
    }

    #[test]
    fn parameters_are_numbered_per_prefix_and_reused_per_value() {
        let mut b = Builder::default();
        assert_eq!(b.param("WRITE", "/a"), "(param \"WRITE_0\")");
        assert_eq!(b.param("READ", "/a"), "(param \"READ_0\")");
        assert_eq!(b.param("WRITE", "/b"), "(param \"WRITE_1\")");
        assert_eq!(b.param("WRITE", "/a"), "(param \"WRITE_0\")");
        // A prefix that is another's start does not share its numbering.
        assert_eq!(b.param("WRITE_X", "/c"), "(param \"WRITE_X_0\")");
        assert_eq!(b.param("WRITE", "/c"), "(param \"WRITE_2\")");
        let (_, params) = b.finish();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["WRITE_0", "READ_0", "WRITE_1", "WRITE_X_0", "WRITE_2"]
        );
    }

    #[test]
    fn rules_keep_their_first_place_and_appear_once() {
        let mut b = Builder::default();
        b.rule("(allow a)");
        b.section("s");
        b.rule("(allow b)");
        b.rule("(allow a)");
        b.section("s");
        let (text, params) = b.finish();
        assert_eq!(text, "(allow a)\n;; s\n(allow b)\n");
        assert!(params.is_empty());
    }
}
