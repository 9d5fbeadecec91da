//! The PTY relay (`allowPty`): the command runs on a pseudo-terminal made inside the
//! sandbox; fence copies bytes between the user's terminal (in raw mode) and its master,
//! and passes window-size changes on. The user's terminal itself never reaches the sandbox.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use super::sys;

const STDIN: RawFd = 0;
const STDOUT: RawFd = 1;

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
        let saved = sys::termios(STDIN).ok();
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
            let _ = sys::set_termios(STDIN, &sys::raw(*saved));
        }
    }

    pub fn leave_raw_mode(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = sys::set_termios(STDIN, saved);
        }
    }

    /// Copies the terminal's window size to the PTY (the kernel then signals SIGWINCH to
    /// the PTY's foreground process group).
    pub fn resize(&self) {
        if let Some(ws) = sys::window_size(STDOUT).or_else(|| sys::window_size(STDIN)) {
            sys::set_window_size(self.master.as_raw_fd(), &ws);
        }
    }

    /// The terminal has input: read what is there (stdin stays blocking, so only while
    /// `poll` says more is ready) and pass it on.
    pub fn on_stdin(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        while self.wants_stdin() {
            match sys::read(STDIN, &mut buf) {
                Ok(0) | Err(_) => self.stdin_open = false,
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.flush_to_master();
                }
            }
            if !sys::readable_now(STDIN) {
                break;
            }
        }
    }

    /// Writes pending input to the master, as much as it takes.
    pub fn flush_to_master(&mut self) {
        while !self.pending.is_empty() {
            match sys::write(self.master.as_raw_fd(), &self.pending) {
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
            match sys::read(self.master.as_raw_fd(), &mut buf) {
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
