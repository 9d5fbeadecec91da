//! [`super::spawn`] on Linux: what glibc's `posix_spawn` does, minus its signal sweep.
//!
//! glibc's child cannot know which signals have handlers (it shares the parent's memory,
//! where a handler must never run), so it asks the kernel about all 64 of them, one system
//! call each, before the exec, while the parent waits: 124 µs until the parent resumes
//! against 78 µs for a bare vfork and exec on the development VM. A fence run spawns twice
//! on its critical path (bwrap, then the command in the sandbox).
//!
//! fence on Linux installs no signal handlers (signals are read from a signalfd or taken
//! with sigwaitinfo; SIGPIPE is ignored, which exec keeps or the child resets), so the child
//! only resets the signals it is asked to. It is otherwise the same vfork: `CLONE_VM |
//! CLONE_VFORK`, the parent sleeping until the exec (or the child's exit), the child on a
//! stack of its own running only system calls, with every signal blocked until the one
//! call before exec that sets the requested mask.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::Spawn;

/// What the child reads, prepared by the parent (the child must not allocate).
struct Child<'a> {
    req: &'a Spawn<'a>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// Signals reset to SIG_DFL: those in `req.sigdefault`.
    defaults: Vec<libc::c_int>,
    /// The errno of the child's step that failed; 0 while none has.
    error: AtomicI32,
}

/// The child's stack: it runs a few frames of system calls.
const STACK_WORDS: usize = 4096; // × 16 bytes = 64 KiB

pub(super) fn spawn(req: &Spawn<'_>) -> io::Result<libc::pid_t> {
    let nul_terminated = |list: &[std::ffi::CString]| -> Vec<*const libc::c_char> {
        list.iter()
            .map(|s| s.as_ptr())
            .chain([std::ptr::null()])
            .collect()
    };
    let child = Child {
        req,
        argv: nul_terminated(req.argv),
        envp: nul_terminated(req.envp),
        // SIGKILL and SIGSTOP always have their default action (the kernel refuses to set
        // theirs).
        defaults: (1..=64)
            .filter(|&signal| signal != libc::SIGKILL && signal != libc::SIGSTOP)
            // SAFETY: sigismember only reads the set.
            .filter(|&signal| unsafe { libc::sigismember(req.sigdefault, signal) } == 1)
            .collect(),
        error: AtomicI32::new(0),
    };
    // Not initialised: the child writes the few top pages it uses, nothing reads the rest.
    let mut stack: Vec<MaybeUninit<u128>> = Vec::with_capacity(STACK_WORDS);
    // SAFETY: one past the end of the allocation (16-byte aligned, as the ABI wants the
    // stack pointer); stacks grow down.
    let stack_top = unsafe { stack.as_mut_ptr().add(STACK_WORDS) };
    // No signal may reach the child before its exec: all are blocked around the clone and
    // stay so in the child until it sets the requested mask, just before exec.
    let all = block_all()?;
    // SAFETY: CLONE_VM | CLONE_VFORK: the child shares this memory and this thread sleeps
    // until it has exec'd or exited, so `child`, what it points to and `stack` outlive
    // its use of them; the child runs only `child_main`, which makes system calls and
    // writes only `child.error`.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack_top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw const child).cast_mut().cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    restore(&all);
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    match child.error.load(Ordering::Acquire) {
        0 => Ok(pid),
        errno => {
            // It has exited (status 127) without running the program.
            let _ = super::wait(pid);
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// Blocks every signal (the kernel's full set: glibc's wrappers keep two of their own
/// out); returns the previous mask.
fn block_all() -> io::Result<u64> {
    let (all, mut old) = (u64::MAX, 0u64);
    // SAFETY: two 8-byte kernel signal sets, the size given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const all,
            &raw mut old,
            8usize,
        )
    };
    if ret == 0 {
        Ok(old)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn restore(mask: &u64) {
    // SAFETY: an 8-byte kernel signal set; the old one is not wanted.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            mask as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the Child that `spawn` keeps alive while this process may read it.
    let child = unsafe { &*arg.cast::<Child<'_>>() };
    // SAFETY: only system calls on data the parent prepared; exec does not return when it
    // succeeds.
    let errno = unsafe { setup_and_exec(child) };
    child.error.store(errno.max(1), Ordering::Release);
    // SAFETY: ends this process only, without fence's exit handlers.
    unsafe { libc::_exit(127) }
}

/// The child's steps, in `posix_spawn`'s order: signal dispositions, session, the open,
/// the dups, the mask, exec. Returns the errno of the step that failed.
///
/// # Safety
/// Only in the child cloned by `spawn`, while the parent sleeps.
unsafe fn setup_and_exec(child: &Child<'_>) -> i32 {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    };
    let req = child.req;
    // The kernel's struct sigaction with SIG_DFL, no flags, no restorer and an empty mask
    // is all zeros on every Linux architecture fence builds for.
    let default_action = [0u64; 4];
    for &signal in &child.defaults {
        // SAFETY: a zeroed kernel sigaction with an 8-byte signal set; no old one wanted.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default_action.as_ptr(),
                std::ptr::null_mut::<libc::c_void>(),
                8usize,
            )
        };
        if ret != 0 {
            return errno();
        }
    }
    // SAFETY: setsid takes no arguments.
    if req.setsid && unsafe { libc::setsid() } < 0 {
        return errno();
    }
    if let Some((fd, path)) = req.open {
        // SAFETY: a NUL-terminated path the parent keeps alive.
        let opened = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
        if opened < 0 {
            return errno();
        }
        if opened != fd {
            // SAFETY: fd numbers only; the fd just opened is closed once duplicated.
            unsafe {
                if libc::dup2(opened, fd) < 0 {
                    return errno();
                }
                libc::close(opened);
            }
        }
    }
    for &(from, to) in req.dup2 {
        // SAFETY: fd numbers only. For from == to, which dup2 leaves alone, close-on-exec
        // is cleared, as posix_spawn does.
        let ret: RawFd = unsafe {
            if from == to {
                libc::fcntl(to, libc::F_SETFD, 0)
            } else {
                libc::dup2(from, to)
            }
        };
        if ret < 0 {
            return errno();
        }
    }
    // SAFETY: the kernel reads the first 8 bytes of the sigset (its signal set size).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            req.sigmask as *const libc::sigset_t,
            std::ptr::null_mut::<libc::c_void>(),
            8usize,
        )
    };
    if ret != 0 {
        return errno();
    }
    // SAFETY: NUL-terminated path and NULL-terminated arrays of NUL-terminated strings.
    unsafe { libc::execve(req.path.as_ptr(), child.argv.as_ptr(), child.envp.as_ptr()) };
    errno()
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use super::super::{Spawn, sigset, wait};

    #[test]
    fn a_failed_exec_is_its_error() {
        let argv = [CString::new("missing").unwrap()];
        let empty = sigset(&[]);
        let err = super::spawn(&Spawn {
            path: c"/nonexistent/fence-vfork-test",
            argv: &argv,
            envp: &[],
            dup2: &[],
            sigmask: &empty,
            sigdefault: &empty,
            setsid: false,
            open: None,
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    /// What a test asks of the spawn besides its program.
    #[derive(Default)]
    struct Asked {
        mask: Vec<libc::c_int>,
        defaults: Vec<libc::c_int>,
        keep: Option<std::os::fd::RawFd>,
        setsid: bool,
        stdin_null: bool,
    }

    /// Spawns `argv` with `envp` as `asked`, returns what it printed (it must succeed).
    fn output(argv: &[&str], envp: &[&str], asked: Asked) -> String {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds, owned below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let argv: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
        let envp: Vec<CString> = envp.iter().map(|a| CString::new(*a).unwrap()).collect();
        let path = CString::new(argv[0].as_bytes()).unwrap();
        let mut dups = vec![(write.as_raw_fd(), 1)];
        dups.extend(asked.keep.map(|fd| (fd, fd)));
        let pid = super::spawn(&Spawn {
            path: &path,
            argv: &argv,
            envp: &envp,
            dup2: &dups,
            sigmask: &sigset(&asked.mask),
            sigdefault: &sigset(&asked.defaults),
            setsid: asked.setsid,
            open: asked.stdin_null.then_some((0, c"/dev/null")),
        })
        .unwrap();
        drop(write);
        let mut out = String::new();
        std::fs::File::from(read).read_to_string(&mut out).unwrap();
        assert_eq!(
            wait(pid).unwrap(),
            super::super::WaitStatus::Exited(0),
            "{out}"
        );
        out
    }

    #[test]
    fn the_child_gets_the_mask_and_the_default_signals_asked_for() {
        // SIGPWR ignored here and not reset: the child keeps it ignored (exec keeps
        // SIG_IGN); SIGXCPU ignored here and reset to its default. No other test uses them.
        // SAFETY: SIG_IGN for two signals nothing in the test process handles.
        unsafe {
            libc::signal(libc::SIGPWR, libc::SIG_IGN);
            libc::signal(libc::SIGXCPU, libc::SIG_IGN);
        }
        let grep = ["/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"];
        let asked = Asked {
            mask: vec![libc::SIGUSR1],
            defaults: vec![libc::SIGXCPU],
            ..Asked::default()
        };
        let out = output(&grep, &[], asked);
        let field = |name: &str| -> u64 {
            let line = out.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        let bit = |signal: libc::c_int| 1u64 << (signal - 1);
        assert_eq!(field("SigBlk:"), bit(libc::SIGUSR1), "{out}");
        let ignored = field("SigIgn:");
        assert_ne!(ignored & bit(libc::SIGPWR), 0, "{out}");
        assert_eq!(ignored & bit(libc::SIGXCPU), 0, "{out}");
    }

    #[test]
    fn the_child_gets_the_fds_session_and_environment_asked_for() {
        // A close-on-exec fd kept by a dup onto itself.
        let kept = std::fs::File::open("/dev/null").unwrap();
        let fd = kept.as_raw_fd();
        let script = format!(
            "echo \"env=$FENCE_VFORK_TEST\"; test -e /proc/self/fd/{fd} && echo kept; \
             test -t 0 || read -r line || echo stdin=null; \
             test \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ && echo leader"
        );
        let asked = Asked {
            keep: Some(fd),
            setsid: true,
            stdin_null: true,
            ..Asked::default()
        };
        let out = output(
            &["/bin/sh", "-c", &script],
            &["FENCE_VFORK_TEST=a=b"],
            asked,
        );
        assert_eq!(out, "env=a=b\nkept\nstdin=null\nleader\n");
        drop(kept);
    }
}
