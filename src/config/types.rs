//! The config file schema: the Go fence's fields and names, parsed strictly.
//!
//! Unknown keys are errors (`deny_unknown_fields`), values are validated while they are
//! parsed so that serde_json reports the line and column of the bad value.

use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// One config file (or the result of merging an `extends` chain).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// JSON-schema reference for editors; metadata only.
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    pub extends: Option<String>,
    pub allow_pty: bool,
    pub force_new_session: Option<bool>,
    /// Run with Landlock and seccomp alone where namespaces are refused (fence's addition to
    /// the Go schema; the same as `--allow-reduced-isolation`).
    pub allow_reduced_isolation: bool,
    /// No summary line of blocked requests at exit (fence's addition; the same as `-q`).
    pub quiet: bool,
    pub network: Network,
    pub filesystem: Filesystem,
    pub devices: Devices,
    pub command: CommandRules,
    pub ssh: Ssh,
    pub macos: Macos,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Network {
    #[serde(deserialize_with = "domain_patterns")]
    pub allowed_domains: Vec<String>,
    #[serde(deserialize_with = "domain_patterns")]
    pub denied_domains: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allow_unix_sockets: Vec<String>,
    pub allow_all_unix_sockets: bool,
    pub allow_local_binding: bool,
    pub allow_local_outbound: Option<bool>,
    #[serde(deserialize_with = "ports")]
    pub allow_local_outbound_ports: Vec<u16>,
    #[serde(deserialize_with = "optional_port")]
    pub http_proxy_port: Option<u16>,
    #[serde(deserialize_with = "optional_port")]
    pub socks_proxy_port: Option<u16>,
    #[serde(deserialize_with = "upstream_proxy")]
    pub upstream_proxy: Option<String>,
    pub default_action: Option<DefaultAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    Deny,
    Proxy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Filesystem {
    pub default_deny_read: bool,
    pub strict_deny_read: bool,
    pub wsl_interop: Option<bool>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allow_read: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allow_execute: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub deny_read: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allow_write: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub deny_write: Vec<String>,
    pub allow_git_config: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Devices {
    pub mode: Option<DeviceMode>,
    #[serde(deserialize_with = "device_paths")]
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceMode {
    Auto,
    Minimal,
    Host,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandRules {
    #[serde(deserialize_with = "non_empty_strings")]
    pub deny: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allow: Vec<String>,
    pub use_defaults: Option<bool>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub accept_shared_binary_cannot_runtime_deny: Vec<String>,
    pub runtime_exec_policy: Option<RuntimeExecPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeExecPolicy {
    Path,
    Argv,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Ssh {
    #[serde(deserialize_with = "host_patterns")]
    pub allowed_hosts: Vec<String>,
    #[serde(deserialize_with = "host_patterns")]
    pub denied_hosts: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub allowed_commands: Vec<String>,
    #[serde(deserialize_with = "non_empty_strings")]
    pub denied_commands: Vec<String>,
    pub allow_all_commands: bool,
    pub inherit_deny: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Macos {
    pub mach: Mach,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Mach {
    #[serde(deserialize_with = "mach_patterns")]
    pub lookup: Vec<String>,
    #[serde(deserialize_with = "mach_patterns")]
    pub register: Vec<String>,
}

/// A check on one string: `Err` holds the message.
type Check = fn(&str) -> Result<(), String>;

/// A string checked as soon as it is read. serde_json then reports a bad entry at its own
/// line and column, with its key path (`network.allowedDomains[1]`); a check run after the
/// whole list was read would be reported where the enclosing object ends.
#[derive(Clone, Copy)]
struct Checked(Check);

impl<'de> de::Visitor<'de> for Checked {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        (self.0)(s).map_err(E::custom)?;
        Ok(s.to_owned())
    }
}

impl<'de> de::DeserializeSeed<'de> for Checked {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

/// A list of [`Checked`] strings.
struct CheckedList(Check);

impl<'de> de::Visitor<'de> for CheckedList {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Checked(self.0))? {
            out.push(item);
        }
        Ok(out)
    }
}

/// Deserializes a list of strings, checking each with `check` as it is read.
fn checked_strings<'de, D: Deserializer<'de>>(
    deserializer: D,
    check: Check,
) -> Result<Vec<String>, D::Error> {
    deserializer.deserialize_seq(CheckedList(check))
}

fn non_empty_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked_strings(d, |s| {
        if s.trim().is_empty() {
            Err("empty entry".into())
        } else {
            Ok(())
        }
    })
}

fn domain_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked_strings(d, check_domain_pattern)
}

fn host_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked_strings(d, check_host_pattern)
}

fn mach_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked_strings(d, |s| {
        let star = s.find('*');
        match star {
            _ if s.is_empty() => Err("empty Mach service pattern".into()),
            None => Ok(()),
            Some(i) if i == s.len() - 1 => Ok(()),
            Some(_) => Err(format!(
                "{s:?}: wildcards are only allowed as a single trailing '*'"
            )),
        }
    })
}

fn device_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked_strings(d, |s| {
        let trimmed = s.trim_end_matches('/');
        if trimmed == "/dev" {
            Err(format!(
                "{s:?} is too broad; use devices.mode \"host\" instead"
            ))
        } else if !s.starts_with("/dev/") || s.split('/').any(|c| c == "..") {
            Err(format!("{s:?} must be a path under /dev/"))
        } else {
            Ok(())
        }
    })
}

/// A port number checked as it is read (see [`Checked`]); 0 is "unset" where `zero_is_none`.
#[derive(Clone, Copy)]
struct Port {
    zero_is_none: bool,
}

impl<'de> de::Visitor<'de> for Port {
    type Value = Option<u16>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number (1-65535)")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u16>, E> {
        if n == 0 && self.zero_is_none {
            return Ok(None);
        }
        port(n).map(Some).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u16>, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format!(
                "port {n} is out of range (expected 1-65535)"
            ))),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<u16>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u16>, D::Error> {
        d.deserialize_u64(self)
    }
}

impl<'de> de::DeserializeSeed<'de> for Port {
    type Value = Option<u16>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u16>, D::Error> {
        d.deserialize_u64(self)
    }
}

/// A list of ports, each checked as it is read.
struct PortList;

impl<'de> de::Visitor<'de> for PortList {
    type Value = Vec<u16>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u16>, A::Error> {
        let mut out = Vec::new();
        let seed = Port {
            zero_is_none: false,
        };
        while let Some(port) = seq.next_element_seed(seed)? {
            out.extend(port);
        }
        Ok(out)
    }
}

fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    d.deserialize_seq(PortList)
}

fn optional_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    d.deserialize_option(Port { zero_is_none: true })
}

fn port(n: u64) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("port {n} is out of range (expected 1-65535)")),
    }
}

/// `null` or `""` (no upstream proxy), or an `http://host[:port]` URL, checked as it is read.
struct OptionalUpstream;

impl<'de> de::Visitor<'de> for OptionalUpstream {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        let url = d.deserialize_str(Checked(check_upstream_proxy))?;
        Ok(Some(url).filter(|u| !u.is_empty()))
    }
}

fn upstream_proxy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionalUpstream)
}

/// An `upstreamProxy` value: empty (none), or `http://` with a host.
fn check_upstream_proxy(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?}: missing scheme (expected http://host:port)"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "{url:?}: scheme {scheme:?} is not supported (only http://)"
        ));
    }
    if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
        return Err(format!("{url:?}: URL has no host"));
    }
    Ok(())
}

/// Validates an `allowedDomains`/`deniedDomains` entry as the Go fence does: `*`, `localhost`,
/// IP literals, `*.example.com` wildcards (not `*.com`), and names with at least one dot.
/// Unlike the Go fence, IPv6 literals (`::1`, `[::1]`) and one trailing dot are accepted.
pub fn check_domain_pattern(p: &str) -> Result<(), String> {
    let unbracketed = p
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(p);
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let p = p.strip_suffix('.').unwrap_or(p);
    if p == "*" || p.eq_ignore_ascii_case("localhost") {
        return Ok(());
    }
    if p.contains("://") || p.contains('/') || p.contains(':') {
        return Err(format!(
            "{p:?}: domain pattern cannot contain protocol, path, or port"
        ));
    }
    let name = match p.strip_prefix("*.") {
        Some(rest) => {
            if !rest.contains('.') {
                return Err(format!(
                    "{p:?}: wildcard pattern too broad (e.g. *.com is not allowed)"
                ));
            }
            rest
        }
        None if p.contains('*') => {
            return Err(format!(
                "{p:?}: only *.example.com wildcard patterns are allowed"
            ));
        }
        None => p,
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.contains('.') || !name.split('.').all(valid_label) {
        return Err(format!(
            "{p:?}: invalid domain (expected a name like example.com)"
        ));
    }
    Ok(())
}

/// Validates an ssh host pattern: no scheme, path or user, and no port unless IPv6-looking.
pub fn check_host_pattern(p: &str) -> Result<(), String> {
    if p.trim().is_empty() {
        return Err("empty host pattern".into());
    }
    if p.contains("://") || p.contains('/') {
        return Err(format!(
            "{p:?}: host pattern cannot contain a protocol or path"
        ));
    }
    if p.contains('@') {
        return Err(format!("{p:?}: host pattern cannot contain a user"));
    }
    let ipv6_like = p.matches(':').count() >= 2 || p.contains("::");
    if p.contains(':') && !ipv6_like {
        return Err(format!("{p:?}: host pattern cannot contain a port"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_patterns_follow_go_rules() {
        let ok = [
            "*",
            "localhost",
            "example.com",
            "*.example.com",
            "a.b-c.d",
            "127.0.0.1",
            "::1",
            "[2001:db8::1]",
            "x.com.",
        ];
        for p in ok {
            assert!(check_domain_pattern(p).is_ok(), "{p}");
        }
        let bad = [
            ("https://x.com", "protocol"),
            ("x.com/path", "protocol"),
            ("x.com:443", "port"),
            ("*.com", "too broad"),
            ("a*.com", "only *.example.com"),
            ("intranet", "invalid domain"),
            (".x.com", "invalid domain"),
            ("x.com..", "invalid domain"),
            ("x..com", "invalid domain"),
            ("", "invalid domain"),
        ];
        for (p, needle) in bad {
            let err = check_domain_pattern(p).unwrap_err();
            assert!(err.contains(needle), "{p}: {err}");
        }
    }

    #[test]
    fn host_patterns() {
        assert!(check_host_pattern("github.com").is_ok());
        assert!(check_host_pattern("*.example.com").is_ok());
        assert!(check_host_pattern("::1").is_ok());
        assert!(check_host_pattern("git@github.com").is_err());
        assert!(check_host_pattern("github.com:22").is_err());
        assert!(check_host_pattern("ssh://x").is_err());
    }

    fn parse(json: &str) -> Result<Config, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn strict_parsing() {
        let cases = [
            (
                r#"{"network": {"allowedDomainz": []}}"#,
                "unknown field `allowedDomainz`",
            ),
            (r#"{"filesystem": {"allowWrite": "x"}}"#, "invalid type"),
            (r#"{"devices": {"mode": "all"}}"#, "unknown variant `all`"),
            (r#"{"devices": {"allow": ["/dev"]}}"#, "too broad"),
            (r#"{"devices": {"allow": ["/etc/x"]}}"#, "under /dev/"),
            (
                r#"{"network": {"allowLocalOutboundPorts": [70000]}}"#,
                "out of range",
            ),
            (
                r#"{"network": {"allowLocalOutboundPorts": [0]}}"#,
                "out of range",
            ),
            (
                r#"{"network": {"upstreamProxy": "https://p:1"}}"#,
                "not supported",
            ),
            (r#"{"network": {"upstreamProxy": "p:1"}}"#, "missing scheme"),
            (r#"{"filesystem": {"allowWrite": [""]}}"#, "empty entry"),
            (
                r#"{"macos": {"mach": {"lookup": ["a*b"]}}}"#,
                "single trailing",
            ),
            (r#"{"AllowPty": true}"#, "unknown field"),
        ];
        for (json, needle) in cases {
            let err = parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn full_schema_parses() {
        let json = r#"{
            "$schema": "https://example.invalid/fence.schema.json",
            "extends": "code", "allowPty": true, "forceNewSession": false,
            "allowReducedIsolation": false,
            "network": {"allowedDomains": ["example.com"], "deniedDomains": ["*.evil.com"],
              "allowUnixSockets": ["/run/x.sock"], "allowAllUnixSockets": false,
              "allowLocalBinding": true, "allowLocalOutbound": true,
              "allowLocalOutboundPorts": [5432], "httpProxyPort": 3128, "socksProxyPort": 0,
              "upstreamProxy": "http://proxy:8080", "defaultAction": "proxy"},
            "filesystem": {"defaultDenyRead": true, "strictDenyRead": false, "wslInterop": false,
              "allowRead": ["."], "allowExecute": ["/opt/x"], "denyRead": ["~/.ssh"],
              "allowWrite": ["."], "denyWrite": ["**/.env"], "allowGitConfig": true},
            "devices": {"mode": "minimal", "allow": ["/dev/kvm"]},
            "command": {"deny": ["git push"], "allow": ["git push origin docs"], "useDefaults": true,
              "acceptSharedBinaryCannotRuntimeDeny": ["dd"], "runtimeExecPolicy": "argv"},
            "ssh": {"allowedHosts": ["github.com"], "deniedHosts": [], "allowedCommands": ["ls"],
              "deniedCommands": [], "allowAllCommands": false, "inheritDeny": true},
            "macos": {"mach": {"lookup": ["com.apple.*"], "register": []}}
        }"#;
        let cfg = parse(json).unwrap();
        assert_eq!(cfg.network.allow_local_outbound_ports, vec![5432]);
        assert_eq!(cfg.network.http_proxy_port, Some(3128));
        assert_eq!(cfg.network.socks_proxy_port, None);
        assert_eq!(cfg.devices.mode, Some(DeviceMode::Minimal));
        assert_eq!(
            cfg.command.runtime_exec_policy,
            Some(RuntimeExecPolicy::Argv)
        );
    }
}
