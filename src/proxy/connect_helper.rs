//! `fence --proxy-connect HOST PORT`: a `ProxyCommand`-style client for use inside the
//! sandbox, whose only way out is the SOCKS5 proxy. It connects to the proxy named by
//! `ALL_PROXY` / `all_proxy` (default `127.0.0.1:1080`), asks it for `HOST:PORT` and then
//! relays stdin → connection and connection → stdout, e.g.
//! `GIT_SSH_COMMAND="ssh -o ProxyCommand='fence --proxy-connect %h %p'"`.
//!
//! Exit codes: 0 once the connection has ended (or stdout is gone), 1 for runtime failures
//! (proxy unreachable, refused, handshake error), 2 for usage errors (arguments, proxy URL).

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::policy::domains::Host;
use crate::policy::network::parse_port;
use crate::proxy::socks5;

/// The prefix of every message this helper prints.
const PREFIX: &str = "fence: proxy-connect: ";
/// The proxy used when neither `ALL_PROXY` nor `all_proxy` is set.
const DEFAULT_PROXY: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::LOCALHOST), 1080);
/// How long to wait for the TCP connection to the proxy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any single read of the SOCKS5 handshake may wait.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The relay buffer size (connection → stdout).
const BUF_SIZE: usize = 64 * 1024;

/// Entry point; `args` are the arguments after `--proxy-connect` (exactly `HOST PORT`).
/// Returns the process exit code, which the caller should exit with right away (the
/// stdin → connection thread may still be blocked reading stdin).
pub fn main(args: &[OsString]) -> i32 {
    let (host, port) = match parse_args(args) {
        Ok(target) => target,
        Err(e) => return fail(2, &e),
    };
    let proxy = std::env::var_os("ALL_PROXY");
    let (proxy_host, proxy_port) = match proxy_from_env(proxy, std::env::var_os("all_proxy")) {
        Ok(proxy) => proxy,
        Err(e) => return fail(2, &e),
    };
    let mut stream = match connect_proxy(&proxy_host, proxy_port) {
        Ok(stream) => stream,
        Err(e) => return fail(1, &e),
    };
    let ready = stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| format!("{host}:{port}: {e}"))
        .and_then(|()| handshake(&mut stream, &host, port))
        .and_then(|()| {
            let _ = stream.set_nodelay(true);
            stream
                .set_read_timeout(None)
                .map_err(|e| format!("{host}:{port}: {e}"))
        });
    if let Err(e) = ready {
        return fail(1, &e);
    }
    relay(stream, &host, port)
}

/// Prints `message` as one line on stderr and returns `code`.
fn fail(code: i32, message: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "{PREFIX}{message}");
    code
}

/// Parses `HOST PORT`: the host as [`Host::parse`] reads it, the port 1–65535.
fn parse_args(args: &[OsString]) -> Result<(Host, u16), String> {
    let [host, port] = args else {
        return Err("usage: fence --proxy-connect HOST PORT".to_owned());
    };
    let host = host
        .to_str()
        .and_then(Host::parse)
        .ok_or_else(|| format!("invalid host {host:?}"))?;
    let port = port
        .to_str()
        .and_then(parse_port)
        .ok_or_else(|| format!("invalid port {port:?} (expected 1-65535)"))?;
    Ok((host, port))
}

/// The proxy to use: `ALL_PROXY`, else `all_proxy` (an empty value counts as unset), else
/// [`DEFAULT_PROXY`].
fn proxy_from_env(upper: Option<OsString>, lower: Option<OsString>) -> Result<(Host, u16), String> {
    match [upper, lower].into_iter().flatten().find(|v| !v.is_empty()) {
        None => Ok((Host::Ip(DEFAULT_PROXY.0), DEFAULT_PROXY.1)),
        Some(url) => parse_proxy_url(&url),
    }
}

/// Parses `socks5h://HOST:PORT` or `socks5://HOST:PORT` (scheme case-insensitive, IPv6 in
/// brackets, one trailing `/` allowed; no credentials, path or query).
fn parse_proxy_url(url: &OsStr) -> Result<(Host, u16), String> {
    let bad = || format!("unsupported proxy URL {url:?} (expected socks5h://HOST:PORT)");
    let text = url.to_str().ok_or_else(bad)?;
    let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("socks5h") && !scheme.eq_ignore_ascii_case("socks5") {
        return Err(bad());
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host_text, port_text) = authority.rsplit_once(':').ok_or_else(bad)?;
    let bracketed = host_text.starts_with('[');
    if !bracketed && host_text.contains(':') {
        return Err(bad());
    }
    let host = Host::parse(host_text).ok_or_else(bad)?;
    if bracketed != matches!(host, Host::Ip(IpAddr::V6(_))) {
        return Err(bad());
    }
    Ok((host, parse_port(port_text).ok_or_else(bad)?))
}

/// Connects to the proxy (a name is resolved, each address tried in turn).
fn connect_proxy(host: &Host, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("proxy {host}:{port}: {e}"))?
            .collect(),
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let why = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
    Err(format!("proxy {host}:{port}: {why}"))
}

/// Runs the SOCKS5 handshake on `stream` asking for `host:port`; Ok once the proxy has
/// connected. Reads no byte past the proxy's reply, so what follows is the destination's.
fn handshake(stream: &mut TcpStream, host: &Host, port: u16) -> Result<(), String> {
    let err = |what: &dyn std::fmt::Display| format!("{host}:{port}: {what}");
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            err(&"timed out waiting for the proxy")
        }
        io::ErrorKind::UnexpectedEof => err(&"proxy closed the connection during the handshake"),
        _ => err(&format_args!("SOCKS5 handshake with the proxy failed: {e}")),
    };
    let request = socks5::client_connect_request(host, port).map_err(|e| err(&e))?;
    stream
        .write_all(&socks5::client_greeting())
        .map_err(io_err)?;
    let mut choice = [0; 2];
    stream.read_exact(&mut choice).map_err(io_err)?;
    match choice {
        [socks5::VERSION, socks5::NO_AUTH] => {}
        [socks5::VERSION, _] => return Err(err(&"the proxy requires authentication")),
        _ => return Err(err(&"the proxy is not a SOCKS5 server")),
    }
    stream.write_all(&request).map_err(io_err)?;
    // One byte at a time: the reply's length depends on its contents, and any byte after it
    // is already the destination's (an SSH banner, say).
    let mut reply = Vec::with_capacity(22);
    loop {
        let mut byte = [0];
        let parsed = match stream.read_exact(&mut byte) {
            Ok(()) => {
                reply.extend_from_slice(&byte);
                socks5::parse_reply(&reply).map_err(|e| err(&format_args!("bad reply: {e}")))
            }
            Err(e) => Err(io_err(e)),
        };
        match (parsed, reply.as_slice()) {
            (Ok(None), _) => {}
            (Ok(Some((socks5::reply::SUCCEEDED, _))), _) => return Ok(()),
            (Ok(Some((code, _))), _) => return Err(err(&socks5::reply_message(code))),
            // A failure code, even in a reply cut short or garbled, is the better message.
            (Err(_), [socks5::VERSION, code, ..]) if *code != socks5::reply::SUCCEEDED => {
                return Err(err(&socks5::reply_message(*code)));
            }
            (Err(e), _) => return Err(e),
        }
    }
}

/// Relays stdin → `stream` (in a thread, half-closing the connection at stdin's EOF) and
/// `stream` → stdout until the connection ends; returns the exit code.
fn relay(mut stream: TcpStream, host: &Host, port: u16) -> i32 {
    let mut upstream = match stream.try_clone() {
        Ok(upstream) => upstream,
        Err(e) => return fail(1, &format!("{host}:{port}: {e}")),
    };
    let spawned = std::thread::Builder::new()
        .name("stdin-to-proxy".to_owned())
        .spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut upstream);
            let _ = upstream.shutdown(Shutdown::Write);
        });
    if let Err(e) = spawned {
        return fail(1, &format!("{host}:{port}: {e}"));
    }
    match forward(&mut stream, &mut io::stdout().lock()) {
        Ok(()) => 0,
        Err(e) => fail(1, &format!("{host}:{port}: {e}")),
    }
}

/// Copies `from` to `to`, flushing after every read, until `from` ends (Ok) or fails (Err).
/// A write error means the reader of `to` is gone, which ends the copy quietly (Ok).
fn forward(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0; BUF_SIZE];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if to.write_all(chunk).and_then(|()| to.flush()).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    fn os(text: &str) -> OsString {
        OsString::from(text)
    }

    fn ip(text: &str) -> Host {
        Host::Ip(text.parse().unwrap())
    }

    fn name(text: &str) -> Host {
        Host::Name(text.to_owned())
    }

    #[test]
    fn proxy_urls() {
        let valid = [
            ("socks5h://127.0.0.1:1080", ip("127.0.0.1"), 1080),
            ("socks5://127.0.0.1:1080", ip("127.0.0.1"), 1080),
            ("socks5h://127.0.0.1:1080/", ip("127.0.0.1"), 1080),
            ("SOCKS5H://10.0.0.1:1", ip("10.0.0.1"), 1),
            ("Socks5://localhost:65535", name("localhost"), 65535),
            (
                "socks5h://Proxy.Example.:9050/",
                name("proxy.example"),
                9050,
            ),
            ("socks5h://[::1]:1080", ip("::1"), 1080),
            ("socks5://[2001:db8::1]:1080/", ip("2001:db8::1"), 1080),
        ];
        for (url, host, port) in valid {
            assert_eq!(parse_proxy_url(OsStr::new(url)), Ok((host, port)), "{url}");
        }
        let invalid = [
            "",
            "127.0.0.1:1080",
            "http://127.0.0.1:1080",
            "https://127.0.0.1:1080",
            "socks4://127.0.0.1:1080",
            "socks5h:/127.0.0.1:1080",
            "socks5h://127.0.0.1",
            "socks5h://127.0.0.1:",
            "socks5h://127.0.0.1:0",
            "socks5h://127.0.0.1:65536",
            "socks5h://127.0.0.1:+80",
            "socks5h://127.0.0.1:80x",
            "socks5h://:1080",
            "socks5h://::1:1080",
            "socks5h://[::1]",
            "socks5h://[::1]1080",
            "socks5h://[1.2.3.4]:1080",
            "socks5h://[localhost]:1080",
            "socks5h://user:pw@127.0.0.1:1080",
            "socks5h://user@127.0.0.1:1080",
            "socks5h://127.0.0.1:1080/path",
            "socks5h://127.0.0.1:1080//",
            "socks5h://127.0.0.1:1080?x=1",
            "socks5h://127.0.0.1:1080#f",
            "socks5h://bad host:1080",
        ];
        for url in invalid {
            let got = parse_proxy_url(OsStr::new(url));
            assert!(got.is_err(), "{url}: {got:?}");
        }
        assert_eq!(
            parse_proxy_url(OsStr::new("http://x:1")),
            Err(r#"unsupported proxy URL "http://x:1" (expected socks5h://HOST:PORT)"#.to_owned())
        );
    }

    #[test]
    fn proxy_env_precedence() {
        let default = Ok((ip("127.0.0.1"), 1080));
        let upper = Some(os("socks5h://10.0.0.1:1"));
        let lower = Some(os("socks5://10.0.0.2:2"));
        assert_eq!(proxy_from_env(None, None), default);
        assert_eq!(proxy_from_env(Some(os("")), Some(os(""))), default);
        assert_eq!(
            proxy_from_env(upper.clone(), lower.clone()),
            Ok((ip("10.0.0.1"), 1))
        );
        assert_eq!(proxy_from_env(None, lower.clone()), Ok((ip("10.0.0.2"), 2)));
        assert_eq!(proxy_from_env(Some(os("")), lower), Ok((ip("10.0.0.2"), 2)));
        assert!(proxy_from_env(Some(os("http://10.0.0.1:3128")), upper).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let not_utf8 = OsString::from_vec(b"socks5h://\xff:1".to_vec());
            assert!(proxy_from_env(Some(not_utf8), None).is_err());
        }
    }

    #[test]
    fn arguments() {
        let ok = [
            (["github.com", "22"], name("github.com"), 22),
            (["GitHub.com.", "443"], name("github.com"), 443),
            (["192.0.2.1", "1"], ip("192.0.2.1"), 1),
            (["::1", "65535"], ip("::1"), 65535),
            (["[2001:db8::1]", "22"], ip("2001:db8::1"), 22),
        ];
        for (args, host, port) in ok {
            assert_eq!(parse_args(&args.map(os)), Ok((host, port)), "{args:?}");
        }
        let usage = Err("usage: fence --proxy-connect HOST PORT".to_owned());
        assert_eq!(parse_args(&[]), usage);
        assert_eq!(parse_args(&[os("github.com")]), usage);
        assert_eq!(parse_args(&[os("a"), os("1"), os("x")]), usage);
        let bad = [
            ["", "22"],
            ["bad host", "22"],
            ["-oProxyCommand=x", "22"],
            ["github.com", "0"],
            ["github.com", "65536"],
            ["github.com", "ssh"],
            ["github.com", ""],
            ["github.com", "-1"],
        ];
        for args in bad {
            assert!(parse_args(&args.map(os)).is_err(), "{args:?}");
        }
        assert_eq!(
            parse_args(&[os("github.com"), os("0")]),
            Err(r#"invalid port "0" (expected 1-65535)"#.to_owned())
        );
    }

    /// A server-side parser from [`socks5`].
    type Parser<T> = fn(&[u8]) -> Result<Option<(T, usize)>, socks5::ParseError>;

    /// Reads one message with `parse`, keeping bytes after it in `pending`.
    fn read_message<T>(stream: &mut TcpStream, pending: &mut Vec<u8>, parse: Parser<T>) -> T {
        loop {
            if let Some((message, used)) = parse(pending).unwrap() {
                pending.drain(..used);
                return message;
            }
            let mut buf = [0; 512];
            let n = stream.read(&mut buf).unwrap();
            assert_ne!(n, 0, "client closed early");
            pending.extend_from_slice(&buf[..n]);
        }
    }

    /// A one-connection fake SOCKS5 proxy on 127.0.0.1: reads the greeting (answering
    /// "no authentication") and the request, writes `answer`, then echoes until EOF if
    /// `echo`, else closes. Joining it yields the request it got.
    fn fake_proxy(answer: Vec<u8>, echo: bool) -> (SocketAddr, JoinHandle<socks5::Request>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut pending = Vec::new();
            let offers_no_auth = read_message(&mut stream, &mut pending, socks5::parse_greeting);
            assert!(offers_no_auth);
            stream.write_all(&socks5::method_choice(true)).unwrap();
            let request = read_message(&mut stream, &mut pending, socks5::parse_request);
            stream.write_all(&answer).unwrap();
            if !echo {
                return request;
            }
            let mut buf = [0; 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            request
        });
        (addr, server)
    }

    fn client(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    #[test]
    fn handshake_then_relay() {
        let bound = Some(SocketAddr::from(([127, 0, 0, 1], 4321)));
        let mut answer = socks5::reply(socks5::reply::SUCCEEDED, bound);
        answer.extend_from_slice(b"SSH-2.0-fake\r\n");
        let (addr, server) = fake_proxy(answer, true);
        let mut stream = client(addr);
        handshake(&mut stream, &name("github.com"), 22).unwrap();
        // The banner sent right behind the reply was left for the relay.
        let mut banner = [0; 14];
        stream.read_exact(&mut banner).unwrap();
        assert_eq!(&banner, b"SSH-2.0-fake\r\n");
        // Relay both ways through `forward`, as `relay` does with stdin/stdout.
        let mut upstream = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            forward(&mut &b"ping pong"[..], &mut upstream).unwrap();
            upstream.shutdown(Shutdown::Write).unwrap();
        });
        let mut echoed = Vec::new();
        forward(&mut stream, &mut echoed).unwrap();
        sender.join().unwrap();
        assert_eq!(echoed, b"ping pong");
        let request = server.join().unwrap();
        assert_eq!(request.command, socks5::Command::Connect);
        assert_eq!(
            (request.host, request.port, request.by_name),
            (name("github.com"), 22, true)
        );
    }

    #[test]
    fn handshake_sends_ip_literals_as_addresses() {
        for (host, bound) in [
            (ip("192.0.2.9"), None),
            (ip("2001:db8::7"), Some("[::1]:80".parse().unwrap())),
        ] {
            let (addr, server) = fake_proxy(socks5::reply(socks5::reply::SUCCEEDED, bound), false);
            let mut stream = client(addr);
            handshake(&mut stream, &host, 443).unwrap();
            drop(stream);
            let request = server.join().unwrap();
            assert_eq!(
                (request.host, request.port, request.by_name),
                (host, 443, false)
            );
        }
    }

    #[test]
    fn handshake_failures() {
        let mut domain_refusal = vec![5, socks5::reply::HOST_UNREACHABLE, 0, 3, 1, b'x', 0, 0];
        domain_refusal.extend_from_slice(b"trailing");
        let cases = [
            (
                socks5::reply(socks5::reply::NOT_ALLOWED, None),
                "github.com:22: connection not allowed by ruleset",
            ),
            (domain_refusal, "github.com:22: host unreachable"),
            // cut short after the code, then closed
            (
                vec![5, socks5::reply::CONNECTION_REFUSED],
                "github.com:22: connection refused",
            ),
            // garbled address type after a failure code
            (vec![5, 3, 0, 9], "github.com:22: network unreachable"),
            (
                vec![5, 0, 0],
                "github.com:22: proxy closed the connection during the handshake",
            ),
            (
                vec![5, 0, 0, 7],
                "github.com:22: bad reply: unknown address type in SOCKS5 reply",
            ),
            (
                b"HTTP/1.1 400 Bad Request\r\n".to_vec(),
                "github.com:22: bad reply: not a SOCKS5 reply",
            ),
        ];
        for (answer, want) in cases {
            let (addr, server) = fake_proxy(answer, false);
            let mut stream = client(addr);
            let got = handshake(&mut stream, &name("github.com"), 22);
            assert_eq!(got, Err(want.to_owned()));
            drop(stream);
            server.join().unwrap();
        }
    }

    #[test]
    fn handshake_method_refusals() {
        for (choice, want) in [
            (
                [5, socks5::NO_ACCEPTABLE_METHODS],
                "[::1]:22: the proxy requires authentication",
            ),
            ([5, 2], "[::1]:22: the proxy requires authentication"),
            ([4, 0], "[::1]:22: the proxy is not a SOCKS5 server"),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut greeting = [0; 3];
                stream.read_exact(&mut greeting).unwrap();
                assert_eq!(greeting, socks5::client_greeting());
                stream.write_all(&choice).unwrap();
            });
            let mut stream = client(addr);
            assert_eq!(handshake(&mut stream, &ip("::1"), 22), Err(want.to_owned()));
            server.join().unwrap();
        }
    }

    #[test]
    fn forward_flushes_and_stops_quietly_on_write_errors() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        forward(&mut data.as_slice(), &mut out).unwrap();
        assert_eq!(out, data);
        assert!(forward(&mut data.as_slice(), &mut Gone).is_ok());

        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
        let err = forward(&mut Failing, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn connect_proxy_reports_refused_connections() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = connect_proxy(&ip("127.0.0.1"), port).unwrap_err();
        assert!(
            err.starts_with(&format!("proxy 127.0.0.1:{port}: ")),
            "{err}"
        );
    }
}
