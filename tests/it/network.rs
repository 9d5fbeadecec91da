//! Without proxies in the way, the sandbox has no network: only its own loopback exists.
//! Through fence's relays, small exchanges go as fast as the peers answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util;

use util::{CountingServer, Sandbox, User};

fn host_loopback_is_unreachable(user: User) {
    let v4 = CountingServer::start("127.0.0.1:0");
    let v6 = CountingServer::start("[::1]:0");
    let sb = Sandbox::new(user);
    let attempts = [
        format!("curl -sS --max-time 3 http://127.0.0.1:{}/", v4.port),
        format!("curl -sS --max-time 3 -g 'http://[::1]:{}/'", v6.port),
        format!("nc -z -w 2 127.0.0.1 {}", v4.port),
        format!("bash -c 'echo hi > /dev/tcp/127.0.0.1/{}'", v4.port),
    ];
    for cmd in &attempts {
        sb.fence()
            .args(["-c", cmd])
            .run()
            .failed()
            .stdout_lacks("SECRET");
    }
    // The same commands do reach the servers from the host: the servers are real.
    assert!(
        util::output(std::process::Command::new("sh").args(["-c", &attempts[0]]))
            .status
            .success()
    );
    assert_eq!(v4.hits(), 1, "only the host's own request arrived");
    assert_eq!(v6.hits(), 0);
}

fn loopback_inside_the_sandbox_works(user: User) {
    let sb = Sandbox::new(user);
    let script = "python3 -c '
import socket
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(1)
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b\"loop-ok\"); print(a.recv(7).decode())'";
    sb.fence()
        .args(["-c", script])
        .run()
        .ok()
        .stdout_has("loop-ok");
}

/// `127.0.0.1` and `localhost` in allowedDomains do not take clients to the host's
/// loopback (NO_PROXY sends them to the sandbox's own): fence says so once, naming the
/// fix, and the fix works without a warning.
fn loopback_in_allowed_domains_warns(user: User) {
    let server = CountingServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let curl = format!("curl -sS --max-time 5 http://127.0.0.1:{}/", server.port);
    let cfg = sb.config(
        "net.json",
        r#"{"network": {"allowedDomains": ["127.0.0.1", "localhost", "example.com"]}}"#,
    );
    let run = sb.fence().sh(&cfg, &curl).run();
    run.code(7).stdout_lacks("SECRET").stderr_has(
        "fence: warning: network.allowedDomains lists \"127.0.0.1\", \"localhost\": clients \
         skip the proxy for loopback destinations (NO_PROXY is localhost,127.0.0.1,::1; Go \
         programs skip it for every loopback address) and reach the sandbox's own loopback \
         instead; to reach a port on the host's loopback, set network.allowLocalOutbound and \
         list the port in network.allowLocalOutboundPorts\n",
    );
    assert_eq!(
        run.stderr.matches("allowedDomains lists").count(),
        1,
        "{run}"
    );
    assert_eq!(server.hits(), 0);
    let cfg = sb.config(
        "net.json",
        &format!(
            r#"{{"network": {{"allowLocalOutbound": true,
                "allowLocalOutboundPorts": [{}]}}}}"#,
            server.port
        ),
    );
    sb.fence()
        .sh(&cfg, &curl)
        .run()
        .ok()
        .stdout_has("SECRET")
        .stderr_lacks("warning");
    assert_eq!(server.hits(), 1);
}

/// Round trips per relay in the small-exchange tests.
const ROUNDS: usize = 50;
/// What those round trips may take through fence, per relay: 0.08-0.25 s with
/// `TCP_NODELAY` on fence's sockets, 4.4 s without it (2.2 s for forwarded requests, whose
/// requests are one write): Nagle's algorithm holds the second half of each message until
/// the first is acknowledged, and the receiver delays that acknowledgement by 40 ms.
const ROUNDS_LIMIT: f64 = 1.0;

/// A server for small exchanges on 127.0.0.1: every 200-byte message gets 200 bytes back
/// in two writes 1 ms apart; an HTTP `GET` gets a response head and, 1 ms later, its
/// 100-byte body. Its sockets set `TCP_NODELAY`, as the clients' do: any wait is fence's.
fn ping_pong_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = ping_pong_serve(stream);
            });
        }
    });
    port
}

fn ping_pong_serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let mut first = [0u8; 4];
        stream.read_exact(&mut first)?;
        if &first == b"GET " {
            let mut head = first.to_vec();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte)?;
                head.push(byte[0]);
            }
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")?;
            std::thread::sleep(Duration::from_millis(1));
            stream.write_all(&[b'R'; 100])?;
        } else {
            let mut rest = [0u8; 196];
            stream.read_exact(&mut rest)?;
            stream.write_all(&[b'r'; 100])?;
            std::thread::sleep(Duration::from_millis(1));
            stream.write_all(&[b'R'; 100])?;
        }
    }
}

/// The sandboxed client: `ROUNDS` small round trips through a CONNECT tunnel, a SOCKS5
/// tunnel, the allowLocalOutboundPorts forwarder and forwarded HTTP requests (one
/// keep-alive client connection), each message sent in two writes 1 ms apart. Prints each
/// relay's time, then `ready`, and keeps the connections open until stdin closes.
const PY_PING_PONG: &str = r#"
import socket, sys, time
port, rounds = int(sys.argv[1]), int(sys.argv[2])
def connect(p):
    s = socket.create_connection(("127.0.0.1", p), timeout=20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit("connection closed after %r" % b)
        b += c
    return b
def head(s):
    h = b""
    while not h.endswith(b"\r\n\r\n"): h += exact(s, 1)
    return h
def ping_pong(name, s):
    t = time.monotonic()
    for _ in range(rounds):
        s.sendall(b"q" * 100); time.sleep(0.001); s.sendall(b"Q" * 100)
        assert exact(s, 200) == b"r" * 100 + b"R" * 100
    print(name, "%.3f" % (time.monotonic() - t), flush=True)
c = connect(3128)
c.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
assert b" 200 " in head(c)
ping_pong("connect", c)
s = connect(1080)
s.sendall(b"\x05\x01\x00"); assert exact(s, 2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + port.to_bytes(2, "big"))
assert exact(s, 10)[1] == 0
ping_pong("socks5", s)
f = connect(port)
ping_pong("forwarder", f)
h = connect(3128)
t = time.monotonic()
for _ in range(rounds):
    h.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
    assert b" 200 " in head(h) and exact(h, 100) == b"R" * 100
print("http", "%.3f" % (time.monotonic() - t), flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

/// Small exchanges through each of fence's relays do not wait on delayed acknowledgements:
/// the round trips are fast, and every TCP socket fence relays on has `TCP_NODELAY` (read
/// back from fence's own descriptors while the connections are open).
fn small_exchanges_do_not_wait(user: User) {
    let port = ping_pong_server();
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join("ping.py"), PY_PING_PONG);
    let cfg = sb.config(
        "net.json",
        &format!(
            r#"{{"network": {{"allowedDomains": ["127.0.0.1"], "allowLocalOutbound": true,
                "allowLocalOutboundPorts": [{port}]}}}}"#
        ),
    );
    let mut cmd = sb
        .fence()
        .sh(&cfg, &format!("python3 ping.py {port} {ROUNDS}"))
        .cmd;
    let stderr = sb.root.join("stderr");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = util::spawn(&mut cmd);
    let lines = line_reader(child.stdout.take().unwrap());
    let mut times = Vec::new();
    loop {
        let line = lines
            .recv_timeout(util::DEADLINE)
            .unwrap_or_else(|_| panic!("no `ready` from the client: {times:?}\n{}", read(&stderr)));
        if line == "ready" {
            break;
        }
        times.push(line);
    }
    let sockets = relayed_sockets(child.id());
    drop(child.stdin.take());
    assert!(
        util::wait_deadline(&mut child).success(),
        "{}",
        read(&stderr)
    );
    eprintln!("{ROUNDS} round trips (seconds): {times:?}");
    let slow: Vec<&String> = ["connect", "socks5", "forwarder", "http"]
        .iter()
        .map(|relay| {
            times
                .iter()
                .find(|l| l.split(' ').next() == Some(relay))
                .unwrap_or_else(|| panic!("no time for {relay}: {times:?}"))
        })
        .filter(|line| line.split(' ').nth(1).and_then(|s| s.parse().ok()) >= Some(ROUNDS_LIMIT))
        .collect();
    // Both sides of each tunnel: the clients' sockets (the proxies' ports and the
    // forwarder's, inside the sandbox) and the upstream ones (to the server's port).
    let count = |f: &dyn Fn(&Relayed) -> bool| sockets.iter().filter(|s| f(s)).count();
    assert!(count(&|s| s.local.port() == 3128) >= 2, "{sockets:?}");
    assert!(count(&|s| s.local.port() == 1080) >= 1, "{sockets:?}");
    assert!(count(&|s| s.local.port() == port) >= 1, "{sockets:?}");
    assert!(count(&|s| s.peer.port() == port) >= 3, "{sockets:?}");
    let nagle: Vec<&Relayed> = sockets.iter().filter(|s| !s.nodelay).collect();
    assert!(
        slow.is_empty() && nagle.is_empty(),
        "over {ROUNDS_LIMIT} s for {ROUNDS} round trips: {slow:?}; without TCP_NODELAY: {nagle:?}"
    );
}

/// The sandboxed server for the exposed-port test: answers each 200-byte message with
/// 200 bytes in two writes 1 ms apart; exits after a connection of more than `rounds`.
const PY_PING_PONG_SERVER: &str = r#"
import socket, sys, time
port, rounds = int(sys.argv[1]), int(sys.argv[2])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(8)
while True:
    c, _ = l.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    while True:
        b = b""
        while len(b) < 200:
            chunk = c.recv(200 - len(b))
            if not chunk: break
            b += chunk
        if len(b) < 200: break
        c.sendall(b"r" * 100); time.sleep(0.001); c.sendall(b"R" * 100); n += 1
    c.close()
    if n > rounds: break
"#;

/// The same through an exposed port (`-p`): the host's client, fence's listener on the
/// host, the socket the init connects inside.
fn exposed_port_exchanges_do_not_wait(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.ws.join("server.py"), PY_PING_PONG_SERVER);
    let port = util::servers::free_port();
    let mut cmd = sb
        .fence()
        .args(["-p", &port.to_string(), "--", "python3", "server.py"])
        .args([port.to_string(), ROUNDS.to_string()])
        .cmd;
    let stderr = sb.root.join("stderr");
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = util::spawn(&mut cmd);
    let round_trip = |stream: &mut TcpStream| -> std::io::Result<()> {
        stream.write_all(&[b'q'; 100])?;
        std::thread::sleep(Duration::from_millis(1));
        stream.write_all(&[b'Q'; 100])?;
        let mut answer = [0u8; 200];
        stream.read_exact(&mut answer)?;
        assert_eq!(answer[..100], [b'r'; 100]);
        assert_eq!(answer[100..], [b'R'; 100]);
        Ok(())
    };
    // Until the server inside listens, fence closes each connection.
    let start = Instant::now();
    let mut stream = loop {
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(20),
            "no answer\n{}",
            read(&stderr)
        );
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_nodelay(true).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            if round_trip(&mut stream).is_ok() {
                break stream;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let start = Instant::now();
    for _ in 0..ROUNDS {
        round_trip(&mut stream).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let sockets = relayed_sockets(child.id());
    drop(stream);
    assert!(
        util::wait_deadline(&mut child).success(),
        "{}",
        read(&stderr)
    );
    eprintln!("{ROUNDS} round trips through -p: {secs:.3} s");
    let count = |f: &dyn Fn(&Relayed) -> bool| sockets.iter().filter(|s| f(s)).count();
    assert_eq!(count(&|s| s.local.port() == port), 1, "{sockets:?}");
    assert_eq!(count(&|s| s.peer.port() == port), 1, "{sockets:?}");
    let nagle: Vec<&Relayed> = sockets.iter().filter(|s| !s.nodelay).collect();
    assert!(
        secs < ROUNDS_LIMIT && nagle.is_empty(),
        "{ROUNDS} round trips through -p took {secs:.3} s; without TCP_NODELAY: {nagle:?}"
    );
}

/// One of fence's connected TCP sockets.
#[derive(Debug)]
struct Relayed {
    local: SocketAddr,
    peer: SocketAddr,
    nodelay: bool,
}

/// fence's connected TCP sockets, each read with `getsockopt` through a duplicate taken
/// with `pidfd_getfd(2)` (the suite may: fence is its child, or it runs as root).
fn relayed_sockets(pid: u32) -> Vec<Relayed> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: pidfd_open returned this descriptor, which nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number in that process and
        // flags, and returns a new descriptor of ours or -1.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        assert!(dup >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        // SAFETY: pidfd_getfd returned this descriptor, which nothing else owns.
        let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(dup as i32) });
        // Unix sockets, listeners and sockets not yet connected have no IP peer.
        let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
            continue;
        };
        let nodelay = stream.nodelay().unwrap();
        found.push(Relayed {
            local,
            peer,
            nodelay,
        });
    }
    found
}

/// A file's text (fence's stderr, for failure messages).
fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines from `pipe`, as they come.
fn line_reader(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

both_users!(
    host_loopback_is_unreachable,
    loopback_inside_the_sandbox_works,
    loopback_in_allowed_domains_warns,
    small_exchanges_do_not_wait,
    exposed_port_exchanges_do_not_wait,
);
