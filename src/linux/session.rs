//! A Linux sandbox run on the host: spawn bwrap (or, in reduced isolation, the init
//! directly), then hand the host loop ([`crate::host`]) its hooks: the control channel
//! with the init and bwrap's stderr to watch, the init's reports turned into actions, bwrap's
//! exit as the end of the sandbox.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::control::{HostRequest, INIT_ARG, InitPlan, MAX_REPORT, Report, Reports};
use super::{diagnose, sys};
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::host::{self, Action, FORWARDED_SIGNALS, NetworkService};
use crate::proxy::server::ConnectInside;

/// The log target of the init's notes (they are the init's, relayed by the host).
pub const INIT_LOG: &str = "fence::linux::init";

/// Everything needed to start one sandbox.
pub struct Spec {
    /// bwrap, or None to start the init directly on the host (reduced isolation).
    pub bwrap: Option<PathBuf>,
    /// Namespace and mount arguments (written to bwrap through `--args FD`).
    pub args: Vec<OsString>,
    /// The plan for the init; fd fields are filled in here.
    pub plan: InitPlan,
    /// The complete environment for bwrap and the sandbox.
    pub env: Vec<(OsString, OsString)>,
    /// The empty memfd the mount arguments refer to for file masks, if any.
    pub empty_files: Vec<OwnedFd>,
    /// The command runs in a new terminal session (bwrap's `--new-session`).
    pub new_session: bool,
    /// The proxies and forwarders, when the sandbox has network allowances to serve.
    pub network: Option<NetworkService>,
    /// What the notification dispatcher checks and reports against, when the plan watches
    /// syscalls.
    pub notify: Option<super::notify::Context>,
}

/// Runs the sandbox to completion.
pub fn run(mut spec: Spec) -> Result<Outcome> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e| Error::io(what, e)
    };
    // Signals arrive through a signalfd; they must be blocked before bwrap exists so none
    // (SIGCHLD included) is lost. bwrap gets the original mask back before exec.
    let mut watched = vec![libc::SIGCHLD, libc::SIGCONT, libc::SIGWINCH];
    watched.extend(FORWARDED_SIGNALS);
    let set = sys::sigset(&watched);
    let original_mask =
        sys::set_sigmask(libc::SIG_BLOCK, &set).map_err(io("cannot block signals"))?;
    let signals = sys::signalfd(&set).map_err(io("cannot create a signalfd"))?;
    spec.plan.ignored_signals = FORWARDED_SIGNALS
        .into_iter()
        .filter(|&s| sys::is_ignored(s))
        .collect();
    // bwrap would die of a terminal's SIGINT and take the sandbox with it: it runs with the
    // forwarded signals ignored (inherited through exec). fence keeps receiving them: they
    // are blocked here, and blocked signals are queued for the signalfd even when ignored.
    // But ignoring a signal discards it if it is already pending: take those first (e.g. a
    // SIGTERM sent right after fence started), for the command.
    let mut queued_signals = Vec::new();
    while let Some((signal, _)) =
        sys::read_signal(signals.as_fd()).map_err(io("cannot read signals"))?
    {
        if FORWARDED_SIGNALS.contains(&signal) && !queued_signals.contains(&signal) {
            queued_signals.push(signal);
        }
    }
    for sig in FORWARDED_SIGNALS {
        sys::set_ignored(sig, true);
    }

    let exe =
        // O_PATH: execution needs no read permission (a 0711 binary still works).
        sys::open_path(c"/proc/self/exe").map_err(io("cannot open fence's own executable"))?;
    let (control, control_child) =
        sys::seqpacket_pair().map_err(io("cannot create the control channel"))?;
    let (err_read, err_write) = sys::pipe().map_err(io("cannot create a pipe"))?;
    // With a pseudo-terminal relay nothing in the sandbox needs the user's terminal, so
    // none of bwrap's processes gets it: stdin and stdout (and stderr, when the command's
    // goes to the pseudo-terminal too) become /dev/null for them.
    let stderr_copy = if spec.plan.pty_stderr {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(io("cannot open /dev/null"))?
    } else {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(io("cannot duplicate stderr"))?
    };
    sys::enable_passcred(control.as_fd()).map_err(io("cannot configure the control channel"))?;

    // The mount arguments, for bwrap only: without bwrap the init would inherit the memfd.
    let args = spec.args.clone();
    let args_file = match spec.bwrap {
        Some(_) => Some(
            memfd_with(c"fence-bwrap-args", &nul_separated(&args))
                .map_err(io("cannot pass bwrap arguments"))?,
        ),
        None => None,
    };

    spec.plan.stderr_fd = stderr_copy.as_raw_fd();
    spec.plan.close_fds = std::iter::once(exe.as_raw_fd())
        .chain(spec.empty_files.iter().map(AsRawFd::as_raw_fd))
        .collect();
    let plan_json = serde_json::to_vec(&spec.plan).expect("plan serializes");
    let plan_file =
        memfd_with(c"fence-plan", &plan_json).map_err(io("cannot pass the sandbox plan"))?;
    sys::send_message(control.as_fd(), b"plan", Some(plan_file.as_raw_fd()))
        .map_err(io("cannot send the sandbox plan"))?;
    drop(plan_file);

    // bwrap inherits exactly these fds: clear FD_CLOEXEC here (fence is single-threaded,
    // so nothing else can spawn meanwhile); they are closed in fence right after the spawn.
    let passed = [&control_child, &stderr_copy];
    for fd in passed
        .into_iter()
        .chain(args_file.as_ref())
        .chain(spec.empty_files.iter())
    {
        sys::set_cloexec(fd.as_raw_fd(), false).map_err(io("cannot pass fds to bwrap"))?;
    }
    sys::set_cloexec(exe.as_raw_fd(), false).map_err(io("cannot pass fds to bwrap"))?;
    let init = format!("/proc/self/fd/{}", exe.as_raw_fd());
    let init_args: [OsString; 3] = [
        init.clone().into(),
        INIT_ARG.into(),
        control_child.as_raw_fd().to_string().into(),
    ];
    let (program, argv): (PathBuf, Vec<OsString>) = match (&spec.bwrap, &args_file) {
        (Some(bwrap), Some(args_file)) => {
            let mut argv: Vec<OsString> = vec![bwrap.clone().into(), "--args".into()];
            argv.push(args_file.as_raw_fd().to_string().into());
            argv.push("--".into());
            argv.extend(init_args);
            (bwrap.clone(), argv)
        }
        _ => (PathBuf::from(init), init_args.to_vec()),
    };
    match &spec.bwrap {
        Some(bwrap) => log::debug!("exec {} {}", bwrap.display(), shell_words(&args)),
        None => log::debug!("no bwrap: starting fence's init directly"),
    }
    let cstrings =
        |list: Vec<Vec<u8>>| sys::c_strings(list).map_err(io("cannot pass arguments to bwrap"));
    let argv = cstrings(argv.into_iter().map(|a| a.into_vec()).collect())?;
    let envp = cstrings(
        spec.env
            .iter()
            .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
            .collect(),
    )?;
    let program_c = std::ffi::CString::new(program.as_os_str().as_bytes())
        .map_err(|_| Error::Setup("the bwrap path contains a NUL byte".into()))?;
    // With a pseudo-terminal, fd 0 is /dev/null (`open` below) and becomes stdout too.
    let dups = [(0, 1), (err_write.as_raw_fd(), libc::STDERR_FILENO)];
    let bwrap_pid = sys::spawn(&sys::Spawn {
        path: &program_c,
        argv: &argv,
        envp: &envp,
        dup2: if spec.plan.pty { &dups } else { &dups[1..] },
        sigmask: &original_mask,
        sigdefault: &sys::spawn_defaults(&[libc::SIGPIPE]),
        // Without bwrap, fence starts the session itself when one is wanted.
        setsid: spec.bwrap.is_none() && spec.new_session,
        open: spec.plan.pty.then_some((0, c"/dev/null")),
    })
    .map_err(|e| Error::Setup(format!("cannot start {}: {e}", program.display())))?;
    drop((
        args_file,
        control_child,
        stderr_copy,
        exe,
        spec.empty_files,
        err_write,
    ));

    let mut sandbox = Sandbox {
        bwrap_pid,
        bwrap_status: None,
        // Without bwrap, fence spawned the init itself and knows its pid already.
        reports: Reports::new(spec.bwrap.is_none().then_some(bwrap_pid), spec.plan.pty)
            .expecting_listener(spec.plan.watch.any()),
        notify: spec.notify,
        warned_ignored: false,
        report: None,
        bwrap_stderr: Vec::new(),
        control,
        err: err_read,
    };
    let terminal = host::Terminal {
        new_session: spec.new_session,
        own_terminal: spec.plan.pty,
    };
    let ended = host::run(
        &mut sandbox,
        &mut SignalFd(signals),
        spec.network,
        terminal,
        queued_signals,
    )?;
    if let Some(signal) = ended.abandoned_by {
        return Ok(Outcome::Signaled(signal));
    }
    sandbox.outcome()
}

/// The signals for the host loop: a signalfd, made while they were blocked, before bwrap.
struct SignalFd(OwnedFd);

impl host::SignalSource for SignalFd {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn next(&mut self) -> std::io::Result<Option<(i32, i32)>> {
        sys::read_signal(self.0.as_fd())
    }
}

/// A running bwrap sandbox, as the host loop sees it.
struct Sandbox {
    bwrap_pid: libc::pid_t,
    bwrap_status: Option<sys::WaitStatus>,
    /// What the init reported so far; it knows the init's pid (on the host). Signals for the
    /// command go to the init, which passes them on.
    reports: Reports,
    /// Whether an ignored report was warned about (once per run).
    warned_ignored: bool,
    /// The command's status (or why it never ran), as the init reported it.
    report: Option<Report>,
    bwrap_stderr: Vec<u8>,
    /// The control channel with the init.
    control: OwnedFd,
    /// bwrap's stderr (a pipe).
    err: OwnedFd,
    /// For the notification dispatcher, until the listener arrives.
    notify: Option<super::notify::Context>,
}

/// The sandbox's sources for the host loop, by index.
const CONTROL: usize = 0;
const BWRAP_STDERR: usize = 1;

impl host::Backend for Sandbox {
    fn sources(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.control.as_fd(), self.err.as_fd()]
    }

    fn on_readable(&mut self, index: usize, actions: &mut Vec<Action>) {
        match index {
            CONTROL => self.on_control(actions),
            BWRAP_STDERR => self.on_stderr(),
            _ => {}
        }
    }

    fn read_reports(&mut self, actions: &mut Vec<Action>) {
        self.on_control(actions);
    }

    fn on_child(&mut self, _: &mut Vec<Action>) -> std::io::Result<bool> {
        if let Some(status) = sys::try_wait(self.bwrap_pid, false)? {
            self.bwrap_status = Some(status);
        }
        Ok(self.bwrap_status.is_some())
    }

    fn started(&self) -> bool {
        self.reports.started()
    }

    fn signal_target(&self) -> Option<libc::pid_t> {
        self.reports.init()
    }

    fn abandon(&mut self) {
        let _ = sys::kill(self.bwrap_pid, libc::SIGKILL);
    }

    fn finish(&mut self) {
        // bwrap is gone, so is the whole sandbox: what the init reported last (its status)
        // and bwrap's last words are still in the pipes.
        self.on_control(&mut Vec::new());
        self.on_stderr();
    }

    fn connect_inside(&self) -> std::io::Result<Option<ConnectInside>> {
        // The proxy asks for connections inside (`-p`) through the init, on its own
        // handle of the control channel.
        let control = self.control.try_clone()?;
        Ok(Some(Box::new(move |id, port, ipv6| {
            let request = HostRequest::Connect { id, port, ipv6 }.to_bytes();
            sys::send_message(control.as_fd(), &request, None)
        })))
    }
}

impl Sandbox {
    fn on_control(&mut self, actions: &mut Vec<Action>) {
        loop {
            let msg = match sys::recv_message(self.control.as_fd(), MAX_REPORT) {
                Ok(Some(msg)) => msg,
                Ok(None) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The sandbox went away without reading the plan (bwrap failed).
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                // Too large: that message is gone (and its fds closed); read on.
                Err(e) if e.kind() == std::io::ErrorKind::Other => {
                    self.ignored_report(&e.to_string());
                    continue;
                }
                Err(e) => {
                    log::warn!("control channel: {e}");
                    return;
                }
            };
            let report = match self.reports.accept(msg.pid, &msg.data) {
                Ok(report) => report,
                Err(why) => {
                    self.ignored_report(&why.to_string());
                    continue;
                }
            };
            match report {
                Report::Hello => {}
                Report::Started => actions.push(Action::Started),
                Report::Pty => match msg.fds.into_iter().next() {
                    Some(master) => actions.push(Action::RelayTerminal(master)),
                    None => log::warn!("the sandbox sent no pseudo-terminal"),
                },
                Report::Listener => match (msg.fds.into_iter().next(), self.notify.take()) {
                    (Some(listener), Some(context)) => {
                        match super::notify::Notifier::new(listener, context, self.reports.init()) {
                            Ok(notifier) => actions.push(Action::Watch(Box::new(notifier))),
                            Err(e) => log::warn!("cannot serve seccomp notifications: {e}"),
                        }
                    }
                    _ => self.ignored_report("a listener report without its fd"),
                },
                Report::Stopped { signal } => {
                    log::debug!("the command stopped (signal {signal}); stopping fence");
                    actions.push(Action::CommandStopped);
                }
                Report::Warning { message } => log::warn!("{message}"),
                Report::Listening { addrs } => actions.push(Action::Listening {
                    addrs,
                    fds: msg.fds,
                }),
                Report::Connected { id } => {
                    if let Some(fd) = msg.fds.into_iter().next() {
                        actions.push(Action::ConnectedInside { id, socket: Ok(fd) });
                    }
                }
                Report::ConnectFailed { id, message } => actions.push(Action::ConnectedInside {
                    id,
                    socket: Err(std::io::Error::other(message)),
                }),
                Report::Note { message } => log::debug!(target: INIT_LOG, "{message}"),
                status @ (Report::Exited { .. }
                | Report::Signaled { .. }
                | Report::ExecFailed { .. }
                | Report::SetupFailed { .. }) => self.report = Some(status),
            }
        }
    }

    /// Untrusted input: said once per run, so a flood cannot fill the terminal.
    fn ignored_report(&mut self, why: &str) {
        if !self.warned_ignored {
            self.warned_ignored = true;
            log::warn!(
                "ignored a report on the sandbox's control channel ({why}); further ones are \
                 ignored silently"
            );
        } else {
            log::debug!("ignored a control report ({why})");
        }
    }

    fn on_stderr(&mut self) {
        if self.reports.started() && self.bwrap_stderr.is_empty() {
            // After the command started, bwrap's own stderr carries only its rare late
            // warnings: pass them through, line by line, escaped (they may name paths).
            // Only bwrap holds this pipe: the init moved the host's stderr over its own fd 2
            // before the command existed.
            let mut buf = Vec::new();
            drain(&self.err, &mut buf);
            for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let line = crate::output::escape_bytes(line);
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        } else {
            drain(&self.err, &mut self.bwrap_stderr);
        }
    }

    fn outcome(self) -> Result<Outcome> {
        match self.report {
            Some(Report::Exited { code }) => return Ok(Outcome::Exited(code)),
            Some(Report::Signaled { signal }) => return Ok(Outcome::Signaled(signal)),
            Some(Report::ExecFailed { code, message }) => {
                return Err(if code == crate::error::EXIT_NOT_FOUND {
                    Error::NotFound(message.trim_end_matches(": command not found").to_string())
                } else {
                    Error::CannotExecute(message)
                });
            }
            Some(Report::SetupFailed { message }) => return Err(Error::Setup(message)),
            _ => {}
        }
        if self.reports.started() {
            // The init itself died (e.g. killed by the OOM killer): bwrap's status is all
            // there is.
            return Ok(match self.bwrap_status {
                Some(sys::WaitStatus::Signaled(s)) => Outcome::Signaled(s),
                Some(sys::WaitStatus::Exited(c)) => Outcome::Exited(c),
                // Waited for without WUNTRACED, bwrap never reports a stop.
                Some(sys::WaitStatus::Stopped(_)) | None => {
                    Outcome::Exited(crate::error::EXIT_FENCE_FAILED)
                }
            });
        }
        let stderr = String::from_utf8_lossy(&self.bwrap_stderr);
        // bwrap's words may quote paths from the configuration: escaped like any text fence
        // did not write.
        let message = crate::output::escape(&diagnose::bwrap_failure(&stderr)).into_owned();
        Err(if diagnose::looks_like_userns_refusal(&stderr) {
            Error::NoNamespaces(message)
        } else {
            Error::Setup(message)
        })
    }
}

fn drain(fd: &OwnedFd, into: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        match sys::read(fd.as_fd(), &mut buf) {
            Ok(0) => return,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return, // WouldBlock: drained for now
        }
    }
}

fn memfd_with(name: &std::ffi::CStr, content: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = sys::memfd(name)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(content)?;
    std::io::Seek::rewind(&mut file)?;
    Ok(file.into())
}

fn nul_separated(args: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

/// Quotes arguments for a copy-pasteable debug line.
pub fn shell_words(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-+,=:@%".contains(&b))
            {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let args: Vec<OsString> = ["--bind", "/a b", "it's", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(shell_words(&args), r#"--bind '/a b' 'it'\''s' ''"#);
    }
}
