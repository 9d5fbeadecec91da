//! One client connection of the proxies: read the request (HTTP head or SOCKS5
//! handshake), decide, resolve, connect, then tunnel or forward. Each call to
//! [`Conn::drive`] makes all the progress the sockets allow right now; the event loop calls
//! it on every readiness event of the connection's sockets (edge-triggered).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::forward::{Forward, Progress};
use super::guard;
use super::http::{self, HeadError, Target};
use super::socks5;
use super::tunnel::Tunnel;
use crate::monitor::Monitor;
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
    pub monitor: &'a mut Monitor,
    pub now: Instant,
    /// The tokens of this connection's client and upstream sockets.
    pub tokens: (Token, Token),
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
    fn covers(self, reason: &str) -> bool {
        match self {
            Exempt::Nothing => false,
            Exempt::HostLoopback => {
                reason == "loopback" || reason == "one of this host's own addresses"
            }
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
    last_error: Option<String>,
    /// An exposed port was tried on the sandbox's ::1 after 127.0.0.1 failed.
    tried_inside_v6: bool,
}

impl Conn {
    pub fn new(id: u64, role: Role, client: TcpStream, now: Instant) -> Conn {
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
                ctx.monitor
                    .note("net", &format!("{} (allowLocalOutboundPorts)", self.label));
                self.connect(ctx, vec![SocketAddr::new(ip, port)])
            }
            Role::Exposed { port } => {
                self.label = format!("inbound to sandbox port {port}");
                self.purpose = Some(Purpose::Plain);
                self.deadline = Some(ctx.now + CONNECT_TIMEOUT);
                ctx.monitor.note("net", &self.label);
                Next::ConnectInside { port, ipv6: false }
            }
            Role::Http | Role::Socks => self.drive(ctx),
        }
    }

    /// The init's socket for an exposed port, connecting or failed.
    pub fn inside_connected(&mut self, ctx: &mut Ctx<'_>, socket: io::Result<TcpStream>) -> Next {
        if !matches!(self.phase, Phase::AwaitInside) {
            return Next::Continue;
        }
        match socket {
            Ok(stream) => {
                if self.attach_upstream(ctx, stream).is_err() {
                    return Next::Close;
                }
                self.phase = Phase::Connecting {
                    addrs: Vec::new(),
                    next: 0,
                };
                self.drive(ctx)
            }
            Err(e) => self.inside_failed(ctx, &e.to_string()),
        }
    }

    fn inside_failed(&mut self, ctx: &mut Ctx<'_>, why: &str) -> Next {
        let Role::Exposed { port } = self.role else {
            return Next::Close;
        };
        if !self.tried_inside_v6 {
            // Nothing on 127.0.0.1: the server may listen on ::1 only (Node's "localhost").
            self.tried_inside_v6 = true;
            self.phase = Phase::AwaitInside;
            return Next::ConnectInside { port, ipv6: true };
        }
        ctx.monitor
            .note("net", &format!("{}: nothing listening ({why})", self.label));
        Next::Close
    }

    /// The resolver's answer for this connection's destination.
    pub fn resolved(&mut self, ctx: &mut Ctx<'_>, answer: Result<Vec<IpAddr>, String>) -> Next {
        if !matches!(self.phase, Phase::Resolving) {
            return Next::Continue;
        }
        let Some(dest) = self.destination.clone() else {
            return Next::Close;
        };
        let ips = match answer {
            Ok(ips) => ips,
            Err(e) => {
                let why = format!("cannot resolve {}: {e}", dest.dial_host);
                return self.fail_upstream(ctx, &why, 502, socks5::reply::HOST_UNREACHABLE);
            }
        };
        let mut dialable = Vec::new();
        let mut refused = None;
        for ip in ips {
            match guard::local_reason(ip, ctx.own_addrs) {
                Some(reason) if !dest.exempt.covers(reason) => {
                    refused.get_or_insert((ip, reason));
                }
                _ => dialable.push(SocketAddr::new(ip, dest.dial_port)),
            }
        }
        if dialable.is_empty() {
            let (ip, reason) = refused.expect("no address at all is an error above");
            let why = format!("{} resolves to {ip}, a {reason} address", dest.dial_host);
            self.refuse(ctx, &why);
            return self.drive(ctx);
        }
        self.connect(ctx, dialable)
    }

    /// Makes all the progress possible now.
    pub fn drive(&mut self, ctx: &mut Ctx<'_>) -> Next {
        loop {
            let step = match self.step(ctx) {
                Ok(step) => step,
                Err(e) => {
                    if is_reset(&e) {
                        ctx.monitor.note(
                            self.source(),
                            &format!("{}: connection ended: {e}", self.label),
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
                let upstream = self.upstream.as_ref().expect("a tunnel has an upstream");
                if tunnel.pump(self.client.as_raw_fd(), upstream.as_raw_fd())? {
                    let (up, down) = tunnel.moved();
                    ctx.monitor.note(
                        self.source(),
                        &format!("{}: closed ({up} bytes up, {down} down)", self.label),
                    );
                    return Ok(Step::Done(Next::Close));
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
                    Read_::Eof => Ok(Step::Done(Next::Close)),
                    Read_::Data => Ok(Step::Again),
                    Read_::Blocked | Read_::Full => Ok(Step::Wait),
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

    /// Reads more of a request into `inbuf`; Wait when nothing came.
    fn read_request_bytes(&mut self) -> io::Result<Option<Step>> {
        if self.client_eof {
            return Ok(Some(Step::Done(Next::Close)));
        }
        match read_some(&mut self.client, &mut self.inbuf, http::MAX_HEAD + 1)? {
            Read_::Data => Ok(None),
            Read_::Eof => {
                self.client_eof = true;
                Ok(None)
            }
            Read_::Blocked => Ok(Some(Step::Wait)),
            Read_::Full => Ok(None),
        }
    }

    fn http_request(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        let parsed = match http::parse_request_head(&self.inbuf) {
            Ok(parsed) => parsed,
            Err(e) => return Ok(self.bad_request(ctx, &e)),
        };
        let Some((head, len)) = parsed else {
            if self.client_eof {
                return Ok(Step::Done(Next::Close));
            }
            return Ok(match self.read_request_bytes()? {
                Some(step) => step,
                None => Step::Again,
            });
        };
        self.inbuf.drain(..len);
        let connect = head.method.eq_ignore_ascii_case("CONNECT");
        let (host, port, purpose) = match (&head.target, connect) {
            (Target::Authority { host, port }, true) => {
                self.label = format!("CONNECT {host}:{port}");
                (host.clone(), *port, Purpose::Connect)
            }
            (Target::Absolute { host, port, path }, false) => {
                let framing = match http::request_framing(&head) {
                    Ok(framing) => framing,
                    Err(e) => return Ok(self.bad_request(ctx, &e)),
                };
                let shown = format!("{} http://{host}{}{path}", head.method, port_suffix(*port));
                self.label = truncate(&shown, 100);
                let (host, port, path) = (host.clone(), *port, path.clone());
                let forward = Forward::new(head, framing, &host, port, path);
                (host, port, Purpose::Forward(Box::new(forward)))
            }
            (Target::Origin(_), _) => {
                return Ok(self.bad_request(
                    ctx,
                    &HeadError::Malformed(
                        "not a proxy request (expected CONNECT host:port or an http:// URL)",
                    ),
                ));
            }
            _ => {
                return Ok(self.bad_request(
                    ctx,
                    &HeadError::Malformed("CONNECT needs host:port; other methods a full URL"),
                ));
            }
        };
        self.purpose = Some(purpose);
        Ok(self.decide(ctx, host, port))
    }

    fn socks_greeting(&mut self) -> io::Result<Step> {
        match socks5::parse_greeting(&self.inbuf) {
            Ok(Some((no_auth, len))) => {
                self.inbuf.drain(..len);
                self.out.extend_from_slice(&socks5::method_choice(no_auth));
                if !no_auth {
                    self.phase = Phase::Closing { shut: false };
                } else {
                    self.phase = Phase::Request;
                }
                Ok(Step::Again)
            }
            Ok(None) => Ok(self.read_request_bytes()?.unwrap_or(Step::Again)),
            Err(_) => Ok(Step::Done(Next::Close)),
        }
    }

    fn socks_request(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        match socks5::parse_request(&self.inbuf) {
            Ok(Some((request, len))) => {
                self.inbuf.drain(..len);
                self.label = format!("CONNECT {}:{}", request.host, request.port);
                if request.command != socks5::Command::Connect {
                    let what = match request.command {
                        socks5::Command::Bind => "BIND",
                        _ => "UDP ASSOCIATE",
                    };
                    self.label = format!("{what} {}:{}", request.host, request.port);
                    ctx.monitor
                        .blocked("socks", &self.label, "only CONNECT is supported");
                    return Ok(self.socks_fail(socks5::reply::COMMAND_NOT_SUPPORTED));
                }
                self.purpose = Some(Purpose::Socks);
                Ok(self.decide(ctx, request.host, request.port))
            }
            Ok(None) => Ok(self.read_request_bytes()?.unwrap_or(Step::Again)),
            Err(socks5::ParseError::Reply(code)) => {
                ctx.monitor.note(
                    "socks",
                    &format!("refused request: {}", socks5::reply_message(code)),
                );
                Ok(self.socks_fail(code))
            }
            Err(socks5::ParseError::Malformed(why)) => {
                ctx.monitor
                    .note("socks", &format!("malformed request: {why}"));
                Ok(Step::Done(Next::Close))
            }
        }
    }

    fn socks_fail(&mut self, code: u8) -> Step {
        self.out.extend_from_slice(&socks5::reply(code, None));
        self.phase = Phase::Closing { shut: false };
        Step::Again
    }

    fn bad_request(&mut self, ctx: &mut Ctx<'_>, e: &HeadError) -> Step {
        let (status, reason) = match e {
            HeadError::TooLarge => (431, "Request Header Fields Too Large"),
            HeadError::Malformed(_) => (400, "Bad Request"),
        };
        ctx.monitor
            .note("http", &format!("malformed request ({e}): {status}"));
        self.out = http::error_response(status, reason, &format!("fence: {e}"));
        self.phase = Phase::Closing { shut: false };
        Step::Again
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
                ctx.monitor.note(
                    self.source(),
                    &format!("allowed {} (rule \"{rule}\")", self.label),
                );
                (false, literal)
            }
            Decision::Upstream => {
                ctx.monitor.note(
                    self.source(),
                    &format!("{} goes through the upstream proxy", self.label),
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
                        let why = format!("{ip} is a {reason} address");
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
        ctx.monitor.blocked(self.source(), &self.label, reason);
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

    /// Starts a non-blocking connection to the first of `addrs`.
    fn connect(&mut self, ctx: &mut Ctx<'_>, addrs: Vec<SocketAddr>) -> Next {
        self.phase = Phase::Connecting { addrs, next: 0 };
        self.try_next_address(ctx)
    }

    fn try_next_address(&mut self, ctx: &mut Ctx<'_>) -> Next {
        loop {
            let Phase::Connecting { addrs, next } = &mut self.phase else {
                return Next::Continue;
            };
            let Some(addr) = addrs.get(*next).copied() else {
                let why = self
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no address to connect to".into());
                let code = socks_code_for(&why);
                return self.fail_upstream(ctx, &format!("cannot connect: {why}"), 502, code);
            };
            *next += 1;
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    if self.attach_upstream(ctx, stream).is_err() {
                        return Next::Close;
                    }
                    return self.drive(ctx);
                }
                Err(e) => self.last_error = Some(format!("{addr}: {e}")),
            }
        }
    }

    fn attach_upstream(&mut self, ctx: &mut Ctx<'_>, mut stream: TcpStream) -> io::Result<()> {
        if let Some(mut old) = self.upstream.take() {
            let _ = ctx.registry.deregister(&mut old);
        }
        ctx.registry.register(
            &mut stream,
            ctx.tokens.1,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.upstream = Some(stream);
        Ok(())
    }

    /// Checks a connection in progress; on success, the request proceeds.
    fn check_connect(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(Step::Done(Next::Close));
        };
        if let Some(e) = upstream.take_error()? {
            return Ok(Step::Done(self.connect_failed(ctx, e)));
        }
        match upstream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(Step::Wait),
            Err(e) => return Ok(Step::Done(self.connect_failed(ctx, e))),
        }
        self.deadline = None;
        let via_upstream = self.destination.as_ref().is_some_and(|d| d.via_upstream);
        match self.purpose.take() {
            Some(Purpose::Forward(mut forward)) => {
                if via_upstream {
                    forward.use_upstream_proxy();
                }
                self.purpose = Some(Purpose::Forward(forward));
                self.phase = Phase::Forwarding;
            }
            Some(purpose) if via_upstream => {
                let dest = self.destination.as_ref().expect("set by decide");
                let request = http::connect_request(&dest.host, dest.port);
                self.purpose = Some(purpose);
                self.deadline = Some(ctx.now + CONNECT_TIMEOUT);
                self.upstream_write_all(&request)?;
                self.phase = Phase::UpstreamHandshake { buf: Vec::new() };
            }
            Some(purpose) => {
                self.purpose = Some(purpose);
                self.start_tunnel(Vec::new())?;
            }
            None => return Ok(Step::Done(Next::Close)),
        }
        Ok(Step::Again)
    }

    fn connect_failed(&mut self, ctx: &mut Ctx<'_>, e: io::Error) -> Next {
        if let Some(mut old) = self.upstream.take() {
            let _ = ctx.registry.deregister(&mut old);
        }
        if let Role::Exposed { .. } = self.role {
            return self.inside_failed(ctx, &e.to_string());
        }
        self.last_error = Some(e.to_string());
        self.try_next_address(ctx)
    }

    /// Writes a short message to the upstream (a CONNECT request fits its socket buffer).
    fn upstream_write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let upstream = self.upstream.as_mut().expect("connected");
        let n = upstream.write(bytes)?;
        if n != bytes.len() {
            return Err(io::Error::other("short write of a CONNECT request"));
        }
        Ok(())
    }

    /// Reads the upstream proxy's answer to CONNECT.
    fn upstream_handshake(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        let Phase::UpstreamHandshake { buf } = &mut self.phase else {
            unreachable!()
        };
        let upstream = self.upstream.as_mut().expect("connected");
        let read = read_some(upstream, buf, http::MAX_HEAD + 1)?;
        match http::parse_response_head(buf) {
            Ok(Some((head, len))) => {
                let rest = buf.split_off(len);
                if (200..300).contains(&head.status) {
                    self.deadline = None;
                    self.start_tunnel(rest)?;
                    Ok(Step::Again)
                } else {
                    let why = format!(
                        "the upstream proxy refused it ({} {})",
                        head.status, head.reason
                    );
                    self.refuse(ctx, &why);
                    Ok(Step::Again)
                }
            }
            Ok(None) if matches!(read, Read_::Blocked) => Ok(Step::Wait),
            Ok(None) if matches!(read, Read_::Data) => Ok(Step::Again),
            Ok(None) | Err(_) => Ok(Step::Done(self.fail_upstream(
                ctx,
                "the upstream proxy sent no valid answer",
                502,
                socks5::reply::GENERAL_FAILURE,
            ))),
        }
    }

    /// Answers the client's CONNECT (or SOCKS request) and starts relaying.
    fn start_tunnel(&mut self, from_upstream: Vec<u8>) -> io::Result<()> {
        let mut to_client = std::mem::take(&mut self.out);
        match self.purpose {
            Some(Purpose::Connect) => to_client.extend_from_slice(http::CONNECT_ESTABLISHED),
            Some(Purpose::Socks) => {
                let bound = self.upstream.as_ref().and_then(|u| u.local_addr().ok());
                to_client.extend_from_slice(&socks5::reply(socks5::reply::SUCCEEDED, bound));
            }
            _ => {}
        }
        to_client.extend_from_slice(&from_upstream);
        let to_upstream = std::mem::take(&mut self.inbuf);
        self.phase = Phase::Tunnel(Tunnel::new(to_upstream, to_client));
        Ok(())
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
                self.start_tunnel(Vec::new())?;
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
            .note(self.source(), &format!("{}: {why}", self.label));
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

fn socks_code_for(error: &str) -> u8 {
    if error.contains("refused") {
        socks5::reply::CONNECTION_REFUSED
    } else if error.contains("Network is unreachable") {
        socks5::reply::NETWORK_UNREACHABLE
    } else if error.contains("No route to host") {
        socks5::reply::HOST_UNREACHABLE
    } else {
        socks5::reply::GENERAL_FAILURE
    }
}

fn port_suffix(port: u16) -> String {
    if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn is_reset(e: &io::Error) -> bool {
    !matches!(
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

/// What one read produced.
pub enum Read_ {
    Data,
    Eof,
    Blocked,
    /// `buf` already holds `limit` bytes.
    Full,
}

/// Reads once from `stream` into `buf`, up to `limit` bytes in `buf`.
pub fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, limit: usize) -> io::Result<Read_> {
    let room = limit.saturating_sub(buf.len()).min(64 * 1024);
    if room == 0 {
        return Ok(Read_::Full);
    }
    let mut chunk = [0u8; 16 * 1024];
    let want = room.min(chunk.len());
    loop {
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Ok(Read_::Eof),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(Read_::Data);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read_::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
