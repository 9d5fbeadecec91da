//! Reading what the client asks for: an HTTP request head, or the SOCKS5 greeting and
//! request; malformed input gets its answer here.

use std::io;

use super::{Conn, Ctx, Next, Phase, Purpose, Step};
use crate::events::Decision;
use crate::proxy::forward::Forward;
use crate::proxy::http::{self, HeadError, RequestTarget};
use crate::proxy::read::{ReadOutcome, read_some};
use crate::proxy::socks5;

impl Conn {
    /// Reads more of a request into `inbuf`; Wait when nothing came.
    pub(super) fn read_request_bytes(&mut self) -> io::Result<Option<Step>> {
        if self.client_eof {
            return Ok(Some(Step::Done(Next::Close)));
        }
        match read_some(&mut self.client, &mut self.inbuf, http::MAX_HEAD + 1)? {
            ReadOutcome::Data => Ok(None),
            ReadOutcome::Eof => {
                self.client_eof = true;
                Ok(None)
            }
            ReadOutcome::Blocked => Ok(Some(Step::Wait)),
            ReadOutcome::Full => Ok(None),
        }
    }

    pub(super) fn http_request(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
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
            (RequestTarget::Authority { host, port }, true) => {
                self.label = format!("CONNECT {host}:{port}");
                self.method = "CONNECT".into();
                self.target = format!("{host}:{port}");
                (host.clone(), *port, Purpose::Connect)
            }
            (RequestTarget::Absolute { host, port, path }, false) => {
                let framing = match http::request_framing(&head) {
                    Ok(framing) => framing,
                    Err(e) => return Ok(self.bad_request(ctx, &e)),
                };
                let shown = format!("{} http://{host}{}{path}", head.method, port_suffix(*port));
                self.label = truncate(&shown, 100);
                self.method = truncate(&head.method, 20);
                self.target = format!("{host}:{port}");
                let (host, port, path) = (host.clone(), *port, path.clone());
                let forward = Forward::new(head, framing, &host, port, path);
                (host, port, Purpose::Forward(Box::new(forward)))
            }
            (RequestTarget::Origin(_), _) => {
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

    pub(super) fn socks_greeting(&mut self) -> io::Result<Step> {
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

    pub(super) fn socks_request(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Step> {
        match socks5::parse_request(&self.inbuf) {
            Ok(Some((request, len))) => {
                self.inbuf.drain(..len);
                self.target = format!("{}:{}", request.host, request.port);
                self.label = format!("CONNECT {}", self.target);
                self.method = "CONNECT".into();
                if request.command != socks5::Command::Connect {
                    let what = match request.command {
                        socks5::Command::Bind => "BIND",
                        _ => "UDP ASSOCIATE",
                    };
                    self.label = format!("{what} {}", self.target);
                    self.method = what.into();
                    ctx.monitor
                        .record(&self.event("only CONNECT is supported", Decision::Denied));
                    return Ok(self.socks_fail(socks5::reply::COMMAND_NOT_SUPPORTED));
                }
                self.purpose = Some(Purpose::Socks);
                Ok(self.decide(ctx, request.host, request.port))
            }
            Ok(None) => Ok(self.read_request_bytes()?.unwrap_or(Step::Again)),
            Err(socks5::ParseError::Reply(code)) => {
                ctx.monitor.note(
                    "socks",
                    format_args!("refused request: {}", socks5::reply_message(code)),
                );
                Ok(self.socks_fail(code))
            }
            Err(socks5::ParseError::Malformed(why)) => {
                ctx.monitor
                    .note("socks", format_args!("malformed request: {why}"));
                Ok(Step::Done(Next::Close))
            }
        }
    }

    pub(super) fn socks_fail(&mut self, code: u8) -> Step {
        self.out.extend_from_slice(&socks5::reply(code, None));
        self.phase = Phase::Closing { shut: false };
        Step::Again
    }

    pub(super) fn bad_request(&mut self, ctx: &mut Ctx<'_>, e: &HeadError) -> Step {
        let (status, reason) = match e {
            HeadError::TooLarge => (431, "Request Header Fields Too Large"),
            HeadError::Malformed(_) => (400, "Bad Request"),
        };
        ctx.monitor
            .note("http", format_args!("malformed request ({e}): {status}"));
        self.out = http::error_response(status, reason, &format!("fence: {e}"));
        self.phase = Phase::Closing { shut: false };
        Step::Again
    }
}

pub(super) fn port_suffix(port: u16) -> String {
    if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    }
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
