//! Command rules (`command.deny`, `command.allow`, the default deny list) and how one rule
//! matches one argv, with the Go fence's token semantics:
//!
//! - The first tokens must name the same program, compared by basename (`/usr/bin/git` is
//!   `git`, in the argv and in the rule).
//! - A rule token ending in `=` is a presence check: some later argument starts with it
//!   (`dd if=` matches `dd of=x if=y`, not `dd iflag=x`).
//! - The other tokens are positional, matched word for word in order (`git pushall` is not
//!   `git push`; extra trailing arguments are fine).
//! - Before the first positional token, if it does not start with `-` (a subcommand), the
//!   argv's leading options are skipped: `-X` and `--long` (without `=`) also take the next
//!   word as their value unless it starts with `-` or is the subcommand itself. So
//!   `git -C /x push` matches `git push`, `docker --context prod run --privileged` matches
//!   `docker run --privileged`, and `docker run --name t --privileged` does not.
//!
//! A word only known at run time ([`Word::value`] is `None`) may stand for any words: it
//! satisfies every positional and presence token from where it appears, and the result is
//! [`Match::Maybe`].

use crate::shell::Word;

/// Which list a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Deny,
    Allow,
    /// The built-in deny list (`command.useDefaults`).
    Default,
}

/// One rule, tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As written in the config.
    pub text: String,
    pub tokens: Vec<String>,
    pub list: List,
    /// Where it came from (a config file's name), for messages.
    pub origin: String,
}

/// How a rule matches an argv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    No,
    /// It matches whatever the words only known at run time turn out to be... or might.
    Maybe,
    Yes,
}

impl Rule {
    /// Tokenizes `text`: blanks separate tokens; single and double quotes group, a
    /// backslash escapes the next character.
    pub fn new(text: &str, list: List, origin: &str) -> Result<Rule, String> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err(format!("command rule {text:?} is empty"));
        }
        Ok(Rule {
            text: text.to_string(),
            tokens,
            list,
            origin: origin.to_string(),
        })
    }

    /// How this rule matches `argv`, whose first word is known.
    pub fn matches(&self, argv: &[Word]) -> Match {
        let Some(Some(name)) = argv.first().map(|w| w.value.as_deref()) else {
            return Match::No;
        };
        if basename(name) != basename(&self.tokens[0]) {
            return Match::No;
        }
        match_rest(&self.tokens[1..], &argv[1..])
    }
}

/// The last `/`-separated part of `s` (`s` itself when it ends with `/`).
pub fn basename(s: &str) -> &str {
    match s.bytes().rposition(|b| b == b'/') {
        Some(i) if i + 1 < s.len() => &s[i + 1..],
        _ => s,
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    if !text.contains(['\'', '"', '\\']) {
        // Nothing quoted: blanks separate the tokens.
        let tokens = text.split([' ', '\t', '\n']).filter(|t| !t.is_empty());
        return Ok(tokens.map(str::to_string).collect());
    }
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(t) = cur.take() {
                    out.push(t);
                }
            }
            '\'' | '"' => {
                let t = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(x) => t.push(x),
                        None => return Err(format!("command rule {text:?}: unterminated quote")),
                    }
                }
            }
            '\\' => {
                let t = cur.get_or_insert_with(String::new);
                t.push(chars.next().unwrap_or('\\'));
            }
            _ => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    Ok(out)
}

/// Matches the rule tokens after the program name against the arguments.
pub fn match_rest(rule: &[String], args: &[Word]) -> Match {
    let mut maybe = false;
    for p in rule.iter().filter(|t| t.ends_with('=')) {
        let mut found = Match::No;
        for a in args {
            match &a.value {
                Some(v) if v.starts_with(p.as_str()) => found = Match::Yes,
                None if found == Match::No => found = Match::Maybe,
                _ => {}
            }
        }
        match found {
            Match::No => return Match::No,
            Match::Maybe => maybe = true,
            Match::Yes => {}
        }
    }
    let positional: Vec<&String> = rule.iter().filter(|t| !t.ends_with('=')).collect();
    let mut i = 0;
    for (k, tok) in positional.iter().enumerate() {
        if k == 0 && !tok.starts_with('-') {
            i = skip_options(args, tok);
        }
        match args.get(i).map(|a| a.value.as_deref()) {
            None => return Match::No,
            Some(None) => return Match::Maybe,
            Some(Some(v)) if v == tok.as_str() => i += 1,
            Some(Some(_)) => return Match::No,
        }
    }
    if maybe { Match::Maybe } else { Match::Yes }
}

/// The index of the first argument that is not a leading option (or its value), looking
/// for the subcommand `sub`. Stops at a word only known at run time.
fn skip_options(args: &[Word], sub: &str) -> usize {
    let mut i = 0;
    while let Some(Some(a)) = args.get(i).map(|w| w.value.as_deref()) {
        if a == sub || !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        let takes_value = a.len() == 2 || (a.starts_with("--") && !a.contains('='));
        if takes_value {
            if let Some(Some(v)) = args.get(i).map(|w| w.value.as_deref()) {
                if !v.starts_with('-') && v != sub {
                    i += 1;
                }
            }
        }
    }
    i
}
