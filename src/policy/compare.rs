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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::Policy;
use super::domains::{DomainPattern, DomainPolicy, Host};
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

/// A policy's rule paths in hash sets: "is `p` at or below one of them" costs one lookup
/// per ancestor of `p`, so comparing policies with hundreds of thousands of rules (which a
/// repository can write) stays linear.
struct PathView<'a> {
    default_deny_read: bool,
    /// The private `/tmp` hides the host's: only binds bring paths below it in.
    private_tmp: bool,
    /// The working directory, bound read-only into the private `/tmp`.
    cwd: Option<&'a Path>,
    read: HashSet<&'a Path>,
    write: HashSet<&'a Path>,
    deny_write: HashSet<&'a Path>,
    masks: HashSet<&'a Path>,
    sockets: HashSet<&'a Path>,
}

impl<'a> PathView<'a> {
    fn new(p: &'a Policy) -> PathView<'a> {
        let set = |v: &'a [PathBuf]| v.iter().map(PathBuf::as_path).collect::<HashSet<_>>();
        let mut write = set(&p.write);
        if p.tmp_shared {
            write.insert(Path::new("/tmp"));
        }
        PathView {
            default_deny_read: p.default_deny_read,
            private_tmp: !p.tmp_shared,
            cwd: p.bound_cwd().map(PathBuf::as_path),
            read: set(&p.read),
            write,
            deny_write: set(&p.deny_write),
            // A socket mask on a directory (a place the scan could not search fully) hides
            // all of it, like a denyRead mask.
            masks: p
                .deny_read
                .iter()
                .chain(p.sockets.iter().filter(|t| t.is_dir))
                .map(|t| t.path.as_path())
                .collect(),
            sockets: p.sockets.iter().map(|t| t.path.as_path()).collect(),
        }
    }

    fn under(set: &HashSet<&Path>, path: &Path) -> bool {
        !set.is_empty() && path.ancestors().any(|a| set.contains(a))
    }

    /// Readable: not masked, and under defaultDenyRead, or below the private `/tmp`, in a
    /// readable or writable root (or, in `/tmp`, the bound working directory).
    fn readable(&self, path: &Path) -> bool {
        let bound = || Self::under(&self.read, path) || Self::under(&self.write, path);
        // `/tmp` itself stands for the host's /tmp as a whole (its listing, and every path
        // below it that no rule names), which the private one hides too.
        let hidden_tmp = self.private_tmp && path.starts_with("/tmp");
        !Self::under(&self.masks, path)
            && if hidden_tmp {
                bound() || self.cwd.is_some_and(|c| path.starts_with(c))
            } else {
                !self.default_deny_read || bound()
            }
    }

    /// Writable: in a writable root, not read-only, not masked.
    fn writable(&self, path: &Path) -> bool {
        Self::under(&self.write, path)
            && !Self::under(&self.masks, path)
            && !Self::under(&self.deny_write, path)
    }

    /// A host socket can be connected to: readable and not masked as a socket.
    fn socket_reachable(&self, path: &Path) -> bool {
        self.readable(path) && !self.sockets.contains(path)
    }
}

/// Every path at which either policy has a rule, and `/`.
fn witnesses<'a>(a: &'a Policy, b: &'a Policy) -> Vec<&'a Path> {
    let mut out: Vec<&Path> = vec![Path::new("/"), Path::new("/tmp")];
    for p in [a, b] {
        out.push(&p.cwd);
        out.extend(p.read.iter().map(PathBuf::as_path));
        out.extend(p.write.iter().map(PathBuf::as_path));
        out.extend(p.deny_write.iter().map(PathBuf::as_path));
        out.extend(p.deny_read.iter().map(|t| t.path.as_path()));
        out.extend(p.sockets.iter().map(|t| t.path.as_path()));
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
    let (b, w) = (PathView::new(base), PathView::new(with));
    let in_new_tmp = |p: &Path| shared_tmp && p.starts_with("/tmp");
    for p in witnesses(base, with) {
        if in_new_tmp(p) {
            continue;
        }
        if w.readable(p) && !b.readable(p) {
            out.push(Grant::Read(p.to_path_buf()));
        }
        if w.writable(p) && !b.writable(p) {
            out.push(Grant::Write(p.to_path_buf()));
        }
    }
    for s in base.sockets.iter().chain(&with.sockets) {
        let s = s.path.as_path();
        if !in_new_tmp(s) && w.socket_reachable(s) && !b.socket_reachable(s) {
            out.push(Grant::Socket(s.to_path_buf()));
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
        let known: HashSet<&PathBuf> = base.devices.iter().collect();
        for d in with.devices.iter().filter(|d| !known.contains(d)) {
            out.push(Grant::Device(d.clone()));
        }
    }
    if with.allow_pty && !base.allow_pty {
        out.push(Grant::Pty);
    }
    if session_level(with) < session_level(base) {
        out.push(Grant::TerminalSession);
    }
}

/// One list of domain patterns, indexed: for each kind of pattern, the position of its
/// first occurrence (the first matching rule decides, as in [`DomainPolicy::decide`]).
#[derive(Default)]
struct PatternIndex {
    any: Option<usize>,
    names: HashMap<String, usize>,
    suffixes: HashMap<String, usize>,
    ips: HashMap<std::net::IpAddr, usize>,
}

impl PatternIndex {
    fn new(patterns: &[DomainPattern]) -> PatternIndex {
        let mut ix = PatternIndex::default();
        for (i, p) in patterns.iter().enumerate() {
            match p {
                DomainPattern::Any => {
                    ix.any.get_or_insert(i);
                }
                DomainPattern::Name(n) => {
                    ix.names.entry(n.clone()).or_insert(i);
                }
                DomainPattern::Subdomains(s) => {
                    ix.suffixes.entry(s.clone()).or_insert(i);
                }
                DomainPattern::Ip(ip) => {
                    ix.ips.entry(*ip).or_insert(i);
                }
            }
        }
        ix
    }

    /// The first pattern matching `host`: its position, and whether it names the host
    /// literally (an address, or `localhost`).
    fn first_match(&self, host: &Host) -> Option<(usize, bool)> {
        let mut best: Option<(usize, bool)> = self.any.map(|i| (i, false));
        let mut consider = |i: usize, literal: bool| {
            if best.is_none_or(|(b, _)| i < b) {
                best = Some((i, literal));
            }
        };
        match host {
            Host::Name(name) => {
                if let Some(&i) = self.names.get(name) {
                    consider(i, name == "localhost");
                }
                for (pos, _) in name.match_indices('.') {
                    if let Some(&i) = self.suffixes.get(&name[pos..]) {
                        consider(i, false);
                    }
                }
            }
            Host::Ip(ip) => {
                if let Some(&i) = self.ips.get(&super::domains::canonical_ip(*ip)) {
                    consider(i, true);
                }
            }
        }
        best
    }
}

/// [`DomainPolicy::decide`] in time independent of the number of patterns, as a reach.
struct DomainIndex {
    allowed: PatternIndex,
    denied: PatternIndex,
    grey_to_upstream: bool,
}

impl DomainIndex {
    fn new(d: &DomainPolicy) -> DomainIndex {
        DomainIndex {
            allowed: PatternIndex::new(&d.allowed),
            denied: PatternIndex::new(&d.denied),
            grey_to_upstream: d.grey_to_upstream,
        }
    }

    fn reach(&self, host: &Host) -> u8 {
        if self.denied.first_match(host).is_some() {
            0
        } else if let Some((_, literal)) = self.allowed.first_match(host) {
            if literal { 3 } else { 2 }
        } else if self.grey_to_upstream {
            1
        } else {
            0
        }
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
            DomainPattern::Any => {}
            DomainPattern::Name(n) => out.push((Host::Name(n.clone()), n.clone())),
            DomainPattern::Ip(ip) => out.push((Host::Ip(*ip), ip.to_string())),
            DomainPattern::Subdomains(s) => {
                out.push((Host::Name(format!("*{s}")), format!("*{s}")))
            }
        }
    }
    out.sort_by(|x, y| x.1.cmp(&y.1));
    out.dedup_by(|x, y| x.1 == y.1);
    out
}

fn network(base: &Policy, with: &Policy, out: &mut Vec<Grant>) {
    let (b, w) = (&base.network, &with.network);
    if w.share_host_network && !b.share_host_network {
        out.push(Grant::HostNetwork);
    }
    let (bi, wi) = (DomainIndex::new(&b.domains), DomainIndex::new(&w.domains));
    let mut upstream_used = false;
    for (host, label) in probe_hosts(&b.domains, &w.domains) {
        let (before, after) = (bi.reach(&host), wi.reach(&host));
        upstream_used |= after == 1;
        match (before, after) {
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
        let known: HashSet<u16> = b.local_outbound_ports.iter().copied().collect();
        for port in w.local_outbound_ports.iter().filter(|p| !known.contains(p)) {
            out.push(Grant::LocalPort(*port));
        }
    }
    for addr in &w.exposed {
        if !b.exposed.contains(addr) {
            out.push(Grant::Setting("-p", addr.to_string()));
        }
    }
}

/// Leaves out a Read/Write grant below another of the same kind (and Read grants when
/// everything is readable), looking up each grant's ancestors.
fn drop_nested(grants: Vec<Grant>) -> Vec<Grant> {
    let everything = grants.contains(&Grant::ReadEverything);
    let reads: HashSet<PathBuf> = grants
        .iter()
        .filter_map(|g| match g {
            Grant::Read(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let writes: HashSet<PathBuf> = grants
        .iter()
        .filter_map(|g| match g {
            Grant::Write(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let below = |set: &HashSet<PathBuf>, p: &Path| p.ancestors().skip(1).any(|a| set.contains(a));
    grants
        .into_iter()
        .filter(|g| match g {
            Grant::Read(p) => !everything && !below(&reads, p),
            Grant::Write(p) => !below(&writes, p),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
mod tests;
