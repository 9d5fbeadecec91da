//! bwrap started ahead of its plan (src/linux/launch.rs): a launch the run does not use is
//! killed and reaped, plans needing more empty files than it carries start a bwrap of their
//! own, and the environment goes to the command, not to bwrap.

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use util::{Sandbox, User};

/// A `bwrap` that records its environment, then becomes the real one. As `FENCE_BWRAP` it
/// is trusted, so fence starts it ahead of the plan.
fn recording_bwrap(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let env = sb.root.join("bwrap.env");
    let script = sb.root.join("bwrap");
    sb.write(
        &script,
        &format!(
            "#!/bin/sh\nenv > '{}'\nexec /usr/bin/bwrap \"$@\"\n",
            env.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, env)
}

fn an_unused_launch_is_killed_and_reaped(user: User) {
    let sb = Sandbox::new(user);
    // The command is refused after bwrap was started (the preflight comes later).
    let cfg = sb.config("deny.json", r#"{"command": {"deny": ["true"]}}"#);
    let r = sb
        .fence()
        .arg("-d")
        .arg("-s")
        .arg(&cfg)
        .args(["--", "true"])
        .run();
    r.code(126).stderr_has("matches command.deny");
    let pid: i32 = r
        .stderr
        .split("started ahead of its plan (pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("bwrap was not started ahead of the plan:\n{r}"));
    // Reaped by fence before it exited: no such process, not even a zombie. An orphan
    // would still be setting up a sandbox here (that takes milliseconds).
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "bwrap {pid} outlived the refused run"
    );
}

fn masks_beyond_the_launchs_empty_files(user: User) {
    let sb = Sandbox::new(user);
    // 20 denied files: more than the 16 empty files an early bwrap carries, so the run
    // starts a bwrap of its own; 3 fit in the early one.
    for count in [3, 20] {
        let names: Vec<String> = (0..count).map(|i| format!("secret-{count}-{i}")).collect();
        for name in &names {
            sb.write(&sb.ws.join(name), "classified\n");
        }
        let deny: Vec<String> = names.iter().map(|n| format!("\"./{n}\"")).collect();
        let cfg = sb.config(
            &format!("masks-{count}.json"),
            &format!(r#"{{"filesystem": {{"denyRead": [{}]}}}}"#, deny.join(", ")),
        );
        let r = sb
            .fence()
            .arg("-s")
            .arg(&cfg)
            .args(["--", "sh", "-c"])
            .arg(format!("cat secret-{count}-* | wc -c; echo done"))
            .run();
        r.ok().stdout_has("0\ndone\n");
    }
}

fn a_plan_bigger_than_a_pipe(user: User) {
    let sb = Sandbox::new(user);
    // 240 masks of 250-byte names: about 80 KB of mount arguments, more than a pipe's
    // default 64 KiB.
    let dir = sb.ws.join("d");
    let names: Vec<String> = (0..240)
        .map(|i| format!("{i:03}{}", "x".repeat(247)))
        .collect();
    for name in &names {
        sb.write(&dir.join(name), "classified\n");
    }
    let deny: Vec<String> = names.iter().map(|n| format!("\"./d/{n}\"")).collect();
    let cfg = sb.config(
        "big.json",
        &format!(r#"{{"filesystem": {{"denyRead": [{}]}}}}"#, deny.join(", ")),
    );
    let r = sb
        .fence()
        .arg("-d")
        .arg("-s")
        .arg(&cfg)
        .args(["--", "sh", "-c", "cat d/* | wc -c"])
        .run();
    r.ok().stdout_has("0\n");
    let plan = r
        .stderr
        .lines()
        .find(|l| l.contains("exec /usr/bin/bwrap"))
        .unwrap_or_default();
    assert!(plan.len() > 64 * 1024, "the plan is {} bytes", plan.len());
}

fn the_environment_reaches_the_command_and_not_bwrap(user: User) {
    let sb = Sandbox::new(user);
    let (bwrap, env_file) = recording_bwrap(&sb);
    let cfg = sb.config("empty.json", "{}");
    let value = "a=b c\nsecond line";
    sb.fence()
        .env("FENCE_BWRAP", &bwrap)
        .env("FENCE_TEST_VALUE", value)
        .arg("-s")
        .arg(&cfg)
        .args([
            "--",
            "sh",
            "-c",
            "printf '[%s]' \"$FENCE_TEST_VALUE\"; printf '<%s>' \"$HOME\"",
        ])
        .run()
        .ok()
        .stdout_has(&format!("[{value}]<{}>", sb.home.display()));
    let seen = std::fs::read_to_string(&env_file).unwrap();
    for name in ["FENCE_TEST_VALUE=", "HOME=", "PATH=", "HTTP_PROXY="] {
        assert!(
            !seen.lines().any(|l| l.starts_with(name)),
            "bwrap got {name}…:\n{seen}"
        );
    }
}

both_users!(
    an_unused_launch_is_killed_and_reaped,
    a_plan_bigger_than_a_pipe,
    masks_beyond_the_launchs_empty_files,
    the_environment_reaches_the_command_and_not_bwrap,
);
