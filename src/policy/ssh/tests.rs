//! Tests of the ssh policy: the argv grammar (which hosts, which remote command), and the
//! decisions through the command preflight (`cases.rs`).

use super::*;
use crate::config::types::{CommandRules, Ssh};
use cases::CASES;
use grammar_cases::GRAMMAR;

#[path = "cases.rs"]
mod cases;
#[path = "grammar_cases.rs"]
mod grammar_cases;

/// The hosts of the (last) command in `script`, `?` for an unknown one, comma-separated,
/// then `|` and each remote command (its words as written, joined by spaces), `;`-separated.
fn read(script: &str) -> String {
    let cmds = shell::parse(script).unwrap();
    let argv = &cmds.last().unwrap().words;
    let Some(c) = connection(argv) else {
        return "-".into();
    };
    let hosts: Vec<String> = c
        .hosts
        .iter()
        .map(|h| match h {
            Host::Known(n) => n.clone(),
            Host::Unknown(_) => "?".into(),
        })
        .collect();
    let remote: Vec<String> = c.remote.iter().map(|r| shell::display_words(r)).collect();
    let mut out = format!("{}|{}", hosts.join(","), remote.join(";"));
    if let Some(f) = c.config_file {
        out.push_str(&format!("|F={f}"));
    }
    out
}

#[test]
fn grammar() {
    let mut failed = Vec::new();
    for (script, want, why) in GRAMMAR {
        let got = read(script);
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

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The configs of the decision table, by letter.
fn config(letter: char) -> (CommandRules, Ssh) {
    let command = CommandRules {
        deny: strings(&["curl", "git push"]),
        allow: strings(&["curl localhost"]),
        ..Default::default()
    };
    let ssh = match letter {
        // The standard one: allowlists of hosts and commands, denies, inheritDeny.
        'S' => Ssh {
            allowed_hosts: strings(&["github.com", "*.example.com", "10.0.0.*", "::1", "dev"]),
            denied_hosts: strings(&["prod.example.com", "*-prod*"]),
            allowed_commands: strings(&["ls", "git status", "uptime", "cat", "sudo ls", "echo"]),
            denied_commands: strings(&["rm", "git push"]),
            inherit_deny: true,
            ..Default::default()
        },
        // Denylist mode: denied hosts, any command but the denied ones.
        'A' => Ssh {
            denied_hosts: strings(&["*.prod.internal", "evil.com"]),
            allow_all_commands: true,
            denied_commands: strings(&["rm", "shutdown"]),
            ..Default::default()
        },
        // Only allowAllCommands: nothing is refused.
        'N' => Ssh {
            allow_all_commands: true,
            ..Default::default()
        },
        // Only deniedCommands: every host, and (allowlist mode, empty) no remote command.
        'D' => Ssh {
            denied_commands: strings(&["rm"]),
            ..Default::default()
        },
        // Only allowedHosts.
        'H' => Ssh {
            allowed_hosts: strings(&["github.com"]),
            ..Default::default()
        },
        // Nothing: inactive.
        _ => Ssh::default(),
    };
    (command, ssh)
}

/// A short name for a decision: "ok", or the kind of refusal and its rule or subject.
fn outcome(r: std::result::Result<(), Refusal>) -> String {
    let f = match r {
        Ok(()) => return "ok".into(),
        Err(Refusal {
            reason: command::Reason::Other(f),
            ..
        }) => f,
        Err(Refusal {
            reason: command::Reason::Rule { rule, .. },
            ..
        }) => return format!("local:{}", rule.text),
        Err(Refusal {
            reason: command::Reason::Unparseable(_),
            ..
        }) => return "local-parse".into(),
    };
    let m = &f.message;
    let rule = f.rule.clone().unwrap_or_default();
    if m.starts_with("could be ") {
        format!("maybe-denied-host:{rule}")
    } else if m.contains("matches ssh.deniedHosts") {
        format!("denied-host:{rule}")
    } else if m.contains("is not in ssh.allowedHosts") {
        "host-not-allowed".into()
    } else if m.starts_with("its host") {
        "host-unknown".into()
    } else if m.starts_with("ssh -F") {
        "config-file".into()
    } else if f.key == Some("ssh.deniedCommands") {
        let certain = m.starts_with("matches");
        format!("{}denied-cmd:{rule}", if certain { "" } else { "maybe-" })
    } else if f.key == Some("command.deny") {
        format!("inherited:{rule}")
    } else if m.contains("default command deny list") {
        "inherited-default".into()
    } else if m.contains("is not in ssh.allowedCommands") {
        "cmd-not-allowed".into()
    } else if m.contains("ssh.allowedCommands is empty") {
        "no-allowed-cmds".into()
    } else if m.starts_with("its remote command (") {
        "remote-unknown".into()
    } else if m.contains("could be any command") {
        "remote-cmd-unknown".into()
    } else if m.contains("cannot be parsed") {
        "remote-parse".into()
    } else {
        format!("?{m}")
    }
}

fn check(letter: char, script: &str) -> std::result::Result<(), Refusal> {
    let (command, ssh) = config(letter);
    let rules = compile(&ssh, &command).unwrap();
    let local = command::compile(&command, |_, _| String::new()).unwrap();
    local.check_script_with(script, &rules)
}

#[test]
fn decisions() {
    let mut failed = Vec::new();
    for (letter, script, want, why) in CASES {
        let got = outcome(check(*letter, script));
        if got != *want {
            failed.push(format!(
                "[{letter}] {script:?} ({why}): want {want}, got {got}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(GRAMMAR.len() + CASES.len() >= 100);
}

#[test]
fn messages_name_the_rule_and_field() {
    let err = check('A', "ssh db.prod.internal ls").unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused \"ssh db.prod.internal ls\": host \"db.prod.internal\" matches \
         ssh.deniedHosts \"*.prod.internal\""
    );
    let mut err = check('A', "ssh prod rm -rf /srv").unwrap_err();
    if let command::Reason::Other(f) = &mut err.reason {
        assert_eq!(
            (f.key, f.rule.as_deref()),
            (Some("ssh.deniedCommands"), Some("rm"))
        );
        f.origin = "cfg.json".into();
    }
    assert_eq!(
        err.to_string(),
        "refused \"ssh prod rm -rf /srv\": matches ssh.deniedCommands \"rm\" (cfg.json)"
    );
    let err = check('S', "ssh dev curl x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused \"ssh dev curl x\": matches command.deny \"curl\", applied to remote \
         commands by ssh.inheritDeny"
    );
    let err = check('S', "ssh gitlab.com").unwrap_err();
    assert!(
        err.to_string()
            .ends_with("host \"gitlab.com\" is not in ssh.allowedHosts")
    );
}

/// The run-time entry point: an argv of known words, no parsing of a script.
#[test]
fn run_time_argv() {
    let (command, ssh) = config('S');
    let rules = compile(&ssh, &command).unwrap();
    let ok = |a: &[&str]| rules.check_args(&strings(a)).is_ok();
    assert!(ok(&["/usr/bin/ssh", "dev", "ls", "-la"]));
    assert!(!ok(&["ssh", "prod.example.com"]));
    assert!(!ok(&["ssh", "dev", "rm", "-rf", "/"]));
    assert!(ok(&["ssh", "-oSendEnv=GIT_PROTOCOL", "github.com"]));
    // What git runs: `ssh … git@github.com "git-upload-pack 'x.git'"` is a remote command.
    assert!(!ok(&["ssh", "git@github.com", "git-upload-pack 'x.git'"]));
    assert!(ok(&["git", "clone", "git@github.com:x/y"]));
    assert!(!ok(&["git", "clone", "git@evil.com:x/y"]));
    assert!(ok(&["ls", "prod.example.com"]));
    let inactive = compile(&Ssh::default(), &command).unwrap();
    assert!(!inactive.is_active());
    assert!(
        inactive
            .check_args(&strings(&["ssh", "anything", "rm"]))
            .is_ok()
    );
}

#[test]
fn config_errors_name_the_entry() {
    let ssh = Ssh {
        denied_commands: strings(&["ok", "'unterminated"]),
        ..Default::default()
    };
    let err = compile(&ssh, &CommandRules::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::ConfigValue { ref key, ref value, .. }
            if key == "ssh.deniedCommands" && value.as_deref() == Some("'unterminated")
    ));
    let ssh = Ssh {
        allowed_commands: strings(&["\"x"]),
        ..Default::default()
    };
    assert!(compile(&ssh, &CommandRules::default()).is_err());
}

/// Arbitrary argvs and scripts made of ssh-significant fragments never panic.
#[test]
fn never_panics() {
    const PIECES: &[&str] = &[
        "ssh", "scp", "sftp", "rsync", "git", "clone", "remote", "add", " ", "-", "--", "-p", "-o",
        "-J", "-F", "-e", "@", ":", "::", "[", "]", "/", "ssh://", "scp://", "rsync://", "=",
        "HostName", "%h", "%", ",", "$X", "'", "\"", ";", "rm", "none", "*", "é", "\t",
    ];
    let (command, ssh) = config('S');
    let rules = compile(&ssh, &command).unwrap();
    let local = command::compile(&command, |_, _| String::new()).unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..10_000 {
        let len = (next() % 16) as usize;
        let mut s = String::new();
        let mut words = Vec::new();
        for _ in 0..len {
            let p = PIECES[(next() % PIECES.len() as u64) as usize];
            s.push_str(p);
            if next() % 3 == 0 {
                words.push(std::mem::take(&mut s));
            }
        }
        words.push(s.clone());
        let _ = rules.check_args(&words);
        let _ = local.check_script_with(&words.join(" "), &rules);
        let _ = local.check_argv_with(&words, &rules);
    }
}

/// What the ssh policy adds to the preflight of a 10 KiB script with 200 command rules:
/// `cargo test --release --lib ssh_preflight_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn ssh_preflight_speed() {
    let deny: Vec<String> = (0..200).map(|i| format!("tool{i} sub{i} --flag")).collect();
    let command = CommandRules {
        deny,
        ..Default::default()
    };
    let local = command::compile(&command, |_, _| String::new()).unwrap();
    let (_, ssh) = config('S');
    let rules = compile(&ssh, &command).unwrap();
    let mut script = String::new();
    while script.len() < 10 * 1024 {
        script.push_str(
            "ssh -p 2222 dev.example.com 'ls -la && uptime' && git clone git@github.com:x/y \
             && FOO=1 npm run build -- \"$(git rev-parse HEAD)\" | tee -a log.txt; ",
        );
    }
    let time = |check: &dyn ArgvCheck| {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            local.check_script_with(&script, check).unwrap();
        }
        t.elapsed() / 100
    };
    let without = time(&command::NoCheck);
    let with = time(&rules);
    let (_, denylist) = config('A');
    let denylist = time(&compile(&denylist, &command).unwrap());
    eprintln!(
        "preflight, 200 rules + defaults, 10 KiB with 50 ssh commands: {without:?}; with the \
         ssh policy: {with:?} (denylist mode: {denylist:?})"
    );
}
