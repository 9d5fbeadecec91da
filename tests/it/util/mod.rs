//! Test harness: runs the built fence binary for real, under real bwrap, in throwaway
//! directories, as the current user or (when the suite runs as root) as an unprivileged one.

pub mod servers;
pub mod sshd;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The uid/gid tests use for "an ordinary user" when the suite runs as root.
pub const UNPRIVILEGED: u32 = 65534;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// Whoever runs the suite (root in CI).
    Current,
    /// An unprivileged uid: 65534 via setpriv when the suite runs as root, else the
    /// current (already unprivileged) user.
    Unprivileged,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and has no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// Where test directories live: not under /tmp (the sandbox gives /tmp special treatment,
/// tested separately) and reachable by the unprivileged uid.
fn test_base() -> PathBuf {
    PathBuf::from("/var/tmp")
}

/// How long any one fence run (or helper process) in a test may take before the test kills
/// it and fails: no test can hang the suite.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A copy of the fence binary that every uid can execute (the build tree may sit in a
/// directory the unprivileged uid cannot traverse). One per test process, removed when the
/// process exits; copies left by killed runs are removed by the next one.
pub fn fence_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        sweep_stale();
        let dir = test_base().join(format!("fence-it-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // FENCE_TEST_BIN: .ci/run's copy, for runs as a uid that cannot read the build tree.
        let source = std::env::var_os("FENCE_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fence")));
        let bin = dir.join("fence");
        std::fs::copy(&source, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        extern "C" fn remove_bin_dir() {
            let dir = test_base().join(format!("fence-it-bin-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(dir);
        }
        // SAFETY: registers a plain function without arguments; it only removes files.
        unsafe { libc::atexit(remove_bin_dir) };
        bin
    })
}

/// Removes `fence-it-*` directories under the test base whose test process is gone
/// (a run killed before its cleanup ran).
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(test_base()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("fence-it-")) else {
            continue;
        };
        let pid = rest.strip_prefix("bin-").unwrap_or(rest);
        let Some(pid) = pid.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Makes `cmd` independent of the signal state the suite inherited (under `nohup` SIGHUP
/// is ignored, and ignored signals survive exec): every signal default and unblocked. It
/// also gets a process group of its own, so that [`wait_deadline`] can kill all of it.
pub fn detach(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (signal, sigprocmask) on valid arguments.
    unsafe {
        cmd.pre_exec(|| {
            for sig in 1..32 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        })
    };
    cmd
}

/// Spawns `cmd` [`detach`]ed.
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    detach(cmd).spawn().expect("spawn")
}

/// Waits for `child` for at most [`DEADLINE`]; past it, kills its process group and fails
/// the test.
#[track_caller]
pub fn wait_deadline(child: &mut std::process::Child) -> std::process::ExitStatus {
    wait_or_kill(child).unwrap_or_else(|| panic!("timed out after {DEADLINE:?}: killed"))
}

/// Waits for `child` for at most [`DEADLINE`]; past it, kills its process group and
/// returns None.
fn wait_or_kill(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if start.elapsed() > DEADLINE {
            // SAFETY: kill with the process group of our own child.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to completion with stdin empty and output captured, [`detach`]ed and within
/// [`DEADLINE`] (what `Command::output` does, bounded). Past the deadline the test fails
/// with what the command had printed.
#[track_caller]
pub fn output(cmd: &mut Command) -> Output {
    let mut child = detach(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Each reader sends what it reads as it comes; the channel closes with the pipe.
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let _ = tx.send(buf[..n].to_vec());
            }
        });
        rx
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    // What a reader sent, waiting up to `wait` for its pipe to close (a process that left
    // the group may still hold it).
    let latest = |rx: std::sync::mpsc::Receiver<Vec<u8>>, wait: Duration| {
        let mut text = Vec::new();
        let end = std::time::Instant::now() + wait;
        while let Ok(chunk) =
            rx.recv_timeout(end.saturating_duration_since(std::time::Instant::now()))
        {
            text.extend_from_slice(&chunk);
        }
        text
    };
    match wait_or_kill(&mut child) {
        Some(status) => Output {
            status,
            stdout: latest(out, DEADLINE),
            stderr: latest(err, DEADLINE),
        },
        None => panic!(
            "timed out after {DEADLINE:?}: killed\n--- stdout so far\n{}--- stderr so far\n{}",
            String::from_utf8_lossy(&latest(out, Duration::from_secs(2))),
            String::from_utf8_lossy(&latest(err, Duration::from_secs(2)))
        ),
    }
}

/// A file outside the sandbox's directories (e.g. in the host `/tmp`), removed on drop even
/// when the test fails.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(path: impl Into<PathBuf>, content: &str) -> TempFile {
        let file = TempFile(path.into());
        std::fs::write(&file.0, content).unwrap();
        file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A throwaway home, workspace and XDG directories, removed on drop.
pub struct Sandbox {
    pub root: PathBuf,
    pub home: PathBuf,
    pub ws: PathBuf,
    pub user: User,
}

impl Sandbox {
    pub fn new(user: User) -> Sandbox {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = test_base().join(format!("fence-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let sandbox = Sandbox {
            home: root.join("home"),
            ws: root.join("ws"),
            root,
            user,
        };
        for dir in [&sandbox.root, &sandbox.home, &sandbox.ws] {
            sandbox.mkdir(dir);
        }
        sandbox
    }

    /// Whether fence will run as a different uid than the suite.
    pub fn switches_user(&self) -> bool {
        self.user == User::Unprivileged && is_root()
    }

    /// Creates a directory owned by the sandbox's user.
    pub fn mkdir(&self, path: &Path) {
        std::fs::create_dir_all(path).unwrap();
        self.own(path);
    }

    /// Writes a file owned by the sandbox's user, creating parents.
    pub fn write(&self, path: &Path, content: &str) {
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                self.mkdir(parent);
            }
        }
        std::fs::write(path, content).unwrap();
        self.own(path);
    }

    fn own(&self, path: &Path) {
        if self.switches_user() {
            std::os::unix::fs::chown(path, Some(UNPRIVILEGED), Some(UNPRIVILEGED)).unwrap();
        }
    }

    /// Writes `json` to `name` in the workspace and returns its path.
    pub fn config(&self, name: &str, json: &str) -> PathBuf {
        let path = self.ws.join(name);
        self.write(&path, json);
        path
    }

    /// A fence command in the workspace with an isolated HOME and XDG directories.
    pub fn fence(&self) -> FenceCmd {
        let mut cmd = if self.switches_user() {
            let mut c = Command::new("setpriv");
            let id = UNPRIVILEGED.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
                .arg(fence_bin());
            c
        } else {
            Command::new(fence_bin())
        };
        cmd.current_dir(&self.ws)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("LANG", "C")
            .stdin(Stdio::null());
        // A test knob (src/proxy/tunnel.rs): `FENCE_TUNNEL=buffered cargo test` runs the
        // tunnels' portable copier instead of splice.
        if let Some(copier) = std::env::var_os("FENCE_TUNNEL") {
            cmd.env("FENCE_TUNNEL", copier);
        }
        FenceCmd { cmd }
    }

    /// Like [`Sandbox::fence`], but fence sees `hosts` as its `/etc/hosts` (an outer bwrap
    /// binds it): names resolve as the test wants, on the host side of fence.
    pub fn fence_with_hosts(&self, hosts: &str) -> FenceCmd {
        let file = self.root.join("hosts");
        self.write(&file, hosts);
        let inner = self.fence().cmd;
        let mut cmd = Command::new("bwrap");
        if !is_root() {
            cmd.arg("--unshare-user");
        }
        cmd.args(["--dev-bind", "/", "/", "--ro-bind"])
            .arg(&file)
            .args(["/etc/hosts", "--"])
            .arg(inner.get_program())
            .args(inner.get_args());
        cmd.current_dir(&self.ws).env_clear();
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.stdin(Stdio::null());
        FenceCmd { cmd }
    }
}

impl Drop for Sandbox {
    /// Removes the tree, retrying for up to a second: after a run fence abandoned (killed
    /// during setup), bwrap's namespace process may still be creating mount points in the
    /// workspace for a few milliseconds after fence exited (its death signal is delivered
    /// asynchronously). A tree still left is reported, not ignored.
    fn drop(&mut self) {
        let mut result = std::fs::remove_dir_all(&self.root);
        for _ in 0..50 {
            match &result {
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                    std::thread::sleep(Duration::from_millis(20));
                    result = std::fs::remove_dir_all(&self.root);
                }
                _ => break,
            }
        }
        if let Err(e) = result {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("test harness: cannot remove {}: {e}", self.root.display());
            }
        }
    }
}

pub struct FenceCmd {
    pub cmd: Command,
}

impl FenceCmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, a: I) -> Self {
        self.cmd.args(a);
        self
    }

    /// Runs the same command through `prefix` (e.g. `prlimit --nofile=48:48`).
    pub fn wrapped(self, prefix: &[&str]) -> Self {
        let inner = self.cmd;
        let mut cmd = Command::new(prefix[0]);
        cmd.args(&prefix[1..])
            .arg(inner.get_program())
            .args(inner.get_args())
            .env_clear()
            .stdin(Stdio::null());
        if let Some(dir) = inner.get_current_dir() {
            cmd.current_dir(dir);
        }
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        FenceCmd { cmd }
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// `-s CONFIG -c SCRIPT`
    pub fn sh(self, config: &Path, script: &str) -> Self {
        self.arg("-s").arg(config).arg("-c").arg(script)
    }

    /// Runs fence to completion (within [`DEADLINE`], with default signal state).
    #[track_caller]
    pub fn run(mut self) -> Run {
        Run::from(output(&mut self.cmd))
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success\n{self}");
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "expected exit {code}\n{self}");
        self
    }

    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected failure\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {:?} signal: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// A command that runs fence (then `args`) inside a bwrap sandbox whose user namespaces
/// are disabled, so fence cannot create its own: the no-user-namespace environment.
/// `extra` adds bwrap options (binds, environment) before the command.
pub fn fence_without_userns(extra: &[&str]) -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--unshare-user", "--disable-userns", "--die-with-parent"])
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(extra)
        .arg("--")
        .arg(fence_bin())
        .env_remove("FENCE_SANDBOX");
    cmd
}

/// [`fence_without_userns`] as the sandbox's user (through setpriv when it is another uid),
/// with the sandbox's HOME and XDG directories.
pub fn fence_without_userns_for(sb: &Sandbox, extra: &[&str]) -> Command {
    let inner = fence_without_userns(extra);
    let mut cmd = if sb.switches_user() {
        let mut c = Command::new("setpriv");
        let id = UNPRIVILEGED.to_string();
        c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
            .arg(inner.get_program())
            .args(inner.get_args());
        c
    } else {
        inner
    };
    cmd.env_remove("FENCE_SANDBOX")
        .env("HOME", &sb.home)
        .env("XDG_CONFIG_HOME", sb.home.join(".config"))
        .env("XDG_DATA_HOME", sb.home.join(".local/share"))
        .current_dir(&sb.ws);
    cmd
}

/// A TCP server on loopback that counts accepted connections (and answers HTTP 200).
pub struct CountingServer {
    pub port: u16,
    pub hits: std::sync::Arc<AtomicUsize>,
}

impl CountingServer {
    pub fn start(addr: &str) -> CountingServer {
        let listener = std::net::TcpListener::bind(addr).expect("bind loopback test server");
        let port = listener.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                use std::io::Write;
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nSECRET");
            }
        });
        CountingServer { port, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Defines `NAME_as_current_user` and `NAME_as_unprivileged_user` tests that call
/// `NAME(User)`.
#[macro_export]
macro_rules! both_users {
    ($($name:ident),* $(,)?) => {
        mod as_current_user {
            $( #[test] fn $name() { super::$name($crate::util::User::Current) } )*
        }
        mod as_unprivileged_user {
            $( #[test] fn $name() { super::$name($crate::util::User::Unprivileged) } )*
        }
    };
}
