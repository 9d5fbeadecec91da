//! Table-driven tests of command preflight: each case is a `-c` script checked against
//! [`standard`] and the expected decision with the reason.

use super::*;
use cases::CASES;

#[path = "cases.rs"]
mod cases;

/// deny `git push`, `npm publish`, `curl`, `kubectl delete`, `/usr/bin/chmod 777`;
/// allow `git push origin docs`; the default list on.
fn standard() -> CommandPolicy {
    let deny: Vec<String> = [
        "git push",
        "npm publish",
        "curl",
        "kubectl delete",
        "/usr/bin/chmod 777",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    CommandPolicy::new(&deny, &["git push origin docs".into()], true, "cfg.json").unwrap()
}

/// "ok", "deny:RULE" (matches), "maybe:RULE" (could match), "default:RULE", "parse".
fn outcome(r: Result<(), Refusal>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(Refusal {
            reason: Reason::Unparseable(_),
            ..
        }) => "parse".into(),
        Err(Refusal {
            reason: Reason::Rule { rule, certain },
            ..
        }) => {
            let kind = match (rule.list, certain) {
                (List::Default, true) => "default",
                (List::Default, false) => "maybe-default",
                (_, true) => "deny",
                (_, false) => "maybe",
            };
            format!("{kind}:{}", rule.text)
        }
        Err(Refusal {
            reason: Reason::Other(f),
            ..
        }) => format!("other:{f}"),
    }
}

#[test]
fn table() {
    let p = standard();
    let mut failed = Vec::new();
    for (script, want, why) in CASES {
        let got = outcome(p.check_script(script));
        if got != *want {
            failed.push(format!("{script:?} ({why}): want {want}, got {got}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn argv_is_checked_as_words() {
    let p = standard();
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        outcome(p.check_argv(&argv(&["git", "push"]))),
        "deny:git push"
    );
    assert_eq!(outcome(p.check_argv(&argv(&["git", "status"]))), "ok");
    // Not re-parsed: one argument holding `; git push` is a word.
    assert_eq!(outcome(p.check_argv(&argv(&["echo", "x; git push"]))), "ok");
    assert_eq!(outcome(p.check_argv(&argv(&["echo", "$(git push)"]))), "ok");
    // But wrappers are looked through.
    assert_eq!(
        outcome(p.check_argv(&argv(&["sh", "-c", "git push"]))),
        "deny:git push"
    );
    assert_eq!(
        outcome(p.check_argv(&argv(&["env", "git", "push"]))),
        "deny:git push"
    );
}

#[test]
fn messages() {
    let p = standard();
    let e = p.check_script("npm test && git push").unwrap_err();
    assert_eq!(
        e.to_string(),
        "refused \"git push\": matches command.deny \"git push\" (cfg.json)"
    );
    let e = p.check_script("$(echo git) push").unwrap_err();
    assert_eq!(
        e.to_string(),
        "refused \"$(echo git) push\": could match command.deny \"git push\" (cfg.json): \
         part of it is only known when it runs"
    );
    let e = p.check_script("reboot").unwrap_err();
    assert_eq!(
        e.to_string(),
        "refused \"reboot\": matches the default command deny list \"reboot\" (command.useDefaults)"
    );
    let e = p.check_script("echo 'x").unwrap_err();
    assert!(e.to_string().contains("cannot be parsed"), "{e}");
}

#[test]
fn lists_and_defaults() {
    // No defaults, no rules: nothing is checked, not even parsed.
    let none = CommandPolicy::new(&[], &[], false, "c").unwrap();
    assert!(none.is_empty());
    assert!(none.check_script("reboot; echo 'x").is_ok());
    // Defaults off: reboot runs.
    let p = CommandPolicy::new(&["git push".into()], &[], false, "c").unwrap();
    assert!(p.check_script("reboot").is_ok());
    // allow overrides a default.
    let p = CommandPolicy::new(&[], &["dd if=/dev/zero".into()], true, "c").unwrap();
    assert!(p.check_script("dd if=/dev/zero of=x").is_ok()); // an exact positional token
    assert!(p.check_script("dd if=/dev/sda of=x").is_err());
    let p = CommandPolicy::new(&[], &["dd".into()], true, "c").unwrap();
    assert!(p.check_script("dd if=/dev/zero of=x").is_ok());
    // Rules are tokenized with quotes.
    let p = CommandPolicy::new(&["echo 'a b'".into()], &[], false, "c").unwrap();
    assert!(p.check_script("echo 'a b' c").is_err());
    assert!(p.check_script("echo a b").is_ok());
    assert!(CommandPolicy::new(&["  ".into()], &[], false, "c").is_err());
    assert!(CommandPolicy::new(&["git 'push".into()], &[], false, "c").is_err());
    // Every default rule tokenizes.
    assert!(
        CommandPolicy::new(&[], &[], true, "c")
            .unwrap()
            .deny_rules()
            .len()
            == DEFAULT_DENY.len()
    );
}

#[test]
fn compiled_from_config() {
    let rules = CommandRules::default();
    let p = compile(&rules, |_, _| "x".into()).unwrap();
    assert_eq!(outcome(p.check_script("reboot")), "default:reboot");
    let rules = CommandRules {
        deny: vec!["git push".into()],
        allow: vec!["git push origin docs".into(), "reboot".into()],
        use_defaults: Some(true),
        ..CommandRules::default()
    };
    let p = compile(&rules, |key, rule| format!("{key}:{rule}")).unwrap();
    let e = p.check_script("git push").unwrap_err();
    assert!(e.to_string().ends_with("(command.deny:git push)"), "{e}");
    assert_eq!(outcome(p.check_script("git push origin docs")), "ok");
    assert_eq!(outcome(p.check_script("reboot")), "ok");
    assert_eq!(outcome(p.check_script("halt")), "default:halt");
    let off = CommandRules {
        use_defaults: Some(false),
        ..CommandRules::default()
    };
    assert!(compile(&off, |_, _| String::new()).unwrap().is_empty());
    let bad = CommandRules {
        allow: vec!["git 'x".into()],
        ..CommandRules::default()
    };
    match compile(&bad, |_, _| String::new()) {
        Err(Error::ConfigValue { key, value, .. }) => {
            assert_eq!(
                (key.as_str(), value.as_deref()),
                ("command.allow", Some("git 'x"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_chains_are_refused_or_checked_never_overflowed() {
    let p = standard();
    // Wrappers nest: too deep is refused, not skipped.
    let deep = format!("{}git push", "env ".repeat(20_000));
    assert_eq!(outcome(p.check_script(&deep)), "parse");
    let ok = format!("{}git push", "env ".repeat(20));
    assert_eq!(outcome(p.check_script(&ok)), "deny:git push");
    // Unknown words that may expand to nothing, however many.
    let unknown = format!("$x{} git push", " $a".repeat(20));
    assert_eq!(outcome(p.check_script(&unknown)), "maybe:git push");
    assert_eq!(outcome(p.check_script("x$x $a curl")), "deny:curl");
    let unknown = format!("x$x{} push", " $a".repeat(20));
    assert_eq!(outcome(p.check_script(&unknown)), "maybe:git push");
    let unknown = format!("$x{} git push", " $a".repeat(20_000));
    assert_ne!(outcome(p.check_script(&unknown)), "ok");
    let none = CommandPolicy::new(&["curl".into()], &[], false, "c").unwrap();
    let unknown = format!("$x{} curl", " $a".repeat(20_000));
    assert_eq!(outcome(none.check_script(&unknown)), "parse");
    // A known command with any number of unknown arguments is checked in linear time.
    let args = format!("echo{}", " $a".repeat(20_000));
    assert_eq!(outcome(p.check_script(&args)), "ok");
    let argv: Vec<String> = std::iter::repeat_n("nice".to_string(), 20_000).collect();
    assert_eq!(outcome(p.check_argv(&argv)), "parse");
}

/// Arbitrary scripts through the whole check never panic.
#[test]
fn check_never_panics() {
    let p = standard();
    const PIECES: &[&str] = &[
        "git", " ", "push", "'", "\"", "$(", ")", "`", ";", "&", "|", "\n", "env", "sudo", "-u",
        "xargs", "-I", "{}", "find", "-exec", "\\;", "sh", "-c", "eval", "$X", "--", "-", "=",
        "-S", "dd", "if=", "timeout", "<<", "EOF",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 16) as usize;
        let s: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let _ = p.check_script(&s);
        let argv: Vec<String> = s.split(' ').map(str::to_string).collect();
        let _ = p.check_argv(&argv);
    }
}

/// Not a timed test (it asserts nothing about time): prints how long preflight takes with
/// 200 deny rules (plus the defaults) on a 10 KiB script. Run with
/// `cargo test --release --lib preflight_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn preflight_speed() {
    let deny: Vec<String> = (0..200).map(|i| format!("tool{i} sub{i} --flag")).collect();
    let p = CommandPolicy::new(&deny, &[], true, "c").unwrap();
    let mut script = String::new();
    while script.len() < 10 * 1024 {
        script.push_str("FOO=1 npm run build -- --mode \"$(git rev-parse HEAD)\" && echo 'done' | tee -a log.txt; ");
    }
    let t = std::time::Instant::now();
    for _ in 0..100 {
        p.check_script(&script).unwrap();
    }
    eprintln!(
        "preflight, 200 rules + defaults, 10 KiB: {:?}",
        t.elapsed() / 100
    );
    let t = std::time::Instant::now();
    for _ in 0..100 {
        crate::shell::parse(&script).unwrap();
    }
    eprintln!("parse alone: {:?}", t.elapsed() / 100);
    let none = CommandPolicy::new(&[], &[], true, "c").unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100 {
        none.check_script(&script).unwrap();
    }
    eprintln!("defaults only: {:?}", t.elapsed() / 100);
}
