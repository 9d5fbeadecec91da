use super::*;

/// A small matcher for the regex subset this module writes (POSIX ERE: anchors, `.`,
/// bracket expressions, groups with `|`, the `*`, `+`, `?` quantifiers, `\` escapes,
/// `[:cntrl:]`), so that the globs' translations can be checked
/// against `policy::glob`'s own matcher. Position-set simulation: no backtracking.
mod ere {
    #[derive(Debug)]
    enum Node {
        Char(char),
        Any,
        Class(bool, Vec<Item>),
        Start,
        End,
        Group(Vec<Vec<Node>>),
        Star(Box<Node>),
        Plus(Box<Node>),
        Opt(Box<Node>),
    }

    #[derive(Debug)]
    enum Item {
        Range(char, char),
        Cntrl,
        Print,
    }

    pub struct Regex(Vec<Vec<Node>>);

    pub fn compile(re: &str) -> Regex {
        let chars: Vec<char> = re.chars().collect();
        let mut at = 0;
        let alts = alternatives(&chars, &mut at);
        assert_eq!(at, chars.len(), "unbalanced ) in {re}");
        Regex(alts)
    }

    fn alternatives(c: &[char], at: &mut usize) -> Vec<Vec<Node>> {
        let mut alts = vec![Vec::new()];
        while *at < c.len() {
            let ch = c[*at];
            *at += 1;
            let node = match ch {
                ')' => {
                    *at -= 1;
                    return alts;
                }
                '|' => {
                    alts.push(Vec::new());
                    continue;
                }
                '(' => {
                    let inner = alternatives(c, at);
                    assert_eq!(c.get(*at), Some(&')'), "unclosed (");
                    *at += 1;
                    Node::Group(inner)
                }
                '[' => class(c, at),
                '.' => Node::Any,
                '^' => Node::Start,
                '$' => Node::End,
                '\\' => {
                    *at += 1;
                    Node::Char(c[*at - 1])
                }
                '*' | '+' | '?' => {
                    let last = alts.last_mut().unwrap().pop().expect("quantifier");
                    let node = Box::new(last);
                    match ch {
                        '*' => Node::Star(node),
                        '+' => Node::Plus(node),
                        _ => Node::Opt(node),
                    }
                }
                '{' | '}' | ']' => panic!("unescaped {ch}"),
                ch => Node::Char(ch),
            };
            alts.last_mut().unwrap().push(node);
        }
        alts
    }

    fn class(c: &[char], at: &mut usize) -> Node {
        let negated = c[*at] == '^';
        if negated {
            *at += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let ch = c[*at];
            if ch == ']' && !first {
                *at += 1;
                return Node::Class(negated, items);
            }
            first = false;
            if ch == '[' && c[*at + 1] == ':' {
                let rest: String = c[*at..].iter().collect();
                let end = rest.find(":]").unwrap();
                items.push(match &rest[2..end] {
                    "cntrl" => Item::Cntrl,
                    "print" => Item::Print,
                    other => panic!("class {other}"),
                });
                *at += rest[..end + 2].chars().count();
                continue;
            }
            *at += 1;
            if c[*at] == '-' && c[*at + 1] != ']' {
                items.push(Item::Range(ch, c[*at + 1]));
                *at += 2;
            } else {
                items.push(Item::Range(ch, ch));
            }
        }
    }

    fn step(nodes: &[Node], s: &[char], starts: Vec<usize>) -> Vec<usize> {
        let mut set = starts;
        for node in nodes {
            let mut next = Vec::new();
            for &p in &set {
                for q in one(node, s, p) {
                    if !next.contains(&q) {
                        next.push(q);
                    }
                }
            }
            set = next;
        }
        set
    }

    fn one(node: &Node, s: &[char], p: usize) -> Vec<usize> {
        let single = |ok: bool| if ok { vec![p + 1] } else { vec![] };
        match node {
            Node::Char(c) => single(s.get(p) == Some(c)),
            Node::Any => single(p < s.len()),
            Node::Class(neg, items) => single(s.get(p).is_some_and(|&c| {
                items.iter().any(|i| match i {
                    Item::Range(lo, hi) => *lo <= c && c <= *hi,
                    Item::Cntrl => c.is_control(),
                    Item::Print => !c.is_control(),
                }) != *neg
            })),
            Node::Start => {
                if p == 0 {
                    vec![p]
                } else {
                    vec![]
                }
            }
            Node::End => {
                if p == s.len() {
                    vec![p]
                } else {
                    vec![]
                }
            }
            Node::Group(alts) => {
                let mut out = Vec::new();
                for alt in alts {
                    out.extend(step(alt, s, vec![p]));
                }
                out
            }
            Node::Opt(n) => {
                let mut out = vec![p];
                out.extend(one(n, s, p));
                out
            }
            Node::Star(n) | Node::Plus(n) => {
                let mut reached = if matches!(node, Node::Star(_)) {
                    vec![p]
                } else {
                    vec![]
                };
                let mut frontier = one(n, s, p);
                while let Some(q) = frontier.pop() {
                    if !reached.contains(&q) {
                        reached.push(q);
                        frontier.extend(one(n, s, q));
                    }
                }
                reached
            }
        }
    }

    impl Regex {
        /// Search semantics, as Seatbelt's `regex` filter (anchors are explicit).
        pub fn is_match(&self, text: &str) -> bool {
            let s: Vec<char> = text.chars().collect();
            (0..=s.len()).any(|start| {
                self.0
                    .iter()
                    .any(|alt| !step(alt, &s, vec![start]).is_empty())
            })
        }
    }
}

fn re(pattern: &str) -> String {
    from_glob(pattern).unwrap_or_else(|| panic!("{pattern} is invalid"))
}

/// Translation table: (glob, regex).
const CASES: &[(&str, &str)] = &[
    ("/", "^/$"),
    ("/**", "^/.*$"),
    ("/**/**", "^/.*$"),
    ("/a", "^/a$"),
    ("/a/b", "^/a/b$"),
    ("/a//b/", "^/a/b$"),
    ("/a/*", "^/a/[^/]+$"),
    ("/*/x", "^/[^/]+/x$"),
    ("/a/**/*", "^/a(/.*)?/[^/]+$"),
    ("/a/*.pem", "^/a/[^/]*\\.pem$"),
    ("/a/?", "^/a/[^/]$"),
    ("/a/x?z", "^/a/x[^/]z$"),
    ("/a/**", "^/a(/.*)?$"),
    ("/a/**/b", "^/a(/.*)?/b$"),
    ("/**/.env", "^(/.*)?/\\.env$"),
    ("/a/**/**/b", "^/a(/.*)?/b$"),
    ("/a/**/b/**", "^/a(/.*)?/b(/.*)?$"),
    ("/a/[abc]", "^/a/[abc]$"),
    ("/a/[a-z]x", "^/a/[a-z]x$"),
    ("/a/[!a-z]", "^/a/[^/a-z]$"),
    ("/a/[^0-9]", "^/a/[^/0-9]$"),
    ("/a/[a-]", "^/a/[a-]$"),
    ("/a/[-a]", "^/a/[a-]$"),
    ("/a/[]]", "^/a/[^/]$"),
    ("/a/[\"]", "^/a/[^/]$"),
    ("/a/[\\\\]", "^/a/[^/]$"),
    ("/a/[\\*]", "^/a/[*]$"),
    ("/a/\\*", "^/a/\\*$"),
    ("/a/\\?", "^/a/\\?$"),
    ("/a/\\[x]", "^/a/\\[x\\]$"),
    ("/a/\\\\", "^/a/\\\\$"),
    ("/a/b.c", "^/a/b\\.c$"),
    ("/a/b+c", "^/a/b\\+c$"),
    ("/a/(b)", "^/a/\\(b\\)$"),
    ("/a/{b,c}", "^/a/\\{b,c\\}$"),
    ("/a/b|c", "^/a/b\\|c$"),
    ("/a/^b$", "^/a/\\^b\\$$"),
    ("/a/\"q\"", "^/a/\\\"q\\\"$"),
    ("/a/#\"x", "^/a/#\\\"x$"),
    ("/a/new\nline", "^/a/new[[:cntrl:]]line$"),
    ("/a/tab\t", "^/a/tab[[:cntrl:]]$"),
    ("/a/é*", "^/a/é[^/]*$"),
    ("/a/ sp ace", "^/a/ sp ace$"),
    ("/a/x;y", "^/a/x;y$"),
    ("/a/%@=:~!,'<>&", "^/a/%@=:~!,'<>&$"),
];

#[test]
fn glob_translations() {
    assert!(CASES.len() >= 40);
    for (glob, want) in CASES {
        assert_eq!(&re(glob), want, "{glob:?}");
    }
}

#[test]
fn invalid_globs_give_none() {
    for bad in [
        "a/b", "", "/a/[", "/a/[]", "/a/b**", "/a/***", "/a/[z-a]", "/a/x\\",
    ] {
        assert_eq!(from_glob(bad), None, "{bad:?}");
    }
}

/// The translations match exactly what `policy::glob` matches, over a corpus of paths.
#[test]
fn translations_agree_with_the_glob_matcher() {
    let paths = [
        "/",
        "/a",
        "/a/b",
        "/a/x/b",
        "/a/x/y/b",
        "/a/b/c",
        "/a/.env",
        "/a/x/.env",
        "/.env",
        "/a/k.pem",
        "/a/.pem",
        "/a/x/k.pem",
        "/a/xyz",
        "/a/xz",
        "/a/x/z",
        "/a/a",
        "/a/q",
        "/a/5",
        "/a/-",
        "/a/*",
        "/a/?",
        "/a/b.c",
        "/a/bxc",
        "/a/\"q\"",
        "/a/new\nline",
        "/a/é",
        "/a/éé",
        "/a/é/x",
        "/ab",
        "/a/bb",
        "/b",
        "/a/b/x/b",
    ];
    let patterns = [
        "/",
        "/**",
        "/a",
        "/a/*",
        "/a/*.pem",
        "/a/?",
        "/a/x?z",
        "/a/**",
        "/a/**/b",
        "/**/.env",
        "/a/**/b/**",
        "/a/[abc]",
        "/a/[!a-z]",
        "/a/[-a]",
        "/a/\\*",
        "/a/b.c",
        "/a/\"q\"",
        "/a/new\nline",
        "/a/é*",
        "/a/*/b",
        "/*",
        "/*/*",
        "/a/**/*",
    ];
    for pattern in patterns {
        let glob = glob::Pattern::new(pattern).unwrap();
        let regex = ere::compile(&re(pattern));
        for path in paths {
            assert_eq!(
                regex.is_match(path),
                glob.matches(path),
                "{pattern:?} on {path:?}: {}",
                re(pattern)
            );
        }
    }
}

#[test]
fn literal_escapes_every_metacharacter() {
    assert_eq!(
        literal(".[](){}*+?|^$"),
        "\\.\\[\\]\\(\\)\\{\\}\\*\\+\\?\\|\\^\\$"
    );
    assert_eq!(literal("com.apple.x"), "com\\.apple\\.x");
}

#[test]
fn literal_escapes_quotes_and_backslashes_for_the_profile() {
    assert_eq!(literal("a\"b"), "a\\\"b");
    assert_eq!(literal("a\\b"), "a\\\\b");
    assert_eq!(literal("\\\""), "\\\\\\\"");
    // Every quote is preceded by an odd number of backslashes.
    let text = literal("x\\\"\\\\\"\"");
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('"') {
        let run = bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count();
        assert_eq!(run % 2, 1, "{text}");
    }
}

#[test]
fn literal_keeps_text_printable() {
    assert_eq!(
        literal("a\nb\u{7f}c\0"),
        "a[[:cntrl:]]b[[:cntrl:]]c[[:cntrl:]]"
    );
    assert_eq!(literal("日本"), "日本");
}

#[test]
fn any_component_matches_names_at_any_depth() {
    let r = any_component(&[".bashrc", ".vscode"]);
    assert_eq!(r, "/(\\.bashrc|\\.vscode)(/|$)");
    let m = ere::compile(&r);
    for yes in [
        "/p/.bashrc",
        "/p/a/b/.bashrc",
        "/p/.vscode/tasks.json",
        "/.vscode",
    ] {
        assert!(m.is_match(yes), "{yes}");
    }
    for no in [
        "/p/.bashrc.bak",
        "/p/x.bashrc",
        "/p/vscode",
        "/p/.vscodex/y",
    ] {
        assert!(!m.is_match(no), "{no}");
    }
}

#[test]
fn aliases_of_the_private_tops() {
    let cases = [
        ("/tmp", Some("/private/tmp")),
        ("/tmp/x", Some("/private/tmp/x")),
        ("/private/tmp/x", Some("/tmp/x")),
        ("/var/folders/a", Some("/private/var/folders/a")),
        ("/private/var", Some("/var")),
        ("/etc/hosts", Some("/private/etc/hosts")),
        ("/private/etc/**/x", Some("/etc/**/x")),
        ("/tmpx", None),
        ("/private/etcx", None),
        ("/private", None),
        ("/Users/u/tmp", None),
        ("/usr/tmp", None),
    ];
    for (path, want) in cases {
        assert_eq!(alias(path).as_deref(), want, "{path}");
    }
}

#[test]
fn regexes_never_end_with_a_backslash() {
    for (glob, _) in CASES {
        assert!(!re(glob).ends_with('\\'), "{glob:?}");
    }
    assert!(!any_component(&["x\\"]).ends_with('\\'));
}
