//! The Linux stage: a pipe per direction, filled from the source socket and drained into
//! the destination with `splice(2)`; the bytes stay in the kernel.
//!
//! A splice moves at most a pipe's worth, so the pipe's size sets the system calls per
//! byte. A pipe is made on its direction's first read at the kernel's default size
//! (64 KiB), plenty for requests, answers and interactive traffic. Only a bulk direction,
//! one that has moved [`GROW_AFTER`] bytes, grows its pipe to [`BULK_SIZE`] (at most
//! `/proc/sys/fs/pipe-max-size`). The kernel charges every pipe's full size to its user,
//! bytes in it or not, and once a user's pipes reach `/proc/sys/fs/pipe-user-pages-soft`
//! (64 MiB by default; root is exempt) it makes new pipes 8 KiB and refuses to grow any:
//! quiet tunnels keeping 64 KiB pipes leave that room to the bulk ones. A refusal is no
//! error: the pipe keeps its size and asks again after another [`GROW_AFTER`] bytes.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::Stage;
use crate::proxy::sys;

/// The size a bulk direction's pipe grows to: 256 pages, a splice per mebibyte.
pub(super) const BULK_SIZE: usize = 1 << 20;
/// Bytes a direction moves through its pipe before the pipe grows (or tries again).
pub(super) const GROW_AFTER: u64 = 1 << 20;

pub struct Pipe {
    /// (read end, write end), made on first use.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// The pipe's size in bytes.
    capacity: usize,
    /// Bytes in the pipe.
    in_pipe: usize,
    /// A read found no room (the pipe's slots can run out before its bytes: a slot holds
    /// one packet's piece of a page): no more reads until a write made room.
    full: bool,
    /// Bytes read into the pipe since it was made.
    filled: u64,
    /// The pipe grows when `filled` reaches this; `u64::MAX` once it has grown.
    grow_at: u64,
}

impl Default for Pipe {
    fn default() -> Pipe {
        Pipe {
            pipe: None,
            capacity: 0,
            in_pipe: 0,
            full: false,
            filled: 0,
            grow_at: GROW_AFTER,
        }
    }
}

impl Pipe {
    fn grow(&mut self) {
        let (_, write_end) = self.pipe.as_ref().expect("a pipe to grow");
        let size = BULK_SIZE.min(sys::pipe_max_size());
        if self.capacity >= size {
            self.grow_at = u64::MAX;
            return;
        }
        match set_size(write_end, size) {
            Ok(capacity) => {
                self.capacity = capacity;
                self.grow_at = u64::MAX;
            }
            Err(e) => {
                if self.grow_at == GROW_AFTER {
                    log::debug!("a tunnel's pipe stays at {} bytes: {e}", self.capacity);
                }
                self.grow_at = self.filled.saturating_add(GROW_AFTER);
            }
        }
    }

    /// The pipe's size in bytes (0 before it is made).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(not(test))]
fn set_size(pipe: &OwnedFd, size: usize) -> io::Result<usize> {
    sys::set_pipe_size(pipe, size)
}

#[cfg(test)]
thread_local! {
    /// Tests set this to make growing fail as it does over `pipe-user-pages-soft`.
    pub static REFUSE_GROWTH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn set_size(pipe: &OwnedFd, size: usize) -> io::Result<usize> {
    if REFUSE_GROWTH.get() {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    sys::set_pipe_size(pipe, size)
}

impl Stage for Pipe {
    fn fill(&mut self, from: RawFd) -> io::Result<Option<usize>> {
        if self.pipe.is_none() {
            let (read_end, write_end, capacity) = sys::pipe()?;
            self.pipe = Some((read_end, write_end));
            self.capacity = capacity;
        }
        if self.filled >= self.grow_at {
            self.grow();
        }
        let room = self.capacity.saturating_sub(self.in_pipe);
        if room == 0 || self.full {
            return Ok(None);
        }
        let (_, write_end) = self.pipe.as_ref().expect("just made");
        let n = match sys::splice(from, write_end.as_raw_fd(), room) {
            // With bytes in the pipe, EAGAIN may mean the source is empty or that the
            // pipe is: it counts as full, so the reads stop until a write made room
            // (which reads again). A pipe that holds nothing always has room.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.in_pipe > 0 => {
                self.full = true;
                return Ok(None);
            }
            other => other?,
        };
        self.in_pipe += n;
        self.filled += n as u64;
        Ok(Some(n))
    }

    fn drain(&mut self, to: RawFd) -> io::Result<usize> {
        let (read_end, _) = self.pipe.as_ref().expect("a pipe holds the bytes");
        let n = sys::splice(read_end.as_raw_fd(), to, self.in_pipe)?;
        self.in_pipe -= n;
        self.full &= n == 0;
        Ok(n)
    }

    fn held(&self) -> usize {
        self.in_pipe
    }

    fn full(&self) -> bool {
        self.full || (self.pipe.is_some() && self.in_pipe >= self.capacity)
    }

    fn release(&mut self) {
        self.pipe = None;
    }
}
