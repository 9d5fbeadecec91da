//! The Linux stage: a pipe per direction, filled from the source socket and drained into
//! the destination with `splice(2)`; the bytes stay in the kernel.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::Stage;
use crate::proxy::sys;

/// Pipe size asked for; larger pipes mean fewer system calls per megabyte.
const PIPE_SIZE: usize = 256 * 1024;

#[derive(Default)]
pub struct Pipe {
    /// (read end, write end, capacity), made on first use.
    pipe: Option<(OwnedFd, OwnedFd, usize)>,
    in_pipe: usize,
}

impl Stage for Pipe {
    fn fill(&mut self, from: RawFd) -> io::Result<Option<usize>> {
        if self.pipe.is_none() {
            self.pipe = Some(sys::pipe(PIPE_SIZE)?);
        }
        let (_, write_end, capacity) = self.pipe.as_ref().expect("just made");
        let room = capacity.saturating_sub(self.in_pipe);
        if room == 0 {
            return Ok(None);
        }
        let n = sys::splice(from, write_end.as_raw_fd(), room)?;
        self.in_pipe += n;
        Ok(Some(n))
    }

    fn drain(&mut self, to: RawFd) -> io::Result<usize> {
        let (read_end, _, _) = self.pipe.as_ref().expect("a pipe holds the bytes");
        let n = sys::splice(read_end.as_raw_fd(), to, self.in_pipe)?;
        self.in_pipe -= n;
        Ok(n)
    }

    fn held(&self) -> usize {
        self.in_pipe
    }

    fn release(&mut self) {
        self.pipe = None;
    }
}
