//! A Linux sandbox run on the host: spawn bwrap (or, in reduced isolation, the init
//! directly), then hand the host loop ([`crate::host`]) its hooks: the control channel
//! with the init and bwrap's stderr to watch, the init's reports turned into actions, bwrap's
//! exit as the end of the sandbox.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::control::{HostRequest, InitPlan, MAX_REPORT, Report, Reports};
use super::launch::Launch;
use super::{diagnose, sys};
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::host::{self, Action, NetworkService};
use crate::proxy::server::ConnectInside;

/// The log target of the init's notes (they are the init's, relayed by the host).
pub const INIT_LOG: &str = "fence::linux::init";

/// Everything needed to run one sandbox, once its first process is started
/// ([`super::launch::Launch`]).
pub struct Spec {
    /// Namespace and mount arguments (written to bwrap through `--args FD`).
    pub args: Vec<OsString>,
    /// The plan for the init; fd fields are filled in by the launch.
    pub plan: InitPlan,
    /// The command's complete environment (bwrap gets none).
    pub env: Vec<(OsString, OsString)>,
    /// The command runs in a new terminal session (bwrap's `--new-session`).
    pub new_session: bool,
    /// The proxies and forwarders, when the sandbox has network allowances to serve.
    pub network: Option<NetworkService>,
    /// What the notification dispatcher checks and reports against, when the plan watches
    /// syscalls.
    pub notify: Option<super::notify::Context>,
}

/// Runs the sandbox that `launch` started to completion.
pub fn run(mut spec: Spec, mut launch: Launch) -> Result<Outcome> {
    match launch.bwrap() {
        Some(bwrap) => log::debug!("exec {} {}", bwrap.display(), shell_words(&spec.args)),
        None => log::debug!("no bwrap: starting fence's init directly"),
    }
    launch.deliver(&spec.args, &mut spec.plan, &spec.env)?;
    let running = launch.into_running();
    let mut sandbox = Sandbox {
        bwrap_pid: running.pid,
        bwrap_status: None,
        // Without bwrap, fence spawned the init itself and knows its pid already.
        reports: Reports::new((!running.bwrap).then_some(running.pid), spec.plan.pty)
            .expecting_listener(spec.plan.watch.any()),
        notify: spec.notify,
        warned_ignored: false,
        report: None,
        bwrap_stderr: Vec::new(),
        control: running.control,
        err: running.err,
    };
    let terminal = host::Terminal {
        new_session: spec.new_session,
        own_terminal: spec.plan.pty,
    };
    let ended = host::run(
        &mut sandbox,
        &mut SignalFd(running.signals),
        spec.network,
        terminal,
        running.queued_signals,
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
