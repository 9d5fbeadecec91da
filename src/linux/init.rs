//! fence's in-sandbox init: started by bwrap as the sandbox's first process (after bwrap's
//! own reaper), it prepares and runs the command, then reports how it ended.
//!
//! It stays resident as the command's parent so the host learns the command's real wait
//! status (bwrap alone reports "killed by SIGKILL" as exit code 137, indistinguishable
//! from `exit 137`). It holds no privileges the command lacks.

use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::control::{InitPlan, Report};
use super::sys;
use crate::host::FORWARDED_SIGNALS;

/// Entry point of the init mode. `args` are the arguments after [`super::control::INIT_ARG`].
pub fn main(args: &[OsString]) -> i32 {
    let Some(control) = args.first().and_then(|a| a.to_str()?.parse::<RawFd>().ok()) else {
        crate::output::stderr_line(format_args!("internal init mode: missing control channel"));
        return crate::error::EXIT_FENCE_FAILED;
    };
    // The control socket is fence's, never the command's.
    if sys::set_cloexec(control, true).is_err() {
        crate::output::stderr_line(format_args!(
            "internal init mode: no control channel on fd {control}"
        ));
        return crate::error::EXIT_FENCE_FAILED;
    }
    // SAFETY: the fd was inherited for this purpose and stays open for the whole process.
    let control = unsafe { BorrowedFd::borrow_raw(control) };
    // The first report, before the command exists: the host learns the init's pid from it.
    let _ = sys::send_message(control.as_fd(), &Report::Hello.to_bytes(), None);
    match run(control) {
        Ok(code) => code,
        Err(report) => {
            let _ = sys::send_message(control.as_fd(), &report.to_bytes(), None);
            match report {
                Report::ExecFailed { code, .. } => code,
                _ => crate::error::EXIT_FENCE_FAILED,
            }
        }
    }
}

pub(super) fn setup_failed(message: impl Into<String>) -> Report {
    Report::SetupFailed {
        message: message.into(),
    }
}

fn read_plan(control: BorrowedFd<'_>) -> Result<(InitPlan, CommandEnv), Report> {
    let msg = sys::recv_message(control, 256)
        .map_err(|e| setup_failed(format!("cannot read the sandbox plan: {e}")))?
        .ok_or_else(|| setup_failed("the control channel closed before the plan arrived"))?;
    let fd = msg
        .fds
        .into_iter()
        .next()
        .ok_or_else(|| setup_failed("the sandbox plan carried no file"))?;
    let mut content = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut content)
        .map_err(|e| setup_failed(format!("cannot read the sandbox plan: {e}")))?;
    // The plan (JSON, which has no NUL), a NUL, then the command's environment as
    // NUL-terminated `NAME=value` entries: the init's own, which it came without.
    let split = content
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| setup_failed("the sandbox plan carried no environment"))?;
    let (json, env) = (&content[..split], &content[split + 1..]);
    let plan = serde_json::from_slice(json)
        .map_err(|e| setup_failed(format!("invalid sandbox plan: {e}")))?;
    Ok((plan, CommandEnv::parse(env)))
}

/// The command's environment, kept as data: the init itself runs with none (bwrap is
/// started with an empty one), and nothing in it reads its own. (Installing it with setenv,
/// only to read it back for the command, cost about 0.05 ms per run.)
#[derive(Debug, Default, PartialEq)]
struct CommandEnv(Vec<(OsString, OsString)>);

impl CommandEnv {
    /// From NUL-terminated `NAME=value` entries, in order; a later entry for a name
    /// replaces the earlier one's value, as setenv would.
    fn parse(entries: &[u8]) -> CommandEnv {
        let mut env = CommandEnv::default();
        for entry in entries.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            // A name never holds `=` (nor is empty); a value may.
            let Some(eq) = entry.iter().skip(1).position(|&b| b == b'=').map(|i| i + 1) else {
                continue;
            };
            // No shell makes such a name, and the environment cannot hold it.
            if entry[..eq].contains(&b'=') {
                continue;
            }
            let name = OsString::from_vec(entry[..eq].to_vec());
            env.set(name, OsString::from_vec(entry[eq + 1..].to_vec()));
        }
        env
    }

    fn get(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        let (name, value) = (name.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name, value)),
        }
    }

    fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| k != name);
    }

    /// `NAME=value` C strings for exec.
    fn to_c_strings(&self) -> std::io::Result<Vec<CString>> {
        sys::c_strings(self.0.iter().map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        }))
    }
}

fn run(control: BorrowedFd<'_>) -> Result<i32, Report> {
    let (plan, mut env) = read_plan(control)?;
    // SAFETY: fd 2 is stdio (std never closes it); the plan's fds were passed for this
    // moment, and no Rust object in the init owns any of them.
    unsafe {
        sys::dup2(plan.stderr_fd, libc::STDERR_FILENO)
            .map_err(|e| setup_failed(format!("cannot restore stderr: {e}")))?;
        for &fd in plan.close_fds.iter().chain([&plan.stderr_fd]) {
            sys::close(fd);
        }
    }
    // The command must not reach the init's fds (the control channel above all) or memory:
    // a non-dumpable process's /proc/PID/fd and /proc/PID/mem, pidfd_getfd and kcmp are
    // refused to processes without CAP_SYS_PTRACE, whatever their uid (seccomp refuses the
    // syscalls too).
    sys::set_dumpable(false)
        .map_err(|e| setup_failed(format!("cannot make the init non-dumpable: {e}")))?;
    close_inherited_fds(control, plan.preserve_fds)?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| setup_failed(format!("cannot open /dev/null: {e}")))?;
    for fd in 0..=2 {
        // A directory or O_PATH fd as stdin/stdout/stderr is a handle for walking paths
        // (`/proc/self/fd/0/…` reaches what the mounts hide), not a stream: none is passed.
        if sys::fd_access(fd).is_none_or(|a| a.is_dir || a.path_only) {
            // SAFETY: fds 0–2 are stdio, which nothing in the init owns or closes.
            unsafe { sys::dup2(null.as_raw_fd(), fd) }
                .map_err(|e| setup_failed(format!("cannot replace fd {fd}: {e}")))?;
        }
    }
    let note = |message: String| {
        if plan.debug {
            let _ = sys::send_message(control.as_fd(), &Report::Note { message }.to_bytes(), None);
        }
    };

    // Without bwrap nothing else drops privileges, reaps orphans or ends the sandbox with
    // fence: the init does (and remembers its parent, fence, to notice its death).
    let fence_pid = sys::getppid();
    // The signal mask the command inherits (fence's, passed through bwrap or set by fence).
    let mut inherited_mask = None;
    if plan.reduced {
        // fence's death is signalled with SIGTERM, which the init inherited ignored (fence
        // spawned it so): blocked, it stays pending instead of being discarded, and the wait
        // in run_command takes it even if fence dies during the setup below.
        let term = sys::sigset(&[libc::SIGTERM]);
        inherited_mask = Some(
            sys::set_sigmask(libc::SIG_BLOCK, &term)
                .map_err(|e| setup_failed(format!("cannot block signals: {e}")))?,
        );
        sys::set_child_subreaper()
            .map_err(|e| setup_failed(format!("cannot become a subreaper: {e}")))?;
        sys::set_parent_death_signal(libc::SIGTERM)
            .map_err(|e| setup_failed(format!("cannot follow fence's lifetime: {e}")))?;
        if sys::getppid() != fence_pid {
            return Err(setup_failed("fence exited before the sandbox started"));
        }
        sys::drop_capabilities()
            .map_err(|e| setup_failed(format!("cannot drop capabilities: {e}")))?;
    }
    let cwd = PathBuf::from(OsString::from_vec(plan.cwd.clone()));
    std::env::set_current_dir(&cwd).map_err(|e| {
        setup_failed(format!(
            "the working directory {} is not available in the sandbox ({e}); with \
             defaultDenyRead, add it to filesystem.allowRead",
            cwd.display()
        ))
    })?;
    let runtime_dir = repair_environment(&mut env, plan.instance, &note);
    super::netns::listen(control, &plan.listen, &note).map_err(setup_failed)?;
    super::harden::harden(control, &plan, &note)?;

    let Some((program, args)) = plan.argv.split_first() else {
        return Err(setup_failed("empty command"));
    };
    let program = OsString::from_vec(program.clone());
    let path = search_path(&program, env.get("PATH").map(OsString::from))?;
    let status = run_command(
        control,
        &plan,
        (&program, &path, args, &env),
        fence_pid,
        inherited_mask,
        null,
    )?;
    if plan.reduced {
        kill_descendants();
    }
    if let Some(dir) = runtime_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    if plan.report_tmp_leftovers && !plan.reduced {
        if let Some(message) = super::tmp_leftovers::summary(std::path::Path::new("/tmp")) {
            let _ = sys::send_message(
                control.as_fd(),
                &Report::Warning { message }.to_bytes(),
                None,
            );
        }
    }
    let report = match status {
        sys::WaitStatus::Signaled(signal) => Report::Signaled { signal },
        sys::WaitStatus::Exited(code) | sys::WaitStatus::Stopped(code) => Report::Exited { code },
    };
    let _ = sys::send_message(control.as_fd(), &report.to_bytes(), None);
    match status {
        sys::WaitStatus::Signaled(signal) => sys::die_by_signal(signal),
        sys::WaitStatus::Exited(code) | sys::WaitStatus::Stopped(code) => Ok(code),
    }
}

/// Starts the command and stays its parent until it ends, passing on the signals the host
/// forwards. The init blocks those signals and SIGCHLD and takes them with sigwaitinfo:
/// no handlers, no extra file descriptors.
///
/// Only signals sent by a process (the host fence) are passed on: one a terminal generated
/// (Ctrl-C) already reached the command, which shares the terminal's process group. When
/// the command stops (Ctrl-Z in a program that stops itself), the host is told, so that fence
/// stops too and the user's shell regains the terminal; SIGCONT is passed on like the rest.
fn run_command(
    control: BorrowedFd<'_>,
    plan: &InitPlan,
    (program, path, args, env): (&std::ffi::OsStr, &std::path::Path, &[Vec<u8>], &CommandEnv),
    fence_pid: libc::pid_t,
    inherited_mask: Option<libc::sigset_t>,
    null: std::fs::File,
) -> Result<sys::WaitStatus, Report> {
    let setup = |e: std::io::Error| setup_failed(format!("cannot start the command: {e}"));
    let mut waited = vec![libc::SIGCHLD, libc::SIGCONT];
    waited.extend(FORWARDED_SIGNALS);
    let waited = sys::sigset(&waited);
    let blocked_before = sys::set_sigmask(libc::SIG_BLOCK, &waited).map_err(setup)?;
    let original_mask = inherited_mask.unwrap_or(blocked_before);
    let mut defaults: Vec<libc::c_int> = FORWARDED_SIGNALS
        .into_iter()
        .filter(|s| !plan.ignored_signals.contains(s))
        .collect();
    defaults.push(libc::SIGPIPE);

    let path_c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| setup_failed("NUL in path"))?;
    let argv = sys::c_strings(
        std::iter::once(program.as_encoded_bytes().to_vec()).chain(args.iter().cloned()),
    )
    .map_err(setup)?;
    let envp = env.to_c_strings().map_err(setup)?;
    // With a PTY the command leads a session of its own on it; the master goes to the host.
    let slave = if plan.pty {
        let (master, slave) = sys::open_pty()
            .map_err(|e| setup_failed(format!("cannot open a pseudo-terminal: {e}")))?;
        sys::send_message(
            control.as_fd(),
            &Report::Pty.to_bytes(),
            Some(master.as_raw_fd()),
        )
        .map_err(|e| setup_failed(format!("cannot pass the pseudo-terminal: {e}")))?;
        Some(slave)
    } else {
        None
    };
    let pty_dups: &[(RawFd, RawFd)] = if plan.pty_stderr {
        &[(0, 1), (0, 2)]
    } else {
        &[(0, 1)]
    };
    // The init holds no fd the command could use: with a PTY the terminal fds the command
    // does not inherit (the user's real terminal) are let go before it starts, the others
    // right after; fds above the preserved ones (`--preserve-fds`) are not inherited.
    if slave.is_some() {
        let fds: &[RawFd] = if plan.pty_stderr { &[0, 1, 2] } else { &[0, 1] };
        for &fd in fds {
            // SAFETY: fds 0–2 are stdio, which nothing in the init owns or closes.
            unsafe { sys::dup2(null.as_raw_fd(), fd) }
                .map_err(|e| setup_failed(format!("cannot release fd {fd}: {e}")))?;
        }
    }
    // SAFETY: only marks fds close-on-exec; nothing is closed here.
    unsafe { sys::close_range(3 + plan.preserve_fds as RawFd, RawFd::MAX, true) }.map_err(setup)?;
    // fence raised the open-file limit only for bwrap's many mask fds: the command gets the
    // caller's back (programs using select() depend on a soft limit of 1024).
    if let Some(soft) = plan.restore_nofile {
        sys::set_nofile_soft(soft)
            .map_err(|e| setup_failed(format!("cannot restore the open-file limit: {e}")))?;
    }
    let child = sys::spawn(&sys::Spawn {
        path: &path_c,
        argv: &argv,
        envp: &envp,
        dup2: if slave.is_some() { pty_dups } else { &[] },
        sigmask: &original_mask,
        sigdefault: &sys::spawn_defaults(&defaults),
        setsid: slave.is_some(),
        open: slave.as_deref().map(|path| (0, path)),
    })
    .map_err(|e| exec_failed(program, &e))?;
    let _ = sys::send_message(control.as_fd(), &Report::Started.to_bytes(), None);
    for fd in 0..=2 {
        // Cannot fail with a valid fd; the command runs already, so a failure is not fatal
        // (the init stays unreachable: not dumpable, pidfd_getfd refused).
        // SAFETY: fds 0–2 are stdio, which nothing in the init owns or closes.
        let _ = unsafe { sys::dup2(null.as_raw_fd(), fd) };
    }
    drop(null);

    // With ports exposed, the init also answers the host's connection requests: it waits
    // on a signalfd and the control channel instead of in sigwaitinfo.
    let signal_fd = if plan.connect_service {
        let fd = sys::signalfd(&waited).map_err(setup)?;
        sys::set_nonblocking(fd.as_fd()).map_err(setup)?;
        Some(fd)
    } else {
        None
    };
    let mut control_open = true;
    loop {
        let (signal, code) = match &signal_fd {
            None => sys::wait_signal(&waited),
            Some(fd) => super::netns::serve_until_signal(control, fd.as_fd(), &mut control_open),
        }
        .map_err(setup)?;
        if plan.reduced && sys::getppid() != fence_pid {
            // fence is gone (its death signal woke us): so is the sandbox.
            kill_descendants();
            std::process::exit(crate::error::EXIT_FENCE_FAILED);
        }
        if signal == libc::SIGCHLD {
            match sys::try_wait(child, true).map_err(setup)? {
                Some(sys::WaitStatus::Stopped(signal)) => {
                    let stopped = Report::Stopped { signal }.to_bytes();
                    let _ = sys::send_message(control.as_fd(), &stopped, None);
                }
                Some(status) => return Ok(status),
                None => {}
            }
        } else if sys::sent_by_a_process(code) {
            // The command may have just exited; a failed kill is harmless.
            let _ = sys::kill(child, signal);
        }
    }
}

/// Kills every descendant (orphans are reparented to the init, a subreaper) and reaps
/// them, until none is left.
fn kill_descendants() {
    let me = std::process::id();
    for _ in 0..100 {
        let children =
            std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        let pids: Vec<libc::pid_t> = children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait(pid);
        }
    }
}

/// Closes every fd above stderr that fence did not pass on purpose: a caller's stray fds
/// (a shell's `exec 9</dir`, an IDE's leaked pipes) would otherwise reach the command, and
/// through `/proc/self/fd/9/…` a directory fd opens what the mounts and Landlock hide. Kept:
/// the control channel and fds `3..3+preserve` (`--preserve-fds`).
fn close_inherited_fds(control: BorrowedFd<'_>, preserve: u32) -> Result<(), Report> {
    let control = control.as_raw_fd();
    let kept_end = 3 + RawFd::try_from(preserve).unwrap_or(RawFd::MAX - 3);
    if control < kept_end {
        return Err(setup_failed(format!(
            "the control channel (fd {control}) is among the preserved fds"
        )));
    }
    let failed = |e| setup_failed(format!("cannot close inherited fds: {e}"));
    // SAFETY: runs before the init opens anything but the control channel (kept): every
    // other fd above the preserved ones is an inherited number no Rust object owns.
    unsafe {
        sys::close_range(kept_end, control - 1, false).map_err(failed)?;
        sys::close_range(control + 1, RawFd::MAX, false).map_err(failed)
    }
}

/// Finds `program` the way a shell does: a name with a slash is used as is; otherwise the
/// first executable regular file in `PATH`. Unlike execvp, a directory the sandbox cannot
/// search does not turn "not found" into "permission denied".
fn search_path(program: &std::ffi::OsStr, path_var: Option<OsString>) -> Result<PathBuf, Report> {
    use std::os::unix::fs::PermissionsExt;
    if program.as_encoded_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let name = program.to_string_lossy();
    if program.is_empty() {
        return Err(Report::ExecFailed {
            code: crate::error::EXIT_NOT_FOUND,
            message: "'': command not found".into(),
        });
    }
    let path_var = path_var.unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut not_executable: Option<PathBuf> = None;
    for dir in std::env::split_paths(&path_var) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let executable = meta.permissions().mode() & 0o111 != 0
            && CString::new(candidate.as_os_str().as_encoded_bytes())
                .is_ok_and(|c| sys::access(&c, libc::X_OK));
        if executable {
            return Ok(candidate);
        }
        not_executable.get_or_insert(candidate);
    }
    Err(match not_executable {
        Some(found) => Report::ExecFailed {
            code: crate::error::EXIT_CANNOT_EXECUTE,
            message: format!(
                "{name}: cannot execute {}: permission denied",
                found.display()
            ),
        },
        None => Report::ExecFailed {
            code: crate::error::EXIT_NOT_FOUND,
            message: format!("{name}: command not found"),
        },
    })
}

fn exec_failed(program: &std::ffi::OsStr, err: &std::io::Error) -> Report {
    let name = program.to_string_lossy();
    let exists = name.contains('/') && std::path::Path::new(program).exists();
    if err.kind() == std::io::ErrorKind::NotFound && !exists {
        Report::ExecFailed {
            code: crate::error::EXIT_NOT_FOUND,
            message: format!("{name}: command not found"),
        }
    } else if err.kind() == std::io::ErrorKind::NotFound {
        Report::ExecFailed {
            code: crate::error::EXIT_CANNOT_EXECUTE,
            message: format!(
                "{name}: cannot execute: its interpreter or loader is missing in the sandbox"
            ),
        }
    } else if err.kind() == std::io::ErrorKind::PermissionDenied
        && std::path::Path::new(program).is_dir()
    {
        // execve says EACCES; a shell says what it is.
        Report::ExecFailed {
            code: crate::error::EXIT_CANNOT_EXECUTE,
            message: format!("{name}: is a directory"),
        }
    } else {
        Report::ExecFailed {
            code: crate::error::EXIT_CANNOT_EXECUTE,
            message: format!("{name}: cannot execute: {err}"),
        }
    }
}

/// Points `TMPDIR` and `XDG_RUNTIME_DIR` at usable directories when the inherited ones
/// cannot be written inside the sandbox. Returns a runtime directory the init created and
/// must remove at exit.
fn repair_environment(
    env: &mut CommandEnv,
    instance: u32,
    note: &dyn Fn(String),
) -> Option<PathBuf> {
    if let Some(tmp) = env.get("TMPDIR") {
        if !writable_dir(tmp) {
            note(format!(
                "TMPDIR={} is not writable in the sandbox; using /tmp",
                tmp.to_string_lossy()
            ));
            env.set("TMPDIR", "/tmp");
        }
    }
    let runtime = env.get("XDG_RUNTIME_DIR")?.to_owned();
    if writable_dir(&runtime) {
        return None;
    }
    let dir = PathBuf::from(format!("/tmp/fence-runtime-{}-{instance}", sys::getuid()));
    let created = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir)
    };
    match created {
        Ok(()) => {
            note(format!(
                "XDG_RUNTIME_DIR={} is not writable in the sandbox; using {}",
                runtime.to_string_lossy(),
                dir.display()
            ));
            env.set("XDG_RUNTIME_DIR", &dir);
            Some(dir)
        }
        Err(e) => {
            note(format!(
                "XDG_RUNTIME_DIR is not writable and {} cannot be created ({e}); unsetting it",
                dir.display()
            ));
            env.remove("XDG_RUNTIME_DIR");
            None
        }
    }
}

fn writable_dir(path: &std::ffi::OsStr) -> bool {
    CString::new(path.as_encoded_bytes()).is_ok_and(|c| sys::access(&c, libc::W_OK | libc::X_OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn fd_access_reads_the_open_mode() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("fence-fd-access-{}", std::process::id()));
        std::fs::write(&file, "x").unwrap();
        let read_only = std::fs::File::open(&file).unwrap();
        let write_only = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        let directory = std::fs::File::open(&dir).unwrap();
        let c_file = CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
        let path_only = sys::open_path(&c_file).unwrap();
        let get = |fd: RawFd| sys::fd_access(fd).unwrap();
        let r = get(read_only.as_raw_fd());
        assert!(r.read && !r.write && !r.path_only && !r.is_dir);
        let w = get(write_only.as_raw_fd());
        assert!(!w.read && w.write && !w.path_only);
        assert!(get(directory.as_raw_fd()).is_dir);
        let p = get(path_only.as_raw_fd());
        assert!(p.path_only && !p.read && !p.write);
        std::fs::remove_file(&file).unwrap();
        drop(read_only);
        assert_eq!(sys::fd_access(-1), None);
    }

    #[test]
    fn exec_failures_say_what_a_shell_says() {
        use std::io::{Error, ErrorKind};
        let failed =
            |program: &str, err: Error| match exec_failed(std::ffi::OsStr::new(program), &err) {
                Report::ExecFailed { code, message } => (code, message),
                other => panic!("{other:?}"),
            };
        let denied = || Error::from_raw_os_error(libc::EACCES);
        assert_eq!(failed("/", denied()), (126, "/: is a directory".into()));
        assert_eq!(
            failed("/etc/hostname", denied()),
            (
                126,
                "/etc/hostname: cannot execute: Permission denied (os error 13)".into()
            )
        );
        assert_eq!(
            failed("/no/such/file", ErrorKind::NotFound.into()),
            (127, "/no/such/file: command not found".into())
        );
        assert_eq!(failed("/", ErrorKind::NotFound.into()).0, 126);
    }

    #[test]
    fn command_environment_from_the_plan() {
        let mut env = CommandEnv::parse(
            b"PATH=/usr/bin\0A=x=y\nz\0=bad\0novalue\0\0EMPTY=\0PATH=/bin\0B=1\0",
        );
        let pairs = |env: &CommandEnv| -> Vec<(String, String)> {
            (env.0.iter())
                .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
                .collect()
        };
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        // In first-seen order; the later PATH replaces the earlier value; entries without a
        // name or an `=` are dropped.
        assert_eq!(
            pairs(&env),
            [
                p("PATH", "/bin"),
                p("A", "x=y\nz"),
                p("EMPTY", ""),
                p("B", "1")
            ]
        );
        assert_eq!(env.get("A"), Some(std::ffi::OsStr::new("x=y\nz")));
        assert_eq!(env.get("MISSING"), None);
        env.set("TMPDIR", "/tmp");
        env.remove("A");
        env.set("B", "2");
        let c: Vec<CString> = env.to_c_strings().unwrap();
        assert_eq!(
            c.iter().map(|s| s.to_str().unwrap()).collect::<Vec<_>>(),
            ["PATH=/bin", "EMPTY=", "B=2", "TMPDIR=/tmp"]
        );
    }

    #[test]
    fn path_search_like_a_shell() {
        let root = std::env::temp_dir().join(format!("fence-init-path-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        for (dir, mode) in [(&a, 0o644), (&b, 0o755)] {
            let tool = dir.join("tool");
            std::fs::write(&tool, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::write(a.join("only-here"), "").unwrap();
        let path = std::env::join_paths([root.join("missing"), a.clone(), b.clone()]).unwrap();
        let found = |name: &str| search_path(std::ffi::OsStr::new(name), Some(path.clone()));
        assert_eq!(
            found("tool").unwrap(),
            b.join("tool"),
            "skips the non-executable one"
        );
        assert!(matches!(
            found("only-here"),
            Err(Report::ExecFailed { code: 126, .. })
        ));
        assert!(matches!(
            found("nowhere"),
            Err(Report::ExecFailed { code: 127, .. })
        ));
        assert_eq!(found("./rel/x").unwrap(), PathBuf::from("./rel/x"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
