//! `-m` beyond the proxies: the writes and direct connects the policy denies, seen through
//! the seccomp user notification the init installs, as one line each with the right kind,
//! target and process name; nothing for a command that does only allowed things; the exit
//! status unchanged; text from the sandbox escaped. Checked on the host: the denied files
//! really are absent.

use crate::util;

use util::{Run, Sandbox, User};

/// fence's event lines on stderr.
fn events(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("[fence:"))
        .collect()
}

/// The event lines that mention `needle`.
fn lines_with<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    events(run)
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

fn denied_writes_are_reported_once_each(user: User) {
    let sb = Sandbox::new(user);
    sb.mkdir(&sb.ws.join("ro"));
    sb.write(&sb.ws.join(".bashrc"), "# mine\n");
    let cfg = sb.config(
        "w.json",
        r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["ro"]}}"#,
    );
    let outside = format!("/etc/fence-monitor-{}", std::process::id());
    // `mkdir -p` of existing directories is not a denial (EEXIST comes first). `touch`
    // makes two calls on its path (open, then utimensat): one attempt, one line.
    let touched = format!("/etc/fence-touch-{}", std::process::id());
    let script = format!(
        "echo x > {outside}; echo y > .bashrc; mkdir ro/sub; rm -f /etc/hostname; \
         mkdir -p /usr/share; touch {touched}; echo fine > ok.txt; exit 3"
    );
    let run = sb.fence().arg("-m").sh(&cfg, &script).run();
    // The command's own status, whatever -m saw.
    run.code(3);
    let ws = sb.ws.canonicalize().unwrap();
    let expect = [
        (
            outside.clone(),
            "(sh[",
            "openat O_WRONLY|O_CREAT|O_TRUNC): outside allowWrite",
        ),
        (
            ws.join(".bashrc").display().to_string(),
            "(sh[",
            "): protected path",
        ),
        (
            ws.join("ro/sub").display().to_string(),
            "(mkdir[",
            "): denyWrite",
        ),
        (
            "/etc/hostname".to_string(),
            "(rm[",
            "unlinkat): outside allowWrite",
        ),
    ];
    for (target, process, tail) in &expect {
        let lines = lines_with(&run, &format!("write denied: {target} "));
        assert_eq!(lines.len(), 1, "{target}: {run}");
        let line = lines[0];
        assert!(line.starts_with("[fence:fs] write denied: "), "{line}");
        assert!(line.contains(process), "{line}");
        assert!(line.ends_with(tail), "{line}");
    }
    assert!(lines_with(&run, "ok.txt").is_empty(), "{run}");
    let touch_lines = lines_with(&run, &touched);
    assert_eq!(touch_lines.len(), 1, "{run}");
    assert!(
        touch_lines[0].contains("(touch[") && !touch_lines[0].contains('×'),
        "{run}"
    );
    assert!(lines_with(&run, "/usr").is_empty(), "{run}");
    // The host side: nothing denied was written; the allowed file was.
    assert!(!std::path::Path::new(&outside).exists());
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".bashrc")).unwrap(),
        "# mine\n"
    );
    assert!(!sb.ws.join("ro/sub").exists());
    assert!(std::path::Path::new("/etc/hostname").exists());
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("ok.txt")).unwrap(),
        "fine\n"
    );
}

fn a_direct_connect_is_reported(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("n.json", "{}");
    // No route leaves the sandbox's network namespace: the connect fails at once, inside.
    let run = sb
        .fence()
        .args(["-m", "-s"])
        .arg(&cfg)
        .args(["bash", "-c", "exec 3<>/dev/tcp/10.255.0.9/443 || exit 9"])
        .run();
    run.code(9);
    let lines = lines_with(&run, "10.255.0.9:443");
    assert_eq!(lines.len(), 1, "{run}");
    assert!(
        lines[0].starts_with("[fence:net] direct connect denied: 10.255.0.9:443 (bash[")
            && lines[0].ends_with("): use the proxy"),
        "{run}"
    );
}

/// A connect to a host socket the sandbox has masked (one in `$XDG_RUNTIME_DIR`).
fn a_connect_to_a_masked_host_socket_is_reported(user: User) {
    let sb = Sandbox::new(user);
    let runtime = sb.root.join("runtime");
    sb.mkdir(&runtime);
    let server = crate::unix_sockets::HostServer::start(&runtime.join("bus"));
    let cfg = sb.config("n.json", "{}");
    let run = sb
        .fence()
        .env("XDG_RUNTIME_DIR", &runtime)
        .arg("-m")
        .sh(&cfg, &crate::unix_sockets::connect_script(&server.path))
        .run();
    run.failed().stdout_lacks("HOSTSECRET");
    let target = std::fs::canonicalize(&server.path).unwrap();
    let lines = lines_with(&run, &target.display().to_string());
    assert_eq!(lines.len(), 1, "{run}");
    assert!(
        lines[0].starts_with(&format!(
            "[fence:net] direct connect denied: {} (python3[",
            target.display()
        )) && lines[0].ends_with("): host socket not in allowUnixSockets"),
        "{run}"
    );
}

fn allowed_work_reports_nothing(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("w.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let script = "mkdir -p a/b && echo 1 > a/b/f && mv a/b/f a/g && rm -r a && \
                  echo t > /tmp/t && cat /etc/hostname > /dev/null && echo done";
    let run = sb.fence().arg("-m").sh(&cfg, script).run();
    run.ok().stdout_has("done");
    assert!(events(&run).is_empty(), "{run}");
}

fn paths_from_the_sandbox_are_escaped(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("n.json", "{}");
    let run = sb
        .fence()
        .arg("-m")
        .sh(&cfg, "echo x > \"/etc/a$(printf '\\033')[31mred\"; exit 0")
        .run();
    run.ok();
    // The command's own error message carries the raw byte; fence's lines never do.
    assert!(events(&run).iter().all(|l| !l.contains('\u{1b}')), "{run}");
    let lines = lines_with(&run, "/etc/a\\e[31mred");
    assert_eq!(lines.len(), 1, "{run}");
}

/// Installs a seccomp filter with a notification listener (which lets everything through)
/// and keeps the listener open across exec, then execs the rest of argv: the position of a
/// container runtime or an outer supervisor that already listens.
pub const HOLD_A_LISTENER: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, NEW_LISTENER = 38, 1, 8
SYS_seccomp = {"x86_64": 317, "aarch64": 277}[os.uname().machine]
allow = struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000)  # ret ALLOW
buf = ctypes.create_string_buffer(allow)
prog = struct.pack("HxxxxxxQ", 1, ctypes.addressof(buf))
pbuf = ctypes.create_string_buffer(prog)
assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
fd = libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, NEW_LISTENER, pbuf)
assert fd >= 0, os.strerror(ctypes.get_errno())
os.set_inheritable(fd, True)
os.execvp(sys.argv[1], sys.argv[1:])
"#;

/// Where another listener already exists, `-m` says so once and the command runs, with
/// the proxies' lines still shown.
fn an_existing_listener_is_reported_once(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("n.json", r#"{"network": {}}"#);
    let run = sb
        .fence()
        .wrapped(&["python3", "-c", HOLD_A_LISTENER])
        .args(["-m", "-s"])
        .arg(&cfg)
        .args(["sh", "-c", "echo x > /etc/busy-x; curl -sS --max-time 10 --noproxy '' -p http://denied.example/; exit 4"])
        .run();
    run.code(4);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cannot be observed here"))
        .collect();
    assert_eq!(warnings.len(), 1, "{run}");
    assert!(
        warnings[0].contains("another filter already has a listener"),
        "{run}"
    );
    assert!(lines_with(&run, "/etc/busy-x").is_empty(), "{run}");
    assert_eq!(
        lines_with(&run, "denied.example"),
        ["[fence:http] blocked CONNECT denied.example:80: not in allowedDomains"],
        "{run}"
    );
}

/// `fence learn` cannot see denied writes without a listener of its own: it refuses to run,
/// and writes no config.
fn learn_without_a_listener_refuses(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("n.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let run = sb
        .fence()
        .wrapped(&["python3", "-c", HOLD_A_LISTENER])
        .args(["learn", "-o", "learned.json", "-s"])
        .arg(&cfg)
        .args(["sh", "-c", "echo ran > ran.txt"])
        .run();
    run.code(125)
        .stderr_has("fence learn needs seccomp user notification");
    assert!(!sb.ws.join("learned.json").exists(), "{run}");
    assert!(!sb.ws.join("ran.txt").exists(), "{run}");
}

/// Nor can it in reduced isolation (no mount sandbox to judge writes against).
fn learn_in_reduced_isolation_refuses(user: User) {
    let sb = Sandbox::new(user);
    let mut cmd = util::fence_without_userns_for(&sb, &["--tmpfs", "/tmp"]);
    cmd.args([
        "learn",
        "--allow-reduced-isolation",
        "-o",
        "learned.json",
        "--",
    ])
    .args(["sh", "-c", "echo ran"]);
    let run = Run::from(util::output(&mut cmd));
    run.code(125)
        .stderr_has("fence learn needs to see denied writes")
        .stdout_lacks("ran");
    assert!(!sb.ws.join("learned.json").exists(), "{run}");
}

both_users!(
    learn_without_a_listener_refuses,
    learn_in_reduced_isolation_refuses,
    denied_writes_are_reported_once_each,
    a_direct_connect_is_reported,
    a_connect_to_a_masked_host_socket_is_reported,
    allowed_work_reports_nothing,
    paths_from_the_sandbox_are_escaped,
    an_existing_listener_is_reported_once,
);
