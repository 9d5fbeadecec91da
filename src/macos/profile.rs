//! The Seatbelt profile for one run: a pure function from the compiled [`Policy`] (plus the
//! few facts it does not carry, [`Extras`]) to SBPL text and its `-D NAME=VALUE`
//! parameters. Nothing here touches the host, so it is built and tested on every platform.
//!
//! The profile starts from `(deny default)` and allows, section by section (the order of
//! the Go fence's profile, `fence-go-behaviour.md` §6.2): the process itself, a baseline of
//! Mach services, IPC / IOKit / sysctl reads, the standard devices, the config's Mach
//! names, the network (only fence's proxy ports on localhost), file reads, file writes and
//! the PTY. Within a section, allows come before the denies that refine them.
//!
//! Precedence does not rest on rule order alone: each allow carries its exceptions inside
//! (`(require-all ALLOWED (require-not (require-any EXCEPTIONS)))`), and the exceptions are
//! denied again afterwards, once per specific operation (a `file-read*` deny does not beat
//! a specific `file-read-data` allow in Seatbelt).
//!
//! From the [`Policy`] the profile takes `default_deny_read`, `read`, `write`, `tmp_shared`,
//! `deny_write`, `placeholders`, `deny_read`, `allow_pty` and `network`. The rest are Linux
//! notions with no Seatbelt counterpart here: device modes and `devices` (Seatbelt has no
//! private `/dev`; the profile allows the standard nodes), `sockets` (host sockets are
//! reached only through the `unix-socket` network rules), `read_symlinks`, `watched` and
//! `force_new_session`.
//!
//! Every path is written for both its spellings (`/tmp` ↔ `/private/tmp`, `/var` ↔
//! `/private/var`, `/etc` ↔ `/private/etc`): Seatbelt checks the resolved path, tools pass
//! either. Paths and Mach names are parameters; globs are regexes (`super::regex`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::files;
use super::regex;
use super::sbpl::{Builder, regex_literal, string_literal};
use super::system;
use crate::policy::Policy;

/// What the profile needs beyond the compiled [`Policy`].
///
/// `Policy` holds what the Linux backend mounts: concrete paths found when it was
/// compiled. Seatbelt evaluates filters at every access, so the macOS profile also keeps
/// the config's patterns as patterns (a `**/.env` deny covers a `.env` created later), and
/// protects the mandatory names at any depth by regex instead of by the paths that existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// `$HOME`, `$XDG_CONFIG_HOME` (or `~/.config`), `$XDG_DATA_HOME` (or
    /// `~/.local/share`): where the protected names of `dangerous::PROTECTED` that are not
    /// "everywhere" live.
    pub home: Option<PathBuf>,
    pub config_home: Option<PathBuf>,
    pub data_home: Option<PathBuf>,
    /// The run's private `TMPDIR` (writable, and where its Unix sockets may live).
    pub tmpdir: PathBuf,
    /// `defaultDenyRead` without `strictDenyRead`: the macOS system paths are readable.
    pub system_read: bool,
    /// `allowRead`, `denyRead`, `denyWrite` as absolute patterns (`policy::glob` syntax;
    /// relative entries already joined to the working directory, `~` expanded).
    pub allow_read: Vec<String>,
    pub deny_read: Vec<String>,
    pub deny_write: Vec<String>,
    /// `allowGitConfig`: `.git/config` is writable.
    pub allow_git_config: bool,
    /// `macos.mach.lookup` / `macos.mach.register`: exact names, a trailing `*`, or `*`.
    pub mach_lookup: Vec<String>,
    pub mach_register: Vec<String>,
    /// Executables the runtime exec deny refuses (resolved paths).
    pub exec_deny: Vec<PathBuf>,
    /// `allowUnixSockets` (resolved) and `allowAllUnixSockets`.
    pub unix_sockets: Vec<PathBuf>,
    pub all_unix_sockets: bool,
    /// `allowLocalBinding`: the sandbox may listen on localhost.
    pub local_binding: bool,
    /// The host loopback ports fence's HTTP and SOCKS5 proxies listen on for this run.
    pub proxy_ports: Vec<u16>,
    /// The per-run tag carried by denial messages (for `-m`).
    pub log_tag: String,
}

/// A generated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The SBPL text (`sandbox-exec -p`).
    pub text: String,
    /// The parameters it reads, in definition order.
    pub params: Vec<(String, OsString)>,
    /// Entries left out, and why (for `--debug`).
    pub notes: Vec<String>,
}

impl Profile {
    /// The `-D NAME=VALUE` arguments for `sandbox-exec`, in order.
    pub fn arguments(&self) -> Vec<OsString> {
        let mut args = Vec::with_capacity(self.params.len() * 2);
        for (name, value) in &self.params {
            args.push(OsString::from("-D"));
            let mut def = OsString::from(format!("{name}="));
            def.push(value);
            args.push(def);
        }
        args
    }
}

/// The profile for `policy` and `extras`.
pub fn generate(policy: &Policy, extras: &Extras) -> Profile {
    let mut b = Builder::default();
    let mut notes = Vec::new();
    header(&mut b, &extras.log_tag);
    system::process(&mut b, &extras.exec_deny);
    system::baseline(&mut b);
    user_mach(&mut b, extras);
    system::exec_deny(&mut b, &extras.exec_deny);
    network(&mut b, policy, extras);
    files::reads_and_writes(&mut b, policy, extras, &mut notes);
    if policy.allow_pty {
        system::pty(&mut b);
    }
    let (text, params) = b.finish();
    Profile {
        text,
        params,
        notes,
    }
}

/// `text` reduced to the characters a log tag needs (letters, digits, `_+/=-`): it is
/// written into the profile as a string and matched in `log stream`'s predicate.
pub fn log_tag(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "_+/=-".contains(c) => c,
            _ => '_',
        })
        .collect()
}

fn header(b: &mut Builder, tag: &str) {
    let tag = log_tag(tag);
    b.rule("(version 1)");
    b.rule(format!(
        "(deny default (with message {}))",
        string_literal(&tag)
    ));
    b.rule(format!("; LogTag: {tag}"));
}

/// `(require-any …)` of `filters` (deduplicated), or the one filter; `None` when empty.
pub(super) fn any(filters: &[String]) -> Option<String> {
    let unique = unique(filters.to_vec());
    match unique.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!("(require-any {})", many.join(" "))),
    }
}

/// `path` and its other spelling (`/tmp` ↔ `/private/tmp`…), if it has one.
pub(super) fn spellings(path: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = vec![path.to_path_buf()];
    let bytes = path.as_os_str().as_bytes();
    for top in ["/tmp", "/var", "/etc"] {
        let private = format!("/private{top}");
        for (from, to) in [(top, private.as_str()), (private.as_str(), top)] {
            if let Some(rest) = bytes.strip_prefix(from.as_bytes())
                && (rest.is_empty() || rest[0] == b'/')
            {
                let mut other = to.as_bytes().to_vec();
                other.extend_from_slice(rest);
                out.push(PathBuf::from(std::ffi::OsStr::from_bytes(&other)));
                return out;
            }
        }
    }
    out
}

/// `(FILTER (param "PREFIX_n"))` for each spelling of `path` (`filter` is `subpath` or
/// `literal`).
pub(super) fn path_filters(
    b: &mut Builder,
    filter: &str,
    prefix: &str,
    path: &Path,
) -> Vec<String> {
    spellings(path)
        .into_iter()
        .map(|p| format!("({filter} {})", b.param(prefix, p)))
        .collect()
}

/// The user's Mach services: `*` allows every lookup (or registration), `name*` a prefix
/// (`global-name-regex`, the only wildcard form Seatbelt has), anything else one name.
fn user_mach(b: &mut Builder, extras: &Extras) {
    for (op, names, prefix) in [
        ("mach-lookup", &extras.mach_lookup, "MACH_LOOKUP"),
        ("mach-register", &extras.mach_register, "MACH_REGISTER"),
    ] {
        if names.is_empty() {
            continue;
        }
        b.section(&format!("user {op} (macos.mach)"));
        if names.iter().any(|n| n == "*") {
            b.rule(format!("(allow {op})"));
            continue;
        }
        let filters: Vec<String> = names
            .iter()
            .map(|name| match name.strip_suffix('*') {
                Some(stem) => format!(
                    "(global-name-regex {})",
                    regex_literal(&format!("^{}.*$", regex::literal(stem)))
                ),
                None => format!("(global-name {})", b.param(prefix, name.as_str())),
            })
            .collect();
        b.rule(format!("(allow {op} {})", filters.join(" ")));
    }
}

/// No network namespace on macOS: the sandbox reaches only fence's proxies (and the
/// `allowLocalOutboundPorts`) on localhost; every other destination stays denied, so a
/// program that ignores the proxy variables fails closed. `allowedDomains: ["*"]` shares
/// the host's network as on Linux.
fn network(b: &mut Builder, policy: &Policy, extras: &Extras) {
    b.section("network");
    let net = &policy.network;
    if net.share_host_network {
        b.rule("(allow network*)");
    } else {
        let mut ports: Vec<u16> = extras.proxy_ports.clone();
        ports.extend(&net.local_outbound_ports);
        for port in ports {
            b.rule(format!(
                "(allow network-outbound (remote ip \"localhost:{port}\"))"
            ));
        }
        if extras.local_binding {
            b.rule("(allow network-bind (local ip \"localhost:*\"))");
            b.rule("(allow network-inbound (local ip \"localhost:*\"))");
        }
        for addr in &net.exposed {
            // Seatbelt's `local ip` names only `localhost` or `*` as the host: a `-p` on
            // any other address is allowed on every address of that port.
            let host = if addr.ip().is_loopback() {
                "localhost"
            } else {
                "*"
            };
            let port = addr.port();
            b.rule(format!("(allow network-bind (local ip \"{host}:{port}\"))"));
            b.rule(format!(
                "(allow network-inbound (local ip \"{host}:{port}\"))"
            ));
        }
    }
    // Unix sockets: fence's own TMPDIR and `allowUnixSockets` (both to connect and to
    // bind), or all of them.
    b.rule("(allow system-socket (socket-domain AF_UNIX))");
    let filters: Vec<String> = if extras.all_unix_sockets {
        vec![format!("(subpath {})", string_literal("/"))]
    } else {
        let mut filters = path_filters(b, "subpath", "TMPDIR", &extras.tmpdir);
        for socket in &extras.unix_sockets {
            filters.extend(path_filters(b, "subpath", "UNIX_SOCKET", socket));
        }
        filters
    };
    // One rule per filter: `remote unix-socket` is given a single path filter, as the
    // tools in the field write it.
    for socket in unique(filters) {
        b.rule(format!(
            "(allow network-outbound (remote unix-socket {socket}))"
        ));
        b.rule(format!("(allow network-bind (local unix-socket {socket}))"));
    }
}

/// `items` without repeats, in first-seen order.
pub(super) fn unique(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
