//! Command preflight (`command.deny`, `command.allow`, the default deny list): refused
//! commands exit 126 before anything runs. Fake programs on `PATH` record in the
//! workspace whether they ran, so the host side sees it.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Sandbox, User};

/// A sandbox with `bin/NAME` (beside the workspace, not writable inside) for each name: a
/// script that appends `NAME ARGS` to `ran` in the workspace. Returns it and the `PATH`
/// to use.
pub fn with_fakes(user: User, names: &[&str]) -> (Sandbox, String) {
    let sb = Sandbox::new(user);
    let bin = sb.root.join("bin");
    for name in names {
        let path = bin.join(name);
        sb.write(
            &path,
            &format!(
                "#!/bin/sh\necho \"{name} $*\" >> {}\n",
                sb.ws.join("ran").display()
            ),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    (sb, path)
}

pub fn ran(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.ws.join("ran")).unwrap_or_default()
}

const DENY_PUSH: &str = r#"{"filesystem": {"allowWrite": ["."]},
    "command": {"deny": ["git push", "npm publish"], "allow": ["git push origin docs"]}}"#;

fn refused_script_runs_nothing(user: User) {
    let (sb, path) = with_fakes(user, &["git", "npm"]);
    let cfg = sb.config("cfg.json", DENY_PUSH);
    let r = sb
        .fence()
        .env("PATH", &path)
        .sh(&cfg, "npm test && git push")
        .run();
    r.code(126);
    assert_eq!(
        r.stderr, "fence: refused \"git push\": matches command.deny \"git push\" (cfg.json)\n",
        "{r}"
    );
    assert_eq!(ran(&sb), "", "nothing may run when the script is refused");
    // The same script without the denied command runs.
    sb.fence()
        .env("PATH", &path)
        .sh(&cfg, "npm test && git status")
        .run()
        .ok();
    assert_eq!(ran(&sb), "npm test\ngit status\n");
}

fn refused_argv_runs_nothing(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config("cfg.json", DENY_PUSH);
    let run = |args: &[&str]| {
        sb.fence()
            .env("PATH", &path)
            .arg("-s")
            .arg(&cfg)
            .arg("--")
            .args(args)
            .run()
    };
    run(&["git", "push"])
        .code(126)
        .stderr_has("fence: refused \"git push\": matches command.deny \"git push\" (cfg.json)");
    run(&["git", "-C", ".", "push", "origin", "main"]).code(126);
    run(&["env", "git", "push"]).code(126);
    run(&["sh", "-c", "true; git push"]).code(126);
    assert_eq!(ran(&sb), "");
    // Words are not re-parsed: an argument holding `; git push` is data.
    run(&["git", "commit", "-m", "x; git push"]).ok();
    // allow beats deny.
    run(&["git", "push", "origin", "docs"]).ok();
    assert_eq!(
        ran(&sb),
        "git commit -m x; git push\ngit push origin docs\n"
    );
}

fn bypasses_are_refused(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config("cfg.json", DENY_PUSH);
    for script in [
        "true & git push",
        "true\ngit push",
        "(git push)",
        "echo $(git push)",
        "echo `git push`",
        "g'i't push",
        "\\git push",
        "env FOO=1 git push",
        "command git push",
        "find . -maxdepth 0 -exec git push \\;",
        "$(echo git) push",
        "bash -c 'sh -c \"git push\"'",
        "eval 'git push'",
        "echo 'git push' | sh",
        "bash <<'EOF'\ngit push\nEOF",
        "alias g=git\ng push",
        "git -c alias.p=push p",
    ] {
        let r = sb.fence().env("PATH", &path).sh(&cfg, script).run();
        r.code(126).stderr_has("fence: refused ");
    }
    assert_eq!(ran(&sb), "", "no bypass may run git");
    // Data is not a command.
    sb.fence()
        .env("PATH", &path)
        .sh(&cfg, "echo 'git push' # git push\ncat <<EOF\ngit push\nEOF")
        .run()
        .ok()
        .stdout_has("git push");
}

fn unparseable_script_is_refused(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    let cfg = sb.config("cfg.json", DENY_PUSH);
    sb.fence()
        .env("PATH", &path)
        .sh(&cfg, "git status 'oops")
        .run()
        .code(126)
        .stderr_has("cannot be parsed as a shell command (unterminated single quote)");
    assert_eq!(ran(&sb), "");
}

fn default_list_and_use_defaults(user: User) {
    let (sb, path) = with_fakes(user, &["reboot", "dd"]);
    let on = sb.config("on.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let off = sb.config(
        "off.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"useDefaults": false}}"#,
    );
    sb.fence()
        .env("PATH", &path)
        .sh(&on, "reboot")
        .run()
        .code(126)
        .stderr_has(
            "refused \"reboot\": matches the default command deny list \"reboot\" \
             (command.useDefaults)",
        );
    sb.fence()
        .env("PATH", &path)
        .sh(&on, "dd of=x if=/dev/zero")
        .run()
        .code(126);
    assert_eq!(ran(&sb), "");
    sb.fence().env("PATH", &path).sh(&off, "reboot").run().ok();
    sb.fence().env("PATH", &path).sh(&on, "dd of=x").run().ok();
    assert_eq!(ran(&sb), "reboot \ndd of=x\n");
}

/// An untrusted project config may add denies (it narrows) but not allow entries or turn
/// the default list off (grants).
fn project_config_trust(user: User) {
    let (sb, path) = with_fakes(user, &["git"]);
    // The user's own config lets the fakes record; the project's only adds a deny.
    let user_cfg = sb.home.join(".config/fence/fence.json");
    sb.write(
        &user_cfg,
        &format!(
            r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#,
            sb.ws.display()
        ),
    );
    sb.config("fence.json", r#"{"command": {"deny": ["git push"]}}"#);
    sb.fence()
        .env("PATH", &path)
        .args(["git", "push"])
        .run()
        .code(126)
        .stderr_has("matches command.deny \"git push\" (fence.json)");
    sb.fence()
        .env("PATH", &path)
        .args(["git", "status"])
        .run()
        .ok();
    assert_eq!(ran(&sb), "git status\n");
    sb.config(
        "fence.json",
        r#"{"command": {"allow": ["reboot"], "useDefaults": false}}"#,
    );
    sb.fence()
        .env("PATH", &path)
        .args(["git", "status"])
        .run()
        .code(125)
        .stderr_has("not trusted")
        .stderr_has("command.allow reboot")
        .stderr_has("command.useDefaults false");
}

both_users!(
    refused_script_runs_nothing,
    refused_argv_runs_nothing,
    bypasses_are_refused,
    unparseable_script_is_refused,
    default_list_and_use_defaults,
    project_config_trust,
);
