//! The system calls the macOS backend adds to [`crate::sys`]: the process-group watcher
//! (portable, so the Linux tests run it), terminal ownership, and, on macOS only, a kqueue
//! that sees the command's exec. Every `unsafe` block of the backend is here, each with the
//! reason it is sound.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

pub use crate::sys::*;

/// Starts the watcher: a forked child of fence that leads a new process group, into which
/// the command is then spawned, and waits on `read_end` of a pipe whose only write end fence
/// holds (`write_end`, closed in the watcher). When fence ends, by exit or by any death
/// (SIGKILL included: macOS has no `PR_SET_PDEATHSIG`), the write end closes, the read
/// returns end-of-file, and the watcher kills its whole process group, the command and
/// whatever it left running there, itself last.
///
/// Being a member of the group, the watcher keeps its number from being reused while it
/// waits: the kill can only reach the run's own processes. It ignores the terminal's
/// signals (the group is the terminal's foreground group while the command runs).
///
/// Returns the watcher's pid, which is the process group's id.
pub fn start_watcher(read_end: &OwnedFd, write_end: &OwnedFd) -> io::Result<libc::pid_t> {
    let (read_fd, write_fd) = (read_end.as_raw_fd(), write_end.as_raw_fd());
    // SAFETY: fork in a process whose other threads (if any) the child never waits for:
    // the child calls only async-signal-safe functions (setpgid, signal, close, read, kill,
    // _exit) and never returns into Rust code.
    let pid = check(unsafe { libc::fork() })?;
    if pid == 0 {
        // SAFETY: async-signal-safe calls on plain integers; the loop ends in _exit.
        unsafe {
            libc::setpgid(0, 0);
            for signal in [
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGHUP,
                libc::SIGTERM,
                libc::SIGTSTP,
                libc::SIGTTIN,
                libc::SIGTTOU,
                libc::SIGPIPE,
            ] {
                libc::signal(signal, libc::SIG_IGN);
            }
            let empty = sigset(&[]);
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::close(write_fd);
            let mut byte = 0u8;
            loop {
                let n = libc::read(read_fd, (&raw mut byte).cast(), 1);
                if n == 0 || (n < 0 && *errno_location() != libc::EINTR) {
                    break;
                }
            }
            libc::kill(0, libc::SIGKILL);
            libc::_exit(0)
        }
    }
    // Also here, so the group exists before the command joins it whichever runs first.
    // SAFETY: setpgid on our own child; EACCES/ESRCH races are harmless (the child did it).
    unsafe { libc::setpgid(pid, pid) };
    Ok(pid)
}

fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns this thread's errno location; no memory is touched here.
    unsafe {
        #[cfg(target_os = "linux")]
        {
            libc::__errno_location()
        }
        #[cfg(target_vendor = "apple")]
        {
            libc::__error()
        }
    }
}

/// This process's process group.
pub fn getpgrp() -> libc::pid_t {
    // SAFETY: getpgrp cannot fail and has no memory effects.
    unsafe { libc::getpgrp() }
}

/// The terminal's foreground process group, if `fd` is a terminal this session controls.
pub fn foreground_group(fd: BorrowedFd<'_>) -> Option<libc::pid_t> {
    // SAFETY: tcgetpgrp only inspects the fd.
    let group = unsafe { libc::tcgetpgrp(fd.as_raw_fd()) };
    (group > 0).then_some(group)
}

/// Makes `group` the terminal's foreground process group, with SIGTTOU blocked for the
/// call (a background caller would otherwise be stopped by it).
pub fn set_foreground_group(fd: BorrowedFd<'_>, group: libc::pid_t) -> io::Result<()> {
    let ttou = sigset(&[libc::SIGTTOU]);
    let old = set_sigmask(libc::SIG_BLOCK, &ttou)?;
    // SAFETY: tcsetpgrp on a borrowed fd with a plain integer.
    let result = check(unsafe { libc::tcsetpgrp(fd.as_raw_fd(), group) }).map(drop);
    let _ = set_sigmask(libc::SIG_SETMASK, &old);
    result
}

/// Marks every fd from `first` on close-on-exec (the fds `/dev/fd` lists, which on macOS
/// are this process's open ones).
pub fn cloexec_from(first: i32) -> io::Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/dev/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // The directory's own fd is listed too and is gone by now: EBADF is fine.
        match set_cloexec(fd, true) {
            Err(e) if e.raw_os_error() != Some(libc::EBADF) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// `access(path, mode)`: whether this process may use `path` that way now.
pub fn access(path: &std::ffi::CStr, mode: libc::c_int) -> bool {
    // SAFETY: `path` is a valid NUL-terminated string for the call.
    unsafe { libc::access(path.as_ptr(), mode) == 0 }
}

/// Whether fd `fd` is open.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// A kqueue watching one process for `exec` and exit (macOS): how fence knows that
/// `sandbox-exec` applied the profile and became the command.
#[cfg(target_vendor = "apple")]
pub struct ExecWatch {
    kq: OwnedFd,
}

#[cfg(target_vendor = "apple")]
impl ExecWatch {
    pub fn new(pid: libc::pid_t) -> io::Result<ExecWatch> {
        use std::os::fd::FromRawFd;
        // SAFETY: kqueue returns a new fd that we own.
        let kq = unsafe { OwnedFd::from_raw_fd(check(libc::kqueue())?) };
        set_cloexec(kq.as_raw_fd(), true)?;
        // SAFETY: kevent is plain data; one change, no events read back.
        unsafe {
            let mut change: libc::kevent = std::mem::zeroed();
            change.ident = pid as libc::uintptr_t;
            change.filter = libc::EVFILT_PROC;
            change.flags = libc::EV_ADD | libc::EV_CLEAR;
            change.fflags = libc::NOTE_EXEC | libc::NOTE_EXIT;
            check(libc::kevent(
                kq.as_raw_fd(),
                &change,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            ))?;
        }
        Ok(ExecWatch { kq })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.kq.as_fd()
    }

    /// Whether an exec was reported since the last call (without waiting).
    pub fn exec_seen(&self) -> io::Result<bool> {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut seen = false;
        loop {
            // SAFETY: kevent writes at most 4 events into `events`, which has room for 4.
            let n = unsafe {
                let mut events: [libc::kevent; 4] = std::mem::zeroed();
                let n = check(libc::kevent(
                    self.kq.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    events.as_mut_ptr(),
                    4,
                    &zero,
                ))?;
                seen |= events[..n as usize]
                    .iter()
                    .any(|e| e.fflags & libc::NOTE_EXEC != 0);
                n
            };
            if n < 4 {
                return Ok(seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn the_watcher_kills_its_group_when_fence_lets_go() {
        let (read, write) = pipe().unwrap();
        let group = start_watcher(&read, &write).unwrap();
        drop(read);
        // Reaped below with `wait`.
        let child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(group)
            .spawn()
            .unwrap()
            .id() as i32;
        // Still running while fence holds the write end.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(try_wait(child, false).unwrap(), None);
        drop(write);
        assert_eq!(wait(child).unwrap(), WaitStatus::Signaled(9));
        assert_eq!(wait(group).unwrap(), WaitStatus::Signaled(9));
    }

    #[test]
    fn cloexec_from_marks_the_rest() {
        let (a, b) = pipe().unwrap();
        set_cloexec(b.as_raw_fd(), false).unwrap();
        cloexec_from(b.as_raw_fd()).unwrap();
        // SAFETY: F_GETFD reads the flags of an fd we own.
        let flags = unsafe { libc::fcntl(b.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert!(fd_is_open(a.as_raw_fd()));
    }
}
