//! The network policy: which hosts the proxies let through, the local ports the sandbox may
//! reach on the host, and the sandbox ports exposed on the host (`-p`).

use std::net::SocketAddr;

use super::domains::{DomainPattern, DomainPolicy, Host};
use crate::config::Config;
use crate::error::{Error, Result};

/// In-sandbox proxy ports unless `httpProxyPort`/`socksProxyPort` say otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 3128;
pub const DEFAULT_SOCKS_PORT: u16 = 1080;
/// The sandbox's `NO_PROXY`: clients reach these on the sandbox's own loopback.
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub domains: DomainPolicy,
    /// `allowedDomains: ["*"]`: the sandbox shares the host's network (no namespace); the
    /// proxies still filter clients that use them (`deniedDomains`).
    pub share_host_network: bool,
    /// `upstreamProxy` (http://), used for hosts in the grey zone with `defaultAction: proxy`.
    pub upstream: Option<(Host, u16)>,
    /// Ports of the proxies inside the sandbox (on 127.0.0.1 and ::1).
    pub http_port: u16,
    pub socks_port: u16,
    /// Host loopback ports reachable from inside on the same port (`allowLocalOutbound` with
    /// `allowLocalOutboundPorts`).
    pub local_outbound_ports: Vec<u16>,
    /// `-p`: host address to listen on; the sandbox's port has the same number.
    pub exposed: Vec<SocketAddr>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            domains: DomainPolicy::default(),
            share_host_network: false,
            upstream: None,
            http_port: DEFAULT_HTTP_PORT,
            socks_port: DEFAULT_SOCKS_PORT,
            local_outbound_ports: Vec::new(),
            exposed: Vec::new(),
        }
    }
}

impl NetworkPolicy {
    /// Whether a destination in the host's local ranges (loopback, its own addresses) may be
    /// reached through the proxies on this port.
    pub fn local_port_allowed(&self, port: u16) -> bool {
        self.local_outbound_ports.contains(&port)
    }

    /// Whether anything may pass at all (which reduced isolation, without a network
    /// namespace to serve the proxies in, cannot provide).
    pub fn allows_anything(&self) -> bool {
        !self.domains.allowed.is_empty()
            || self.domains.grey_to_upstream
            || self.domains.learn
            || !self.local_outbound_ports.is_empty()
            || !self.exposed.is_empty()
    }
}

/// Compiles the network part of `cfg`; `exposed` comes from `-p`. Returns the policy and
/// warnings to show.
pub fn compile(cfg: &Config, exposed: &[SocketAddr]) -> Result<(NetworkPolicy, Vec<String>)> {
    let n = &cfg.network;
    let mut warnings = Vec::new();
    let upstream = n
        .upstream_proxy
        .as_deref()
        .map(parse_upstream)
        .transpose()?;
    // The Go fence's compatibility rule: an upstream proxy without a defaultAction is used
    // for the grey zone.
    let grey_to_upstream = match n.default_action {
        Some(crate::config::types::DefaultAction::Proxy) => true,
        Some(crate::config::types::DefaultAction::Deny) => false,
        None => upstream.is_some(),
    };
    if grey_to_upstream && upstream.is_none() {
        return Err(Error::ConfigValue {
            key: "network.defaultAction".into(),
            value: None,
            message: "\"proxy\" requires network.upstreamProxy to be set".into(),
        });
    }
    let domains = DomainPolicy::new(&n.allowed_domains, &n.denied_domains, grey_to_upstream);
    let share_host_network = domains.allows_everything();
    if share_host_network {
        warnings.push(
            "allowedDomains contains \"*\": the sandbox shares the host's network; only \
             programs that use the proxy (HTTP_PROXY, ALL_PROXY) are held to deniedDomains"
                .into(),
        );
    }
    if let Some(warning) = loopback_warning(&n.allowed_domains, share_host_network) {
        warnings.push(warning);
    }
    let http_port = n.http_proxy_port.unwrap_or(DEFAULT_HTTP_PORT);
    let socks_port = n.socks_proxy_port.unwrap_or(DEFAULT_SOCKS_PORT);
    if http_port == socks_port {
        // Located at the one the config sets (at least one is set: the defaults differ).
        let (key, other) = match n.socks_proxy_port {
            Some(_) => ("network.socksProxyPort", "HTTP"),
            None => ("network.httpProxyPort", "SOCKS5"),
        };
        return Err(Error::ConfigValue {
            key: key.into(),
            value: None,
            message: format!("{http_port} is also the {other} proxy port"),
        });
    }
    let local_outbound = n.allow_local_outbound.unwrap_or(n.allow_local_binding);
    let mut local_outbound_ports = Vec::new();
    if local_outbound {
        if n.allow_local_outbound_ports.is_empty() && !share_host_network {
            warnings.push(
                "network.allowLocalOutbound is set but network.allowLocalOutboundPorts is \
                 empty: no host port is reachable (list the ports to allow)"
                    .into(),
            );
        }
        for &port in &n.allow_local_outbound_ports {
            if port == http_port || port == socks_port {
                return Err(Error::ConfigValue {
                    key: "network.allowLocalOutboundPorts".into(),
                    value: Some(port.to_string()),
                    message: format!(
                        "{port} conflicts with the sandbox's {} proxy port",
                        if port == http_port { "HTTP" } else { "SOCKS5" }
                    ),
                });
            }
            if !local_outbound_ports.contains(&port) {
                local_outbound_ports.push(port);
            }
        }
    }
    for addr in exposed {
        if !share_host_network && [http_port, socks_port].contains(&addr.port()) {
            return Err(Error::Usage(format!(
                "-p {addr}: port {} is the sandbox's proxy port",
                addr.port()
            )));
        }
        // Inside, that port would be the forwarder to the host's same port: a loop.
        if !share_host_network && local_outbound_ports.contains(&addr.port()) {
            return Err(Error::Usage(format!(
                "-p {addr}: port {} is also in network.allowLocalOutboundPorts",
                addr.port()
            )));
        }
    }
    Ok((
        NetworkPolicy {
            domains,
            share_host_network,
            upstream,
            http_port,
            socks_port,
            local_outbound_ports,
            exposed: exposed.to_vec(),
        },
        warnings,
    ))
}

/// A warning for `allowedDomains` entries that name loopback (`127.0.0.1`, `[::1]`,
/// `localhost`, ...): clients that honour `NO_PROXY` (curl, git, pip, npm, ...) and Go
/// programs (which never proxy a loopback address) connect to the sandbox's own loopback
/// for them, never to the proxy, and fail without a word from fence. The host's loopback
/// is reached through `allowLocalOutboundPorts`. Nothing to say when the sandbox shares the
/// host's network (`"*"`), where loopback is the host's.
fn loopback_warning(allowed: &[String], share_host_network: bool) -> Option<String> {
    let entries: Vec<String> = allowed
        .iter()
        .filter(|entry| DomainPattern::parse(entry).is_loopback())
        .map(|entry| format!("\"{entry}\""))
        .collect();
    if entries.is_empty() || share_host_network {
        return None;
    }
    Some(format!(
        "network.allowedDomains lists {}: clients skip the proxy for loopback destinations \
         (NO_PROXY is {NO_PROXY}; Go programs skip it for every loopback address) and reach \
         the sandbox's own loopback instead; to reach a port on the host's loopback, set \
         network.allowLocalOutbound and list the port in network.allowLocalOutboundPorts",
        entries.join(", ")
    ))
}

/// A TCP port as written in a URL, a request line or on the command line: one to five
/// decimal digits (no sign, no spaces), 1–65535. The one parser every part of fence uses.
pub fn parse_port(text: &str) -> Option<u16> {
    let digits = (1..=5).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .filter(|&port| port != 0)
}

/// `http://host[:port][/]` → host and port (80 by default). The config loader has
/// checked the scheme.
fn parse_upstream(url: &str) -> Result<(Host, u16)> {
    let bad = |why: &str| Error::ConfigValue {
        key: "network.upstreamProxy".into(),
        value: None,
        message: format!("{url:?}: {why}"),
    };
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            let port = parse_port(port).ok_or_else(|| bad("invalid port"))?;
            (host, port)
        }
        _ => (authority, 80),
    };
    let host = Host::parse(host).ok_or_else(|| bad("invalid host"))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ports_are_one_to_five_digits_and_not_zero() {
        for (text, want) in [
            ("80", Some(80)),
            ("65535", Some(65535)),
            ("00080", Some(80)),
            ("1", Some(1)),
            ("0", None),
            ("65536", None),
            ("000080", None),
            ("+80", None),
            ("-1", None),
            (" 80", None),
            ("", None),
            ("8O", None),
        ] {
            assert_eq!(parse_port(text), want, "{text:?}");
        }
    }

    #[test]
    fn defaults_and_ports() {
        let (p, w) = compile(&Config::default(), &[]).unwrap();
        assert_eq!((p.http_port, p.socks_port), (3128, 1080));
        assert!(!p.share_host_network && w.is_empty() && p.upstream.is_none());
        let (p, _) = compile(
            &cfg(r#"{"network": {"httpProxyPort": 8080, "socksProxyPort": 9050}}"#),
            &[],
        )
        .unwrap();
        assert_eq!((p.http_port, p.socks_port), (8080, 9050));
        assert!(compile(&cfg(r#"{"network": {"httpProxyPort": 1080}}"#), &[]).is_err());
    }

    #[test]
    fn local_outbound() {
        let (p, w) = compile(
            &cfg(r#"{"network": {"allowLocalOutbound": true, "allowLocalOutboundPorts": [5432, 5432, 6379]}}"#),
            &[],
        )
        .unwrap();
        assert_eq!(p.local_outbound_ports, vec![5432, 6379]);
        assert!(w.is_empty() && p.local_port_allowed(5432) && !p.local_port_allowed(80));
        // allowLocalBinding implies allowLocalOutbound unless it is set.
        let (p, _) = compile(
            &cfg(r#"{"network": {"allowLocalBinding": true, "allowLocalOutboundPorts": [5432]}}"#),
            &[],
        )
        .unwrap();
        assert_eq!(p.local_outbound_ports, vec![5432]);
        let (p, _) = compile(
            &cfg(r#"{"network": {"allowLocalBinding": true, "allowLocalOutbound": false, "allowLocalOutboundPorts": [5432]}}"#),
            &[],
        )
        .unwrap();
        assert!(p.local_outbound_ports.is_empty());
        let (_, w) = compile(&cfg(r#"{"network": {"allowLocalOutbound": true}}"#), &[]).unwrap();
        assert!(w[0].contains("allowLocalOutboundPorts is empty"), "{w:?}");
        let err = compile(
            &cfg(r#"{"network": {"allowLocalOutbound": true, "allowLocalOutboundPorts": [3128]}}"#),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("conflicts"), "{err}");
    }

    #[test]
    fn loopback_entries_warn_once_with_the_fix() {
        let (_, w) = compile(
            &cfg(
                r#"{"network": {"allowedDomains": ["example.com", "127.0.0.1", "[::1]",
                "LocalHost.", "*.app.localhost", "::ffff:127.0.0.1"]}}"#,
            ),
            &[],
        )
        .unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "network.allowedDomains lists \"127.0.0.1\", \"[::1]\", \"LocalHost.\", \
                 \"*.app.localhost\", \"::ffff:127.0.0.1\": clients skip the proxy"
            ),
            "{w:?}"
        );
        assert!(
            w[0].contains("NO_PROXY is localhost,127.0.0.1,::1")
                && w[0].ends_with(
                    "set network.allowLocalOutbound and list the port in \
                     network.allowLocalOutboundPorts"
                ),
            "{w:?}"
        );
        for quiet in [
            r#"{"network": {"allowedDomains": ["example.com", "10.0.0.1", "*.example.org"]}}"#,
            // With "*" the sandbox's loopback is the host's: the entry works as written.
            r#"{"network": {"allowedDomains": ["*", "127.0.0.1"]}}"#,
            r#"{"network": {"deniedDomains": ["localhost"]}}"#,
        ] {
            let (_, w) = compile(&cfg(quiet), &[]).unwrap();
            assert!(w.iter().all(|w| !w.contains("loopback")), "{quiet}: {w:?}");
        }
    }

    #[test]
    fn upstream_and_default_action() {
        let (p, _) = compile(
            &cfg(r#"{"network": {"upstreamProxy": "http://proxy.corp:8080/"}}"#),
            &[],
        )
        .unwrap();
        assert_eq!(p.upstream, Some((Host::Name("proxy.corp".into()), 8080)));
        assert!(
            p.domains.grey_to_upstream,
            "compat: upstream without defaultAction"
        );
        let (p, _) = compile(
            &cfg(r#"{"network": {"upstreamProxy": "http://[::1]", "defaultAction": "deny"}}"#),
            &[],
        )
        .unwrap();
        assert_eq!(p.upstream, Some((Host::Ip("::1".parse().unwrap()), 80)));
        assert!(!p.domains.grey_to_upstream);
        assert!(compile(&cfg(r#"{"network": {"defaultAction": "proxy"}}"#), &[]).is_err());
        assert!(
            compile(
                &cfg(r#"{"network": {"upstreamProxy": "http://u:p@x.com:1"}}"#),
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn everything_allowed_shares_the_host_network() {
        let (p, w) = compile(&cfg(r#"{"network": {"allowedDomains": ["*"]}}"#), &[]).unwrap();
        assert!(p.share_host_network);
        assert!(w[0].contains("shares the host's network"));
    }

    #[test]
    fn exposed_ports_cannot_take_the_proxy_ports() {
        let addr: SocketAddr = "127.0.0.1:3128".parse().unwrap();
        assert!(compile(&Config::default(), &[addr]).is_err());
        let addr: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert_eq!(
            compile(&Config::default(), &[addr]).unwrap().0.exposed,
            vec![addr]
        );
    }
}
