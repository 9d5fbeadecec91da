//! The proxies' part of the host fence's event loop: listening sockets (received from
//! the sandbox, or bound on the host for `-p`), the connections accepted on them, the
//! resolver's answers and the deadlines.
//!
//! The session owns the `mio::Poll`; it hands every event whose token
//! [`Proxy::owns`] to [`Proxy::on_event`], and sleeps at most [`Proxy::timeout`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token, Waker};

use super::conn::{Conn, Ctx, Next, Role};
use super::guard;
use super::resolve::Resolver;
use super::sys;
use super::tunnel::{Copier, Readiness};
use crate::events::EventSink;
use crate::policy::network::NetworkPolicy;

/// The resolver's waker.
pub const WAKER: Token = Token(1 << 20);
const LISTENER_BASE: usize = (1 << 20) + 1;
const CONN_BASE: usize = 1 << 21;
/// Accepting pauses this long after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Proxy {
    policy: NetworkPolicy,
    /// The host's interface addresses, read at the first connection (not at every start).
    own_addrs: Option<Vec<IpAddr>>,
    /// Names that are this host (hosts file, host name), read with `own_addrs`.
    local_names: Vec<String>,
    monitor: EventSink,
    resolver: Resolver,
    listeners: Vec<(TcpListener, Role)>,
    /// What each address the init listens on inside the sandbox is for.
    sandbox_roles: Vec<(SocketAddr, Role)>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Connection id → slot, for resolver answers and the init's sockets.
    slots: HashMap<u64, usize>,
    next_id: u64,
    /// (deadline, slot, connection id); stale entries are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    accept_paused_until: Option<Instant>,
    max_conns: usize,
    /// The cap was reached once and said so.
    cap_reported: bool,
    /// How to ask for a connection made inside the sandbox (exposed ports), supplied by
    /// the event loop's owner; None when nothing is exposed.
    connect_inside: Option<ConnectInside>,
    /// How tunnels move their bytes.
    copier: Copier,
}

/// Asks the sandbox side to connect to `port` on its loopback (IPv6 when `ipv6`) for the
/// proxy connection `id`; the answer comes back through [`Proxy::inside_connected`]. The
/// proxy does not know how the request travels (on Linux, the init's control channel).
pub type ConnectInside = Box<dyn FnMut(u64, u16, bool) -> io::Result<()>>;

impl Proxy {
    pub fn new(
        registry: &Registry,
        policy: NetworkPolicy,
        monitor: EventSink,
        sandbox_roles: Vec<(SocketAddr, Role)>,
    ) -> io::Result<Proxy> {
        let waker = Arc::new(Waker::new(registry, WAKER)?);
        // Each tunnel holds two sockets and up to four pipe ends.
        let files = sys::raise_open_file_limit(65536);
        Ok(Proxy {
            policy,
            own_addrs: None,
            local_names: Vec::new(),
            monitor,
            resolver: Resolver::new(waker),
            listeners: Vec::new(),
            sandbox_roles,
            conns: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            next_id: 1,
            timers: BinaryHeap::new(),
            accept_paused_until: None,
            max_conns: (files.saturating_sub(32) / 6).clamp(1, 4096) as usize,
            connect_inside: None,
            copier: Copier::from_env(),
            cap_reported: false,
        })
    }

    /// Sets how connections inside the sandbox are asked for (see [`ConnectInside`]).
    pub fn set_connect_inside(&mut self, connect: ConnectInside) {
        self.connect_inside = Some(connect);
    }

    /// Serves a listening socket (made non-blocking here).
    pub fn add_listener(&mut self, registry: &Registry, fd: OwnedFd, role: Role) -> io::Result<()> {
        let std_listener = std::net::TcpListener::from(fd);
        std_listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(std_listener);
        let token = Token(LISTENER_BASE + self.listeners.len());
        registry.register(&mut listener, token, Interest::READABLE)?;
        self.listeners.push((listener, role));
        Ok(())
    }

    /// Serves the listening sockets the init sent for `addrs` (in order), each in the role
    /// planned for its address.
    pub fn add_sandbox_listeners(
        &mut self,
        registry: &Registry,
        addrs: &[SocketAddr],
        fds: Vec<OwnedFd>,
    ) {
        for (addr, fd) in addrs.iter().zip(fds) {
            let role = self
                .sandbox_roles
                .iter()
                .find(|(a, _)| a == addr)
                .map(|r| r.1);
            let served = match role {
                Some(role) => self.add_listener(registry, fd, role),
                None => Err(io::Error::other("no role was planned for it")),
            };
            if let Err(e) = served {
                log::warn!("cannot serve {addr} in the sandbox: {e}");
            }
        }
    }

    pub fn owns(token: Token) -> bool {
        token.0 >= WAKER.0
    }

    /// When the loop must wake up at the latest.
    pub fn timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let next = self
            .timers
            .peek()
            .map(|Reverse((at, _, _))| *at)
            .into_iter()
            .chain(self.accept_paused_until)
            .min()?;
        Some(next.saturating_duration_since(now))
    }

    pub fn on_event(&mut self, registry: &Registry, event: &Event) {
        let token = event.token();
        if token == WAKER {
            for (id, answer) in self.resolver.answers() {
                if let Some(&slot) = self.slots.get(&id) {
                    self.with_conn(registry, slot, |conn, ctx| conn.resolved(ctx, answer));
                }
            }
        } else if token.0 >= CONN_BASE {
            let (slot, upstream) = ((token.0 - CONN_BASE) / 2, (token.0 - CONN_BASE) % 2 == 1);
            let readiness = Readiness::of(event);
            self.with_conn(registry, slot, |conn, ctx| {
                conn.woken(upstream, readiness);
                conn.drive(ctx)
            });
        } else if token.0 >= LISTENER_BASE {
            self.accept(registry, token.0 - LISTENER_BASE);
        }
    }

    /// Handles expired deadlines and resumes accepting after a pause.
    pub fn on_timers(&mut self, registry: &Registry) {
        let now = Instant::now();
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
            self.accept_all(registry);
        }
        while let Some(Reverse((at, slot, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let expired = self
                .conns
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.id == id && c.deadline.is_some_and(|d| d <= now));
            if expired {
                self.with_conn(registry, slot, |conn, ctx| conn.timed_out(ctx));
            }
        }
    }

    /// The init's answer to a connection request for an exposed port.
    pub fn inside_connected(&mut self, registry: &Registry, id: u64, socket: io::Result<OwnedFd>) {
        let Some(&slot) = self.slots.get(&id) else {
            return;
        };
        let socket = socket.map(|fd| TcpStream::from_std(std::net::TcpStream::from(fd)));
        self.with_conn(registry, slot, |conn, ctx| {
            conn.inside_connected(ctx, socket)
        });
    }

    fn accept_all(&mut self, registry: &Registry) {
        for index in 0..self.listeners.len() {
            self.accept(registry, index);
        }
    }

    fn accept(&mut self, registry: &Registry, index: usize) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            if self.slots.len() >= self.max_conns {
                // At the cap: leave the rest in the kernel's queue until one closes.
                if !self.cap_reported {
                    self.cap_reported = true;
                    log::warn!(
                        "the proxies have {} connections open, their limit (from the \
                         open-file limit): further connections wait until one closes",
                        self.max_conns
                    );
                }
                return;
            }
            let Some((listener, role)) = self.listeners.get(index) else {
                return;
            };
            let role = *role;
            match listener.accept() {
                Ok((stream, _)) => self.open(registry, stream, role),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: back off instead of spinning on a queue that
                    // cannot be emptied.
                    self.monitor.note(
                        "net",
                        format_args!("cannot accept: {e}; pausing for 100 ms"),
                    );
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn open(&mut self, registry: &Registry, mut stream: TcpStream, role: Role) {
        if self.own_addrs.is_none() {
            let addrs = sys::interface_addresses().unwrap_or_else(|e| {
                log::warn!(
                    "cannot list this host's addresses ({e}): names resolving to them are \
                     not refused (loopback and link-local still are)"
                );
                Vec::new()
            });
            self.local_names =
                guard::local_names(&read_small("/etc/hosts"), &sys::host_name(), &addrs);
            self.own_addrs = Some(addrs);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let (client_token, _) = tokens(slot);
        if registry
            .register(
                &mut stream,
                client_token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.free.push(slot);
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.conns[slot] = Some(Conn::new(id, role, stream, Instant::now()));
        self.slots.insert(id, slot);
        self.with_conn(registry, slot, |conn, ctx| conn.start(ctx));
    }

    /// Runs `f` on the connection in `slot` and carries out what it asks for.
    fn with_conn(
        &mut self,
        registry: &Registry,
        slot: usize,
        f: impl FnOnce(&mut Conn, &mut Ctx<'_>) -> Next,
    ) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let before = conn.deadline;
        let mut ctx = Ctx {
            registry,
            policy: &self.policy,
            own_addrs: self.own_addrs.as_deref().unwrap_or_default(),
            local_names: &self.local_names,
            monitor: &mut self.monitor,
            now: Instant::now(),
            tokens: tokens(slot),
            copier: self.copier,
        };
        let next = f(conn, &mut ctx);
        let id = conn.id;
        if conn.deadline != before {
            if let Some(at) = conn.deadline {
                self.timers.push(Reverse((at, slot, id)));
            }
        }
        match next {
            Next::Continue => {}
            Next::Resolve(name) => self.resolver.lookup(id, name),
            Next::ConnectInside { port, ipv6 } => {
                let sent = self
                    .connect_inside
                    .as_mut()
                    .map(|connect| connect(id, port, ipv6));
                if !matches!(sent, Some(Ok(()))) {
                    self.close(registry, slot);
                }
            }
            Next::Close => self.close(registry, slot),
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = registry.deregister(conn.client());
        if let Some(upstream) = conn.upstream() {
            let _ = registry.deregister(upstream);
        }
        self.slots.remove(&conn.id);
        self.free.push(slot);
        drop(conn);
        // A slot is free again: take connections that waited at the cap.
        if self.slots.len() + 1 == self.max_conns {
            self.accept_all(registry);
        }
    }
}

/// A small system file's text (at most 16 MiB), or nothing when it cannot be read.
fn read_small(path: &str) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(16 << 20).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn tokens(slot: usize) -> (Token, Token) {
    (Token(CONN_BASE + 2 * slot), Token(CONN_BASE + 2 * slot + 1))
}
