//! Table-driven tests of command preflight: each case is a `-c` script checked against
//! [`standard`] and the expected decision with the reason.

use super::*;

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
    }
}

/// (script, expected, why).
const CASES: &[(&str, &str, &str)] = &[
    // Plain matching.
    ("git push", "deny:git push", "the rule itself"),
    ("git push origin main", "deny:git push", "extra arguments"),
    ("git status", "ok", "another subcommand"),
    ("git pushall", "ok", "word-level: pushall is not push"),
    ("git", "ok", "fewer words than the rule"),
    (
        "/usr/bin/git push",
        "deny:git push",
        "a path is compared by basename",
    ),
    ("./git push", "deny:git push", "a relative path too"),
    (
        "chmod 777 x",
        "deny:/usr/bin/chmod 777",
        "a rule written with a path",
    ),
    ("git push origin docs", "ok", "allow beats deny"),
    (
        "git push origin docs --force",
        "ok",
        "allow is a prefix too",
    ),
    (
        "git push origin main docs",
        "deny:git push",
        "allow is positional",
    ),
    ("curl https://x", "deny:curl", "a one-word rule"),
    ("curlie x", "ok", "a one-word rule is a whole word"),
    ("npm publish --tag x", "deny:npm publish", "npm publish"),
    ("npm test", "ok", "npm test"),
    (
        "kubectl delete pod x",
        "deny:kubectl delete",
        "kubectl delete",
    ),
    ("kubectl get pods", "ok", "kubectl get"),
    // Leading global options are skipped before a subcommand.
    ("git -C /x push", "deny:git push", "-C takes a value"),
    ("git -C /x -c a=b push", "deny:git push", "several options"),
    ("git --git-dir=/x push", "deny:git push", "--opt=value"),
    ("git --no-pager push", "deny:git push", "a long flag"),
    (
        "git -C push push",
        "deny:git push",
        "an option's value equal to the subcommand",
    ),
    (
        "kubectl --context prod delete pod x",
        "deny:kubectl delete",
        "--context prod",
    ),
    ("kubectl -n ns delete pod x", "deny:kubectl delete", "-n ns"),
    (
        "docker --context prod run --privileged x",
        "default:docker run --privileged",
        "the Go example",
    ),
    (
        "docker run --name t --privileged x",
        "ok",
        "positional after the subcommand (Go semantics)",
    ),
    (
        "docker run --privileged x",
        "default:docker run --privileged",
        "docker run --privileged",
    ),
    (
        "docker run -v /:/ x",
        "default:docker run -v /:/",
        "docker run -v /:/",
    ),
    ("docker run -v /tmp:/tmp x", "ok", "another volume"),
    (
        "podman run --privileged x",
        "default:podman run --privileged",
        "added to the defaults",
    ),
    // Presence checks.
    ("dd if=/dev/zero of=x", "default:dd if=", "dd if="),
    (
        "dd of=x if=/dev/zero",
        "default:dd if=",
        "presence anywhere later",
    ),
    ("dd iflag=x of=y", "ok", "iflag= is not if="),
    ("dd of=x", "ok", "no if="),
    ("dd", "ok", "dd alone"),
    // The default list.
    ("shutdown -h now", "default:shutdown", "shutdown"),
    ("reboot", "default:reboot", "reboot"),
    ("init 0", "default:init 0", "init 0"),
    ("init 3", "ok", "init 3"),
    (
        "systemctl reboot",
        "default:systemctl reboot",
        "systemctl reboot",
    ),
    ("systemctl status", "ok", "systemctl status"),
    (
        "systemctl --user reboot",
        "default:systemctl reboot",
        "systemctl option before",
    ),
    ("modprobe x", "default:modprobe", "modprobe"),
    ("mkfs.ext4 /dev/sda1", "default:mkfs.ext4", "mkfs.ext4"),
    ("mkswap /dev/sda2", "default:mkswap", "added: mkswap"),
    ("wipefs -a /dev/sda", "default:wipefs", "added: wipefs"),
    ("chroot / sh", "default:chroot", "chroot"),
    ("unshare -r sh", "default:unshare", "unshare"),
    ("nsenter -t 1 sh", "default:nsenter", "nsenter"),
    // Separators and grouping (Go fence §13 bypasses).
    ("npm test && git push", "deny:git push", "&&"),
    ("npm test || git push", "deny:git push", "||"),
    ("npm test; git push", "deny:git push", ";"),
    ("npm test | git push", "deny:git push", "|"),
    ("true & git push", "deny:git push", "& (Go: bypass)"),
    ("true\ngit push", "deny:git push", "newline (Go: bypass)"),
    ("(git push)", "deny:git push", "subshell (Go: bypass)"),
    ("{ git push; }", "deny:git push", "group"),
    ("echo $(git push)", "deny:git push", "$( ) (Go: bypass)"),
    (
        "echo \"$(git push)\"",
        "deny:git push",
        "$( ) in double quotes",
    ),
    ("echo `git push`", "deny:git push", "backticks"),
    (
        "x=$(git push)",
        "deny:git push",
        "a substitution in an assignment",
    ),
    ("if git push; then :; fi", "deny:git push", "if condition"),
    (
        "for i in 1; do git push; done",
        "deny:git push",
        "loop body",
    ),
    ("case x in *) git push;; esac", "deny:git push", "case arm"),
    ("f() { git push; }", "deny:git push", "function body"),
    ("cat <(git push)", "deny:git push", "process substitution"),
    (
        "cat <<EOF\n$(git push)\nEOF",
        "deny:git push",
        "substitution in a here-document",
    ),
    // Quoting tricks.
    (
        "g'i't push",
        "deny:git push",
        "quotes inside the command word",
    ),
    (
        "\\git push",
        "deny:git push",
        "a backslash (alias bypass) is still git",
    ),
    ("\"git\" push", "deny:git push", "a quoted command word"),
    ("git 'push'", "deny:git push", "a quoted subcommand"),
    (
        "git p\"u\"sh",
        "deny:git push",
        "quotes inside the subcommand",
    ),
    ("$'git' push", "deny:git push", "ANSI-C quoting"),
    ("$'\\x67\\x69\\x74' push", "deny:git push", "ANSI-C escapes"),
    ("gi\\\nt push", "deny:git push", "a line continuation"),
    ("X=1 git push", "deny:git push", "an assignment prefix"),
    ("git push > /dev/null 2>&1", "deny:git push", "redirections"),
    // Data, not commands.
    ("echo git push", "ok", "an argument"),
    ("echo 'git push'", "ok", "a quoted argument"),
    ("# git push", "ok", "a comment"),
    ("ls # ; git push", "ok", "a trailing comment"),
    ("cat <<EOF\ngit push\nEOF", "ok", "a here-document body"),
    (
        "cat <<'EOF'\n$(git push)\nEOF",
        "ok",
        "a quoted here-document",
    ),
    (
        "echo '$(git push)'",
        "ok",
        "single quotes stop substitution",
    ),
    ("grep 'git push' log", "ok", "a pattern"),
    (
        "git log --grep push",
        "ok",
        "push as an option's value after the subcommand",
    ),
    // Unknown words.
    (
        "$CMD push",
        "maybe:git push",
        "an unknown command word and the rest could match",
    ),
    (
        "$(echo git) push",
        "maybe:git push",
        "a substituted command word",
    ),
    (
        "`echo git` push",
        "maybe:git push",
        "backticks as the command word",
    ),
    (
        "g\"$x\"it push",
        "maybe:git push",
        "a parameter inside the command word",
    ),
    ("g* push", "maybe:git push", "a glob as the command word"),
    ("$CMD publish", "maybe:npm publish", "another two-word rule"),
    (
        "$CMD git push",
        "deny:git push",
        "the word may expand to nothing",
    ),
    (
        "$SUDO docker run --privileged x",
        "default:docker run --privileged",
        "$SUDO prefix",
    ),
    ("$EDITOR file", "ok", "no rule starts with file"),
    ("$EDITOR curl", "deny:curl", "curl is a rule by itself"),
    (
        "$CMD push origin docs",
        "ok",
        "the allow rule matches when the word is git",
    ),
    ("$CMD", "ok", "an unknown word alone"),
    (
        "git${IFS}push",
        "maybe:git push",
        "the literal start is a rule's program",
    ),
    (
        "git$X",
        "maybe:git push",
        "the program name then an unknown part",
    ),
    (
        "\"git\"$X",
        "maybe:git push",
        "a quoted program name then an unknown part",
    ),
    (
        "reboot$X",
        "maybe-default:reboot",
        "a one-word rule's program then an unknown part",
    ),
    (
        "x$Y push",
        "ok",
        "a literal start no rule's program begins with",
    ),
    (
        "g$X status",
        "ok",
        "a compatible start but the rest does not match",
    ),
    (
        "k$X delete pod",
        "maybe:kubectl delete",
        "a compatible start and the rest matches",
    ),
    (
        "/usr/bin/$X push",
        "maybe:git push",
        "a directory then an unknown name",
    ),
    (
        "./gi$X push",
        "maybe:git push",
        "a relative path then part of a name",
    ),
    ("\"$@\"", "ok", "all arguments alone"),
    (
        "$X if=/dev/sda",
        "maybe-default:dd if=",
        "a presence check after an unknown word",
    ),
    ("git $SUB", "maybe:git push", "an unknown subcommand"),
    (
        "git -C $DIR push",
        "maybe:git push",
        "an unknown option value may be several words",
    ),
    ("git $OPTS push", "maybe:git push", "unknown options"),
    ("git status $X", "ok", "an unknown word after a mismatch"),
    (
        "dd of=$OUT",
        "maybe-default:dd if=",
        "an unknown word could hold if=",
    ),
    (
        "dd if=$IN",
        "maybe-default:dd if=",
        "if= with an unknown value",
    ),
    ("echo $X", "ok", "an unknown argument of a harmless command"),
    // Wrappers.
    ("env git push", "deny:git push", "env"),
    (
        "env -i PATH=/bin git push",
        "deny:git push",
        "env with options and assignments",
    ),
    (
        "env -u HOME -C /tmp git push",
        "deny:git push",
        "env options taking values",
    ),
    (
        "env --chdir /tmp git push",
        "deny:git push",
        "env long option",
    ),
    ("env - git push", "deny:git push", "env -"),
    (
        "env -S 'git push'",
        "deny:git push",
        "env -S splits its string",
    ),
    (
        "env -S'git push' --force",
        "deny:git push",
        "env -S attached",
    ),
    ("command git push", "deny:git push", "command"),
    ("command -p git push", "deny:git push", "command -p"),
    ("command -v git", "ok", "command -v only looks up"),
    ("exec git push", "deny:git push", "exec"),
    ("exec -a name git push", "deny:git push", "exec -a"),
    ("builtin eval git push", "deny:git push", "builtin"),
    ("nohup git push", "deny:git push", "nohup"),
    ("time git push", "deny:git push", "the time keyword"),
    ("command time -f %e git push", "deny:git push", "GNU time"),
    ("nice -n 10 git push", "deny:git push", "nice -n"),
    ("nice -10 git push", "deny:git push", "nice -N"),
    ("ionice -c2 -n7 git push", "deny:git push", "ionice"),
    ("ionice -p 42", "ok", "ionice -p runs nothing"),
    ("timeout 10 git push", "deny:git push", "timeout"),
    (
        "timeout -s KILL -k 5 10s git push",
        "deny:git push",
        "timeout options",
    ),
    ("stdbuf -oL git push", "deny:git push", "stdbuf"),
    (
        "stdbuf -o L git push",
        "deny:git push",
        "stdbuf separate value",
    ),
    ("setsid -f git push", "deny:git push", "setsid"),
    ("sudo git push", "deny:git push", "sudo"),
    ("sudo -u bob -E git push", "deny:git push", "sudo options"),
    (
        "sudo --user=bob HOME=/x git push",
        "deny:git push",
        "sudo assignment",
    ),
    (
        "sudo dd if=/dev/sda of=x",
        "default:dd if=",
        "sudo dd (Go: bypass)",
    ),
    ("doas -u root git push", "deny:git push", "doas"),
    ("xargs git push", "deny:git push", "xargs"),
    (
        "echo push | xargs git",
        "maybe:git push",
        "xargs appends its input",
    ),
    ("git ls-files | xargs git add", "ok", "xargs git add"),
    (
        "xargs -0 -n1 -P4 git push",
        "deny:git push",
        "xargs options",
    ),
    ("xargs -I{} git {} x", "maybe:git push", "xargs -I replaces"),
    (
        "xargs -I {} echo {}",
        "ok",
        "xargs -I with a harmless command",
    ),
    (
        "find . -exec git push {} \\;",
        "deny:git push",
        "find -exec",
    ),
    (
        "find . -execdir git push \\;",
        "deny:git push",
        "find -execdir",
    ),
    (
        "find . -name x -exec echo {} + -exec git push ';'",
        "deny:git push",
        "two -exec",
    ),
    (
        "find . -exec git {} \\;",
        "maybe:git push",
        "{} is a path only known at run time",
    ),
    ("find . -name push", "ok", "find without -exec"),
    ("nice env sudo git push", "deny:git push", "wrappers nest"),
    (
        "busybox sh -c 'git push'",
        "deny:git push",
        "busybox applets",
    ),
    ("watch -n 5 git push", "deny:git push", "watch"),
    ("flock /tmp/l git push", "deny:git push", "flock FILE CMD"),
    ("flock /tmp/l -c 'git push'", "deny:git push", "flock -c"),
    ("su -c 'git push' bob", "deny:git push", "su -c"),
    ("chrt 10 git push", "deny:git push", "chrt"),
    ("taskset 0x1 git push", "deny:git push", "taskset"),
    (
        "git -c alias.p=push p",
        "deny:git push",
        "a git alias given with -c",
    ),
    (
        "git -c alias.P=push -C /x p origin",
        "deny:git push",
        "alias names ignore case",
    ),
    (
        "git -c 'alias.p=!git push' p",
        "deny:git push",
        "a shell alias",
    ),
    (
        "git -c 'alias.p=!echo' p 'git push'",
        "ok",
        "a shell alias's arguments are words",
    ),
    (
        "alias g=git\ng push",
        "deny:git push",
        "a shell alias (zsh expands them in scripts)",
    ),
    (
        "alias g='git push'; g",
        "deny:git push",
        "an alias for the whole command",
    ),
    (
        "alias a=b b='sudo git'; a push",
        "deny:git push",
        "an alias of an alias",
    ),
    ("alias a=a; a", "ok", "a self-referencing alias ends"),
    (
        "alias l='ls -l'; l git push",
        "ok",
        "an alias's arguments are arguments",
    ),
    ("git -c alias.s=status s", "ok", "a harmless alias"),
    (
        "git --config-env=alias.p=VAR p",
        "maybe:git push",
        "an alias from the environment",
    ),
    ("=git push", "maybe:git push", "zsh's =cmd"),
    // Nested shells and eval.
    ("sh -c 'git push'", "deny:git push", "sh -c"),
    ("bash -c \"git push\"", "deny:git push", "bash -c"),
    (
        "bash -lc 'npm test && git push'",
        "deny:git push",
        "bash -lc with a chain",
    ),
    ("bash -ec 'true; git push'", "deny:git push", "-ec"),
    ("bash -e -c 'git push'", "deny:git push", "separate -e -c"),
    (
        "bash -o pipefail -c 'git push'",
        "deny:git push",
        "-o takes a name",
    ),
    ("dash -c 'git push'", "deny:git push", "dash"),
    ("zsh -c 'git push'", "deny:git push", "zsh"),
    ("ksh -c 'git push'", "deny:git push", "ksh"),
    ("/bin/sh -c 'git push'", "deny:git push", "a shell by path"),
    ("sh -c 'sh -c \"git push\"'", "deny:git push", "shells nest"),
    (
        "sh -c 'echo $(git push)'",
        "deny:git push",
        "a substitution in a nested shell",
    ),
    (
        "sh -c 'git push' name arg",
        "deny:git push",
        "sh -c with $0 and args",
    ),
    ("sh -c \"$X\"", "ok", "an unknown script alone"),
    ("sh script.sh", "ok", "a script file cannot be seen"),
    (
        "bash --norc -c 'git push'",
        "deny:git push",
        "a long flag before -c",
    ),
    (
        "fish --command='git push'",
        "deny:git push",
        "fish --command",
    ),
    ("eval 'git push'", "deny:git push", "eval of a literal"),
    ("eval git push", "deny:git push", "eval of words"),
    (
        "eval \"git \" push",
        "deny:git push",
        "eval joins its arguments",
    ),
    ("eval 'eval \"git push\"'", "deny:git push", "nested eval"),
    (
        "eval $X push",
        "maybe:git push",
        "eval with an unknown word",
    ),
    ("eval 'echo hi'", "ok", "a harmless eval"),
    (
        "sh -c 'git push \"oops'",
        "parse",
        "an unparseable nested script is refused",
    ),
    // Unparseable: refused.
    ("git push 'oops", "parse", "an unterminated quote"),
    ("echo $(git push", "parse", "an unterminated substitution"),
    ("(git push", "parse", "an unterminated subshell"),
    ("echo x (y)", "parse", "a syntax error"),
];

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
