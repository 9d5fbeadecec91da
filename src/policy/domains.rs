//! Network destinations and the domain policy: `allowedDomains` / `deniedDomains`
//! patterns, matched against the host a client asked the proxy for.

use std::fmt;
use std::net::IpAddr;

/// A destination host as a client named it: a DNS name (lower-cased, without a trailing
/// dot) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as it appears in a request: an IP literal (IPv6 with or without
    /// brackets) or a DNS name. Names are lower-cased and lose one trailing dot. Returns
    /// None for an empty name or one with bytes no DNS name has (spaces, controls, `/`,
    /// `@`, `:` outside an IPv6 literal, …).
    pub fn parse(text: &str) -> Option<Host> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Some(Host::Ip(ip));
        }
        let valid = !text.is_empty()
            && text.len() <= 253
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !text.split('.').any(str::is_empty)
            && !text.rsplit('.').next().is_some_and(numeric_label);
        valid.then(|| Host::Name(text.to_ascii_lowercase()))
    }
}

/// A last label the system resolver would read as (part of) an IPv4 address (`127.1`,
/// `2130706433`, `0x7f.1`): no real top-level domain looks like this, so such a "name"
/// is refused rather than let it slip past IP rules.
fn numeric_label(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || label.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Host {
    /// Names as they are, IPv4 dotted, IPv6 in brackets (ready for `host:port`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// One `allowedDomains`/`deniedDomains` entry, validated by the config loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPattern {
    /// `*`: every host.
    Any,
    /// `*.example.com`: every name under `example.com` (not `example.com` itself); the
    /// stored suffix is `.example.com`.
    Subdomains(String),
    /// `example.com` or `localhost`: that name exactly.
    Name(String),
    /// `127.0.0.1`, `::1`: that address, written as a literal by the client.
    Ip(IpAddr),
}

impl DomainPattern {
    /// Parses a pattern the config loader already validated (see
    /// `config::types::check_domain_pattern`); case and one trailing dot do not matter.
    pub fn parse(text: &str) -> DomainPattern {
        let text = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(&text);
        if text == "*" {
            DomainPattern::Any
        } else if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            DomainPattern::Ip(canonical_ip(ip))
        } else if let Some(rest) = text.strip_prefix('*') {
            DomainPattern::Subdomains(rest.to_string())
        } else {
            DomainPattern::Name(text)
        }
    }

    /// Whether the pattern names loopback only: a loopback IP literal (`127.0.0.0/8`,
    /// `::1`, their IPv4-mapped forms), `localhost` or a name under it (as a name or a
    /// wildcard). Clients leave such destinations to their own loopback (`NO_PROXY`).
    pub fn is_loopback(&self) -> bool {
        let local_name = |name: &str| name == "localhost" || name.ends_with(".localhost");
        match self {
            DomainPattern::Any => false,
            DomainPattern::Subdomains(suffix) => local_name(suffix.trim_start_matches('.')),
            DomainPattern::Name(name) => local_name(name),
            DomainPattern::Ip(ip) => ip.is_loopback(),
        }
    }

    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (DomainPattern::Any, _) => true,
            (DomainPattern::Subdomains(suffix), Host::Name(name)) => {
                name.ends_with(suffix.as_str())
            }
            (DomainPattern::Name(pattern), Host::Name(name)) => pattern == name,
            (DomainPattern::Ip(pattern), Host::Ip(ip)) => *pattern == canonical_ip(*ip),
            _ => false,
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainPattern::Any => f.write_str("*"),
            DomainPattern::Subdomains(suffix) => write!(f, "*{suffix}"),
            DomainPattern::Name(name) => f.write_str(name),
            DomainPattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is that IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What the proxy does with a request for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect directly. `literal` is true when the rule that allowed it names this exact
    /// host (an IP literal or `localhost` written as such): such a destination may be local.
    Allow { rule: String, literal: bool },
    /// Refuse, for this reason (shown to the client and in the monitor output).
    Deny { reason: String },
    /// Not allowed, not denied, and `defaultAction` is `proxy`: go through the upstream proxy.
    Upstream,
}

/// `allowedDomains` and `deniedDomains`, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainPolicy {
    pub allowed: Vec<DomainPattern>,
    pub denied: Vec<DomainPattern>,
    /// Hosts that match no rule go to the upstream proxy instead of being refused.
    pub grey_to_upstream: bool,
    /// `fence learn`: hosts that match no rule are let through (and recorded), with the
    /// rule [`LEARN_RULE`]. Set only by `fence learn`, never from a config file.
    pub learn: bool,
}

/// The rule of a host let through only because `fence learn` is running.
pub const LEARN_RULE: &str = "fence learn (not in allowedDomains)";

impl DomainPolicy {
    pub fn new(allowed: &[String], denied: &[String], grey_to_upstream: bool) -> DomainPolicy {
        DomainPolicy {
            allowed: allowed.iter().map(|p| DomainPattern::parse(p)).collect(),
            denied: denied.iter().map(|p| DomainPattern::parse(p)).collect(),
            grey_to_upstream,
            learn: false,
        }
    }

    /// `allowedDomains: ["*"]`.
    pub fn allows_everything(&self) -> bool {
        self.allowed.contains(&DomainPattern::Any)
    }

    /// Denied first (deny wins), then allowed, then the grey zone.
    pub fn decide(&self, host: &Host) -> Decision {
        if let Some(rule) = self.denied.iter().find(|p| p.matches(host)) {
            return Decision::Deny {
                reason: format!("matches deniedDomains entry \"{rule}\""),
            };
        }
        if let Some(rule) = self.allowed.iter().find(|p| p.matches(host)) {
            let literal = match (rule, host) {
                (DomainPattern::Ip(_), _) => true,
                (DomainPattern::Name(name), Host::Name(_)) => name == "localhost",
                _ => false,
            };
            return Decision::Allow {
                rule: rule.to_string(),
                literal,
            };
        }
        if self.grey_to_upstream {
            return Decision::Upstream;
        }
        if self.learn {
            // Not literal: the resolved-address guard still applies.
            return Decision::Allow {
                rule: LEARN_RULE.into(),
                literal: false,
            };
        }
        Decision::Deny {
            reason: "not in allowedDomains".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In learn mode, what no rule allows passes (not as a literal: the address guard
    /// still applies); deniedDomains and the upstream hand-off keep their say.
    #[test]
    fn learn_lets_the_grey_zone_through() {
        let name = |n: &str| Host::parse(n).unwrap();
        let mut p = DomainPolicy::new(&["a.example".into()], &["bad.example".into()], false);
        p.learn = true;
        assert_eq!(
            p.decide(&name("new.example")),
            Decision::Allow {
                rule: LEARN_RULE.into(),
                literal: false
            }
        );
        assert_eq!(
            p.decide(&name("127.0.0.1")),
            Decision::Allow {
                rule: LEARN_RULE.into(),
                literal: false
            }
        );
        assert!(matches!(
            p.decide(&name("bad.example")),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            p.decide(&name("a.example")),
            Decision::Allow { rule, .. } if rule == "a.example"
        ));
        p.grey_to_upstream = true;
        assert_eq!(p.decide(&name("new.example")), Decision::Upstream);
        // Never from a config: the constructor leaves it off.
        assert!(!DomainPolicy::new(&[], &[], false).learn);
    }

    fn host(s: &str) -> Host {
        Host::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn hosts_parse_like_request_targets() {
        assert_eq!(host("Example.COM."), Host::Name("example.com".into()));
        assert_eq!(host("[::1]"), Host::Ip("::1".parse().unwrap()));
        assert_eq!(host("::1"), Host::Ip("::1".parse().unwrap()));
        assert_eq!(host("10.0.0.1").to_string(), "10.0.0.1");
        assert_eq!(host("[::1]").to_string(), "[::1]");
        for bad in [
            "", ".", "a..b", "a b", "a/b", "user@x", "x:1", "[x]", "é.com",
        ] {
            assert_eq!(Host::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn matching_rules() {
        let cases = [
            ("*", "anything.example", true),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "a.b.EXAMPLE.com.", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "badexample.com", false),
            ("example.com", "EXAMPLE.com", true),
            ("example.com.", "example.com", true),
            ("example.com", "a.example.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("::1", "[::1]", true),
            ("[::1]", "::1", true),
            ("127.0.0.1", "localhost", false),
            ("localhost", "LOCALHOST", true),
        ];
        for (pattern, h, expected) in cases {
            assert_eq!(
                DomainPattern::parse(pattern).matches(&host(h)),
                expected,
                "{pattern} vs {h}"
            );
        }
    }

    #[test]
    fn loopback_patterns() {
        for pattern in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
            "[::ffff:127.0.0.1]",
            "localhost",
            "LocalHost.",
            "db.localhost",
            "*.localhost", // refused by the config loader (too broad), but loopback
            "*.app.localhost",
        ] {
            assert!(DomainPattern::parse(pattern).is_loopback(), "{pattern}");
        }
        for pattern in [
            "*",
            "10.0.0.1",
            "0.0.0.0",
            "::",
            "example.com",
            "localhost.example.com",
            "*.example.com",
            "notlocalhost",
            "169.254.169.254",
        ] {
            assert!(!DomainPattern::parse(pattern).is_loopback(), "{pattern}");
        }
    }

    #[test]
    fn deny_wins_then_allow_then_grey_zone() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = DomainPolicy::new(
            &list(&["*.example.com", "127.0.0.1", "localhost"]),
            &list(&["bad.example.com"]),
            false,
        );
        assert!(
            matches!(p.decide(&host("bad.example.com")), Decision::Deny { reason } if reason.contains("deniedDomains"))
        );
        assert_eq!(
            p.decide(&host("ok.example.com")),
            Decision::Allow {
                rule: "*.example.com".into(),
                literal: false
            }
        );
        assert_eq!(
            p.decide(&host("127.0.0.1")),
            Decision::Allow {
                rule: "127.0.0.1".into(),
                literal: true
            }
        );
        assert!(matches!(
            p.decide(&host("localhost")),
            Decision::Allow { literal: true, .. }
        ));
        assert!(
            matches!(p.decide(&host("other.org")), Decision::Deny { reason } if reason == "not in allowedDomains")
        );
        let grey = DomainPolicy::new(&list(&["a.com"]), &list(&["b.com"]), true);
        assert_eq!(grey.decide(&host("c.com")), Decision::Upstream);
        assert!(matches!(grey.decide(&host("b.com")), Decision::Deny { .. }));
        let everything = DomainPolicy::new(&list(&["*"]), &[], false);
        assert!(everything.allows_everything());
        assert!(matches!(
            everything.decide(&host("127.0.0.1")),
            Decision::Allow { literal: false, .. }
        ));
    }
}
