//! What one compiled policy allows that another does not: the trust check's question
//! "does this untrusted project config grant anything beyond the user's own?".
//!
//! The comparison is over *compiled* policies (absolute paths, expanded globs, domain
//! matchers), not over config fields, because fields interact: `allowRead: ["~"]` grants
//! nothing without `defaultDenyRead` and the whole home with it; a `devices.mode` is a grant
//! or not depending on the mode it replaces; `allowGitConfig` grants by removing a
//! protection.
//!
//! Paths: what a policy lets through at a path depends only on which of its rule paths
//! (readable roots, writable roots, masks, read-only paths, socket masks) are that path or
//! its ancestors. So for any path `p`, the deepest rule path of *either* policy at or above
//! `p` behaves exactly like `p` in both policies, and comparing the two policies at every
//! rule path (and `/`) compares them everywhere. Hosts: the same argument over the domain
//! patterns (a host's decision depends only on which patterns match it).

use std::fmt;
use std::path::{Path, PathBuf};

use super::Policy;
use super::domains::{Decision, DomainPolicy, Host, Pattern};
use crate::output;

/// One thing a policy allows that the base did not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Everything is readable (the base hid all but some roots: `defaultDenyRead`).
    ReadEverything,
    Read(PathBuf),
    Write(PathBuf),
    /// The host's `/tmp` (and the sockets in it) is shared read-write.
    SharedTmp,
    /// A host Unix socket the base masked can be connected to.
    Socket(PathBuf),
    /// More of the host's `/dev` (`auto` over `minimal`, `host` over either).
    DeviceMode(&'static str),
    Device(PathBuf),
    Pty,
    /// The command may share fence's terminal session where the base forced a new one.
    TerminalSession,
    /// Hosts the proxies let through (a name, `*.suffix`, an address, or any host).
    Network(String),
    /// Hosts reached directly where the base sent them through the upstream proxy, or
    /// local destinations the base did not allow (an IP literal or `localhost` rule).
    NetworkDirect(String),
    /// The sandbox shares the host's network namespace.
    HostNetwork,
    /// A host loopback port reachable from inside.
    LocalPort(u16),
    /// The grey zone goes to this upstream proxy.
    Upstream(String),
    /// A config setting outside the compiled policy (`allowReducedIsolation`, Mach
    /// services): key and value.
    Setting(&'static str, String),
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::ReadEverything => f.write_str(
                "read access to everything (not only the readable roots of defaultDenyRead)",
            ),
            Grant::Read(p) => write!(f, "read access to {}", output::path(p)),
            Grant::Write(p) => write!(f, "write access to {}", output::path(p)),
            Grant::SharedTmp => f.write_str("the host's /tmp, shared read-write"),
            Grant::Socket(p) => write!(f, "the host socket {}", output::path(p)),
            Grant::DeviceMode(m) => write!(f, "devices.mode {m}"),
            Grant::Device(p) => write!(f, "the device {}", output::path(p)),
            Grant::Pty => f.write_str("a pseudo-terminal (allowPty)"),
            Grant::TerminalSession => {
                f.write_str("the terminal session (forceNewSession is no longer forced)")
            }
            Grant::Network(h) => write!(f, "network access to {}", output::escape(h)),
            Grant::NetworkDirect(h) => write!(
                f,
                "direct network access to {} (local destinations, or without the upstream \
                 proxy)",
                output::escape(h)
            ),
            Grant::HostNetwork => f.write_str("the host's network (no network namespace)"),
            Grant::LocalPort(p) => write!(f, "the host's local port {p}"),
            Grant::Upstream(u) => write!(f, "the upstream proxy {}", output::escape(u)),
            Grant::Setting(k, v) => write!(f, "{k} {}", output::escape(v)),
        }
    }
}

/// Everything `with` allows that `base` does not: paths readable, writable or connectable,
/// devices, the terminal, hosts and ports reachable. Empty when `with` is at most as
/// permissive as `base`. Sorted, and a path grant below another of the same kind is left
/// out (the outer one says it).
pub fn policy_grants(base: &Policy, with: &Policy) -> Vec<Grant> {
    let mut out = Vec::new();
    paths(base, with, &mut out);
    devices_and_terminal(base, with, &mut out);
    network(base, with, &mut out);
    out.sort();
    out.dedup();
    drop_nested(out)
}

/// Human text for a list of grants, at most `limit` of them and a count of the rest.
pub fn describe(grants: &[Grant], limit: usize) -> String {
    let mut text = grants
        .iter()
        .take(limit)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if grants.len() > limit {
        text.push_str(&format!(" and {} more", grants.len() - limit));
    }
    text
}

fn under<'a>(p: &Path, mut roots: impl Iterator<Item = &'a Path>) -> bool {
    roots.any(|r| p.starts_with(r))
}

fn write_roots(p: &Policy) -> impl Iterator<Item = &Path> {
    let tmp = p.tmp_shared.then_some(Path::new("/tmp"));
    p.write.iter().map(PathBuf::as_path).chain(tmp)
}

fn masked(p: &Policy, path: &Path) -> bool {
    under(path, p.deny_read.iter().map(|t| t.path.as_path()))
}

/// Whether `path` can be read under `p` (a mask wins; under defaultDenyRead only readable
/// and writable roots are visible).
pub fn readable(p: &Policy, path: &Path) -> bool {
    !masked(p, path)
        && (!p.default_deny_read
            || under(path, p.read.iter().map(PathBuf::as_path))
            || under(path, write_roots(p)))
}

/// Whether `path` can be written under `p` (in a writable root, not read-only, not masked).
pub fn writable(p: &Policy, path: &Path) -> bool {
    under(path, write_roots(p))
        && !masked(p, path)
        && !under(path, p.deny_write.iter().map(PathBuf::as_path))
}

/// Whether the host socket `path` can be connected to under `p`.
pub fn socket_reachable(p: &Policy, path: &Path) -> bool {
    readable(p, path) && !p.sockets.iter().any(|s| s == path)
}

/// Every path at which either policy has a rule, and `/`.
fn witnesses<'a>(a: &'a Policy, b: &'a Policy) -> Vec<&'a Path> {
    let mut out: Vec<&Path> = vec![Path::new("/"), Path::new("/tmp")];
    for p in [a, b] {
        out.extend(p.read.iter().map(PathBuf::as_path));
        out.extend(p.write.iter().map(PathBuf::as_path));
        out.extend(p.deny_write.iter().map(PathBuf::as_path));
        out.extend(p.deny_read.iter().map(|t| t.path.as_path()));
        out.extend(p.sockets.iter().map(PathBuf::as_path));
    }
    out.sort();
    out.dedup();
    out
}

fn paths(base: &Policy, with: &Policy, out: &mut Vec<Grant>) {
    let shared_tmp = with.tmp_shared && !base.tmp_shared;
    if shared_tmp {
        out.push(Grant::SharedTmp);
    }
    if base.default_deny_read && !with.default_deny_read {
        out.push(Grant::ReadEverything);
    }
    let in_new_tmp = |p: &Path| shared_tmp && p.starts_with("/tmp");
    for w in witnesses(base, with) {
        if in_new_tmp(w) {
            continue;
        }
        if readable(with, w) && !readable(base, w) {
            out.push(Grant::Read(w.to_path_buf()));
        }
        if writable(with, w) && !writable(base, w) {
            out.push(Grant::Write(w.to_path_buf()));
        }
    }
    for s in base.sockets.iter().chain(&with.sockets) {
        if !in_new_tmp(s) && socket_reachable(with, s) && !socket_reachable(base, s) {
            out.push(Grant::Socket(s.clone()));
        }
    }
}

fn device_level(p: &Policy) -> u8 {
    if p.host_devices {
        2
    } else if p.devices_auto {
        1
    } else {
        0
    }
}

/// How firmly the command is kept out of fence's terminal session.
fn session_level(p: &Policy) -> u8 {
    match p.force_new_session {
        Some(true) => 2,
        None => 1,
        Some(false) => 0,
    }
}

fn devices_and_terminal(base: &Policy, with: &Policy, out: &mut Vec<Grant>) {
    let level = device_level(with);
    if level > device_level(base) {
        out.push(Grant::DeviceMode(if level == 2 { "host" } else { "auto" }));
    }
    if device_level(base) < 2 {
        for d in &with.devices {
            if !base.devices.contains(d) {
                out.push(Grant::Device(d.clone()));
            }
        }
    }
    if with.allow_pty && !base.allow_pty {
        out.push(Grant::Pty);
    }
    if session_level(with) < session_level(base) {
        out.push(Grant::TerminalSession);
    }
}

/// How far a decision reaches: refused, through the upstream, directly, or directly to a
/// local destination too.
fn reach(d: &Decision) -> u8 {
    match d {
        Decision::Deny { .. } => 0,
        Decision::Upstream => 1,
        Decision::Allow { literal: false, .. } => 2,
        Decision::Allow { literal: true, .. } => 3,
    }
}

/// One host for every class of hosts the patterns of both policies tell apart, with how
/// to name the class. A `*` never appears in a DNS name or a pattern's name, so `*.suffix`
/// stands for the names under `.suffix` that no longer suffix matches, and `*` for every
/// host no pattern names.
fn probe_hosts(a: &DomainPolicy, b: &DomainPolicy) -> Vec<(Host, String)> {
    let mut out = vec![(Host::Name("*".into()), "any host".to_string())];
    let patterns = [&a.allowed, &a.denied, &b.allowed, &b.denied];
    for pattern in patterns.into_iter().flatten() {
        match pattern {
            Pattern::Any => {}
            Pattern::Name(n) => out.push((Host::Name(n.clone()), n.clone())),
            Pattern::Ip(ip) => out.push((Host::Ip(*ip), ip.to_string())),
            Pattern::Subdomains(s) => out.push((Host::Name(format!("*{s}")), format!("*{s}"))),
        }
    }
    out
}

fn network(base: &Policy, with: &Policy, out: &mut Vec<Grant>) {
    let (b, w) = (&base.network, &with.network);
    if w.share_host_network && !b.share_host_network {
        out.push(Grant::HostNetwork);
    }
    let mut upstream_used = false;
    for (host, label) in probe_hosts(&b.domains, &w.domains) {
        let (before, after) = (b.domains.decide(&host), w.domains.decide(&host));
        upstream_used |= after == Decision::Upstream;
        match (reach(&before), reach(&after)) {
            (0, r) if r > 0 => out.push(Grant::Network(label)),
            (rb, ra) if ra > rb && ra >= 2 => out.push(Grant::NetworkDirect(label)),
            _ => {}
        }
    }
    if upstream_used && w.upstream != b.upstream {
        if let Some((host, port)) = &w.upstream {
            out.push(Grant::Upstream(format!("{host}:{port}")));
        }
    }
    if !b.share_host_network {
        for port in &w.local_outbound_ports {
            if !b.local_outbound_ports.contains(port) {
                out.push(Grant::LocalPort(*port));
            }
        }
    }
    for addr in &w.exposed {
        if !b.exposed.contains(addr) {
            out.push(Grant::Setting("-p", addr.to_string()));
        }
    }
}

/// Leaves out a Read/Write grant below another of the same kind.
fn drop_nested(grants: Vec<Grant>) -> Vec<Grant> {
    let covered = |g: &Grant| {
        grants.iter().any(|o| match (o, g) {
            (Grant::Read(outer), Grant::Read(p)) | (Grant::Write(outer), Grant::Write(p)) => {
                outer != p && p.starts_with(outer)
            }
            (Grant::ReadEverything, Grant::Read(_)) => true,
            _ => false,
        })
    };
    grants.iter().filter(|g| !covered(g)).cloned().collect()
}

#[cfg(test)]
mod tests;
