//! Exec checks at run time (`command.runtimeExecPolicy: "argv"`): every `execve` in the
//! sandbox is checked against the command rules over seccomp user notification, so a denied
//! command that a script builds at run time (which the preflight cannot see) fails with
//! EPERM, one `[fence:exec]` line says why, and the script's other commands run. The fake
//! programs record on the host side whether they ran.

use crate::commands::{ran, with_fakes};
use crate::util::{Run, User};

/// fence's `[fence:exec]` lines on stderr.
fn exec_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("[fence:exec]"))
        .collect()
}

const ARGV_MODE: &str = r#"{"filesystem": {"allowWrite": ["."]},
    "command": {"deny": ["git push"], "allow": ["git push origin docs"],
                "runtimeExecPolicy": "argv"}}"#;

/// A script whose denied command only exists at run time.
const SCRIPT: &str = "git status\nX=push\ngit $X\necho \"status $?\"\n\
    git $X origin docs\nln -s \"$(command -v git)\" /tmp/g\n/tmp/g push --force\necho end\n";

fn a_command_built_at_run_time_is_stopped_when_it_execs(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config("cfg.json", ARGV_MODE);
    sb.write(&sb.ws.join("release.sh"), SCRIPT);
    let run = sb
        .fence()
        .env("PATH", &path)
        .arg("-s")
        .arg(&cfg)
        .args(["sh", "release.sh"])
        .run();
    run.ok().stdout_has("status 126").stdout_has("end");
    // The allowed forms ran; neither spelling of the denied one did.
    assert_eq!(ran(&sb), "git status\ngit push origin docs\n", "{run}");
    let lines = exec_lines(&run);
    assert_eq!(lines.len(), 2, "one line per refused command: {run}");
    assert!(
        lines[0].starts_with("[fence:exec] refused git push (sh[")
            && lines[0].ends_with("execve): matches command.deny \"git push\" (cfg.json)"),
        "{run}"
    );
    // Through a link with another name, in the sandbox's private /tmp: the file it leads to
    // is what runs, and its name is checked.
    assert!(
        lines[1].starts_with("[fence:exec] refused /tmp/g push --force (sh["),
        "{run}"
    );
}

fn without_argv_mode_nothing_is_checked_at_exec(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["git push"]}}"#,
    );
    sb.write(&sb.ws.join("release.sh"), "X=push\ngit $X\n");
    let run = sb
        .fence()
        .env("PATH", &path)
        .arg("-s")
        .arg(&cfg)
        .args(["sh", "release.sh"])
        .run();
    // Only the preflight applies, and it cannot see inside the script file.
    run.ok();
    assert_eq!(ran(&sb), "git push\n", "{run}");
}

/// The ssh policy applies at exec too: a host only known at run time is checked when ssh
/// starts.
fn ssh_hosts_are_checked_at_exec(user: User) {
    let (sb, path) = with_fakes(user, &["ssh"]);
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]},
            "command": {"runtimeExecPolicy": "argv"},
            "ssh": {"deniedHosts": ["prod.example.com"], "allowAllCommands": true}}"#,
    );
    sb.write(
        &sb.ws.join("deploy.sh"),
        "for h in dev.example.com prod.example.com; do ssh \"$h\" uptime; done\n",
    );
    let run = sb
        .fence()
        .env("PATH", &path)
        .arg("-s")
        .arg(&cfg)
        .args(["sh", "deploy.sh"])
        .run();
    assert_eq!(ran(&sb), "ssh dev.example.com uptime\n", "{run}");
    let lines = exec_lines(&run);
    assert_eq!(lines.len(), 1, "{run}");
    assert!(
        lines[0].starts_with("[fence:exec] refused ssh prod.example.com uptime (sh[")
            && lines[0].contains("prod.example.com")
            && lines[0].contains("(cfg.json)"),
        "{run}"
    );
}

/// Exec checks cannot be kept without a listener of fence's own: the run is refused, and
/// nothing ran.
fn argv_mode_without_a_listener_refuses_the_run(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config("cfg.json", ARGV_MODE);
    let run = sb
        .fence()
        .env("PATH", &path)
        .wrapped(&["python3", "-c", crate::monitor::HOLD_A_LISTENER])
        .arg("-s")
        .arg(&cfg)
        .args(["git", "status"])
        .run();
    run.code(125).stderr_has(
        "exec checks (command.runtimeExecPolicy \"argv\") need seccomp user notification",
    );
    assert_eq!(ran(&sb), "", "{run}");
}

both_users!(
    argv_mode_without_a_listener_refuses_the_run,
    ssh_hosts_are_checked_at_exec,
    a_command_built_at_run_time_is_stopped_when_it_execs,
    without_argv_mode_nothing_is_checked_at_exec,
);
