//! Running the command under `sandbox-exec`, as a [`Backend`] of the shared host loop.
//!
//! fence spawns `/usr/bin/sandbox-exec -p PROFILE -D NAME=VALUE… -- COMMAND…` itself (no
//! shell), and is the command's parent: `sandbox-exec` applies the profile and execs the
//! command in place. The hooks the loop gets:
//!
//! - **Start.** The child is spawned suspended (`POSIX_SPAWN_START_SUSPENDED`, resumed with
//!   SIGCONT once a kqueue watches it): its next `exec` is `sandbox-exec` becoming the
//!   command, so the profile was accepted ([`Action::Started`]). An exit before that exec is
//!   `sandbox-exec` refusing: exit 125, its own message already on stderr. The executable
//!   was found on the host beforehand (`command.rs`: 127 and 126 as the Linux init says them).
//! - **Process group and job control.** The command runs in a process group of its own, led
//!   by the watcher (below), which becomes the terminal's foreground group when fence owns
//!   the terminal: Ctrl-C and Ctrl-Z reach the command, not fence. When the command stops,
//!   fence takes the terminal back and stops itself ([`Action::CommandStopped`]), so the
//!   user's shell sees the job stop; when fence is continued it gives the terminal back (if
//!   it is in the foreground) and continues the group. Signals that reach fence (sent by a
//!   process, or a terminal's when the command is not in the foreground) are passed on.
//! - **fence's death.** macOS has no `PR_SET_PDEATHSIG`: the watcher, a forked child of
//!   fence in the command's group, waits on a pipe only fence writes; at fence's end, by
//!   any death, it reads end-of-file and kills the group (`sys::start_watcher`). With
//!   `allowPty` the command leads a session on its own pseudo-terminal instead, and fence's
//!   end closes the master: the kernel hangs the session up (SIGHUP).
//! - **Exit.** The command's status as it is (a signal is re-raised by `main`).

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::logstream::LogStream;
use super::sys;
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::host::signal_pipe::SignalPipe;
use crate::host::{self, Action, FORWARDED_SIGNALS, NetworkService};
use crate::proxy::server::ConnectInside;

/// Where macOS keeps it; never looked up on `PATH` (one planted there would run instead).
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// One command to run.
pub struct Launch {
    /// `sandbox-exec` (the tests use a stand-in that ignores the profile).
    pub sandbox_exec: PathBuf,
    /// `-p PROFILE -D NAME=VALUE…`.
    pub profile_args: Vec<OsString>,
    /// The command, its program an absolute path.
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// `allowPty` at a terminal: the command gets a pseudo-terminal of its own.
    pub pty: bool,
    /// … and its stderr goes there too (fence's stderr is the terminal as well).
    pub pty_stderr: bool,
    pub network: Option<NetworkService>,
    /// `-m`: the denials, from `log stream` (in the watcher's group).
    pub log: Option<LogStream>,
    /// Started before anything else of the run (see [`Watcher`]).
    pub watcher: Watcher,
}

/// The watcher of fence's death (`sys::start_watcher`): a forked child of fence leading
/// the process group the command (and `log stream`) run in. Dropping it, or fence's end,
/// lets it kill that group; the drop also reaps it.
pub struct Watcher {
    write: Option<std::os::fd::OwnedFd>,
    /// Its pid, the group's id.
    pub group: libc::pid_t,
}

impl Watcher {
    /// Starts it. Called before fence installs signal handlers or opens the run's fds:
    /// the fork inherits them all.
    pub fn start() -> Result<Watcher> {
        let (read, write) = sys::pipe().map_err(|e| Error::io("cannot create a pipe", e))?;
        let group = sys::start_watcher(&read, &write)
            .map_err(|e| Error::io("cannot start the watcher", e))?;
        Ok(Watcher {
            write: Some(write),
            group,
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Closing the only write end: the watcher reads end-of-file.
        drop(self.write.take());
        let _ = sys::wait(self.group);
    }
}

/// Runs the command to completion.
pub fn run(launch: Launch) -> Result<Outcome> {
    let io = |what: &'static str| move |e| Error::io(what, e);
    // Forwarded signals ignored when fence started stay ignored for the command (`nohup`).
    let forwarded: Vec<libc::c_int> = FORWARDED_SIGNALS
        .into_iter()
        .filter(|&s| !sys::is_ignored(s))
        .collect();
    // SIGTSTP too: a terminal's Ctrl-Z reaches fence only when the command is not in the
    // terminal's foreground; it is passed on, and fence stops when the command does.
    let mut caught = vec![libc::SIGCHLD, libc::SIGCONT, libc::SIGWINCH, libc::SIGTSTP];
    caught.extend(&forwarded);
    let signals = SignalPipe::new(&caught).map_err(io("cannot catch signals"))?;
    let mut argv: Vec<OsString> = vec![launch.sandbox_exec.clone().into_os_string()];
    argv.extend(launch.profile_args.iter().cloned());
    argv.push("--".into());
    argv.extend(launch.argv.iter().cloned());
    let cstrings = |list: Vec<Vec<u8>>| {
        sys::c_strings(list).map_err(|_| Error::Setup("an argument contains a NUL byte".into()))
    };
    let argv = cstrings(argv.iter().map(|a| a.as_bytes().to_vec()).collect())?;
    let envp = cstrings(
        launch
            .env
            .iter()
            .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
            .collect(),
    )?;
    let path = CString::new(launch.sandbox_exec.as_os_str().as_bytes())
        .map_err(|_| Error::Setup("the sandbox-exec path contains a NUL byte".into()))?;
    let mut defaults = forwarded.clone();
    defaults.push(libc::SIGPIPE);
    // fence writes to the terminal while the command's group has it: with `stty tostop`
    // that would stop fence, so SIGTTOU is ignored for the run (the command gets the
    // default back, unless it was ignored when fence started).
    let ttou_ignored = sys::is_ignored(libc::SIGTTOU);
    if !ttou_ignored {
        defaults.push(libc::SIGTTOU);
        sys::set_ignored(libc::SIGTTOU, true);
    }
    let outcome = spawn_and_run(launch, signals, &path, &argv, &envp, &defaults);
    sys::set_ignored(libc::SIGTTOU, ttou_ignored);
    outcome
}

/// The spawn and the loop, with fence's signals set up.
fn spawn_and_run(
    launch: Launch,
    mut signals: SignalPipe,
    path: &CString,
    argv: &[CString],
    envp: &[CString],
    defaults: &[libc::c_int],
) -> Result<Outcome> {
    let io = |what: &'static str| move |e| Error::io(what, e);
    let group = launch.watcher.group;
    let pty = if launch.pty {
        Some(sys::open_pty().map_err(io("cannot open a pseudo-terminal"))?)
    } else {
        None
    };
    let pty_dups: &[(i32, i32)] = if launch.pty_stderr {
        &[(0, 1), (0, 2)]
    } else {
        &[(0, 1)]
    };
    let stdin = std::io::stdin();
    // The terminal goes to the command's group when fence has it (fence is in the
    // foreground of the terminal on its stdin).
    let take_terminal = !launch.pty
        && sys::is_tty(stdin.as_fd())
        && sys::foreground_group(stdin.as_fd()) == Some(sys::getpgrp());
    let pid = sys::spawn_with(
        &sys::Spawn {
            path,
            argv,
            envp,
            dup2: if pty.is_some() { pty_dups } else { &[] },
            sigmask: &sys::sigset(&[]),
            sigdefault: &sys::sigset(defaults),
            setsid: pty.is_some(),
            open: pty.as_ref().map(|(_, slave)| (0, slave.as_c_str())),
        },
        &sys::SpawnMore {
            // With a pseudo-terminal the command leads a session (and group) of its own.
            pgroup: (!launch.pty).then_some(group),
            start_suspended: true,
        },
    )
    .map_err(|e| {
        Error::Setup(format!(
            "cannot start {}: {e}",
            crate::output::path(&launch.sandbox_exec)
        ))
    })?;
    let mut child = Child {
        pid,
        group: if launch.pty { pid } else { group },
        started: false,
        status: None,
        terminal: take_terminal,
        #[cfg(target_vendor = "apple")]
        exec_watch: None,
        log: launch.log,
        first: Vec::new(),
    };
    if take_terminal {
        if let Err(e) = sys::set_foreground_group(stdin.as_fd(), child.group) {
            log::debug!("cannot give the terminal to the command: {e}");
            child.terminal = false;
        }
    }
    if let Err(e) = child.watch_start() {
        // Still suspended (and, with a pseudo-terminal, outside the watcher's group).
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait(pid);
        if child.terminal {
            let _ = sys::set_foreground_group(stdin.as_fd(), sys::getpgrp());
        }
        return Err(e);
    }
    if child.started {
        child.first.push(Action::Started);
    }
    if let Some((master, _)) = pty {
        child.first.push(Action::RelayTerminal(master));
    }
    let terminal = host::Terminal {
        // The command is never in fence's process group: whatever signal reaches fence,
        // the command did not get.
        new_session: true,
        own_terminal: launch.pty,
    };
    let ended = host::run(
        &mut child,
        &mut signals,
        launch.network,
        terminal,
        Vec::new(),
    );
    // Whatever happened, the terminal returns to fence's group before fence says more.
    if child.terminal && sys::foreground_group(stdin.as_fd()) == Some(child.group) {
        let _ = sys::set_foreground_group(stdin.as_fd(), sys::getpgrp());
    }
    drop(signals);
    // The watcher kills what is left in its group (`log stream` included), then itself.
    drop(launch.watcher);
    let ended = ended?;
    if let Some(signal) = ended.abandoned_by {
        return Ok(Outcome::Signaled(signal));
    }
    child.outcome(&launch.sandbox_exec)
}

/// The spawned `sandbox-exec`, then the command, as the host loop sees it.
struct Child {
    pid: libc::pid_t,
    /// The process group signals for the whole command go to.
    group: libc::pid_t,
    /// `sandbox-exec` became the command.
    started: bool,
    status: Option<sys::WaitStatus>,
    /// fence gave the terminal to the command's group.
    terminal: bool,
    #[cfg(target_vendor = "apple")]
    exec_watch: Option<sys::ExecWatch>,
    log: Option<LogStream>,
    /// For [`host::Backend::first_actions`].
    first: Vec<Action>,
}

impl Child {
    /// Watches for the exec into the command, then lets the suspended child run.
    #[cfg(target_vendor = "apple")]
    fn watch_start(&mut self) -> Result<()> {
        let watch = sys::ExecWatch::new(self.pid)
            .map_err(|e| Error::io("cannot watch the sandbox's start", e))?;
        self.exec_watch = Some(watch);
        sys::kill(self.pid, libc::SIGCONT).map_err(|e| Error::io("cannot start the sandbox", e))
    }

    /// Elsewhere (the tests' stand-in) there is no exec to watch: started at once.
    #[cfg(not(target_vendor = "apple"))]
    fn watch_start(&mut self) -> Result<()> {
        self.started = true;
        Ok(())
    }

    fn check_started(&mut self, actions: &mut Vec<Action>) {
        #[cfg(target_vendor = "apple")]
        if !self.started {
            if let Some(watch) = &self.exec_watch {
                match watch.exec_seen() {
                    Ok(true) => {
                        self.started = true;
                        actions.push(Action::Started);
                    }
                    Ok(false) => {}
                    Err(e) => log::debug!("kqueue: {e}"),
                }
            }
        }
        let _ = actions;
    }

    fn outcome(self, sandbox_exec: &std::path::Path) -> Result<Outcome> {
        let status = self.status;
        match (self.started, status) {
            (true, Some(sys::WaitStatus::Exited(code))) => Ok(Outcome::Exited(code)),
            (true, Some(sys::WaitStatus::Signaled(signal))) => Ok(Outcome::Signaled(signal)),
            (false, Some(sys::WaitStatus::Signaled(signal))) => Ok(Outcome::Signaled(signal)),
            (false, Some(sys::WaitStatus::Exited(code))) => Err(Error::Setup(format!(
                "{} refused to run the command (exit status {code}); its message, if any, \
                 is above",
                crate::output::path(sandbox_exec)
            ))),
            _ => Err(Error::Setup("the sandbox ended without a status".into())),
        }
    }
}

impl host::Backend for Child {
    fn first_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.first)
    }

    fn sources(&self) -> Vec<BorrowedFd<'_>> {
        let mut sources = Vec::new();
        #[cfg(target_vendor = "apple")]
        if let Some(watch) = &self.exec_watch {
            sources.push(watch.fd());
        }
        if let Some(log) = &self.log {
            sources.push(log.fd());
        }
        sources
    }

    fn on_readable(&mut self, index: usize, actions: &mut Vec<Action>) {
        // Which source it was matters little: both are read until they would block.
        let _ = index;
        self.check_started(actions);
        if let Some(log) = self.log.as_mut() {
            log.on_readable();
        }
    }

    fn read_reports(&mut self, actions: &mut Vec<Action>) {
        self.check_started(actions);
    }

    fn on_child(&mut self, actions: &mut Vec<Action>) -> std::io::Result<bool> {
        self.check_started(actions);
        loop {
            match sys::try_wait(self.pid, true)? {
                None => return Ok(false),
                // The suspended start looks like a stop: SIGCONT follows already.
                Some(sys::WaitStatus::Stopped(_)) if !self.started => continue,
                Some(sys::WaitStatus::Stopped(signal)) => {
                    log::debug!("the command stopped (signal {signal}); stopping fence");
                    let stdin = std::io::stdin();
                    if self.terminal && sys::foreground_group(stdin.as_fd()) == Some(self.group) {
                        let _ = sys::set_foreground_group(stdin.as_fd(), sys::getpgrp());
                    }
                    actions.push(Action::CommandStopped);
                    return Ok(false);
                }
                Some(status) => {
                    self.status = Some(status);
                    return Ok(true);
                }
            }
        }
    }

    fn on_continue(&mut self) {
        if !self.started || self.status.is_some() {
            return;
        }
        // The terminal goes back to the command only if fence is in the foreground (`fg`,
        // not `bg`).
        let stdin = std::io::stdin();
        if self.terminal && sys::foreground_group(stdin.as_fd()) == Some(sys::getpgrp()) {
            let _ = sys::set_foreground_group(stdin.as_fd(), self.group);
        }
        let _ = sys::kill(-self.group, libc::SIGCONT);
    }

    fn started(&self) -> bool {
        self.started
    }

    fn signal_target(&self) -> Option<libc::pid_t> {
        self.started.then_some(self.pid)
    }

    fn abandon(&mut self) {
        let _ = sys::kill(-self.group, libc::SIGKILL);
        let _ = sys::kill(self.pid, libc::SIGKILL);
    }

    fn finish(&mut self) {
        if let Some(log) = self.log.as_mut() {
            log.finish();
        }
    }

    fn connect_inside(&self) -> std::io::Result<Option<ConnectInside>> {
        // No network namespace: `-p` is the command's own listening socket.
        Ok(None)
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
