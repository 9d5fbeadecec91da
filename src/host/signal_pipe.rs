//! A [`SignalSource`] for platforms without a signalfd (macOS): the classic self-pipe. A
//! handler, installed with `SA_SIGINFO | SA_RESTART`, writes each signal's number and
//! `si_code` into a non-blocking pipe; the host loop reads them back. Written portably (it
//! is exercised by the Linux test suite), used by the macOS backend.
//!
//! One per process: the handler finds the pipe through a global. Dropping it puts the
//! signals' previous dispositions back before the pipe is closed, so a late signal can never
//! write into an fd that was reused meanwhile.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use super::SignalSource;
use crate::sys;

/// The write end of the live pipe, or -1.
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

/// Held by the tests that make a `SignalPipe` (one per process).
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One record in the pipe: signal number and `si_code`, native-endian.
const RECORD: usize = 8;

pub struct SignalPipe {
    read: OwnedFd,
    /// Kept open for the handler (closed after the handler is gone).
    _write: OwnedFd,
    /// The signals handled, with their previous actions.
    previous: Vec<(libc::c_int, libc::sigaction)>,
    /// A partial record read so far (a pipe write of 8 bytes is atomic, so this stays
    /// empty in practice).
    partial: Vec<u8>,
}

impl SignalPipe {
    /// Catches `signals` from now on. Fails if another `SignalPipe` is alive.
    pub fn new(signals: &[libc::c_int]) -> io::Result<SignalPipe> {
        let (read, write) = sys::nonblocking_pipe()?;
        if WRITE_END
            .compare_exchange(-1, write.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::other("a signal pipe exists already"));
        }
        let mut pipe = SignalPipe {
            read,
            _write: write,
            previous: Vec::new(),
            partial: Vec::new(),
        };
        for &signal in signals {
            let previous = install(signal)?;
            pipe.previous.push((signal, previous));
        }
        Ok(pipe)
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for (signal, previous) in self.previous.drain(..).rev() {
            restore(signal, &previous);
        }
        WRITE_END.store(-1, Ordering::SeqCst);
    }
}

impl SignalSource for SignalPipe {
    fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    fn next(&mut self) -> io::Result<Option<(libc::c_int, libc::c_int)>> {
        while self.partial.len() < RECORD {
            let mut buf = [0u8; RECORD];
            let want = RECORD - self.partial.len();
            match sys::read(self.read.as_fd(), &mut buf[..want]) {
                Ok(0) => return Ok(None),
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let record: Vec<u8> = self.partial.drain(..).collect();
        let signal = i32::from_ne_bytes(record[..4].try_into().expect("4 bytes"));
        let code = i32::from_ne_bytes(record[4..].try_into().expect("4 bytes"));
        Ok(Some((signal, code)))
    }
}

/// The handler: async-signal-safe (an atomic load, `write`, and errno saved around it).
extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd: RawFd = WRITE_END.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let saved = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        unsafe { (*info).si_code }
    };
    let mut record = [0u8; RECORD];
    record[..4].copy_from_slice(&signal.to_ne_bytes());
    record[4..].copy_from_slice(&code.to_ne_bytes());
    // SAFETY: write(2) from a valid 8-byte buffer; a full pipe drops the record (EAGAIN),
    // which only loses a signal that a flood of the same kind repeats anyway.
    unsafe { libc::write(fd, record.as_ptr().cast(), RECORD) };
    set_errno(saved);
}

fn set_errno(value: libc::c_int) {
    // SAFETY: the errno location is this thread's, valid for the thread's lifetime.
    unsafe {
        #[cfg(target_os = "linux")]
        {
            *libc::__errno_location() = value;
        }
        #[cfg(target_vendor = "apple")]
        {
            *libc::__error() = value;
        }
    }
}

fn install(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: sigaction is plain data; the handler has the SA_SIGINFO signature and only
    // does async-signal-safe work; `old` receives the previous action.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        sys::check(libc::sigaction(signal, &action, &mut old))?;
        Ok(old)
    }
}

fn restore(signal: libc::c_int, previous: &libc::sigaction) {
    // SAFETY: `previous` is an action sigaction returned for this signal.
    unsafe { libc::sigaction(signal, previous, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_arrive_through_the_pipe_and_the_old_action_returns() {
        let _serial = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut pipe = SignalPipe::new(&[libc::SIGUSR2]).unwrap();
        assert!(
            SignalPipe::new(&[libc::SIGUSR2]).is_err(),
            "one per process"
        );
        assert_eq!(pipe.next().unwrap(), None);
        // SAFETY: raise sends SIGUSR2 to this thread; the handler above catches it.
        unsafe { libc::raise(libc::SIGUSR2) };
        let (signal, code) = pipe.next().unwrap().expect("a signal");
        assert_eq!(signal, libc::SIGUSR2);
        assert!(sys::sent_by_a_process(code), "si_code {code}");
        assert_eq!(pipe.next().unwrap(), None);
        drop(pipe);
        assert!(!sys::is_ignored(libc::SIGUSR2));
        // Another may be made once the first is gone.
        drop(SignalPipe::new(&[]).unwrap());
    }
}
