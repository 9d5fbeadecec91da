//! The PTY relay (`allowPty`): the command runs on a pseudo-terminal made inside the
//! sandbox; fence copies bytes between the user's terminal (in raw mode) and its master,
//! and passes window-size changes on. The user's terminal itself never reaches the sandbox.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, Once, TryLockError};

use crate::sys;

/// The terminal in raw mode and its attributes from before, for the panic hook: with
/// `panic = "abort"` no destructor runs, so [`Relay`]'s drop cannot restore the terminal.
static RAW_TERMINAL: Mutex<Option<(RawFd, libc::termios)>> = Mutex::new(None);

/// Makes a panic restore the terminal (before the previous hook prints the message, so the
/// message is readable) for as long as one is recorded in [`RAW_TERMINAL`].
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_raw_terminal();
            previous(info);
        }));
    });
}

fn record_raw_terminal(raw: Option<(RawFd, libc::termios)>) {
    let mut slot = match RAW_TERMINAL.lock() {
        Ok(slot) => slot,
        Err(poisoned) => poisoned.into_inner(),
    };
    *slot = raw;
}

/// Restores the recorded terminal, if any. Never blocks (a panic may come from anywhere).
fn restore_raw_terminal() {
    let slot = match RAW_TERMINAL.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    if let Some((fd, saved)) = *slot {
        // SAFETY: a recorded fd is open while it is recorded: fence records fd 0, which is
        // never closed, and the test clears its record before it closes its terminal.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = sys::set_termios(fd, &saved);
    }
}

/// fence's stdin and stdout (the user's terminal).
fn stdin() -> BorrowedFd<'static> {
    // SAFETY: fd 0 stays open for the life of the process: neither std nor fence closes it.
    unsafe { BorrowedFd::borrow_raw(0) }
}

fn stdout() -> BorrowedFd<'static> {
    // SAFETY: fd 1 stays open for the life of the process: neither std nor fence closes it.
    unsafe { BorrowedFd::borrow_raw(1) }
}

pub struct Relay {
    master: OwnedFd,
    /// The terminal's attributes before raw mode, restored on drop and when fence stops.
    saved: Option<libc::termios>,
    /// Input read from the terminal that the master did not take yet.
    pending: Vec<u8>,
    stdin_open: bool,
}

impl Relay {
    /// Takes over the terminal: raw mode, the master's size set from it.
    pub fn start(master: OwnedFd) -> std::io::Result<Relay> {
        sys::set_nonblocking(master.as_fd())?;
        let saved = sys::termios(stdin()).ok();
        let mut relay = Relay {
            master,
            saved,
            pending: Vec::new(),
            stdin_open: true,
        };
        relay.enter_raw_mode();
        relay.resize();
        Ok(relay)
    }

    pub fn master_fd(&self) -> RawFd {
        self.master.as_raw_fd()
    }

    pub fn wants_stdin(&self) -> bool {
        self.stdin_open && self.pending.is_empty()
    }

    pub fn wants_to_write(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn enter_raw_mode(&mut self) {
        if let Some(saved) = &self.saved {
            install_panic_hook();
            record_raw_terminal(Some((0, *saved)));
            let _ = sys::set_termios(stdin(), &sys::raw(*saved));
        }
    }

    pub fn leave_raw_mode(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = sys::set_termios(stdin(), saved);
            record_raw_terminal(None);
        }
    }

    /// Copies the terminal's window size to the PTY (the kernel then signals SIGWINCH to
    /// the PTY's foreground process group).
    pub fn resize(&self) {
        if let Some(ws) = sys::window_size(stdout()).or_else(|| sys::window_size(stdin())) {
            sys::set_window_size(self.master.as_fd(), &ws);
        }
    }

    /// The terminal has input: read what is there (stdin stays blocking, so only while
    /// `poll` says more is ready) and pass it on.
    pub fn on_stdin(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        while self.wants_stdin() {
            match sys::read(stdin(), &mut buf) {
                Ok(0) | Err(_) => self.stdin_open = false,
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.flush_to_master();
                }
            }
            if !sys::readable_now(stdin()) {
                break;
            }
        }
    }

    /// Writes pending input to the master, as much as it takes.
    pub fn flush_to_master(&mut self) {
        while !self.pending.is_empty() {
            match sys::write(self.master.as_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pending.clear();
                    self.stdin_open = false;
                }
            }
        }
    }

    /// The command wrote: copy everything available to the terminal.
    pub fn on_master(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        let mut out = std::io::stdout().lock();
        loop {
            match sys::read(self.master.as_fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                // WouldBlock: drained; EIO: every slave is closed.
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.leave_raw_mode();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while a terminal is raw restores it, also where no destructor would run
    /// (`panic = "abort"`): the hook does it, before the panic message.
    #[test]
    fn a_panic_restores_the_raw_terminal() {
        let (_master, slave_path) = sys::open_pty().unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                    slave_path.to_bytes(),
                ),
            )
            .unwrap();
        let fd = slave.as_fd();
        let saved = sys::termios(fd).unwrap();
        assert_ne!(saved.c_lflag & libc::ICANON, 0, "a new terminal is cooked");
        install_panic_hook();
        record_raw_terminal(Some((fd.as_raw_fd(), saved)));
        sys::set_termios(fd, &sys::raw(saved)).unwrap();
        assert_eq!(sys::termios(fd).unwrap().c_lflag & libc::ICANON, 0);

        let panicked = std::panic::catch_unwind(|| panic!("a bug while the terminal is raw"));
        assert!(panicked.is_err());
        let now = sys::termios(fd).unwrap();
        assert_eq!(now.c_lflag, saved.c_lflag);
        assert_eq!(now.c_iflag, saved.c_iflag);
        assert_eq!(now.c_oflag, saved.c_oflag);
        record_raw_terminal(None);

        // Once left, nothing is restored any more.
        sys::set_termios(fd, &sys::raw(saved)).unwrap();
        let _ = std::panic::catch_unwind(|| panic!("a later, unrelated panic"));
        assert_eq!(sys::termios(fd).unwrap().c_lflag & libc::ICANON, 0);
    }
}
