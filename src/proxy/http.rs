//! HTTP/1.x message heads for fence's HTTP proxy, as pure functions over byte slices.
//!
//! The proxy's event loop owns the sockets; this module only answers questions about the
//! bytes it has buffered: has a whole request or response head arrived, what does it ask
//! for ([`parse_request_head`], [`parse_response_head`]), how is the body that follows
//! framed ([`request_framing`], [`response_framing`], [`ChunkedScanner`]), and what head
//! should be sent on ([`upstream_request_head`], [`client_response_head`], …).
//!
//! Parsing follows RFC 9112 strictly wherever leniency could let a client and an upstream
//! server disagree about where a message ends (request smuggling): ambiguous framing is an
//! error, never a guess. No function here panics, whatever the input.

use std::fmt;
use std::net::IpAddr;

use crate::policy::domains::Host;
use crate::policy::network::parse_port;

/// The largest request or response head (start line, header fields and the blank line
/// ending them) accepted, in bytes. Also bounds the trailer section of a chunked body.
pub const MAX_HEAD: usize = 64 * 1024;

/// The reply to a successful CONNECT.
pub const CONNECT_ESTABLISHED: &[u8] =
    b"HTTP/1.1 200 Connection established\r\nProxy-Agent: fence\r\n\r\n";

/// More header fields than this make a head malformed.
const MAX_HEADERS: usize = 100;
/// Empty lines tolerated before a request line (RFC 9112 §2.2).
const MAX_LEADING_EMPTY_LINES: usize = 8;
/// The longest chunk-size line (size and extensions, without the line end) accepted.
const MAX_CHUNK_SIZE_LINE: usize = 4 * 1024;

/// Header fields that describe one connection, never forwarded (besides those a
/// Connection header names). Lower case.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

/// Header fields that delimit a message body. Lower case.
const FRAMING: &[&str] = &["content-length", "transfer-encoding"];

/// A header field as received: the name as sent, the value without surrounding whitespace.
type Field = (String, Vec<u8>);

/// Why a head (or a chunked body) cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// No end of the head within [`MAX_HEAD`] bytes (or a chunked body's trailer section
    /// longer than that).
    TooLarge,
    /// Not a valid HTTP/1.x message; the text says what is wrong.
    Malformed(&'static str),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "message head larger than {MAX_HEAD} bytes"),
            HeadError::Malformed(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for HeadError {}

/// What a request asks for: its request-target, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestTarget {
    /// `CONNECT host:port` (authority-form); the port is required.
    Authority { host: Host, port: u16 },
    /// `http://host[:port]/path?query` (absolute-form): a plain HTTP request for a proxy.
    /// `port` defaults to 80; `path` is the origin-form to send upstream (`/` when the URL
    /// has none, fragment dropped).
    Absolute { host: Host, port: u16, path: String },
    /// `/path?query` (origin-form, a request not meant for a proxy), or `*` for OPTIONS.
    Origin(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, case preserved (RFC 9110 token characters only).
    pub method: String,
    /// The request-target.
    pub target: RequestTarget,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header fields in order: names as sent, values with surrounding whitespace trimmed.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// The value of the first header field called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        field_values(&self.headers, name).next()
    }

    /// The values of every header field called `name` (compared case-insensitively).
    pub fn headers_named<'h>(&'h self, name: &str) -> impl Iterator<Item = &'h [u8]> {
        field_values(&self.headers, name)
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The three-digit status code (100..=999).
    pub status: u16,
    /// The reason phrase, possibly empty (bytes that are not UTF-8 replaced).
    pub reason: String,
    /// Header fields in order: names as sent, values with surrounding whitespace trimmed.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ResponseHead {
    /// The value of the first header field called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        field_values(&self.headers, name).next()
    }

    /// The values of every header field called `name` (compared case-insensitively).
    pub fn headers_named<'h>(&'h self, name: &str) -> impl Iterator<Item = &'h [u8]> {
        field_values(&self.headers, name)
    }
}

/// How the body after a head is delimited (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes (possibly 0).
    Length(u64),
    /// A chunked body; find its end with a [`ChunkedScanner`].
    Chunked,
    /// Everything until the sender closes the connection (responses only).
    UntilClose,
}

/// Parses a request head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and shorter than [`MAX_HEAD`], and on
/// success the head with its length in bytes (empty lines skipped before the request
/// line and the blank line ending the head included). Accepts CRLF and bare LF line ends.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let Some(span) = locate_head(buf, MAX_LEADING_EMPTY_LINES)? else {
        return Ok(None);
    };
    let mut lines = span.lines(buf);
    let request_line = lines.next().unwrap_or_default();
    let (method, target, minor_version) = parse_request_line(request_line)?;
    let headers = parse_fields(lines)?;
    if field_values(&headers, "host").count() > 1 {
        return Err(HeadError::Malformed("more than one Host header"));
    }
    let head = RequestHead {
        method,
        target,
        minor_version,
        headers,
    };
    Ok(Some((head, span.end)))
}

/// Parses a response head at the start of `buf`; returns like [`parse_request_head`].
/// The status line is `HTTP/1.x NNN reason`, the reason (and the space before it)
/// optional.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let Some(span) = locate_head(buf, 0)? else {
        return Ok(None);
    };
    let mut lines = span.lines(buf);
    let status_line = lines.next().unwrap_or_default();
    let (minor_version, status, reason) = parse_status_line(status_line)?;
    let headers = parse_fields(lines)?;
    let head = ResponseHead {
        minor_version,
        status,
        reason,
        headers,
    };
    Ok(Some((head, span.end)))
}

/// How a request's body is framed (RFC 9112 §6.1–6.3). Ambiguous framing is an error:
/// Transfer-Encoding with Content-Length, Transfer-Encoding in HTTP/1.0, a final transfer
/// coding other than `chunked`, Content-Length values that are invalid or differ, and a
/// Connection (or Proxy-Connection) header naming Content-Length or Transfer-Encoding:
/// framing headers are never hop-by-hop, and stripping one while its body is forwarded
/// would let the body pass for a second request.
pub fn request_framing(head: &RequestHead) -> Result<Framing, HeadError> {
    let malformed = HeadError::Malformed;
    let connection_lists = head
        .headers_named("connection")
        .chain(head.headers_named("proxy-connection"));
    for token in list_items(connection_lists) {
        if token.eq_ignore_ascii_case(b"content-length") {
            return Err(malformed("a Connection header names Content-Length"));
        }
        if token.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(malformed("a Connection header names Transfer-Encoding"));
        }
    }
    match (
        transfer_encoding(&head.headers),
        content_length(&head.headers),
    ) {
        (TransferEncoding::Absent, ContentLength::Absent) => Ok(Framing::None),
        (TransferEncoding::Absent, ContentLength::Valid(length)) => Ok(Framing::Length(length)),
        (TransferEncoding::Absent, ContentLength::Invalid) => {
            Err(malformed("invalid or conflicting Content-Length"))
        }
        (_, ContentLength::Valid(_) | ContentLength::Invalid) => {
            Err(malformed("both Transfer-Encoding and Content-Length"))
        }
        (_, ContentLength::Absent) if head.minor_version == 0 => {
            Err(malformed("Transfer-Encoding in an HTTP/1.0 request"))
        }
        (TransferEncoding::Chunked, ContentLength::Absent) => Ok(Framing::Chunked),
        (TransferEncoding::Other, ContentLength::Absent) => Err(malformed(
            "Transfer-Encoding whose final coding is not chunked",
        )),
    }
}

/// How a response to a `request_method` request is framed (RFC 9112 §6.3). Never fails:
/// whatever cannot be framed otherwise lasts until the server closes the connection.
pub fn response_framing(request_method: &str, head: &ResponseHead) -> Framing {
    let status = head.status;
    if request_method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
        return Framing::None;
    }
    if request_method == "CONNECT" && (200..300).contains(&status) {
        return Framing::UntilClose;
    }
    match transfer_encoding(&head.headers) {
        // Transfer-Encoding in an HTTP/1.0 message is faulty framing (RFC 9112 §6.1).
        TransferEncoding::Chunked if head.minor_version >= 1 => Framing::Chunked,
        TransferEncoding::Chunked | TransferEncoding::Other => Framing::UntilClose,
        TransferEncoding::Absent => match content_length(&head.headers) {
            ContentLength::Valid(length) => Framing::Length(length),
            ContentLength::Invalid | ContentLength::Absent => Framing::UntilClose,
        },
    }
}

/// Whether the client asked to keep its connection open after this request: for
/// HTTP/1.1 unless a Connection (or Proxy-Connection) header lists `close`, for HTTP/1.0
/// only if one lists `keep-alive` (and none `close`).
pub fn client_wants_keep_alive(head: &RequestHead) -> bool {
    let values = head
        .headers_named("connection")
        .chain(head.headers_named("proxy-connection"));
    let tokens: Vec<&[u8]> = list_items(values).collect();
    let lists = |token: &[u8]| tokens.iter().any(|t| t.eq_ignore_ascii_case(token));
    if lists(b"close") {
        false
    } else {
        head.minor_version >= 1 || lists(b"keep-alive")
    }
}

/// Serializes the request head for the upstream server: origin-form request line
/// `METHOD path HTTP/1.1`, a `Host` header first, the client's headers minus hop-by-hop
/// ones (Connection, Proxy-Connection, Keep-Alive, Proxy-Authorization,
/// Proxy-Authenticate, TE, Trailer, Upgrade, and every header a Connection header
/// names), then `Connection: close`.
///
/// The client's Host header is kept only if it names the same host and port as
/// `host`/`port` (the destination the policy allowed); otherwise it is replaced by one
/// built from them (`:80` omitted), so a request cannot reach another virtual host on
/// the allowed server.
pub fn upstream_request_head(head: &RequestHead, host: &Host, port: u16, path: &str) -> Vec<u8> {
    forwarded_request_head(head, path, host, port)
}

/// Like [`upstream_request_head`], but with the absolute-form target
/// `http://host[:port]path`, for sending a plain HTTP request through an upstream proxy.
pub fn absolute_request_head(head: &RequestHead, host: &Host, port: u16, path: &str) -> Vec<u8> {
    let target = format!("http://{}{path}", authority_text(host, port));
    forwarded_request_head(head, &target, host, port)
}

/// The CONNECT request asking an upstream proxy for a tunnel to `host:port` (IPv6
/// bracketed).
pub fn connect_request(host: &Host, port: u16) -> Vec<u8> {
    format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").into_bytes()
}

/// Serializes a response head for the client: status line `HTTP/1.1 status reason`, the
/// headers minus hop-by-hop ones (as for requests), plus `Connection: close` when
/// `keep_alive` is false (which it must be when the body is framed
/// [`Framing::UntilClose`]). Content-Length is dropped when Transfer-Encoding is present
/// (RFC 9112 §6.3): fence frames such a body by Transfer-Encoding, and a client that
/// trusted the length instead would take the rest of the body for the next response on
/// its kept-open connection.
pub fn client_response_head(head: &ResponseHead, keep_alive: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", head.status, head.reason).into_bytes();
    let connection_named = connection_tokens(&head.headers);
    let has_transfer_encoding = field_values(&head.headers, "transfer-encoding")
        .next()
        .is_some();
    for (name, value) in &head.headers {
        let superseded_length =
            has_transfer_encoding && name.eq_ignore_ascii_case("content-length");
        if !is_hop_by_hop(name, &connection_named) && !superseded_length {
            write_field(&mut out, name, value);
        }
    }
    if !keep_alive {
        write_field(&mut out, "Connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A complete short plain-text response generated by fence itself: the body plus a
/// newline, with Content-Length, `Connection: close` and `Proxy-Agent: fence`. Control
/// characters in `reason` become spaces; the body is escaped
/// ([`crate::output::escape`]): it may quote what the client sent, and the client may
/// print it to a terminal.
pub fn error_response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = crate::output::escape(body);
    let length = body.len().saturating_add(1);
    format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {length}\r\n\
         Connection: close\r\n\
         Proxy-Agent: fence\r\n\
         \r\n\
         {body}\n"
    )
    .into_bytes()
}

/// Finds where a chunked body ends while its bytes pass through unchanged (RFC 9112
/// §7.1). Chunk extensions are skipped; trailer fields are passed over, only checked for
/// bytes that could confuse framing (NUL, a CR without LF).
#[derive(Debug, Clone)]
pub struct ChunkedScanner {
    state: ChunkState,
    /// The chunk size read so far on the current chunk-size line.
    size: u64,
    /// Hex digits read so far on the current chunk-size line.
    size_digits: usize,
    /// Bytes of the current chunk-size line so far (line end excluded).
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
}

/// Where a [`ChunkedScanner`] is in the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex digits of a chunk size.
    SizeDigits,
    /// Whitespace after a chunk size: only `;` (an extension) may follow.
    SizeWhitespace,
    /// Inside chunk extensions, skipped to the line end.
    Extension,
    /// A CR ended the chunk-size line; LF must follow.
    SizeLineCr,
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Chunk data complete; a line end must follow.
    DataEnd,
    /// A CR after chunk data; LF must follow.
    DataEndCr,
    /// At the start of a trailer line, or of the empty line ending the body.
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// A CR inside a trailer line; LF must follow.
    TrailerLineCr,
    /// The CR of the final empty line; LF must follow.
    FinalCr,
    /// The body has ended.
    Done,
    /// The body was malformed; every later feed fails the same way.
    Failed(HeadError),
}

impl Default for ChunkedScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedScanner {
    /// A scanner at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedScanner {
            state: ChunkState::SizeDigits,
            size: 0,
            size_digits: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Consumes the next bytes of the body (split anywhere). Returns `Ok(Some(n))` when the
    /// body ends within `data`, `n` being how many bytes of `data` belong to it (`0` once
    /// the end has already been reported), `Ok(None)` when all of `data` is body and more is
    /// needed. Errors are sticky.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|rest| !rest.is_empty()) {
            match self.state {
                ChunkState::Done | ChunkState::Failed(_) => break,
                ChunkState::Data { remaining } => {
                    let available = u64::try_from(rest.len()).unwrap_or(u64::MAX);
                    let taken = remaining.min(available);
                    // taken <= rest.len(), so it fits a usize.
                    pos += usize::try_from(taken).unwrap_or(rest.len());
                    self.state = match remaining - taken {
                        0 => ChunkState::DataEnd,
                        remaining => ChunkState::Data { remaining },
                    };
                }
                _ => {
                    let byte = rest.first().copied().unwrap_or_default();
                    pos += 1;
                    if let Err(error) = self.step(byte) {
                        self.state = ChunkState::Failed(error);
                    }
                }
            }
        }
        match self.state {
            ChunkState::Done => Ok(Some(pos)),
            ChunkState::Failed(error) => Err(error),
            _ => Ok(None),
        }
    }

    /// Advances the state machine over one byte outside chunk data.
    fn step(&mut self, byte: u8) -> Result<(), HeadError> {
        use ChunkState::*;
        let malformed = HeadError::Malformed;
        match self.state {
            SizeDigits | SizeWhitespace | Extension if byte != b'\r' && byte != b'\n' => {
                self.line_len += 1;
                if self.line_len > MAX_CHUNK_SIZE_LINE {
                    return Err(malformed("chunk-size line longer than 4 KiB"));
                }
            }
            TrailerLineStart | TrailerLine | TrailerLineCr | FinalCr => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
            }
            _ => {}
        }
        self.state = match (self.state, byte) {
            (SizeDigits, _) if byte.is_ascii_hexdigit() => {
                let digit = char::from(byte).to_digit(16).map(u64::from);
                self.size = digit
                    .and_then(|d| self.size.checked_mul(16)?.checked_add(d))
                    .ok_or(malformed("chunk size too large"))?;
                self.size_digits += 1;
                SizeDigits
            }
            (SizeDigits, _) if self.size_digits == 0 => {
                return Err(malformed("missing chunk size"));
            }
            (SizeDigits | SizeWhitespace, b' ' | b'\t') => SizeWhitespace,
            (SizeDigits | SizeWhitespace, b';') => Extension,
            (SizeDigits | Extension, b'\r') => SizeLineCr,
            (SizeDigits | Extension | SizeLineCr, b'\n') => self.end_size_line(),
            (Extension, _) if byte == b'\t' || !byte.is_ascii_control() => Extension,
            (DataEnd, b'\r') => DataEndCr,
            (DataEnd | DataEndCr, b'\n') => SizeDigits,
            (TrailerLineStart, b'\r') => FinalCr,
            (TrailerLineStart | FinalCr, b'\n') => Done,
            (TrailerLine, b'\r') => TrailerLineCr,
            (TrailerLine | TrailerLineCr, b'\n') => TrailerLineStart,
            (TrailerLineStart | TrailerLine, _) if byte != 0 => TrailerLine,
            (SizeDigits | SizeWhitespace, _) => return Err(malformed("invalid chunk-size line")),
            (Extension, _) => return Err(malformed("control character in a chunk extension")),
            (DataEnd, _) => return Err(malformed("chunk data longer than its size")),
            (TrailerLineStart | TrailerLine, _) => return Err(malformed("NUL in a trailer field")),
            (SizeLineCr | DataEndCr | TrailerLineCr | FinalCr, _) => {
                return Err(malformed("CR without LF in a chunked body"));
            }
            (Data { .. } | Done | Failed(_), _) => self.state,
        };
        Ok(())
    }

    /// The state after a complete chunk-size line; resets the line's counters.
    fn end_size_line(&mut self) -> ChunkState {
        let size = self.size;
        self.size = 0;
        self.size_digits = 0;
        self.line_len = 0;
        if size == 0 {
            ChunkState::TrailerLineStart
        } else {
            ChunkState::Data { remaining: size }
        }
    }
}

/// Where a head lies in a buffer.
struct HeadSpan {
    /// Where the start line begins (after tolerated empty lines).
    start: usize,
    /// The LF ending the last header line (or the start line).
    lines_end: usize,
    /// Just past the blank line ending the head.
    end: usize,
}

impl HeadSpan {
    /// The start line and header lines, without their line ends.
    fn lines<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        buf.get(self.start..self.lines_end)
            .unwrap_or_default()
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Finds the first blank line (CRLF or LF) ending a head within [`MAX_HEAD`] bytes,
/// skipping up to `max_leading_empty` empty lines first.
fn locate_head(buf: &[u8], max_leading_empty: usize) -> Result<Option<HeadSpan>, HeadError> {
    let window = buf.get(..MAX_HEAD).unwrap_or(buf);
    let mut start = 0;
    let mut empty_lines = 0;
    loop {
        let rest = window.get(start..).unwrap_or_default();
        let line_end_len = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            break;
        };
        empty_lines += 1;
        if empty_lines > max_leading_empty {
            return Err(HeadError::Malformed("empty line before the start line"));
        }
        start += line_end_len;
    }
    let mut search_from = start;
    while let Some(offset) = window
        .get(search_from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let newline = search_from + offset;
        let after = window.get(newline + 1..).unwrap_or_default();
        let blank_line_len = if after.starts_with(b"\n") {
            1
        } else if after.starts_with(b"\r\n") {
            2
        } else {
            search_from = newline + 1;
            continue;
        };
        let end = newline + 1 + blank_line_len;
        return Ok(Some(HeadSpan {
            start,
            lines_end: newline,
            end,
        }));
    }
    if buf.len() >= MAX_HEAD {
        Err(HeadError::TooLarge)
    } else {
        Ok(None)
    }
}

/// Splits `METHOD SP target SP HTTP/1.x` into method, target and minor version.
fn parse_request_line(line: &[u8]) -> Result<(String, RequestTarget, u8), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not `METHOD target HTTP/1.x`",
        ));
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(HeadError::Malformed("invalid method"));
    }
    let minor_version =
        parse_version(version).ok_or(HeadError::Malformed("unsupported HTTP version"))?;
    let target = std::str::from_utf8(target)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(HeadError::Malformed("invalid request target"))?;
    let method = ascii_string(method);
    let target = parse_target(&method, target)?;
    Ok((method, target, minor_version))
}

/// Classifies a request-target (already known to be visible ASCII).
fn parse_target(method: &str, target: &str) -> Result<RequestTarget, HeadError> {
    if method == "CONNECT" {
        let (host, port) = parse_authority(target, None)?;
        return Ok(RequestTarget::Authority { host, port });
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(RequestTarget::Origin(target.to_owned()))
        } else {
            Err(HeadError::Malformed("`*` target is only valid for OPTIONS"))
        };
    }
    if target.starts_with('/') {
        return Ok(RequestTarget::Origin(target.to_owned()));
    }
    match target.split_once("://") {
        Some((scheme, rest)) => parse_absolute(scheme, rest),
        None => Err(HeadError::Malformed("unrecognized request target")),
    }
}

/// Parses the part after `scheme://` of an absolute-form target.
fn parse_absolute(scheme: &str, rest: &str) -> Result<RequestTarget, HeadError> {
    if scheme.eq_ignore_ascii_case("https") {
        return Err(HeadError::Malformed("https:// URLs must use CONNECT"));
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(HeadError::Malformed("only http:// URLs can be proxied"));
    }
    let without_fragment = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = without_fragment
        .find(['/', '?'])
        .unwrap_or(without_fragment.len());
    let (authority, path) = without_fragment.split_at(authority_end);
    if authority.contains('@') {
        return Err(HeadError::Malformed("user information in a URL"));
    }
    let (host, port) = parse_authority(authority, Some(80))?;
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(RequestTarget::Absolute { host, port, path })
}

/// Parses `host[:port]` or `[v6][:port]`; without a port, `default_port` (None: the port
/// is required).
fn parse_authority(text: &str, default_port: Option<u16>) -> Result<(Host, u16), HeadError> {
    let malformed = HeadError::Malformed;
    let bracketed = text.starts_with('[');
    let (host_text, port_text) = if bracketed {
        let close = text
            .find(']')
            .ok_or(malformed("unterminated IPv6 literal"))?;
        let (host, after) = text.split_at(close + 1);
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(malformed("junk after an IPv6 literal")),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port_text {
        Some(digits) => parse_port(digits).ok_or(malformed("invalid port"))?,
        None => default_port.ok_or(malformed("missing port"))?,
    };
    let host = Host::parse(host_text).ok_or(malformed("invalid host"))?;
    if bracketed && !matches!(host, Host::Ip(IpAddr::V6(_))) {
        return Err(malformed(
            "brackets around something other than an IPv6 address",
        ));
    }
    Ok((host, port))
}

/// Parses `HTTP/1.x SP 3DIGIT [SP reason]`.
fn parse_status_line(line: &[u8]) -> Result<(u8, u16, String), HeadError> {
    let malformed = HeadError::Malformed("status line is not `HTTP/1.x NNN reason`");
    let (version, rest) = line.split_at_checked(8).ok_or(malformed)?;
    let minor_version =
        parse_version(version).ok_or(HeadError::Malformed("unsupported HTTP version"))?;
    let [b' ', code @ ..] = rest else {
        return Err(malformed);
    };
    let (digits, after) = code.split_at_checked(3).ok_or(malformed)?;
    let status = parse_decimal(digits)
        .and_then(|status| u16::try_from(status).ok())
        .ok_or(malformed)?;
    if status < 100 {
        return Err(HeadError::Malformed("status code below 100"));
    }
    let reason = match after {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(malformed),
    };
    if reason.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
        return Err(HeadError::Malformed(
            "control character in the reason phrase",
        ));
    }
    Ok((
        minor_version,
        status,
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

/// `HTTP/1.0` → 0, `HTTP/1.1` → 1, anything else None.
fn parse_version(version: &[u8]) -> Option<u8> {
    match version {
        b"HTTP/1.0" => Some(0),
        b"HTTP/1.1" => Some(1),
        _ => None,
    }
}

/// Parses header field lines.
fn parse_fields<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Field>, HeadError> {
    let malformed = HeadError::Malformed;
    let mut fields = Vec::new();
    for line in lines {
        if fields.len() == MAX_HEADERS {
            return Err(malformed("more than 100 header fields"));
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            return Err(malformed("obsolete line folding in a header field"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(malformed("header field without a colon"))?;
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        if name.is_empty() {
            return Err(malformed("empty header field name"));
        }
        if name.ends_with(b" ") || name.ends_with(b"\t") {
            return Err(malformed("whitespace before a header field's colon"));
        }
        if !name.iter().copied().all(is_tchar) {
            return Err(malformed("invalid header field name"));
        }
        let value = trim_ows(value);
        if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
            return Err(malformed("NUL, CR or LF in a header field value"));
        }
        fields.push((ascii_string(name), value.to_vec()));
    }
    Ok(fields)
}

/// The Transfer-Encoding of a message, as far as framing is concerned.
enum TransferEncoding {
    /// No Transfer-Encoding header.
    Absent,
    /// `chunked` is the final coding and appears only once.
    Chunked,
    /// Anything else (including an empty list).
    Other,
}

fn transfer_encoding(headers: &[Field]) -> TransferEncoding {
    let mut values = field_values(headers, "transfer-encoding").peekable();
    if values.peek().is_none() {
        return TransferEncoding::Absent;
    }
    let codings: Vec<&[u8]> = list_items(values).collect();
    let is_chunked = |coding: &&[u8]| coding.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, earlier)) if is_chunked(last) && !earlier.iter().any(is_chunked) => {
            TransferEncoding::Chunked
        }
        _ => TransferEncoding::Other,
    }
}

/// The Content-Length of a message.
enum ContentLength {
    /// No Content-Length header.
    Absent,
    /// Every value (across headers and comma lists) is this number.
    Valid(u64),
    /// A value is not a decimal number, or values differ.
    Invalid,
}

fn content_length(headers: &[Field]) -> ContentLength {
    let mut length = None;
    for value in field_values(headers, "content-length") {
        for item in value.split(|&b| b == b',') {
            match (parse_decimal(trim_ows(item)), length) {
                (None, _) => return ContentLength::Invalid,
                (Some(n), Some(previous)) if n != previous => return ContentLength::Invalid,
                (Some(n), _) => length = Some(n),
            }
        }
    }
    length.map_or(ContentLength::Absent, ContentLength::Valid)
}

/// One or more ASCII digits as a u64; None on anything else or overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &b| {
        let digit = char::from(b).to_digit(10)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Serializes a request head for forwarding, with `request_target` on the request line.
fn forwarded_request_head(
    head: &RequestHead,
    request_target: &str,
    host: &Host,
    port: u16,
) -> Vec<u8> {
    let mut out = format!("{} {request_target} HTTP/1.1\r\n", head.method).into_bytes();
    let names_destination = |value: &&[u8]| {
        std::str::from_utf8(value)
            .ok()
            .and_then(|text| parse_authority(text, Some(80)).ok())
            .is_some_and(|(h, p)| h == *host && p == port)
    };
    match head.headers_named("host").find(names_destination) {
        Some(client_host) => write_field(&mut out, "Host", client_host),
        None => write_field(&mut out, "Host", authority_text(host, port).as_bytes()),
    }
    let connection_named = connection_tokens(&head.headers);
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("host") && !is_hop_by_hop(name, &connection_named) {
            write_field(&mut out, name, value);
        }
    }
    write_field(&mut out, "Connection", b"close");
    out.extend_from_slice(b"\r\n");
    out
}

/// `host` for port 80, else `host:port` (IPv6 bracketed).
fn authority_text(host: &Host, port: u16) -> String {
    if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

fn write_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The field names listed by a message's Connection headers.
fn connection_tokens(headers: &[Field]) -> Vec<&[u8]> {
    list_items(field_values(headers, "connection")).collect()
}

/// Whether a field is dropped when a message is passed on. The framing fields are always
/// kept, whatever a Connection header names: fence framed the body by them, so the next
/// hop must see the same framing (requests naming them are refused before this).
fn is_hop_by_hop(name: &str, connection_named: &[&[u8]]) -> bool {
    if FRAMING.iter().any(|field| name.eq_ignore_ascii_case(field)) {
        return false;
    }
    HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
        || connection_named
            .iter()
            .any(|token| token.eq_ignore_ascii_case(name.as_bytes()))
}

fn field_values<'h>(headers: &'h [Field], name: &str) -> impl Iterator<Item = &'h [u8]> {
    headers
        .iter()
        .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_slice())
}

/// The non-empty, trimmed elements of comma-separated list values.
fn list_items<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|value| value.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// RFC 9110 `tchar`: the bytes of a token (method, header field name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes known to be ASCII as a String.
fn ascii_string(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Header fields in a test table.
    type Headers<'a> = &'a [(&'a str, &'a str)];

    fn name(text: &str) -> Host {
        Host::Name(text.to_owned())
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Host {
        Host::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn v6_loopback() -> Host {
        Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }

    fn authority(host: Host, port: u16) -> RequestTarget {
        RequestTarget::Authority { host, port }
    }

    fn absolute(host: Host, port: u16, path: &str) -> RequestTarget {
        let path = path.to_owned();
        RequestTarget::Absolute { host, port, path }
    }

    fn fields(headers: Headers) -> Vec<(String, Vec<u8>)> {
        let field = |(n, v): &(&str, &str)| (n.to_string(), v.as_bytes().to_vec());
        headers.iter().map(field).collect()
    }

    /// Parses a complete request head, asserting it spans all of `text`.
    fn request(text: &str) -> RequestHead {
        match parse_request_head(text.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(len, text.len(), "head length of {text:?}");
                head
            }
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    /// Parses a complete response head, asserting it spans all of `text`.
    fn response(text: &str) -> ResponseHead {
        match parse_response_head(text.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(len, text.len(), "head length of {text:?}");
                head
            }
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    fn request_with(minor_version: u8, headers: Headers) -> RequestHead {
        let target = RequestTarget::Origin("/".to_owned());
        let (method, headers) = ("POST".to_owned(), fields(headers));
        RequestHead {
            method,
            target,
            minor_version,
            headers,
        }
    }

    fn response_with(minor_version: u8, status: u16, headers: Headers) -> ResponseHead {
        let (reason, headers) = ("R".to_owned(), fields(headers));
        ResponseHead {
            minor_version,
            status,
            reason,
            headers,
        }
    }

    #[test]
    fn request_targets() {
        #[rustfmt::skip]
        let cases = [
            ("CONNECT example.com:443", authority(name("example.com"), 443)),
            ("CONNECT Example.COM.:8443", authority(name("example.com"), 8443)),
            ("CONNECT 10.0.0.1:65535", authority(v4(10, 0, 0, 1), 65535)),
            ("CONNECT [::1]:443", authority(v6_loopback(), 443)),
            ("CONNECT a.b:1", authority(name("a.b"), 1)),
            ("GET http://example.com/", absolute(name("example.com"), 80, "/")),
            ("GET http://example.com", absolute(name("example.com"), 80, "/")),
            ("GET http://example.com:8080/a/b?c=d", absolute(name("example.com"), 8080, "/a/b?c=d")),
            ("GET http://example.com?q=1", absolute(name("example.com"), 80, "/?q=1")),
            ("GET http://example.com:81?q=1#f", absolute(name("example.com"), 81, "/?q=1")),
            ("GET http://example.com/a#frag", absolute(name("example.com"), 80, "/a")),
            ("GET http://example.com#frag", absolute(name("example.com"), 80, "/")),
            ("GET HTTP://Example.com/X", absolute(name("example.com"), 80, "/X")),
            ("GET hTTp://1.2.3.4:8000/", absolute(v4(1, 2, 3, 4), 8000, "/")),
            ("POST http://[::1]:8080/p", absolute(v6_loopback(), 8080, "/p")),
            ("GET http://[::1]/p", absolute(v6_loopback(), 80, "/p")),
            ("GET /index.html?x=1", RequestTarget::Origin("/index.html?x=1".to_owned())),
            ("GET /", RequestTarget::Origin("/".to_owned())),
            ("OPTIONS *", RequestTarget::Origin("*".to_owned())),
        ];
        for (start, expected) in cases {
            let text = format!("{start} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(request(&text).target, expected, "{start}");
        }
    }

    #[test]
    fn malformed_requests() {
        let request_line = "request line is not `METHOD target HTTP/1.x`";
        let fold = "obsolete line folding in a header field";
        let bad_value = "NUL, CR or LF in a header field value";
        #[rustfmt::skip]
        let cases = [
            ("CONNECT example.com HTTP/1.1\r\n\r\n", "missing port"),
            ("CONNECT [::1] HTTP/1.1\r\n\r\n", "missing port"),
            ("CONNECT example.com: HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT example.com:0 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT example.com:+443 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT example.com:000443 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT example.com:44a HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT ::1:443 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT http://example.com:443 HTTP/1.1\r\n\r\n", "invalid port"),
            ("CONNECT :443 HTTP/1.1\r\n\r\n", "invalid host"),
            ("CONNECT [::1:443 HTTP/1.1\r\n\r\n", "unterminated IPv6 literal"),
            ("CONNECT [::1]x:443 HTTP/1.1\r\n\r\n", "junk after an IPv6 literal"),
            ("CONNECT [1.2.3.4]:443 HTTP/1.1\r\n\r\n", "brackets around something other than an IPv6 address"),
            ("GET http://user@example.com/ HTTP/1.1\r\n\r\n", "user information in a URL"),
            ("GET http://u:p@example.com/ HTTP/1.1\r\n\r\n", "user information in a URL"),
            ("GET https://example.com/ HTTP/1.1\r\n\r\n", "https:// URLs must use CONNECT"),
            ("GET HTTPS://example.com/ HTTP/1.1\r\n\r\n", "https:// URLs must use CONNECT"),
            ("GET ftp://example.com/ HTTP/1.1\r\n\r\n", "only http:// URLs can be proxied"),
            ("GET http:///path HTTP/1.1\r\n\r\n", "invalid host"),
            ("GET http://exa!mple.com/ HTTP/1.1\r\n\r\n", "invalid host"),
            ("GET http://example.com:0/ HTTP/1.1\r\n\r\n", "invalid port"),
            ("GET example.com:80 HTTP/1.1\r\n\r\n", "unrecognized request target"),
            ("GET * HTTP/1.1\r\n\r\n", "`*` target is only valid for OPTIONS"),
            ("GET  / HTTP/1.1\r\n\r\n", request_line),
            ("GET / HTTP/1.1 \r\n\r\n", request_line),
            ("GET /\r\n\r\n", request_line),
            ("GET /a b HTTP/1.1\r\n\r\n", request_line),
            ("GET\t/ HTTP/1.1\r\n\r\n", request_line),
            (" / HTTP/1.1\r\n\r\n", "invalid method"),
            ("G@T / HTTP/1.1\r\n\r\n", "invalid method"),
            ("GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "unsupported HTTP version"),
            ("GET / http/1.1\r\n\r\n", "unsupported HTTP version"),
            ("GET / HTTP/1.2\r\n\r\n", "unsupported HTTP version"),
            ("GET /\x01 HTTP/1.1\r\n\r\n", "invalid request target"),
            ("GET /\u{e9} HTTP/1.1\r\n\r\n", "invalid request target"),
            ("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", fold),
            ("GET / HTTP/1.1\r\n\tfolded: x\r\n\r\n", fold),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "invalid header field name"),
            ("GET / HTTP/1.1\r\nNa\"me: x\r\n\r\n", "invalid header field name"),
            ("GET / HTTP/1.1\r\nName : x\r\n\r\n", "whitespace before a header field's colon"),
            ("GET / HTTP/1.1\r\n: x\r\n\r\n", "empty header field name"),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "header field without a colon"),
            ("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", bad_value),
            ("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", bad_value),
            ("GET / HTTP/1.1\r\nA: b\r\r\n\r\n", bad_value),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "more than one Host header"),
        ];
        for (text, message) in cases {
            let result = parse_request_head(text.as_bytes());
            assert_eq!(result, Err(HeadError::Malformed(message)), "{text:?}");
        }
    }

    #[test]
    fn request_fields_and_versions() {
        let head = request(
            "PoSt http://example.com/x HTTP/1.0\r\n\
             X-Empty:\r\n\
             x-Multi: a \t\r\n\
             X-MULTI:\tb\r\n\
             Host: example.com\r\n\r\n",
        );
        assert_eq!(head.method, "PoSt");
        assert_eq!(head.minor_version, 0);
        assert_eq!(head.headers[0], ("X-Empty".to_owned(), b"".to_vec()));
        assert_eq!(head.headers[1], ("x-Multi".to_owned(), b"a".to_vec()));
        assert_eq!(head.header("X-multi"), Some(&b"a"[..]));
        assert_eq!(head.header("missing"), None);
        let multi: Vec<&[u8]> = head.headers_named("x-multi").collect();
        assert_eq!(multi, [&b"a"[..], &b"b"[..]]);
        assert_eq!(request("GET / HTTP/1.1\r\n\r\n").minor_version, 1);
    }

    #[test]
    fn line_endings_and_leading_empty_lines() {
        let accepted = [
            "GET / HTTP/1.1\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\nHost: a\r\n\n",
            "\r\n\nGET / HTTP/1.1\r\n\r\n",
            "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ];
        for text in accepted {
            assert_eq!(request(text).target, RequestTarget::Origin("/".to_owned()));
        }
        let too_many = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let empty_line = HeadError::Malformed("empty line before the start line");
        assert_eq!(parse_request_head(too_many), Err(empty_line));
        let response = parse_response_head(b"\r\nHTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(response, Err(empty_line));
        // Bytes after the head are not part of it.
        let parsed = parse_request_head(b"GET / HTTP/1.1\n\nbody");
        assert!(matches!(parsed, Ok(Some((_, 16)))));
    }

    #[test]
    fn incomplete_heads_need_more_bytes() {
        let text = b"\r\nGET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n";
        for len in 0..text.len() {
            assert_eq!(parse_request_head(&text[..len]), Ok(None), "prefix {len}");
        }
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        for len in 0..text.len() {
            assert_eq!(parse_response_head(&text[..len]), Ok(None), "prefix {len}");
        }
    }

    #[test]
    fn head_size_limit() {
        let start = "GET / HTTP/1.1\r\nX: ";
        let filler = |len: usize| "a".repeat(len);
        let exactly_max = format!("{start}{}\r\n\r\n", filler(MAX_HEAD - start.len() - 4));
        assert_eq!(exactly_max.len(), MAX_HEAD);
        request(&exactly_max);
        let one_over = format!("{start}{}\r\n\r\n", filler(MAX_HEAD - start.len() - 3));
        assert_eq!(
            parse_request_head(one_over.as_bytes()),
            Err(HeadError::TooLarge)
        );
        let unterminated = format!("{start}{}", filler(MAX_HEAD)).into_bytes();
        assert_eq!(parse_request_head(&unterminated[..MAX_HEAD - 1]), Ok(None));
        assert_eq!(parse_request_head(&unterminated), Err(HeadError::TooLarge));
        assert_eq!(parse_response_head(&unterminated), Err(HeadError::TooLarge));
        // A small head followed by a large body is fine.
        let mut with_body = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        with_body.resize(MAX_HEAD * 2, b'x');
        assert!(matches!(parse_request_head(&with_body), Ok(Some((_, 18)))));
    }

    #[test]
    fn header_count_limit() {
        let with_headers = |count: usize| {
            let fields: String = (0..count).map(|i| format!("X-{i}: v\r\n")).collect();
            format!("GET / HTTP/1.1\r\n{fields}\r\n")
        };
        assert_eq!(request(&with_headers(100)).headers.len(), 100);
        let too_many = Err(HeadError::Malformed("more than 100 header fields"));
        assert_eq!(parse_request_head(with_headers(101).as_bytes()), too_many);
    }

    #[test]
    fn request_framing_rules() {
        use Framing::*;
        #[rustfmt::skip]
        let valid: &[(u8, Headers, Framing)] = &[
            (1, &[], None),
            (1, &[("Content-Length", "0")], Length(0)),
            (0, &[("content-length", "42")], Length(42)),
            (1, &[("Content-Length", "7, 7"), ("Content-Length", "7")], Length(7)),
            (1, &[("Content-Length", "18446744073709551615")], Length(u64::MAX)),
            (1, &[("Transfer-Encoding", "chunked")], Chunked),
            (1, &[("Transfer-Encoding", "CHUNKED")], Chunked),
            (1, &[("Transfer-Encoding", "gzip, chunked")], Chunked),
            (1, &[("Transfer-Encoding", "gzip,"), ("transfer-encoding", " chunked")], Chunked),
            // Connection naming other fields (even the Host fence writes itself) is fine.
            (1, &[("Content-Length", "3"), ("Connection", "keep-alive, Content-Type, Host")], Length(3)),
            (1, &[("Content-Length", "3"), ("Connection", "Content-Length-X")], Length(3)),
        ];
        for (minor_version, headers, expected) in valid {
            let head = request_with(*minor_version, headers);
            assert_eq!(request_framing(&head), Ok(*expected), "{headers:?}");
        }
        let both = "both Transfer-Encoding and Content-Length";
        let not_chunked = "Transfer-Encoding whose final coding is not chunked";
        let bad_length = "invalid or conflicting Content-Length";
        let names_length = "a Connection header names Content-Length";
        let names_te = "a Connection header names Transfer-Encoding";
        #[rustfmt::skip]
        let malformed: &[(u8, Headers, &str)] = &[
            (1, &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")], both),
            (1, &[("Transfer-Encoding", "chunked"), ("Content-Length", "x")], both),
            (0, &[("Transfer-Encoding", "chunked")], "Transfer-Encoding in an HTTP/1.0 request"),
            (1, &[("Transfer-Encoding", "gzip")], not_chunked),
            (1, &[("Transfer-Encoding", "chunked, gzip")], not_chunked),
            (1, &[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], not_chunked),
            (1, &[("Transfer-Encoding", "")], not_chunked),
            (1, &[("Transfer-Encoding", "chunked;x=1")], not_chunked),
            (1, &[("Content-Length", "5"), ("Content-Length", "6")], bad_length),
            (1, &[("Content-Length", "5, 6")], bad_length),
            (1, &[("Content-Length", "5,")], bad_length),
            (1, &[("Content-Length", "")], bad_length),
            (1, &[("Content-Length", "-1")], bad_length),
            (1, &[("Content-Length", "+1")], bad_length),
            (1, &[("Content-Length", "0x10")], bad_length),
            (1, &[("Content-Length", "18446744073709551616")], bad_length),
            (1, &[("Content-Length", "5"), ("Connection", "Content-Length")], names_length),
            (1, &[("Content-Length", "5"), ("Connection", "keep-alive, content-length")], names_length),
            (1, &[("Connection", "close"), ("connection", "CONTENT-LENGTH"), ("Content-Length", "5")], names_length),
            (1, &[("Content-Length", "5"), ("Proxy-Connection", "Content-Length")], names_length),
            (1, &[("Connection", "Content-Length")], names_length),
            (1, &[("Transfer-Encoding", "chunked"), ("Connection", "Transfer-Encoding")], names_te),
            (1, &[("Transfer-Encoding", "chunked"), ("Connection", "keep-alive,Transfer-Encoding ")], names_te),
            (1, &[("Connection", "x"), ("Connection", "transfer-encoding"), ("Transfer-Encoding", "chunked")], names_te),
            (1, &[("Transfer-Encoding", "chunked"), ("proxy-connection", "TRANSFER-ENCODING")], names_te),
            (0, &[("Content-Length", "5"), ("Connection", "keep-alive, Transfer-Encoding")], names_te),
        ];
        for (minor_version, headers, message) in malformed {
            let head = request_with(*minor_version, headers);
            let expected = Err(HeadError::Malformed(message));
            assert_eq!(request_framing(&head), expected, "{headers:?}");
        }
    }

    #[test]
    fn response_heads() {
        #[rustfmt::skip]
        let valid: &[(&str, u8, u16, &str)] = &[
            ("HTTP/1.1 200 OK\r\n\r\n", 1, 200, "OK"),
            ("HTTP/1.0 301 Moved Permanently\r\nLocation: /x\r\n\r\n", 0, 301, "Moved Permanently"),
            ("HTTP/1.1 204\r\n\r\n", 1, 204, ""),
            ("HTTP/1.1 404 \n\n", 1, 404, ""),
            ("HTTP/1.1 599 a\tb \r\n\r\n", 1, 599, "a\tb "),
            ("HTTP/1.1 100 Continue\r\n\r\n", 1, 100, "Continue"),
        ];
        for (text, minor_version, status, reason) in valid {
            let head = response(text);
            let parsed = (head.minor_version, head.status, head.reason.as_str());
            assert_eq!(parsed, (*minor_version, *status, *reason));
        }
        let head = response("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\n\r\n");
        assert_eq!(head.header("a"), Some(&b"1"[..]));
        assert_eq!(head.headers_named("A").count(), 2);
        let status_line = "status line is not `HTTP/1.x NNN reason`";
        #[rustfmt::skip]
        let malformed = [
            ("HTTP/1.1 20 OK\r\n\r\n", status_line),
            ("HTTP/1.1 2000 OK\r\n\r\n", status_line),
            ("HTTP/1.1 200OK\r\n\r\n", status_line),
            ("HTTP/1.1  200 OK\r\n\r\n", status_line),
            ("HTTP/1.1 2x0 OK\r\n\r\n", status_line),
            ("HTTP/1.1\r\n\r\n", status_line),
            ("HTTP/1.1 099 Low\r\n\r\n", "status code below 100"),
            ("HTTP/2 200 OK\r\n\r\n", "unsupported HTTP version"),
            ("http/1.1 200 OK\r\n\r\n", "unsupported HTTP version"),
            ("HTTP/1.1 200 O\x01K\r\n\r\n", "control character in the reason phrase"),
            ("HTTP/1.1 200 OK\r\nA b: c\r\n\r\n", "invalid header field name"),
            ("HTTP/1.1 200 OK\r\n folded\r\n\r\n", "obsolete line folding in a header field"),
        ];
        for (text, message) in malformed {
            let result = parse_response_head(text.as_bytes());
            assert_eq!(result, Err(HeadError::Malformed(message)), "{text:?}");
        }
    }

    #[test]
    fn response_framing_rules() {
        use Framing::*;
        let chunked: Headers = &[("Transfer-Encoding", "chunked")];
        let length: Headers = &[("Content-Length", "10")];
        #[rustfmt::skip]
        let cases: &[(&str, u8, u16, Headers, Framing)] = &[
            ("HEAD", 1, 200, length, None),
            ("HEAD", 1, 200, chunked, None),
            ("GET", 1, 100, &[], None),
            ("GET", 1, 101, &[], None),
            ("GET", 1, 204, length, None),
            ("GET", 1, 304, length, None),
            ("CONNECT", 1, 200, length, UntilClose),
            ("CONNECT", 1, 407, length, Length(10)),
            ("GET", 1, 200, chunked, Chunked),
            ("GET", 1, 200, &[("Transfer-Encoding", "gzip, Chunked")], Chunked),
            ("GET", 1, 200, &[("Transfer-Encoding", "chunked"), ("Content-Length", "10")], Chunked),
            ("GET", 1, 200, &[("Transfer-Encoding", "gzip")], UntilClose),
            ("GET", 1, 200, &[("Transfer-Encoding", "chunked, chunked")], UntilClose),
            ("GET", 0, 200, chunked, UntilClose),
            ("GET", 1, 200, length, Length(10)),
            ("GET", 0, 404, &[("Content-Length", "0")], Length(0)),
            ("GET", 1, 200, &[("Content-Length", "10, 10")], Length(10)),
            ("GET", 1, 200, &[("Content-Length", "10"), ("Content-Length", "11")], UntilClose),
            ("GET", 1, 200, &[("Content-Length", "ten")], UntilClose),
            ("GET", 1, 200, &[], UntilClose),
            ("POST", 0, 500, &[], UntilClose),
        ];
        for (method, minor_version, status, headers, expected) in cases {
            let head = response_with(*minor_version, *status, headers);
            let framing = response_framing(method, &head);
            assert_eq!(framing, *expected, "{method} {status} {headers:?}");
        }
    }

    /// Feeds `data` to a new scanner in pieces cut at `cuts` (ascending), combining the
    /// results into what feeding it whole would return.
    fn feed_split(data: &[u8], cuts: &[usize]) -> Result<Option<usize>, HeadError> {
        let mut scanner = ChunkedScanner::new();
        let mut start = 0;
        for &end in cuts.iter().chain([data.len()].iter()) {
            match scanner.feed(&data[start..end])? {
                Some(n) => return Ok(Some(start + n)),
                None => start = end,
            }
        }
        Ok(None)
    }

    #[test]
    fn chunked_body_end_at_every_split() {
        let bodies: &[&[u8]] = &[
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5;name=value;flag\r\nhello\r\nA ; x=\"q;r\"\r\n0123456789\r\n\
              000\r\nTrailer: t\r\nOther: o\r\n\r\n",
            b"3\nabc\n0\n\n",
            b"1\r\n\n\r\n0\r\nX: 1\n\r\n",
            b"00000000000000000000001\r\nz\r\n0;last\r\n\r\n",
            b"0\r\n\r\n",
        ];
        for body in bodies {
            let mut with_next = body.to_vec();
            with_next.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            let end = Ok(Some(body.len()));
            assert_eq!(feed_split(&with_next, &[]), end, "{body:?}");
            for cut in 0..=body.len() {
                assert_eq!(feed_split(&with_next, &[cut]), end, "{body:?} cut at {cut}");
                let prefix = feed_split(&body[..cut], &[]);
                assert_eq!(prefix, if cut == body.len() { end } else { Ok(None) });
            }
            let every_byte: Vec<usize> = (1..with_next.len()).collect();
            assert_eq!(feed_split(&with_next, &every_byte), end);
        }
        // Once the end was reported, nothing more belongs to the body.
        let mut scanner = ChunkedScanner::new();
        assert_eq!(scanner.feed(b"0\r\n\r\n"), Ok(Some(5)));
        assert_eq!(scanner.feed(b"more"), Ok(Some(0)));
        assert_eq!(scanner.feed(b""), Ok(Some(0)));
        // A large chunk, in pieces cut inside its size line and its data.
        let mut large = b"10000\r\n".to_vec();
        large.resize(large.len() + 0x10000, b'x');
        large.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(feed_split(&large, &[3, 100, 0x8000]), Ok(Some(large.len())));
    }

    #[test]
    fn malformed_chunked_bodies() {
        let extension = |len: usize| format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(len));
        let just_fits = extension(MAX_CHUNK_SIZE_LINE - 2);
        assert_eq!(
            feed_split(just_fits.as_bytes(), &[]),
            Ok(Some(just_fits.len()))
        );
        let too_long = extension(MAX_CHUNK_SIZE_LINE - 1);
        let bare_cr = "CR without LF in a chunked body";
        #[rustfmt::skip]
        let cases: &[(&[u8], &str)] = &[
            (b"x\r\n", "missing chunk size"),
            (b"\r\n", "missing chunk size"),
            (b";ext\r\n", "missing chunk size"),
            (b"-1\r\n", "missing chunk size"),
            (b"5x\r\n", "invalid chunk-size line"),
            (b"5 \r\nhello", "invalid chunk-size line"),
            (b"5 5\r\n", "invalid chunk-size line"),
            (b"10000000000000000\r\n", "chunk size too large"),
            (b"1;a\x01\r\n", "control character in a chunk extension"),
            (too_long.as_bytes(), "chunk-size line longer than 4 KiB"),
            (b"1\r\nab\r\n", "chunk data longer than its size"),
            (b"1\rx", bare_cr),
            (b"1\r\na\rx", bare_cr),
            (b"0\r\nA: b\rc", bare_cr),
            (b"0\r\n\rx", bare_cr),
            (b"0\r\nA: \0\r\n\r\n", "NUL in a trailer field"),
        ];
        for (body, message) in cases {
            let error = Err(HeadError::Malformed(message));
            assert_eq!(feed_split(body, &[]), error, "{body:?}");
            let every_byte: Vec<usize> = (1..body.len()).collect();
            assert_eq!(
                feed_split(body, &every_byte),
                error,
                "{body:?} byte by byte"
            );
        }
        let mut huge_trailers = b"0\r\n".to_vec();
        while huge_trailers.len() <= MAX_HEAD + 10 {
            huge_trailers.extend_from_slice(b"X-Trailer: some value\r\n");
        }
        assert_eq!(feed_split(&huge_trailers, &[]), Err(HeadError::TooLarge));
        // Errors are sticky.
        let mut scanner = ChunkedScanner::new();
        assert!(scanner.feed(b"z").is_err());
        assert!(scanner.feed(b"0\r\n\r\n").is_err());
    }

    #[test]
    fn upstream_request_rewriting() {
        let head = request(
            "GET http://example.com:8080/a?b HTTP/1.0\r\n\
             Host: Example.com:8080\r\n\
             Connection: keep-alive, X-Secret\r\n\
             Proxy-Connection: keep-alive\r\n\
             Keep-Alive: 300\r\n\
             Proxy-Authorization: Basic Zm9v\r\n\
             TE: trailers\r\n\
             Trailer: X\r\n\
             Upgrade: websocket\r\n\
             x-secret: hidden\r\n\
             Accept: */*\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
        );
        let expected = "GET /a?b HTTP/1.1\r\n\
                        Host: Example.com:8080\r\n\
                        Accept: */*\r\n\
                        Transfer-Encoding: chunked\r\n\
                        Connection: close\r\n\r\n";
        let host = name("example.com");
        let upstream = upstream_request_head(&head, &host, 8080, "/a?b");
        assert_eq!(String::from_utf8_lossy(&upstream), expected);
        let via_proxy = absolute_request_head(&head, &host, 8080, "/a?b");
        let expected_absolute = expected.replacen("/a?b", "http://example.com:8080/a?b", 1);
        assert_eq!(String::from_utf8_lossy(&via_proxy), expected_absolute);

        #[rustfmt::skip]
        let host_cases = [
            // No Host: one is built, :80 omitted.
            ("GET http://example.com/ HTTP/1.1\r\nA: 1\r\n\r\n", name("example.com"), 80, "Host: example.com\r\nA: 1\r\n"),
            ("GET http://[::1]:81/ HTTP/1.1\r\n\r\n", v6_loopback(), 81, "Host: [::1]:81\r\n"),
            // Host naming the destination (default port spelled out): kept as sent.
            ("GET http://example.com/ HTTP/1.1\r\nA: 1\r\nHOST: example.com:80\r\n\r\n", name("example.com"), 80, "Host: example.com:80\r\nA: 1\r\n"),
            ("GET http://1.2.3.4/ HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n", v4(1, 2, 3, 4), 80, "Host: 1.2.3.4\r\n"),
            // Host naming another server or port: replaced.
            ("GET http://example.com/ HTTP/1.1\r\nHost: evil.com\r\n\r\n", name("example.com"), 80, "Host: example.com\r\n"),
            ("GET http://example.com:81/ HTTP/1.1\r\nHost: example.com\r\n\r\n", name("example.com"), 81, "Host: example.com:81\r\n"),
        ];
        for (text, host, port, fields) in host_cases {
            let upstream = upstream_request_head(&request(text), &host, port, "/");
            let expected = format!("GET / HTTP/1.1\r\n{fields}Connection: close\r\n\r\n");
            assert_eq!(String::from_utf8_lossy(&upstream), expected, "{text:?}");
        }
    }

    #[test]
    fn client_response_rewriting() {
        let head = response(
            "HTTP/1.0 200 Fine\r\n\
             Content-Length: 3\r\n\
             Connection: keep-alive, X-Hop\r\n\
             Keep-Alive: timeout=5\r\n\
             Proxy-Authenticate: Basic\r\n\
             X-Hop: 1\r\n\
             Set-Cookie: a=b\r\n\r\n",
        );
        let kept = "HTTP/1.1 200 Fine\r\nContent-Length: 3\r\nSet-Cookie: a=b\r\n";
        let keep_alive = client_response_head(&head, true);
        assert_eq!(String::from_utf8_lossy(&keep_alive), format!("{kept}\r\n"));
        let close = client_response_head(&head, false);
        let expected = format!("{kept}Connection: close\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&close), expected);
        // A response whose Connection names its framing keeps the framing fence used.
        let named =
            response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: Content-Length\r\n\r\n");
        assert_eq!(
            String::from_utf8_lossy(&client_response_head(&named, true)),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
        );
        let named = response(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&client_response_head(&named, false)),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        // Transfer-Encoding frames the body: a Content-Length beside it is not passed on.
        let both =
            response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(response_framing("GET", &both), Framing::Chunked);
        assert_eq!(
            String::from_utf8_lossy(&client_response_head(&both, true)),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let no_reason = response("HTTP/1.1 204\r\n\r\n");
        assert_eq!(
            client_response_head(&no_reason, true),
            b"HTTP/1.1 204 \r\n\r\n"
        );
    }

    #[test]
    fn keep_alive_rules() {
        #[rustfmt::skip]
        let cases: &[(u8, Headers, bool)] = &[
            (1, &[], true),
            (1, &[("Connection", "close")], false),
            (1, &[("Connection", "Keep-Alive, CLOSE")], false),
            (1, &[("Proxy-Connection", "close")], false),
            (1, &[("Connection", "upgrade"), ("connection", " close ")], false),
            (1, &[("Connection", "closed")], true),
            (0, &[], false),
            (0, &[("Connection", "Keep-Alive")], true),
            (0, &[("Proxy-Connection", "keep-alive")], true),
            (0, &[("Connection", "keep-alive, close")], false),
            (0, &[("Connection", "keep-alive-ish")], false),
        ];
        for (minor_version, headers, expected) in cases {
            let head = request_with(*minor_version, headers);
            let keep_alive = client_wants_keep_alive(&head);
            assert_eq!(keep_alive, *expected, "1.{minor_version} {headers:?}");
        }
    }

    #[test]
    fn generated_messages() {
        let denied = error_response(403, "Forbidden", "fence: example.com is not allowed");
        let expected = "HTTP/1.1 403 Forbidden\r\n\
                        Content-Type: text/plain; charset=utf-8\r\n\
                        Content-Length: 34\r\n\
                        Connection: close\r\n\
                        Proxy-Agent: fence\r\n\
                        \r\n\
                        fence: example.com is not allowed\n";
        assert_eq!(String::from_utf8_lossy(&denied), expected);
        let (head, len) = parse_response_head(&denied).unwrap().unwrap();
        let body_len = (denied.len() - len) as u64;
        assert_eq!(response_framing("GET", &head), Framing::Length(body_len));
        let injected = error_response(502, "Bad\r\nX: y", "");
        assert!(injected.starts_with(b"HTTP/1.1 502 Bad  X: y\r\n"));
        let escaped = error_response(403, "Forbidden", "fence: x\n\u{1b}]0;T\u{7}");
        assert!(escaped.ends_with(b"\r\n\r\nfence: x\\n\\e]0;T\\x07\n"));

        let established = response(std::str::from_utf8(CONNECT_ESTABLISHED).unwrap());
        assert_eq!(established.status, 200);
        assert_eq!(
            response_framing("CONNECT", &established),
            Framing::UntilClose
        );

        let to_name = connect_request(&name("example.com"), 443);
        let expected = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
        assert_eq!(to_name, expected);
        let to_v6 = connect_request(&v6_loopback(), 8443);
        assert_eq!(
            to_v6,
            b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"
        );
        let parsed = request(std::str::from_utf8(&to_v6).unwrap());
        assert_eq!(parsed.target, authority(v6_loopback(), 8443));
        assert_eq!(HeadError::Malformed("x").to_string(), "x");
    }

    use crate::proxy::fuzz_rng::XorShift;

    const FUZZ_SEEDS: &[&[u8]] = &[
        b"GET http://example.com:8080/a?b#c HTTP/1.1\r\nHost: example.com:8080\r\n\
          Connection: x, close\r\nX: 1\r\n\r\n",
        b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: b\r\n\r\n",
        b"POST http://1.2.3.4/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
          5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        b"PUT /x HTTP/1.0\nContent-Length: 5, 5\nConnection: keep-alive\n\nhello",
        b"\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: X-A\r\nX-A: 1\r\n\r\nhello world\n",
        b"HTTP/1.0 404 \nTransfer-Encoding: chunked\n\n",
        b"HTTP/1.1 204\r\n\r\n",
        b"a;ext=\"v\"\r\n0123456789\r\n1\nx\n0\r\nTrailer: 1\r\n\r\n",
        b"0\r\n\r\n",
    ];

    /// Applies a few random byte flips, truncations, deletions, duplications and
    /// insertions of bytes that matter to HTTP syntax.
    fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
        const INSERTS: &[u8] = b"\r\n: 0123456789abcdefABCDEF;,\t/[]@?#*\x00\x7f\xff";
        for _ in 0..=rng.below(6) {
            let at = rng.below(input.len() + 1);
            match rng.below(6) {
                0 if at < input.len() => input[at] ^= 1 << rng.below(8),
                1 => input.truncate(at),
                2 if at < input.len() => {
                    input.remove(at);
                }
                3 => {
                    let end = (at + rng.below(16)).min(input.len());
                    let copy = input[at..end].to_vec();
                    input.splice(at..at, copy);
                }
                _ => input.insert(at, INSERTS[rng.below(INSERTS.len())]),
            }
        }
    }

    /// Parses `input` as a request (true if accepted); what is accepted must serialize into heads that
    /// parse back to the same target.
    fn check_request(input: &[u8]) -> bool {
        let Ok(Some((head, len))) = parse_request_head(input) else {
            return false;
        };
        assert!(len <= input.len() && len <= MAX_HEAD);
        let _ = request_framing(&head);
        let _ = client_wants_keep_alive(&head);
        let (host, port, path) = match &head.target {
            RequestTarget::Authority { host, port } => {
                let _ = connect_request(host, *port);
                return true;
            }
            RequestTarget::Absolute { host, port, path } => (host.clone(), *port, path.clone()),
            RequestTarget::Origin(path) => (name("example.com"), 80, path.clone()),
        };
        let upstream = upstream_request_head(&head, &host, port, &path);
        let via_proxy = absolute_request_head(&head, &host, port, &path);
        if head.headers.len() > MAX_HEADERS - 2 {
            return true; // Host and Connection added may exceed the limit.
        }
        let reparsed = parse_request_head(&upstream);
        let origin = RequestTarget::Origin(path.clone());
        assert!(
            matches!(&reparsed, Ok(Some((h, n))) if *n == upstream.len() && h.target == origin),
            "{:?} → {reparsed:?}",
            String::from_utf8_lossy(input),
        );
        if path.starts_with('/') && !path.contains('#') {
            // A name that looks like an IP (`1.2.3.4.`) prints as one.
            let host = Host::parse(&host.to_string()).unwrap();
            let expected = RequestTarget::Absolute { host, port, path };
            let reparsed = parse_request_head(&via_proxy);
            assert!(
                matches!(&reparsed, Ok(Some((h, _))) if h.target == expected),
                "{reparsed:?}"
            );
        }
        true
    }

    /// Parses `input` as a response (true if accepted); what is accepted must serialize into a head that
    /// parses back with the same status line.
    fn check_response(input: &[u8]) -> bool {
        let Ok(Some((head, len))) = parse_response_head(input) else {
            return false;
        };
        assert!(len <= input.len() && len <= MAX_HEAD);
        for method in ["GET", "HEAD", "CONNECT"] {
            let _ = response_framing(method, &head);
        }
        for keep_alive in [true, false] {
            let rewritten = client_response_head(&head, keep_alive);
            if head.headers.len() < MAX_HEADERS {
                let reparsed = parse_response_head(&rewritten);
                assert!(
                    matches!(&reparsed, Ok(Some((h, n))) if *n == rewritten.len()
                        && h.status == head.status && h.reason == head.reason),
                    "{reparsed:?}"
                );
            }
        }
        true
    }

    /// Scans `input` as a chunked body whole and in random pieces: same result (true if
    /// the body ends within `input`).
    fn check_chunked(rng: &mut XorShift, input: &[u8]) -> bool {
        let whole = ChunkedScanner::new().feed(input);
        if let Ok(Some(n)) = whole {
            assert!(n <= input.len());
        }
        let mut cuts: Vec<usize> = (0..rng.below(5))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        cuts.sort_unstable();
        let split = feed_split(input, &cuts);
        assert_eq!(
            split,
            whole,
            "{:?} cut at {cuts:?}",
            String::from_utf8_lossy(input)
        );
        matches!(whole, Ok(Some(_)))
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut input = Vec::new();
        let (mut requests, mut responses, mut chunked) = (0, 0, 0);
        for _ in 0..200_000 {
            input.clear();
            if rng.below(16) == 0 {
                let len = rng.below(200);
                input.extend((0..len).map(|_| rng.next() as u8));
            } else {
                input.extend_from_slice(FUZZ_SEEDS[rng.below(FUZZ_SEEDS.len())]);
                mutate(&mut rng, &mut input);
            }
            requests += usize::from(check_request(&input));
            responses += usize::from(check_response(&input));
            chunked += usize::from(check_chunked(&mut rng, &input));
        }
        // The mutations leave enough inputs valid to exercise the success paths.
        assert!(requests > 10_000 && responses > 5_000 && chunked > 2_000);
    }
}
