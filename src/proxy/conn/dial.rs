//! Reaching the destination: resolving through the guard, connecting (trying each
//! address), the upstream proxy's CONNECT handshake, the init's sockets for exposed ports,
//! and the start of the tunnel.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use mio::Interest;
use mio::net::TcpStream;

use super::{CONNECT_TIMEOUT, Conn, Ctx, Next, Phase, Purpose, Role, Step};
use crate::proxy::guard;
use crate::proxy::http;
use crate::proxy::read::{ReadOutcome, read_some};
use crate::proxy::socks5;
use crate::proxy::tunnel::{Copier, Tunnel};

impl Conn {
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

    pub(super) fn inside_failed(&mut self, ctx: &mut Ctx<'_>, why: &str) -> Next {
        let Role::Exposed { port } = self.role else {
            return Next::Close;
        };
        if !self.tried_inside_v6 {
            // Nothing on 127.0.0.1: the server may listen on ::1 only (Node's "localhost").
            self.tried_inside_v6 = true;
            self.phase = Phase::AwaitInside;
            return Next::ConnectInside { port, ipv6: true };
        }
        ctx.monitor.note(
            "net",
            format_args!("{}: nothing listening ({why})", self.label),
        );
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
            let why = format!("{} resolves to {ip}, {reason}", dest.dial_host);
            self.refuse(ctx, &why);
            return self.drive(ctx);
        }
        self.connect(ctx, dialable)
    }

    /// Starts a non-blocking connection to the first of `addrs`.
    pub(super) fn connect(&mut self, ctx: &mut Ctx<'_>, addrs: Vec<SocketAddr>) -> Next {
        self.phase = Phase::Connecting { addrs, next: 0 };
        self.try_next_address(ctx)
    }

    pub(super) fn try_next_address(&mut self, ctx: &mut Ctx<'_>) -> Next {
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

    pub(super) fn attach_upstream(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut stream: TcpStream,
    ) -> io::Result<()> {
        if let Some(mut old) = self.upstream.take() {
            let _ = ctx.registry.deregister(&mut old);
        }
        super::no_delay(&stream);
        ctx.registry.register(
            &mut stream,
            ctx.tokens.1,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.upstream = Some(stream);
        Ok(())
    }

    /// Checks a connection in progress; on success, the request proceeds.
    pub(super) fn check_connect(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
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
                self.start_tunnel(Vec::new(), ctx.copier)?;
            }
            None => return Ok(Step::Done(Next::Close)),
        }
        Ok(Step::Again)
    }

    pub(super) fn connect_failed(&mut self, ctx: &mut Ctx<'_>, e: io::Error) -> Next {
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
    pub(super) fn upstream_write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let upstream = self.upstream.as_mut().expect("connected");
        let n = upstream.write(bytes)?;
        if n != bytes.len() {
            return Err(io::Error::other("short write of a CONNECT request"));
        }
        Ok(())
    }

    /// Reads the upstream proxy's answer to CONNECT.
    pub(super) fn upstream_handshake(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
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
                    self.start_tunnel(rest, ctx.copier)?;
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
            Ok(None) if matches!(read, ReadOutcome::Blocked) => Ok(Step::Wait),
            Ok(None) if matches!(read, ReadOutcome::Data) => Ok(Step::Again),
            Ok(None) | Err(_) => Ok(Step::Done(self.fail_upstream(
                ctx,
                "the upstream proxy sent no valid answer",
                502,
                socks5::reply::GENERAL_FAILURE,
            ))),
        }
    }

    /// Answers the client's CONNECT (or SOCKS request) and starts relaying.
    pub(super) fn start_tunnel(
        &mut self,
        from_upstream: Vec<u8>,
        copier: Copier,
    ) -> io::Result<()> {
        let mut to_client = std::mem::take(&mut self.out);
        match self.purpose {
            Some(Purpose::Connect) => to_client.extend_from_slice(http::CONNECT_ESTABLISHED),
            Some(Purpose::Socks) => {
                // BND.ADDR and BND.PORT stay 0.0.0.0:0: the real ones are the host's
                // outbound address and port, which the sandbox has no business knowing
                // (CONNECT clients do not use them).
                to_client.extend_from_slice(&socks5::reply(socks5::reply::SUCCEEDED, None));
            }
            _ => {}
        }
        to_client.extend_from_slice(&from_upstream);
        let to_upstream = std::mem::take(&mut self.inbuf);
        self.phase = Phase::Tunnel(Tunnel::new(to_upstream, to_client, copier));
        Ok(())
    }
}

pub(super) fn socks_code_for(error: &str) -> u8 {
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
