//! POSIX system calls shared by every backend and the host loop: pipes, fd flags,
//! signals, waiting for children, spawning, SCM_RIGHTS, terminals. Every `unsafe` block
//! outside the platform backends lives here, each with the reason it is sound. The
//! Linux-only calls (namespaces, Landlock, seccomp, memfd, signalfd, splice) are in
//! `linux/sys.rs`.

mod dir;
#[cfg(target_os = "linux")]
mod vfork;
pub use dir::{Dir, EntryKind, LookupDir, Stat};

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub(crate) fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A close-on-exec pipe, (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    pipe_with(false)
}

/// A close-on-exec pipe whose ends are both non-blocking.
pub fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    pipe_with(true)
}

fn pipe_with(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    #[cfg(target_os = "linux")]
    let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
    #[cfg(target_os = "linux")]
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
    // Without pipe2, the flag follows at once: fence spawns from one thread only, so no
    // child can inherit the ends in between.
    #[cfg(not(target_os = "linux"))]
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both fds were just created and are owned by nobody else.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(target_os = "linux"))]
    for end in [&ends.0, &ends.1] {
        set_cloexec(end.as_raw_fd(), true)?;
        if nonblocking {
            set_nonblocking(std::os::fd::AsFd::as_fd(end))?;
        }
    }
    Ok(ends)
}

/// Sets or clears `FD_CLOEXEC`. Async-signal-safe (used between fork and exec).
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD only changes the descriptor flag; an invalid fd yields EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flag) }).map(drop)
}

pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a valid, borrowed fd only change its status flags.
    unsafe {
        let flags = check(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        check(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))
        .map(drop)
    }
}

/// `dup2`, async-signal-safe.
///
/// # Safety
/// `to` is replaced: no `OwnedFd` or other owner may still use or close the file it
/// referred to (stdio's fds 0–2, which std never closes, are fine).
pub unsafe fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes integers; the caller vouches that nothing owns `to`.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

/// Closes a raw fd that this process owns but holds no `OwnedFd` for (inherited plumbing).
///
/// # Safety
/// Nothing else owns `fd` or will use it again.
pub unsafe fn close(fd: RawFd) {
    // SAFETY: the caller vouches that `fd` is its own and unused elsewhere.
    unsafe { libc::close(fd) };
}

/// A signal set built from a list of signal numbers.
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset with valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Sets the calling thread's signal mask, returning the previous one. Async-signal-safe.
pub fn set_sigmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    // SAFETY: `set` and `old` are valid sigset_t values; only this thread's mask changes.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let ret = libc::pthread_sigmask(how, set, &mut old);
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(old)
    }
}

/// Whether `signal` is currently ignored (`SIG_IGN`) in this process.
pub fn is_ignored(signal: libc::c_int) -> bool {
    // SAFETY: a null new action only queries the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sets `signal` to `SIG_IGN` or `SIG_DFL`. Async-signal-safe.
pub fn set_ignored(signal: libc::c_int, ignored: bool) {
    let handler = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: installing SIG_IGN/SIG_DFL involves no handler code; errors (bad signal
    // number) leave the disposition unchanged, which callers accept.
    unsafe { libc::signal(signal, handler) };
}

/// Whether a signal's `si_code` says a process sent it (kill, sigqueue, tgkill), as opposed
/// to the kernel (a terminal's Ctrl-C, a hangup).
#[cfg(target_os = "linux")]
pub fn sent_by_a_process(si_code: libc::c_int) -> bool {
    si_code <= 0
}

/// Whether a signal's `si_code` says a process sent it (kill, sigqueue), as opposed to the
/// kernel (a terminal's Ctrl-C, a hangup).
#[cfg(target_vendor = "apple")]
pub fn sent_by_a_process(si_code: libc::c_int) -> bool {
    // `<sys/signal.h>`: SI_USER and SI_QUEUE (the libc crate does not name them here).
    const SI_USER: libc::c_int = 0x10001;
    const SI_QUEUE: libc::c_int = 0x10002;
    si_code == SI_USER || si_code == SI_QUEUE
}

/// Sends `signal` to `pid`.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory effects; the kernel checks permissions.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
    Stopped(i32),
}

/// `waitpid(pid, WNOHANG)`: None while the child runs on. With `stops`, a stop is
/// reported too (`WUNTRACED`).
pub fn try_wait(pid: libc::pid_t, stops: bool) -> io::Result<Option<WaitStatus>> {
    let mut status = 0;
    let flags = if stops {
        libc::WNOHANG | libc::WUNTRACED
    } else {
        libc::WNOHANG
    };
    // SAFETY: `status` is a valid int for the kernel to fill.
    let ret = check(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok((ret != 0).then(|| decode_status(status)))
}

pub(crate) fn decode_status(status: libc::c_int) -> WaitStatus {
    if libc::WIFSTOPPED(status) {
        WaitStatus::Stopped(libc::WSTOPSIG(status))
    } else if libc::WIFSIGNALED(status) {
        WaitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        WaitStatus::Exited(libc::WEXITSTATUS(status))
    }
}

/// Most file descriptors sent in one message (the receiver's buffer is sized for this).
pub const MAX_FDS_PER_MESSAGE: usize = 32;

/// Sends one message, optionally with one file descriptor attached. Async-signal-safe.
pub fn send_message(socket: BorrowedFd<'_>, data: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    send_fds(socket, data, fd.as_slice())
}

/// Sends one message with up to [`MAX_FDS_PER_MESSAGE`] file descriptors attached.
/// Async-signal-safe.
pub fn send_fds(socket: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(io::Error::other(
            "too many file descriptors for one message",
        ));
    }
    // Room for MAX_FDS_PER_MESSAGE fds, aligned for cmsghdr.
    let mut control = [0u64; 2 + MAX_FDS_PER_MESSAGE / 2];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let payload = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `control`, which holds one header plus
        // MAX_FDS_PER_MESSAGE ints (space <= its size); CMSG_FIRSTHDR therefore returns a
        // valid pointer into it, and CMSG_DATA points at room for `fds.len()` ints.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(data.add(i), *fd);
            }
        }
    }
    // SAFETY: `msg` references `iov`, `data` and `control`, all alive for the call.
    let sent = check_size(unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    if sent == data.len() {
        Ok(())
    } else {
        Err(io::Error::other("short send on control socket"))
    }
}

/// Kills this process with `signal` as its own death, without a core file. Falls back to
/// exiting 128+signal if the signal does not end the process (e.g. it is SIGTSTP).
pub fn die_by_signal(signal: libc::c_int) -> ! {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid struct; signal/sigprocmask/kill only change this
    // process's signal state, and exit never returns.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(signal, libc::SIG_DFL);
        let set = sigset(&[signal]);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal)
    }
}

/// This process's effective uid.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail and has no memory effects.
    unsafe { libc::geteuid() }
}

/// This process's real uid.
pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail and has no memory effects.
    unsafe { libc::getuid() }
}

/// What [`spawn`] starts and how.
pub struct Spawn<'a> {
    /// Absolute path of the executable.
    pub path: &'a CStr,
    pub argv: &'a [std::ffi::CString],
    pub envp: &'a [std::ffi::CString],
    /// `(from, to)`: `dup2(from, to)` in the child.
    pub dup2: &'a [(RawFd, RawFd)],
    /// The child's signal mask.
    pub sigmask: &'a libc::sigset_t,
    /// Signals reset to `SIG_DFL` in the child (others keep `SIG_IGN` if ignored here).
    pub sigdefault: &'a libc::sigset_t,
    /// Start a new session (the child then acquires the first terminal it opens).
    pub setsid: bool,
    /// `(fd, path)`: open `path` read-write as `fd` in the child, before the `dup2`s.
    pub open: Option<(RawFd, &'a CStr)>,
}

#[cfg(target_os = "linux")]
const POSIX_SPAWN_SETSID: libc::c_short = libc::POSIX_SPAWN_SETSID as libc::c_short;
/// macOS 10.15 and later (`<spawn.h>`); the libc crate does not name it.
#[cfg(target_vendor = "apple")]
const POSIX_SPAWN_SETSID: libc::c_short = 0x0400;

/// `posix_spawn`: a vfork-style start (no copy of this process's memory). Fds without
/// `FD_CLOEXEC` are inherited. Exec failures are returned as errors. On Linux, a vfork of
/// fence's own that resets only the signals asked for (see `sys/vfork.rs`): the process
/// must have no signal handlers installed.
pub fn spawn(req: &Spawn<'_>) -> io::Result<libc::pid_t> {
    #[cfg(target_os = "linux")]
    return vfork::spawn(req);
    #[cfg(not(target_os = "linux"))]
    spawn_with(req, &SpawnMore::default())
}

/// What [`spawn_with`] adds to a [`Spawn`] (the macOS backend's needs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpawnMore {
    /// Join this process group (`Some(0)`: lead a new one of its own).
    pub pgroup: Option<libc::pid_t>,
    /// macOS: the child starts stopped, as if by SIGSTOP, until it gets SIGCONT (the
    /// parent watches it first). Ignored elsewhere.
    pub start_suspended: bool,
}

/// `POSIX_SPAWN_START_SUSPENDED` (`<spawn.h>`, Apple only); the libc crate does not name it.
#[cfg(target_vendor = "apple")]
const POSIX_SPAWN_START_SUSPENDED: libc::c_short = 0x0080;

/// [`spawn`] with a process group and, on macOS, a suspended start.
pub fn spawn_with(req: &Spawn<'_>, more: &SpawnMore) -> io::Result<libc::pid_t> {
    let nul_terminated = |list: &[std::ffi::CString]| -> Vec<*mut libc::c_char> {
        list.iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain([std::ptr::null_mut()])
            .collect()
    };
    let argv = nul_terminated(req.argv);
    let envp = nul_terminated(req.envp);
    // SAFETY: the attribute and file-action objects are initialised before use and
    // destroyed after; every pointer passed (path, argv, envp and their strings, the
    // sigsets) stays alive for the whole call, and argv/envp are NULL-terminated.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attr);
        let mut ret = 0;
        if let Some((fd, path)) = req.open {
            ret = libc::posix_spawn_file_actions_addopen(
                &mut actions,
                fd,
                path.as_ptr(),
                libc::O_RDWR,
                0,
            );
        }
        for &(from, to) in req.dup2 {
            if ret == 0 {
                ret = libc::posix_spawn_file_actions_adddup2(&mut actions, from, to);
            }
        }
        let mut flags =
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        if req.setsid {
            flags |= POSIX_SPAWN_SETSID;
        }
        if let Some(group) = more.pgroup {
            flags |= libc::POSIX_SPAWN_SETPGROUP as libc::c_short;
            if ret == 0 {
                ret = libc::posix_spawnattr_setpgroup(&mut attr, group);
            }
        }
        #[cfg(target_vendor = "apple")]
        if more.start_suspended {
            flags |= POSIX_SPAWN_START_SUSPENDED;
        }
        for step in [
            libc::posix_spawnattr_setflags(&mut attr, flags),
            libc::posix_spawnattr_setsigmask(&mut attr, req.sigmask),
            libc::posix_spawnattr_setsigdefault(&mut attr, req.sigdefault),
        ] {
            if ret == 0 {
                ret = step;
            }
        }
        let mut pid: libc::pid_t = 0;
        if ret == 0 {
            ret = libc::posix_spawn(
                &mut pid,
                req.path.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr(),
                envp.as_ptr(),
            );
        }
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        if ret == 0 {
            Ok(pid)
        } else {
            Err(io::Error::from_raw_os_error(ret))
        }
    }
}

/// Converts names/values to C strings for exec (fails on interior NUL bytes).
pub fn c_strings<I, S>(items: I) -> io::Result<Vec<std::ffi::CString>>
where
    I: IntoIterator<Item = S>,
    S: Into<Vec<u8>>,
{
    items
        .into_iter()
        .map(|s| {
            std::ffi::CString::new(s).map_err(|_| io::Error::other("argument contains a NUL byte"))
        })
        .collect()
}

/// Stops this process (SIGSTOP) until someone sends SIGCONT.
pub fn stop_self() {
    // SAFETY: kill on our own pid; SIGSTOP cannot be caught, so no handler runs.
    unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
}

/// Whether `fd` is a terminal.
pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// The terminal's window size, if `fd` is a terminal.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<libc::winsize> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0).then_some(ws)
    }
}

/// Sets a terminal's window size (the kernel signals SIGWINCH to its foreground group).
pub fn set_window_size(fd: BorrowedFd<'_>, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads a valid winsize; failure leaves the size unchanged.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) };
}

/// A terminal's attributes.
pub fn termios(fd: BorrowedFd<'_>) -> io::Result<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        check(libc::tcgetattr(fd.as_raw_fd(), &mut t))?;
        Ok(t)
    }
}

/// Sets a terminal's attributes (after pending output is written).
pub fn set_termios(fd: BorrowedFd<'_>, t: &libc::termios) -> io::Result<()> {
    // SAFETY: `t` is a valid termios for the call.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSADRAIN, t) }).map(drop)
}

/// `t` in raw mode: no echo, no line editing, no signal characters (they reach the PTY).
pub fn raw(mut t: libc::termios) -> libc::termios {
    // SAFETY: cfmakeraw only edits the struct it is given.
    unsafe { libc::cfmakeraw(&mut t) };
    t
}

/// `read(2)` into `buf`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
    check_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` from `buf`.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of reads.
    check_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Whether `fd` has input right now (`poll` with a zero timeout).
pub fn readable_now(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLIN != 0 }
}

/// Waits until one of `fds` is readable (or hung up); returns which ones are. EINTR is
/// returned as an error for the caller to retry.
pub fn wait_readable(fds: &[RawFd]) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds; no timeout.
    check(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) })?;
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// Opens the directory `name` in `dir` without following a symbolic link there
/// (`ELOOP`, or `ENOTDIR` for anything else that is not a directory), close-on-exec.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is an open fd and `name` a valid NUL-terminated string that outlive
    // the call; the flags create nothing.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: the fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mkdirat(dir, name, mode)`: the mode is reduced by the umask; a symbolic link at `name`
/// is not followed (`EEXIST`).
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `dir` is an open fd and `name` a valid NUL-terminated string that outlive
    // the call.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(|_| ())
}

/// This process's parent pid.
pub fn getppid() -> libc::pid_t {
    // SAFETY: getppid cannot fail and has no memory effects.
    unsafe { libc::getppid() }
}

/// Blocking `waitpid(pid)`, retried on EINTR.
pub fn wait(pid: libc::pid_t) -> io::Result<WaitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int for the kernel to fill.
        match check(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(decode_status(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A new pseudo-terminal: the master fd (close-on-exec) and the slave's path.
pub fn open_pty() -> io::Result<(OwnedFd, std::ffi::CString)> {
    // SAFETY: posix_openpt returns a new fd that we own; unlockpt and ptsname_r act on it
    // (or the TIOCPTYGNAME ioctl, which writes 128 bytes) write at most `name.len()` bytes
    // into `name`.
    unsafe {
        let fd = check(libc::posix_openpt(
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        let master = OwnedFd::from_raw_fd(fd);
        check(libc::unlockpt(fd))?;
        let mut name = [0 as libc::c_char; 128];
        #[cfg(target_os = "linux")]
        {
            let ret = libc::ptsname_r(fd, name.as_mut_ptr(), name.len());
            if ret != 0 {
                return Err(io::Error::from_raw_os_error(ret));
            }
        }
        // macOS has no ptsname_r; its ptsname is this ioctl into a static buffer, which
        // fills a 128-byte buffer of the caller's instead.
        #[cfg(target_vendor = "apple")]
        check(libc::ioctl(
            fd,
            libc::TIOCPTYGNAME.into(),
            name.as_mut_ptr(),
        ))?;
        Ok((master, CStr::from_ptr(name.as_ptr()).to_owned()))
    }
}
