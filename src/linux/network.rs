//! The sandbox's network, host side: which addresses the init listens on inside the
//! namespace and what each is for, the sockets the host binds itself (`-p`, and the
//! proxies when the sandbox shares the host's network), and the proxy environment
//! variables the command gets.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;

use crate::error::Result;
use crate::events::EventSink;
use crate::host::NetworkService;
use crate::policy::Policy;
use crate::proxy::conn::Role;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

pub struct Prepared {
    /// Extra bwrap arguments (`--share-net` when the host's network is shared).
    pub bwrap_args: Vec<OsString>,
    /// Addresses the init listens on inside the namespace.
    pub listen: Vec<SocketAddr>,
    /// The init must answer connection requests (ports exposed with `-p`).
    pub connect_service: bool,
    /// Variables added to (or replacing those in) the command's environment.
    pub env: Vec<(OsString, OsString)>,
    pub network: NetworkService,
}

/// Plans the network side of a sandbox run for `policy`.
pub fn prepare(policy: &Policy, events: EventSink) -> Result<Prepared> {
    let net = &policy.network;
    let mut host_listeners: Vec<(OwnedFd, Role)> = Vec::new();
    let mut inside_roles: Vec<(SocketAddr, Role)> = Vec::new();
    let mut bwrap_args = Vec::new();
    let (http_port, socks_port) = if net.share_host_network {
        // No namespace: the proxies listen on the host's loopback, on ports the kernel picks.
        bwrap_args.push("--share-net".into());
        let http = crate::host::listen_on_host(SocketAddr::new(V4, 0), "the HTTP proxy")?;
        let socks = crate::host::listen_on_host(SocketAddr::new(V4, 0), "the SOCKS5 proxy")?;
        let ports = (http.1, socks.1);
        host_listeners.push((http.0, Role::Http));
        host_listeners.push((socks.0, Role::Socks));
        if !net.exposed.is_empty() {
            log::debug!("-p has no effect: the sandbox shares the host's network");
        }
        ports
    } else {
        for ip in [V4, V6] {
            inside_roles.push((SocketAddr::new(ip, net.http_port), Role::Http));
            inside_roles.push((SocketAddr::new(ip, net.socks_port), Role::Socks));
            for &port in &net.local_outbound_ports {
                let role = Role::LocalForward {
                    port,
                    ipv6: ip.is_ipv6(),
                };
                inside_roles.push((SocketAddr::new(ip, port), role));
            }
        }
        for addr in &net.exposed {
            let (fd, _) = crate::host::listen_on_host(*addr, &format!("-p {addr}"))?;
            host_listeners.push((fd, Role::Exposed { port: addr.port() }));
        }
        (net.http_port, net.socks_port)
    };
    let env = crate::proxy::env::proxy_env(http_port, socks_port, policy);
    Ok(Prepared {
        bwrap_args,
        listen: inside_roles.iter().map(|(addr, _)| *addr).collect(),
        connect_service: !net.share_host_network && !net.exposed.is_empty(),
        env,
        network: NetworkService {
            policy: net.clone(),
            events,
            host_listeners,
            inside_roles,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_for_each_address() {
        let mut policy = Policy::default();
        policy.network.local_outbound_ports = vec![5432];
        let prepared = prepare(&policy, EventSink::quiet()).unwrap();
        let roles = &prepared.network.inside_roles;
        assert_eq!(roles.len(), 6);
        assert!(roles.contains(&("127.0.0.1:3128".parse().unwrap(), Role::Http)));
        assert!(roles.contains(&("[::1]:1080".parse().unwrap(), Role::Socks)));
        assert!(roles.contains(&(
            "[::1]:5432".parse().unwrap(),
            Role::LocalForward {
                port: 5432,
                ipv6: true
            }
        )));
        assert!(prepared.bwrap_args.is_empty() && !prepared.connect_service);
        let value = |name: &str| {
            prepared
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("HTTPS_PROXY"), Some("http://127.0.0.1:3128".into()));
        assert_eq!(value("all_proxy"), Some("socks5h://127.0.0.1:1080".into()));
    }

    #[test]
    fn shared_network_binds_host_ports() {
        let mut policy = Policy::default();
        policy.network.share_host_network = true;
        let prepared = prepare(&policy, EventSink::quiet()).unwrap();
        assert_eq!(prepared.bwrap_args, vec![OsString::from("--share-net")]);
        assert!(prepared.listen.is_empty());
        assert_eq!(prepared.network.host_listeners.len(), 2);
        let http = prepared
            .env
            .iter()
            .find(|(k, _)| k == "HTTP_PROXY")
            .unwrap();
        assert!(!http.1.to_string_lossy().ends_with(":3128"));
    }
}
