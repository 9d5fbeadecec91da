//! The filesystem sandbox, checked from the host side.

use crate::util;

use std::path::Path;
use util::{Sandbox, User};

const WS_WRITE: &str = r#"{"filesystem": {"allowWrite": ["."]}}"#;

fn write_in_allowed_workspace(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("fence.json", WS_WRITE);
    sb.fence()
        .sh(
            &cfg,
            "echo hello > out.txt && mkdir -p d/e && echo x > d/e/f",
        )
        .run()
        .ok();
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("out.txt")).unwrap(),
        "hello\n"
    );
    assert!(sb.ws.join("d/e/f").is_file());
}

fn write_outside_allowed_paths_fails(user: User) {
    let sb = Sandbox::new(user);
    let outside = sb.root.join("outside");
    sb.mkdir(&outside);
    let cfg = sb.config("fence.json", WS_WRITE);
    let target = outside.join("x.txt");
    let r = sb
        .fence()
        .sh(&cfg, &format!("echo pwned > {}", target.display()))
        .run();
    r.failed().stderr_has("Read-only file system");
    assert!(!target.exists(), "nothing may appear on the host");
}

fn default_config_writes_nothing(user: User) {
    let sb = Sandbox::new(user);
    let r = sb.fence().args(["-c", "touch new-file"]).run();
    r.failed().stderr_has("Read-only file system");
    assert!(!sb.ws.join("new-file").exists());
}

fn etc_and_home_are_read_only(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("fence.json", WS_WRITE);
    let marker = format!("fence-test-{}", std::process::id());
    sb.fence()
        .sh(&cfg, &format!("touch /etc/{marker}"))
        .run()
        .failed();
    assert!(!Path::new("/etc").join(&marker).exists());
    sb.fence()
        .sh(&cfg, &format!("touch \"$HOME/{marker}\""))
        .run()
        .failed();
    assert!(!sb.home.join(&marker).exists());
}

fn protected_files_stay_read_only_in_writable_workspace(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join(".bashrc"), "original\n");
    sb.write(&sb.ws.join(".git/hooks/pre-commit.sample"), "sample\n");
    sb.write(&sb.ws.join(".git/config"), "[core]\n");
    sb.write(&sb.ws.join("sub/.git/hooks/x"), "");
    let cfg = sb.config("fence.json", WS_WRITE);
    let cases = [
        "echo evil >> .bashrc",
        "echo evil > .git/hooks/pre-commit",
        "echo evil >> .git/config",
        "echo evil > sub/.git/hooks/post-checkout",
    ];
    for script in cases {
        sb.fence().sh(&cfg, script).run().failed();
    }
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".bashrc")).unwrap(),
        "original\n"
    );
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".git/config")).unwrap(),
        "[core]\n"
    );
    assert!(!sb.ws.join(".git/hooks/pre-commit").exists());
    assert!(!sb.ws.join("sub/.git/hooks/post-checkout").exists());
    // Renaming a protected path's ancestor to swap in a fresh copy fails too.
    sb.fence()
        .sh(
            &cfg,
            "mv .git .git-moved || mv sub sub-moved || exit 0; mkdir -p .git/hooks sub/.git/hooks; \
                   echo evil > .git/hooks/pre-commit; echo evil > sub/.git/hooks/pre-commit",
        )
        .run();
    assert!(sb.ws.join(".git/config").is_file() && !sb.ws.join(".git-moved").exists());
    assert!(!sb.ws.join("sub-moved").exists() && !sb.ws.join("sub/.git/hooks/pre-commit").exists());
    assert!(!sb.ws.join(".git/hooks/pre-commit").exists());
    // The rest of the workspace stays writable.
    sb.fence().sh(&cfg, "echo ok > normal.txt").run().ok();
}

fn git_config_writable_only_with_allow_git_config(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join(".git/config"), "[core]\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["."], "allowGitConfig": true}}"#,
    );
    sb.fence()
        .sh(&cfg, "echo '[test]' >> .git/config")
        .run()
        .ok();
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".git/config")).unwrap(),
        "[core]\n[test]\n"
    );
    sb.fence()
        .sh(&cfg, "echo evil > .git/hooks/pre-commit")
        .run()
        .failed();
}

fn deny_read_hides_files_and_directories(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.home.join(".netrc"), "machine x password TOPSECRET1\n");
    sb.write(&sb.ws.join("secrets/key.txt"), "TOPSECRET2\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["."], "denyRead": ["~/.netrc", "secrets"]}}"#,
    );
    let r = sb
        .fence()
        .sh(
            &cfg,
            "cat ~/.netrc; cat secrets/key.txt; ls -A secrets; echo done",
        )
        .run();
    r.ok().stdout_lacks("TOPSECRET").stdout_has("done");
    // The masks are read-only too: nothing can be planted or overwritten through them.
    sb.fence().sh(&cfg, "echo x > ~/.netrc").run().failed();
    sb.fence().sh(&cfg, "echo x > secrets/new").run().failed();
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("secrets/key.txt")).unwrap(),
        "TOPSECRET2\n"
    );
    assert!(!sb.ws.join("secrets/new").exists());
}

fn masked_ancestor_beats_child_rule(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join("vault/inner/data.txt"), "TOPSECRET\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["vault"], "allowWrite": ["vault/inner"]}}"#,
    );
    let script = "cat vault/inner/data.txt; echo x > vault/inner/new; echo done";
    let r = sb.fence().sh(&cfg, script).run();
    r.ok().stdout_lacks("TOPSECRET").stdout_has("done");
    assert!(!sb.ws.join("vault/inner/new").exists());
    // allowRead inside the mask is a conflict: refused, naming both, rather than ignored.
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["vault"], "allowWrite": ["vault/inner"], "allowRead": ["vault/inner"]}}"#,
    );
    let r = sb.fence().sh(&cfg, script).run();
    r.code(125)
        .stdout_lacks("TOPSECRET")
        .stdout_lacks("done")
        .stderr_has("filesystem.allowRead")
        .stderr_has("cannot be read: it is inside");
    assert!(!sb.ws.join("vault/inner/new").exists());
}

fn deny_write_beats_allow_write(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join("locked/file"), "orig\n");
    sb.write(&sb.ws.join(".env"), "KEY=1\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": [".", "locked/sub"], "denyWrite": ["locked", "**/.env"]}}"#,
    );
    sb.fence().sh(&cfg, "echo x > locked/file").run().failed();
    sb.fence().sh(&cfg, "echo KEY=2 > .env").run().failed();
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("locked/file")).unwrap(),
        "orig\n"
    );
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".env")).unwrap(),
        "KEY=1\n"
    );
}

fn relative_allow_write_cannot_be_redirected_by_a_planted_symlink(user: User) {
    let sb = Sandbox::new(user);
    let target = sb.home.join("precious");
    sb.mkdir(&target);
    std::os::unix::fs::symlink(&target, sb.ws.join("build")).unwrap();
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["build"]}}"#);
    let r = sb.fence().sh(&cfg, "echo x > build/f").run();
    r.failed().stderr_has("outside the working directory");
    assert!(!target.join("f").exists());
    // Written as an absolute path, it is the user's explicit choice.
    let cfg = sb.config(
        "abs.json",
        &format!(
            r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#,
            sb.ws.join("build").display()
        ),
    );
    sb.fence().sh(&cfg, "echo x > build/f").run().ok();
    assert!(target.join("f").exists());
}

fn symlink_and_dotdot_escapes_fail(user: User) {
    let sb = Sandbox::new(user);
    let outside = sb.root.join("outside");
    sb.mkdir(&outside);
    std::os::unix::fs::symlink("/etc", sb.ws.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.ws.join("escape2")).unwrap();
    let cfg = sb.config("fence.json", WS_WRITE);
    let marker = format!("fence-escape-{}", std::process::id());
    sb.fence()
        .sh(&cfg, &format!("echo x > escape/{marker}"))
        .run()
        .failed();
    assert!(!Path::new("/etc").join(&marker).exists());
    sb.fence().sh(&cfg, "echo x > escape2/f").run().failed();
    sb.fence().sh(&cfg, "echo x > ../outside/g").run().failed();
    assert!(!outside.join("f").exists() && !outside.join("g").exists());
}

fn private_tmp_leaves_host_tmp_untouched(user: User) {
    let sb = Sandbox::new(user);
    let name = format!("fence-private-tmp-{}-{:?}", std::process::id(), user);
    sb.fence()
        .args(["-c", &format!("echo x > /tmp/{name} && cat /tmp/{name}")])
        .run()
        .ok()
        .stdout_has("x");
    assert!(!Path::new("/tmp").join(&name).exists());
}

fn reads_and_devices_work(user: User) {
    let sb = Sandbox::new(user);
    let script = "cat /etc/passwd >/dev/null && echo passwd-ok; \
        head -c 16 /dev/urandom | wc -c; echo discard > /dev/null && echo null-ok; \
        python3 -c 'import os; m, s = os.openpty(); os.write(s, b\"pty-ok\"); print(os.read(m, 6).decode())'";
    let r = sb.fence().args(["-c", script]).run();
    r.ok()
        .stdout_has("passwd-ok")
        .stdout_has("16")
        .stdout_has("null-ok")
        .stdout_has("pty-ok");
    // Raw host devices stay out of reach in the default (minimal) device mode.
    sb.fence()
        .args([
            "-c",
            "test -e /dev/mem || test -e /dev/kmsg || test -e /dev/sda",
        ])
        .run()
        .code(1);
}

fn default_deny_read_hides_unlisted_paths(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.home.join("private.txt"), "TOPSECRET\n");
    sb.write(&sb.ws.join("visible.txt"), "VISIBLE\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["."]}}"#,
    );
    let r = sb
        .fence()
        .sh(
            &cfg,
            "cat visible.txt; cat ~/private.txt; ls /var/tmp; echo done",
        )
        .run();
    r.ok()
        .stdout_has("VISIBLE")
        .stdout_lacks("TOPSECRET")
        .stdout_has("done");
}

fn working_directory_under_tmp_is_visible(user: User) {
    let sb = Sandbox::new(user);
    let dir = std::path::PathBuf::from(format!("/tmp/fence-cwd-{}-{:?}", std::process::id(), user));
    sb.mkdir(&dir);
    std::fs::write(dir.join("f.txt"), "here\n").unwrap();
    let r = sb.fence().run_in(&dir, &["cat", "f.txt"]);
    let _ = std::fs::remove_dir_all(&dir);
    r.ok().stdout_has("here");
}

/// A config can only add masks: `denyRead: ["/"]` (which once made every other mask
/// redundant and was then skipped itself) is refused before anything runs.
fn deny_read_of_root_is_refused(user: User) {
    let sb = Sandbox::new(user);
    for (entry, refused) in [
        ("/", "/ is refused"),
        ("/etc/../..", "\"/etc/../..\" (/) is refused"),
    ] {
        let cfg = sb.config(
            "fence.json",
            &format!(r#"{{"filesystem": {{"denyRead": ["{entry}"]}}}}"#),
        );
        // Located at the entry that names it.
        sb.fence()
            .sh(&cfg, "echo RAN")
            .run()
            .code(125)
            .stdout_lacks("RAN")
            .stderr_has(&format!(":1:30: filesystem.denyRead[0]: {refused}"))
            .stderr_has("defaultDenyRead");
    }
}

/// An untrusted, narrowing-only project config whose glob matches 20,000 files is refused
/// with the cause (bwrap takes at most 9,000 arguments), not after minutes of quadratic
/// plan building.
fn huge_narrowing_config_fails_fast_and_clearly(user: User) {
    let sb = Sandbox::new(user);
    let big = sb.ws.join("big");
    sb.mkdir(&big);
    for i in 0..20_000 {
        std::fs::File::create(big.join(format!("f{i}"))).unwrap();
    }
    sb.config("fence.json", r#"{"filesystem": {"denyRead": ["big/*"]}}"#);
    // Before, this took minutes (past the harness's deadline) before bwrap said no.
    sb.fence()
        .args(["--", "echo", "RAN"])
        .run()
        .code(125)
        .stdout_lacks("RAN")
        .stderr_has("mount operations, more than bubblewrap accepts");
}

/// Read-only paths beyond the mount budget are covered by their directories (stricter,
/// and said), so the plan's mount count stays bounded; past what whole directories one
/// level down can cover, the run is refused with the count.
fn deny_write_beyond_the_mount_budget_covers_directories(user: User) {
    let sb = Sandbox::new(user);
    for i in 0..30 {
        for j in 0..2 {
            sb.write(&sb.ws.join(format!("a{i}/b{j}/c/key.pem")), "KEY\n");
        }
    }
    let cfg = sb.config(
        "cfg.json",
        r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["**/*.pem"]}}"#,
    );
    let r = sb
        .fence()
        .arg("-d")
        .sh(
            &cfg,
            "echo evil > a7/b1/c/key.pem; mv a3 moved; echo x > a0/new.txt; \
             echo x > a5/b0/new.txt; echo ok > top.txt",
        )
        .run();
    // 60 files and 150 pins: the c directories (saving 1 each), then the b ones (1 each),
    // then 13 of the a ones (2 each) bring the 210 mounts down to 64.
    r.ok()
        .stderr_has("47 directories are read-only as a whole")
        .stderr_has("Read-only file system");
    let exec = r.stderr.lines().find(|l| l.contains("exec ")).unwrap();
    let binds = exec.matches(" --bind ").count() + exec.matches(" --ro-bind ").count();
    assert!(binds <= 70, "{binds} binds: {exec}");
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("a7/b1/c/key.pem")).unwrap(),
        "KEY\n"
    );
    assert!(sb.ws.join("a3").is_dir() && !sb.ws.join("moved").exists());
    for covered in ["a0/new.txt", "a5/b0/new.txt"] {
        assert!(
            !sb.ws.join(covered).exists(),
            "{covered}: covered, read-only"
        );
    }
    assert!(sb.ws.join("top.txt").is_file(), "the rest stays writable");

    for i in 0..60 {
        sb.write(&sb.ws.join(format!("z{i}/key.pem")), "KEY\n");
    }
    sb.fence()
        .sh(&cfg, "echo RAN")
        .run()
        .code(125)
        .stdout_lacks("RAN")
        .stderr_has("mounts even with the directories one level below it read-only");
}

/// Each masked file gets an empty file of its own from bwrap, even past the caller's
/// open-file limit (bwrap takes one fd per mask), and the command keeps the caller's limit.
fn many_file_masks_each_read_empty(user: User) {
    let sb = Sandbox::new(user);
    let many = sb.ws.join("many");
    sb.mkdir(&many);
    for i in 0..1100 {
        sb.write(&many.join(format!("f{i}")), "SECRET\n");
    }
    let cfg = sb.config("cfg.json", r#"{"filesystem": {"denyRead": ["many/*"]}}"#);
    let r = sb
        .fence()
        .sh(&cfg, "cat many/f0 many/f550 many/f1099 | wc -c; ulimit -Sn")
        .wrapped(&["prlimit", "--nofile=1024:4096"])
        .run();
    r.ok().stdout_lacks("SECRET");
    assert_eq!(r.stdout, "0\n1024\n", "{r}");
    assert_eq!(
        std::fs::read_to_string(many.join("f1099")).unwrap(),
        "SECRET\n"
    );
}

/// The user's own mask holds whatever an untrusted project config adds: a mask on a parent
/// directory (applied, or, under the user's defaultDenyRead, outside anything readable).
fn project_mask_on_a_parent_keeps_the_user_mask(user: User) {
    let sb = Sandbox::new(user);
    // A home of its own below `users`, a directory that holds neither the workspace nor
    // anything readable under defaultDenyRead.
    let home = sb.root.join("users/u");
    sb.write(&home.join(".ssh/key"), "TOPSECRET\n");
    let user_config = sb.home.join(".config/fence/fence.json");
    let script = "cat ~/.ssh/key; ls -A ~/.ssh; echo done";
    let cases = [
        (
            r#"{"filesystem": {"denyRead": ["~/.ssh"]}}"#,
            "~".to_string(),
        ),
        (
            r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["~", "."],
                "denyRead": ["~/.ssh"]}}"#,
            sb.root.join("users").display().to_string(),
        ),
    ];
    for (i, (user_json, parent)) in cases.into_iter().enumerate() {
        sb.write(&user_config, user_json);
        // Untrusted, narrowing only: applied on top of the user's config.
        sb.config(
            "fence.json",
            &format!(r#"{{"filesystem": {{"denyRead": ["{parent}"]}}}}"#),
        );
        let r = sb
            .fence()
            .env("HOME", &home)
            .args(["-d", "-c", script])
            .run();
        r.stdout_lacks("TOPSECRET").stdout_lacks("key");
        if i == 0 {
            r.ok()
                .stdout_has("done")
                .stderr_has("narrowed by untrusted");
        } else {
            // The project's mask covers the user's allowRead of ~: a conflict, refused
            // with both names rather than one of them silently ignored.
            r.code(125)
                .stdout_lacks("done")
                .stderr_has("cannot be read: it is inside")
                .stderr_has(&parent);
        }
    }
}

/// `allowWrite` can never replace the sandbox's own /proc, /dev and /tmp, nor open kernel
/// settings: `/`, `/proc/...`, `/sys/...` and `/dev` are refused; device nodes are pointed
/// to devices.allow with a warning.
fn writes_covering_the_sandbox_own_mounts_are_refused(user: User) {
    let sb = Sandbox::new(user);
    let cases = [
        ("/", "whole host would be writable"),
        ("/tmp/..", "whole host would be writable"),
        ("/proc/sys", "/proc is never writable"),
        ("/proc/sys/kernel/core_pattern", "/proc is never writable"),
        ("/sys/kernel", "/sys (kernel settings) is never writable"),
        ("/dev", "devices.allow"),
    ];
    for (entry, why) in cases {
        let cfg = sb.config(
            "fence.json",
            &format!(r#"{{"filesystem": {{"allowWrite": ["{entry}"]}}}}"#),
        );
        sb.fence()
            .sh(&cfg, "echo RAN")
            .run()
            .code(125)
            .stdout_lacks("RAN")
            // Located at the entry.
            .stderr_has(":1:32: filesystem.allowWrite[0]: ")
            .stderr_has(why);
    }
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["/dev/null"]}}"#,
    );
    sb.fence()
        .sh(&cfg, "echo RAN")
        .run()
        .ok()
        .stdout_has("RAN")
        .stderr_has("warning: filesystem.allowWrite: /dev/null skipped: devices are granted with devices.allow");
}

/// With a writable workspace (and with the whole host readable under defaultDenyRead), the
/// sandbox sees its own processes only, its own /dev and its private /tmp.
fn own_proc_dev_and_tmp_whatever_the_binds(user: User) {
    let sb = Sandbox::new(user);
    let host_tmp = util::TempFile::new(
        format!("/tmp/fence-host-file-{}-{:?}", std::process::id(), user),
        "HOSTTMP\n",
    );
    let script = format!(
        "test -e /proc/{pid} && echo HOSTPID; cat {tmp}; test -e /dev/mem && echo HOSTDEV; \
         test -e /proc/self/status && echo OWNPROC; echo done",
        pid = std::process::id(),
        tmp = host_tmp.0.display()
    );
    let configs = [
        WS_WRITE,
        r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["/"], "allowWrite": ["."]}}"#,
    ];
    for json in configs {
        let cfg = sb.config("fence.json", json);
        let r = sb.fence().sh(&cfg, &script).run();
        r.ok()
            .stdout_lacks("HOSTPID")
            .stdout_lacks("HOSTTMP")
            .stdout_lacks("HOSTDEV")
            .stdout_has("OWNPROC")
            .stdout_has("done");
    }
}

/// Masks in /proc, /sys and /dev are applied (on the sandbox's own mounts), not skipped;
/// per-process /proc paths are refused.
fn masks_in_proc_sys_and_dev_apply(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["/proc/cpuinfo", "/sys/kernel", "/dev/zero"]},
            "devices": {"allow": ["/dev/zero"]}}"#,
    );
    let script = "grep -c processor /proc/cpuinfo; ls /sys/kernel | wc -l; \
        head -c 4 /dev/zero | wc -c; echo done";
    let r = sb.fence().sh(&cfg, script).run();
    r.ok().stdout_has("done");
    let counts: Vec<&str> = r.stdout.lines().take(3).collect();
    assert_eq!(counts, ["0", "0", "0"], "{r}");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["/proc/self/environ"]}}"#,
    );
    sb.fence()
        .sh(&cfg, "echo RAN")
        .run()
        .code(125)
        .stdout_lacks("RAN")
        .stderr_has("per-process /proc path");
}

/// A working directory whose name is not UTF-8 keeps relative rules: `denyRead: ["secret"]`
/// masks `secret` (it once became a lossy path that did not exist, and was skipped), and
/// `allowWrite: ["."]` makes the directory writable.
fn non_utf8_working_directory_keeps_relative_rules(user: User) {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new(user);
    let ws = sb.root.join(std::ffi::OsStr::from_bytes(b"ws-\xff"));
    sb.mkdir(&ws);
    sb.write(&ws.join("secret/key"), "TOPSECRET\n");
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["secret", "**/*.pem"], "allowWrite": ["."]}}"#,
    );
    sb.write(&ws.join("sub/id.pem"), "PEMSECRET\n");
    let script = "cat secret/key; cat sub/id.pem; echo made > out.txt; echo done";
    let r = sb.fence().arg("-s").arg(&cfg).run_in(&ws, &["-c", script]);
    r.ok()
        .stdout_lacks("TOPSECRET")
        .stdout_lacks("PEMSECRET")
        .stdout_has("done");
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "made\n"
    );
}

/// A denyWrite on a writable root leaves it read-only and makes nothing else writable
/// (`/tmp` allowed and denied once bound the whole host over the sandbox, writable but for
/// Landlock, with the host's /proc and /dev).
fn deny_write_on_shared_tmp_keeps_everything_read_only(user: User) {
    let sb = Sandbox::new(user);
    let name = format!("fence-denied-tmp-{}-{:?}", std::process::id(), user);
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["/tmp"], "denyWrite": ["/tmp"]}}"#,
    );
    let script = format!(
        "echo x > {ws}/planted; echo y > /tmp/{name}; test -e /proc/{pid} && echo HOSTPID; \
         test -e /dev/mem && echo HOSTDEV; echo done",
        ws = sb.ws.display(),
        pid = std::process::id()
    );
    sb.fence()
        .sh(&cfg, &script)
        .run()
        .ok()
        .stdout_lacks("HOSTPID")
        .stdout_lacks("HOSTDEV")
        .stdout_has("done");
    assert!(!sb.ws.join("planted").exists(), "the host stays read-only");
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "the host /tmp is not shared"
    );
}

/// devices.allow grants device nodes, not the host's shared directories: `/dev/shm` there
/// once bound the host's shared memory, writable, into the sandbox.
fn devices_allow_does_not_share_host_directories(user: User) {
    let sb = Sandbox::new(user);
    let name = format!("fence-shm-{}-{:?}", std::process::id(), user);
    let cfg = sb.config(
        "fence.json",
        r#"{"devices": {"allow": ["/dev/shm", "/dev/null"]}}"#,
    );
    let r = sb
        .fence()
        .sh(&cfg, &format!("echo x > /dev/shm/{name} && echo written"))
        .run();
    let leaked = Path::new("/dev/shm").join(&name);
    let on_host = leaked.exists();
    let _ = std::fs::remove_file(&leaked);
    r.ok()
        .stdout_has("written")
        .stderr_has("devices.allow: /dev/shm skipped");
    assert!(!on_host, "the sandbox's /dev/shm is its own");
    // With the host's /dev too.
    let cfg = sb.config("fence.json", r#"{"devices": {"mode": "host"}}"#);
    let script = format!("echo x > /dev/shm/{name} && test -e /dev/null && echo written");
    let r = sb.fence().sh(&cfg, &script).run();
    let on_host = leaked.exists();
    let _ = std::fs::remove_file(&leaked);
    r.ok().stdout_has("written");
    assert!(
        !on_host,
        "the sandbox's /dev/shm is its own in host mode too"
    );
}

/// A deny glob that meets a directory it can enter but not list (its files reachable by
/// name) says so with a warning instead of silently missing what is inside.
fn deny_glob_warns_about_an_unlistable_directory(user: User) {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(user);
    let locked = sb.ws.join("locked");
    sb.write(&locked.join("key.pem"), "PEMSECRET\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o311)).unwrap();
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["**/*.pem"]}}"#,
    );
    let r = sb.fence().sh(&cfg, "cat locked/key.pem; echo done").run();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    r.ok().stdout_has("done");
    if sb.switches_user() || !util::is_root() {
        // fence, as this uid, cannot list the directory either.
        r.stderr_has("filesystem.denyRead: expanding \"**/*.pem\"")
            .stderr_has("a directory it cannot list");
    } else {
        // Root lists it on the host and masks the file.
        r.stdout_lacks("PEMSECRET");
    }
}

/// A writable path that holds (or lies in) a kernel filesystem mounted outside /proc and
/// /sys (a container's `/host/proc`) is refused: as root, its files would change the host
/// kernel; and such a procfs is masked. Mounting needs root: when the suite is not root,
/// this test says so and stops.
fn writes_over_a_kernel_filesystem_elsewhere_are_refused(user: User) {
    if !util::is_root() {
        eprintln!(
            "writes_over_a_kernel_filesystem_elsewhere_are_refused: not root, cannot mount \
             a proc filesystem for the test"
        );
        return;
    }
    let sb = Sandbox::new(user);
    let host = sb.root.join("host");
    let proc_dir = host.join("proc");
    sb.mkdir(&proc_dir);
    // The proc filesystem is mounted in a mount namespace of fence's own, so that no other
    // test's fence sees it.
    let mount = format!(
        "mount -t proc fence-test-proc '{}' && exec \"$0\" \"$@\"",
        proc_dir.display()
    );
    let in_own_mount_ns = ["unshare", "--mount", "--propagation", "private", "sh", "-c"];
    let with_proc = |cmd: util::FenceCmd| cmd.wrapped(&[&in_own_mount_ns[..], &[&mount]].concat());
    // Read-only, it still showed the host's processes (and their open files).
    let script = format!(
        "test -e {p}/cpuinfo && echo MOUNTED; ls {p}; echo done",
        p = proc_dir.display()
    );
    with_proc(sb.fence().args(["-c", &script]))
        .run()
        .ok()
        .stdout_lacks("MOUNTED")
        .stdout_has("done");
    // The test itself: outside fence, the mount is there.
    let mut outside = std::process::Command::new("unshare");
    outside
        .args(in_own_mount_ns)
        .arg(&mount)
        .args(["test", "-e"])
        .arg(proc_dir.join("cpuinfo"));
    let outside = util::output(&mut outside);
    assert!(
        outside.status.success(),
        "the test mounts a proc filesystem"
    );
    for entry in [host.clone(), proc_dir.join("sys")] {
        let cfg = sb.config(
            "fence.json",
            &format!(
                r#"{{"filesystem": {{"allowWrite": ["{}"]}}}}"#,
                entry.display()
            ),
        );
        with_proc(sb.fence().sh(&cfg, "echo RAN"))
            .run()
            .code(125)
            .stdout_lacks("RAN")
            .stderr_has("is a kernel filesystem");
    }
}

trait RunIn {
    fn run_in(self, dir: &Path, argv: &[&str]) -> util::Run;
}

impl RunIn for util::FenceCmd {
    fn run_in(mut self, dir: &Path, argv: &[&str]) -> util::Run {
        self.cmd.current_dir(dir);
        self.args(argv).run()
    }
}

both_users!(
    write_in_allowed_workspace,
    write_outside_allowed_paths_fails,
    default_config_writes_nothing,
    etc_and_home_are_read_only,
    protected_files_stay_read_only_in_writable_workspace,
    git_config_writable_only_with_allow_git_config,
    deny_read_hides_files_and_directories,
    masked_ancestor_beats_child_rule,
    deny_write_beats_allow_write,
    symlink_and_dotdot_escapes_fail,
    relative_allow_write_cannot_be_redirected_by_a_planted_symlink,
    private_tmp_leaves_host_tmp_untouched,
    reads_and_devices_work,
    default_deny_read_hides_unlisted_paths,
    working_directory_under_tmp_is_visible,
    deny_read_of_root_is_refused,
    huge_narrowing_config_fails_fast_and_clearly,
    many_file_masks_each_read_empty,
    deny_write_beyond_the_mount_budget_covers_directories,
    project_mask_on_a_parent_keeps_the_user_mask,
    writes_covering_the_sandbox_own_mounts_are_refused,
    own_proc_dev_and_tmp_whatever_the_binds,
    masks_in_proc_sys_and_dev_apply,
    non_utf8_working_directory_keeps_relative_rules,
    deny_write_on_shared_tmp_keeps_everything_read_only,
    devices_allow_does_not_share_host_directories,
    deny_glob_warns_about_an_unlistable_directory,
    writes_over_a_kernel_filesystem_elsewhere_are_refused,
);

/// Filesystems mounted below `/` (here a tmpfs made by the test) stay visible. Mounting
/// needs root: when the suite is not root, this test says so and checks the case it can
/// (the sandbox's own /proc is a separate mount and visible).
#[test]
fn submounts_stay_visible() {
    let sb = Sandbox::new(User::Current);
    if !util::is_root() {
        eprintln!(
            "submounts_stay_visible: not root, cannot mount a test filesystem; checking /proc only"
        );
        sb.fence()
            .args(["-c", "test -r /proc/self/status"])
            .run()
            .ok();
        return;
    }
    let mnt = sb.root.join("mnt");
    sb.mkdir(&mnt);
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "fence-test", mnt.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "mount a tmpfs for the test");
    std::fs::write(mnt.join("on-submount.txt"), "SUBMOUNT\n").unwrap();
    let r = sb
        .fence()
        .args(["cat", mnt.join("on-submount.txt").to_str().unwrap()])
        .run();
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    r.ok().stdout_has("SUBMOUNT");
}
