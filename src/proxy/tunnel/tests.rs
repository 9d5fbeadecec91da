//! Tunnels over loopback TCP, for every copier, driven as the proxy drives them: both
//! sockets registered edge-triggered with mio, one pump per wake-up. A tunnel that misses
//! a wake-up stalls, and the test fails instead of hanging.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::{Copier, Readiness, Tunnel};

/// A connected pair: (the application's end, fence's end).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

/// fence's side of one tunnel.
struct Relay {
    poll: Poll,
    client: mio::net::TcpStream,
    upstream: mio::net::TcpStream,
    tunnel: Tunnel,
}

impl Relay {
    fn new(client: TcpStream, upstream: TcpStream, tunnel: Tunnel) -> Relay {
        client.set_nonblocking(true).unwrap();
        upstream.set_nonblocking(true).unwrap();
        let mut client = mio::net::TcpStream::from_std(client);
        let mut upstream = mio::net::TcpStream::from_std(upstream);
        let poll = Poll::new().unwrap();
        let both = Interest::READABLE | Interest::WRITABLE;
        poll.registry()
            .register(&mut client, Token(0), both)
            .unwrap();
        poll.registry()
            .register(&mut upstream, Token(1), both)
            .unwrap();
        Relay {
            poll,
            client,
            upstream,
            tunnel,
        }
    }

    /// Pumps once, then on every wake-up, until the tunnel ends: the bytes it moved (up,
    /// down), or the error that ended it.
    fn run(&mut self) -> io::Result<(u64, u64)> {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !self.pump()? {
            self.wait();
            assert!(Instant::now() < deadline, "the tunnel did not end");
        }
        Ok(self.tunnel.moved())
    }

    /// One pump, then what the proxy does after it: watches the sockets as the tunnel
    /// asks. Ok(true) once the tunnel ended.
    fn pump(&mut self) -> io::Result<bool> {
        let (c, u) = (self.client.as_raw_fd(), self.upstream.as_raw_fd());
        if self.tunnel.pump(c, u)? {
            return Ok(true);
        }
        let (client_read, upstream_read) = self.tunnel.interest();
        let registry = self.poll.registry();
        if let Some(read) = client_read {
            registry.reregister(&mut self.client, Token(0), interest(read))?;
        }
        if let Some(read) = upstream_read {
            registry.reregister(&mut self.upstream, Token(1), interest(read))?;
        }
        Ok(false)
    }

    /// Waits for events and hands them to the tunnel; fails after 10 s without one.
    fn wait(&mut self) {
        let mut events = Events::with_capacity(8);
        self.poll
            .poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(
            !events.is_empty(),
            "no wake-up for 10 s: the tunnel stalled"
        );
        for event in &events {
            let upstream = event.token() == Token(1);
            self.tunnel.woken(upstream, Readiness::of(event));
        }
    }
}

/// As the proxy watches a tunnel's socket (see `conn::tunnel_interest`).
fn interest(read: bool) -> Interest {
    if read {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::WRITABLE
    }
}

/// Some bytes that show where they came from and where they were in the stream.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed ^ (i >> 16) as u8)
        .collect()
}

/// Writes `data` to `stream` and shuts down its write side, in a thread.
fn send_all(stream: &TcpStream, data: Vec<u8>) -> thread::JoinHandle<()> {
    let mut stream = stream.try_clone().unwrap();
    thread::spawn(move || {
        stream.write_all(&data).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
    })
}

/// Reads `stream` to its end, in a thread.
fn read_all(stream: &TcpStream) -> thread::JoinHandle<Vec<u8>> {
    let mut stream = stream.try_clone().unwrap();
    thread::spawn(move || {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    })
}

#[test]
fn relays_both_ways_with_prefixes_and_half_close() {
    for &copier in Copier::ALL {
        let (mut client_app, client_side) = pair();
        let (upstream_side, mut server_app) = pair();
        let tunnel = Tunnel::new(b"head:".to_vec(), b"hello:".to_vec(), copier);
        let mut relay = Relay::new(client_side, upstream_side, tunnel);
        let big = vec![7u8; 3 * 1024 * 1024];
        let writer = send_all(&client_app, big.clone());
        let server = thread::spawn(move || {
            let mut got = Vec::new();
            server_app.read_to_end(&mut got).unwrap();
            server_app.write_all(b"bye").unwrap();
            server_app.shutdown(Shutdown::Write).unwrap();
            got
        });
        let moved = relay.run().unwrap();
        writer.join().unwrap();
        let got = server.join().unwrap();
        assert_eq!(&got[..5], b"head:", "{copier:?}");
        assert_eq!(got.len(), 5 + big.len(), "{copier:?}");
        let mut back = Vec::new();
        client_app.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"hello:bye", "{copier:?}");
        assert_eq!(moved, (5 + big.len() as u64, 9), "{copier:?}");
    }
}

#[test]
fn big_transfers_both_ways_at_once() {
    const LEN: usize = 8 * 1024 * 1024;
    for &copier in Copier::ALL {
        let (client_app, client_side) = pair();
        let (upstream_side, server_app) = pair();
        let mut relay = Relay::new(
            client_side,
            upstream_side,
            Tunnel::new(vec![], vec![], copier),
        );
        let threads = [
            send_all(&client_app, pattern(LEN, 1)),
            send_all(&server_app, pattern(LEN, 2)),
        ];
        let at_server = read_all(&server_app);
        let at_client = read_all(&client_app);
        let moved = relay.run().unwrap();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(
            at_server.join().unwrap() == pattern(LEN, 1),
            "{copier:?} up"
        );
        assert!(
            at_client.join().unwrap() == pattern(LEN, 2),
            "{copier:?} down"
        );
        assert_eq!(moved, (LEN as u64, LEN as u64), "{copier:?}");
    }
}

#[test]
fn after_one_side_is_done_the_other_streams_on() {
    const LEN: usize = 4 * 1024 * 1024;
    for &copier in Copier::ALL {
        let (client_app, client_side) = pair();
        let (upstream_side, mut server_app) = pair();
        let mut relay = Relay::new(
            client_side,
            upstream_side,
            Tunnel::new(vec![], vec![], copier),
        );
        let request = send_all(&client_app, b"GET everything".to_vec());
        let server = thread::spawn(move || {
            // The client's end-of-file arrives before the server answers anything.
            let mut got = Vec::new();
            server_app.read_to_end(&mut got).unwrap();
            server_app.write_all(&pattern(LEN, 3)).unwrap();
            server_app.shutdown(Shutdown::Write).unwrap();
            got
        });
        let at_client = read_all(&client_app);
        let moved = relay.run().unwrap();
        request.join().unwrap();
        assert_eq!(server.join().unwrap(), b"GET everything", "{copier:?}");
        assert!(at_client.join().unwrap() == pattern(LEN, 3), "{copier:?}");
        assert_eq!(moved, (14, LEN as u64), "{copier:?}");
    }
}

#[test]
fn prefixes_larger_than_the_sockets_take_go_first() {
    const PREFIX: usize = 3 * 1024 * 1024;
    for &copier in Copier::ALL {
        let (client_app, client_side) = pair();
        let (upstream_side, server_app) = pair();
        let tunnel = Tunnel::new(pattern(PREFIX, 4), pattern(PREFIX, 5), copier);
        let mut relay = Relay::new(client_side, upstream_side, tunnel);
        let threads = [
            send_all(&client_app, b"after the prefix".to_vec()),
            send_all(&server_app, b"after the other prefix".to_vec()),
        ];
        let at_server = read_all(&server_app);
        let at_client = read_all(&client_app);
        relay.run().unwrap();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let (up, down) = (at_server.join().unwrap(), at_client.join().unwrap());
        assert!(up[..PREFIX] == pattern(PREFIX, 4), "{copier:?}");
        assert_eq!(&up[PREFIX..], b"after the prefix", "{copier:?}");
        assert!(down[..PREFIX] == pattern(PREFIX, 5), "{copier:?}");
        assert_eq!(&down[PREFIX..], b"after the other prefix", "{copier:?}");
    }
}

#[test]
fn a_peer_reset_ends_the_tunnel_with_an_error() {
    for &copier in Copier::ALL {
        let (mut client_app, client_side) = pair();
        let (upstream_side, server_app) = pair();
        let mut relay = Relay::new(
            client_side,
            upstream_side,
            Tunnel::new(vec![], vec![], copier),
        );
        client_app.write_all(&[1u8; 16 * 1024]).unwrap();
        let server = thread::spawn(move || {
            // Closing with unread bytes resets the connection.
            server_app.peek(&mut [0u8; 1]).unwrap();
            drop(server_app);
        });
        let err = relay.run().unwrap_err();
        server.join().unwrap();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{copier:?}: {err}"
        );
    }
}

#[test]
fn a_socket_found_empty_is_read_again_only_after_an_event_for_it() {
    for &copier in Copier::ALL {
        let (mut client_app, client_side) = pair();
        let (upstream_side, mut server_app) = pair();
        client_side.set_nonblocking(true).unwrap();
        upstream_side.set_nonblocking(true).unwrap();
        let (c, u) = (client_side.as_raw_fd(), upstream_side.as_raw_fd());
        let mut tunnel = Tunnel::new(vec![], vec![], copier);
        assert!(!tunnel.pump(c, u).unwrap());
        client_app.write_all(b"ping").unwrap();
        thread::sleep(Duration::from_millis(50));
        // No event yet (the test holds it back): the client is not read.
        assert!(!tunnel.pump(c, u).unwrap());
        let writable = Readiness {
            readable: false,
            writable: true,
        };
        tunnel.woken(false, writable);
        tunnel.woken(true, Readiness::BOTH);
        assert!(!tunnel.pump(c, u).unwrap());
        assert_eq!(tunnel.moved(), (0, 0), "{copier:?}");
        tunnel.woken(false, Readiness::BOTH);
        assert!(!tunnel.pump(c, u).unwrap());
        assert_eq!(tunnel.moved(), (4, 0), "{copier:?}");
        let mut got = [0u8; 4];
        server_app.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    }
}

#[test]
fn a_source_is_not_watched_while_its_direction_cannot_take_its_bytes() {
    const LEN: usize = 24 * 1024 * 1024;
    for &copier in Copier::ALL {
        let (client_app, client_side) = pair();
        let (upstream_side, server_app) = pair();
        let tunnel = Tunnel::new(vec![], vec![], copier);
        let mut relay = Relay::new(client_side, upstream_side, tunnel);
        // The client reads nothing yet: the server's bytes fill the client's socket,
        // then the stage; the upstream is then not watched for reading (its packets
        // would wake the loop for nothing), the client still is.
        let server = send_all(&server_app, pattern(LEN, 6));
        let deadline = Instant::now() + Duration::from_secs(20);
        while relay.tunnel.watched.1 {
            assert!(!relay.pump().unwrap(), "{copier:?}");
            assert!(
                Instant::now() < deadline,
                "{copier:?}: the stage never filled"
            );
            relay.wait();
        }
        assert!(relay.tunnel.watched.0, "{copier:?}");
        // Once the client reads, the upstream is read (and watched) again, and every
        // byte arrives in order.
        let at_client = read_all(&client_app);
        client_app.shutdown(Shutdown::Write).unwrap();
        assert_eq!(relay.run().unwrap(), (0, LEN as u64), "{copier:?}");
        server.join().unwrap();
        assert!(at_client.join().unwrap() == pattern(LEN, 6), "{copier:?}");
    }
}

/// The splice stage's pipe, filled from a Unix socket and drained into another.
#[cfg(target_os = "linux")]
mod pipe {
    use std::io::{self, Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::thread;

    use super::super::pipe::{BULK_SIZE, GROW_AFTER, Pipe, REFUSE_GROWTH};
    use super::super::{Stage, Tunnel};
    use super::{Relay, pair, pattern, read_all, send_all};
    use crate::proxy::sys;

    fn unix_pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Moves `len` bytes written to `src_app` (by a thread) through `pipe` to `dst_app`
    /// (read by a thread), spinning on WouldBlock; returns the pipe's capacity after each
    /// fill, with the bytes filled so far.
    fn push(pipe: &mut Pipe, len: usize, seed: u8) -> Vec<(u64, usize)> {
        let (mut src_app, src) = unix_pair();
        let (dst, mut dst_app) = unix_pair();
        dst_app.set_nonblocking(false).unwrap();
        let data = pattern(len, seed);
        let writer = {
            let data = data.clone();
            thread::spawn(move || src_app.write_all(&data).unwrap())
        };
        let reader = thread::spawn(move || {
            let mut got = vec![0u8; len];
            dst_app.read_exact(&mut got).unwrap();
            got
        });
        let (mut filled, mut sizes) = (0u64, Vec::new());
        while filled < len as u64 || pipe.held() > 0 {
            if filled < len as u64 {
                match pipe.fill(src.as_raw_fd()) {
                    Ok(Some(n)) => {
                        assert!(n > 0, "end-of-file before {len} bytes");
                        filled += n as u64;
                        sizes.push((filled, pipe.capacity()));
                    }
                    Ok(None) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("fill: {e}"),
                }
            }
            if pipe.held() > 0 {
                match pipe.drain(dst.as_raw_fd()) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("drain: {e}"),
                }
            }
        }
        writer.join().unwrap();
        assert!(reader.join().unwrap() == data, "bytes lost or reordered");
        sizes
    }

    fn bulk_size() -> usize {
        BULK_SIZE.min(sys::pipe_max_size())
    }

    #[test]
    fn a_pipe_grows_once_its_direction_moved_a_lot() {
        let mut pipe = Pipe::default();
        let sizes = push(&mut pipe, 4 << 20, 1);
        let (_, first) = sizes[0];
        assert!(first < bulk_size(), "starts at the default size: {first}");
        for &(filled, capacity) in &sizes {
            if filled <= GROW_AFTER {
                assert_eq!(capacity, first, "grew after {filled} bytes");
            }
        }
        assert_eq!(sizes.last().unwrap().1, bulk_size(), "{sizes:?}");
        // Grown, it moves more than the default size at once.
        let most = sizes.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
        assert!(most > first as u64, "largest fill {most}");
    }

    #[test]
    fn a_pipe_the_kernel_will_not_grow_keeps_its_size_and_asks_again_later() {
        let mut pipe = Pipe::default();
        REFUSE_GROWTH.set(true);
        let sizes = push(&mut pipe, 3 << 20, 2);
        REFUSE_GROWTH.set(false);
        let (_, first) = sizes[0];
        assert!(sizes.iter().all(|&(_, c)| c == first), "{sizes:?}");
        // The kernel allows it again: the pipe grows after another GROW_AFTER bytes at
        // most, not at once.
        let later = push(&mut pipe, 3 << 20, 3);
        assert_eq!(later[0].1, first);
        assert_eq!(later.last().unwrap().1, bulk_size(), "{later:?}");
    }

    #[test]
    fn a_pipe_out_of_slots_waits_for_a_drain() {
        // Every write to a Unix socket is its own packet, and every packet takes a pipe
        // slot of its own: 100-byte packets fill a 64 KiB pipe's 16 slots with 1,600
        // bytes, far below its size in bytes.
        let (mut src_app, src) = unix_pair();
        let (dst, mut dst_app) = unix_pair();
        for i in 0..40u8 {
            src_app.write_all(&[i; 100]).unwrap();
        }
        let mut pipe = Pipe::default();
        let first = pipe.fill(src.as_raw_fd()).unwrap().unwrap();
        assert!(first < 4000 && first < pipe.capacity(), "{first}");
        assert_eq!(pipe.fill(src.as_raw_fd()).unwrap(), None, "full (of slots)");
        assert_eq!(pipe.fill(src.as_raw_fd()).unwrap(), None, "still full");
        assert_eq!(pipe.drain(dst.as_raw_fd()).unwrap(), first);
        let mut got = Vec::new();
        while got.len() < 4000 {
            match pipe.fill(src.as_raw_fd()) {
                Ok(Some(n)) => assert!(n > 0),
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
            while pipe.held() > 0 {
                pipe.drain(dst.as_raw_fd()).unwrap();
            }
            let mut chunk = [0u8; 4000];
            while let Ok(n) = dst_app.read(&mut chunk) {
                got.extend_from_slice(&chunk[..n]);
                if got.len() >= 4000 {
                    break;
                }
            }
        }
        let want: Vec<u8> = (0..40u8).flat_map(|i| [i; 100]).collect();
        assert!(got == want);
        let err = pipe.fill(src.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_tunnel_whose_pipes_cannot_grow_still_moves_everything() {
        const LEN: usize = 6 << 20;
        REFUSE_GROWTH.set(true);
        let (client_app, client_side) = pair();
        let (upstream_side, server_app) = pair();
        let tunnel = Tunnel::new(vec![], vec![], super::Copier::Splice);
        let mut relay = Relay::new(client_side, upstream_side, tunnel);
        let threads = [
            send_all(&client_app, pattern(LEN, 4)),
            send_all(&server_app, pattern(LEN, 5)),
        ];
        let at_server = read_all(&server_app);
        let at_client = read_all(&client_app);
        let moved = relay.run();
        REFUSE_GROWTH.set(false);
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(moved.unwrap(), (LEN as u64, LEN as u64));
        assert!(at_server.join().unwrap() == pattern(LEN, 4));
        assert!(at_client.join().unwrap() == pattern(LEN, 5));
        for direction in [&mut relay.tunnel.to_upstream, &mut relay.tunnel.to_client] {
            let super::super::AnyStage::Pipe(pipe) = &direction.stage else {
                panic!("not a pipe");
            };
            assert!(pipe.capacity() < bulk_size(), "{}", pipe.capacity());
        }
    }
}
