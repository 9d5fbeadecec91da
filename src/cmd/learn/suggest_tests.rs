use super::*;

const HOME: &str = "/home/u";

fn proxy(host_port: &str, count: u64) -> (Kept, u64) {
    let kept = Kept {
        kind: Kind::Http,
        action: "CONNECT".into(),
        op: format!("CONNECT {host_port}"),
        target: host_port.into(),
        pid: None,
        comm: None,
        rule: LEARN_RULE.into(),
        decision: Decision::Allowed,
    };
    (kept, count)
}

fn write(path: &str, comm: &str, count: u64) -> (Kept, u64) {
    let kept = Kept {
        kind: Kind::Fs,
        action: "write".into(),
        op: "openat O_WRONLY|O_CREAT".into(),
        target: path.into(),
        pid: Some(42),
        comm: Some(comm.into()),
        rule: "outside allowWrite".into(),
        decision: Decision::Denied,
    };
    (kept, count)
}

fn protected(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str() == ".git" || c.as_os_str() == ".npmrc")
}

fn render_events(events: &[(Kept, u64)]) -> String {
    render(&Learned {
        extends: Some("workspace-write"),
        command: "npm install",
        time: "2026-11-30T06:00:00.000Z",
        events,
        untracked: 0,
        home: Some(Path::new(HOME)),
        protected: &protected,
    })
}

/// The whole file must be valid JSONC that fence's own loader reads.
fn parse(text: &str) -> crate::config::Config {
    crate::config::parse_text(text, "learned.json").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn a_whole_config() {
    let events = [
        proxy("registry.npmjs.org:443", 12),
        proxy("a.cdn.example.com:443", 1),
        proxy("b.cdn.example.com:443", 2),
        proxy("c.example.com:443", 1),
        proxy("example.com:443", 1),
        proxy("127.0.0.1:8080", 1),
        proxy("[::1]:8080", 1),
        write("/home/u/.cache/npm/_cacache/x", "node", 3),
        write("/home/u/.cache/npm/_logs/y.log", "npm", 1),
        write("/home/u/.npmrc", "node", 1),
        write("/home/u/proj/.git/hooks/pre-commit", "sh", 1),
        write("/etc/x", "touch", 1),
    ];
    let text = render_events(&events);
    assert_eq!(
        text,
        r#"// Written by `fence learn` at 2026-11-30T06:00:00.000Z for the command "npm install".
// Review it, then `fence trust` it (it is a project config: it applies only once
// trusted) and run the command again with fence.
{
  "extends": "workspace-write",
  "network": {
    // Reached during the run, outside the allowed domains:
    "allowedDomains": [
      "*.example.com", // 4 requests: a.cdn.example.com, b.cdn.example.com, c.example.com
      "127.0.0.1", // 1 request
      "::1", // 1 request
      "example.com", // 1 request
      "registry.npmjs.org" // 12 requests
    ]
  },
  "filesystem": {
    // Writes the sandbox refused, as directories to allow. Uncomment those you
    // want (a write outside the project can be how a tool persists itself):
    // "allowWrite": [
    //   "/etc/x", // touch: 1 write, e.g. "/etc/x"
    //   "~/.cache/npm" // node, npm: 4 writes, e.g. "/home/u/.cache/npm/_cacache/x"
    // ]
    // Refused writes not suggested: protected paths (read-only whatever the config
    // says) or places too broad to allow:
    //   "/home/u/.npmrc" // node: 1 write
    //   "/home/u/proj/.git/hooks/pre-commit" // sh: 1 write
  }
}
"#
    );
    let config = parse(&text);
    assert_eq!(config.extends.as_deref(), Some("workspace-write"));
    assert_eq!(config.network.allowed_domains.len(), 5);
    assert!(config.filesystem.allow_write.is_empty());
    // Uncommented, the suggestions are a valid config too.
    let uncommented = text.replace("    // \"allowWrite\"", "    \"allowWrite\"");
    let uncommented = uncommented
        .replace("    //   \"/etc", "      \"/etc")
        .replace("    //   \"~", "      \"~")
        .replace("    // ]\n", "    ]\n");
    let config = parse(&uncommented);
    assert_eq!(config.filesystem.allow_write, ["/etc/x", "~/.cache/npm"]);
}

#[test]
fn nothing_learned_is_just_the_extends() {
    let text = render_events(&[]);
    assert!(
        text.ends_with("{\n  \"extends\": \"workspace-write\"\n}\n"),
        "{text}"
    );
    parse(&text);
    let bare = render(&Learned {
        extends: None,
        command: "true",
        time: "t",
        events: &[],
        untracked: 7,
        home: None,
        protected: &|_| false,
    });
    assert!(bare.contains("// 7 more events were not recorded"));
    assert!(bare.ends_with("{\n\n}\n"), "{bare}");
    parse(&bare);
}

#[test]
fn wildcards_need_three_subdomains() {
    let two = domains(&[proxy("a.x.org:443", 1), proxy("b.x.org:80", 1)]);
    assert_eq!(
        two.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["a.x.org", "b.x.org"]
    );
    let uk = domains(&[
        proxy("a.shop.co.uk:443", 1),
        proxy("b.shop.co.uk:443", 1),
        proxy("c.shop.co.uk:443", 1),
        proxy("d.other.co.uk:443", 1),
        proxy("A.Shop.co.uk:443", 1),
    ]);
    assert_eq!(
        uk.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["*.shop.co.uk", "d.other.co.uk"]
    );
    assert_eq!(
        uk[0].1,
        "4 requests: a.shop.co.uk, b.shop.co.uk, c.shop.co.uk"
    );
    assert_eq!(registrable_parent("co.uk"), None);
    assert_eq!(registrable_parent("example.com"), None);
    assert_eq!(registrable_parent("10.0.0.1"), None);
    assert_eq!(registrable_parent("localhost"), None);
    // Allowed by the policy already, or refused: not added.
    let mut allowed = proxy("ok.example:443", 1);
    allowed.0.rule = "ok.example".into();
    let mut denied = proxy("bad.example:443", 1);
    denied.0.decision = Decision::Denied;
    assert!(domains(&[allowed, denied]).is_empty());
}

#[test]
fn sensible_directories() {
    let home = Some(Path::new(HOME));
    let cases: &[(&str, Option<&str>)] = &[
        ("/home/u/.cache/pip/http/a/b", Some("/home/u/.cache/pip")),
        ("/home/u/.config/gh/hosts.yml", Some("/home/u/.config/gh")),
        (
            "/home/u/.local/share/pnpm/store/x",
            Some("/home/u/.local/share/pnpm"),
        ),
        ("/home/u/.npm/_logs/x.log", Some("/home/u/.npm")),
        ("/home/u/src/other/out.txt", Some("/home/u/src/other")),
        ("/home/u/.npmrc", Some("/home/u/.npmrc")),
        ("/home/u/.cache/x", Some("/home/u/.cache/x")),
        ("/home/u", None),
        ("/home", None),
        ("/", None),
        ("/etc/x", Some("/etc/x")),
        ("/var/lib/x/y", Some("/var/lib/x")),
        ("/home/v/src/file", Some("/home/v/src")),
        ("/tmp/a/../b", None),
        ("relative/x", None),
    ];
    for (path, want) in cases {
        assert_eq!(
            suggestion(Path::new(path), home),
            want.map(PathBuf::from),
            "{path}"
        );
    }
    assert_eq!(
        suggestion(Path::new("/home/u/x"), None),
        Some(PathBuf::from("/home/u"))
    );
}

/// Names from the sandbox: quotes, newlines, `*/`, control characters, globs. Each is one
/// JSON string on its line, the file still parses, and nothing else changed.
#[test]
fn hostile_names_stay_inside_their_strings() {
    let nasty = "/tmp/d\"ir\n\"allowWrite\": [\"/\"], // */ \u{1b}[2J\u{202e}/f*?[x]\\y";
    let events = [
        write(&format!("{nasty}/file"), "sh\n{\"x\": 1}", 2),
        write("/tmp/q/a\u{2028}b", "evil\u{7}", 1),
    ];
    let text = render_events(&events);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{2028}'));
    for line in text.lines() {
        let line = line.trim_start();
        assert!(
            line.starts_with("//") || !line.contains("allowWrite"),
            "an injected key: {line}\n{text}"
        );
    }
    let config = parse(&text);
    assert!(config.filesystem.allow_write.is_empty(), "{text}");
    assert!(
        text.contains(r#"//   "/tmp/d\"ir\n\"allowWrite\": \\[\"/\"], // \\*/ \u001b\\[2J\u202e/f\\*\\?\\[x]\\\\y","#),
        "{text}"
    );
    assert!(text.contains(r#" // sh\n{"x": 1}: 2 writes"#), "{text}");
}
