//! The raw calls of the user-notification listener (seccomp_unotify(2)) and of reading a
//! notified process's memory. Like `linux/sys.rs`, every `unsafe` block here says why it is
//! sound.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One notification: which process made which syscall with which arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notif {
    pub id: u64,
    /// The process, as a pid in the host fence's namespace.
    pub pid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// How to answer a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Let the syscall run: the mounts and Landlock decide.
    Continue,
    /// Fail it with this errno.
    Fail(i32),
}

/// The kernel's sizes of the notification structures (they may grow in later kernels:
/// the buffers passed are at least as large as the kernel says).
pub struct Buffers {
    notif: Vec<u64>,
    resp: Vec<u64>,
}

impl Buffers {
    pub fn new() -> io::Result<Buffers> {
        let mut sizes = libc::seccomp_notif_sizes {
            seccomp_notif: 0,
            seccomp_notif_resp: 0,
            seccomp_data: 0,
        };
        // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one `seccomp_notif_sizes` to the pointer,
        // which points at one.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_GET_NOTIF_SIZES,
                0,
                &raw mut sizes,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let words = |kernel: u16, ours: usize| usize::from(kernel).max(ours).div_ceil(8);
        Ok(Buffers {
            notif: vec![0; words(sizes.seccomp_notif, size_of::<libc::seccomp_notif>())],
            resp: vec![
                0;
                words(
                    sizes.seccomp_notif_resp,
                    size_of::<libc::seccomp_notif_resp>()
                )
            ],
        })
    }

    /// Takes the next notification. Blocks if none waits: call it only when the listener
    /// is readable. `ENOENT`: the process went away (or was interrupted) meanwhile.
    pub fn recv(&mut self, listener: BorrowedFd<'_>) -> io::Result<Notif> {
        // The kernel refuses a buffer that is not zeroed.
        self.notif.fill(0);
        // SAFETY: the buffer is at least as large as the kernel's `seccomp_notif` (asked
        // above) and 8-byte aligned; the kernel writes at most that much.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                self.notif.as_mut_ptr(),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the buffer holds a `seccomp_notif` the kernel wrote, is large enough
        // and aligned for it; the struct is plain integers.
        let notif = unsafe { self.notif.as_ptr().cast::<libc::seccomp_notif>().read() };
        Ok(Notif {
            id: notif.id,
            pid: notif.pid,
            nr: notif.data.nr,
            args: notif.data.args,
        })
    }

    /// Answers notification `id`. `ENOENT`: the process is gone, nothing to answer.
    pub fn send(&mut self, listener: BorrowedFd<'_>, id: u64, answer: Answer) -> io::Result<()> {
        self.resp.fill(0);
        let resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: match answer {
                Answer::Continue => 0,
                Answer::Fail(errno) => -errno,
            },
            flags: match answer {
                Answer::Continue => libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
                Answer::Fail(_) => 0,
            },
        };
        // SAFETY: the buffer is at least as large as `seccomp_notif_resp` and 8-byte
        // aligned; the struct is plain integers.
        unsafe {
            self.resp
                .as_mut_ptr()
                .cast::<libc::seccomp_notif_resp>()
                .write(resp)
        };
        // SAFETY: the kernel reads one `seccomp_notif_resp` (of its size) from the buffer.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                self.resp.as_mut_ptr(),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Asks the kernel to hand the CPU straight from a notifying process to the listener's
/// waiter and back (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6): the round trip then
/// costs a switch instead of a scheduler wake-up on a busy machine. Older kernels refuse it
/// (EINVAL), which changes nothing but speed.
pub fn prefer_sync_wake_up(listener: BorrowedFd<'_>) -> io::Result<()> {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: the kernel reads the flags as the ioctl's integer argument.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether notification `id` still waits for an answer: after reading the process's
/// memory, this says the pid was not reused meanwhile, so what was read was its.
pub fn id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: the kernel reads one u64 from the pointer, which points at one.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &raw const id,
        ) == 0
    }
}

/// Reads up to `buf.len()` bytes at `addr` in process `pid`'s memory; a short count where
/// the mapping ends. The host fence may: it created the user namespace the process lives
/// in (and is its ancestor).
pub fn read_memory(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: the local iovec covers `buf`, which the call may fill; the remote one is only
    // an address in the other process, checked by the kernel.
    let n = unsafe { libc::process_vm_readv(pid, &raw const local, 1, &raw const remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The name of the file `path` (absolute, as process `pid` sees it) leads to, with symbolic
/// links resolved inside that process's root (`openat2` with `RESOLVE_IN_ROOT` below
/// `/proc/PID/root`): a link in the sandbox's private `/tmp` resolves as it does there.
pub fn real_name_in_root(pid: u32, path: &Path) -> Option<std::ffi::OsString> {
    let root = std::fs::File::open(format!("/proc/{pid}/root")).ok()?;
    let relative = path.strip_prefix("/").unwrap_or(path);
    let relative = std::ffi::CString::new(relative.as_os_str().as_bytes()).ok()?;
    // SAFETY: open_how is plain data; all-zero is valid before the fields are set.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `relative` is NUL-terminated, `root` an open directory, `how` a valid
    // open_how of the given size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            relative.as_ptr(),
            &raw const how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    let file = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    real.file_name().map(ToOwned::to_owned)
}
