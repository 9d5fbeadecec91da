//! Tunnels over loopback TCP, for every copier, driven as the proxy drives them: both
//! sockets registered edge-triggered with mio, one pump per wake-up. A tunnel that misses
//! a wake-up stalls, and the test fails instead of hanging.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::{Copier, Tunnel};

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
        let (c, u) = (self.client.as_raw_fd(), self.upstream.as_raw_fd());
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(40);
        while !self.tunnel.pump(c, u)? {
            self.poll
                .poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(
                !events.is_empty(),
                "no wake-up for 10 s: the tunnel stalled"
            );
            assert!(Instant::now() < deadline, "the tunnel did not end");
        }
        Ok(self.tunnel.moved())
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
