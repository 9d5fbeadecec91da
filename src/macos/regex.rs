//! Regexes for Seatbelt's `regex` and `global-name-regex` filters, built from fence's globs
//! (the syntax of `policy::glob`) and from literal text.
//!
//! Seatbelt matches a POSIX extended regex against the whole resolved path. The output of
//! this module is what goes between `#"` and `"` in the profile, so it obeys two sets of
//! rules at once:
//!
//! * as a regex: every character of the literal text that is special in a regex
//!   (`. [ ] ( ) { } * + ? | ^ $ \`) is escaped with `\`, and control characters are
//!   matched by the class `[[:cntrl:]]` (so the text stays printable; it may match another
//!   control character at that place, which no real path is told apart by);
//! * as a profile literal: a `"` is written `\"` (an escaped quote for the reader, a
//!   literal quote for the regex) and a `\` as `\\`, so no config text can end the literal
//!   early or leave an odd backslash before its closing quote. Every regex ends with `$`
//!   or a literal character, never with a backslash.
//!
//! Characters inside a glob class `[...]` are kept in a bracket expression when they are
//! plain (letters, digits, most punctuation, anything outside ASCII); a class holding `"`,
//! `\`, `[`, `]`, `^` or a control character becomes "any one character but `/`" — wider
//! than the glob, which for the deny rules is the safe side and for `allowRead` widens one
//! character of one name.

use crate::policy::glob;

/// `c` escaped for a regex, as literal text.
fn push_literal(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '.' | '[' | ']' | '(' | ')' | '{' | '}' | '*' | '+' | '?' | '|' | '^' | '$' => {
            out.push('\\');
            out.push(c);
        }
        c if c.is_control() => out.push_str("[[:cntrl:]]"),
        c => out.push(c),
    }
}

/// `text` as a regex that matches it literally (unanchored).
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_literal(&mut out, c);
    }
    out
}

/// A regex matching a path that has one of `names` as a whole component at any depth, or
/// lies below one: `/(\.bashrc|\.zshrc)(/|$)`. Unanchored at the start, so it is used
/// together with a `subpath` filter that says under which root.
pub fn any_component(names: &[&str]) -> String {
    let alternatives: Vec<String> = names.iter().map(|n| literal(n)).collect();
    format!("/({})(/|$)", alternatives.join("|"))
}

/// The anchored regex for a glob pattern (absolute, `policy::glob` syntax): `*` is
/// `[^/]*`, `?` is `[^/]`, a class a bracket expression that never matches `/`, and a
/// whole `**` component zero or more components. `None` if the pattern is not valid.
pub fn from_glob(pattern: &str) -> Option<String> {
    glob::Pattern::new(pattern).ok()?;
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        return Some("^/$".into());
    }
    if comps.iter().all(|c| *c == "**") {
        return Some("^/.*$".into());
    }
    let mut out = String::from("^");
    for comp in comps {
        if comp == "**" {
            // `/a/**/b` matches `/a/b`: the group takes the slash with it.
            if !out.ends_with("(/.*)?") {
                out.push_str("(/.*)?");
            }
        } else if comp == "*" {
            // A component is never empty: `/a/*` does not match `/a`.
            out.push_str("/[^/]+");
        } else {
            out.push('/');
            segment(&mut out, comp);
        }
    }
    out.push('$');
    Some(out)
}

/// One component that is not `**` (already validated by `glob::Pattern`).
fn segment(out: &mut String, comp: &str) {
    let mut chars = comp.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => push_literal(out, chars.next().unwrap_or('\\')),
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => class(out, &mut chars),
            c => push_literal(out, c),
        }
    }
}

/// A class, after its `[`: the same reading as `policy::glob` (`!` or `^` negates, a `]`
/// first is literal, `\` escapes, `a-z` is a range unless the `-` is last).
fn class(out: &mut String, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
    let mut ranges: Vec<(char, char)> = Vec::new();
    let one = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| match chars.next() {
        Some('\\') => chars.next().unwrap_or('\\'),
        other => other.unwrap_or(']'),
    };
    loop {
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            break;
        }
        if chars.peek().is_none() {
            break;
        }
        let lo = one(chars);
        let mut ahead = chars.clone();
        let hi = if ahead.next() == Some('-') && !matches!(ahead.next(), None | Some(']')) {
            chars.next();
            one(chars)
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    // A glob class never holds `/` (patterns are split at every `/` first).
    let plain = |c: char| !c.is_control() && !matches!(c, '"' | '\\' | '[' | ']' | '^');
    if !ranges.iter().all(|&(lo, hi)| plain(lo) && plain(hi)) {
        out.push_str("[^/]");
        return;
    }
    // `-` goes last, where it is literal; a negated class also excludes `/`, as a glob
    // class stays inside one component.
    let mut body = String::new();
    let mut dash = false;
    for (lo, hi) in ranges {
        match (lo, hi) {
            ('-', '-') => dash = true,
            (lo, hi) if lo == hi => body.push(lo),
            (lo, hi) => {
                body.push(lo);
                body.push('-');
                body.push(hi);
            }
        }
    }
    if dash {
        body.push('-');
    }
    if negated {
        out.push_str(&format!("[^/{body}]"));
    } else {
        out.push_str(&format!("[{body}]"));
    }
}

/// The other spelling of a path (or a glob's leading text) through macOS's top-level
/// symlinks: `/tmp`, `/var` and `/etc` point into `/private`, and the kernel checks the
/// resolved path while tools pass either. `None` when the path is not under one of them.
pub fn alias(path: &str) -> Option<String> {
    for top in ["/tmp", "/var", "/etc"] {
        let private = format!("/private{top}");
        for (from, to) in [(top, private.as_str()), (private.as_str(), top)] {
            if let Some(rest) = path.strip_prefix(from)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some(format!("{to}{rest}"));
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "regex_tests.rs"]
mod tests;
