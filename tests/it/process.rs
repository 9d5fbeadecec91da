//! Running commands: arguments, environment, exit statuses, signals, bad environments.

use crate::util;

use std::time::{Duration, Instant};
use util::{Sandbox, User};

#[test]
fn exit_status_passes_through() {
    let sb = Sandbox::new(User::Current);
    for code in [0, 1, 42] {
        sb.fence()
            .args(["sh", "-c", &format!("exit {code}")])
            .run()
            .code(code);
    }
    sb.fence().args(["-c", "exit 3"]).run().code(3);
}

#[test]
fn not_found_and_not_executable() {
    let sb = Sandbox::new(User::Current);
    sb.fence()
        .arg("no-such-command-xyz")
        .run()
        .code(127)
        .stderr_has("no-such-command-xyz: command not found");
    sb.write(&sb.ws.join("script.sh"), "#!/bin/sh\necho hi\n");
    sb.fence()
        .arg("./script.sh")
        .run()
        .code(126)
        .stderr_has("fence: ./script.sh: cannot execute: Permission denied (os error 13)\n");
    // As a shell says it, with a shell's statuses.
    sb.fence()
        .arg("/etc")
        .run()
        .code(126)
        .stderr_has("fence: /etc: is a directory\n")
        .stderr_lacks("Permission denied");
    sb.fence()
        .arg("./no-such-file")
        .run()
        .code(127)
        .stderr_has("fence: ./no-such-file: command not found\n");
    // bwrap's own failure exit (1) is never mistaken for the command's.
    sb.fence().args(["sh", "-c", "exit 1"]).run().code(1);
}

#[test]
fn killed_by_signal_is_re_raised() {
    let sb = Sandbox::new(User::Current);
    let r = sb.fence().args(["sh", "-c", "kill -TERM $$"]).run();
    assert_eq!(r.signal, Some(libc::SIGTERM), "{r}");
    let r = sb.fence().args(["sh", "-c", "kill -KILL $$"]).run();
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r}");
    // A command that merely exits 137 is not a signal.
    sb.fence().args(["sh", "-c", "exit 137"]).run().code(137);
}

#[test]
fn arguments_reach_the_command_untouched() {
    let sb = Sandbox::new(User::Current);
    sb.write(&sb.ws.join("f"), "");
    sb.fence().args(["ls", "-la"]).run().ok().stdout_has(" f\n");
    sb.fence().args(["grep", "-v", "x"]).run().code(1);
    sb.fence()
        .args(["printf", "[%s]", "a b", "", "-s", "--", "$HOME", "*"])
        .run()
        .ok()
        .stdout_has("[a b][][-s][--][$HOME][*]");
    sb.fence()
        .args(["-c", "printf '[%s]' \"$0\" \"$1\"", "zero", "one two"])
        .run()
        .ok()
        .stdout_has("[zero][one two]");
    sb.fence().args(["--", "-weird"]).run().code(127);
}

#[test]
fn environment_is_sanitised_and_marked() {
    let sb = Sandbox::new(User::Current);
    let r = sb
        .fence()
        .env("LD_PRELOAD", "/nonexistent.so")
        .env("LD_LIBRARY_PATH", "/x")
        .env("KEEP_ME", "yes")
        .args(["-d", "-c", "env"])
        .run();
    r.ok()
        .stdout_has("FENCE_SANDBOX=1")
        .stdout_has("KEEP_ME=yes")
        .stdout_lacks("LD_PRELOAD")
        .stdout_lacks("LD_LIBRARY_PATH");
    r.stderr_has("LD_PRELOAD");
}

#[test]
fn command_starts_with_default_signal_state() {
    let sb = Sandbox::new(User::Current);
    let r = sb
        .fence()
        .args([
            "-c",
            "grep -E '^Sig(Blk|Ign)' /proc/self/status; yes | head -n 1",
        ])
        .run();
    r.ok()
        .stdout_has("SigBlk:\t0000000000000000")
        .stdout_has("SigIgn:\t0000000000000000");
    assert!(
        !r.stderr.contains("Broken pipe"),
        "SIGPIPE must be default: {r}"
    );
}

#[test]
fn tmpdir_and_runtime_dir_are_repaired() {
    let sb = Sandbox::new(User::Current);
    let script = "echo TMP=$TMPDIR; echo XDG=$XDG_RUNTIME_DIR; test -w \"$XDG_RUNTIME_DIR\" && echo xdg-writable; \
                  stat -c %a \"$XDG_RUNTIME_DIR\"; touch \"$TMPDIR/t\" && echo tmp-writable";
    let r = sb
        .fence()
        .env("TMPDIR", "/nonexistent/tmp")
        .env("XDG_RUNTIME_DIR", "/nonexistent/run")
        .args(["-c", script])
        .run();
    r.ok()
        .stdout_has("TMP=/tmp\n")
        .stdout_has("XDG=/tmp/fence-runtime-")
        .stdout_has("xdg-writable")
        .stdout_has("700\n")
        .stdout_has("tmp-writable");
    // A usable TMPDIR is kept.
    sb.fence()
        .env("TMPDIR", "/tmp")
        .args(["-c", "echo $TMPDIR"])
        .run()
        .ok()
        .stdout_has("/tmp");
}

#[test]
fn signals_to_fence_reach_the_command() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    for (signal, name) in [
        (libc::SIGINT, "INT"),
        (libc::SIGTERM, "TERM"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
    ] {
        let marker = sb.ws.join(format!("got-{name}"));
        let ready = sb.ws.join(format!("ready-{name}"));
        let script = format!(
            "trap 'echo {name} > got-{name}; exit 7' {name}; touch ready-{name}; while :; do sleep 0.05; done"
        );
        let mut child = util::spawn(&mut sb.fence().sh(&cfg, &script).cmd);
        wait_for(|| ready.exists());
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = util::wait_deadline(&mut child);
        assert_eq!(status.code(), Some(7), "{name}: {status:?}");
        assert!(marker.exists(), "{name} did not reach the command");
    }
}

/// A signal that reaches fence before the command exists is kept and delivered once the
/// command runs (not: the sandbox torn down, exit 143). fence starts with SIGTERM blocked,
/// which the command inherits, so that its handler is in place before the signal can land
/// (a shell's `trap` could come too late); fence reads its signals from a signalfd anyway.
#[test]
fn a_signal_before_the_start_is_delivered_to_the_command() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let script = r#"
import os, signal, time
def term(*_):
    open("got-TERM", "w").write("TERM")
    os._exit(7)
signal.signal(signal.SIGTERM, term)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
time.sleep(20)
"#;
    // Sent at once (pending when fence starts), and at delays that land in fence's or
    // bwrap's setup, or (harmlessly) after the start: every time, the command gets it.
    for delay_ms in [0, 1, 3, 6, 10, 20, 40] {
        let marker = sb.ws.join("got-TERM");
        let _ = std::fs::remove_file(&marker);
        let fence = sb
            .fence()
            .arg("-s")
            .arg(&cfg)
            .args(["python3", "-c", script]);
        let mut child = spawn_with_sigterm_blocked(fence);
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = util::wait_deadline(&mut child);
        assert_eq!(status.code(), Some(7), "after {delay_ms} ms: {status:?}");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "TERM");
    }
}

/// Starts fence (detached) with SIGTERM blocked, as its command then inherits it: a SIGTERM
/// sent at once stays pending for fence, and one passed to the command cannot kill it
/// before its own handler is in place.
fn spawn_with_sigterm_blocked(fence: util::FenceCmd) -> std::process::Child {
    let mut cmd = fence.cmd;
    util::detach(&mut cmd);
    // SAFETY: runs between fork and exec (after detach's reset) and only calls the
    // async-signal-safe sigprocmask on a local set.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        })
    };
    cmd.spawn().unwrap()
}

/// The same signal twice before the command started (a second Ctrl-C or `kill` while a slow
/// setup runs) tears the sandbox down: fence dies of it and the command never runs. The
/// setup is made slow with 1,000 masks (bwrap's mount setup is quadratic).
#[test]
fn a_signal_repeated_before_the_start_abandons_the_run() {
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new(User::Current);
    let many = sb.ws.join("many");
    sb.mkdir(&many);
    for i in 0..1000 {
        std::fs::File::create(many.join(format!("f{i}"))).unwrap();
    }
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["."], "denyRead": ["many/*"]}}"#,
    );
    // The command inherits SIGTERM blocked (as fence got it), so a signal delivered to it
    // would not stop it from running: only abandoning the run keeps `ran` from appearing.
    let fence = sb
        .fence()
        .arg("-s")
        .arg(&cfg)
        .args(["sh", "-c", "touch ran; sleep 2"]);
    let mut child = spawn_with_sigterm_blocked(fence);
    for delay in [150, 100] {
        std::thread::sleep(Duration::from_millis(delay));
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    let status = util::wait_deadline(&mut child);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert!(!sb.ws.join("ran").exists(), "the command ran");
}

/// Ctrl-C typed at a terminal: the terminal signals fence's process group; the command,
/// in its own session, gets the SIGINT from fence.
#[test]
fn ctrl_c_at_a_terminal_interrupts_the_command() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let driver = r#"
import ctypes, os, pty, signal, sys, time
fence, cfg = sys.argv[1], sys.argv[2]
script = "trap 'echo interrupted > got-int; exit 9' INT; touch ready; while :; do sleep 0.05; done"
pid, fd = pty.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: dies with this driver
    os.execv(fence, [fence, "-s", cfg, "-c", script])
deadline = time.time() + 10
while not os.path.exists("ready"):
    if time.time() > deadline:
        sys.exit("command never became ready")
    time.sleep(0.01)
os.write(fd, b"")
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
"#;
    let out = util::output(
        std::process::Command::new("python3")
            .args(["-c", driver])
            .arg(util::fence_bin())
            .arg(&cfg)
            .current_dir(&sb.ws)
            .env("HOME", &sb.home),
    );
    let r = util::Run::from(out);
    r.ok().stdout_has("exit 9");
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("got-int")).unwrap(),
        "interrupted\n"
    );
}

#[test]
fn killing_fence_kills_the_sandbox() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let tag = format!(
        "{}.{}",
        4000 + std::process::id() % 1000,
        std::process::id() % 97
    );
    let script = format!("touch ready; exec sleep {tag}");
    let mut child = util::spawn(&mut sb.fence().sh(&cfg, &script).cmd);
    wait_for(|| sb.ws.join("ready").exists());
    let running = || {
        util::output(std::process::Command::new("pgrep").args(["-f", &format!("^sleep {tag}$")]))
            .status
            .success()
    };
    wait_for(running);
    child.kill().unwrap();
    util::wait_deadline(&mut child);
    wait_for(|| !running());
}

#[test]
fn missing_bwrap_is_explained() {
    let sb = Sandbox::new(User::Current);
    // /usr/bin/bwrap (and /bin/bwrap, its link on merged-/usr systems) is looked at before
    // PATH: an outer bwrap covers it with a file that is not executable.
    let not_bwrap = sb.root.join("not-bwrap");
    std::fs::write(&not_bwrap, "").unwrap();
    let not_bwrap = not_bwrap.display().to_string();
    let mut hide: Vec<&str> = vec!["/usr/bin/bwrap"];
    if !util::is_root() {
        hide.push("--unshare-user");
    }
    hide.extend([
        "--dev-bind",
        "/",
        "/",
        "--ro-bind",
        &not_bwrap,
        "/usr/bin/bwrap",
        "--",
    ]);
    let r = sb
        .fence()
        .env("PATH", "/nonexistent-dir")
        .args(["/bin/true"])
        .wrapped(&hide)
        .run();
    r.code(125)
        .stderr_has("bubblewrap (bwrap) is required")
        .stderr_has("apt install bubblewrap")
        .stderr_has("dnf install bubblewrap")
        .stderr_has("pacman -S bubblewrap")
        .stderr_has("apk add bubblewrap");
}

/// fence inside a sandbox whose user namespaces are disabled: bwrap cannot create its own,
/// and fence must say why instead of showing bwrap's raw error.
#[test]
fn refused_user_namespaces_are_explained() {
    let sb = Sandbox::new(User::Current);
    let out = util::output(
        util::fence_without_userns(&[])
            .arg("/bin/true")
            .current_dir(&sb.ws),
    );
    let r = util::Run::from(out);
    r.code(125)
        .stderr_has("fence: cannot create the sandbox: user namespaces are not available");
}

/// fence inside fence: the inner one cannot create namespaces, so it stacks its own policy
/// with Landlock and seccomp on top of the outer sandbox.
#[test]
fn nested_fence_stacks_its_policy() {
    let sb = Sandbox::new(User::Current);
    sb.mkdir(&sb.ws.join("sub"));
    let outer = sb.config("outer.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let inner = sb.config("inner.json", r#"{"filesystem": {"allowWrite": ["sub"]}}"#);
    let bin = util::fence_bin().display().to_string();
    let script = format!(
        "{bin} -s {} -c 'touch sub/inner-ok; touch top-level; python3 -c \"import socket; socket.socket()\"; exit 7'",
        inner.display()
    );
    let r = sb.fence().sh(&outer, &script).run();
    r.code(7)
        .stderr_has("Permission denied")
        .stderr_has("Operation not permitted");
    assert!(
        sb.ws.join("sub/inner-ok").exists(),
        "the inner policy's own write works"
    );
    assert!(
        !sb.ws.join("top-level").exists(),
        "the outer policy allows it, the inner does not"
    );
}

/// Where user namespaces are refused, fence stops with the cause unless reduced isolation
/// is accepted; then Landlock and seccomp alone still confine writes and the network.
#[test]
fn without_user_namespaces_reduced_isolation_still_confines() {
    let sb = Sandbox::new(User::Current);
    sb.mkdir(&sb.ws.join("sub"));
    let server = util::CountingServer::start("127.0.0.1:0");
    let cfg = sb.config("cfg.json", r#"{"filesystem": {"allowWrite": ["sub"]}}"#);
    let no_userns = |extra: &[&str], script: &str| {
        let ws = sb.ws.display().to_string();
        let out = util::output(
            util::fence_without_userns(&[
                "--share-net",
                "--tmpfs",
                "/tmp",
                "--bind",
                &ws,
                &ws,
                "--chdir",
                &ws,
                "--setenv",
                "HOME",
                &ws,
            ])
            .args(extra)
            .args(["-s", cfg.to_str().unwrap(), "-c", script]),
        );
        util::Run::from(out)
    };
    no_userns(&[], "touch sub/x")
        .code(125)
        .stderr_has("user namespaces are not available")
        .stderr_has("--allow-reduced-isolation");
    assert!(!sb.ws.join("sub/x").exists());
    let script = format!(
        "touch sub/allowed; touch denied; curl -s --max-time 3 http://127.0.0.1:{}/; echo \"tmp=$TMPDIR\"",
        server.port
    );
    let r = no_userns(&["--allow-reduced-isolation"], &script);
    r.ok()
        .stderr_has("running with Landlock and seccomp only")
        .stdout_has("tmp=/tmp/fence-")
        .stdout_lacks("SECRET");
    // The run-time command deny needs a mount: the warning says it is lost.
    let tool = sb.ws.join("bin/tool");
    sb.write(&tool, "#!/bin/sh\necho tool-ran\n");
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&tool, mode).unwrap();
    let deny = sb.config(
        "deny.json",
        r#"{"command": {"deny": ["tool"], "useDefaults": false}}"#,
    );
    let ws = sb.ws.display().to_string();
    let path = format!("{ws}/bin:/usr/bin:/bin");
    let out = util::output(
        util::fence_without_userns(&["--tmpfs", "/tmp", "--bind", &ws, &ws, "--chdir", &ws])
            .env("PATH", &path)
            .args(["--allow-reduced-isolation", "-s", deny.to_str().unwrap()])
            .args(["-c", "sh -c \"$0\"", "tool"]),
    );
    util::Run::from(out)
        .ok()
        .stderr_has(&format!(
            "the run-time command deny (still executable: {ws}/bin/tool;"
        ))
        .stdout_has("tool-ran");
    assert!(sb.ws.join("sub/allowed").exists());
    assert!(!sb.ws.join("denied").exists());
    assert_eq!(server.hits(), 0, "no request may reach the host server");
    // The config field does what the flag does.
    std::fs::write(
        &cfg,
        r#"{"allowReducedIsolation": true, "filesystem": {"allowWrite": ["sub"]}}"#,
    )
    .unwrap();
    no_userns(&[], "touch sub/by-config")
        .ok()
        .stderr_has("running with Landlock and seccomp only");
    assert!(sb.ws.join("sub/by-config").exists());
    // Network allowances cannot be served without a namespace: said, and still blocked.
    std::fs::write(
        &cfg,
        r#"{"allowReducedIsolation": true, "network": {"allowedDomains": ["127.0.0.1"]}}"#,
    )
    .unwrap();
    let script = format!(
        "curl -s --max-time 3 --noproxy '' http://127.0.0.1:{}/",
        server.port
    );
    no_userns(&[], &script)
        .failed()
        .stderr_has("all network access stays blocked")
        .stdout_lacks("SECRET");
    assert_eq!(server.hits(), 0);
}

#[test]
fn doctor_reports_this_machine() {
    let sb = Sandbox::new(User::Current);
    let r = sb.fence().arg("doctor").run();
    r.ok()
        .stdout_has("bubblewrap")
        .stdout_has("Landlock              ABI ")
        .stdout_has("seccomp               filter supported")
        .stdout_has("verdict               full isolation");
    sb.fence()
        .arg("--linux-features")
        .run()
        .ok()
        .stdout_has("verdict");
    // Where user namespaces are refused, the verdict says so and the status is 1.
    let out = util::output(util::fence_without_userns(&[]).arg("doctor"));
    util::Run::from(out)
        .code(1)
        .stdout_has("verdict               reduced isolation only: cannot create the sandbox");
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A command that got hold of the init's control socket (here through `pidfd_getfd`, which
/// seccomp may deny: then the attempt says so) writes forged reports: a success status, a
/// warning with terminal escapes, a second start, an oversized message, a flood, and a
/// report with forged credentials; and it tries to write to bwrap's stderr.
/// The host accepts reports only from the init, so the run's status stays the command's.
const FORGE_REPORTS: &str = r#"
import ctypes, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
try:  # bwrap's stderr (a pipe fence shows after the start) is bwrap's alone
    open("/proc/1/fd/2", "w").write("INJECTED\n")
    print("BWRAP-STDERR-WRITTEN")
except OSError:
    pass
init = os.getppid()
fd = int(open(f"/proc/{init}/cmdline", "rb").read().split(b"\0")[2])
pidfd = os.pidfd_open(init)
stolen = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
if stolen < 0:
    print("GETFD-DENIED", ctypes.get_errno())
    sys.exit(1)
s = socket.socket(fileno=stolen)
s.send(b'{"exited":{"code":0}}')
s.send(b'{"warning":{"message":"\\u001b]0;PWNED\\u0007forged"}}')
s.send(b'"started"')
s.send(b'x' * 70000)  # over the host's bound
for _ in range(200):
    s.send(b'{"note":{"message":"flood"}}')
s.send(b'{"stopped":{"signal":19}}')
creds = struct.pack("iII", init, os.getuid(), os.getgid())
try:
    s.sendmsg([b'{"exited":{"code":0}}'], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
    print("CREDS-FORGED")
except OSError as e:
    print("CREDS-REFUSED", e.errno)
print("FORGED")
sys.exit(1)
"#;

fn forged_reports_are_ignored(user: User) {
    let sb = Sandbox::new(user);
    let r = sb.fence().args(["python3", "-c", FORGE_REPORTS]).run();
    r.code(1)
        .stdout_lacks("CREDS-FORGED")
        .stdout_lacks("BWRAP-STDERR-WRITTEN");
    assert!(!r.stderr.contains('\u{1b}'), "raw escape on stderr: {r}");
    assert!(
        !r.stderr.contains("forged"),
        "a forged warning was shown: {r}"
    );
    if r.stdout.contains("FORGED") {
        // The forgery reached the host: it said so once, and nothing else changed.
        assert_eq!(
            r.stderr.matches("ignored a report").count(),
            1,
            "one warning for all ignored reports: {r}"
        );
    } else {
        r.stdout_has("GETFD-DENIED");
    }
}

/// Reduced isolation (no bwrap): no fd of fence's plumbing reaches the command (the
/// bwrap-arguments memfd leaked in as fd 11). Fds the caller passed down are another matter
/// (the init closes those); this checks fence's own: memfds, the control socket, pipes.
fn reduced_isolation_passes_no_plumbing_to_the_command(user: User) {
    let sb = Sandbox::new(user);
    let mut cmd = util::fence_without_userns_for(&sb, &["--tmpfs", "/tmp"]);
    cmd.args(["--allow-reduced-isolation", "-c"])
        .arg("for fd in /proc/self/fd/*; do echo \"${fd##*/} $(readlink $fd)\"; done")
        .current_dir(&sb.ws);
    let r = util::Run::from(util::output(&mut cmd));
    r.ok()
        .stderr_has("running with Landlock and seccomp only")
        .stdout_has("0 /dev/null\n")
        .stdout_lacks("memfd:")
        .stdout_lacks("socket:")
        .stdout_lacks("/fence");
    // Only stdin, stdout and stderr: python lists its fds (the listing's own directory fd
    // is closed again before the check) and keeps those still open.
    let script = "import os\nfds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n\
                  def is_open(fd):\n    try:\n        os.fstat(fd)\n        return True\n\
                  \x20   except OSError:\n        return False\n\
                  print('open:', *[fd for fd in fds if is_open(fd)])";
    let mut cmd = util::fence_without_userns_for(&sb, &["--tmpfs", "/tmp"]);
    cmd.args(["--allow-reduced-isolation", "--", "python3", "-c", script])
        .current_dir(&sb.ws);
    util::Run::from(util::output(&mut cmd))
        .ok()
        .stdout_has("open: 0 1 2\n");
}

/// Reduced isolation uses the host's /tmp for the run's TMPDIR (`/tmp/fence-UID-PID`). A
/// run killed with SIGKILL cannot remove it; the next run does, and removes its own.
fn reduced_isolation_leaves_no_scratch_directory_behind(user: User) {
    let sb = Sandbox::new(user);
    let tmp = sb.root.join("tmp");
    sb.mkdir(&tmp);
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let (tmp_s, ws_s) = (tmp.display().to_string(), sb.ws.display().to_string());
    let fence = |script: &str| {
        let mut cmd = util::fence_without_userns_for(
            &sb,
            &[
                "--bind", &tmp_s, "/tmp", "--bind", &ws_s, &ws_s, "--chdir", &ws_s,
            ],
        );
        cmd.arg("--allow-reduced-isolation")
            .arg("-s")
            .arg(&cfg)
            .args(["-c", script])
            .current_dir(&sb.ws);
        cmd
    };
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let r = util::Run::from(util::output(&mut fence("echo \"tmp=$TMPDIR\"")));
    r.ok().stdout_has("tmp=/tmp/fence-");
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "an ordinary run removes it"
    );

    // The command reports its parent (the init), whose parent is fence.
    let mut child = util::spawn(
        fence("echo $PPID > ready.tmp && mv ready.tmp ready; exec sleep 30")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let ready = sb.ws.join("ready");
    wait_for(|| ready.exists());
    let init = std::fs::read_to_string(&ready).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", init.trim())).unwrap();
    let fence_pid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: kill with a valid pid (fence, our child's child).
    unsafe { libc::kill(fence_pid, libc::SIGKILL) };
    util::wait_deadline(&mut child);
    let uid = if sb.switches_user() {
        util::UNPRIVILEGED
    } else {
        unsafe_getuid()
    };
    let scratch = format!("fence-{uid}-{fence_pid}");
    assert!(
        leftovers().contains(&scratch),
        "the killed run left {scratch}: {:?}",
        leftovers()
    );

    util::Run::from(util::output(&mut fence("true"))).ok();
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "the next run removed the leftover"
    );
}

fn unsafe_getuid() -> u32 {
    // SAFETY: getuid cannot fail and has no memory effects.
    unsafe { libc::getuid() }
}

/// fence's stderr is a pipe nobody reads (`fence … 2>&1 | head -0` after head exits): its
/// warnings fail to write, and it carries on and exits with the command's status (it used
/// to panic on the first warning and die of SIGABRT).
fn closed_stderr_does_not_kill_fence(user: User) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let sb = Sandbox::new(user);
    // allowLocalOutbound without ports is warned about.
    let cfg = sb.config("fence.json", r#"{"network": {"allowLocalOutbound": true}}"#);
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds, which are then owned here.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let mut cmd = sb.fence().sh(&cfg, "exit 3").cmd;
    cmd.stdout(std::process::Stdio::null()).stderr(write);
    let mut child = util::spawn(&mut cmd);
    drop(cmd);
    let status = util::wait_deadline(&mut child);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "{status:?}");
    assert_eq!(status.code(), Some(3), "{status:?}");
}

/// Started with stdin closed, fence opens /dev/null in its place (as Rust's runtime
/// start-up did before fence's own entry point replaced it), so no file fence opens
/// becomes the command's stdin.
fn closed_stdin_reads_as_empty(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("cfg.json", "{}");
    let r = sb
        .fence()
        .sh(&cfg, "wc -c; ls -l /proc/self/fd/0")
        .wrapped(&["sh", "-c", "exec \"$@\" <&-", "sh"])
        .run();
    r.ok().stdout_has("/dev/null");
    assert!(r.stdout.starts_with("0\n"), "{r}");
}

both_users!(
    closed_stdin_reads_as_empty,
    forged_reports_are_ignored,
    closed_stderr_does_not_kill_fence,
    reduced_isolation_passes_no_plumbing_to_the_command,
    reduced_isolation_leaves_no_scratch_directory_behind,
);

/// fence's diagnostics: warnings by default, `-d` adds the host's and the init's notes, and
/// `FENCE_LOG` narrows or widens either (it wins over `-d`).
#[test]
fn fence_log_filters_diagnostics() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["/dev/null"]}}"#,
    );
    let warning = "fence: warning: filesystem.allowWrite: /dev/null skipped";
    let init_note = "fence: debug: seccomp filter installed";
    sb.fence()
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_has(warning)
        .stderr_lacks("fence: debug:");
    sb.fence()
        .arg("-d")
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_has(warning)
        .stderr_has("fence: debug: config: ")
        .stderr_has(init_note);
    sb.fence()
        .env("FENCE_LOG", "fence::linux::init=debug")
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_has(warning)
        .stderr_has(init_note)
        .stderr_lacks("fence: debug: config: ");
    sb.fence()
        .env("FENCE_LOG", "error")
        .arg("-d")
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_lacks("fence: warning:")
        .stderr_lacks("fence: debug:");
}
