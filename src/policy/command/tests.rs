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

/// contrib/bench/preflight.py's 200 deny rules: subcommands, flags, `=` presence checks.
fn bench_rules() -> Vec<String> {
    (0..200)
        .map(|i| match i % 4 {
            0 => format!("deploy{i} --prod"),
            1 => format!("tool{i} publish"),
            2 => format!("svc{i} run --privileged"),
            _ => format!("copy{i} if="),
        })
        .collect()
}

/// contrib/bench/preflight.py's 10 KiB script (the same text).
fn bench_script() -> String {
    let lines = [
        "exit 0",
        "x=$(printf \"%s\" \"a b\") && : \"$x\" | cat >/dev/null",
        "if true; then : 'quoted $HOME \"inner\"'; else : never; fi",
        "for f in a b c; do : \"${f:-none}\" `printf x`; done",
        "env A=1 B=2 nice -n 0 true --flag=value >/dev/null 2>&1",
        "case $x in a*) : one ;; *) : two ;; esac",
        "{ : grouped; : braces; } && ( : subshell )",
        "cat <<'EOF' >/dev/null\nhere-document text $(not run) `nor this`\nEOF",
    ];
    let (mut out, mut len) = (Vec::new(), 0);
    while len < 10 * 1024 {
        let line = lines[out.len() % lines.len()];
        len += line.len() + 1;
        out.push(line);
    }
    out.join("\n") + "\n"
}

/// The median time of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> std::time::Duration {
    let mut times: Vec<_> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Not a timed test (it asserts nothing about time): prints how long each phase of the
/// preflight takes (medians of 300 calls) with contrib/bench/preflight.py's 200 deny rules
/// (plus the defaults) and 10 KiB script, and on a second script. Run with
/// `cargo test --release --lib preflight_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn preflight_speed() {
    let rules = crate::config::types::CommandRules {
        deny: bench_rules(),
        ..Default::default()
    };
    let ssh = crate::policy::ssh::compile(&Default::default(), &rules).unwrap();
    let p = compile(&rules, |_, _| String::new()).unwrap();
    let compiling = median(300, || {
        std::hint::black_box(compile(&rules, |_, _| String::new()).unwrap());
    });
    let ssh_compiling = median(300, || {
        std::hint::black_box(crate::policy::ssh::compile(&Default::default(), &rules).unwrap());
    });
    let mut other = String::new();
    while other.len() < 10 * 1024 {
        other.push_str("FOO=1 npm run build -- --mode \"$(git rev-parse HEAD)\" && echo 'done' | tee -a log.txt; ");
    }
    eprintln!(
        "preflight, 200 rules + defaults: compiling {compiling:?} (ssh.* compile: \
         {ssh_compiling:?})"
    );
    for (name, script) in [("bench script", bench_script()), ("npm script", other)] {
        let parsing = median(300, || {
            std::hint::black_box(crate::shell::parse(&script).unwrap());
        });
        let cmds = crate::shell::parse(&script).unwrap();
        let checking = median(300, || p.check_parsed(&cmds, &script, &ssh).unwrap());
        let whole = median(300, || p.check_script_with(&script, &ssh).unwrap());
        eprintln!(
            "  {name} ({} bytes, {} commands): parsing {parsing:?}, checking {checking:?}, \
             both {whole:?}",
            script.len(),
            cmds.len()
        );
    }
}
