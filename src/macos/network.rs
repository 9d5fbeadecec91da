//! The network on macOS: no namespace to serve the proxies in, so fence's HTTP and SOCKS5
//! proxies listen on host loopback ports chosen at start (host listeners of the shared
//! proxy, the path the Linux backend takes when the sandbox shares the host's network), and
//! the profile lets the command reach only those ports, the `allowLocalOutboundPorts`
//! (directly: they are on the same loopback) and the allowed Unix sockets. `-p` needs no
//! forwarder: the profile allows the command to listen on that port itself.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};

use crate::error::Result;
use crate::events::EventSink;
use crate::host::NetworkService;
use crate::policy::Policy;
use crate::proxy::conn::Role;

/// The proxies listen on the host's IPv4 loopback, on ports the kernel picks.
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The proxies for one run.
pub struct HostProxies {
    pub network: NetworkService,
    /// `HTTP_PROXY` and friends, `GIT_SSH_COMMAND`.
    pub env: Vec<(OsString, OsString)>,
    /// The ports they listen on (HTTP, SOCKS5), for the profile.
    pub ports: Vec<u16>,
}

/// Binds the proxies on 127.0.0.1 (ports the kernel picks) for `policy`.
pub fn host_proxies(policy: &Policy, events: EventSink) -> Result<HostProxies> {
    let http = crate::host::listen_on_host(LOOPBACK, "the HTTP proxy")?;
    let socks = crate::host::listen_on_host(LOOPBACK, "the SOCKS5 proxy")?;
    let ports = vec![http.1, socks.1];
    let env = crate::proxy::env::proxy_env(http.1, socks.1, policy);
    Ok(HostProxies {
        network: NetworkService {
            policy: policy.network.clone(),
            events,
            host_listeners: vec![(http.0, Role::Http), (socks.0, Role::Socks)],
            inside_roles: Vec::new(),
        },
        env,
        ports,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::os::fd::BorrowedFd;
    use std::time::Duration;

    use super::*;
    use crate::host::signal_pipe::{self, SignalPipe};
    use crate::host::{self, Action, Backend};

    /// A stand-in sandbox for the host loop: a child process that runs until the client
    /// is done (macOS's command, without sandbox-exec).
    struct Sleeper(libc::pid_t);

    impl Backend for Sleeper {
        fn sources(&self) -> Vec<BorrowedFd<'_>> {
            Vec::new()
        }
        fn on_readable(&mut self, _: usize, _: &mut Vec<Action>) {}
        fn read_reports(&mut self, _: &mut Vec<Action>) {}
        fn on_child(&mut self, _: &mut Vec<Action>) -> std::io::Result<bool> {
            Ok(crate::sys::try_wait(self.0, false)?.is_some())
        }
        fn started(&self) -> bool {
            true
        }
        fn signal_target(&self) -> Option<libc::pid_t> {
            Some(self.0)
        }
        fn abandon(&mut self) {}
        fn finish(&mut self) {}
        fn connect_inside(&self) -> std::io::Result<Option<crate::proxy::server::ConnectInside>> {
            Ok(None)
        }
    }

    /// A local server answering one request with `ok`, if one comes.
    fn server() -> (u16, std::thread::JoinHandle<bool>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            for _ in 0..200 {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 1024];
                        let _ = conn.read(&mut buf);
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        );
                        return true;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(25)),
                }
            }
            false
        });
        (port, handle)
    }

    fn get(proxy: u16, url: &str) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        write!(
            conn,
            "GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply
    }

    /// The proxies as macOS runs them, on host-port listeners in the shared host loop: a
    /// client on 127.0.0.1 reaches an allowed local server through them and is refused a
    /// denied one, which sees no connection.
    #[test]
    fn host_port_proxies_filter_a_loopback_client() {
        let _serial = signal_pipe::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (allowed, allowed_server) = server();
        let (denied, denied_server) = server();
        let cfg: crate::Config =
            serde_json::from_str(r#"{"network": {"allowedDomains": ["localhost"]}}"#).unwrap();
        let mut policy = Policy::default();
        policy.network = crate::policy::network::compile(&cfg, &[]).unwrap().0;
        let proxies = host_proxies(&policy, EventSink::quiet()).unwrap();
        let http = proxies.ports[0];
        let proxy_var = proxies
            .env
            .iter()
            .find(|(k, _)| k == "HTTP_PROXY")
            .unwrap()
            .1
            .clone();
        assert_eq!(
            proxy_var,
            OsString::from(format!("http://127.0.0.1:{http}"))
        );
        let mut signals = SignalPipe::new(&[libc::SIGCHLD]).unwrap();
        // Reaped by the loop (`Sleeper::on_child`).
        let pid = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap()
            .id() as libc::pid_t;
        let client = std::thread::spawn(move || {
            let ok = get(http, &format!("http://localhost:{allowed}/"));
            let refused = get(http, &format!("http://127.0.0.1:{denied}/"));
            let _ = crate::sys::kill(pid, libc::SIGTERM);
            (ok, refused)
        });
        let terminal = host::Terminal::default();
        host::run(
            &mut Sleeper(pid),
            &mut signals,
            Some(proxies.network),
            terminal,
            Vec::new(),
        )
        .unwrap();
        drop(signals);
        let (ok, refused) = client.join().unwrap();
        assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("ok"), "{ok}");
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        assert!(allowed_server.join().unwrap());
        assert!(
            !denied_server.join().unwrap(),
            "the denied server saw a connection"
        );
    }
}
