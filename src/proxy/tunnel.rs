//! A two-way byte relay between the client and the upstream socket. Each direction moves
//! data with `splice(2)` through its own pipe, so payload bytes never enter user space.
//! Bytes fence already read (a request's tail, a pipelined TLS hello) go first, by `write`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::sys;

/// Pipe size asked for; larger pipes mean fewer system calls per megabyte.
const PIPE_SIZE: usize = 256 * 1024;

#[derive(Default)]
struct Direction {
    /// Bytes to write before splicing (already read into user space).
    prefix: Vec<u8>,
    /// (read end, write end, capacity), made on first use.
    pipe: Option<(OwnedFd, OwnedFd, usize)>,
    in_pipe: usize,
    source_done: bool,
    /// The destination's write side was shut down after the source ended.
    finished: bool,
    /// Bytes delivered to the destination.
    moved: u64,
}

impl Direction {
    /// Moves what can move now; Ok(true) if anything did.
    fn pump(&mut self, from: RawFd, to: RawFd) -> io::Result<bool> {
        let mut progressed = false;
        loop {
            let mut step = false;
            if !self.prefix.is_empty() {
                match sys::send(to, &self.prefix) {
                    Ok(n) => {
                        self.prefix.drain(..n);
                        self.moved += n as u64;
                        step = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if self.prefix.is_empty() {
                if self.in_pipe > 0 {
                    let (read_end, _, _) = self.pipe.as_ref().expect("a pipe holds the bytes");
                    match sys::splice(read_end.as_raw_fd(), to, self.in_pipe) {
                        Ok(n) => {
                            self.in_pipe -= n;
                            self.moved += n as u64;
                            step |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                if !self.source_done {
                    if self.pipe.is_none() {
                        self.pipe = Some(sys::pipe(PIPE_SIZE)?);
                    }
                    let (_, write_end, capacity) = self.pipe.as_ref().expect("just made");
                    let room = capacity.saturating_sub(self.in_pipe);
                    if room > 0 {
                        match sys::splice(from, write_end.as_raw_fd(), room) {
                            Ok(0) => {
                                self.source_done = true;
                                step = true;
                            }
                            Ok(n) => {
                                self.in_pipe += n;
                                step = true;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            if self.source_done && self.in_pipe == 0 && self.prefix.is_empty() && !self.finished {
                self.finished = true;
                // Half-close: the peer sees end-of-file and may still answer. The peer may
                // already be gone; then the other direction ends too.
                let _ = sys::shutdown_write(to);
                self.pipe = None;
                step = true;
            }
            if !step {
                return Ok(progressed);
            }
            progressed = true;
        }
    }
}

/// Both directions of one tunnel.
#[derive(Default)]
pub struct Tunnel {
    to_upstream: Direction,
    to_client: Direction,
}

impl Tunnel {
    /// A tunnel whose first bytes toward each side are already known.
    pub fn new(to_upstream: Vec<u8>, to_client: Vec<u8>) -> Tunnel {
        Tunnel {
            to_upstream: Direction {
                prefix: to_upstream,
                ..Direction::default()
            },
            to_client: Direction {
                prefix: to_client,
                ..Direction::default()
            },
        }
    }

    /// Moves whatever can move in both directions. Ok(true) once both directions have
    /// ended (the tunnel can be closed); an error means a side failed (reset).
    pub fn pump(&mut self, client: RawFd, upstream: RawFd) -> io::Result<bool> {
        loop {
            let up = self.to_upstream.pump(client, upstream)?;
            let down = self.to_client.pump(upstream, client)?;
            if !up && !down {
                break;
            }
        }
        Ok(self.to_upstream.finished && self.to_client.finished)
    }

    /// Bytes delivered (to the upstream, to the client).
    pub fn moved(&self) -> (u64, u64) {
        (self.to_upstream.moved, self.to_client.moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        (a, b)
    }

    #[test]
    fn relays_both_ways_with_prefixes_and_half_close() {
        let (mut client_app, client_side) = pair();
        let (upstream_side, mut server_app) = pair();
        client_side.set_nonblocking(true).unwrap();
        upstream_side.set_nonblocking(true).unwrap();
        let mut tunnel = Tunnel::new(b"head:".to_vec(), b"hello:".to_vec());
        let big = vec![7u8; 3 * 1024 * 1024];
        let writer = {
            let big = big.clone();
            let mut app = client_app.try_clone().unwrap();
            std::thread::spawn(move || {
                app.write_all(&big).unwrap();
                app.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            server_app.read_to_end(&mut got).unwrap();
            server_app.write_all(b"bye").unwrap();
            server_app.shutdown(std::net::Shutdown::Write).unwrap();
            got
        });
        let (c, u) = (client_side.as_raw_fd(), upstream_side.as_raw_fd());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !tunnel.pump(c, u).unwrap() {
            assert!(std::time::Instant::now() < deadline, "tunnel stalled");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        writer.join().unwrap();
        let got = reader.join().unwrap();
        assert_eq!(&got[..5], b"head:");
        assert_eq!(got.len(), 5 + big.len());
        let mut back = Vec::new();
        client_app.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"hello:bye");
        assert_eq!(tunnel.moved(), (5 + big.len() as u64, 9));
    }
}
