//! Starting the sandbox's first process: bwrap, or, in reduced isolation, fence's init.
//!
//! bwrap is started before fence knows the mount plan: it is given `--args` on a pipe and
//! does its own start (exec, the dynamic loader, its checks; about 0.75 ms on the
//! development VM) while fence compiles the policy, scans for host sockets and writes the
//! plan, so that the two starts can overlap. They do when the kernel runs them on two
//! CPUs. On the 2-CPU VM it mostly does not: the spawn's wake-up puts fence back on bwrap's
//! CPU (sched tracepoints: one CPU in all of 39 runs; in 30 fence resumed 0.64-0.88 ms after
//! bwrap's exec, once bwrap blocked on the pipe, in the other 9 bwrap's exec waited for
//! fence instead). Moving bwrap to another CPU
//! before its exec was measured too (`sched_setaffinity` in the child, then the caller's
//! affinity back): bwrap's namespaces were ready 0.68 ms sooner in back-to-back runs (the
//! whole run 0.15-0.29 ms), but nothing was gained in interleaved runs, so it is not done.
//!
//! What must be fixed at the spawn, and is: bwrap's argv (`--args FD -- INIT ARG FD`), the
//! fds it inherits (the control channel, fence's stderr, fence's executable, the args pipe
//! and a set of empty files for masks), its stdio (a pseudo-terminal run gives it
//! /dev/null) and its signal state. Everything else travels later: the mount arguments on
//! the pipe, then the init's plan and the command's environment on the control channel.
//! bwrap itself gets an empty environment.
//!
//! Invariants:
//! - Nothing runs before the plan: the args are written in full and the pipe closed before
//!   the plan is sent, and the init runs nothing without a plan. If fence dies before that,
//!   bwrap reads a short (or empty) argument list and starts an init that finds the control
//!   channel closed and exits: a partial mount plan never gets a command.
//! - A launch that is not used is killed (SIGKILL while bwrap waits on the pipe) and
//!   reaped when dropped.
//! - bwrap is started early only from a trusted location (see [`super::BwrapOrigin`]): one
//!   found on `PATH` is checked against the policy first, so it is started the usual way.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::control::{INIT_ARG, InitPlan};
use super::sys;
use crate::error::{Error, Result};
use crate::host::FORWARDED_SIGNALS;

/// Empty files made ready for an early bwrap: a plan needing more starts a bwrap of its
/// own (bwrap closes each fd after one use, and fds cannot be added after the spawn).
pub const EARLY_EMPTY_FILES: usize = 16;

/// How the first process is started.
pub struct Options {
    /// The command runs on a pseudo-terminal: bwrap's stdin and stdout are /dev/null, and
    /// so is its stderr copy for the command when `pty_stderr`.
    pub pty: bool,
    pub pty_stderr: bool,
    /// Empty files to pass for masks.
    pub empty_files: usize,
    /// Start a new session (only without bwrap, which has `--new-session` for it).
    pub setsid: bool,
}

/// A started bwrap (or init) that waits for its plan.
pub struct Launch {
    bwrap: Option<PathBuf>,
    pid: libc::pid_t,
    /// The write end of bwrap's `--args` pipe.
    args: Option<OwnedFd>,
    /// What the host loop takes over ([`Launch::into_running`]).
    running: Option<Running>,
    ignored_signals: Vec<i32>,
    /// Numbers of the fds the first process inherited (the same in it as they were here).
    stderr_fd: RawFd,
    exe_fd: RawFd,
    empty_fds: Vec<RawFd>,
    restore_nofile: Option<u64>,
    pty: (bool, bool),
    /// Killed when dropped, until the plan has gone out.
    armed: bool,
}

/// The launched process as the host loop watches it.
pub struct Running {
    pub pid: libc::pid_t,
    /// Whether it is bwrap (else the init itself, whose pid is then known).
    pub bwrap: bool,
    pub control: OwnedFd,
    /// bwrap's stderr (a pipe), or the init's before it takes fence's back.
    pub err: OwnedFd,
    pub signals: OwnedFd,
    /// Signals that were pending when fence started ignoring them, for the command.
    pub queued_signals: Vec<i32>,
}

/// The signal mask fence started with and the forwarded signals it found ignored (e.g.
/// SIGHUP under nohup), both taken before the first launch blocked and ignored them: a
/// second launch (an early one unused, a retry) must not take its own doing for the user's.
static SIGNALS_AT_START: OnceLock<(libc::sigset_t, Vec<i32>)> = OnceLock::new();

/// Signals pending when fence started ignoring them, for the command, whichever launch
/// runs it.
static QUEUED_SIGNALS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

impl Launch {
    /// Starts bwrap (`Some`) or the init directly (`None`), waiting for its plan.
    pub fn start(bwrap: Option<&Path>, opts: Options) -> Result<Launch> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e| Error::io(what, e)
        };
        // Signals arrive through a signalfd; they must be blocked before bwrap exists so
        // none (SIGCHLD included) is lost. bwrap gets the original mask back before exec.
        let mut watched = vec![libc::SIGCHLD, libc::SIGCONT, libc::SIGWINCH];
        watched.extend(FORWARDED_SIGNALS);
        let set = sys::sigset(&watched);
        let before = sys::set_sigmask(libc::SIG_BLOCK, &set).map_err(io("cannot block signals"))?;
        let (original_mask, ignored_signals) = SIGNALS_AT_START
            .get_or_init(|| {
                let ignored = FORWARDED_SIGNALS
                    .into_iter()
                    .filter(|&s| sys::is_ignored(s))
                    .collect();
                (before, ignored)
            })
            .clone();
        let signals = sys::signalfd(&set).map_err(io("cannot create a signalfd"))?;
        // bwrap would die of a terminal's SIGINT and take the sandbox with it: it runs with
        // the forwarded signals ignored (inherited through exec). fence keeps receiving
        // them: they are blocked here, and blocked signals are queued for the signalfd even
        // when ignored. But ignoring a signal discards it if it is already pending: take
        // those first (e.g. a SIGTERM sent right after fence started), for the command.
        let mut queued_signals = QUEUED_SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((signal, _)) =
            sys::read_signal(signals.as_fd()).map_err(io("cannot read signals"))?
        {
            if FORWARDED_SIGNALS.contains(&signal) && !queued_signals.contains(&signal) {
                queued_signals.push(signal);
            }
        }
        drop(queued_signals);
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
        // none of bwrap's processes gets it: stdin and stdout (and stderr, when the
        // command's goes to the pseudo-terminal too) become /dev/null for them.
        let stderr_copy = if opts.pty_stderr {
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
        sys::enable_passcred(control.as_fd())
            .map_err(io("cannot configure the control channel"))?;
        // The mount arguments, for bwrap only (on a pipe: they are written once known).
        let (args_read, args_write) = match bwrap {
            Some(_) => {
                let (r, w) = sys::pipe().map_err(io("cannot create a pipe"))?;
                (Some(r), Some(w))
            }
            None => (None, None),
        };
        let restore_nofile = make_room_for_fds(opts.empty_files)?;
        let empty_files = empty_fds(opts.empty_files)?;

        // The first process inherits exactly these fds: clear FD_CLOEXEC here (fence is
        // single-threaded, so nothing else can spawn meanwhile); fence closes its copies
        // right after the spawn.
        let passed = [&control_child, &stderr_copy, &exe];
        for fd in passed
            .into_iter()
            .chain(args_read.as_ref())
            .chain(empty_files.iter())
        {
            sys::set_cloexec(fd.as_raw_fd(), false).map_err(io("cannot pass fds to bwrap"))?;
        }
        let init = format!("/proc/self/fd/{}", exe.as_raw_fd());
        let init_args: [OsString; 3] = [
            init.clone().into(),
            INIT_ARG.into(),
            control_child.as_raw_fd().to_string().into(),
        ];
        let (program, argv): (PathBuf, Vec<OsString>) = match (bwrap, &args_read) {
            (Some(bwrap), Some(args)) => {
                let mut argv: Vec<OsString> = vec![bwrap.into(), "--args".into()];
                argv.push(args.as_raw_fd().to_string().into());
                argv.push("--".into());
                argv.extend(init_args);
                (bwrap.to_path_buf(), argv)
            }
            _ => (PathBuf::from(init), init_args.to_vec()),
        };
        let argv = sys::c_strings(argv.into_iter().map(OsString::into_vec).collect::<Vec<_>>())
            .map_err(io("cannot pass arguments to bwrap"))?;
        let program_c = std::ffi::CString::new(program.as_os_str().as_bytes())
            .map_err(|_| Error::Setup("the bwrap path contains a NUL byte".into()))?;
        // With a pseudo-terminal, fd 0 is /dev/null (`open` below) and becomes stdout too.
        let dups = [(0, 1), (err_write.as_raw_fd(), libc::STDERR_FILENO)];
        let pid = sys::spawn(&sys::Spawn {
            path: &program_c,
            argv: &argv,
            // Nothing for bwrap: the command's environment goes to the init with its plan.
            envp: &sys::c_strings(Vec::<Vec<u8>>::new()).map_err(io("cannot start bwrap"))?,
            dup2: if opts.pty { &dups } else { &dups[1..] },
            sigmask: &original_mask,
            sigdefault: &sys::spawn_defaults(&[libc::SIGPIPE]),
            setsid: opts.setsid,
            open: opts.pty.then_some((0, c"/dev/null")),
        })
        .map_err(|e| Error::Setup(format!("cannot start {}: {e}", program.display())))?;
        Ok(Launch {
            bwrap: bwrap.map(Path::to_path_buf),
            pid,
            args: args_write,
            running: Some(Running {
                pid,
                bwrap: bwrap.is_some(),
                control,
                err: err_read,
                signals,
                queued_signals: Vec::new(),
            }),
            ignored_signals,
            stderr_fd: stderr_copy.as_raw_fd(),
            exe_fd: exe.as_raw_fd(),
            empty_fds: empty_files.iter().map(AsRawFd::as_raw_fd).collect(),
            restore_nofile,
            pty: (opts.pty, opts.pty_stderr),
            armed: true,
        })
        // Here fence's copies of the inherited fds close (control_child, stderr_copy, exe,
        // the pipes' child ends, the empty files).
    }

    /// The started process's pid.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The bwrap this launch started (None: the init itself).
    pub fn bwrap(&self) -> Option<&Path> {
        self.bwrap.as_deref()
    }

    /// Whether this launch can carry a plan with `empty_uses` empty-file mounts and these
    /// terminal settings.
    pub fn fits(&self, empty_uses: usize, pty: bool, pty_stderr: bool) -> bool {
        empty_uses <= self.empty_fds.len() && self.pty == (pty, pty_stderr)
    }

    /// The empty files' fd numbers in bwrap, for `bwrap::assign_empty_fds`.
    pub fn empty_fds(&self) -> &[RawFd] {
        &self.empty_fds
    }

    /// Sends the first process its plan: the mount arguments (bwrap) in full, then the
    /// init's plan, with the fds it inherited filled in, and the command's environment.
    /// If bwrap is already gone, the host loop reports why.
    pub(super) fn deliver(
        &mut self,
        args: &[OsString],
        plan: &mut InitPlan,
        env: &[(OsString, OsString)],
    ) -> Result<()> {
        if let Some(pipe) = self.args.take() {
            let args = nul_separated(args);
            // bwrap reads them all first; a pipe that holds them all means fence is never
            // held here by a bwrap that does not read (a FENCE_BWRAP wrapper, say). A
            // pipe that cannot grow just makes the write wait for the reader.
            if args.len() > 64 * 1024 {
                let size = args.len().min(crate::proxy::sys::pipe_max_size());
                let _ = crate::proxy::sys::set_pipe_size(&pipe, size);
            }
            let mut pipe = std::fs::File::from(pipe);
            match std::io::Write::write_all(&mut pipe, &args) {
                Ok(()) => {}
                // bwrap died before reading: its stderr says why.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) => return Err(Error::io("cannot pass bwrap arguments", e)),
            }
        }
        plan.stderr_fd = self.stderr_fd;
        plan.close_fds = std::iter::once(self.exe_fd)
            .chain(self.empty_fds.iter().copied())
            .collect();
        plan.ignored_signals.clone_from(&self.ignored_signals);
        plan.restore_nofile = self.restore_nofile;
        let mut content = serde_json::to_vec(&*plan).expect("plan serializes");
        // JSON escapes control characters, so the first NUL ends it.
        content.push(0);
        for (k, v) in env {
            content.extend_from_slice(k.as_bytes());
            content.push(b'=');
            content.extend_from_slice(v.as_bytes());
            content.push(0);
        }
        let plan_file = memfd_with(c"fence-plan", &content)
            .map_err(|e| Error::io("cannot pass the sandbox plan", e))?;
        if let Some(running) = &self.running {
            let sent = sys::send_message(
                running.control.as_fd(),
                b"plan",
                Some(plan_file.as_raw_fd()),
            );
            match sent {
                // A dead peer: the host loop sees bwrap's exit and reports it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {}
                // Anything else would leave the init waiting for a plan that never comes
                // (and this launch, still armed, is killed when dropped).
                Err(e) => return Err(Error::io("cannot send the sandbox plan", e)),
                Ok(()) => {}
            }
        }
        self.armed = false;
        Ok(())
    }

    /// What the host loop watches, once the plan is delivered.
    pub(super) fn into_running(mut self) -> Running {
        debug_assert!(!self.armed, "the plan is delivered first");
        let mut running = self.running.take().expect("taken once");
        running.queued_signals =
            std::mem::take(&mut *QUEUED_SIGNALS.lock().unwrap_or_else(|e| e.into_inner()));
        running
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if self.armed {
            // Waiting on its pipe, it has done nothing yet.
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::wait(self.pid);
            // The next launch measures the limit afresh.
            if let Some(soft) = self.restore_nofile {
                let _ = sys::set_nofile_soft(soft);
            }
        }
    }
}

pub(super) fn memfd_with(name: &std::ffi::CStr, content: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = sys::memfd(name)?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, content)?;
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

/// `count` fds of one empty memfd.
fn empty_fds(count: usize) -> Result<Vec<OwnedFd>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let first = sys::memfd(c"fence-empty").map_err(|e| Error::io("cannot create a memfd", e))?;
    let mut fds = Vec::with_capacity(count);
    for _ in 1..count {
        fds.push(
            first
                .try_clone()
                .map_err(|e| Error::io(format!("cannot open {count} fds for the masks"), e))?,
        );
    }
    fds.push(first);
    Ok(fds)
}

/// Raises the soft open-file limit when `extra` more fds would not fit under it (with room
/// for fence's own), and returns the limit the command must get back; None when unchanged.
fn make_room_for_fds(extra: usize) -> Result<Option<u64>> {
    const HEADROOM: u64 = 64;
    if extra == 0 {
        return Ok(None);
    }
    let (soft, hard) = sys::nofile_limits().map_err(|e| Error::io("getrlimit", e))?;
    let wanted = extra as u64 + HEADROOM;
    if wanted <= soft {
        return Ok(None);
    }
    let wanted = wanted.min(hard);
    if wanted < extra as u64 + 16 {
        return Err(Error::Setup(format!(
            "the sandbox needs {extra} empty-file mounts, more than the open-file limit \
             ({hard}) allows; narrow the denyRead patterns or raise `ulimit -Hn`"
        )));
    }
    sys::set_nofile_soft(wanted).map_err(|e| Error::io("setrlimit", e))?;
    Ok(Some(soft))
}
