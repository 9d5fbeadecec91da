//! One client connection of the proxies: read the request (HTTP head or SOCKS5
//! handshake), decide, resolve, connect, then tunnel or forward. Each call to
//! [`Conn::drive`] makes all the progress the sockets allow right now; the event loop calls
//! it on every readiness event of the connection's sockets (edge-triggered).

use std::io::{self, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

mod dial;
mod request;

use super::forward::{Forward, Progress};
use super::guard;
use super::http;
use super::read::{ReadOutcome, read_some};
use super::socks5;
use super::tunnel::{Copier, Readiness, Tunnel};
use crate::events::{self, EventSink};
use crate::policy::domains::{Decision, Host};
use crate::policy::network::NetworkPolicy;

/// A request head, or a SOCKS5 handshake, must arrive within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Resolving and connecting together must finish within this time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused client may take to read fence's answer before it is closed.
const LINGER: Duration = Duration::from_secs(2);

/// What a listening socket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Http,
    Socks,
    /// A host loopback port reachable from inside (`allowLocalOutboundPorts`).
    LocalForward {
        port: u16,
        ipv6: bool,
    },
    /// A sandbox port exposed on the host (`-p`): the init connects inside.
    Exposed {
        port: u16,
    },
}

/// What the loop must do for a connection after driving it.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    Close,
    /// Look up this name (the answer goes to [`Conn::resolved`]).
    Resolve(String),
    /// Ask the init for a connection to this sandbox port.
    ConnectInside {
        port: u16,
        ipv6: bool,
    },
}

/// Everything a connection needs from the loop while it is driven.
pub struct Ctx<'a> {
    pub registry: &'a Registry,
    pub policy: &'a NetworkPolicy,
    pub own_addrs: &'a [IpAddr],
    /// Names that are this host ([`guard::local_names`], sorted).
    pub local_names: &'a [String],
    pub monitor: &'a mut EventSink,
    pub now: Instant,
    /// The tokens of this connection's client and upstream sockets.
    pub tokens: (Token, Token),
    /// How tunnels move their bytes.
    pub copier: Copier,
}

/// Where a request goes.
#[derive(Debug, Clone)]
struct Destination {
    /// What the client asked for.
    host: Host,
    port: u16,
    /// Through `upstreamProxy` rather than directly.
    via_upstream: bool,
    /// What fence connects to: the destination, or the upstream proxy.
    dial_host: Host,
    dial_port: u16,
    /// Which local addresses the guard lets through for this destination.
    exempt: Exempt,
}

/// Exceptions to the resolved-address guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exempt {
    /// None: the name was allowed by a pattern.
    Nothing,
    /// Loopback and the host's own addresses: the port is in allowLocalOutboundPorts.
    HostLoopback,
    /// Every address: the rule names this literal destination, or it is the configured
    /// upstream proxy.
    Everything,
}

impl Exempt {
    fn covers(self, reason: guard::Local) -> bool {
        match self {
            Exempt::Nothing => false,
            Exempt::HostLoopback => reason.is_host(),
            Exempt::Everything => true,
        }
    }
}

/// What the client asked for, once known.
enum Purpose {
    /// HTTP CONNECT: a tunnel after `200 Connection established`.
    Connect,
    /// SOCKS5 CONNECT: a tunnel after a success reply.
    Socks,
    /// A plain HTTP request, forwarded with its body; the response comes back parsed.
    Forward(Box<Forward>),
    /// Local forwarder or exposed port: a tunnel at once.
    Plain,
}

enum Phase {
    SocksGreeting,
    Request,
    Resolving,
    Connecting {
        addrs: Vec<SocketAddr>,
        next: usize,
    },
    /// Waiting for the init's socket for an exposed port.
    AwaitInside,
    /// Reading the upstream proxy's answer to our CONNECT.
    UpstreamHandshake {
        buf: Vec<u8>,
    },
    Forwarding,
    Tunnel(Tunnel),
    /// Sending fence's own answer, then closing (after the client read it).
    Closing {
        shut: bool,
    },
}

pub struct Conn {
    pub id: u64,
    role: Role,
    client: TcpStream,
    upstream: Option<TcpStream>,
    phase: Phase,
    purpose: Option<Purpose>,
    destination: Option<Destination>,
    /// Client bytes read but not yet used (request heads, pipelined requests).
    inbuf: Vec<u8>,
    /// Bytes for the client not yet written.
    out: Vec<u8>,
    client_eof: bool,
    /// When the current phase times out.
    pub deadline: Option<Instant>,
    /// What the request was, for log lines (`CONNECT example.com:443`).
    label: String,
    /// The request's method (`CONNECT`, `GET`; for SOCKS its command), for events.
    method: String,
    /// The `host:port` it asked for, for the blocked-request summary.
    target: String,
    last_error: Option<String>,
    /// An exposed port was tried on the sandbox's ::1 after 127.0.0.1 failed.
    tried_inside_v6: bool,
}

impl Conn {
    pub fn new(id: u64, role: Role, client: TcpStream, now: Instant) -> Conn {
        no_delay(&client);
        let phase = match role {
            Role::Http => Phase::Request,
            Role::Socks => Phase::SocksGreeting,
            Role::LocalForward { .. } => Phase::Request,
            Role::Exposed { .. } => Phase::AwaitInside,
        };
        Conn {
            id,
            role,
            client,
            upstream: None,
            phase,
            purpose: None,
            destination: None,
            inbuf: Vec::new(),
            out: Vec::new(),
            client_eof: false,
            deadline: Some(now + HEADER_TIMEOUT),
            label: String::new(),
            method: String::new(),
            target: String::new(),
            last_error: None,
            tried_inside_v6: false,
        }
    }

    pub fn client(&mut self) -> &mut TcpStream {
        &mut self.client
    }

    pub fn upstream(&mut self) -> Option<&mut TcpStream> {
        self.upstream.as_mut()
    }

    /// The first step after accepting: forwarders connect at once, exposed ports ask the
    /// init for a socket.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) -> Next {
        match self.role {
            Role::LocalForward { port, ipv6 } => {
                let ip: IpAddr = if ipv6 {
                    std::net::Ipv6Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv4Addr::LOCALHOST.into()
                };
                self.label = format!("forward to host {}", SocketAddr::new(ip, port));
                self.purpose = Some(Purpose::Plain);
                self.deadline = Some(ctx.now + CONNECT_TIMEOUT);
                ctx.monitor.note(
                    "net",
                    format_args!("{} (allowLocalOutboundPorts)", self.label),
                );
                self.connect(ctx, vec![SocketAddr::new(ip, port)])
            }
            Role::Exposed { port } => {
                self.label = format!("inbound to sandbox port {port}");
                self.purpose = Some(Purpose::Plain);
                self.deadline = Some(ctx.now + CONNECT_TIMEOUT);
                ctx.monitor.note("net", format_args!("{}", self.label));
                Next::ConnectInside { port, ipv6: false }
            }
            Role::Http | Role::Socks => self.drive(ctx),
        }
    }

    /// An event came for the upstream socket (`upstream`) or the client's: a tunnel
    /// notes what the socket may do now (the other phases just try).
    pub fn woken(&mut self, upstream: bool, readiness: Readiness) {
        if let Phase::Tunnel(tunnel) = &mut self.phase {
            tunnel.woken(upstream, readiness);
        }
    }

    /// Makes all the progress possible now.
    pub fn drive(&mut self, ctx: &mut Ctx<'_>) -> Next {
        loop {
            let step = match self.step(ctx) {
                Ok(step) => step,
                Err(e) => {
                    if !is_ordinary_end(&e) {
                        ctx.monitor.note(
                            self.source(),
                            format_args!("{}: connection ended: {e}", self.label),
                        );
                    }
                    return Next::Close;
                }
            };
            match step {
                Step::Again => continue,
                Step::Wait => {
                    // Bytes queued for the client during this step go out now: the client
                    // socket may have been writable all along, so no event would come.
                    let queued = self.out.len();
                    if queued == 0 || matches!(self.phase, Phase::Tunnel(_)) {
                        return Next::Continue;
                    }
                    match self.flush_out() {
                        Ok(_) if self.out.len() < queued => continue,
                        Ok(_) => return Next::Continue,
                        Err(_) => return Next::Close,
                    }
                }
                Step::Done(next) => return next,
            }
        }
    }

    /// The event for this request, decided by `rule`.
    fn event<'a>(&'a self, rule: &'a str, decision: events::Decision) -> events::Event<'a> {
        let kind = match self.role {
            Role::Socks => events::Kind::Socks,
            _ => events::Kind::Http,
        };
        events::Event {
            kind,
            action: &self.method,
            op: &self.label,
            target: &self.target,
            pid: None,
            comm: None,
            rule,
            decision,
        }
    }

    fn source(&self) -> &'static str {
        match self.role {
            Role::Http => "http",
            Role::Socks => "socks",
            _ => "net",
        }
    }

    fn step(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        if !matches!(self.phase, Phase::Tunnel(_)) && self.flush_out()? == Flush::Blocked {
            // The client is slow to take fence's bytes; nothing else can happen first
            // except in a forward, which has its own back-pressure.
            if !matches!(self.phase, Phase::Forwarding) {
                return Ok(Step::Wait);
            }
        }
        match &mut self.phase {
            Phase::SocksGreeting => self.socks_greeting(),
            Phase::Request => match self.role {
                Role::Socks => self.socks_request(ctx),
                _ => self.http_request(ctx),
            },
            Phase::Resolving | Phase::AwaitInside => Ok(Step::Wait),
            Phase::Connecting { .. } => self.check_connect(ctx),
            Phase::UpstreamHandshake { .. } => self.upstream_handshake(ctx),
            Phase::Forwarding => self.forward(ctx),
            Phase::Tunnel(tunnel) => {
                let upstream = self.upstream.as_mut().expect("a tunnel has an upstream");
                if tunnel.pump(self.client.as_raw_fd(), upstream.as_raw_fd())? {
                    let (up, down) = tunnel.moved();
                    ctx.monitor.note(
                        self.source(),
                        format_args!("{}: closed ({up} bytes up, {down} down)", self.label),
                    );
                    return Ok(Step::Done(Next::Close));
                }
                let (client_token, upstream_token) = ctx.tokens;
                let (client_read, upstream_read) = tunnel.interest();
                if let Some(read) = client_read {
                    let interest = tunnel_interest(read);
                    ctx.registry
                        .reregister(&mut self.client, client_token, interest)?;
                }
                if let Some(read) = upstream_read {
                    let interest = tunnel_interest(read);
                    ctx.registry
                        .reregister(upstream, upstream_token, interest)?;
                }
                Ok(Step::Wait)
            }
            Phase::Closing { shut } => {
                if !self.out.is_empty() {
                    return Ok(Step::Wait);
                }
                if !*shut {
                    *shut = true;
                    let _ = self.client.shutdown(Shutdown::Write);
                    self.deadline = Some(ctx.now + LINGER);
                }
                // Read what the client still sends, so closing does not reset the
                // connection before it read the answer.
                match read_some(&mut self.client, &mut Vec::new(), 64 * 1024)? {
                    ReadOutcome::Eof => Ok(Step::Done(Next::Close)),
                    ReadOutcome::Data => Ok(Step::Again),
                    ReadOutcome::Blocked | ReadOutcome::Full => Ok(Step::Wait),
                }
            }
        }
    }

    /// Writes pending bytes to the client.
    fn flush_out(&mut self) -> io::Result<Flush> {
        while !self.out.is_empty() {
            match self.client.write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Flush::Done)
    }

    /// Applies the domain policy to a request for `host:port`.
    fn decide(&mut self, ctx: &mut Ctx<'_>, host: Host, port: u16) -> Step {
        self.deadline = Some(ctx.now + CONNECT_TIMEOUT);
        let local_port = ctx.policy.local_port_allowed(port);
        let (via_upstream, literal) = match ctx.policy.domains.decide(&host) {
            Decision::Deny { reason } => {
                self.refuse(ctx, &reason);
                return Step::Again;
            }
            Decision::Allow { rule, literal } => {
                ctx.monitor
                    .record(&self.event(&rule, events::Decision::Allowed));
                (false, literal)
            }
            Decision::Upstream => {
                // The upstream proxy dials what it is asked for, and many bypass themselves
                // for loopback and private ranges: what fence would refuse to dial itself
                // is refused before the hand-off.
                if let Some(why) = grey_zone_refusal(&host, ctx.own_addrs, ctx.local_names) {
                    self.refuse(ctx, &why);
                    return Step::Again;
                }
                ctx.monitor.note(
                    self.source(),
                    format_args!("{} goes through the upstream proxy", self.label),
                );
                (true, false)
            }
        };
        let exempt = if literal {
            Exempt::Everything
        } else if local_port {
            Exempt::HostLoopback
        } else {
            Exempt::Nothing
        };
        // Through the upstream proxy, the connection goes to the proxy, which the user
        // configured (so it may be local).
        let (dial_host, dial_port, exempt) = match (&ctx.policy.upstream, via_upstream) {
            (Some((proxy_host, proxy_port)), true) => {
                (proxy_host.clone(), *proxy_port, Exempt::Everything)
            }
            _ => (host.clone(), port, exempt),
        };
        self.destination = Some(Destination {
            host,
            port,
            via_upstream,
            dial_host: dial_host.clone(),
            dial_port,
            exempt,
        });
        match dial_host {
            Host::Ip(ip) => {
                if let Some(reason) = guard::local_reason(ip, ctx.own_addrs) {
                    if !exempt.covers(reason) {
                        let why = format!("{ip} is {reason}");
                        self.refuse(ctx, &why);
                        return Step::Again;
                    }
                }
                Step::Done(self.connect(ctx, vec![SocketAddr::new(ip, dial_port)]))
            }
            Host::Name(name) => {
                self.phase = Phase::Resolving;
                Step::Done(Next::Resolve(name))
            }
        }
    }

    /// Refuses the request with a reason (403, or SOCKS "not allowed by ruleset"); the
    /// answer goes out as the connection is driven on.
    fn refuse(&mut self, ctx: &mut Ctx<'_>, reason: &str) {
        ctx.monitor
            .record(&self.event(reason, events::Decision::Denied));
        match self.role {
            Role::Socks => {
                self.out
                    .extend_from_slice(&socks5::reply(socks5::reply::NOT_ALLOWED, None));
            }
            _ => {
                let hint = if reason == "not in allowedDomains" {
                    " (add it to network.allowedDomains in the fence config)"
                } else {
                    ""
                };
                let body = format!("fence: blocked {}: {reason}{hint}", self.label);
                self.out = http::error_response(403, "Forbidden", &body);
            }
        }
        if let Some(mut old) = self.upstream.take() {
            let _ = ctx.registry.deregister(&mut old);
        }
        self.phase = Phase::Closing { shut: false };
    }

    fn forward(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        let Some(Purpose::Forward(forward)) = &mut self.purpose else {
            return Ok(Step::Done(Next::Close));
        };
        let upstream = self.upstream.as_mut().expect("connected");
        let progress = forward.drive(
            &mut self.client,
            upstream,
            &mut self.inbuf,
            &mut self.out,
            &mut self.client_eof,
        )?;
        match progress {
            Progress::Again => Ok(Step::Again),
            Progress::Wait => Ok(Step::Wait),
            Progress::BadGateway(why) => Ok(Step::Done(self.fail_upstream(
                ctx,
                &why,
                502,
                socks5::reply::GENERAL_FAILURE,
            ))),
            Progress::Close => {
                self.phase = Phase::Closing { shut: false };
                Ok(Step::Again)
            }
            Progress::Upgraded(to_client) => {
                self.out.extend_from_slice(&to_client);
                self.start_tunnel(Vec::new(), ctx.copier)?;
                Ok(Step::Again)
            }
            Progress::KeepAlive => {
                // The response is complete: the next request on this connection is read
                // and checked afresh, and goes to a new upstream connection.
                if let Some(mut old) = self.upstream.take() {
                    let _ = ctx.registry.deregister(&mut old);
                }
                self.purpose = None;
                self.destination = None;
                self.phase = Phase::Request;
                self.deadline = Some(ctx.now + HEADER_TIMEOUT);
                Ok(Step::Again)
            }
        }
    }

    /// The destination could not be reached: 502 (or a SOCKS failure code).
    fn fail_upstream(&mut self, ctx: &mut Ctx<'_>, why: &str, status: u16, socks_code: u8) -> Next {
        ctx.monitor
            .note(self.source(), format_args!("{}: {why}", self.label));
        match self.role {
            Role::Socks => self.out.extend_from_slice(&socks5::reply(socks_code, None)),
            Role::Http => {
                let reason = if status == 504 {
                    "Gateway Timeout"
                } else {
                    "Bad Gateway"
                };
                let body = format!("fence: {}: {why}", self.label);
                self.out = http::error_response(status, reason, &body);
            }
            _ => return Next::Close,
        }
        if let Some(mut old) = self.upstream.take() {
            let _ = ctx.registry.deregister(&mut old);
        }
        self.phase = Phase::Closing { shut: false };
        self.drive(ctx)
    }

    /// The deadline passed.
    pub fn timed_out(&mut self, ctx: &mut Ctx<'_>) -> Next {
        match self.phase {
            Phase::Resolving | Phase::Connecting { .. } | Phase::UpstreamHandshake { .. } => {
                self.deadline = None;
                self.fail_upstream(ctx, "timed out", 504, socks5::reply::TTL_EXPIRED)
            }
            _ => Next::Close,
        }
    }
}

/// Why a grey-zone destination must not be handed to the upstream proxy, if it must not:
/// an address the guard refuses (loopback, link-local, cloud metadata, this host's own
/// addresses, in any IPv6 disguise), or a name that is the host itself (`localhost`,
/// `*.localhost`, and `local_names`: the host's name, hosts-file names of local
/// addresses). Other names are resolved by the upstream proxy, not by fence; IP literals
/// never arrive as names ([`Host::parse`] turns them into addresses and refuses numeric
/// forms such as `127.1`).
fn grey_zone_refusal(host: &Host, own_addrs: &[IpAddr], local_names: &[String]) -> Option<String> {
    match host {
        Host::Ip(ip) => {
            guard::local_reason(*ip, own_addrs).map(|reason| format!("{ip} is {reason}"))
        }
        Host::Name(name) if name == "localhost" || name.ends_with(".localhost") => Some(format!(
            "{name} is this host (loopback), never handed to the upstream proxy"
        )),
        Host::Name(name) if local_names.binary_search(name).is_ok() => Some(format!(
            "{name} is this host's name or a local address in /etc/hosts, never handed to \
             the upstream proxy"
        )),
        Host::Name(_) => None,
    }
}

/// What the event loop watches a tunnel's socket for: room to write always (an event
/// comes only after a write found none), bytes to read only while the tunnel can take them
/// ([`Tunnel::interest`]).
fn tunnel_interest(read: bool) -> Interest {
    if read {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::WRITABLE
    }
}

/// Turns Nagle's algorithm off on a socket fence relays on: the accepted client socket
/// ([`Conn::new`]) and the upstream one, dialled or received from the init
/// (`Conn::attach_upstream`). fence writes what it read as soon as it read it; with Nagle,
/// a small write waits until the peer acknowledges the previous one, and a peer waiting
/// for the rest of a message delays that acknowledgement (40 ms on Linux), so every small
/// exchange through a relay (TLS records, HTTP/2 frames, a response head and then its
/// body) would wait. Both are TCP sockets; a failure only costs speed.
fn no_delay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("cannot set TCP_NODELAY on a proxy socket: {e}");
    }
}

/// A peer resetting or closing under us is how connections often end: not worth a note.
fn is_ordinary_end(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

enum Step {
    /// Something changed: look again.
    Again,
    /// Nothing more until the next event.
    Wait,
    Done(Next),
}

#[derive(PartialEq, Eq)]
enum Flush {
    Done,
    Blocked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_zone_refuses_what_fence_would_not_dial() {
        let own: [IpAddr; 1] = ["10.1.2.3".parse().unwrap()];
        let names = ["ip6-localhost".to_string(), "myhost".to_string()];
        let refused = [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",
            "169.254.169.254",
            "169.254.170.2",
            "100.100.100.200",
            "[fd00:ec2::254]",
            "[fd20:ce::254]",
            "[64:ff9b::a9fe:a9fe]",
            "10.1.2.3",
            "localhost",
            "LocalHost.",
            "db.localhost",
            "MyHost.",
            "ip6-localhost",
        ];
        for text in refused {
            let host = Host::parse(text).unwrap();
            assert!(grey_zone_refusal(&host, &own, &names).is_some(), "{text}");
        }
        for text in [
            "example.com",
            "localhost.example.com",
            "notlocalhost",
            "myhost.example",
            "10.0.0.1",
            "8.8.8.8",
        ] {
            let host = Host::parse(text).unwrap();
            assert_eq!(grey_zone_refusal(&host, &own, &names), None, "{text}");
        }
        // IP literals in other spellings never reach the policy as names.
        for text in ["127.1", "2130706433", "0x7f000001", "127.0.0.0x1"] {
            assert_eq!(Host::parse(text), None, "{text}");
        }
    }
}
