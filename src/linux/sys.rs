//! Thin wrappers over the raw Linux-only calls fence needs (namespaces, Landlock, seccomp,
//! memfd, signalfd, SO_PASSCRED). Every `unsafe` block in the Linux backend lives here,
//! each with the reason it is sound. The POSIX calls shared with the host loop and other
//! backends are in [`crate::sys`], re-exported here so the backend has one `sys`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub use crate::sys::*;
use crate::sys::{check, check_size};

/// An anonymous in-memory file (close-on-exec).
pub fn memfd(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string; the returned fd is new and owned.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A close-on-exec `AF_UNIX` `SOCK_SEQPACKET` pair.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    check(unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The signals a spawned child gets reset to `SIG_DFL`: `signals`, plus glibc's two
/// internal real-time signals (32 and 33), whose handlers (if glibc installed any) must
/// not outlive the exec in an ignored state (glibc's `posix_spawn` would set them to
/// `SIG_IGN` unless in this set). `sigaddset` refuses to add them, so their bits are set
/// directly.
pub fn spawn_defaults(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = sigset(signals);
    // SAFETY: on Linux, sigset_t is an array of unsigned longs whose bit (n - 1) stands for
    // signal n; the first word holds signals 1..=64 on 64-bit targets and 1..=32 on 32-bit
    // ones, so bits 31 and 32 are written only where the word is 64 bits wide.
    unsafe {
        if std::mem::size_of::<libc::c_ulong>() == 8 {
            let first = (&raw mut set).cast::<u64>();
            *first |= (1 << 31) | (1 << 32);
        }
    }
    set
}

/// A close-on-exec, non-blocking signalfd for `set` (which must be blocked).
pub fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
    // SAFETY: `set` is a valid sigset; -1 asks for a new fd, which we then own.
    let fd = check(unsafe { libc::signalfd(-1, set, flags) })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One pending signal from a signalfd: (signal number, si_code), or None when drained.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<(libc::c_int, libc::c_int)>> {
    // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: the buffer is exactly one signalfd_siginfo, as the kernel requires.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut info).cast(), size) };
    match check_size(n) {
        Ok(n) if n == size => Ok(Some((info.ssi_signo as libc::c_int, info.ssi_code))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Enables `SO_PASSCRED`, so each received message carries the sender's pid as seen from
/// this process's pid namespace.
pub fn enable_passcred(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `on` is a valid int option value of the stated length.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&raw const on).cast(),
            len,
        )
    })
    .map(drop)
}

/// A message received from a control socket.
#[derive(Debug, Default)]
pub struct Received {
    pub data: Vec<u8>,
    /// File descriptors passed with SCM_RIGHTS, in order.
    pub fds: Vec<OwnedFd>,
    /// The sender's pid from SCM_CREDENTIALS, when SO_PASSCRED is on.
    pub pid: Option<libc::pid_t>,
}

/// Receives one message of at most `max` bytes. Ok(None) on end of stream; WouldBlock for
/// a non-blocking socket with nothing to read.
pub fn recv_message(socket: BorrowedFd<'_>, max: usize) -> io::Result<Option<Received>> {
    let mut data = vec![0u8; max];
    // Room for MAX_FDS_PER_MESSAGE fds and the sender's credentials.
    let mut control = [0u64; 8 + MAX_FDS_PER_MESSAGE / 2];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // `as _`: the field is a usize with glibc, a u32 with musl.
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let flags = libc::MSG_CMSG_CLOEXEC;
    // SAFETY: `msg` references `iov` (over `data`) and `control`, alive for the call.
    let n = check_size(unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags) })?;
    let mut received = Received::default();
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed cmsgs;
    // CMSG_FIRSTHDR/NXTHDR stay within that buffer, and each payload is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                let count = payload / std::mem::size_of::<RawFd>();
                let fds = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(fds.add(i));
                    received.fds.push(OwnedFd::from_raw_fd(fd));
                }
            } else if level == libc::SOL_SOCKET && kind == libc::SCM_CREDENTIALS {
                let cred = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::ucred>());
                received.pid = Some(cred.pid);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if n == 0 && received.fds.is_empty() && msg.msg_flags & libc::MSG_TRUNC == 0 {
        return Ok(None);
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(io::Error::other("control message too large"));
    }
    data.truncate(n);
    received.data = data;
    Ok(Some(received))
}

/// Waits for one of the (blocked) signals in `set`; returns its number and `si_code`
/// (`SI_USER` and other values <= 0: sent by a process; positive: by the kernel, e.g. a
/// terminal's Ctrl-C or a child's state change).
pub fn wait_signal(set: &libc::sigset_t) -> io::Result<(libc::c_int, libc::c_int)> {
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is a valid value for the kernel to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset and `info` a valid siginfo_t for the call.
        let ret = unsafe { libc::sigwaitinfo(set, &mut info) };
        match check(ret) {
            Ok(sig) => return Ok((sig, info.si_code)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `PR_SET_NO_NEW_PRIVS`: required before an unprivileged process installs seccomp or
/// Landlock; exec can then never gain privileges (setuid bits are ignored).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// Installs a seccomp filter on the calling thread (inherited by children).
pub fn install_seccomp(program: &[super::seccomp::Insn]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len())
            .map_err(|_| io::Error::other("seccomp program too long"))?,
        // `Insn` is #[repr(C)] with the exact layout of `struct sock_filter`.
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const prog as libc::c_ulong,
            0,
            0,
        )
    })
    .map(drop)
}

/// Installs `program` as a seccomp filter that reports to a new user-notification listener,
/// returned. `EBUSY`: a filter in this thread's chain already has a listener (an outer fence,
/// a container runtime). A task waiting for an answer stays killable where the kernel can
/// (`WAIT_KILLABLE_RECV`, Linux 5.19); older kernels take the filter without it.
pub fn install_seccomp_listener(program: &[super::seccomp::Insn]) -> io::Result<OwnedFd> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len())
            .map_err(|_| io::Error::other("seccomp program too long"))?,
        // `Insn` is #[repr(C)] with the exact layout of `struct sock_filter`.
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    let install = |flags: libc::c_ulong| {
        // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it
        // and returns a new fd, which nothing else owns.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &raw const prog,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(ret).map_err(|_| io::Error::other("bad listener fd"))?;
        // SAFETY: the kernel just returned this fd to us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    match install(listener | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => install(listener),
        other => other,
    }
}

/// Whether this process could install `program` with a notification listener now (`EBUSY`:
/// a filter in its chain already has one): tried in a forked child that exits at once, so
/// nothing changes here.
pub fn probe_seccomp_listener(program: &[super::seccomp::Insn]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len())
            .map_err(|_| io::Error::other("seccomp program too long"))?,
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: the child makes only raw system calls (no allocation, no locks) and exits
    // with _exit; `prog` and `program` were built before the fork and stay valid in it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; the child's state is discarded by _exit.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let ret = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &raw const prog,
            );
            let code = if ret < 0 {
                *libc::__errno_location()
            } else {
                0
            };
            libc::_exit(code.min(255));
        }
    }
    match wait(pid)? {
        WaitStatus::Exited(0) => Ok(()),
        WaitStatus::Exited(errno) => Err(io::Error::from_raw_os_error(errno)),
        _ => Err(io::Error::other("the probe did not exit")),
    }
}

/// The kernel's Landlock ABI version; an error when Landlock is missing or disabled.
pub fn landlock_abi() -> io::Result<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute and size 0 this call only returns the ABI version.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u32)
    }
}

/// A Landlock ruleset handling `fs` rights, `net` rights (ABI 4+) and `scoped` scopes
/// (ABI 6+), sized for `abi`.
pub fn landlock_ruleset(abi: u32, fs: u64, net: u64, scoped: u64) -> io::Result<OwnedFd> {
    // struct landlock_ruleset_attr grew over ABIs: fs (v1), net (v4), scoped (v6).
    let attr: [u64; 3] = [fs, net, scoped];
    let size = match abi {
        0..=3 => 8,
        4..=5 => 16,
        _ => 24,
    };
    // SAFETY: `attr` holds at least `size` valid bytes laid out as the kernel's struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            attr.as_ptr(),
            size as usize,
            0u32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Adds a path-beneath rule: `access` allowed beneath the file or directory `parent`.
pub fn landlock_allow(
    ruleset: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    access: u64,
) -> io::Result<()> {
    const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
    // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
    #[repr(C, packed)]
    struct PathBeneath {
        allowed_access: u64,
        parent_fd: i32,
    }
    let attr = PathBeneath {
        allowed_access: access,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `attr` is a valid path-beneath struct alive for the call; both fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &raw const attr,
            0u32,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Enforces the ruleset on the calling thread (and its future children).
pub fn landlock_restrict_self(ruleset: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a plain syscall on an open ruleset fd.
    let ret = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An `O_PATH` fd for `path` (following symlinks), for Landlock rules.
pub fn open_path(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated; the returned fd is new and owned.
    let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the kernel accepts seccomp filters (`SECCOMP_GET_ACTION_AVAIL` for ERRNO) and
/// user notification (`SECCOMP_GET_NOTIF_SIZES`): (filter, user_notif).
pub fn seccomp_support() -> (bool, bool) {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
    const SECCOMP_GET_NOTIF_SIZES: libc::c_uint = 3;
    let action: u32 = super::seccomp::RET_ERRNO;
    let mut sizes = [0u16; 3];
    // SAFETY: both calls only read `action` / fill `sizes`, which are valid for the call.
    unsafe {
        let filter = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0u32,
            &raw const action,
        ) == 0;
        let notify = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_NOTIF_SIZES,
            0u32,
            sizes.as_mut_ptr(),
        ) == 0;
        (filter, notify)
    }
}

/// `uname`: (release, machine).
pub fn uname() -> (String, String) {
    // SAFETY: utsname is plain data; uname fills it with NUL-terminated strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return (String::new(), String::new());
        }
        let field = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        (field(&u.release), field(&u.machine))
    }
}

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Drops every capability: the bounding set (where permitted), the ambient set, and the
/// effective, permitted and inheritable sets. A no-op for an ordinary user, who has none.
pub fn drop_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    // SAFETY: prctl calls with integer arguments; capset reads a valid header and two data
    // structs (version 3 uses two), all alive for the call.
    unsafe {
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINVAL) {
                    break; // past the last capability the kernel knows
                }
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        check(libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) as libc::c_int)
            .map(drop)
    }
}

/// Asks the kernel to send `signal` to this process when its parent dies.
pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

/// Whether this process runs under fence's own seccomp filter: `ioctl(-1, TIOCLINUX)` is
/// refused with EPERM by the filter before the kernel looks at the fd (EBADF otherwise).
pub fn under_fence_seccomp() -> bool {
    // SAFETY: an ioctl on an invalid fd has no effect; only the error is inspected.
    let ret = unsafe { libc::ioctl(-1, libc::TIOCLINUX, 0) };
    ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An `O_PATH` fd for `path` only if no component of it is a symlink (`openat2` with
/// `RESOLVE_NO_SYMLINKS`): a path checked as canonical earlier cannot have been swapped
/// for a link to somewhere else since.
pub fn open_path_no_symlinks(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; all-zero is valid before the fields are set.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the given size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &raw const how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `access(path, mode)` (`libc::W_OK`, `X_OK`, …): whether this process may use `path`
/// that way now (a read-only mount answers no to `W_OK`).
pub fn access(path: &CStr, mode: libc::c_int) -> bool {
    // SAFETY: `path` is a valid NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), mode) == 0 }
}

/// `PR_SET_DUMPABLE`: a non-dumpable process's `/proc/PID/fd`, `/proc/PID/mem` and the
/// other ptrace-guarded views (pidfd_getfd, process_madvise, kcmp too) are refused to any
/// process without `CAP_SYS_PTRACE`, even one with the same uid. Reset by execve.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(dumpable),
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// Closes (or, with `cloexec`, marks close-on-exec) every open fd in `first..=last`:
/// `close_range(2)`, or on kernels without it (before 5.9, or 5.11 for
/// `CLOSE_RANGE_CLOEXEC`) one call per fd listed in `/proc/self/fd`.
///
/// # Safety
/// Without `cloexec`, no `OwnedFd` (or other owner) of an fd in the range is used or
/// dropped afterwards.
pub unsafe fn close_range(first: RawFd, last: RawFd, cloexec: bool) -> io::Result<()> {
    if first > last {
        return Ok(());
    }
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let flags = if cloexec { CLOSE_RANGE_CLOEXEC } else { 0 };
    // SAFETY: close_range takes integers only; closing fds this process owns is the intent
    // (the callers own no Rust object over the fds in the range, or only cloexec-marks).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            flags,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
        return Err(err);
    }
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own fd is closed by now; closing it again is a harmless EBADF.
    for fd in open.into_iter().filter(|fd| (first..=last).contains(fd)) {
        if cloexec {
            let _ = set_cloexec(fd, true);
        } else {
            // SAFETY: this function's caller vouches for every fd in the range.
            unsafe { close(fd) };
        }
    }
    Ok(())
}

/// How an open fd may be used, as far as reopening it by path is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdAccess {
    pub read: bool,
    pub write: bool,
    /// An `O_PATH` fd: neither read nor write, only a handle on a path.
    pub path_only: bool,
    pub is_dir: bool,
}

/// The open mode and file type of `fd`; None when it is not open.
pub fn fd_access(fd: RawFd) -> Option<FdAccess> {
    // SAFETY: F_GETFL on any fd number only returns flags or EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return None;
    }
    // SAFETY: `stat` is plain data the kernel fills; fstat works on O_PATH fds too.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is a valid out-pointer for the call.
    if unsafe { libc::fstat(fd, &mut stat) } < 0 {
        return None;
    }
    let path_only = flags & libc::O_PATH != 0;
    let mode = flags & libc::O_ACCMODE;
    Some(FdAccess {
        read: !path_only && (mode == libc::O_RDONLY || mode == libc::O_RDWR),
        write: !path_only && (mode == libc::O_WRONLY || mode == libc::O_RDWR),
        path_only,
        is_dir: stat.st_mode & libc::S_IFMT == libc::S_IFDIR,
    })
}

/// Takes an exclusive `flock` on `fd` without waiting. Ok(false): another open file
/// description holds a lock on the same file. The lock lasts while the open file
/// description does (so it ends when its process dies, however it dies).
pub fn try_lock(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: flock on a valid borrowed fd only changes the file's lock state.
    match check(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limits() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the valid struct it is given.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Sets the soft `RLIMIT_NOFILE`, keeping the hard one.
pub fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile_limits()?;
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the valid struct it is given.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }).map(drop)
}
