//! Run-time command deny, path mode: a single-word deny rule also stops child processes.
//! Fake programs record in the workspace whether they ran, so the host side sees it; they
//! are started by a script file, which the preflight cannot see into.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::util::{Sandbox, User};

/// A program at `path` that appends its name and arguments to `ran` in the workspace.
fn fake(sb: &Sandbox, path: &Path) {
    sb.write(
        path,
        &format!(
            "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> {}\n",
            sb.ws.join("ran").display()
        ),
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `dir` (holding the fakes) before the suite's PATH.
fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

fn ran(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.ws.join("ran")).unwrap_or_default()
}

/// Writes `run.sh` in the workspace and returns the `-c` script that runs it.
fn script(sb: &Sandbox, body: &str) -> &'static str {
    sb.write(&sb.ws.join("run.sh"), body);
    "sh ./run.sh"
}

/// A sandbox with `bin/tool` and `bin/other` beside the workspace (read-only inside).
fn with_tools(user: User) -> (Sandbox, PathBuf, String) {
    let sb = Sandbox::new(user);
    let bin = sb.root.join("bin");
    for name in ["tool", "other"] {
        fake(&sb, &bin.join(name));
    }
    let path = path_with(&bin);
    (sb, bin, path)
}

fn denied_child_is_stopped_while_the_rest_runs(user: User) {
    let (sb, bin, path) = with_tools(user);
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["tool"]}}"#,
    );
    let body = format!(
        "other first\ntool a\necho rc=$?\n{}/tool b\necho rc=$?\nother last\n",
        bin.display()
    );
    let r = sb
        .fence()
        .env("PATH", &path)
        .sh(&cfg, script(&sb, &body))
        .run();
    r.ok().stderr_has("tool: Permission denied");
    // dash says 127 for a name found on PATH that cannot be run, every shell 126 for a path.
    let codes: Vec<&str> = r.stdout.lines().collect();
    assert!(matches!(codes[..], ["rc=126" | "rc=127", "rc=126"]), "{r}");
    assert_eq!(ran(&sb), "other first\nother last\n", "{r}");
    // `fence -- tool` itself is refused before the run, as before.
    sb.fence()
        .env("PATH", &path)
        .args(["-s"])
        .arg(&cfg)
        .args(["--", "tool"])
        .run()
        .code(126)
        .stderr_has("matches command.deny \"tool\"");
    // Without the rule, the same script runs the tool.
    let off = sb.config("off.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    sb.fence()
        .env("PATH", &path)
        .sh(&off, "sh ./run.sh")
        .run()
        .ok();
    assert_eq!(
        ran(&sb),
        "other first\nother last\nother first\ntool a\ntool b\nother last\n"
    );
}

/// The mask holds: no chmod, no unmount, no removal, no rename, even where the directory
/// is writable; exec through a symlink to the file is refused too.
fn the_mask_cannot_be_undone(user: User) {
    let sb = Sandbox::new(user);
    let wbin = sb.ws.join("wbin");
    fake(&sb, &wbin.join("tool"));
    symlink("tool", wbin.join("alias")).unwrap();
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["tool"]}}"#,
    );
    let body = "f=wbin/tool\n\
        chmod +x $f 2>/dev/null || echo chmod-refused\n\
        umount $f 2>/dev/null || echo umount-refused\n\
        rm -f $f 2>/dev/null || echo rm-refused\n\
        mv $f wbin/moved 2>/dev/null || echo mv-refused\n\
        test -s $f || echo empty\n\
        wbin/alias; echo alias=$?\n\
        ./$f; echo rc=$?\n";
    let r = sb
        .fence()
        .env("PATH", path_with(&wbin))
        .sh(&cfg, script(&sb, body))
        .run();
    r.ok();
    assert_eq!(
        r.stdout,
        "chmod-refused\numount-refused\nrm-refused\nmv-refused\nempty\nalias=126\nrc=126\n",
        "{r}"
    );
    assert_eq!(ran(&sb), "");
    // The host's file is untouched.
    assert!(
        std::fs::read_to_string(wbin.join("tool"))
            .unwrap()
            .contains("basename")
    );
}

fn allow_undenies(user: User) {
    let (sb, _, path) = with_tools(user);
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]},
            "command": {"deny": ["tool"], "allow": ["tool status"]}}"#,
    );
    let r = sb
        .fence()
        .env("PATH", &path)
        .sh(&cfg, script(&sb, "tool status\ntool other\n"))
        .run();
    r.ok();
    // Allowed by name: executable at run time (the preflight still refuses `tool other`).
    assert_eq!(ran(&sb), "tool status\ntool other\n", "{r}");
    sb.fence()
        .env("PATH", &path)
        .sh(&cfg, "tool other")
        .run()
        .code(126);
}

/// One binary and symlinks to it: denying one name would disable the others, so fence
/// refuses to run unless the name is accepted; then it stays executable, with a warning.
fn busybox_layout(user: User) {
    let sb = Sandbox::new(user);
    let bin = sb.root.join("bb");
    fake(&sb, &bin.join("busybox"));
    for name in ["chroot", "ls2", "cat2"] {
        symlink("busybox", bin.join(name)).unwrap();
    }
    let path = path_with(&bin);
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["chroot"]}}"#,
    );
    let run = script(&sb, "cat2 x\nchroot y\n");
    let r = sb.fence().env("PATH", &path).sh(&cfg, run).run();
    r.code(125)
        .stderr_has("cfg.json:1:60: command.deny[0]: \"chroot\" cannot be denied at run time")
        .stderr_has(&format!("{}", bin.join("busybox").display()))
        .stderr_has("multicall")
        .stderr_has("command.acceptSharedBinaryCannotRuntimeDeny")
        .stderr_has("cfg.json");
    assert_eq!(ran(&sb), "");
    let accepted = sb.config(
        "accepted.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["chroot"],
            "acceptSharedBinaryCannotRuntimeDeny": ["chroot"]}}"#,
    );
    let r = sb.fence().env("PATH", &path).sh(&accepted, run).run();
    r.ok()
        .stderr_has("\"chroot\" stays executable inside the sandbox")
        .stderr_has("refuses it before the run");
    assert_eq!(ran(&sb), "cat2 x\nchroot y\n", "{r}");
    sb.fence()
        .env("PATH", &path)
        .sh(&accepted, "chroot y")
        .run()
        .code(126);
    // A project config may not accept a shared binary without trust: that is a grant.
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        r#"{"command": {"deny": ["chroot"]}}"#,
    );
    sb.config(
        "fence.json",
        r#"{"command": {"acceptSharedBinaryCannotRuntimeDeny": ["chroot"]}}"#,
    );
    sb.fence()
        .env("PATH", &path)
        .args(["true"])
        .run()
        .code(125)
        .stderr_has("not trusted")
        .stderr_has("command.acceptSharedBinaryCannotRuntimeDeny chroot");
}

/// The default list's single-word rules are checked before the run only: at run time its
/// commands fail in the sandbox anyway (no capabilities, seccomp), so its files are not
/// masked (a mount each costs every run); a `command.deny` rule of the same name is.
fn default_list_before_the_run_only(user: User) {
    let sb = Sandbox::new(user);
    let bin = sb.root.join("bin");
    fake(&sb, &bin.join("nsenter"));
    fake(&sb, &bin.join("other"));
    let path = path_with(&bin);
    let defaults = sb.config("on.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let denied = sb.config(
        "deny.json",
        r#"{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["nsenter"]}}"#,
    );
    sb.fence()
        .env("PATH", &path)
        .sh(&defaults, "nsenter -t 1")
        .run()
        .code(126)
        .stderr_has("the default command deny list");
    assert_eq!(ran(&sb), "");
    let run = script(&sb, "nsenter -t 1\nother\n");
    sb.fence().env("PATH", &path).sh(&defaults, run).run().ok();
    assert_eq!(ran(&sb), "nsenter -t 1\nother \n");
    sb.fence()
        .env("PATH", &path)
        .sh(&denied, run)
        .run()
        .ok()
        .stderr_has("nsenter: Permission denied");
    assert_eq!(ran(&sb), "nsenter -t 1\nother \nother \n");
}

both_users!(
    denied_child_is_stopped_while_the_rest_runs,
    the_mask_cannot_be_undone,
    allow_undenies,
    busybox_layout,
    default_list_before_the_run_only,
);
