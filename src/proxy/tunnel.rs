//! A two-way byte relay between the client and the upstream socket. Each direction moves
//! its bytes through a stage, chosen per tunnel (a [`Copier`]): on Linux by default a pipe
//! filled and drained with `splice(2)`, so payload bytes never enter user space; elsewhere,
//! or when asked, a user-space buffer filled with `recv` and drained with `send`. Bytes fence
//! already read (a request's tail, a pipelined TLS hello) go first, by `send`.
//!
//! The sockets are non-blocking and their readiness is edge-triggered: [`Tunnel::pump`]
//! moves until every socket would block or a stage is full, so that the next event (more
//! data, or room to write) always comes. A socket found blocked is not tried again until
//! an event for it says it may have changed ([`Tunnel::woken`]): a bulk download's events
//! then cost no failing system call on the idle side.

use std::io;
use std::os::fd::RawFd;

use super::sys;

mod buffer;
#[cfg(target_os = "linux")]
mod pipe;
#[cfg(test)]
mod tests;

/// How a tunnel moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copier {
    /// `splice(2)` through a pipe per direction (Linux).
    #[cfg(target_os = "linux")]
    Splice,
    /// `recv` into a buffer per direction, `send` out of it (every platform).
    Buffered,
}

impl Copier {
    /// The platform's best copier.
    #[cfg(target_os = "linux")]
    pub const DEFAULT: Copier = Copier::Splice;
    #[cfg(not(target_os = "linux"))]
    pub const DEFAULT: Copier = Copier::Buffered;

    /// Every copier this platform has.
    pub const ALL: &[Copier] = &[
        #[cfg(target_os = "linux")]
        Copier::Splice,
        Copier::Buffered,
    ];

    /// [`Copier::DEFAULT`], unless the environment variable `FENCE_TUNNEL` says `buffered`.
    /// A test knob, not a user option (undocumented for users): it lets the integration
    /// tests and the network benchmark run the portable path on Linux.
    pub fn from_env() -> Copier {
        match std::env::var_os("FENCE_TUNNEL") {
            Some(v) if v == "buffered" => Copier::Buffered,
            _ => Copier::DEFAULT,
        }
    }

    fn stage(self) -> AnyStage {
        match self {
            #[cfg(target_os = "linux")]
            Copier::Splice => AnyStage::Pipe(pipe::Pipe::default()),
            Copier::Buffered => AnyStage::Buffer(buffer::Buffer::default()),
        }
    }
}

/// A direction's stage, held in place (no allocation per tunnel).
enum AnyStage {
    #[cfg(target_os = "linux")]
    Pipe(pipe::Pipe),
    Buffer(buffer::Buffer),
}

impl AnyStage {
    fn get(&mut self) -> &mut dyn Stage {
        match self {
            #[cfg(target_os = "linux")]
            AnyStage::Pipe(pipe) => pipe,
            AnyStage::Buffer(buffer) => buffer,
        }
    }
}

/// Where one direction's bytes wait between its source and its destination socket.
trait Stage {
    /// Reads from `from` what fits: Ok(Some(n)) read n bytes (0: end-of-file), Ok(None)
    /// read nothing because the stage is full (it reads again once a drain moved bytes).
    /// A WouldBlock error means `from` has nothing to read.
    fn fill(&mut self, from: RawFd) -> io::Result<Option<usize>>;
    /// Writes held bytes to `to`; only called while [`Stage::held`] is not 0.
    fn drain(&mut self, to: RawFd) -> io::Result<usize>;
    /// Bytes read and not yet written.
    fn held(&self) -> usize;
    /// A fill now would read nothing (Ok(None)): nothing is read until a drain.
    fn full(&self) -> bool;
    /// The direction has nothing to do until the next event: a chance to give back
    /// memory while nothing is held.
    fn idle(&mut self) {}
    /// The direction ended (nothing held): frees what the stage holds.
    fn release(&mut self);
}

struct Direction {
    /// Bytes to write before the stage's (already read into user space).
    prefix: Vec<u8>,
    stage: AnyStage,
    source_done: bool,
    /// The destination's write side was shut down after the source ended.
    finished: bool,
    /// Bytes delivered to the destination.
    moved: u64,
}

impl Direction {
    fn new(prefix: Vec<u8>, copier: Copier) -> Direction {
        Direction {
            prefix,
            stage: copier.stage(),
            source_done: false,
            finished: false,
            moved: 0,
        }
    }

    /// Whether a read from the source could move bytes now (it has not ended, and
    /// neither a prefix nor a full stage holds the reads back).
    fn can_read(&mut self) -> bool {
        !self.source_done && self.prefix.is_empty() && !self.stage.get().full()
    }

    /// Moves what can move now from `from` to `to`; Ok(true) if anything did. Reads only
    /// while `source` says `from` may have bytes, writes only while `dest` says `to` may
    /// take them, and clears those flags when the socket would block.
    fn pump(
        &mut self,
        (from, source): (RawFd, &mut Readiness),
        (to, dest): (RawFd, &mut Readiness),
    ) -> io::Result<bool> {
        let mut progressed = false;
        loop {
            let mut step = false;
            if !self.prefix.is_empty() && dest.writable {
                match sys::send(to, &self.prefix) {
                    Ok(n) => {
                        self.prefix.drain(..n);
                        self.moved += n as u64;
                        step = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dest.writable = false,
                    Err(e) => return Err(e),
                }
            }
            if self.prefix.is_empty() {
                let stage = self.stage.get();
                if stage.held() > 0 && dest.writable {
                    match stage.drain(to) {
                        Ok(n) => {
                            self.moved += n as u64;
                            step |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => dest.writable = false,
                        Err(e) => return Err(e),
                    }
                }
                if !self.source_done && source.readable {
                    match stage.fill(from) {
                        Ok(Some(0)) => {
                            self.source_done = true;
                            step = true;
                        }
                        Ok(Some(_)) => step = true,
                        // Full: the source waits until the destination takes bytes.
                        Ok(None) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            source.readable = false;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if self.source_done
                && self.stage.get().held() == 0
                && self.prefix.is_empty()
                && !self.finished
            {
                self.finished = true;
                // Half-close: the peer sees end-of-file and may still answer. The peer may
                // already be gone; then the other direction ends too.
                let _ = sys::shutdown_write(to);
                self.stage.get().release();
                step = true;
            }
            if !step {
                return Ok(progressed);
            }
            progressed = true;
        }
    }
}

/// What a tunnel knows of one of its sockets: whether it may have bytes to read, and room
/// to write. A read or write that would block clears its flag; an event for the socket
/// sets them again ([`Tunnel::woken`]). The sockets are edge-triggered, so once a socket
/// would block, an event always comes when that changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
}

impl Readiness {
    const BOTH: Readiness = Readiness {
        readable: true,
        writable: true,
    };

    /// What an event says its socket may do now. An error or a hang-up counts as both
    /// (the next read or write reports it).
    pub fn of(event: &mio::event::Event) -> Readiness {
        let failed = event.is_error();
        Readiness {
            readable: event.is_readable() || event.is_read_closed() || failed,
            writable: event.is_writable() || event.is_write_closed() || failed,
        }
    }
}

/// Both directions of one tunnel.
pub struct Tunnel {
    to_upstream: Direction,
    to_client: Direction,
    client: Readiness,
    upstream: Readiness,
    /// Whether the event loop watches the (client, upstream) socket for reading: only
    /// while the direction it feeds can read. A bulk download whose client is the slower
    /// side keeps its pipe full, and the upstream's every packet would wake the loop for
    /// nothing.
    watched: (bool, bool),
}

impl Tunnel {
    /// A tunnel whose first bytes toward each side are already known, moving the rest
    /// with `copier`.
    pub fn new(to_upstream: Vec<u8>, to_client: Vec<u8>, copier: Copier) -> Tunnel {
        Tunnel {
            to_upstream: Direction::new(to_upstream, copier),
            to_client: Direction::new(to_client, copier),
            client: Readiness::BOTH,
            upstream: Readiness::BOTH,
            watched: (true, true),
        }
    }

    /// After a pump: the sockets whose read interest must change, (client, upstream),
    /// each `Some(watch)` when the event loop must now watch it for reading or stop. A
    /// socket that is not watched misses its events: it counts as readable, so that the
    /// pump reads it as soon as its direction can, and is watched again from then on
    /// (watching it again reports it at once if it is readable).
    pub fn interest(&mut self) -> (Option<bool>, Option<bool>) {
        let client = self.to_upstream.can_read();
        let upstream = self.to_client.can_read();
        let change = |watched: &mut bool, ready: &mut Readiness, wanted: bool| {
            if *watched == wanted {
                return None;
            }
            *watched = wanted;
            ready.readable |= !wanted;
            Some(wanted)
        };
        (
            change(&mut self.watched.0, &mut self.client, client),
            change(&mut self.watched.1, &mut self.upstream, upstream),
        )
    }

    /// An event came for the upstream socket (`upstream`) or the client's, saying what
    /// may have changed: the next pump tries that again.
    pub fn woken(&mut self, upstream: bool, event: Readiness) {
        let socket = if upstream {
            &mut self.upstream
        } else {
            &mut self.client
        };
        socket.readable |= event.readable;
        socket.writable |= event.writable;
    }

    /// Moves whatever can move in both directions. Ok(true) once both directions have
    /// ended (the tunnel can be closed); an error means a side failed (reset).
    pub fn pump(&mut self, client: RawFd, upstream: RawFd) -> io::Result<bool> {
        loop {
            let up = (self.to_upstream)
                .pump((client, &mut self.client), (upstream, &mut self.upstream))?;
            let down = (self.to_client)
                .pump((upstream, &mut self.upstream), (client, &mut self.client))?;
            if !up && !down {
                break;
            }
        }
        self.to_upstream.stage.get().idle();
        self.to_client.stage.get().idle();
        Ok(self.to_upstream.finished && self.to_client.finished)
    }

    /// Bytes delivered (to the upstream, to the client).
    pub fn moved(&self) -> (u64, u64) {
        (self.to_upstream.moved, self.to_client.moved)
    }
}
