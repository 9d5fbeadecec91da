//! The HTTP and SOCKS5 proxies, end to end: fence runs curl, git, python inside the
//! sandbox; the servers they try to reach run on the host's loopback, and the tests check
//! what those servers really received.

use crate::util;

use util::servers::{HttpServer, RawResponder, UpstreamProxy, free_port, wait_for_port};
use util::{Sandbox, User};

/// curl through the environment's proxy even for loopback hosts (NO_PROXY lists them).
const CURL: &str = "curl -sS --max-time 10 --noproxy ''";

fn allow(sb: &Sandbox, network: &str) -> std::path::PathBuf {
    sb.config("net.json", &format!("{{\"network\": {network}}}"))
}

fn blocked_by_default_and_reported(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, "{}");
    let p = server.port;
    let run = sb
        .fence()
        .arg("-m")
        .sh(&cfg, &format!("{CURL} http://127.0.0.1:{p}/plain; {CURL} -p http://127.0.0.1:{p}/tunnel; echo curl=$?; {CURL} --socks5-hostname 127.0.0.1:1080 http://127.0.0.1:{p}/socks; echo socks=$?"))
        .run();
    run.ok()
        .stdout_has(&format!(
            "fence: blocked GET http://127.0.0.1:{p}/plain: not in allowedDomains"
        ))
        .stdout_has("curl=56")
        .stdout_has("socks=97")
        .stderr_has(&format!(
            "[fence:http] blocked GET http://127.0.0.1:{p}/plain: not in allowedDomains"
        ))
        .stderr_has(&format!(
            "[fence:http] blocked CONNECT 127.0.0.1:{p}: not in allowedDomains"
        ))
        .stderr_has(&format!(
            "[fence:socks] blocked CONNECT 127.0.0.1:{p}: not in allowedDomains"
        ));
    let fence_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("[fence:") || l.starts_with("fence:"))
        .collect();
    assert_eq!(
        fence_lines.len(),
        4,
        "-m prints blocked requests only, and the summary at exit: {fence_lines:?}"
    );
    assert_eq!(
        fence_lines[3],
        format!("fence: blocked 3 requests (127.0.0.1:{p} ×3)")
    );
    assert_eq!(server.hits(), 0, "the server saw no request");
}

fn allowed_ip_through_http_connect_and_socks(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["127.0.0.1"]}"#);
    let p = server.port;
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "{CURL} http://127.0.0.1:{p}/fwd; echo; {CURL} -p http://127.0.0.1:{p}/tunnel; echo; \
                 {CURL} --socks5-hostname 127.0.0.1:1080 http://127.0.0.1:{p}/socks5h; echo; \
                 {CURL} --socks5 127.0.0.1:1080 http://127.0.0.1:{p}/socks5; echo; \
                 {CURL} -X POST -d 0123456789 http://127.0.0.1:{p}/post; echo; \
                 {CURL} -H 'Transfer-Encoding: chunked' --data-binary 0123456789abcdef \
                 http://127.0.0.1:{p}/chunked"
            ),
        )
        .run()
        .ok()
        .stdout_has("hello /fwd")
        .stdout_has("hello /tunnel")
        .stdout_has("hello /socks5h")
        .stdout_has("hello /socks5")
        .stdout_has("hello /post")
        .stdout_has("hello /chunked");
    let seen = server.seen();
    assert!(
        seen.contains(&format!("GET /fwd host=127.0.0.1:{p} body=0")),
        "forwarded in origin-form with its Host: {seen:?}"
    );
    assert!(
        seen.contains(&format!("POST /post host=127.0.0.1:{p} body=10")),
        "{seen:?}"
    );
    assert!(
        seen.contains(&format!("POST /chunked host=127.0.0.1:{p} body=16")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 6);
}

fn localhost_and_ipv6_literals(user: User) {
    let v4 = HttpServer::start("127.0.0.1:0");
    let v6 = HttpServer::start("[::1]:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["localhost", "::1"]}"#);
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "{CURL} -p http://localhost:{}/name; echo; \
                 {CURL} --socks5-hostname 127.0.0.1:1080 http://localhost:{}/socks; echo; \
                 {CURL} -g -p 'http://[::1]:{}/v6'; echo; {CURL} -g 'http://[::1]:{}/v6fwd'",
                v4.port, v4.port, v6.port, v6.port
            ),
        )
        .run()
        .ok()
        .stdout_has("hello /name")
        .stdout_has("hello /socks")
        .stdout_has("hello /v6\n")
        .stdout_has("hello /v6fwd");
    assert_eq!((v4.hits(), v6.hits()), (2, 2));
}

fn denied_beats_allowed(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(
        &sb,
        r#"{"allowedDomains": ["127.0.0.1", "localhost"], "deniedDomains": ["LOCALHOST"]}"#,
    );
    let p = server.port;
    sb.fence()
        .sh(
            &cfg,
            &format!("{CURL} http://localhost:{p}/denied; echo; {CURL} http://127.0.0.1:{p}/ok"),
        )
        .run()
        .ok()
        .stdout_has("matches deniedDomains entry \"localhost\"")
        .stdout_has("hello /ok");
    assert_eq!(server.seen().len(), 1);
}

const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n\
    127.0.0.1 api.fence-test.example\n169.254.169.254 metadata.fence-test.example\n\
    100.100.100.200 alibaba.fence-test.example\nfd20:ce::254 gce6.fence-test.example\n";

fn names_resolving_to_local_addresses_are_refused(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let p = server.port;
    let cfg = allow(&sb, r#"{"allowedDomains": ["*.fence-test.example"]}"#);
    // The host's own LAN address, and loopback disguised as an IPv4-mapped IPv6 address.
    let own = other_host_addresses()[0];
    let hosts = format!(
        "{HOSTS}{own} own.fence-test.example\n::ffff:127.0.0.1 mapped.fence-test.example\n"
    );
    sb.fence_with_hosts(&hosts)
        .sh(
            &cfg,
            &format!(
                "{CURL} http://own.fence-test.example:{p}/own; echo; \
                 {CURL} -p http://mapped.fence-test.example:{p}/mapped"
            ),
        )
        .run()
        .stdout_has(&format!(
            "own.fence-test.example resolves to {own}, an address of this host"
        ))
        .stderr_has("CONNECT tunnel failed, response 403");
    sb.fence_with_hosts(HOSTS)
        .sh(
            &cfg,
            &format!(
                "{CURL} http://api.fence-test.example:{p}/a; echo; \
                 {CURL} --socks5-hostname 127.0.0.1:1080 http://api.fence-test.example:{p}/s; echo socks=$?; \
                 {CURL} http://metadata.fence-test.example/latest; echo; \
                 {CURL} http://alibaba.fence-test.example/latest; echo; \
                 {CURL} -p -w 'gce6=%{{http_connect}}' http://gce6.fence-test.example/v1; echo; \
                 {CURL} http://other.example:{p}/o"
            ),
        )
        .run()
        .ok()
        .stdout_has(&format!(
            "blocked GET http://api.fence-test.example:{p}/a: api.fence-test.example resolves \
             to 127.0.0.1, a loopback address"
        ))
        .stdout_has("socks=97")
        .stdout_has("169.254.169.254, a link-local address (cloud metadata lives there)")
        .stdout_has("alibaba.fence-test.example resolves to 100.100.100.200, a cloud metadata")
        .stdout_has("gce6=403")
        .stdout_has("other.example:");
    assert_eq!(server.hits(), 0, "nothing reached the host's loopback");

    // Local outbound for that port lets the same name through: the wildcard matched.
    let cfg = allow(
        &sb,
        &format!(
            r#"{{"allowedDomains": ["*.fence-test.example"], "allowLocalOutbound": true,
                "allowLocalOutboundPorts": [{p}]}}"#
        ),
    );
    sb.fence_with_hosts(HOSTS)
        .sh(
            &cfg,
            &format!("{CURL} -p http://api.fence-test.example:{p}/wild"),
        )
        .run()
        .ok()
        .stdout_has("hello /wild");
    assert_eq!(server.hits(), 1);
}

fn local_outbound_ports_reach_the_host(user: User) {
    let v4 = HttpServer::start("127.0.0.1:0");
    let v6 = HttpServer::start("[::1]:0");
    let unlisted = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let direct = "curl -sS --max-time 5";
    let script = format!(
        "{direct} http://127.0.0.1:{}/v4; echo; {direct} -g 'http://[::1]:{}/v6'; echo; \
         {direct} http://127.0.0.1:{}/unlisted; echo unlisted=$?",
        v4.port, v6.port, unlisted.port
    );
    let cfg = allow(
        &sb,
        &format!(
            r#"{{"allowLocalOutbound": true, "allowLocalOutboundPorts": [{}, {}]}}"#,
            v4.port, v6.port
        ),
    );
    sb.fence()
        .sh(&cfg, &script)
        .run()
        .ok()
        .stdout_has("hello /v4")
        .stdout_has("hello /v6")
        .stdout_has("unlisted=7");
    assert_eq!((v4.hits(), v6.hits(), unlisted.hits()), (1, 1, 0));

    // Ports without allowLocalOutbound reach nothing; allowLocalOutbound without ports
    // warns that nothing is reachable.
    let cfg = allow(
        &sb,
        &format!(r#"{{"allowLocalOutboundPorts": [{}]}}"#, v4.port),
    );
    sb.fence()
        .sh(&cfg, &format!("{direct} http://127.0.0.1:{}/no", v4.port))
        .run()
        .code(7);
    let cfg = allow(&sb, r#"{"allowLocalOutbound": true}"#);
    sb.fence()
        .sh(&cfg, &format!("{direct} http://127.0.0.1:{}/no", v4.port))
        .run()
        .code(7)
        .stderr_has("allowLocalOutboundPorts is empty");
    assert_eq!(v4.hits(), 1);
}

fn exposed_ports(user: User) {
    for (bind, label) in [("127.0.0.1", "v4"), ("::1", "v6")] {
        let sb = Sandbox::new(user);
        sb.write(&sb.ws.join(format!("marker-{label}")), "x");
        let port = free_port();
        let mut child = sb
            .fence()
            .args(["-p", &port.to_string(), "--"])
            .args([
                "python3",
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                bind,
            ])
            .cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        let mut body = String::new();
        for _ in 0..100 {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--max-time", "2", &url])
                .output()
                .unwrap();
            body = String::from_utf8_lossy(&out.stdout).into_owned();
            if body.contains("marker") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(body.contains(&format!("marker-{label}")), "{label}: {body}");
        // Only on the host's loopback: not on its other addresses.
        for addr in other_host_addresses() {
            let refused = std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::new(addr, port),
                std::time::Duration::from_secs(2),
            );
            assert!(refused.is_err(), "port {port} is open on {addr}");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The host's non-loopback IPv4 addresses.
fn other_host_addresses() -> Vec<std::net::IpAddr> {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    let addrs: Vec<std::net::IpAddr> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .filter(|a: &std::net::IpAddr| a.is_ipv4() && !a.is_loopback())
        .collect();
    assert!(
        !addrs.is_empty(),
        "this check needs a non-loopback address on the machine"
    );
    addrs
}

fn upstream_proxy_for_the_grey_zone(user: User) {
    let origin = HttpServer::start("127.0.0.1:0");
    let upstream = UpstreamProxy::start(200, origin.port);
    let refusing = UpstreamProxy::start(403, origin.port);
    let sb = Sandbox::new(user);
    let cfg = |host: &str, port: u16| {
        allow(
            &sb,
            &format!(
                r#"{{"defaultAction": "proxy", "upstreamProxy": "http://{host}:{port}",
                    "deniedDomains": ["denied.example"]}}"#
            ),
        )
    };
    // The upstream proxy named by a name (resolved, and exempt from the local guard).
    sb.fence()
        .sh(
            &cfg("localhost", upstream.port),
            &format!(
                "{CURL} -p http://grey.example:443/via; echo; {CURL} http://grey.example/plain; \
                 echo; {CURL} -p http://denied.example:443/no; echo denied=$?"
            ),
        )
        .run()
        .ok()
        .stdout_has("hello /via")
        .stdout_has("upstream saw GET http://grey.example/plain HTTP/1.1")
        .stdout_has("denied=56");
    let connects = upstream.connects.lock().unwrap().clone();
    assert_eq!(
        connects,
        vec![
            "CONNECT grey.example:443 HTTP/1.1".to_string(),
            "GET http://grey.example/plain HTTP/1.1".to_string()
        ],
        "the denied host never reached the upstream"
    );
    // The upstream's refusal is a 403; an unreachable upstream a 502.
    sb.fence()
        .sh(
            &cfg("127.0.0.1", refusing.port),
            &format!("{CURL} -p -w '%{{http_connect}}' http://grey.example:443/x"),
        )
        .run()
        .stdout_has("403");
    sb.fence()
        .sh(
            &cfg("127.0.0.1", free_port()),
            &format!("{CURL} -p -w '%{{http_connect}}' http://grey.example:443/x"),
        )
        .run()
        .stdout_has("502");
}

fn everything_allowed_shares_the_host_network(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(
        &sb,
        r#"{"allowedDomains": ["*"], "deniedDomains": ["localhost"]}"#,
    );
    let p = server.port;
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "curl -sS http://127.0.0.1:{p}/direct; echo; echo $HTTP_PROXY; \
                 {CURL} http://localhost:{p}/denied"
            ),
        )
        .run()
        .ok()
        .stderr_has("shares the host's network")
        .stdout_has("hello /direct")
        .stdout_has("matches deniedDomains entry \"localhost\"")
        .stdout_lacks(":3128");
    assert_eq!(server.hits(), 1);
}

/// The host's loopback through the proxy, and the workspace writable: for clones.
const CLONE_CONFIG: &str =
    r#"{"network": {"allowedDomains": ["127.0.0.1"]}, "filesystem": {"allowWrite": ["."]}}"#;

fn git_clone_over_http(user: User) {
    let sb = Sandbox::new(user);
    let src = sb.root.join("src");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(["-c", "safe.directory=*", "-c", "init.defaultBranch=main"])
            .args(args)
            .output()
            .expect("git is installed");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    sb.mkdir(&src);
    std::fs::write(src.join("README"), "cloned through fence\n").unwrap();
    let s = src.to_str().unwrap();
    git(&["init", "-q", s]);
    git(&["-C", s, "add", "README"]);
    git(&["-C", s, "commit", "-qm", "first"]);
    let served = sb.root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = served.join("repo.git");
    git(&["clone", "-q", "--bare", s, bare.to_str().unwrap()]);
    git(&["-C", bare.to_str().unwrap(), "update-server-info"]);
    let port = free_port();
    let mut web = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "-d",
        ])
        .arg(&served)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let cfg = sb.config("git.json", CLONE_CONFIG);
    let run = sb
        .fence()
        .sh(
            &cfg,
            &format!(
                "env -u NO_PROXY -u no_proxy git clone -q http://127.0.0.1:{port}/repo.git out"
            ),
        )
        .run();
    let _ = web.kill();
    let _ = web.wait();
    run.ok();
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("out/README")).unwrap(),
        "cloned through fence\n"
    );
}

/// A TCP echo server on 127.0.0.1.
fn echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
    port
}

fn ssh_proxy_command_helper(user: User) {
    let port = echo_server();
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["127.0.0.1"]}"#);
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "echo \"$GIT_SSH_COMMAND\"; fence=${{GIT_SSH_COMMAND#*ProxyCommand=\\'}}; \
                 fence=${{fence%% *}}; echo ping-through-socks | \"$fence\" --proxy-connect \
                 127.0.0.1 {port}; \"$fence\" --proxy-connect example.com 22; echo blocked=$?"
            ),
        )
        .run()
        .ok()
        .stdout_has("--proxy-connect %h %p'")
        .stdout_has("ping-through-socks")
        .stdout_has("blocked=1")
        .stderr_has("connection not allowed by ruleset");
}

/// git clone over ssh from a real sshd on 127.0.0.1, through fence's GIT_SSH_COMMAND
/// (ssh with `fence --proxy-connect` as its ProxyCommand, over the SOCKS5 proxy).
fn git_over_ssh_through_the_socks_connector(user: User) {
    if !util::is_root() {
        // sshd needs root (privilege separation, logging in as another user).
        eprintln!("git over ssh: cannot apply: sshd can only be started by root here");
        return;
    }
    let sb = Sandbox::new(user);
    let sshd = util::sshd::Sshd::start(&sb);
    let (port, key) = (sshd.port, &sshd.key);
    let repo = sshd.dir.join("repo.git");
    let out = util::output(
        std::process::Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(&repo),
    );
    assert!(out.status.success(), "git init: {out:?}");
    let cfg = sb.config("ssh.json", CLONE_CONFIG);
    let result = sb
        .fence()
        .sh(
            &cfg,
            &format!(
                "case \"$GIT_SSH_COMMAND\" in *--proxy-connect*) ;; *) exit 99;; esac; \
                 GIT_SSH_COMMAND=\"$GIT_SSH_COMMAND -i {} -o StrictHostKeyChecking=no \
                 -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR\" \
                 git clone -q ssh://root@127.0.0.1:{port}{} viassh && echo cloned",
                key.display(),
                repo.display()
            ),
        )
        .run();
    drop(sshd);
    result.ok().stdout_has("cloned");
    assert!(sb.ws.join("viassh/.git").is_dir());
    // Without 127.0.0.1 allowed, the same clone is refused by the SOCKS5 proxy.
    let denied = sb.config("none.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    sb.fence()
        .sh(
            &denied,
            &format!("git clone -q ssh://root@127.0.0.1:{port}/x.git other"),
        )
        .run()
        .failed()
        .stderr_has("connection not allowed by ruleset");
}

const PY_CLIENTS: &str = r#"
import socket, sys, threading, urllib.request
port = int(sys.argv[1])
def raw(data):
    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(data)
    s.shutdown(socket.SHUT_WR); reply = s.recv(100); s.close(); return reply
print("garbage:", raw(b"\x00\xffnot http\r\n\r\n")[:12])
print("huge:", raw(b"GET http://127.0.0.1/ HTTP/1.1\r\nX: " + b"a" * 70000)[:12])
print("origin:", raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[:12])
def socks(cmd):
    s = socket.create_connection(("127.0.0.1", 1080)); s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(bytes([5, cmd, 0, 1, 127, 0, 0, 1]) + port.to_bytes(2, "big"))
    reply = s.recv(10); s.close(); return reply[1]
print("bind:", socks(2), "udp:", socks(3))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://127.0.0.1:3128"}))
ok = []
def fetch(i):
    body = opener.open("http://127.0.0.1:%d/p%d" % (port, i), timeout=30).read()
    if body == b"hello /p%d" % i: ok.append(i)
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(200)]
for t in threads: t.start()
for t in threads: t.join()
print("parallel ok:", len(ok))
"#;

fn malformed_requests_and_many_clients(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["127.0.0.1"]}"#);
    sb.write(&sb.ws.join("clients.py"), PY_CLIENTS);
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "env -u NO_PROXY -u no_proxy python3 clients.py {}",
                server.port
            ),
        )
        .run()
        .ok()
        .stdout_has("garbage: b'HTTP/1.1 400'")
        .stdout_has("huge: b'HTTP/1.1 431'")
        .stdout_has("origin: b'HTTP/1.1 400'")
        .stdout_has("bind: 7 udp: 7")
        .stdout_has("parallel ok: 200");
    assert_eq!(server.hits(), 200);
}

/// With few file descriptors, fence caps its connections (the rest wait in the listen
/// queue) and backs off when it runs out, rather than failing or spinning.
fn scarce_file_descriptors(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["127.0.0.1"]}"#);
    sb.write(&sb.ws.join("par.py"), PY_PARALLEL);
    sb.fence()
        .sh(
            &cfg,
            &format!(
                "env -u NO_PROXY -u no_proxy python3 par.py {} 30",
                server.port
            ),
        )
        .wrapped(&["prlimit", "--nofile=48:48"])
        .run()
        .ok()
        .stdout_has("parallel ok: 30")
        .stderr_has("further connections wait until one closes");
    assert_eq!(server.hits(), 30);
}

const PY_PARALLEL: &str = r#"
import sys, threading, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://127.0.0.1:3128"}))
ok = []
def fetch(i):
    if opener.open("http://127.0.0.1:%d/p%d" % (port, i), timeout=60).read() == b"hello /p%d" % i:
        ok.append(i)
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("parallel ok:", len(ok))
"#;

const PY_KEEP_ALIVE: &str = r#"
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
for host in ["127.0.0.1", "127.0.0.1", "localhost"]:
    c.request("GET", "http://%s:%d/ka" % (host, port))
    r = c.getresponse(); print(host, r.status, r.read()[:40])
"#;

fn keep_alive_checks_every_request(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(
        &sb,
        r#"{"allowedDomains": ["127.0.0.1", "localhost"], "deniedDomains": ["localhost"]}"#,
    );
    sb.write(&sb.ws.join("ka.py"), PY_KEEP_ALIVE);
    sb.fence()
        .sh(&cfg, &format!("python3 ka.py {}", server.port))
        .run()
        .ok()
        .stdout_has("127.0.0.1 200 b'hello /ka'\n127.0.0.1 200 b'hello /ka'\nlocalhost 403");
    assert_eq!(server.hits(), 2);
}

fn log_file_takes_the_monitor_lines(user: User) {
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, "{}");
    let log = sb.ws.join("fence.log");
    let run = sb
        .fence()
        .arg("-m")
        .arg("--fence-log-file")
        .arg(&log)
        .sh(
            &cfg,
            &format!("{CURL} -p http://blocked.example/ 2>/dev/null; true"),
        )
        .run();
    run.ok();
    assert!(!run.stderr.contains("[fence:"), "{}", run.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text,
        "[fence:http] blocked CONNECT blocked.example:80: not in allowedDomains\n"
    );
}

/// A log file a sandbox turned into a symlink (to a shell startup file) between runs is
/// refused, and the file it points to is left alone; while the log lives in a writable
/// place, the sandbox cannot replace it during the run.
fn log_file_is_never_followed_or_replaced(user: User) {
    let sb = Sandbox::new(user);
    let bashrc = sb.home.join(".bashrc");
    sb.write(&bashrc, "# the user's shell startup\n");
    let log = sb.ws.join("fence.log");
    let writable = sb.config("w.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let shell_code = "http://blocked.example/;echo${IFS}pwned;";
    // With the log in the writable workspace: a warning, and the log is read-only inside.
    let run = sb
        .fence()
        .arg("-m")
        .arg("--fence-log-file")
        .arg(&log)
        .sh(
            &writable,
            &format!(
                "ln -sfn {} fence.log; echo ln=$?; rm -f fence.log; echo rm=$?; \
                 echo forged >> fence.log; echo append=$?; \
                 {CURL} -g '{shell_code}' >/dev/null; true",
                bashrc.display()
            ),
        )
        .run();
    run.ok()
        .stderr_has("is in a directory the sandbox may write")
        .stdout_lacks("ln=0")
        .stdout_lacks("rm=0")
        .stdout_lacks("append=0");
    let meta = std::fs::symlink_metadata(&log).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the log is still a regular file"
    );
    // -m also shows the sandbox's attempts on the log (read-only inside), then the request.
    let written = std::fs::read_to_string(&log).unwrap();
    let (fs, http): (Vec<&str>, Vec<&str>) =
        written.lines().partition(|l| l.starts_with("[fence:fs]"));
    let ws = sb.ws.canonicalize().unwrap();
    let tampering = format!("[fence:fs] write denied: {}/fence.log (", ws.display());
    assert!(!fs.is_empty(), "{written}");
    assert!(
        fs.iter()
            .all(|l| l.starts_with(&tampering) && l.contains("): denyWrite")),
        "{written}"
    );
    assert_eq!(
        http,
        [format!(
            "[fence:http] blocked GET {shell_code}: not in allowedDomains"
        )],
        "{written}"
    );
    // A run without the log file plants the symlink; the next run with it refuses.
    sb.fence()
        .sh(
            &writable,
            &format!("rm -f fence.log && ln -s {} fence.log", bashrc.display()),
        )
        .run()
        .ok();
    assert!(
        std::fs::symlink_metadata(&log)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let cfg = allow(&sb, "{}");
    sb.fence()
        .arg("-m")
        .arg("--fence-log-file")
        .arg(&log)
        .sh(&cfg, &format!("{CURL} -g '{shell_code}'; echo ran"))
        .run()
        .code(125)
        .stdout_lacks("ran")
        .stderr_has("is a symbolic link, which fence does not follow");
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "# the user's shell startup\n",
        "the symlink's target is unchanged"
    );
    // A FIFO (which could hang the open) and a hard link are refused as well.
    let fifo = sb.ws.join("fifo.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    if sb.switches_user() {
        std::os::unix::fs::chown(&fifo, Some(util::UNPRIVILEGED), Some(util::UNPRIVILEGED))
            .unwrap();
    }
    let hard = sb.ws.join("hard.log");
    std::fs::hard_link(&bashrc, &hard).unwrap();
    let mut refused = vec![(fifo, "not a regular file"), (hard, "other hard links")];
    // A file another user (uid 1) created where the log would go; making one needs root,
    // which the suite has in CI.
    if util::is_root() {
        let foreign = sb.ws.join("foreign.log");
        std::fs::write(&foreign, "").unwrap();
        std::os::unix::fs::chown(&foreign, Some(1), Some(1)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o666)).unwrap();
        refused.push((foreign, "belongs to another user"));
    }
    for (path, why) in &refused {
        sb.fence()
            .arg("--fence-log-file")
            .arg(path)
            .sh(&cfg, "echo ran")
            .run()
            .code(125)
            .stdout_lacks("ran")
            .stderr_has(why);
    }
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "# the user's shell startup\n"
    );
}

const PY_FORGE_LINES: &str = r#"
import socket
def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(data)
    s.shutdown(socket.SHUT_WR); reply = s.recv(1000); s.close(); return reply
print(raw(3128, b"GET http://blocked.example/x HTTP/1.1\r\nHost: a\n[fence:http] allowed CONNECT evil.example:443\r\n\r\n")[:12])
print(raw(3128, b"GET http://blocked.example/\x1b]0;PWNED\x07 HTTP/1.1\r\n\r\n")[:12])
print(raw(3128, b"GET http://blocked.example/a\r\n[fence:http] allowed CONNECT evil.example:443 HTTP/1.1\r\n\r\n")[:12])
print(raw(1080, b"\x05\x01\x00\x05\x01\x00\x03\x1c\n[fence:socks] allowed \x1b[31m\x00\x50"))
reply = raw(3128, b"CONNECT grey.example:443 HTTP/1.1\r\n\r\n")
print("grey:", reply)
"#;

/// What the sandbox (or an upstream answering for it) sends never forges a line of its
/// own in the log, nor reaches it with a terminal control character.
fn log_lines_are_escaped(user: User) {
    // The upstream proxy's refusal carries a C1 control (CSI) and a tab in its reason.
    let upstream =
        RawResponder::start(b"HTTP/1.1 403 \xc2\x9b31mred\tx\r\nContent-Length: 0\r\n\r\n");
    let sb = Sandbox::new(user);
    let cfg = allow(
        &sb,
        &format!(
            r#"{{"defaultAction": "proxy", "upstreamProxy": "http://127.0.0.1:{}"}}"#,
            upstream.port
        ),
    );
    sb.write(&sb.ws.join("forge.py"), PY_FORGE_LINES);
    let log = sb.root.join("fence.log");
    let run = sb
        .fence()
        .arg("-d")
        .arg("--fence-log-file")
        .arg(&log)
        .sh(&cfg, "python3 forge.py")
        .run();
    run.ok().stdout_has("b'HTTP/1.1 400'");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{9b}'),
        "{text:?}"
    );
    for line in text.lines() {
        assert!(
            line.starts_with("[fence:"),
            "a line fence did not write: {line:?}"
        );
        assert!(
            !line.contains("allowed CONNECT evil"),
            "a forged line: {line:?}"
        );
    }
    assert!(
        text.contains(
            "[fence:http] blocked CONNECT grey.example:443: the upstream proxy refused it \
             (403 \\u{9b}31mred\\tx)\n"
        ),
        "{text}"
    );
    // The 403 fence sends back quotes it escaped too.
    assert!(
        run.stdout.contains(r"(403 \\u{9b}31mred\\tx)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        *upstream.lines.lock().unwrap(),
        ["CONNECT grey.example:443 HTTP/1.1"]
    );
}

/// In the grey zone (`defaultAction: proxy`), destinations fence would never dial itself
/// (loopback, link-local, metadata, this host's addresses, localhost names, the host's own
/// name and names its hosts file maps to such addresses) are refused before the upstream
/// proxy sees them; an ordinary name still goes through it.
fn grey_zone_keeps_the_address_guard(user: User) {
    let origin = HttpServer::start("127.0.0.1:0");
    let upstream = UpstreamProxy::start(200, origin.port);
    let sb = Sandbox::new(user);
    let cfg = allow(
        &sb,
        &format!(
            r#"{{"defaultAction": "proxy", "upstreamProxy": "http://127.0.0.1:{}"}}"#,
            upstream.port
        ),
    );
    let own = other_host_addresses()[0];
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim();
    let refused = [
        "-p http://127.0.0.1:2222/".to_string(),
        "-p http://localhost:2222/".to_string(),
        "-p http://169.254.169.254:80/".to_string(),
        "-p http://100.100.100.200:80/".to_string(),
        "-p http://db.localhost:2222/".to_string(),
        "-g -p 'http://[::1]:2222/'".to_string(),
        "-g -p 'http://[::ffff:127.0.0.1]:2222/'".to_string(),
        "-g -p 'http://[fd00:ec2::254]:80/'".to_string(),
        format!("-p http://{own}:2222/"),
        format!("-p http://{hostname}:2222/"),
        "-p http://api.fence-test.example:2222/".to_string(),
        "http://metadata.fence-test.example/latest".to_string(),
        "-p http://ip6-localhost:2222/".to_string(),
        "http://127.0.0.1:2222/plain".to_string(),
        "http://localhost.:2222/plain".to_string(),
        "--socks5-hostname 127.0.0.1:1080 http://127.0.0.1:2222/".to_string(),
        "--socks5-hostname 127.0.0.1:1080 http://localhost:2222/".to_string(),
        "--socks5-hostname 127.0.0.1:1080 http://169.254.169.254/".to_string(),
    ];
    let mut script: String = refused
        .iter()
        .map(|args| format!("{CURL} -f {args} >/dev/null 2>&1; echo \"$?\"; "))
        .collect();
    script.push_str(&format!("{CURL} -p http://grey.example:443/via"));
    let hosts = format!("{HOSTS}::1 ip6-localhost\n");
    let run = sb
        .fence_with_hosts(&hosts)
        .arg("-m")
        .sh(&cfg, &script)
        .run();
    run.ok()
        .stdout_has("hello /via")
        .stderr_has(&format!(
            "{} is this host's name or a local",
            hostname.to_ascii_lowercase()
        ))
        .stderr_has(
            "CONNECT api.fence-test.example:2222: api.fence-test.example is this host's name",
        )
        .stderr_has(
            "metadata.fence-test.example/latest: metadata.fence-test.example is this host's",
        )
        .stderr_has("blocked CONNECT ip6-localhost:2222")
        .stderr_has("blocked CONNECT 127.0.0.1:2222: 127.0.0.1 is a loopback address")
        .stderr_has("blocked CONNECT localhost:2222: localhost is this host")
        .stderr_has("169.254.169.254 is a link-local address")
        .stderr_has("100.100.100.200 is a cloud metadata address")
        .stderr_has("fd00:ec2::254 is a cloud metadata address")
        .stderr_has(&format!("{own} is an address of this host"))
        .stderr_has("[fence:socks] blocked CONNECT localhost:2222");
    let codes: Vec<&str> = run.stdout.lines().take(refused.len()).collect();
    assert!(
        codes.iter().all(|c| *c != "0"),
        "every local destination failed: {codes:?}"
    );
    assert_eq!(
        *upstream.connects.lock().unwrap(),
        ["CONNECT grey.example:443 HTTP/1.1"],
        "the upstream proxy saw only the ordinary name"
    );
    assert_eq!(origin.hits(), 1);
}

const PY_FRAMING: &str = r#"
import socket, sys
port = int(sys.argv[1])
def raw(data):
    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(data)
    s.shutdown(socket.SHUT_WR); reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk: break
        reply += chunk
    s.close(); return reply
hidden = b"GET http://127.0.0.1:%d/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % port
chunked = b"%x\r\n" % len(hidden) + hidden + b"\r\n0\r\n\r\n"
head = b"POST http://127.0.0.1:%d/post HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (port, port)
length = b"Content-Length: %d\r\n" % len(hidden)
te = b"Transfer-Encoding: chunked\r\n"
cases = [
    (b"Connection: Content-Length\r\n" + length, hidden),
    (length + b"Connection: keep-alive, content-LENGTH\r\n", hidden),
    (b"Connection: close\r\n" + length + b"connection: Content-Length\r\n", hidden),
    (length + b"Proxy-Connection: Content-Length\r\n", hidden),
    (te + b"Connection: Transfer-Encoding\r\n", chunked),
    (b"Connection: keep-alive, Transfer-Encoding\r\n" + te, chunked),
    (te + b"Connection: close\r\nConnection: TRANSFER-encoding\r\n", chunked),
    (te + b"Proxy-Connection: transfer-encoding\r\n", chunked),
]
for fields, body in cases:
    print("framing:", raw(head + fields + b"\r\n" + body)[:12])
s = socket.create_connection(("127.0.0.1", 1080)); s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
s.sendall(bytes([5, 1, 0, 1, 127, 0, 0, 1]) + port.to_bytes(2, "big"))
print("socks reply:", s.recv(10).hex()); s.close()
"#;

/// A request whose Connection header names a framing header is refused with 400 (the
/// origin sees nothing, so no second request can hide in its body); a response framed both
/// ways loses its Content-Length; the SOCKS5 success reply does not reveal the host's
/// outbound address.
fn framing_headers_are_never_hop_by_hop(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let sb = Sandbox::new(user);
    let cfg = allow(&sb, r#"{"allowedDomains": ["127.0.0.1"]}"#);
    sb.write(&sb.ws.join("framing.py"), PY_FRAMING);
    let run = sb
        .fence()
        .sh(&cfg, &format!("python3 framing.py {}", server.port))
        .run();
    run.ok()
        .stdout_has("socks reply: 05000001000000000000\n")
        .stdout_lacks("framing: b'HTTP/1.1 200");
    assert_eq!(
        run.stdout.matches("framing: b'HTTP/1.1 400'").count(),
        8,
        "{}",
        run.stdout
    );
    assert_eq!(
        server.hits(),
        0,
        "the origin saw no request: {:?}",
        server.seen()
    );
    // The same request without the Connection naming goes through, body and all.
    let plain = sb.fence().sh(
        &cfg,
        &format!(
            "{CURL} -d 0123456789 -H 'Connection: keep-alive, X-Custom' \
             http://127.0.0.1:{}/post",
            server.port
        ),
    );
    plain.run().ok().stdout_has("hello /post");
    assert_eq!(
        server.seen(),
        [format!("POST /post host=127.0.0.1:{} body=10", server.port)]
    );
    // A response framed both ways reaches the client framed by Transfer-Encoding only.
    let both = RawResponder::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    );
    sb.fence()
        .sh(
            &cfg,
            &format!("{CURL} -si http://127.0.0.1:{}/both", both.port),
        )
        .run()
        .ok()
        .stdout_has("Transfer-Encoding: chunked")
        .stdout_has("hello")
        .stdout_lacks("Content-Length");
    assert_eq!(both.lines.lock().unwrap().len(), 1);
}

both_users!(
    log_file_is_never_followed_or_replaced,
    log_lines_are_escaped,
    grey_zone_keeps_the_address_guard,
    framing_headers_are_never_hop_by_hop,
    blocked_by_default_and_reported,
    allowed_ip_through_http_connect_and_socks,
    localhost_and_ipv6_literals,
    denied_beats_allowed,
    names_resolving_to_local_addresses_are_refused,
    local_outbound_ports_reach_the_host,
    exposed_ports,
    upstream_proxy_for_the_grey_zone,
    everything_allowed_shares_the_host_network,
    git_clone_over_http,
    ssh_proxy_command_helper,
    git_over_ssh_through_the_socks_connector,
    malformed_requests_and_many_clients,
    keep_alive_checks_every_request,
    scarce_file_descriptors,
    log_file_takes_the_monitor_lines,
);
