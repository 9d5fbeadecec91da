//! The host side of a Linux sandbox run: spawn bwrap, then one mio loop over the signal
//! fd, the control channel and bwrap's stderr, until bwrap is gone.
//!
//! The command's status comes from the init over the control channel, which tells a
//! command's `exit 1` from bwrap failing (no `Started` report) and `kill -9` from `exit 137`
//! exactly. bwrap's `--json-status-fd` cannot do the latter, and measured 0.35 ms per run
//! (it stats every namespace), so it is not used.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::control::{HostRequest, INIT_ARG, InitPlan, MAX_REPORT, Report, Reports};
use super::init::{self, FORWARDED_SIGNALS};
use super::network::NetworkService;
use super::relay::Relay;
use super::{diagnose, sys};
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::proxy::server::Proxy;

const SIGNALS: Token = Token(0);
const CONTROL: Token = Token(1);
const BWRAP_STDERR: Token = Token(2);
const STDIN: Token = Token(3);
const PTY_MASTER: Token = Token(4);

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
    sys::send_message(control.as_raw_fd(), b"plan", Some(plan_file.as_raw_fd()))
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

    let mut loop_state = Session {
        bwrap_pid,
        new_session: spec.new_session,
        // Without bwrap, fence spawned the init itself and knows its pid already.
        reports: Reports::new(spec.bwrap.is_none().then_some(bwrap_pid), spec.plan.pty),
        queued_signals,
        own_terminal: spec.plan.pty,
        ..Session::default()
    };
    loop_state.run(&signals, &control, &err_read, spec.network)?;
    loop_state.outcome()
}

/// The log target of the init's notes (they are the init's, relayed by the host).
pub const INIT_LOG: &str = "fence::linux::init";

#[derive(Default)]
struct Session {
    bwrap_pid: libc::pid_t,
    new_session: bool,
    bwrap_status: Option<sys::WaitStatus>,
    /// What the init reported so far; it knows the init's pid (on the host). Signals for the
    /// command go to the init, which passes them on.
    reports: Reports,
    /// Forwarded signals that arrived before the command started, delivered once it has.
    queued_signals: Vec<i32>,
    /// The command runs on a pseudo-terminal of its own (`allowPty`): no signal of the
    /// user's terminal reaches it directly.
    own_terminal: bool,
    /// The same signal arrived twice before the command started (a second Ctrl-C while the
    /// sandbox was still being set up): the sandbox was torn down, fence dies of it.
    abandoned_by: Option<i32>,
    /// Whether an ignored report was warned about (once per run).
    warned_ignored: bool,
    /// The command's status (or why it never ran), as the init reported it.
    report: Option<Report>,
    bwrap_stderr: Vec<u8>,
    /// The PTY relay, once the init passed the master (`allowPty`).
    relay: Option<Relay>,
    stdin_registered: bool,
    master_interest: Option<Interest>,
    proxy: Option<Proxy>,
}

impl Session {
    fn run(
        &mut self,
        signals: &OwnedFd,
        control: &OwnedFd,
        err: &OwnedFd,
        network: Option<NetworkService>,
    ) -> Result<()> {
        let io = |e| Error::io("event loop", e);
        let mut poll = Poll::new().map_err(io)?;
        for (fd, token) in [(signals, SIGNALS), (control, CONTROL), (err, BWRAP_STDERR)] {
            sys::set_nonblocking(fd.as_fd()).map_err(io)?;
            poll.registry()
                .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
                .map_err(io)?;
        }
        if let Some(network) = network {
            let mut proxy = Proxy::new(
                poll.registry(),
                network.policy,
                network.events,
                network.inside_roles,
            )
            .map_err(|e| Error::io("cannot start the proxy", e))?;
            // The proxy asks for connections inside (`-p`) through the init.
            let control_fd = control.as_raw_fd();
            proxy.set_connect_inside(Box::new(move |id, port, ipv6| {
                let request = HostRequest::Connect { id, port, ipv6 }.to_bytes();
                sys::send_message(control_fd, &request, None)
            }));
            for (fd, role) in network.host_listeners {
                proxy
                    .add_listener(poll.registry(), fd, role)
                    .map_err(|e| Error::io("cannot serve a listening socket", e))?;
            }
            self.proxy = Some(proxy);
        }
        let mut events = Events::with_capacity(256);
        while self.bwrap_status.is_none() {
            let timeout = self.proxy.as_ref().and_then(Proxy::timeout);
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            }
            for event in &events {
                match event.token() {
                    token if Proxy::owns(token) => {
                        if let Some(proxy) = self.proxy.as_mut() {
                            proxy.on_event(poll.registry(), token);
                        }
                    }
                    SIGNALS => {
                        // A `Started` already sent decides whether a terminal's signal
                        // reached the command too: read it first.
                        if !self.reports.started() {
                            self.on_control(control, poll.registry());
                        }
                        self.on_signals(signals)?
                    }
                    CONTROL => self.on_control(control, poll.registry()),
                    BWRAP_STDERR => self.on_stderr(err),
                    STDIN => self.relay.as_mut().map_or((), Relay::on_stdin),
                    PTY_MASTER => {
                        if let Some(relay) = self.relay.as_mut() {
                            relay.on_master();
                            relay.flush_to_master();
                        }
                    }
                    _ => {}
                }
            }
            if let Some(proxy) = self.proxy.as_mut() {
                proxy.on_timers(poll.registry());
            }
            self.sync_relay(&poll).map_err(io)?;
        }
        // bwrap is gone, so is the whole sandbox: collect what is left in the pipes.
        self.on_control(control, poll.registry());
        self.on_stderr(err);
        if let Some(relay) = self.relay.as_mut() {
            relay.on_master();
        }
        Ok(())
    }

    /// Keeps the relay's fds registered for what it can do now: terminal input only while
    /// the master has taken the previous input, master writability only while input waits.
    fn sync_relay(&mut self, poll: &Poll) -> std::io::Result<()> {
        let Some(relay) = &self.relay else {
            return Ok(());
        };
        let registry = poll.registry();
        let want_stdin = relay.wants_stdin();
        if want_stdin != self.stdin_registered {
            if want_stdin {
                registry.register(&mut SourceFd(&0), STDIN, Interest::READABLE)?;
            } else {
                registry.deregister(&mut SourceFd(&0))?;
            }
            self.stdin_registered = want_stdin;
        }
        let interest = if relay.wants_to_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let master = relay.master_fd();
        match self.master_interest {
            None => registry.register(&mut SourceFd(&master), PTY_MASTER, interest)?,
            Some(current) if current != interest => {
                registry.reregister(&mut SourceFd(&master), PTY_MASTER, interest)?
            }
            Some(_) => {}
        }
        self.master_interest = Some(interest);
        Ok(())
    }

    fn on_signals(&mut self, fd: &OwnedFd) -> Result<()> {
        while let Some((signal, code)) =
            sys::read_signal(fd.as_fd()).map_err(|e| Error::io("reading signals", e))?
        {
            if signal == libc::SIGWINCH {
                if let Some(relay) = &self.relay {
                    relay.resize();
                }
                continue;
            }
            if signal == libc::SIGCONT {
                if let Some(relay) = self.relay.as_mut() {
                    relay.enter_raw_mode();
                    relay.resize();
                }
            }
            if signal == libc::SIGCHLD {
                if let Some(status) = sys::try_wait(self.bwrap_pid, false)
                    .map_err(|e| Error::io("waiting for bwrap", e))?
                {
                    self.bwrap_status = Some(status);
                }
                continue;
            }
            // Before the command exists, a signal is kept for it: it is delivered right
            // after the start (the command missed even a terminal's, which reached only
            // fence, bwrap and the init).
            // The same signal again means "stop now": a setup that hangs stays
            // interruptible.
            if !self.reports.started() {
                if self.queued_signals.contains(&signal) {
                    self.abandoned_by.get_or_insert(signal);
                    let _ = sys::kill(self.bwrap_pid, libc::SIGKILL);
                } else {
                    self.queued_signals.push(signal);
                }
                continue;
            }
            // A terminal's signal (Ctrl-C, Ctrl-\, hangup) went to its whole foreground
            // process group, the command included, unless the command runs in a session of
            // its own (a new session, or its own pseudo-terminal with allowPty): pass on only
            // what the command would otherwise miss.
            let from_terminal = !init::sent_by_a_process(code);
            if from_terminal && !self.new_session && !self.own_terminal {
                continue;
            }
            self.forward(signal);
        }
        Ok(())
    }

    /// Passes `signal` to the init, which passes it on to the command.
    fn forward(&self, signal: i32) {
        if let Some(pid) = self.reports.init() {
            // The command may already be gone; that race is harmless.
            let _ = sys::kill(pid, signal);
        }
    }

    fn on_control(&mut self, control: &OwnedFd, registry: &mio::Registry) {
        loop {
            let msg = match sys::recv_message(control.as_fd(), MAX_REPORT) {
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
                Report::Started => {
                    for signal in std::mem::take(&mut self.queued_signals) {
                        self.forward(signal);
                    }
                }
                Report::Pty => match msg.fds.into_iter().next().map(Relay::start) {
                    Some(Ok(relay)) => self.relay = Some(relay),
                    Some(Err(e)) => log::warn!("cannot relay the terminal: {e}"),
                    None => log::warn!("the sandbox sent no pseudo-terminal"),
                },
                Report::Stopped { signal } => {
                    log::debug!("the command stopped (signal {signal}); stopping fence");
                    // Like a shell's child: the user's shell sees fence stop and takes the
                    // terminal back; its SIGCONT is passed on when the job resumes.
                    if let Some(relay) = self.relay.as_mut() {
                        relay.leave_raw_mode();
                    }
                    sys::stop_self();
                }
                Report::Warning { message } => log::warn!("{message}"),
                Report::Listening { addrs } => {
                    if let Some(proxy) = self.proxy.as_mut() {
                        proxy.add_sandbox_listeners(registry, &addrs, msg.fds);
                    }
                }
                Report::Connected { id } => {
                    if let (Some(proxy), Some(fd)) =
                        (self.proxy.as_mut(), msg.fds.into_iter().next())
                    {
                        proxy.inside_connected(registry, id, Ok(fd));
                    }
                }
                Report::ConnectFailed { id, message } => {
                    if let Some(proxy) = self.proxy.as_mut() {
                        proxy.inside_connected(registry, id, Err(std::io::Error::other(message)));
                    }
                }
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

    fn on_stderr(&mut self, err: &OwnedFd) {
        if self.reports.started() && self.bwrap_stderr.is_empty() {
            // After the command started, bwrap's own stderr carries only its rare late
            // warnings: pass them through, line by line, escaped (they may name paths).
            // Only bwrap holds this pipe: the init moved the host's stderr over its own fd 2
            // before the command existed.
            let mut buf = Vec::new();
            drain(err, &mut buf);
            for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let line = crate::output::escape_bytes(line);
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        } else {
            drain(err, &mut self.bwrap_stderr);
        }
    }

    fn outcome(self) -> Result<Outcome> {
        if let (Some(signal), false) = (self.abandoned_by, self.reports.started()) {
            return Ok(Outcome::Signaled(signal));
        }
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
        match sys::read(fd.as_raw_fd(), &mut buf) {
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
