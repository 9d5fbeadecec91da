//! The private /tmp and the config fields around it, checked on the host: what the private
//! /tmp hides is said (a program: exit 127 with the fix; the working directory and state
//! directories: warnings, and what the command left there when it ends), allowRead shares
//! a host /tmp path read-only, allowWrite one really receives the files, and missing
//! allowWrite directories under the home are created (never through a planted link).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::util::{Sandbox, UNPRIVILEGED, User};

/// A directory in the host's /tmp, owned by the sandbox's user, removed on drop.
struct HostTmp(PathBuf);

impl HostTmp {
    fn new(sb: &Sandbox, name: &str) -> HostTmp {
        let dir = PathBuf::from(format!(
            "/tmp/fence-it-{name}-{}-{:?}",
            std::process::id(),
            sb.user
        ));
        let _ = std::fs::remove_dir_all(&dir);
        sb.mkdir(&dir);
        HostTmp(dir)
    }

    /// A shell script `rel` that prints `text`, executable by everyone.
    fn script(&self, sb: &Sandbox, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        sb.write(&path, &format!("#!/bin/sh\necho {text}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for HostTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// A program under the host's /tmp does not exist in the sandbox: fence says so, with the
/// fix, and exits 127 as before; allowRead shares it read-only.
fn program_in_hidden_tmp_is_explained(user: User) {
    let sb = Sandbox::new(user);
    let dir = HostTmp::new(&sb, "prog");
    let tool = dir.script(&sb, "venv/bin/tool", "TOOL-RAN");
    let fix = format!("[\"{}\"] to filesystem.allowRead", show(&dir.0));
    sb.fence()
        .arg(&tool)
        .run()
        .code(127)
        .stdout_lacks("TOOL-RAN")
        .stderr_has("command not found in the sandbox")
        .stderr_has("private /tmp hides")
        .stderr_has(&fix);
    // Found through PATH: the same.
    let path = format!("{}:/usr/bin:/bin", show(&dir.0.join("venv/bin")));
    sb.fence()
        .env("PATH", &path)
        .arg("tool")
        .run()
        .code(127)
        .stderr_has("the host's PATH finds")
        .stderr_has(&fix);

    // allowRead brings it in, read-only: it runs, and a write there fails on the host too.
    let cfg = sb.config(
        "fence.json",
        &format!(r#"{{"filesystem": {{"allowRead": ["{}"]}}}}"#, show(&dir.0)),
    );
    let script = format!(
        "{}; echo x > {}/venv/new && echo WROTE; echo done",
        show(&tool),
        show(&dir.0)
    );
    sb.fence()
        .sh(&cfg, &script)
        .run()
        .ok()
        .stdout_has("TOOL-RAN")
        .stdout_lacks("WROTE")
        .stdout_has("done")
        .stderr_lacks("warning");
    assert!(!dir.0.join("venv/new").exists());
}

/// A working directory under the host's /tmp: a warning at start, and at the end the
/// files the command wrote next to it (into the discarded private /tmp) are named; with
/// allowWrite they really reach the host.
fn working_directory_in_tmp_warns_and_names_lost_files(user: User) {
    let sb = Sandbox::new(user);
    let dir = HostTmp::new(&sb, "cwd");
    let sub = dir.0.join("p/sub");
    sb.mkdir(&dir.0.join("p"));
    sb.mkdir(&sub);
    // `../x` lands in a directory bwrap made to hold the working directory: writable for
    // root only. A file next to the tree is writable for everyone.
    let beside = PathBuf::from(format!("{}-beside", show(&dir.0)));
    let script = format!("touch ../x 2>/dev/null; echo y > {}", show(&beside));
    let mut fence = sb.fence().args(["-c", &script]);
    fence.cmd.current_dir(&sub);
    let lost = dir.0.join("p/x");
    fence
        .run()
        .ok()
        .stderr_has(&format!("the working directory {}", show(&sub)))
        .stderr_has("outside the allowed paths in the sandbox's private /tmp")
        .stderr_has(&show(&beside));
    assert!(
        !lost.exists() && !beside.exists(),
        "the private /tmp is discarded"
    );

    let cfg = sb.config(
        "fence.json",
        &format!(
            r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#,
            show(&dir.0.join("p"))
        ),
    );
    let mut fence = sb.fence().arg("-s").arg(&cfg).args(["touch", "../x"]);
    fence.cmd.current_dir(&sub);
    fence
        .run()
        .ok()
        .stderr_lacks("working directory")
        .stderr_lacks("left");
    assert!(
        lost.is_file(),
        "an allowWrite'd host /tmp path receives the file"
    );
}

/// A state directory named by the environment (CARGO_HOME) in the host's /tmp: a warning,
/// and what the command put there is named at exit; shared with allowWrite, it stays.
fn state_directory_in_tmp_warns(user: User) {
    let sb = Sandbox::new(user);
    let dir = HostTmp::new(&sb, "state");
    let home = dir.0.join("cargo");
    let script = "mkdir -p $CARGO_HOME/registry && echo x > $CARGO_HOME/registry/f";
    sb.fence()
        .env("CARGO_HOME", &home)
        .args(["-c", script])
        .run()
        .ok()
        .stderr_has(&format!("CARGO_HOME={}", show(&home)))
        .stderr_has("discarded at exit")
        .stderr_has(&show(&home.join("registry/f")));
    assert!(!home.exists());

    sb.mkdir(&home);
    let cfg = sb.config(
        "fence.json",
        &format!(r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#, show(&home)),
    );
    sb.fence()
        .env("CARGO_HOME", &home)
        .sh(&cfg, script)
        .run()
        .ok()
        .stderr_lacks("CARGO_HOME")
        .stderr_lacks("left");
    assert!(home.join("registry/f").is_file());
}

/// A missing allowWrite directory under the home is created before the run (the user's,
/// mode from the umask); one elsewhere is skipped with a warning (not only under -d).
fn missing_allow_write_directory_is_created(user: User) {
    let sb = Sandbox::new(user);
    let elsewhere = sb.root.join("not-home");
    let cfg = sb.config(
        "fence.json",
        &format!(
            r#"{{"filesystem": {{"allowWrite": ["~/.npm/_cacache", "{}"]}}}}"#,
            show(&elsewhere)
        ),
    );
    let r = sb
        .fence()
        .sh(&cfg, "echo x > ~/.npm/_cacache/f && echo WROTE")
        .wrapped(&["sh", "-c", "umask 027 && exec \"$@\"", "sh"])
        .run();
    r.ok()
        .stdout_has("WROTE")
        .stderr_has(&format!("{} does not exist, skipped", show(&elsewhere)));
    let uid = if sb.switches_user() {
        UNPRIVILEGED
    } else {
        // SAFETY: geteuid cannot fail and has no memory effects.
        unsafe { libc::geteuid() }
    };
    for dir in [".npm", ".npm/_cacache"] {
        let meta = std::fs::metadata(sb.home.join(dir)).unwrap();
        assert!(meta.is_dir(), "{dir}");
        assert_eq!(meta.uid(), uid, "{dir}: owner");
        assert_eq!(meta.mode() & 0o7777, 0o750, "{dir}: mode from umask 027");
    }
    assert!(sb.home.join(".npm/_cacache/f").is_file());
    assert!(!elsewhere.exists());
}

/// A symbolic link planted on the way to a missing allowWrite directory does not make
/// fence create anything where it leads.
fn planted_link_does_not_create_outside(user: User) {
    let sb = Sandbox::new(user);
    let outside = sb.root.join("outside");
    sb.mkdir(&outside);
    std::os::unix::fs::symlink(&outside, sb.home.join(".npm")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.ws.join("build")).unwrap();
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["~/.npm/_cacache", "build/out"]}}"#,
    );
    let r = sb.fence().sh(&cfg, "echo ran").run();
    r.ok()
        .stdout_has("ran")
        .stderr_has("is a symbolic link that does not lead to a directory inside");
    assert_eq!(
        r.stderr.matches("warning: filesystem.allowWrite").count(),
        2,
        "one line per entry\n{r}"
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing was created through the links"
    );
}

/// Host sockets in a part of the host's /tmp that a bind brings in (allowRead, the
/// working directory) stay masked (tmux, X11 and ssh-agent keep theirs in /tmp) unless
/// allowUnixSockets opens them.
fn sockets_in_bound_tmp_paths_stay_masked(user: User) {
    use crate::unix_sockets::{HostServer, connect_script};
    let sb = Sandbox::new(user);
    let dir = HostTmp::new(&sb, "sock");
    let server = HostServer::start(&dir.0.join("agent.sock"));
    let script = connect_script(&server.path);
    let read = format!(r#""allowRead": ["{}"]"#, show(&dir.0));
    let masked = sb.config("masked.json", &format!(r#"{{"filesystem": {{{read}}}}}"#));
    sb.fence()
        .sh(&masked, &script)
        .run()
        .failed()
        .stdout_lacks("HOSTSECRET");
    let mut in_cwd = sb.fence().args(["-c", &script]);
    in_cwd.cmd.current_dir(&dir.0);
    in_cwd.run().failed().stdout_lacks("HOSTSECRET");
    let allowed = sb.config(
        "allowed.json",
        &format!(
            r#"{{"filesystem": {{{read}}}, "network": {{"allowUnixSockets": ["{}"]}}}}"#,
            show(&server.path)
        ),
    );
    sb.fence()
        .sh(&allowed, &script)
        .run()
        .ok()
        .stdout_has("HOSTSECRET");
}

both_users!(
    program_in_hidden_tmp_is_explained,
    working_directory_in_tmp_warns_and_names_lost_files,
    state_directory_in_tmp_warns,
    missing_allow_write_directory_is_created,
    planted_link_does_not_create_outside,
    sockets_in_bound_tmp_paths_stay_masked,
);
