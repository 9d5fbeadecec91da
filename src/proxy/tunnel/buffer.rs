//! The portable stage: a user-space buffer per direction, filled with `recv` and drained
//! with `send`. A direction holds its buffer only while bytes wait in it or it is being
//! pumped; idle directions give it back to a small per-thread pool, so that thousands of
//! quiet tunnels hold no buffers, and a read that finds nothing costs no allocation.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use super::Stage;
use crate::proxy::sys;

/// Bytes a direction holds at most (as much as a splice pipe); the source is not read
/// while its buffer is full. Smaller buffers cost more CPU per byte (more system calls).
const BUFFER_SIZE: usize = 256 * 1024;
/// Empty buffers kept for reuse (per thread). A pump takes at most two (one per direction)
/// and gives back the empty ones before the next tunnel's pump.
const POOL_SIZE: usize = 2;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
pub struct Buffer {
    /// Bytes read; those before `start` are written already. No capacity while idle.
    data: Vec<u8>,
    start: usize,
}

impl Stage for Buffer {
    fn fill(&mut self, from: RawFd) -> io::Result<Option<usize>> {
        if self.data.len() == BUFFER_SIZE && self.start > 0 {
            // Full up to the end, but the head is written: move the rest to the front.
            self.data.drain(..self.start);
            self.start = 0;
        }
        let room = BUFFER_SIZE - self.data.len();
        if room == 0 {
            return Ok(None);
        }
        if self.data.capacity() == 0 {
            self.data = POOL
                .with_borrow_mut(Vec::pop)
                .unwrap_or_else(|| Vec::with_capacity(BUFFER_SIZE));
        }
        sys::recv_append(from, &mut self.data, room).map(Some)
    }

    fn drain(&mut self, to: RawFd) -> io::Result<usize> {
        let n = sys::send(to, &self.data[self.start..])?;
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
        Ok(n)
    }

    fn held(&self) -> usize {
        self.data.len() - self.start
    }

    fn full(&self) -> bool {
        self.data.len() == BUFFER_SIZE && self.start == 0
    }

    fn idle(&mut self) {
        if self.held() == 0 {
            self.release();
        }
    }

    fn release(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        self.start = 0;
        if data.capacity() == BUFFER_SIZE {
            data.clear();
            POOL.with_borrow_mut(|pool| {
                if pool.len() < POOL_SIZE {
                    pool.push(data);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn a_full_buffer_reads_nothing_until_its_head_is_written() {
        let (mut src_app, src) = pair();
        src_app.write_all(&[9u8; 5000]).unwrap();
        let mut buffer = Buffer {
            data: (0..BUFFER_SIZE).map(|i| i as u8).collect(),
            start: 0,
        };
        assert_eq!(buffer.fill(src.as_raw_fd()).unwrap(), None);
        // 1000 bytes written: the rest moves to the front and 1000 more fit behind it.
        buffer.start = 1000;
        assert_eq!(buffer.fill(src.as_raw_fd()).unwrap(), Some(1000));
        assert_eq!((buffer.start, buffer.held()), (0, BUFFER_SIZE));
        let mut expected: Vec<u8> = (1000..BUFFER_SIZE).map(|i| i as u8).collect();
        expected.extend_from_slice(&[9u8; 1000]);
        assert!(buffer.data == expected);
        assert_eq!(buffer.fill(src.as_raw_fd()).unwrap(), None);
        // Written out in full, it is empty again and reads on.
        let (dst, mut dst_app) = pair();
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        while buffer.held() > 0 {
            match buffer.drain(dst.as_raw_fd()) {
                Ok(n) => assert!(n > 0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            while let Ok(n) = dst_app.read(&mut chunk) {
                out.extend_from_slice(&chunk[..n]);
            }
        }
        assert!(buffer.data.is_empty() && buffer.start == 0);
        assert_eq!(buffer.fill(src.as_raw_fd()).unwrap(), Some(4000));
        drop(dst);
        while let Ok(n) = dst_app.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert!(out == expected);
    }

    #[test]
    fn idle_buffers_go_back_to_the_pool() {
        let (mut src_app, src) = pair();
        let mut buffer = Buffer::default();
        let err = buffer.fill(src.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        buffer.idle();
        assert_eq!(buffer.data.capacity(), 0);
        let pooled = POOL.with_borrow(Vec::len);
        assert!(pooled >= 1);
        // A buffer holding bytes keeps them.
        src_app.write_all(b"x").unwrap();
        assert_eq!(buffer.fill(src.as_raw_fd()).unwrap(), Some(1));
        assert_eq!(POOL.with_borrow(Vec::len), pooled - 1);
        buffer.idle();
        assert_eq!(buffer.held(), 1);
        assert_eq!(buffer.data.capacity(), BUFFER_SIZE);
    }
}
