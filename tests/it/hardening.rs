//! The kernel layers inside the sandbox: seccomp and Landlock, checked by their effects.
#![cfg(target_arch = "x86_64")] // the probes use x86_64 syscall numbers; the filter itself is unit-tested per arch

use crate::util;

use util::{Sandbox, User};

/// Runs a Python snippet in the sandbox that prints `name=errno` lines for syscalls.
const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, nr, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(f"{name}={'ok' if ret >= 0 else os.strerror(ctypes.get_errno())}", flush=True)
"#;

fn probe(user: User, body: &str) -> util::Run {
    let sb = Sandbox::new(user);
    let script = format!("{PROBE}\n{body}");
    sb.fence().args(["python3", "-c", &script]).run()
}

fn dangerous_syscalls_are_refused(user: User) {
    // x86_64 numbers; the suite runs on x86_64 (aarch64 has its own in the unit tests).
    let r = probe(
        user,
        r#"
call("ptrace", 101, 16, os.getppid(), 0, 0)          # PTRACE_ATTACH to the init
call("io_uring_setup", 425, 8, 0)
call("bpf", 321, 0, 0, 0)
call("perf_event_open", 298, 0, 0, -1, -1, 0)
call("keyctl", 250, 0, 0)
call("setns", 308, 0, 0)
call("mount", 165, 0, 0, 0, 0, 0)
call("fsopen", 430, 0, 0)
call("open_tree", 428, -100, 0, 0)
call("unshare_user", 272, 0x10000000)
call("unshare_net", 272, 0x40000000)
call("clone3", 435, 0, 0)
call("x32_getpid", 0x40000000 + 39)
call("personality_norandom", 135, 0x0040000)
call("personality_query", 135, 0xffffffff)
call("getpid", 39)
"#,
    );
    r.ok();
    for (name, want) in [
        ("ptrace", "Operation not permitted"),
        ("io_uring_setup", "Operation not permitted"),
        ("bpf", "Operation not permitted"),
        ("perf_event_open", "Operation not permitted"),
        ("keyctl", "Operation not permitted"),
        ("setns", "Operation not permitted"),
        ("mount", "Operation not permitted"),
        ("fsopen", "Operation not permitted"),
        ("open_tree", "Operation not permitted"),
        ("unshare_user", "Operation not permitted"),
        ("unshare_net", "Operation not permitted"),
        ("clone3", "Function not implemented"),
        ("x32_getpid", "Operation not permitted"),
        ("personality_norandom", "Operation not permitted"),
        ("personality_query", "ok"),
        ("getpid", "ok"),
    ] {
        r.stdout_has(&format!("{name}={want}\n"));
    }
}

fn tools_still_work_under_the_filter(user: User) {
    let sb = Sandbox::new(user);
    // Threads (clone falls back from clone3), subprocesses, pipes, a pty.
    let script = "import threading, subprocess, os, pty
t = threading.Thread(target=lambda: None); t.start(); t.join()
print(subprocess.run(['sh', '-c', 'echo sub-ok'], capture_output=True, text=True).stdout.strip())
m, s = pty.openpty(); os.write(s, b'pty-ok'); print(os.read(m, 6).decode())";
    sb.fence()
        .args(["python3", "-c", script])
        .run()
        .ok()
        .stdout_has("sub-ok")
        .stdout_has("pty-ok");
    sb.fence()
        .args(["sh", "-c", "unshare -U true"])
        .run()
        .failed();
    sb.fence()
        .args(["sh", "-c", "unshare -n true"])
        .run()
        .failed();
}

/// TIOCSTI on the process's own controlling terminal (a pty made inside the sandbox): the
/// kernel would allow it, the filter does not. TIOCLINUX likewise.
fn terminal_injection_is_refused(user: User) {
    let r = probe(
        user,
        r#"
import fcntl, pty, termios
pid, fd = pty.fork()
if pid == 0:
    try:
        fcntl.ioctl(0, termios.TIOCSTI, b"x")
        print("TIOCSTI=ok", flush=True)
    except OSError as e:
        print(f"TIOCSTI={e.strerror}", flush=True)
    os._exit(0)
print(os.read(fd, 100).decode().strip())
os.waitpid(pid, 0)
"#,
    );
    r.ok().stdout_has("TIOCSTI=Operation not permitted");
}

/// /proc/self/comm is writable by the mount plan and by file permissions: only Landlock
/// refuses it. The same write succeeds under bare bwrap with the same mounts.
fn landlock_refuses_writes_the_mounts_allow(user: User) {
    let sb = Sandbox::new(user);
    let write = "echo renamed > /proc/self/comm && echo write-ok";
    let r = sb.fence().args(["sh", "-c", write]).run();
    r.failed().stdout_lacks("write-ok");
    let bare = util::output(std::process::Command::new("bwrap").args([
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "sh",
        "-c",
        write,
    ]));
    util::Run::from(bare).ok().stdout_has("write-ok");
}

fn host_processes_are_out_of_reach(user: User) {
    let sb = Sandbox::new(user);
    let me = std::process::id();
    sb.fence()
        .args(["sh", "-c", &format!("kill -0 {me}")])
        .run()
        .failed();
    // Only the sandbox's own processes are visible: bwrap's reaper, fence's init, sh, ls, grep.
    let r = sb
        .fence()
        .args(["sh", "-c", "ls /proc | grep -c '^[0-9]'"])
        .run();
    let count: u32 = r.stdout.trim().parse().unwrap_or(99);
    assert!(count <= 5, "sandbox sees {count} processes\n{r}");
}

fn no_capabilities_inside(user: User) {
    let sb = Sandbox::new(user);
    let r = sb
        .fence()
        .args([
            "grep",
            "-E",
            "^Cap(Inh|Prm|Eff|Bnd|Amb)",
            "/proc/self/status",
        ])
        .run();
    r.ok();
    for line in r.stdout.lines() {
        assert!(
            line.ends_with("0000000000000000"),
            "a capability is left: {line}"
        );
    }
    assert_eq!(r.stdout.lines().count(), 5, "{r}");
}

/// The command cannot take the init's fds (the control channel: forged reports) or reach its
/// memory: pidfd_getfd, kcmp and process_madvise are refused, and the init is not dumpable,
/// so /proc/PPID/fd/N and /proc/PPID/mem do not open. fence's status stays the command's.
fn the_init_is_out_of_reach(user: User) {
    let r = probe(user, INIT_REACH);
    check_init_out_of_reach(&r);
}

/// The same without bwrap (reduced isolation): the init runs directly on the host, with the
/// command's uid and Landlock domain, and so does the host fence above it (which Landlock's
/// ptrace scoping keeps out of reach: it is outside the sandbox's domain).
fn the_init_is_out_of_reach_in_reduced_isolation(user: User) {
    let sb = Sandbox::new(user);
    let script = format!("{PROBE}\n{INIT_REACH}");
    let r = reduced_fence(&sb, "", &["python3", "-c", &script]);
    check_init_out_of_reach(&r);
}

const INIT_REACH: &str = r#"
ppid = os.getppid()
pidfd = os.pidfd_open(ppid)
print("pidfd_open=ok", flush=True)
results = set()
for fd in range(65):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(fd), ctypes.c_long(0))
    results.add("ok" if ret >= 0 else os.strerror(ctypes.get_errno()))
print("pidfd_getfd=" + ",".join(sorted(results)), flush=True)
with open(f"/proc/{ppid}/stat") as f:
    grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
reached = []
# The init; bwrap's reaper (pid 1), or without bwrap the host fence (its parent).
for pid in sorted({ppid, 1, grandparent}):
    for fd in range(65):
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_PATH):
            try:
                os.close(os.open(f"/proc/{pid}/fd/{fd}", flags))
                reached.append((pid, fd))
            except OSError:
                pass
        try:
            os.readlink(f"/proc/{pid}/fd/{fd}")
            reached.append((pid, fd))
        except OSError:
            pass
print(f"proc_fd_reached={reached}", flush=True)
for name in ("mem", "environ"):
    try:
        open(f"/proc/{ppid}/{name}", "rb").close()
        print(f"proc_{name}=ok", flush=True)
    except OSError as e:
        print(f"proc_{name}={e.strerror}", flush=True)
try:
    os.listdir(f"/proc/{ppid}/cwd")
    print("proc_cwd=ok", flush=True)
except OSError as e:
    print(f"proc_cwd={e.strerror}", flush=True)
call("kcmp", 312, os.getpid(), ppid, 0, 0, 0)
iov = (ctypes.c_ulong * 2)(0, 4096)
call("process_madvise", 440, pidfd, ctypes.addressof(iov), 1, 20, 0)
sys.exit(3)
"#;

fn check_init_out_of_reach(r: &util::Run) {
    r.code(3)
        .stdout_has("pidfd_open=ok\n")
        .stdout_has("pidfd_getfd=Operation not permitted\n")
        .stdout_has("proc_fd_reached=[]\n")
        .stdout_has("proc_mem=Permission denied\n")
        .stdout_has("proc_environ=Permission denied\n")
        .stdout_has("kcmp=Operation not permitted\n")
        .stdout_has("process_madvise=Operation not permitted\n")
        .stdout_has("proc_cwd=Permission denied\n");
}

/// No process of the sandbox (bwrap, its reaper, the init, the command) keeps the user's
/// terminal (`allowPty`: the command runs on a pty of its own; the real terminal stays with
/// the host fence). Checked from the host: only root can read the fds of the non-dumpable
/// init and of bwrap's reaper.
#[test]
fn with_a_pty_no_sandbox_process_holds_the_terminal() {
    if !util::is_root() {
        eprintln!(
            "with_a_pty_no_sandbox_process_holds_the_terminal: not root, cannot read the fds \
             of the sandbox's non-dumpable processes; the root run covers this"
        );
        return;
    }
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config("pty.json", r#"{"allowPty": true}"#);
    let driver = r#"
import ctypes, os, pty, signal, sys, time
fence, cfg = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: dies with this driver
    os.execv(fence, [fence, "-s", cfg, "sh", "-c", "echo READY; exec sleep 30"])
seen, end = b"", time.time() + 20
while b"READY" not in seen and time.time() < end:
    seen += os.read(fd, 100)
terminal = os.readlink(f"/proc/{pid}/fd/0")
st = os.stat(f"/proc/{pid}/fd/0")
terminal_id = (st.st_dev, st.st_ino, st.st_rdev)
def children(p):
    try:
        with open(f"/proc/{p}/task/{p}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []
inits, todo = [], [pid]
while todo:
    p = todo.pop()
    try:
        with open(f"/proc/{p}/cmdline", "rb") as f:
            if f.read().split(b"\0")[1:2] == [b"__fence-sandbox-init"]:
                inits.append(p)
    except OSError:
        pass
    todo.extend(children(p))
print("inits", len(inits))
for p in inits:
    for n in os.listdir(f"/proc/{p}/fd"):
        target = os.readlink(f"/proc/{p}/fd/{n}")
        print(f"init fd {n} -> {target}", "TERMINAL" if target == terminal else "")
# Nothing below fence holds the user's terminal: bwrap, its reaper, the init, the command.
below, todo = [], children(pid)
while todo:
    p = todo.pop()
    below.append(p)
    todo.extend(children(p))
print("processes below fence", len(below))
for p in below:
    for n in os.listdir(f"/proc/{p}/fd"):
        # The same device node, not the same name: the sandbox's own /dev/pts counts
        # from 0 too.
        try:
            st = os.stat(f"/proc/{p}/fd/{n}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino, st.st_rdev) == terminal_id:
            with open(f"/proc/{p}/comm") as f:
                print(f"pid {p} ({f.read().strip()}) fd {n} TERMINAL")
os.kill(pid, 15)
os.waitpid(pid, 0)
"#;
    let r = util::Run::from(util::output(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(driver)
            .arg(util::fence_bin())
            .arg(&cfg)
            .current_dir(&sb.ws)
            .env("HOME", &sb.home)
            .env("TERM", "dumb"),
    ));
    r.ok()
        .stdout_has("inits 1\n")
        .stdout_has("init fd 0 -> /dev/null");
    assert!(!r.stdout.contains("TERMINAL"), "{r}");
    let below: usize = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("processes below fence ")?.parse().ok())
        .unwrap();
    assert!(below >= 4, "bwrap, its reaper, the init, the command: {r}");
}

/// Socket families outside Unix, IP and netlink-route are refused: AF_VSOCK is not
/// network-namespaced (the VM's vsock ports), AF_PACKET and AF_ALG reach the kernel directly.
const SOCKET_PROBE: &str = r#"
import socket
def try_socket(name, *args):
    try:
        socket.socket(*args).close()
        print(f"{name}=ok", flush=True)
    except OSError as e:
        print(f"{name}={e.strerror}", flush=True)
try_socket("vsock", socket.AF_VSOCK, socket.SOCK_STREAM)
try_socket("packet", socket.AF_PACKET, socket.SOCK_DGRAM)
try_socket("alg", socket.AF_ALG, socket.SOCK_SEQPACKET)
try_socket("netlink_diag", socket.AF_NETLINK, socket.SOCK_RAW, 4)
try_socket("netlink_route", socket.AF_NETLINK, socket.SOCK_RAW, 0)
try_socket("unix", socket.AF_UNIX, socket.SOCK_STREAM)
try_socket("inet", socket.AF_INET, socket.SOCK_STREAM)
try_socket("inet6", socket.AF_INET6, socket.SOCK_DGRAM)
try:
    a, b = socket.socketpair()
    a.sendall(b"pair-ok")
    print(b.recv(7).decode(), flush=True)
except OSError as e:
    print(f"socketpair={e.strerror}", flush=True)
"#;

fn foreign_socket_families_are_refused(user: User) {
    let sb = Sandbox::new(user);
    let r = sb.fence().args(["python3", "-c", SOCKET_PROBE]).run();
    r.ok()
        .stdout_has("vsock=Address family not supported by protocol\n")
        .stdout_has("packet=Address family not supported by protocol\n")
        .stdout_has("alg=Address family not supported by protocol\n")
        .stdout_has("netlink_diag=Protocol not supported\n")
        .stdout_has("netlink_route=ok\n")
        .stdout_has("unix=ok\n")
        .stdout_has("inet=ok\n")
        .stdout_has("pair-ok\n");
}

/// fence in a sandbox without user namespaces (reduced isolation), as the test's user, with
/// the workspace writable by mounts so that only Landlock and seccomp stand in the way.
/// `redirect` is a shell redirection applied to fence (e.g. `< victim`).
fn reduced_fence(sb: &Sandbox, redirect: &str, args: &[&str]) -> util::Run {
    let ws = sb.ws.display().to_string();
    let inner = util::fence_without_userns(&[
        "--tmpfs", "/tmp", "--bind", &ws, &ws, "--chdir", &ws, "--setenv", "HOME", &ws,
    ]);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!("exec \"$0\" \"$@\" {redirect}"));
    if sb.switches_user() {
        let id = util::UNPRIVILEGED.to_string();
        cmd.args([
            "setpriv",
            "--reuid",
            &id,
            "--regid",
            &id,
            "--clear-groups",
            "--",
        ]);
    }
    cmd.arg(inner.get_program())
        .args(inner.get_args())
        .arg("--allow-reduced-isolation")
        .args(args)
        .current_dir(&sb.ws)
        .env_remove("FENCE_SANDBOX");
    util::Run::from(util::output(&mut cmd))
}

fn foreign_socket_families_are_refused_in_reduced_isolation(user: User) {
    let sb = Sandbox::new(user);
    let r = reduced_fence(&sb, "", &["python3", "-c", SOCKET_PROBE]);
    r.ok()
        .stderr_has("running with Landlock and seccomp only")
        .stdout_has("vsock=Address family not supported by protocol\n")
        .stdout_has("packet=Address family not supported by protocol\n")
        .stdout_has("alg=Address family not supported by protocol\n")
        .stdout_has("netlink_diag=Protocol not supported\n")
        .stdout_has("unix=Operation not permitted\n")
        .stdout_has("inet=Operation not permitted\n")
        .stdout_has("pair-ok\n");
}

/// Writes a victim file and returns its path and the command that tries to overwrite it
/// through the read-only stdin fence was given (and directly).
fn stdin_victim(sb: &Sandbox) -> (std::path::PathBuf, &'static str) {
    let victim = sb.ws.join("victim");
    sb.write(&victim, "original\n");
    let attack = "echo x > /proc/self/fd/0; echo y > /dev/stdin; echo z > victim; \
                  echo w >> victim; truncate -s 0 /proc/self/fd/0; cat";
    (victim, attack)
}

/// Reduced isolation: a file on stdin opened read-only stays read-only (Landlock grants on
/// the std fds only what their open mode gives), while a write-opened stderr file still
/// takes `>> /dev/stderr`.
fn stdin_file_stays_read_only_in_reduced_isolation(user: User) {
    let sb = Sandbox::new(user);
    let (victim, attack) = stdin_victim(&sb);
    let log = sb.ws.join("err.log");
    sb.write(&log, "");
    let attack = format!("{attack}; echo appended >> /dev/stderr");
    let r = reduced_fence(&sb, "< victim 2>> err.log", &["sh", "-c", &attack]);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(r.code, Some(0), "{r}\n{log_text}");
    r.stdout_has("original\n");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "original\n",
        "{r}\n{log_text}"
    );
    assert!(log_text.contains("appended\n"), "{log_text}");
    assert!(log_text.contains("Permission denied"), "{log_text}");
}

/// fence inside fence: the inner fence's Landlock layer must not make its read-only stdin
/// writable either (the outer policy would allow the write).
fn stdin_file_stays_read_only_in_a_nested_fence(user: User) {
    let sb = Sandbox::new(user);
    let (victim, attack) = stdin_victim(&sb);
    let outer = sb.config("outer.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let bin = util::fence_bin().display().to_string();
    let script = format!("{bin} sh -c '{attack}' < victim; echo inner=$?");
    let r = sb.fence().sh(&outer, &script).run();
    r.ok()
        .stdout_has("original\n")
        .stdout_has("inner=0")
        .stderr_has("Permission denied");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "original\n",
        "{r}"
    );
}

/// A caller's open fds do not reach the command: a directory fd (fd 9) would open a file
/// under a denyRead directory through /proc/self/fd/9/…, a write fd (fd 8) would write a
/// host file. With `--preserve-fds 1`, fd 3 passes on purpose.
fn inherited_fds_do_not_reach_the_command(user: User) {
    let sb = Sandbox::new(user);
    let secret_dir = sb.root.join("secret");
    sb.write(&secret_dir.join("key"), "SECRET-KEY\n");
    let victim = sb.root.join("victim");
    sb.write(&victim, "original\n");
    let cfg = sb.config(
        "cfg.json",
        &format!(
            r#"{{"filesystem": {{"denyRead": ["{}"]}}}}"#,
            secret_dir.display()
        ),
    );
    let open_fds = [
        "sh",
        "-c",
        "exec 9<\"$1\" 8>>\"$2\" 3<\"$2\"; shift 2; exec \"$@\"",
        "sh",
        secret_dir.to_str().unwrap(),
        victim.to_str().unwrap(),
    ];
    let script = "ls /proc/self/fd | tr '\\n' ' '; echo; cat /proc/self/fd/9/key; \
                  echo pwned >&8; echo pwned >> /proc/self/fd/8; cat <&3; true";
    let r = sb.fence().sh(&cfg, script).wrapped(&open_fds).run();
    r.ok().stdout_has("0 1 2 3 \n").stdout_lacks("SECRET-KEY");
    // fd 3 above is ls's own directory; `cat <&3` must have failed.
    r.stdout_lacks("original");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original\n");

    let r = sb
        .fence()
        .args(["--preserve-fds", "1"])
        .sh(&cfg, script)
        .wrapped(&open_fds)
        .run();
    r.ok()
        .stdout_has("0 1 2 3 4 \n")
        .stdout_has("original\n")
        .stdout_lacks("SECRET-KEY");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original\n");

    // A preserved fd must exist (else fence's own fds could take its number).
    sb.fence()
        .args(["--preserve-fds", "2", "true"])
        .run()
        .code(125)
        .stderr_has("--preserve-fds 2: fd 3 is not open");
}

/// Reduced isolation (no bwrap in between) and fence inside fence: the same.
fn inherited_fds_do_not_reach_the_command_in_reduced_isolation(user: User) {
    let sb = Sandbox::new(user);
    let victim = sb.ws.join("victim");
    sb.write(&victim, "original\n");
    let r = reduced_fence(
        &sb,
        "9<. 8>>victim",
        &[
            "sh",
            "-c",
            "ls /proc/self/fd | tr '\\n' ' '; echo; echo pwned >&8; true",
        ],
    );
    r.ok().stdout_has("0 1 2 3 \n");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original\n");
    let outer = sb.config("outer.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let bin = util::fence_bin().display().to_string();
    let script = format!(
        "exec 9<. 8>>victim; {bin} sh -c 'ls /proc/self/fd | tr \"\\n\" \" \"; echo; echo pwned >&8; true'"
    );
    sb.fence()
        .sh(&outer, &script)
        .run()
        .ok()
        .stdout_has("0 1 2 3 \n");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original\n");
}

both_users!(
    dangerous_syscalls_are_refused,
    tools_still_work_under_the_filter,
    terminal_injection_is_refused,
    landlock_refuses_writes_the_mounts_allow,
    host_processes_are_out_of_reach,
    no_capabilities_inside,
    the_init_is_out_of_reach,
    the_init_is_out_of_reach_in_reduced_isolation,
    foreign_socket_families_are_refused,
    foreign_socket_families_are_refused_in_reduced_isolation,
    stdin_file_stays_read_only_in_reduced_isolation,
    stdin_file_stays_read_only_in_a_nested_fence,
    inherited_fds_do_not_reach_the_command,
    inherited_fds_do_not_reach_the_command_in_reduced_isolation,
);
