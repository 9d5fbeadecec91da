//! A plain HTTP request forwarded by the proxy (absolute-form, `GET http://host/...`):
//! the head is rewritten for the upstream, the request body follows by its framing, and
//! the response comes back with its head rewritten. The upstream connection always
//! closes after one response; the client's may stay open, and its next request is read
//! and checked afresh.

use std::io::{self, Write};

use mio::net::TcpStream;

use super::http::{self, ChunkedScanner, Framing, RequestHead};
use super::read::{ReadOutcome, read_some};
use crate::policy::domains::Host;

/// Buffered bytes in one direction above which fence stops reading (back-pressure).
const HIGH_WATER: usize = 256 * 1024;

/// What the connection should do after [`Forward::drive`].
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Again,
    Wait,
    /// The upstream failed before any of its response reached the client.
    BadGateway(String),
    /// Flush what is queued for the client, then close.
    Close,
    /// The upstream switched protocols (101): relay both ways from now on; these bytes
    /// go to the client first.
    Upgraded(Vec<u8>),
    /// The exchange is complete and the client keeps its connection: read its next request.
    KeepAlive,
}

enum RequestBody {
    Done,
    Length(u64),
    Chunked(ChunkedScanner),
}

enum Response {
    Head(Vec<u8>),
    Length(u64),
    Chunked(ChunkedScanner),
    UntilClose,
    Done,
}

pub struct Forward {
    head: RequestHead,
    host: Host,
    port: u16,
    path: String,
    /// Send the absolute-form request to `upstreamProxy` instead of origin-form.
    via_upstream_proxy: bool,
    head_queued: bool,
    body: RequestBody,
    to_upstream: Vec<u8>,
    response: Response,
    /// Part of the response was queued for the client (no 502 possible any more).
    answered: bool,
    keep_alive: bool,
    malformed_body: bool,
}

impl Forward {
    pub fn new(head: RequestHead, framing: Framing, host: &Host, port: u16, path: String) -> Self {
        let body = match framing {
            Framing::Length(n) if n > 0 => RequestBody::Length(n),
            Framing::Chunked => RequestBody::Chunked(ChunkedScanner::new()),
            _ => RequestBody::Done,
        };
        Forward {
            keep_alive: http::client_wants_keep_alive(&head),
            head,
            host: host.clone(),
            port,
            path,
            via_upstream_proxy: false,
            head_queued: false,
            body,
            to_upstream: Vec::new(),
            response: Response::Head(Vec::new()),
            answered: false,
            malformed_body: false,
        }
    }

    pub fn use_upstream_proxy(&mut self) {
        self.via_upstream_proxy = true;
    }

    /// Moves request and response bytes as far as the sockets allow.
    pub fn drive(
        &mut self,
        client: &mut TcpStream,
        upstream: &mut TcpStream,
        inbuf: &mut Vec<u8>,
        out: &mut Vec<u8>,
        client_eof: &mut bool,
    ) -> io::Result<Progress> {
        if !self.head_queued {
            self.head_queued = true;
            self.to_upstream = if self.via_upstream_proxy {
                http::absolute_request_head(&self.head, &self.host, self.port, &self.path)
            } else {
                http::upstream_request_head(&self.head, &self.host, self.port, &self.path)
            };
        }
        let mut progressed = self.take_body(inbuf);
        if self.body_pending() && inbuf.is_empty() && self.to_upstream.len() < HIGH_WATER {
            match read_some(client, inbuf, 64 * 1024)? {
                ReadOutcome::Data => progressed = true,
                ReadOutcome::Eof => *client_eof = true,
                ReadOutcome::Blocked | ReadOutcome::Full => {}
            }
            progressed |= self.take_body(inbuf);
        }
        if self.body_pending() && *client_eof && inbuf.is_empty() {
            // The client gave up in the middle of its request body.
            return Ok(Progress::Close);
        }
        if self.malformed_body {
            return Ok(self.fail("malformed chunked request body"));
        }
        while !self.to_upstream.is_empty() {
            match upstream.write(&self.to_upstream) {
                Ok(n) => {
                    self.to_upstream.drain(..n);
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The upstream stopped reading (it may have answered early): keep going
                // with what it sent.
                Err(_) if self.answered => {
                    self.to_upstream.clear();
                    self.body = RequestBody::Done;
                    self.keep_alive = false;
                }
                Err(e) => return Ok(self.fail(&format!("cannot send the request: {e}"))),
            }
        }
        if !matches!(self.response, Response::Done) && out.len() < HIGH_WATER {
            let mut bytes = Vec::new();
            match read_some(upstream, &mut bytes, 64 * 1024) {
                Ok(ReadOutcome::Data) => {
                    progressed = true;
                    if let Some(done) = self.on_response_bytes(bytes, out) {
                        return Ok(done);
                    }
                }
                Ok(ReadOutcome::Eof) => return Ok(self.on_upstream_eof()),
                Ok(ReadOutcome::Blocked | ReadOutcome::Full) => {}
                Err(e) if !self.answered => {
                    return Ok(Progress::BadGateway(format!("the server failed: {e}")));
                }
                Err(_) => return Ok(Progress::Close),
            }
        }
        if matches!(self.response, Response::Done) {
            let request_sent = !self.body_pending() && self.to_upstream.is_empty();
            if !(self.keep_alive && request_sent) {
                return Ok(Progress::Close);
            }
            return Ok(if out.is_empty() {
                Progress::KeepAlive
            } else {
                Progress::Wait
            });
        }
        Ok(if progressed {
            Progress::Again
        } else {
            Progress::Wait
        })
    }

    fn body_pending(&self) -> bool {
        !matches!(self.body, RequestBody::Done)
    }

    fn fail(&mut self, why: &str) -> Progress {
        if self.answered {
            Progress::Close
        } else {
            Progress::BadGateway(why.to_string())
        }
    }

    /// Moves the request body's bytes from `inbuf` to the upstream queue; bytes after the
    /// body (a pipelined request) stay in `inbuf`.
    fn take_body(&mut self, inbuf: &mut Vec<u8>) -> bool {
        if inbuf.is_empty() {
            return false;
        }
        let take = match &mut self.body {
            RequestBody::Done => return false,
            RequestBody::Length(left) => {
                let take = (*left).min(inbuf.len() as u64) as usize;
                *left -= take as u64;
                if *left == 0 {
                    self.body = RequestBody::Done;
                }
                take
            }
            RequestBody::Chunked(scanner) => match scanner.feed(inbuf) {
                Ok(Some(end)) => {
                    self.body = RequestBody::Done;
                    end
                }
                Ok(None) => inbuf.len(),
                Err(_) => {
                    self.malformed_body = true;
                    return false;
                }
            },
        };
        self.to_upstream.extend(inbuf.drain(..take));
        take > 0
    }

    /// Handles response bytes; Some when the exchange ends here.
    fn on_response_bytes(&mut self, bytes: Vec<u8>, out: &mut Vec<u8>) -> Option<Progress> {
        let mut bytes = bytes;
        loop {
            match &mut self.response {
                Response::Head(buf) => {
                    buf.extend_from_slice(&bytes);
                    let (head, len) = match http::parse_response_head(buf) {
                        Ok(Some(parsed)) => parsed,
                        Ok(None) => return None,
                        Err(e) => return Some(self.fail(&format!("invalid response: {e}"))),
                    };
                    let rest = buf.split_off(len);
                    if head.status == 101 {
                        let mut raw = std::mem::take(buf);
                        raw.extend_from_slice(&rest);
                        return Some(Progress::Upgraded(raw));
                    }
                    self.answered = true;
                    if (100..200).contains(&head.status) {
                        out.extend_from_slice(&http::client_response_head(&head, true));
                        *buf = Vec::new();
                        bytes = rest;
                        continue;
                    }
                    let framing = http::response_framing(&self.head.method, &head);
                    self.keep_alive &= framing != Framing::UntilClose;
                    out.extend_from_slice(&http::client_response_head(&head, self.keep_alive));
                    self.response = match framing {
                        Framing::None | Framing::Length(0) => Response::Done,
                        Framing::Length(n) => Response::Length(n),
                        Framing::Chunked => Response::Chunked(ChunkedScanner::new()),
                        Framing::UntilClose => Response::UntilClose,
                    };
                    bytes = rest;
                    if bytes.is_empty() {
                        return None;
                    }
                }
                Response::Length(left) => {
                    let take = (*left).min(bytes.len() as u64) as usize;
                    out.extend_from_slice(&bytes[..take]);
                    *left -= take as u64;
                    if *left == 0 {
                        self.response = Response::Done;
                    }
                    return None;
                }
                Response::Chunked(scanner) => {
                    return match scanner.feed(&bytes) {
                        Ok(Some(end)) => {
                            out.extend_from_slice(&bytes[..end]);
                            self.response = Response::Done;
                            None
                        }
                        Ok(None) => {
                            out.extend_from_slice(&bytes);
                            None
                        }
                        Err(_) => Some(Progress::Close),
                    };
                }
                Response::UntilClose => {
                    out.extend_from_slice(&bytes);
                    return None;
                }
                Response::Done => return None,
            }
        }
    }

    fn on_upstream_eof(&mut self) -> Progress {
        match self.response {
            Response::Head(_) => self.fail("the server closed the connection without answering"),
            Response::UntilClose => {
                self.response = Response::Done;
                Progress::Close
            }
            // A truncated body: the client must see the connection end.
            _ => Progress::Close,
        }
    }
}
