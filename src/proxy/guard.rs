//! The resolved-address guard: a name an allowed pattern matched may still resolve to the
//! host itself (loopback, its own interface addresses) or to link-local services such as
//! cloud metadata at 169.254.169.254. Those addresses are dropped before dialling, unless
//! the policy allows local outbound on that port (loopback and the host's own addresses
//! only) or the rule that allowed the request names the literal destination (an IP rule
//! such as `"169.254.169.254"`, or `"localhost"`). Private ranges (10/8, 192.168/16, …)
//! stay reachable: corporate registries live there.
//!
//! Cloud providers serve instance metadata and credentials on link-local addresses
//! (refused as a class, IPv4 and IPv6) and on a few addresses outside those ranges, listed
//! in [`METADATA`]. Every check sees through the IPv6 forms that carry an IPv4 address
//! (see [`embedded_v4`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud metadata and provider service addresses outside the link-local ranges (which are
/// refused whole: 169.254.0.0/16 holds the metadata service of AWS, Google Cloud, Azure,
/// Oracle, DigitalOcean, Hetzner, OpenStack, IBM VPC and others, ECS task metadata at
/// 169.254.170.2, EKS Pod Identity at 169.254.170.23, Tencent's at 169.254.0.23). Keep
/// this table and the README's "Network" section in step.
pub const METADATA: &[(IpAddr, &str)] = &[
    (v6(0xfd00, 0xec2, 0x254), "AWS instance metadata (IPv6)"),
    (v6(0xfd00, 0xec2, 0x23), "AWS EKS Pod Identity agent (IPv6)"),
    (
        v6(0xfd20, 0xce, 0x254),
        "Google Compute Engine metadata (IPv6)",
    ),
    (v4(100, 100, 100, 200), "Alibaba Cloud instance metadata"),
    (
        v4(168, 63, 129, 16),
        "Azure WireServer (guest agent, extension settings)",
    ),
    (v4(192, 0, 0, 192), "Oracle Cloud legacy instance metadata"),
];

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// `prefix0:prefix1::last`.
const fn v6(prefix0: u16, prefix1: u16, last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(prefix0, prefix1, 0, 0, 0, 0, 0, last))
}

/// Why an address counts as local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Loopback,
    /// One of this host's interface addresses (its LAN address, say).
    OwnAddress,
    /// Link-local, where cloud metadata services live (169.254.169.254).
    LinkLocal,
    /// A cloud provider's metadata or service address outside link-local ([`METADATA`]).
    Metadata,
    Unspecified,
    MulticastOrBroadcast,
}

impl Local {
    /// Loopback and the host's own addresses: what `allowLocalOutboundPorts` may open.
    pub fn is_host(self) -> bool {
        matches!(self, Local::Loopback | Local::OwnAddress)
    }
}

impl std::fmt::Display for Local {
    /// Fits "x resolves to 127.0.0.1, {}" and "127.0.0.1 is {}".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Local::Loopback => "a loopback address",
            Local::OwnAddress => "an address of this host",
            Local::LinkLocal => "a link-local address (cloud metadata lives there)",
            Local::Metadata => "a cloud metadata address",
            Local::Unspecified => "an unspecified address",
            Local::MulticastOrBroadcast => "a multicast or broadcast address",
        })
    }
}

/// Names that are this host without being `localhost`: the names the hosts file (`text`)
/// maps to a local address (`127.0.1.1 myhost`, `::1 ip6-localhost`,
/// `127.0.0.1 localhost.localdomain`), the host's own name, and `_outbound` (which
/// systemd-resolved answers with the host's own address). A proxy on this host resolves
/// them to itself. Lower case, without a trailing dot, sorted and without duplicates.
pub fn local_names(hosts: &str, hostname: &str, own: &[IpAddr]) -> Vec<String> {
    let canonical = |name: &str| name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let mut names: Vec<String> = vec!["_outbound".to_string()];
    if !hostname.trim().is_empty() {
        names.push(canonical(hostname.trim()));
    }
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
            continue;
        };
        if local_reason(ip, own).is_some() {
            names.extend(fields.map(canonical));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Why an address counts as local, or None when it may be dialled.
pub fn local_reason(ip: IpAddr, own: &[IpAddr]) -> Option<Local> {
    let ip = embedded_v4(ip);
    if own.contains(&ip) {
        return Some(if ip.is_loopback() {
            Local::Loopback
        } else {
            Local::OwnAddress
        });
    }
    if METADATA.iter().any(|(listed, _)| *listed == ip) {
        return Some(Local::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<Local> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some(Local::Loopback)
    } else if ip.is_link_local() {
        Some(Local::LinkLocal)
    } else if ip.is_unspecified() || o[0] == 0 {
        Some(Local::Unspecified)
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some(Local::MulticastOrBroadcast)
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<Local> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(Local::Loopback)
    } else if ip.is_unspecified() {
        Some(Local::Unspecified)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Local::LinkLocal)
    } else if ip.is_multicast() {
        Some(Local::MulticastOrBroadcast)
    } else {
        None
    }
}

/// The IPv4 address inside an IPv6 one, for the forms that reach it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (the well-known
/// `64:ff9b::/96` and the local-use `64:ff9b:1::/96` of RFC 8215) and 6to4
/// (`2002:AABB:CCDD::/48`). Other addresses are returned as they are.
pub fn embedded_v4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        IpAddr::V4(v4)
    } else if (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || s[..6] == [0x64, 0xff9b, 1, 0, 0, 0]
    {
        IpAddr::V4(tail)
    } else if s[0] == 0x2002 {
        IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(ip: &str) -> Option<Local> {
        local_reason(ip.parse().unwrap(), &["10.1.2.3".parse().unwrap()])
    }

    #[test]
    fn local_addresses_and_their_disguises() {
        let local = [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fd00:ec2::254",
            "10.1.2.3",
            "::ffff:10.1.2.3",
        ];
        for ip in local {
            assert!(reason(ip).is_some(), "{ip} should be local");
        }
        assert_eq!(reason("10.1.2.3"), Some(Local::OwnAddress));
        assert_eq!(reason("::ffff:127.0.0.1"), Some(Local::Loopback));
        assert_eq!(reason("169.254.169.254"), Some(Local::LinkLocal));
        let remote = [
            "93.184.216.34",
            "10.0.0.1",
            "192.168.1.10",
            "172.16.0.1",
            "2606:2800:220:1::1",
            "::ffff:93.184.216.34",
            "fd12::1",
        ];
        for ip in remote {
            assert_eq!(reason(ip), None, "{ip} should be dialable");
        }
    }

    /// The IPv6 forms that carry an IPv4 address.
    fn disguises(v4: Ipv4Addr) -> Vec<IpAddr> {
        let [a, b, c, d] = v4.octets();
        let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        [
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, hi, lo),
            Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
        ]
        .into_iter()
        .map(IpAddr::V6)
        .collect()
    }

    #[test]
    fn names_of_this_host() {
        let hosts = "# comment\n127.0.0.1 localhost\n127.0.1.1\tMyHost.example. myhost\n\
                     ::1 ip6-localhost ip6-loopback # trailing comment\n\
                     10.1.2.3 lan-name\n192.168.1.9 printer\nnot-an-ip name\n\
                     169.254.169.254 metadata.google.internal\n";
        let own: [IpAddr; 1] = ["10.1.2.3".parse().unwrap()];
        assert_eq!(
            local_names(hosts, "VM\n", &own),
            [
                "_outbound",
                "ip6-localhost",
                "ip6-loopback",
                "lan-name",
                "localhost",
                "metadata.google.internal",
                "myhost",
                "myhost.example",
                "vm",
            ]
        );
        assert_eq!(local_names("", "", &[]), ["_outbound"]);
    }

    #[test]
    fn metadata_table_and_its_disguises() {
        for (ip, provider) in METADATA {
            assert_eq!(local_reason(*ip, &[]), Some(Local::Metadata), "{provider}");
            if let IpAddr::V4(v4) = ip {
                for form in disguises(*v4) {
                    assert_eq!(local_reason(form, &[]), Some(Local::Metadata), "{form}");
                }
            }
        }
        // Link-local service addresses are refused as a class, in every form.
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "169.254.0.23",
        ] {
            let v4: Ipv4Addr = ip.parse().unwrap();
            assert_eq!(reason(ip), Some(Local::LinkLocal), "{ip}");
            for form in disguises(v4) {
                assert_eq!(local_reason(form, &[]), Some(Local::LinkLocal), "{form}");
            }
        }
        assert_eq!(reason("fe80::a9fe:a9fe"), Some(Local::LinkLocal));
        // Neighbours of listed addresses stay reachable.
        for ip in [
            "100.100.100.100",
            "168.63.129.17",
            "192.0.0.193",
            "fd00:ec2::1",
            "fd20:ce::1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }
}
