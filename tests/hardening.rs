//! The kernel layers inside the sandbox: seccomp and Landlock, checked by their effects.

#![cfg(target_arch = "x86_64")] // the probes use x86_64 syscall numbers; the filter itself is unit-tested per arch

mod util;

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
    let bare = std::process::Command::new("bwrap")
        .args([
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
        ])
        .output()
        .unwrap();
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

both_users!(
    dangerous_syscalls_are_refused,
    tools_still_work_under_the_filter,
    terminal_injection_is_refused,
    landlock_refuses_writes_the_mounts_allow,
    host_processes_are_out_of_reach,
    no_capabilities_inside,
);
