//! The host side of a sandbox run, for every backend: one mio loop over the signals, the
//! backend's own fds (on Linux, the init's control channel and bwrap's stderr), the PTY
//! relay and the proxies, until the sandbox is gone.
//!
//! A backend starts the sandbox and then hands the loop its hooks ([`Backend`]): which fds
//! to watch, what its messages mean (as [`Action`]s the loop carries out), when a child
//! changed state, whether the command has started and which process passes signals on to
//! it. The loop owns everything else: forwarding signals (queued until the command
//! starts), the terminal, the proxies and their timers.

pub mod relay;
pub mod signal_pipe;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::policy::network::NetworkPolicy;
use crate::proxy::conn::Role;
use crate::proxy::server::{ConnectInside, Proxy};
use crate::sys;
use relay::Relay;

/// Signals fence forwards to the command; the sandbox's own processes run with them
/// ignored, the command gets them back.
pub const FORWARDED_SIGNALS: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

const SIGNALS: Token = Token(0);
const STDIN: Token = Token(1);
const PTY_MASTER: Token = Token(2);
/// The backend's fds: `Token(BACKEND + i)` for its `i`th source.
const BACKEND: usize = 3;
const MAX_BACKEND_SOURCES: usize = 8;
/// The backend's watcher (the seccomp notification listener), once it has one.
const WATCHER: Token = Token(BACKEND + MAX_BACKEND_SOURCES);

/// Where the host learns of signals (on Linux, a signalfd made before the sandbox was
/// spawned, so none is lost).
pub trait SignalSource {
    /// A non-blocking fd that is readable while a signal waits.
    fn fd(&self) -> BorrowedFd<'_>;
    /// The next waiting signal and its `si_code`, or None.
    fn next(&mut self) -> io::Result<Option<(libc::c_int, libc::c_int)>>;
}

/// What a backend's message asks the loop to do.
pub enum Action {
    /// The command is running: signals kept for it are delivered now.
    Started,
    /// The sandbox's pseudo-terminal master (`allowPty`): relay it to the user's terminal.
    RelayTerminal(OwnedFd),
    /// The command stopped (Ctrl-Z): give the terminal back and stop fence too, as a
    /// shell's child does; the user's shell sees the job stop.
    CommandStopped,
    /// Proxy listening sockets bound inside the sandbox, for these addresses.
    Listening {
        addrs: Vec<SocketAddr>,
        fds: Vec<OwnedFd>,
    },
    /// The answer to a [`ConnectInside`] request `id`: a socket connected inside.
    ConnectedInside {
        id: u64,
        socket: io::Result<OwnedFd>,
    },
    /// Something that serves an fd of its own inside the loop (the seccomp notification
    /// dispatcher): the loop watches the fd and calls it when it is readable.
    Watch(Box<dyn Watcher>),
}

/// An fd the loop watches for a backend, with what to do when it is readable. It must not
/// block: it handles what waits and returns.
pub trait Watcher {
    fn fd(&self) -> BorrowedFd<'_>;
    fn on_readable(&mut self);
}

/// The hooks a platform backend plugs into the loop.
pub trait Backend {
    /// The backend's fds the loop watches for input (at most 8; made non-blocking).
    fn sources(&self) -> Vec<BorrowedFd<'_>>;
    /// Source `index` of [`Backend::sources`] has input (or hung up).
    fn on_readable(&mut self, index: usize, actions: &mut Vec<Action>);
    /// Reads the reports already waiting, before signals are sorted: a start reported
    /// before a signal arrived decides where that signal goes.
    fn read_reports(&mut self, actions: &mut Vec<Action>);
    /// A child changed state (SIGCHLD). Returns whether the sandbox is gone. A backend
    /// that is the command's parent itself (macOS) reports a stop here.
    fn on_child(&mut self, actions: &mut Vec<Action>) -> io::Result<bool>;
    /// fence was continued (SIGCONT), before the signal is passed on: a backend whose
    /// command has a process group of its own gives it the terminal back here.
    fn on_continue(&mut self) {}
    /// What the loop carries out before it waits for anything (a backend that started the
    /// command itself: its terminal to relay).
    fn first_actions(&mut self) -> Vec<Action> {
        Vec::new()
    }
    /// Whether the command has started.
    fn started(&self) -> bool;
    /// The process that passes signals on to the command, once known.
    fn signal_target(&self) -> Option<libc::pid_t>;
    /// Tears the sandbox down before the command started (a second Ctrl-C during setup).
    fn abandon(&mut self);
    /// The sandbox is gone: read what is left in the backend's fds.
    fn finish(&mut self);
    /// How the proxies ask for a connection inside the sandbox (`-p`), if the backend can.
    fn connect_inside(&self) -> io::Result<Option<ConnectInside>>;
}

/// A listening socket on the host for `what` (a proxy, an exposed port): bound to `addr`
/// (port 0: the kernel picks one), with the port it got.
pub fn listen_on_host(addr: SocketAddr, what: &str) -> Result<(OwnedFd, u16)> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Error::Setup(format!("{what}: cannot listen on {addr}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read a listening address", e))?
        .port();
    Ok((OwnedFd::from(listener), port))
}

/// What the host serves for the sandbox's network.
pub struct NetworkService {
    pub policy: NetworkPolicy,
    pub events: EventSink,
    /// Sockets the host fence listens on itself (exposed ports; the proxies when the
    /// sandbox shares the host's network).
    pub host_listeners: Vec<(OwnedFd, Role)>,
    /// What each address the sandbox listens on (reported by [`Action::Listening`]) is for.
    pub inside_roles: Vec<(SocketAddr, Role)>,
}

/// How the command meets the user's terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// The command runs in a new terminal session.
    pub new_session: bool,
    /// The command runs on a pseudo-terminal of its own (`allowPty`).
    pub own_terminal: bool,
}

/// How the loop ended.
#[derive(Debug, Default)]
pub struct Ended {
    /// The same signal arrived twice before the command started: the sandbox was torn
    /// down, and fence should die of that signal.
    pub abandoned_by: Option<libc::c_int>,
}

/// Runs the loop until the backend says the sandbox is gone. `queued_signals` were
/// received for the command before the loop started.
pub fn run(
    backend: &mut dyn Backend,
    signals: &mut dyn SignalSource,
    network: Option<NetworkService>,
    terminal: Terminal,
    queued_signals: Vec<libc::c_int>,
) -> Result<Ended> {
    let io = |e| Error::io("event loop", e);
    let mut poll = Poll::new().map_err(io)?;
    let sources = backend.sources();
    if sources.len() > MAX_BACKEND_SOURCES {
        return Err(Error::Setup(
            "too many backend sources for the host loop".into(),
        ));
    }
    for fd in &sources {
        sys::set_nonblocking(*fd).map_err(io)?;
    }
    let registry = poll.registry();
    let watched = std::iter::once((signals.fd(), SIGNALS)).chain(
        sources
            .iter()
            .enumerate()
            .map(|(i, fd)| (*fd, Token(BACKEND + i))),
    );
    for (fd, token) in watched {
        registry
            .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
            .map_err(io)?;
    }
    let proxy = match network {
        Some(network) => {
            let connect_inside = backend
                .connect_inside()
                .map_err(|e| Error::io("cannot start the proxy", e))?;
            Some(start_proxy(registry, network, connect_inside)?)
        }
        None => None,
    };
    let mut host = HostLoop {
        terminal,
        queued_signals,
        proxy,
        actions: backend.first_actions(),
        ..HostLoop::default()
    };
    host.apply(poll.registry(), backend);
    host.run(&mut poll, backend, signals).map_err(io)?;
    Ok(Ended {
        abandoned_by: host.abandoned_by.filter(|_| !backend.started()),
    })
}

fn start_proxy(
    registry: &Registry,
    network: NetworkService,
    connect_inside: Option<ConnectInside>,
) -> Result<Proxy> {
    let mut proxy = Proxy::new(
        registry,
        network.policy,
        network.events,
        network.inside_roles,
    )
    .map_err(|e| Error::io("cannot start the proxy", e))?;
    if let Some(connect) = connect_inside {
        proxy.set_connect_inside(connect);
    }
    for (fd, role) in network.host_listeners {
        proxy
            .add_listener(registry, fd, role)
            .map_err(|e| Error::io("cannot serve a listening socket", e))?;
    }
    Ok(proxy)
}

#[derive(Default)]
struct HostLoop {
    terminal: Terminal,
    /// Forwarded signals that arrived before the command started, delivered once it has.
    queued_signals: Vec<libc::c_int>,
    abandoned_by: Option<libc::c_int>,
    /// The sandbox is gone.
    done: bool,
    /// The PTY relay, once the backend passed the master (`allowPty`).
    relay: Option<Relay>,
    stdin_registered: bool,
    master_interest: Option<Interest>,
    proxy: Option<Proxy>,
    actions: Vec<Action>,
    watcher: Option<Box<dyn Watcher>>,
}

impl HostLoop {
    fn run(
        &mut self,
        poll: &mut Poll,
        backend: &mut dyn Backend,
        signals: &mut dyn SignalSource,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        while !self.done {
            let timeout = self.proxy.as_ref().and_then(Proxy::timeout);
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let registry = poll.registry();
            for event in &events {
                match event.token() {
                    token if Proxy::owns(token) => {
                        if let Some(proxy) = self.proxy.as_mut() {
                            proxy.on_event(registry, event);
                        }
                    }
                    SIGNALS => {
                        if !backend.started() {
                            backend.read_reports(&mut self.actions);
                            self.apply(registry, backend);
                        }
                        self.on_signals(backend, signals)?;
                    }
                    STDIN => self.relay.as_mut().map_or((), Relay::on_stdin),
                    WATCHER => self.watcher.as_mut().map_or((), |w| w.on_readable()),
                    PTY_MASTER => {
                        if let Some(relay) = self.relay.as_mut() {
                            relay.on_master();
                            relay.flush_to_master();
                        }
                    }
                    Token(t) if (BACKEND..BACKEND + MAX_BACKEND_SOURCES).contains(&t) => {
                        backend.on_readable(t - BACKEND, &mut self.actions);
                    }
                    _ => {}
                }
                self.apply(registry, backend);
            }
            let registry = poll.registry();
            if let Some(proxy) = self.proxy.as_mut() {
                proxy.on_timers(registry);
            }
            self.sync_relay(registry)?;
        }
        // The sandbox is gone: collect what is left in the pipes.
        backend.finish();
        if let Some(relay) = self.relay.as_mut() {
            relay.on_master();
        }
        Ok(())
    }

    /// Carries out what the backend's messages asked for.
    fn apply(&mut self, registry: &Registry, backend: &dyn Backend) {
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::Started => {
                    for signal in std::mem::take(&mut self.queued_signals) {
                        forward(backend, signal);
                    }
                }
                Action::RelayTerminal(master) => match Relay::start(master) {
                    Ok(relay) => self.relay = Some(relay),
                    Err(e) => log::warn!("cannot relay the terminal: {e}"),
                },
                Action::CommandStopped => {
                    if let Some(relay) = self.relay.as_mut() {
                        relay.leave_raw_mode();
                    }
                    sys::stop_self();
                }
                Action::Listening { addrs, fds } => {
                    if let Some(proxy) = self.proxy.as_mut() {
                        proxy.add_sandbox_listeners(registry, &addrs, fds);
                    }
                }
                Action::ConnectedInside { id, socket } => {
                    if let Some(proxy) = self.proxy.as_mut() {
                        proxy.inside_connected(registry, id, socket);
                    }
                }
                Action::Watch(mut watcher) if self.watcher.is_none() => {
                    let fd = watcher.fd().as_raw_fd();
                    let watched = sys::set_nonblocking(watcher.fd()).and_then(|()| {
                        registry.register(&mut SourceFd(&fd), WATCHER, Interest::READABLE)
                    });
                    match watched {
                        // Edge-triggered: what arrived before the registration is served now.
                        Ok(()) => {
                            watcher.on_readable();
                            self.watcher = Some(watcher);
                        }
                        Err(e) => log::warn!("cannot watch the notification listener: {e}"),
                    }
                }
                Action::Watch(_) => log::warn!("a second notification listener was ignored"),
            }
        }
    }

    /// Keeps the relay's fds registered for what it can do now: terminal input only while
    /// the master has taken the previous input, master writability only while input waits.
    fn sync_relay(&mut self, registry: &Registry) -> io::Result<()> {
        let Some(relay) = &self.relay else {
            return Ok(());
        };
        let want_stdin = relay.wants_stdin();
        if want_stdin != self.stdin_registered {
            if want_stdin {
                registry.register(&mut SourceFd(&0), STDIN, Interest::READABLE)?;
            } else {
                registry.deregister(&mut SourceFd(&0))?;
            }
            self.stdin_registered = want_stdin;
        }
        let interest = if relay.wants_to_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let master = relay.master_fd();
        match self.master_interest {
            None => registry.register(&mut SourceFd(&master), PTY_MASTER, interest)?,
            Some(current) if current != interest => {
                registry.reregister(&mut SourceFd(&master), PTY_MASTER, interest)?
            }
            Some(_) => {}
        }
        self.master_interest = Some(interest);
        Ok(())
    }

    fn on_signals(
        &mut self,
        backend: &mut dyn Backend,
        signals: &mut dyn SignalSource,
    ) -> io::Result<()> {
        while let Some((signal, code)) = signals.next()? {
            if signal == libc::SIGWINCH {
                if let Some(relay) = &self.relay {
                    relay.resize();
                }
                continue;
            }
            if signal == libc::SIGCONT {
                if let Some(relay) = self.relay.as_mut() {
                    relay.enter_raw_mode();
                    relay.resize();
                }
                backend.on_continue();
            }
            if signal == libc::SIGCHLD {
                self.done |= backend.on_child(&mut self.actions)?;
                continue;
            }
            // Before the command exists, a signal is kept for it: it is delivered right
            // after the start (the command missed even a terminal's, which reached only
            // fence and the sandbox's own processes).
            // The same signal again means "stop now": a setup that hangs stays
            // interruptible.
            if !backend.started() {
                if self.queued_signals.contains(&signal) {
                    self.abandoned_by.get_or_insert(signal);
                    backend.abandon();
                } else {
                    self.queued_signals.push(signal);
                }
                continue;
            }
            // A terminal's signal (Ctrl-C, Ctrl-\, hangup) went to its whole foreground
            // process group, the command included, unless the command runs in a session of
            // its own (a new session, or its own pseudo-terminal with allowPty): pass on only
            // what the command would otherwise miss.
            let from_terminal = !sys::sent_by_a_process(code);
            if from_terminal && !self.terminal.new_session && !self.terminal.own_terminal {
                continue;
            }
            forward(backend, signal);
        }
        Ok(())
    }
}

/// Passes `signal` to the process that passes it on to the command.
fn forward(backend: &dyn Backend, signal: libc::c_int) {
    if let Some(pid) = backend.signal_target() {
        // The command may already be gone; that race is harmless.
        let _ = sys::kill(pid, signal);
    }
}
