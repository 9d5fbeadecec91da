//! Glob patterns over absolute `/`-separated paths, and their expansion
//! against the filesystem.
//!
//! Syntax (gitignore-like, close to the Go `doublestar` library):
//!
//! * `*` matches any run of characters inside one path component (never
//!   `/`), including the empty run. Unlike shells, it also matches a leading
//!   dot: `/h/*` matches `/h/.ssh` and `*.pem` matches `.x.pem`.
//! * `?` matches exactly one character (not `/`).
//! * `[abc]`, `[a-z]`, `[!a-z]`, `[^a-z]` match one character (not `/`).
//!   A `]` right after `[`, `[!` or `[^` is literal, as is a `-` at either
//!   end of the class. Backslash escapes inside a class too.
//! * `**` as a whole component matches zero or more whole components, so
//!   `/a/**/b` matches `/a/b` and `/a/x/y/b`, and `/a/**` matches `/a`
//!   itself and everything below it.
//! * `\` makes the next character literal (`\*` is a star). `/` cannot be
//!   escaped.
//! * `{` and `}` are literal (no alternation).
//!
//! Empty components (repeated or trailing `/`) are ignored in both patterns
//! and paths; `.` and `..` are not interpreted. Matching works on Unicode
//! scalar values and is case-sensitive. Patterns are UTF-8 (they come from
//! JSON); when expanding, the base directory is a path of any bytes, and a
//! file name that is not UTF-8 is matched with each invalid sequence as one
//! U+FFFD character, so wildcards cover it (a deny pattern never misses it).

/// True if the string contains glob syntax: `*`, `?` or `[`.
///
/// Escaped characters count too, so this is a cheap conservative test;
/// [`Pattern::is_literal`] gives the exact answer after parsing.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Escapes glob syntax (`*`, `?`, `[`, `\`) so that `s` matches literally.
///
/// Useful when joining a base directory (which may contain such characters)
/// with a relative pattern.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One token inside a path component.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character token matches `c`. Never called for `Star`.
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Lit(l) => *l == c,
            Token::Any => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Star => false,
        }
    }
}

/// One path component of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Component {
    /// `**`: zero or more whole components.
    DoubleStar,
    /// Anything else; matches exactly one component.
    Segment(Vec<Token>),
}

impl Component {
    /// The unescaped text if the component contains no glob syntax.
    fn literal(&self) -> Option<String> {
        match self {
            Component::Segment(tokens) => tokens
                .iter()
                .map(|t| match t {
                    Token::Lit(c) => Some(*c),
                    _ => None,
                })
                .collect(),
            Component::DoubleStar => None,
        }
    }
}

/// A compiled glob over `/`-separated absolute paths.
///
/// Matching simulates the pattern as a small automaton over components
/// (states are positions in the component list), so it costs at most
/// O(path components × pattern components) component matches; each
/// component match uses the linear-backtracking two-pointer algorithm for
/// `*`. There is no exponential blow-up, whatever the input.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    comps: Vec<Component>,
    /// Number of leading literal components.
    literal_len: usize,
    /// Smallest index from which all remaining components are `**`.
    tail_start: usize,
    prefix: String,
}

impl Pattern {
    /// Compiles `pattern`.
    ///
    /// Errors on malformed syntax: a pattern that is not absolute, an
    /// unclosed or empty `[...]` class, a reversed range (`[z-a]`), a `**`
    /// that is not a whole component (`a**b`, `**x`, `***`), or a dangling
    /// `\` at the end of a component (so `\/` is an error).
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        if !pattern.starts_with('/') {
            return Err(format!("glob pattern {pattern:?} is not absolute"));
        }
        let comps = pattern
            .split('/')
            .filter(|c| !c.is_empty())
            .map(parse_component)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("invalid glob pattern {pattern:?}: {e}"))?;
        let literals: Vec<String> = comps.iter().map_while(Component::literal).collect();
        let tail_start = comps.len()
            - comps
                .iter()
                .rev()
                .take_while(|c| **c == Component::DoubleStar)
                .count();
        Ok(Pattern {
            source: pattern.to_string(),
            literal_len: literals.len(),
            tail_start,
            prefix: format!("/{}", literals.join("/")),
            comps,
        })
    }

    /// The pattern text as given to [`Pattern::new`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the pattern has no glob syntax once escapes are resolved.
    pub fn is_literal(&self) -> bool {
        self.literal_len == self.comps.len()
    }

    /// Whole-path match. `path` must be absolute; empty components are
    /// ignored (`/a//b/` is `/a/b`).
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let mut states = self.start_states(0);
        let mut next = Vec::new();
        for name in path.split('/').filter(|c| !c.is_empty()) {
            self.step_into(&states, name, &mut next);
            std::mem::swap(&mut states, &mut next);
            if !states.contains(&true) {
                return false;
            }
        }
        states[self.comps.len()]
    }

    /// The longest leading run of literal components, as a directory path
    /// with escapes resolved: `/home/u/proj` for `/home/u/proj/**/.env`,
    /// `/` for `/*/x`, and the whole path for a literal pattern.
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// States after having consumed `pos` components: `pos` plus everything
    /// reachable through `**` matching nothing.
    fn start_states(&self, pos: usize) -> Vec<bool> {
        let mut states = vec![false; self.comps.len() + 1];
        states[pos] = true;
        self.close(&mut states);
        states
    }

    /// Adds the states reachable by letting `**` match zero components.
    fn close(&self, states: &mut [bool]) {
        for i in 0..self.comps.len() {
            if states[i] && self.comps[i] == Component::DoubleStar {
                states[i + 1] = true;
            }
        }
    }

    /// Consumes one path component: the states after `name`, into `next` (cleared first,
    /// so that a walk reuses one buffer for every entry of a directory).
    fn step_into(&self, states: &[bool], name: &str, next: &mut Vec<bool>) {
        next.clear();
        next.resize(states.len(), false);
        for (i, comp) in self.comps.iter().enumerate() {
            if !states[i] {
                continue;
            }
            match comp {
                Component::DoubleStar => next[i] = true,
                Component::Segment(tokens) => {
                    if match_segment(tokens, name) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        self.close(next);
    }
}

/// Parses one non-empty component of a pattern.
fn parse_component(s: &str) -> Result<Component, String> {
    if s == "**" {
        return Ok(Component::DoubleStar);
    }
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Lit(
                chars
                    .next()
                    .ok_or("dangling '\\' (a '/' cannot be escaped)")?,
            ),
            '*' if chars.peek() == Some(&'*') => {
                return Err(format!("'**' must be a whole path component in {s:?}"));
            }
            '*' => Token::Star,
            '?' => Token::Any,
            '[' => parse_class(&mut chars).map_err(|e| format!("{e} in {s:?}"))?,
            c => Token::Lit(c),
        });
    }
    Ok(Component::Segment(tokens))
}

/// Parses a character class; the opening `[` has been consumed.
fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Token, String> {
    const UNCLOSED: &str = "unclosed or empty character class";
    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
    let mut ranges = Vec::new();
    fn one(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, &'static str> {
        match chars.next() {
            Some('\\') => chars.next().ok_or(UNCLOSED),
            other => other.ok_or(UNCLOSED),
        }
    }
    loop {
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            return Ok(Token::Class { negated, ranges });
        }
        let lo = one(chars)?;
        let mut ahead = chars.clone();
        let hi = if ahead.next() == Some('-') && !matches!(ahead.next(), None | Some(']')) {
            chars.next();
            one(chars)?
        } else {
            lo
        };
        if lo > hi {
            return Err(format!("invalid range '{lo}-{hi}'"));
        }
        ranges.push((lo, hi));
    }
}

/// Matches one path component against a token list. Classic two-pointer
/// wildcard matching: on a mismatch, retry from the most recent `*` with
/// that star absorbing one more character.
fn match_segment(tokens: &[Token], name: &str) -> bool {
    let (mut t, mut n) = (0, 0); // token index, byte offset into name
    let mut star: Option<(usize, usize)> = None; // (token after star, offset)
    loop {
        let c = name[n..].chars().next();
        match (tokens.get(t), c) {
            (Some(Token::Star), _) => {
                t += 1;
                star = Some((t, n));
                continue;
            }
            (Some(tok), Some(c)) if tok.matches_char(c) => {
                t += 1;
                n += c.len_utf8();
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        match star {
            Some((st, sn)) if sn < name.len() => {
                let sn = sn + name[sn..].chars().next().map_or(0, char::len_utf8);
                star = Some((st, sn));
                (t, n) = (st, sn);
            }
            _ => return false,
        }
    }
}

mod expand;
pub use expand::{
    ExpandLimits, Expansion, Observer, anchor, expand, expand_all, expand_all_in,
    expand_all_observed,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::temp_tree::TempTree;
    use crate::sys::EntryKind;
    use std::ffi::OsStr;
    use std::fs;
    use std::path::Path;
    use std::time::Instant;

    /// An observer sees the levels it asks for, also where the patterns would not go,
    /// never below a skipped name, and shares the walk's budget.
    #[test]
    fn an_observer_shares_the_walk() {
        struct Seen(Vec<(usize, String)>);
        impl Observer for Seen {
            fn levels(&self) -> usize {
                2
            }
            fn entry(&mut self, _: &Path, name: &OsStr, kind: EntryKind, depth: usize) -> bool {
                self.0.push((depth, name.to_string_lossy().into_owned()));
                kind == EntryKind::Dir
            }
        }
        let t = TempTree::new("observer");
        for d in ["a/b/c", "node_modules/m"] {
            fs::create_dir_all(t.0.join(d)).unwrap();
        }
        fs::write(t.0.join("top.pem"), "").unwrap();
        let pattern = Pattern::new("/*.pem").unwrap();
        let mut seen = Seen(Vec::new());
        let out = expand_all_observed(&t.0, &[&pattern], &ExpandLimits::default(), Some(&mut seen));
        assert_eq!(out.paths, [t.0.join("top.pem")]);
        assert!(!out.truncated);
        seen.0.sort();
        let expected = [(0, "a"), (0, "node_modules"), (0, "top.pem"), (1, "b")];
        assert_eq!(seen.0, expected.map(|(d, n)| (d, n.to_string())));
        let two = ExpandLimits {
            max_entries: 2,
            ..ExpandLimits::default()
        };
        let mut seen = Seen(Vec::new());
        let out = expand_all_observed(&t.0, &[&pattern], &two, Some(&mut seen));
        assert!(out.truncated, "the observer's entries count too");
    }

    #[test]
    fn expand_all_walks_once_for_several_patterns() {
        let root = std::env::temp_dir().join(format!("fence-glob-all-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for f in ["a/.env", "a/b/k.pem", "a/b/x.txt", "top.key"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let r = root.to_str().unwrap();
        let pats: Vec<Pattern> = ["/**/.env", "/**/*.pem", "/**/*.key"]
            .iter()
            .map(|p| Pattern::new(&format!("{r}{p}")).unwrap())
            .collect();
        let refs: Vec<&Pattern> = pats.iter().collect();
        let all = expand_all(&refs, &ExpandLimits::default());
        assert_eq!(
            all.paths,
            ["a/.env", "a/b/k.pem", "top.key"].map(|f| root.join(f))
        );
        // 6 entries in the tree: each read once, not once per pattern.
        let six = ExpandLimits {
            max_entries: 6,
            ..ExpandLimits::default()
        };
        assert!(!expand_all(&refs, &six).truncated);
        let five = ExpandLimits {
            max_entries: 5,
            ..ExpandLimits::default()
        };
        assert!(expand_all(&refs, &five).truncated);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn has_glob_detects_syntax() {
        assert!(has_glob("/a/*"));
        assert!(has_glob("/a/?"));
        assert!(has_glob("/a/[b]"));
        assert!(!has_glob("/a/{b,c}"));
        assert!(!has_glob("/home/u/.ssh"));
        let weird = "/a[1]/*?\\b{c}";
        let p = Pattern::new(&escape(weird)).unwrap();
        assert!(p.is_literal() && p.matches(weird) && !p.matches("/a1/x?\\b{c}"));
        assert_eq!(p.literal_prefix(), weird);
    }

    #[test]
    fn matches_table() {
        let cases: &[(&str, &str, bool)] = &[
            // literal
            ("/a/b", "/a/b", true),
            ("/a/b", "/a/b/c", false),
            ("/a/b", "/a", false),
            ("/a/B", "/a/b", false),
            ("/", "/", true),
            ("/", "/a", false),
            // normalisation; relative paths never match
            ("//a//b/", "/a/b", true),
            ("/a/b", "/a//b/", true),
            ("/a/b", "a/b", false),
            // star
            ("/a/*", "/a/b", true),
            ("/a/*", "/a", false),
            ("/a/*", "/a/", false),
            ("/a/*", "/a/b/c", false),
            ("/a/b*", "/a/b", true),
            ("/a/*.pem", "/a/.x.pem", true),
            ("/a/*.pem", "/a/x.pem.bak", false),
            ("/h/*", "/h/.ssh", true),
            ("/h/*/x", "/h/a/b/x", false),
            ("/home/u/.ssh/id_*", "/home/u/.ssh/id_rsa.pub", true),
            ("/home/u/.ssh/id_*", "/home/u/.ssh/known_hosts", false),
            ("/a/*b*c", "/a/xbybzc", true),
            ("/a/*b*c", "/a/xbybzcd", false),
            // question mark, character-wise
            ("/a/?", "/a/é", true),
            ("/a/??", "/a/日本", true),
            ("/a/?", "/a/ab", false),
            ("/a/x?", "/a/x", false),
            // classes
            ("/a/[abc]", "/a/b", true),
            ("/a/[abc]", "/a/d", false),
            ("/a/[a-z]x", "/a/qx", true),
            ("/a/[a-z]", "/a/Q", false),
            ("/a/[!a-z]", "/a/Q", true),
            ("/a/[!a-z]", "/a/q", false),
            ("/a/[^a-z]", "/a/1", true),
            ("/a/[^a-z]", "/a/z", false),
            ("/a/[]a]", "/a/]", true),
            ("/a/[]a]", "/a/a", true),
            ("/a/[]a]", "/a/b", false),
            ("/a/[!]]", "/a/]", false),
            ("/a/[!]]", "/a/x", true),
            ("/a/[-a]", "/a/-", true),
            ("/a/[a-]", "/a/-", true),
            ("/a/[a-]", "/a/b", false),
            ("/a/[\\]]", "/a/]", true),
            ("/a/[é-ë]", "/a/ê", true),
            ("/build-[0-9]", "/build-7", true),
            ("/build-[0-9]", "/build-10", false),
            // double star
            ("/a/**/b", "/a/b", true),
            ("/a/**/b", "/a/x/b", true),
            ("/a/**/b", "/a/x/y/b", true),
            ("/a/**/b", "/a/x/y/c", false),
            ("/a/**/b", "/a/xb", false),
            ("/a/**", "/a", true),
            ("/a/**", "/a/x/y", true),
            ("/a/**", "/ab", false),
            ("/**", "/", true),
            ("/**/.env", "/.env", true),
            ("/**/.env", "/p/q/.env", true),
            ("/**/.env", "/p/q/.envx", false),
            ("/**/*.pem", "/k/.x.pem", true),
            ("/a/**/b/**/c", "/a/b/c", true),
            ("/a/**/b/**/c", "/a/x/b/y/z/c", true),
            ("/a/**/b/**/c", "/a/x/c", false),
            ("/a/**/**/b", "/a/b", true),
            ("/p/**/.git/hooks", "/p/x/.git/hooks", true),
            // escapes and literal braces
            ("/a/\\*", "/a/*", true),
            ("/a/\\*", "/a/b", false),
            ("/a/\\?", "/a/?", true),
            ("/a/\\[x]", "/a/[x]", true),
            ("/a/b\\\\c", "/a/b\\c", true),
            ("/a/\\**", "/a/*xyz", true),
            ("/a/{b,c}", "/a/{b,c}", true),
            ("/a/{b,c}", "/a/b", false),
        ];
        for &(pattern, path, want) in cases {
            let p = Pattern::new(pattern).unwrap();
            assert_eq!(p.matches(path), want, "{pattern:?} vs {path:?}");
        }
    }

    #[test]
    fn new_errors() {
        let bad = [
            "", "a/b", "./a", "/a/[abc", "/a/[]", "/a/[!]", "/a/[a-", "/a**b", "/**x", "/x**",
            "/a/***", "/a\\", "/a\\/b", "/a/[z-a]", "/a/[a/b]",
        ];
        for pattern in bad {
            assert!(Pattern::new(pattern).is_err(), "{pattern:?} should fail");
        }
        for pattern in ["/", "/a/[]]", "/a/\\**", "/**", "/a/**/**"] {
            assert!(Pattern::new(pattern).is_ok(), "{pattern:?} should parse");
        }
    }

    #[test]
    fn literal_prefix_table() {
        let cases = [
            ("/home/u/proj/**/.env", "/home/u/proj"),
            ("/*/x", "/"),
            ("/**", "/"),
            ("/a/b", "/a/b"),
            ("/", "/"),
            ("//a//b/", "/a/b"),
            ("/a/\\*b/*", "/a/*b"),
            ("/a/b[c]/d", "/a"),
            ("/home/u/.ssh/id_*", "/home/u/.ssh"),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                Pattern::new(pattern).unwrap().literal_prefix(),
                want,
                "{pattern:?}"
            );
        }
        assert!(Pattern::new("/a/\\*").unwrap().is_literal());
        assert!(!Pattern::new("/a/*").unwrap().is_literal());
    }

    #[test]
    fn adversarial_inputs_are_fast() {
        let start = Instant::now();
        let pattern = format!("/{}x", "**/".repeat(30));
        let p = Pattern::new(&pattern).unwrap();
        let deep = "/a".repeat(40);
        assert!(!p.matches(&format!("{deep}/y")));
        assert!(p.matches(&format!("{deep}/x")));
        let p = Pattern::new(&format!("/{}b", "*a".repeat(30))).unwrap();
        assert!(!p.matches(&format!("/{}", "a".repeat(200))));
        assert!(p.matches(&format!("/{}b", "a".repeat(200))));
        assert!(start.elapsed().as_millis() < 500);
    }

    /// A temporary tree of files and directories for expansion tests, removed on drop.
    struct GlobTree(TempTree);

    impl GlobTree {
        fn new(files: &[&str], dirs: &[&str]) -> GlobTree {
            let tree = TempTree::new("glob");
            let root = &tree.0;
            for d in dirs {
                fs::create_dir_all(root.join(d)).unwrap();
            }
            for f in files {
                let path = root.join(f);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, b"x").unwrap();
            }
            GlobTree(tree)
        }
        fn root(&self) -> String {
            self.0.0.to_str().unwrap().to_string()
        }
        /// Expands `root` + `rel`, returning paths relative to the root.
        fn expand(&self, rel: &str, limits: &ExpandLimits) -> (Vec<String>, bool) {
            let p = Pattern::new(&format!("{}{rel}", escape(&self.root()))).unwrap();
            let e = expand(&p, limits);
            let mut sorted = e.paths.clone();
            sorted.sort();
            assert_eq!(sorted, e.paths, "output must be sorted");
            let rel = e.paths.iter().map(|p| {
                let r = p.strip_prefix(&self.0.0).unwrap();
                format!("/{}", r.to_str().unwrap())
                    .trim_end_matches('/')
                    .to_string()
            });
            (rel.collect(), e.truncated)
        }
    }

    #[cfg(unix)]
    #[test]
    fn expand_tree() {
        let tree = GlobTree::new(
            &[
                ".env",
                "a/.env",
                "a/b/.env",
                "a/b/c/deep.txt",
                "node_modules/.env",
                ".git/hooks/pre-commit",
                "dir/x/y",
                "f.pem",
                ".x.pem",
            ],
            &["empty"],
        );
        std::os::unix::fs::symlink(tree.0.0.join("a"), tree.0.0.join("link")).unwrap();
        let d = ExpandLimits::default();
        let env = (
            vec!["/.env".into(), "/a/.env".into(), "/a/b/.env".into()],
            false,
        );
        assert_eq!(tree.expand("/**/.env", &d), env);
        assert_eq!(tree.expand("/*/.env", &d).0, ["/a/.env"]);
        let top = [
            "/.env",
            "/.git",
            "/.x.pem",
            "/a",
            "/dir",
            "/empty",
            "/f.pem",
            "/link",
            "/node_modules",
        ];
        assert_eq!(
            tree.expand("/*", &d),
            (top.map(String::from).to_vec(), false)
        );
        // Every match is covered by `**`, so nothing below is walked.
        assert_eq!(tree.expand("/*/**", &d).0, top);
        assert_eq!(tree.expand("/**/*.pem", &d).0, ["/.x.pem", "/f.pem"]);
        // `.git` is not descended by default; a pattern can still name it.
        assert!(tree.expand("/**/hooks", &d).0.is_empty());
        assert_eq!(tree.expand("/.git/*", &d).0, ["/.git/hooks"]);
        assert_eq!(tree.expand("/**/.git", &d).0, ["/.git"]);
        // The symlink is a match but is not descended.
        assert_eq!(tree.expand("/l*", &d).0, ["/link"]);
        assert!(tree.expand("/l*/.env", &d).0.is_empty());
        assert_eq!(tree.expand("/link", &d).0, ["/link"]);
        // `dir/**` is the directory alone; literal patterns need existence.
        assert_eq!(tree.expand("/dir/**", &d).0, ["/dir"]);
        assert_eq!(tree.expand("/a/.env", &d).0, ["/a/.env"]);
        assert!(tree.expand("/a/missing", &d).0.is_empty());
        assert!(tree.expand("/nope/**", &d).0.is_empty());
        assert_eq!(tree.expand("/nope/**/x", &d), (vec![], false));
        // Limits.
        let depth = |max_depth| ExpandLimits {
            max_depth,
            ..ExpandLimits::default()
        };
        assert_eq!(
            tree.expand("/**/.env", &depth(1)),
            (vec!["/.env".into()], true)
        );
        assert_eq!(tree.expand("/**/.env", &depth(2)).0, ["/.env", "/a/.env"]);
        assert!(tree.expand("/**/.env", &depth(2)).1);
        assert_eq!(
            tree.expand("/*/.env", &depth(2)),
            (vec!["/a/.env".into()], false)
        );
        let few = ExpandLimits {
            max_entries: 3,
            ..ExpandLimits::default()
        };
        // `/**` covers the root itself: no walk, so no truncation.
        assert_eq!(tree.expand("/**", &few), (vec!["".into()], false));
        let (paths, truncated) = tree.expand("/**/*", &few);
        assert!(truncated && paths.len() <= 3, "{paths:?}");
    }

    #[test]
    fn expand_prunes_unmatchable_directories() {
        let files: Vec<String> = (0..5)
            .flat_map(|i| [format!("p/x/c/{i}"), format!("p/y/c/{i}")])
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let tree = GlobTree::new(&files, &[]);
        // p has 2 entries, x and y one each: exactly 4 entries to examine.
        let limits = ExpandLimits {
            max_entries: 4,
            ..ExpandLimits::default()
        };
        let want = (vec!["/p/x/c".into(), "/p/y/c".into()], false);
        assert_eq!(tree.expand("/p/*/c", &limits), want);
        assert!(tree.expand("/p/*/c/*", &limits).1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn expand_keeps_non_utf8_bytes() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let tree = GlobTree::new(&["ok"], &[]);
        let bad = tree.0.0.join(OsStr::from_bytes(b"ws-\xff"));
        fs::create_dir_all(bad.join("deep/.env")).unwrap();
        fs::write(bad.join("key.pem"), b"x").unwrap();
        let p = |s: &str| Pattern::new(s).unwrap();
        let d = ExpandLimits::default();
        // Wildcards match the name; the path keeps its bytes.
        let root = escape(&tree.root());
        let star = p(&format!("{root}/*"));
        assert_eq!(
            expand(&star, &d).paths,
            vec![tree.0.0.join("ok"), bad.clone()]
        );
        let env = p(&format!("{root}/**/.env"));
        assert_eq!(expand(&env, &d).paths, vec![bad.join("deep/.env")]);
        // A base that is not UTF-8 anchors patterns below it.
        let below = |pattern: &str| expand_all_in(&bad, &[&p(pattern)], &d).paths;
        assert_eq!(below("/*.pem"), vec![bad.join("key.pem")]);
        assert_eq!(below("/**/.env"), vec![bad.join("deep/.env")]);
        assert_eq!(below("/deep/**"), vec![bad.join("deep")]);
        assert_eq!(below("/**"), vec![bad.clone()]);
        assert!(below("/missing/*").is_empty());
        assert_eq!(anchor(&bad, "/"), bad);
        assert_eq!(anchor(&bad, "/a/b"), bad.join("a/b"));
    }
}
