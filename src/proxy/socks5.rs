//! The SOCKS5 wire format (RFC 1928), without I/O: the server side's parsers for a client's
//! greeting and request and its encoders for the method choice and the reply, plus the
//! client side's encoders and reply parser (used by `fence --proxy-connect`).
//!
//! Only the "no authentication required" method is supported. Every parser takes the bytes
//! received so far and returns `Ok(None)` while the message is incomplete, or the parsed
//! message with the number of bytes it took (anything after it belongs to the next message
//! or to the relayed stream). Fixed header bytes (version, command, reserved byte, address
//! type) are checked as soon as they arrive, so a prefix holding a bad header byte is an
//! error rather than "incomplete"; the address and port are checked once the whole message
//! is in. No parser panics, whatever the input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::policy::domains::Host;

/// The protocol version byte, first in every SOCKS5 message.
pub const VERSION: u8 = 5;
/// The authentication method "no authentication required".
pub const NO_AUTH: u8 = 0x00;
/// The method choice meaning "none of the offered methods is acceptable".
pub const NO_ACCEPTABLE_METHODS: u8 = 0xFF;

/// The CONNECT command code.
const CMD_CONNECT: u8 = 1;
/// The BIND command code.
const CMD_BIND: u8 = 2;
/// The UDP ASSOCIATE command code.
const CMD_UDP_ASSOCIATE: u8 = 3;

/// Address type: an IPv4 address (4 bytes).
const ATYP_IPV4: u8 = 1;
/// Address type: a domain name (a length byte, then that many bytes).
const ATYP_DOMAIN: u8 = 3;
/// Address type: an IPv6 address (16 bytes).
const ATYP_IPV6: u8 = 4;

/// Reply codes (RFC 1928 §6), the `REP` field of a reply.
pub mod reply {
    /// The request succeeded.
    pub const SUCCEEDED: u8 = 0;
    /// General SOCKS server failure.
    pub const GENERAL_FAILURE: u8 = 1;
    /// Connection not allowed by ruleset.
    pub const NOT_ALLOWED: u8 = 2;
    /// Network unreachable.
    pub const NETWORK_UNREACHABLE: u8 = 3;
    /// Host unreachable.
    pub const HOST_UNREACHABLE: u8 = 4;
    /// Connection refused.
    pub const CONNECTION_REFUSED: u8 = 5;
    /// TTL expired.
    pub const TTL_EXPIRED: u8 = 6;
    /// Command not supported.
    pub const COMMAND_NOT_SUPPORTED: u8 = 7;
    /// Address type not supported.
    pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 8;
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes are not a valid message (wrong version, non-zero reserved byte, …); the
    /// connection should be closed without a reply.
    Malformed(&'static str),
    /// The request is well-formed but cannot be served: send [`reply()`] with this code,
    /// then close the connection (RFC 1928 §6).
    Reply(u8),
}

impl fmt::Display for ParseError {
    /// The malformation's description, or the reply code's [`reply_message`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(what) => f.write_str(what),
            ParseError::Reply(code) => f.write_str(reply_message(*code)),
        }
    }
}

impl std::error::Error for ParseError {}

/// A request's command (`CMD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// CONNECT: open a TCP connection to the destination.
    Connect,
    /// BIND: accept one inbound TCP connection.
    Bind,
    /// UDP ASSOCIATE: relay UDP datagrams.
    UdpAssociate,
}

/// A client's request: the command and its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What the client asks for.
    pub command: Command,
    /// The destination host. A domain name that is the text of an IP literal is parsed
    /// into [`Host::Ip`].
    pub host: Host,
    /// The destination port; never 0 for [`Command::Connect`].
    pub port: u16,
    /// Whether the client sent the destination as a domain name (ATYP 3, as `socks5h://`
    /// clients do) rather than as an IP address — true even when the name was an IP literal.
    pub by_name: bool,
}

/// A destination address as it appears on the wire, before validation.
enum Addr<'a> {
    /// ATYP 1 or 4.
    Ip(IpAddr),
    /// ATYP 3: the raw name bytes (possibly empty, possibly not UTF-8).
    Name(&'a [u8]),
}

/// The address type byte is none of 1, 3, 4.
struct UnknownAddressType;

/// `len` bytes of `buf` from `at`, or None if they are not all there yet.
fn take(buf: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    buf.get(at..at.checked_add(len)?)
}

/// `N` bytes of `buf` from `at` as an array, or None if they are not all there yet.
fn take_array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    take(buf, at, N)?.try_into().ok()
}

/// Parses `ATYP ADDR PORT` starting at `at`: the address, the port and the offset just past
/// the port; `Ok(None)` while incomplete.
fn parse_address(
    buf: &[u8],
    at: usize,
) -> Result<Option<(Addr<'_>, u16, usize)>, UnknownAddressType> {
    let Some(&atyp) = buf.get(at) else {
        return Ok(None);
    };
    let Some(start) = at.checked_add(1) else {
        return Ok(None);
    };
    let parsed = match atyp {
        ATYP_IPV4 => take_array::<4>(buf, start)
            .and_then(|octets| Some((Addr::Ip(IpAddr::from(octets)), start.checked_add(4)?))),
        ATYP_IPV6 => take_array::<16>(buf, start)
            .and_then(|octets| Some((Addr::Ip(IpAddr::from(octets)), start.checked_add(16)?))),
        ATYP_DOMAIN => buf.get(start).and_then(|&len| {
            let name_at = start.checked_add(1)?;
            let name = take(buf, name_at, usize::from(len))?;
            Some((Addr::Name(name), name_at.checked_add(name.len())?))
        }),
        _ => return Err(UnknownAddressType),
    };
    let Some((addr, port_at)) = parsed else {
        return Ok(None);
    };
    let Some(port) = take_array::<2>(buf, port_at) else {
        return Ok(None);
    };
    let Some(end) = port_at.checked_add(2) else {
        return Ok(None);
    };
    Ok(Some((addr, u16::from_be_bytes(port), end)))
}

/// Closes two gaps between [`Host::parse`] and a resolver for a host sent as a name: an IP
/// literal with a trailing dot (`"10.0.0.1."`, which `Host::parse` keeps as a name) becomes
/// [`Host::Ip`], and a name whose last label is numeric (`"127.1"`, `"0x7f000001"`,
/// `"10.0.0.0377"` — forms `inet_aton`, and so `getaddrinfo`, reads as IPv4 addresses, and
/// that no real top-level domain has) is refused with None, so such a destination cannot
/// pass the domain policy as a name and then reach an address.
fn canonical_name_host(host: Host) -> Option<Host> {
    let Host::Name(name) = &host else {
        return Some(host);
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    let numeric = hex || last.bytes().all(|b| b.is_ascii_digit());
    (!numeric).then_some(host)
}

/// Parses a client's greeting, `VER NMETHODS METHODS…`: `Ok(None)` while incomplete, else
/// whether the client offers "no authentication" and the bytes consumed. A version other
/// than 5 is [`ParseError::Malformed`]. `NMETHODS = 0` (which RFC 1928 does not allow) is
/// accepted as offering nothing, so the server answers [`NO_ACCEPTABLE_METHODS`].
pub fn parse_greeting(buf: &[u8]) -> Result<Option<(bool, usize)>, ParseError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(ParseError::Malformed("not a SOCKS5 greeting"));
    }
    let Some(&count) = buf.get(1) else {
        return Ok(None);
    };
    let Some(methods) = take(buf, 2, usize::from(count)) else {
        return Ok(None);
    };
    let Some(used) = methods.len().checked_add(2) else {
        return Ok(None);
    };
    Ok(Some((methods.contains(&NO_AUTH), used)))
}

/// The server's method choice message, `VER METHOD`: [`NO_AUTH`] if the client offered
/// it, else [`NO_ACCEPTABLE_METHODS`] (after which the server closes the connection).
pub const fn method_choice(no_auth_offered: bool) -> [u8; 2] {
    let method = if no_auth_offered {
        NO_AUTH
    } else {
        NO_ACCEPTABLE_METHODS
    };
    [VERSION, method]
}

/// Parses a client's request, `VER CMD RSV ATYP DST.ADDR DST.PORT`: `Ok(None)` while
/// incomplete, else the request and the bytes consumed.
///
/// Errors: a version other than 5 or a non-zero reserved byte is
/// [`ParseError::Malformed`]; an unknown command is `Reply(COMMAND_NOT_SUPPORTED)`; an
/// unknown address type is `Reply(ADDRESS_TYPE_NOT_SUPPORTED)`; an empty domain name, one
/// that is not UTF-8, one [`Host::parse`] rejects or one whose last label is numeric (which
/// resolvers read as an IPv4 address: `"127.1"`, `"0x7f000001"`) is `Reply(GENERAL_FAILURE)`,
/// as is port
/// 0 in a CONNECT request (BIND and UDP ASSOCIATE requests may legitimately carry port 0,
/// meaning "not known yet").
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(ParseError::Malformed("not a SOCKS5 request"));
    }
    let Some(&cmd) = buf.get(1) else {
        return Ok(None);
    };
    let command = match cmd {
        CMD_CONNECT => Command::Connect,
        CMD_BIND => Command::Bind,
        CMD_UDP_ASSOCIATE => Command::UdpAssociate,
        _ => return Err(ParseError::Reply(reply::COMMAND_NOT_SUPPORTED)),
    };
    let Some(&reserved) = buf.get(2) else {
        return Ok(None);
    };
    if reserved != 0 {
        return Err(ParseError::Malformed(
            "non-zero reserved byte in SOCKS5 request",
        ));
    }
    let Some((addr, port, end)) = parse_address(buf, 3)
        .map_err(|UnknownAddressType| ParseError::Reply(reply::ADDRESS_TYPE_NOT_SUPPORTED))?
    else {
        return Ok(None);
    };
    let (host, by_name) = match addr {
        Addr::Ip(ip) => (Host::Ip(ip), false),
        Addr::Name(bytes) => {
            let host = std::str::from_utf8(bytes)
                .ok()
                .filter(|name| !name.is_empty())
                .and_then(Host::parse)
                .and_then(canonical_name_host)
                .ok_or(ParseError::Reply(reply::GENERAL_FAILURE))?;
            (host, true)
        }
    };
    if port == 0 && command == Command::Connect {
        return Err(ParseError::Reply(reply::GENERAL_FAILURE));
    }
    let request = Request {
        command,
        host,
        port,
        by_name,
    };
    Ok(Some((request, end)))
}

/// Encodes a server reply, `VER REP RSV ATYP BND.ADDR BND.PORT`, with reply code `code`
/// (see [`reply`](mod@reply)) and the bound address (`None` → `0.0.0.0:0`).
pub fn reply(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    let mut out = Vec::with_capacity(22);
    out.extend_from_slice(&[VERSION, code, 0]);
    match bound.ip() {
        IpAddr::V4(ip) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    out
}

/// The client's greeting offering only "no authentication": `05 01 00`.
pub const fn client_greeting() -> [u8; 3] {
    [VERSION, 1, NO_AUTH]
}

/// Encodes a client's CONNECT request for `host:port`: names as ATYP 3, IPv4 as ATYP 1,
/// IPv6 as ATYP 4. Errors for an empty name, a name longer than 255 bytes, or port 0.
pub fn client_connect_request(host: &Host, port: u16) -> Result<Vec<u8>, &'static str> {
    if port == 0 {
        return Err("port 0 is not a valid destination");
    }
    let mut out = Vec::with_capacity(262);
    out.extend_from_slice(&[VERSION, CMD_CONNECT, 0]);
    match host {
        Host::Ip(IpAddr::V4(ip)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        Host::Ip(IpAddr::V6(ip)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
        Host::Name(name) => {
            let len = u8::try_from(name.len()).map_err(|_| "host name longer than 255 bytes")?;
            if len == 0 {
                return Err("empty host name");
            }
            out.extend_from_slice(&[ATYP_DOMAIN, len]);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// Parses a server's reply, `VER REP RSV ATYP BND.ADDR BND.PORT`: `Ok(None)` while
/// incomplete, else the reply code and the bytes consumed. A version other than 5 or an
/// unknown address type is [`ParseError::Malformed`]; the reserved byte is ignored and
/// the bound address (any type, an empty name included) is skipped.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(u8, usize)>, ParseError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(ParseError::Malformed("not a SOCKS5 reply"));
    }
    let Some(&code) = buf.get(1) else {
        return Ok(None);
    };
    match parse_address(buf, 3) {
        Ok(Some((_, _, end))) => Ok(Some((code, end))),
        Ok(None) => Ok(None),
        Err(UnknownAddressType) => Err(ParseError::Malformed(
            "unknown address type in SOCKS5 reply",
        )),
    }
}

/// The RFC 1928 description of a reply code, for error messages.
pub const fn reply_message(code: u8) -> &'static str {
    match code {
        reply::SUCCEEDED => "succeeded",
        reply::GENERAL_FAILURE => "general SOCKS server failure",
        reply::NOT_ALLOWED => "connection not allowed by ruleset",
        reply::NETWORK_UNREACHABLE => "network unreachable",
        reply::HOST_UNREACHABLE => "host unreachable",
        reply::CONNECTION_REFUSED => "connection refused",
        reply::TTL_EXPIRED => "TTL expired",
        reply::COMMAND_NOT_SUPPORTED => "command not supported",
        reply::ADDRESS_TYPE_NOT_SUPPORTED => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};

    /// What a parser returns.
    type Parsed<T> = Result<Option<(T, usize)>, ParseError>;

    fn name(n: &str) -> Host {
        Host::Name(n.to_owned())
    }

    fn ip(text: &str) -> Host {
        Host::Ip(text.parse().unwrap())
    }

    /// Every strict prefix of a complete message is incomplete.
    fn assert_prefixes_incomplete<T: fmt::Debug>(
        msg: &[u8],
        parse: fn(&[u8]) -> Result<Option<T>, ParseError>,
    ) {
        for split in 0..msg.len() {
            let got = parse(&msg[..split]);
            assert!(
                matches!(got, Ok(None)),
                "prefix {split} of {msg:?}: {got:?}"
            );
        }
    }

    #[test]
    fn greetings() {
        let cases: &[(&[u8], Parsed<bool>)] = &[
            (&[5, 1, 0], Ok(Some((true, 3)))),
            (&[5, 2, 2, 0], Ok(Some((true, 4)))),
            (&[5, 3, 1, 2, 0x80], Ok(Some((false, 5)))),
            (&[5, 1, 2], Ok(Some((false, 3)))),
            (&[5, 0], Ok(Some((false, 2)))),
            (&[5, 1, 0, 5, 1, 0, 1], Ok(Some((true, 3)))), // request pipelined after it
            (&[], Ok(None)),
            (&[5], Ok(None)),
            (&[5, 2, 0], Ok(None)),
            (
                &[4, 1, 0],
                Err(ParseError::Malformed("not a SOCKS5 greeting")),
            ),
            (
                &[0x47, 0x45, 0x54],
                Err(ParseError::Malformed("not a SOCKS5 greeting")),
            ),
            (&[4], Err(ParseError::Malformed("not a SOCKS5 greeting"))),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_greeting(input), want, "{input:?}");
        }
    }

    #[test]
    fn greeting_incomplete_at_every_split() {
        let mut all: Vec<u8> = vec![5, 255];
        all.extend(0..=254u8);
        for msg in [&[5u8, 1, 0][..], &[5, 3, 1, 2, 0], &[5, 0], &all] {
            assert_prefixes_incomplete(msg, parse_greeting);
            assert_eq!(parse_greeting(msg).unwrap().unwrap().1, msg.len());
        }
    }

    #[test]
    fn method_choices() {
        assert_eq!(method_choice(true), [5, 0x00]);
        assert_eq!(method_choice(false), [5, 0xFF]);
    }

    fn request(command: Command, host: Host, port: u16, by_name: bool) -> Request {
        Request {
            command,
            host,
            port,
            by_name,
        }
    }

    #[test]
    fn requests() {
        use Command::*;
        let ok = |cmd, host, port, by_name, len| Ok(Some((request(cmd, host, port, by_name), len)));
        let domain = |cmd: u8, text: &[u8], port: u16| {
            let mut v = vec![5, cmd, 0, 3, text.len() as u8];
            v.extend_from_slice(text);
            v.extend_from_slice(&port.to_be_bytes());
            v
        };
        let v6 = {
            let mut v = vec![5, 1, 0, 4];
            v.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
            v.extend_from_slice(&[0x01, 0xBB]);
            v
        };
        let general = || Err(ParseError::Reply(reply::GENERAL_FAILURE));
        let cases: Vec<(Vec<u8>, Parsed<Request>)> = vec![
            // IPv4
            (
                vec![5, 1, 0, 1, 10, 0, 0, 1, 0, 80],
                ok(Connect, ip("10.0.0.1"), 80, false, 10),
            ),
            (
                vec![5, 2, 0, 1, 0, 0, 0, 0, 0, 0],
                ok(Bind, ip("0.0.0.0"), 0, false, 10),
            ),
            (
                vec![5, 3, 0, 1, 0, 0, 0, 0, 0, 0],
                ok(UdpAssociate, ip("0.0.0.0"), 0, false, 10),
            ),
            // IPv6
            (v6.clone(), ok(Connect, ip("2001:db8::1"), 443, false, 22)),
            // domains
            (
                domain(1, b"10.1.2.3.", 80),
                ok(Connect, ip("10.1.2.3"), 80, true, 16),
            ),
            (
                domain(1, b"1.2.3.x", 80),
                ok(Connect, name("1.2.3.x"), 80, true, 14),
            ),
            (
                domain(1, b"a.0xg", 80),
                ok(Connect, name("a.0xg"), 80, true, 12),
            ),
            (
                domain(1, b"Example.COM", 443),
                ok(Connect, name("example.com"), 443, true, 18),
            ),
            (
                domain(1, b"example.com.", 22),
                ok(Connect, name("example.com"), 22, true, 19),
            ),
            (
                domain(1, b"10.1.2.3", 8080),
                ok(Connect, ip("10.1.2.3"), 8080, true, 15),
            ),
            (domain(1, b"::1", 22), ok(Connect, ip("::1"), 22, true, 10)),
            (
                domain(1, b"[::1]", 22),
                ok(Connect, ip("::1"), 22, true, 12),
            ),
            (
                domain(1, &[b'a'; 253], 1),
                ok(Connect, name(&"a".repeat(253)), 1, true, 260),
            ),
            (domain(1, &[b'a'; 255], 1), general()), // longer than a DNS name
            // trailing bytes (pipelined data) are not consumed
            (
                vec![5, 1, 0, 1, 127, 0, 0, 1, 0, 22, b'S', b'S', b'H'],
                ok(Connect, ip("127.0.0.1"), 22, false, 10),
            ),
            // bad names
            (domain(1, b"", 80), general()),
            (domain(1, b"exa mple.com", 80), general()),
            (domain(1, b"a..b", 80), general()),
            (domain(1, b"user@host", 80), general()),
            (domain(1, &[0xC3, 0x28], 80), general()),
            // names a resolver would read as IPv4 addresses
            (domain(1, b"127.1", 80), general()),
            (domain(1, b"2130706433", 80), general()),
            (domain(1, b"0x7F000001", 80), general()),
            (domain(1, b"0177.0.0.1", 80), general()),
            (domain(1, b"10.0.0.0377.", 80), general()),
            (domain(1, b"example.123", 80), general()),
            (domain(1, b"0x", 80), general()), // inet_aton reads it as 0
            // port 0 for CONNECT
            (vec![5, 1, 0, 1, 10, 0, 0, 1, 0, 0], general()),
            (domain(1, b"example.com", 0), general()),
            // header errors
            (
                vec![4, 1, 0, 1, 10, 0, 0, 1, 0, 80],
                Err(ParseError::Malformed("not a SOCKS5 request")),
            ),
            (vec![4], Err(ParseError::Malformed("not a SOCKS5 request"))),
            (
                vec![5, 1, 1, 1, 10, 0, 0, 1, 0, 80],
                Err(ParseError::Malformed(
                    "non-zero reserved byte in SOCKS5 request",
                )),
            ),
            (
                vec![5, 1, 7],
                Err(ParseError::Malformed(
                    "non-zero reserved byte in SOCKS5 request",
                )),
            ),
            (
                vec![5, 0, 0, 1, 10, 0, 0, 1, 0, 80],
                Err(ParseError::Reply(reply::COMMAND_NOT_SUPPORTED)),
            ),
            (
                vec![5, 4],
                Err(ParseError::Reply(reply::COMMAND_NOT_SUPPORTED)),
            ),
            (
                vec![5, 0xFF, 0, 1],
                Err(ParseError::Reply(reply::COMMAND_NOT_SUPPORTED)),
            ),
            (
                vec![5, 1, 0, 2, 1, 2, 3, 4, 0, 80],
                Err(ParseError::Reply(reply::ADDRESS_TYPE_NOT_SUPPORTED)),
            ),
            (
                vec![5, 1, 0, 0],
                Err(ParseError::Reply(reply::ADDRESS_TYPE_NOT_SUPPORTED)),
            ),
            (
                vec![5, 1, 0, 5],
                Err(ParseError::Reply(reply::ADDRESS_TYPE_NOT_SUPPORTED)),
            ),
            // incomplete
            (vec![], Ok(None)),
            (vec![5, 1, 0, 3, 5, b'a'], Ok(None)),
            (domain(1, b"example.com", 80)[..17].to_vec(), Ok(None)),
            (v6[..21].to_vec(), Ok(None)),
        ];
        for (input, want) in &cases {
            assert_eq!(&parse_request(input), want, "{input:?}");
        }
    }

    #[test]
    fn request_incomplete_at_every_split() {
        let msgs: Vec<Vec<u8>> = vec![
            vec![5, 1, 0, 1, 10, 0, 0, 1, 0, 80],
            client_connect_request(&ip("2001:db8::2"), 443).unwrap(),
            client_connect_request(&name("example.com"), 443).unwrap(),
            client_connect_request(&name(&"x".repeat(255)), 65535).unwrap(),
            // A bad name and port 0 are only judged once the whole request is in.
            vec![5, 1, 0, 3, 0, 0, 80],
            vec![5, 1, 0, 3, 3, b'a', b' ', b'b', 0, 80],
            vec![5, 1, 0, 1, 10, 0, 0, 1, 0, 0],
        ];
        for msg in &msgs {
            assert_prefixes_incomplete(msg, parse_request);
            assert!(!matches!(parse_request(msg), Ok(None)), "{msg:?}");
        }
    }

    #[test]
    fn client_request_round_trips() {
        let cases = [
            (name("example.com"), 443),
            (name("a"), 1),
            (name(&"b".repeat(253)), 65535),
            (name("under_score-host.example"), 22),
            (ip("192.0.2.7"), 8080),
            (ip("::"), 80),
            (ip("2001:db8::dead:beef"), 9418),
            (ip("::ffff:10.0.0.1"), 22),
        ];
        for (host, port) in cases {
            let bytes = client_connect_request(&host, port).unwrap();
            let (req, used) = parse_request(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            let by_name = matches!(host, Host::Name(_));
            assert_eq!(req, request(Command::Connect, host, port, by_name));
        }
    }

    #[test]
    fn client_request_encoding() {
        type Encoded = Result<Vec<u8>, &'static str>;
        let cases: &[(Host, u16, Encoded)] = &[
            (
                ip("1.2.3.4"),
                0x1234,
                Ok(vec![5, 1, 0, 1, 1, 2, 3, 4, 0x12, 0x34]),
            ),
            (name("ab"), 22, Ok(vec![5, 1, 0, 3, 2, b'a', b'b', 0, 22])),
            (
                ip("::1"),
                22,
                Ok([&[5, 1, 0, 4][..], &[0; 15], &[1, 0, 22]].concat()),
            ),
            (
                name(&"c".repeat(256)),
                22,
                Err("host name longer than 255 bytes"),
            ),
            (name(""), 22, Err("empty host name")),
            (
                name("example.com"),
                0,
                Err("port 0 is not a valid destination"),
            ),
        ];
        for (host, port, want) in cases {
            assert_eq!(&client_connect_request(host, *port), want, "{host} {port}");
        }
        assert_eq!(client_greeting(), [5, 1, 0]);
        assert_eq!(parse_greeting(&client_greeting()), Ok(Some((true, 3))));
    }

    #[test]
    fn reply_encoding() {
        let v4 = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 0x1F90));
        let v6 = SocketAddr::V6(SocketAddrV6::new("2001:db8::5".parse().unwrap(), 443, 0, 0));
        let mut v6_bytes = vec![5, 4, 0, 4];
        v6_bytes.extend_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        v6_bytes.extend_from_slice(&[0x01, 0xBB]);
        let cases: &[(u8, Option<SocketAddr>, Vec<u8>)] = &[
            (
                reply::SUCCEEDED,
                Some(v4),
                vec![5, 0, 0, 1, 10, 0, 0, 2, 0x1F, 0x90],
            ),
            (reply::HOST_UNREACHABLE, Some(v6), v6_bytes),
            (reply::NOT_ALLOWED, None, vec![5, 2, 0, 1, 0, 0, 0, 0, 0, 0]),
            (
                reply::COMMAND_NOT_SUPPORTED,
                None,
                vec![5, 7, 0, 1, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (code, bound, want) in cases {
            let bytes = reply(*code, *bound);
            assert_eq!(&bytes, want);
            assert_eq!(parse_reply(&bytes), Ok(Some((*code, bytes.len()))));
            assert_prefixes_incomplete(&bytes, parse_reply);
        }
    }

    #[test]
    fn replies() {
        let mut domain_reply = vec![5, 0, 0, 3, 9];
        domain_reply.extend_from_slice(b"localhost");
        domain_reply.extend_from_slice(&[0x04, 0x38]);
        let cases: &[(Vec<u8>, Parsed<u8>)] = &[
            (vec![5, 0, 0, 1, 127, 0, 0, 1, 4, 56], Ok(Some((0, 10)))),
            (vec![5, 2, 0, 1, 0, 0, 0, 0, 0, 0, b'x'], Ok(Some((2, 10)))),
            (vec![5, 5, 0, 3, 0, 0, 0], Ok(Some((5, 7)))),
            (domain_reply.clone(), Ok(Some((0, 16)))),
            (vec![5, 0, 0x55, 1, 0, 0, 0, 0, 0, 0], Ok(Some((0, 10)))), // RSV ignored
            (vec![5, 0xEE, 0, 1, 0, 0, 0, 0, 0, 0], Ok(Some((0xEE, 10)))),
            (vec![], Ok(None)),
            (vec![5], Ok(None)),
            (vec![5, 0], Ok(None)),
            (vec![5, 0, 0], Ok(None)),
            (vec![5, 0, 0, 1, 127, 0, 0, 1, 4], Ok(None)),
            (vec![5, 0, 0, 4, 0, 0, 0, 0], Ok(None)),
            (domain_reply[..15].to_vec(), Ok(None)),
            (
                vec![4, 0, 0, 1],
                Err(ParseError::Malformed("not a SOCKS5 reply")),
            ),
            (vec![0], Err(ParseError::Malformed("not a SOCKS5 reply"))),
            (
                vec![5, 0, 0, 2],
                Err(ParseError::Malformed(
                    "unknown address type in SOCKS5 reply",
                )),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_reply(input), want, "{input:?}");
        }
        assert_prefixes_incomplete(&domain_reply, parse_reply);
    }

    #[test]
    fn reply_messages() {
        let want = [
            "succeeded",
            "general SOCKS server failure",
            "connection not allowed by ruleset",
            "network unreachable",
            "host unreachable",
            "connection refused",
            "TTL expired",
            "command not supported",
            "address type not supported",
        ];
        for (code, text) in want.iter().enumerate() {
            assert_eq!(reply_message(code as u8), *text);
        }
        for code in 9..=255u8 {
            assert_eq!(reply_message(code), "unknown error");
        }
        assert_eq!(
            ParseError::Reply(reply::NOT_ALLOWED).to_string(),
            "connection not allowed by ruleset"
        );
        assert_eq!(ParseError::Malformed("bad").to_string(), "bad");
    }

    use crate::proxy::fuzz_rng::XorShift as Rng;

    /// Checks what must hold for any input: consumed lengths are within the input and a
    /// complete message parses the same from exactly its own bytes. Returns how many of the
    /// three parsers found a complete message.
    fn check_invariants(buf: &[u8]) -> usize {
        let mut complete = 0;
        if let Ok(Some((offers, used))) = parse_greeting(buf) {
            complete += 1;
            assert!((2..=buf.len()).contains(&used));
            assert_eq!(parse_greeting(&buf[..used]), Ok(Some((offers, used))));
        }
        match parse_request(buf) {
            Ok(Some((req, used))) => {
                complete += 1;
                assert!((8..=buf.len()).contains(&used));
                assert_eq!(parse_request(&buf[..used]), Ok(Some((req.clone(), used))));
                if req.command == Command::Connect {
                    assert_ne!(req.port, 0);
                    let bytes = client_connect_request(&req.host, req.port).unwrap();
                    let (again, _) = parse_request(&bytes).unwrap().unwrap();
                    assert_eq!((again.host, again.port), (req.host, req.port));
                }
            }
            Ok(None) => assert!(buf.len() < 262),
            Err(_) => {}
        }
        if let Ok(Some((code, used))) = parse_reply(buf) {
            complete += 1;
            assert!((7..=buf.len()).contains(&used));
            assert_eq!(parse_reply(&buf[..used]), Ok(Some((code, used))));
        }
        complete
    }

    #[test]
    fn fuzz_no_panics() {
        let seeds: Vec<Vec<u8>> = vec![
            client_greeting().to_vec(),
            vec![5, 3, 2, 1, 0],
            client_connect_request(&name("example.com"), 443).unwrap(),
            client_connect_request(&ip("10.0.0.1"), 22).unwrap(),
            client_connect_request(&ip("2001:db8::1"), 80).unwrap(),
            client_connect_request(&name("192.168.1.1"), 80).unwrap(),
            reply(0, None),
            reply(4, Some("[2001:db8::9]:443".parse().unwrap())),
            vec![5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 1],
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut buf = Vec::with_capacity(512);
        let mut complete = 0;
        for _ in 0..200_000 {
            buf.clear();
            if rng.below(4) == 0 {
                let len = rng.below(48);
                buf.extend((0..len).map(|_| rng.byte()));
                // Bias towards plausible headers so deeper paths are reached.
                if let Some(first) = buf.first_mut() {
                    if rng.below(2) == 0 {
                        *first = VERSION;
                    }
                }
            } else {
                buf.extend_from_slice(&seeds[rng.below(seeds.len())]);
                for _ in 0..=rng.below(3) {
                    match rng.below(5) {
                        0 if !buf.is_empty() => {
                            let i = rng.below(buf.len());
                            buf[i] = rng.byte();
                        }
                        1 if !buf.is_empty() => {
                            let i = rng.below(buf.len());
                            buf[i] ^= 1 << rng.below(8);
                        }
                        2 => {
                            let i = rng.below(buf.len() + 1);
                            buf.truncate(i);
                        }
                        3 => {
                            let i = rng.below(buf.len() + 1);
                            buf.insert(i, rng.byte());
                        }
                        _ => {
                            let extra = rng.below(8);
                            buf.extend((0..extra).map(|_| rng.byte()));
                        }
                    }
                }
            }
            complete += check_invariants(&buf);
            let code = rng.byte();
            let bits = rng.next();
            let bound = match rng.below(3) {
                0 => None,
                1 => Some(SocketAddr::from((Ipv4Addr::from(bits as u32), bits as u16))),
                _ => Some(SocketAddr::from((
                    Ipv6Addr::from(u128::from(bits) << 17),
                    7,
                ))),
            };
            let encoded = reply(code, bound);
            assert_eq!(parse_reply(&encoded), Ok(Some((code, encoded.len()))));
        }
        // The mutations must reach the parsers' success paths, not only their error paths.
        assert!(complete > 20_000, "only {complete} complete messages");
    }
}
