//! Writes, their protections and move-blocking; path spellings; order and deduplication;
//! injection attempts.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::policy::Target;

fn writable_cwd() -> Policy {
    let mut pol = policy();
    pol.write = vec!["/Users/u/proj".into()];
    pol
}

fn write_allow(r: &str) -> &str {
    section(r, "file write")
        .into_iter()
        .find(|l| l.starts_with("(allow file-write* "))
        .unwrap()
}

#[test]
fn protections_are_inside_the_write_allow() {
    let p = gen_checked(&writable_cwd(), &extras());
    let r = resolved(&p);
    let allow = write_allow(&r);
    assert!(allow.starts_with(
        "(allow file-write* (require-all (require-any (subpath \"/Users/u/proj\") \
         (subpath \"/private/tmp/fence-1\") (subpath \"/tmp/fence-1\")) (require-not (require-any"
    ));
    for needle in [
        "\\.bashrc|",
        "|\\.zshrc|",
        "|\\.vscode|",
        "|\\.mcp\\.json|",
        "(regex #\"/\\.git/(hooks(/|$)|config$)\")",
    ] {
        assert!(allow.contains(needle), "{needle}: {allow}");
    }
    // The name regex is denied again after the allow, scoped to the writable roots.
    let deny = lines_with(
        &r,
        &["(deny file-write* (require-all (require-any (subpath"],
    );
    assert_eq!(deny.len(), 1);
    assert!(line_of(&r, deny[0]) > line_of(&r, allow));
}

#[test]
fn allow_git_config_leaves_config_writable_but_not_hooks() {
    let mut e = extras();
    e.allow_git_config = true;
    let p = gen_checked(&writable_cwd(), &e);
    let allow = write_allow(&p.text);
    assert!(allow.contains("(regex #\"/\\.git/hooks(/|$)\")"));
    assert!(!allow.contains("config$"));
}

#[test]
fn compiled_read_only_paths_and_placeholders_are_denied() {
    let mut pol = writable_cwd();
    pol.deny_write = vec![
        "/Users/u/proj/.git/hooks".into(),
        "/Users/u/proj/.env".into(),
    ];
    pol.placeholders = vec![Target {
        path: "/Users/u/proj/.envrc".into(),
        is_dir: false,
    }];
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    let deny = lines_with(&r, &["(deny file-write* (require-any"])[0];
    for path in [
        "/Users/u/proj/.git/hooks",
        "/Users/u/proj/.env",
        "/Users/u/proj/.envrc",
    ] {
        assert!(deny.contains(&format!("(subpath \"{path}\")")), "{path}");
        assert!(write_allow(&r).contains(&format!("(subpath \"{path}\")")));
    }
    assert!(line_of(&r, deny) > line_of(&r, write_allow(&r)));
}

#[test]
fn deny_write_globs_are_anchored_regexes() {
    let mut e = extras();
    e.deny_write = vec!["/Users/u/proj/**/*.lock".into()];
    let p = gen_checked(&writable_cwd(), &e);
    let regex = "(regex #\"^/Users/u/proj(/.*)?/[^/]*\\.lock$\")";
    assert!(write_allow(&p.text).contains(regex));
    assert!(lines_with(&p.text, &["(deny file-write* ", regex]).len() == 1);
}

#[test]
fn no_write_rule_without_writable_roots_but_the_tmpdir() {
    let mut e = extras();
    e.tmpdir = PathBuf::new();
    let p = gen_checked(&policy(), &e);
    assert!(lines_with(&p.text, &["(allow file-write* (require-all"]).is_empty());
    // Nothing to protect either: nothing is writable.
    assert!(!p.text.contains("file-write*"));
    assert!(!p.text.contains("file-write-unlink"));
}

#[test]
fn shared_tmp_is_writable_in_both_spellings() {
    let mut pol = policy();
    pol.tmp_shared = true;
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    let allow = write_allow(&r);
    assert!(allow.contains("(subpath \"/tmp\") (subpath \"/private/tmp\")"));
}

#[test]
fn ancestors_of_protected_paths_cannot_be_moved() {
    let mut pol = writable_cwd();
    pol.write.push("/private/var/secret".into());
    pol.deny_write = vec!["/Users/u/proj/.git/hooks".into()];
    pol.deny_read = vec![Target {
        path: "/private/var/secret/key".into(),
        is_dir: false,
    }];
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    let moves = section(&r, "move-blocking");
    assert_eq!(
        moves,
        [
            "(deny file-write-unlink (require-any (literal \"/private/var/secret\") \
          (literal \"/var/secret\") (literal \"/Users/u/proj/.git\") \
          (literal \"/Users/u/proj\")))"
        ],
        "only the ancestors inside a writable root"
    );
    // After every write allow.
    assert!(line_of(&r, moves[0]) > line_of(&r, write_allow(&r)));
}

#[test]
fn a_globs_fixed_directory_cannot_be_moved() {
    let mut e = extras();
    e.deny_read = vec!["/Users/u/proj/conf/**/*.pem".into()];
    let p = gen_checked(&writable_cwd(), &e);
    let r = resolved(&p);
    let moves = section(&r, "move-blocking");
    assert_eq!(
        moves,
        [
            "(deny file-write-unlink (require-any (literal \"/Users/u/proj/conf\") \
          (literal \"/Users/u/proj\")))"
        ]
    );
}

#[test]
fn home_protections_apply_where_home_is_writable() {
    let p = gen_checked(&writable_cwd(), &extras());
    assert!(!resolved(&p).contains("/Users/u/.ssh"));
    let mut pol = policy();
    pol.write = vec!["/Users/u".into()];
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    let allow = write_allow(&r);
    for path in [
        "/Users/u/.ssh",
        "/Users/u/.config/git",
        "/Users/u/.local/share/fence",
    ] {
        assert!(allow.contains(&format!("(subpath \"{path}\")")), "{path}");
    }
    let moves = section(&r, "move-blocking");
    assert!(moves[0].contains("(literal \"/Users/u/.config\")"));
    assert!(moves[0].contains("(literal \"/Users/u\")"));
    assert!(!moves[0].contains("(literal \"/Users\")"));
}

#[test]
fn every_path_parameter_has_both_spellings() {
    let mut pol = writable_cwd();
    pol.write.push("/private/var/folders/ab/T/x".into());
    pol.tmp_shared = true;
    pol.deny_write = vec!["/etc/hosts".into()];
    pol.deny_read = vec![Target {
        path: "/private/etc/master.passwd".into(),
        is_dir: false,
    }];
    pol.default_deny_read = true;
    pol.read = vec!["/var/db/x".into()];
    let mut e = extras();
    e.unix_sockets = vec!["/tmp/s.sock".into()];
    e.exec_deny = vec!["/private/etc/x".into()];
    let p = gen_checked(&pol, &e);
    let values: Vec<PathBuf> = p.params.iter().map(|(_, v)| PathBuf::from(v)).collect();
    let mut checked = 0;
    for v in &values {
        let s = v.to_str().unwrap();
        if let Some(other) = super::super::regex::alias(s) {
            assert!(values.contains(&PathBuf::from(&other)), "{other} missing");
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked}");
}

#[test]
fn rules_and_parameters_are_deduplicated_in_first_seen_order() {
    let mut pol = writable_cwd();
    pol.write.push("/Users/u/proj".into());
    pol.write.push("/Users/u/b".into());
    pol.deny_write = vec!["/Users/u/proj/.x".into(), "/Users/u/proj/.x".into()];
    let mut e = extras();
    e.proxy_ports = vec![50001, 50001];
    e.deny_write = vec!["/Users/u/proj/.x".into()];
    let p = gen_checked(&pol, &e);
    let names: Vec<&str> = p.params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..7],
        [
            "TMPDIR_0",
            "TMPDIR_1",
            "WRITE_0",
            "WRITE_1",
            "WRITE_2",
            "WRITE_3",
            "PROTECT_0"
        ]
    );
    let write: Vec<(&str, &OsString)> = p
        .params
        .iter()
        .filter(|(n, _)| n.starts_with("WRITE_"))
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    assert_eq!(
        write,
        [
            ("WRITE_0", &OsString::from("/Users/u/proj")),
            ("WRITE_1", &OsString::from("/Users/u/b")),
            ("WRITE_2", &OsString::from("/private/tmp/fence-1")),
            ("WRITE_3", &OsString::from("/tmp/fence-1")),
        ]
    );
    assert_eq!(lines_with(&p.text, &["localhost:50001"]).len(), 1);
    // The literal denyWrite pattern is the same parameter value, under its own prefix.
    assert!(
        p.params
            .iter()
            .any(|(n, v)| n == "DENY_WRITE_0" && v == "/Users/u/proj/.x")
    );
}

#[test]
fn arguments_are_define_pairs_with_exact_bytes() {
    let odd = OsString::from_vec(b"/Users/u/\xff\xfe odd".to_vec());
    let mut pol = policy();
    pol.write = vec![PathBuf::from(&odd)];
    let p = gen_checked(&pol, &extras());
    let args = p.arguments();
    assert_eq!(args.len(), p.params.len() * 2);
    assert!(args.chunks(2).all(|pair| pair[0] == "-D"));
    let mut want = OsString::from("WRITE_0=");
    want.push(&odd);
    assert!(args.contains(&want), "{args:?}");
}

/// One form per rule line, and none that allows everything.
fn assert_no_injected_forms(p: &Profile) {
    for escapes in [reader::Escapes::Any, reader::Escapes::QuoteOnly] {
        let forms = reader::read(&p.text, escapes).unwrap();
        let rules = p.text.lines().filter(|l| !l.starts_with(';')).count();
        assert_eq!(forms.len(), rules);
        for form in forms {
            let Node::List(items) = form else { panic!() };
            assert!(
                items.len() > 2
                    || items[0] == Node::Atom("version".into())
                    || !matches!(&items[1], Node::Atom(op) if op == "default" || op.starts_with("file-write")),
                "{items:?}"
            );
        }
    }
}

/// Paths that would break out of a string if they were spliced into the text.
fn hostile_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = [
        "/Users/u/a\"b",
        "/Users/u/a\\",
        "/Users/u/a\\\"",
        "/Users/u/x\") (allow default) (subpath \"/",
        "/Users/u/new\nline (allow file-write* (subpath \"/\"))",
        "/Users/u/#\"regex\"",
        "/Users/u/;comment",
        "/Users/u/paren)(",
        "/Users/u/.*[a-z]+$^|{}",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    paths.push(PathBuf::from(OsString::from_vec(
        b"/Users/u/\x01\x7f\xc3(".to_vec(),
    )));
    paths
}

#[test]
fn hostile_paths_reach_the_profile_only_as_parameters() {
    let paths = hostile_paths();
    let mut pol = policy();
    pol.write = paths.clone();
    pol.read = paths.clone();
    pol.default_deny_read = true;
    pol.deny_write = paths.iter().map(|p| p.join("x")).collect();
    pol.deny_read = paths
        .iter()
        .map(|p| Target {
            path: p.join("y"),
            is_dir: true,
        })
        .collect();
    let mut e = extras();
    e.unix_sockets = paths.clone();
    e.exec_deny = paths.clone();
    let p = gen_checked(&pol, &e);
    for path in &paths {
        assert!(
            p.params.iter().any(|(_, v)| Path::new(v) == path),
            "{path:?}"
        );
        let whole = path.to_string_lossy().into_owned();
        assert!(!p.text.contains(&whole), "{whole:?} spliced");
    }
    assert_no_injected_forms(&p);
    assert!(!p.text.contains("(subpath \"/\")"));
}

#[test]
fn hostile_globs_stay_inside_their_regex_literal() {
    let globs = [
        "/Users/u/x\") (allow default) (regex #\"*",
        "/Users/u/a\\\\/*\"",
        "/Users/u/#\"/**",
        "/Users/u/new\nline)/(allow file-write*)/*",
        "/Users/u/\\\"/[\"]/x",
        "/Users/u/;/*.x",
    ];
    let mut pol = policy();
    pol.default_deny_read = true;
    let mut e = extras();
    e.deny_write = globs.iter().map(|g| g.to_string()).collect();
    e.deny_read = e.deny_write.clone();
    e.allow_read = e.deny_write.clone();
    let p = gen_checked(&pol, &e);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    assert_no_injected_forms(&p);
    // Each glob is one regex per use, read back intact by the reader.
    let forms = reader::read(&p.text, reader::Escapes::QuoteOnly).unwrap();
    let mut regexes = Vec::new();
    fn collect(node: &Node, out: &mut Vec<String>) {
        match node {
            Node::List(items) => items.iter().for_each(|n| collect(n, out)),
            Node::Regex(r) => out.push(r.clone()),
            _ => {}
        }
    }
    forms.iter().for_each(|f| collect(f, &mut regexes));
    let injected = "^/Users/u/x\"\\) \\(allow default\\)";
    assert!(
        regexes.iter().any(|r| r.starts_with(injected)),
        "{regexes:?}"
    );
    assert!(regexes.iter().any(|r| r.contains("new[[:cntrl:]]line\\)")));
}
