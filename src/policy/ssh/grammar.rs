//! Where `ssh`, `slogin`, `scp`, `sftp`, `rsync` and `git` connect, read from their argv
//! with each program's real option grammar (pure: no ssh config file is read).
//!
//! - `ssh [options] destination [options] [--] [command…]`: short options cluster (`-4vA`),
//!   those taking a value (`-B -b -c -D -E -e -F -I -i -J -L -l -m -O -o -P -p -Q -R -S -W
//!   -w`) take the rest of the word or the next word (`-p2222`, `-p 2222`, `-vp 22`);
//!   options stop at the first operand, the destination (`[user@]host` or
//!   `ssh://[user@]host[:port]`). Like OpenSSH, options are read again after the
//!   destination (`ssh host -o HostName=x ls`) unless a `--` ended them before it; a `--`
//!   there is consumed. The remaining words are the remote command, which ssh joins with
//!   spaces for the remote shell. `-J` / `-o ProxyJump=` add hosts, and so does `-W
//!   host:port`; `-o HostName=` adds the host really connected to (`%h` is the
//!   destination); `-o RemoteCommand=` is a remote command too; `-o` keys are
//!   case-insensitive and separated by `=` or blanks. Port forwards (`-L`, `-R`, `-D`)
//!   are not connections to a host here.
//! - `scp [options] source… target`: every `[user@]host:path` or `scp://` operand.
//! - `sftp [options] destination`: `[user@]host[:path]` or `sftp://…`.
//! - `rsync`: every `[user@]host:path`, `host::module` and `rsync://host/` operand (rsync
//!   reads options anywhere), and the ssh options of `-e`/`--rsh 'ssh …'`.
//! - `git clone|fetch|pull|push|ls-remote|archive --remote|remote add|remote set-url|
//!   submodule add`: the repository operand when it is an ssh URL (`[user@]host:path`,
//!   `ssh://`, `git+ssh://`, `ssh+git://`). Remote names (`origin`) are resolved by git
//!   from `.git/config` and are not seen here.
//!
//! A word only known at run time where a host could be written is an unknown host; one in
//! ssh's option or destination position (`ssh $OPTS host`) also makes the remote command
//! unknown. An operand whose literal start settles it (`./$f`, `host:$path`) is read from
//! that start.

use crate::shell::{self, Word};

use super::host;

/// A host an argv connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Known(String),
    /// Only known at run time: the word as written.
    Unknown(String),
}

/// What one argv connects to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection<'a> {
    /// Every host: destinations, jump hosts, `HostName` overrides.
    pub hosts: Vec<Host>,
    /// Remote commands (ssh): the command words, and each `RemoteCommand`. Empty: none
    /// (an interactive session, or a file transfer).
    pub remote: Vec<Vec<Word<'a>>>,
    /// An ssh config file given with `-F` (it may give a host another `HostName`).
    pub config_file: Option<String>,
}

/// The programs this module reads.
pub const PROGRAMS: &[&str] = &["ssh", "slogin", "scp", "sftp", "rsync", "git"];

/// Where `argv` connects, when its program (by basename) is one of [`PROGRAMS`].
pub fn connection<'a>(argv: &[Word<'a>]) -> Option<Connection<'a>> {
    let name = argv.first()?.value.as_deref()?;
    let args = &argv[1..];
    let mut c = Connection::default();
    match super::basename(name) {
        "ssh" | "slogin" => ssh(args, &mut c),
        "scp" => scp(args, &mut c),
        "sftp" => sftp(args, &mut c),
        "rsync" => rsync(args, &mut c),
        "git" => git(args, &mut c),
        _ => return None,
    }
    Some(c)
}

const SSH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// What a run of options said.
#[derive(Default)]
struct SshOpts {
    /// `-o HostName=` values (`None`: only known at run time).
    hostnames: Vec<Option<String>>,
}

/// Reads options from `args[i..]`. Returns where the operands start and whether `--` ended
/// the options; `None` when a word only known at run time is where an option or the
/// destination could be (then recorded as an unknown host and remote command).
fn ssh_options<'a>(
    args: &[Word<'a>],
    mut i: usize,
    value_opts: &str,
    o: &mut SshOpts,
    c: &mut Connection<'a>,
) -> Option<(usize, bool)> {
    while let Some(w) = args.get(i) {
        let Some(a) = w.value.as_deref() else {
            if !w.prefix.is_empty() && !w.prefix.starts_with('-') {
                break; // not an option: an operand
            }
            c.hosts.push(Host::Unknown(w.source.to_string()));
            c.remote.push(args[i..].to_vec());
            return None;
        };
        if a == "--" {
            return Some((i + 1, true));
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        for (p, ch) in a.char_indices().skip(1) {
            if !value_opts.contains(ch) {
                continue;
            }
            let attached = &a[p + ch.len_utf8()..];
            let value = if attached.is_empty() {
                i += 1;
                match args.get(i - 1) {
                    Some(v) => v.clone(),
                    None => break, // ssh refuses a missing value: nothing runs
                }
            } else {
                Word::lit(attached)
            };
            ssh_option(ch, &value, o, c);
            break;
        }
    }
    Some((i.min(args.len()), false))
}

fn ssh_option<'a>(ch: char, value: &Word<'a>, o: &mut SshOpts, c: &mut Connection<'a>) {
    let Some(v) = value.value.as_deref() else {
        match ch {
            'J' | 'W' => c.hosts.push(Host::Unknown(value.source.to_string())),
            'o' => {
                // Could be HostName, ProxyJump or RemoteCommand.
                c.hosts.push(Host::Unknown(value.source.to_string()));
                c.remote.push(vec![value.clone()]);
            }
            'F' => c.config_file = Some(value.source.to_string()),
            _ => {}
        }
        return;
    };
    match ch {
        'J' => jumps(v, c),
        // Standard input and output forwarded to HOST:PORT from the destination: how a
        // jump host is used (`ProxyCommand ssh -W %h:%p jump`).
        'W' => c.hosts.push(Host::Known(host::strip_port(v).to_string())),
        'F' => c.config_file = Some(v.to_string()),
        'o' => {
            let (key, val) = config_option(v);
            match key.as_str() {
                "hostname" => o.hostnames.push(Some(val)),
                "proxyjump" => jumps(&val, c),
                "remotecommand" if !val.eq_ignore_ascii_case("none") && !val.is_empty() => {
                    c.remote.push(vec![Word::lit(&val)]);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn jumps(spec: &str, c: &mut Connection) {
    c.hosts
        .extend(host::jump_hosts(spec).into_iter().map(Host::Known));
}

/// `Key=Value`, `Key Value` or `Key = Value` → (lowercased key, value without the double
/// quotes ssh_config allows around it).
fn config_option(s: &str) -> (String, String) {
    let s = s.trim_start();
    let end = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(s.len());
    let (key, rest) = s.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let val = match rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner,
        None => rest,
    };
    (key.to_ascii_lowercase(), val.to_string())
}

/// `HostName` with its `%h` (the destination) and `%%` expanded; `None` when it uses
/// another token or the destination is unknown.
fn expand_hostname(value: &str, dest: Option<&str>) -> Option<String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(dest?),
            _ => return None,
        }
    }
    Some(out)
}

fn ssh<'a>(args: &[Word<'a>], c: &mut Connection<'a>) {
    let mut o = SshOpts::default();
    let Some((i, ended)) = ssh_options(args, 0, SSH_VALUE, &mut o, c) else {
        return;
    };
    let Some(d) = args.get(i) else {
        return; // no destination: `ssh -V`, or a usage error
    };
    let dest = match d.value.as_deref() {
        Some(v) => match host::url_host(v, &["ssh"]) {
            Some(h) => Some(h.unwrap_or_default()),
            None => Some(host::strip_user(v).to_string()),
        },
        None => None,
    };
    c.hosts.push(match &dest {
        Some(h) => Host::Known(h.clone()),
        None => Host::Unknown(d.source.to_string()),
    });
    let mut i = i + 1;
    if i < args.len() && !ended {
        // OpenSSH reads options again after the destination, from the word after it.
        match ssh_options(args, i, SSH_VALUE, &mut o, c) {
            Some((j, _)) => i = j,
            None => return,
        }
    }
    for name in o.hostnames {
        c.hosts.push(
            match name.and_then(|n| expand_hostname(&n, dest.as_deref())) {
                Some(h) => Host::Known(h),
                None => Host::Unknown("HostName".into()),
            },
        );
    }
    if i < args.len() {
        c.remote.push(args[i..].to_vec());
    }
}

/// A `[user@]host:path` (or `scheme://` URL) operand's host, if it names one. `schemes`:
/// the URL schemes that are remote; a URL with another scheme names none.
fn operand_host(w: &Word, schemes: &[&str]) -> Option<Host> {
    let Some(v) = w.value.as_deref() else {
        // Only known at run time: its literal start may settle it.
        let p: &str = &w.prefix;
        if p.contains("://") {
            return match host::url_host(p, schemes) {
                Some(Some(h)) if p.split_once("://").is_some_and(|(_, r)| r.contains('/')) => {
                    Some(Host::Known(h))
                }
                Some(_) => Some(Host::Unknown(w.source.to_string())),
                None => None,
            };
        }
        return match host::remote_colon(p) {
            Some(i) => Some(Host::Known(host::strip_user(&p[..i]).to_string())),
            None if p.contains('/') => None, // a local path
            None => Some(Host::Unknown(w.source.to_string())),
        };
    };
    if v.contains("://") {
        return host::url_host(v, schemes)?.map(Host::Known);
    }
    host::remote_host(v).map(Host::Known)
}

/// scp/sftp options: ssh's `-J`, `-o` and `-F`; the index of the first operand.
fn transfer_options<'a>(
    args: &[Word<'a>],
    value_opts: &str,
    c: &mut Connection<'a>,
) -> Option<usize> {
    let mut o = SshOpts::default();
    let Some((i, _)) = ssh_options(args, 0, value_opts, &mut o, c) else {
        c.remote.clear(); // no remote command: a file transfer
        return None;
    };
    // A HostName override applies to every remote operand: check it as a host.
    for name in o.hostnames {
        c.hosts.push(match name.filter(|n| !n.contains('%')) {
            Some(h) => Host::Known(h),
            None => Host::Unknown("HostName".into()),
        });
    }
    Some(i)
}

fn scp<'a>(args: &[Word<'a>], c: &mut Connection<'a>) {
    let Some(i) = transfer_options(args, "cDFiJlMoPSX", c) else {
        return;
    };
    for w in &args[i..] {
        c.hosts.extend(operand_host(w, &["scp"]));
    }
}

fn sftp<'a>(args: &[Word<'a>], c: &mut Connection<'a>) {
    let Some(i) = transfer_options(args, "BbcDFiJloPRSsX", c) else {
        return;
    };
    let Some(w) = args.get(i) else { return };
    let found = match w.value.as_deref() {
        // The destination is a host even without `:path`.
        Some(v) if !v.contains("://") && host::remote_colon(v).is_none() => {
            Some(Host::Known(host::strip_user(v).to_string()))
        }
        _ => operand_host(w, &["sftp"]),
    };
    c.hosts.extend(found);
}

/// rsync's long options that take a value (as `--name VALUE` or `--name=VALUE`).
#[rustfmt::skip]
const RSYNC_LONG_VALUE: &[&str] = &[
    "rsh", "rsync-path", "filter", "exclude", "exclude-from", "include", "include-from",
    "files-from", "temp-dir", "compare-dest", "copy-dest", "link-dest", "partial-dir",
    "backup-dir", "suffix", "chmod", "chown", "usermap", "groupmap", "block-size", "max-delete",
    "max-size", "min-size", "max-alloc", "modify-window", "timeout", "contimeout", "bwlimit",
    "port", "sockopts", "out-format", "log-file", "log-file-format", "password-file",
    "write-batch", "only-write-batch", "read-batch", "protocol", "iconv", "checksum-choice",
    "compress-choice", "compress-level", "skip-compress", "outbuf", "stop-after", "stop-at",
    "info", "debug", "address", "remote-option", "copy-as", "checksum-seed", "early-input",
    "config", "dparam",
];

fn rsync<'a>(args: &[Word<'a>], c: &mut Connection<'a>) {
    let mut rsh: Option<Word> = None;
    let mut operands = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        i += 1;
        let Some(a) = w.value.as_deref() else {
            operands.push(w);
            continue;
        };
        if a == "--" {
            operands.extend(&args[i..]);
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some(("rsh", v)) => rsh = Some(Word::lit(v)),
                Some(_) => {}
                None if RSYNC_LONG_VALUE.contains(&long) => {
                    if long == "rsh" {
                        rsh = args.get(i).cloned();
                    }
                    i += 1;
                }
                None => {}
            }
            continue;
        }
        if !a.starts_with('-') || a == "-" {
            operands.push(w);
            continue;
        }
        for (p, ch) in a.char_indices().skip(1) {
            if !"eBfTM@".contains(ch) {
                continue;
            }
            let attached = &a[p + ch.len_utf8()..];
            let value = if attached.is_empty() {
                i += 1;
                args.get(i - 1).cloned()
            } else {
                Some(Word::lit(attached))
            };
            if ch == 'e' {
                rsh = value;
            }
            break;
        }
    }
    for w in operands {
        c.hosts.extend(operand_host(w, &["rsync"]));
    }
    // `-e 'ssh -J jump -o HostName=…'`: the remote shell's own hosts.
    match rsh.as_ref().map(|w| w.value.as_deref()) {
        Some(Some(cmd)) => {
            let words: Vec<Word> = match shell::parse(cmd) {
                Ok(cmds) => cmds.into_iter().flat_map(|c| c.words).collect(),
                Err(_) => Vec::new(),
            };
            if let Some(name) = words.first().and_then(|w| w.value.as_deref()) {
                if matches!(super::basename(name), "ssh" | "slogin") {
                    let mut o = SshOpts::default();
                    let mut inner = Connection::default();
                    if ssh_options(&words[1..], 0, SSH_VALUE, &mut o, &mut inner).is_some() {
                        for n in o.hostnames {
                            inner.hosts.push(match n.filter(|n| !n.contains('%')) {
                                Some(h) => Host::Known(h),
                                None => Host::Unknown("HostName".into()),
                            });
                        }
                    }
                    c.hosts.extend(inner.hosts);
                    c.config_file = c.config_file.take().or(inner.config_file);
                }
            }
        }
        Some(None) => c
            .hosts
            .push(Host::Unknown(rsh.unwrap().source.into_owned())),
        None => {}
    }
}

/// git's options before the subcommand that take the next word as their value.
#[rustfmt::skip]
const GIT_GLOBAL_VALUE: &[&str] = &[
    "-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix",
];

/// Options of the subcommands read here that take the next word as their value.
#[rustfmt::skip]
const GIT_VALUE: &[&str] = &[
    "-o", "--origin", "-b", "--branch", "-u", "--upload-pack", "--reference",
    "--reference-if-able", "--separate-git-dir", "--depth", "--shallow-since",
    "--shallow-exclude", "-j", "--jobs", "--filter", "--template", "-c", "--config",
    "--server-option", "--bundle-uri", "--ref-format", "--deepen", "--negotiation-tip",
    "--refmap", "--recurse-submodules-default", "--receive-pack", "--exec", "--push-option",
    "-s", "--strategy", "-X", "--strategy-option", "--sort", "-t", "--track", "-m", "--master",
    "--name", "--format", "--prefix", "--output", "--repo", "--remote",
];

const GIT_SCHEMES: &[&str] = &["ssh", "git+ssh", "ssh+git"];

fn git<'a>(args: &[Word<'a>], c: &mut Connection<'a>) {
    let mut i = 0;
    while let Some(Some(a)) = args.get(i).map(|w| w.value.as_deref()) {
        if !a.starts_with('-') {
            break;
        }
        i += if GIT_GLOBAL_VALUE.contains(&a) { 2 } else { 1 };
    }
    let Some(Some(sub)) = args.get(i).map(|w| w.value.as_deref()) else {
        return;
    };
    let rest = &args[i + 1..];
    let (operands, named) = git_operands(rest);
    for w in named {
        c.hosts.extend(git_url_host(&w));
    }
    let repo = match sub {
        "clone" | "fetch" | "pull" | "push" | "ls-remote" => operands.first(),
        "remote" => match operands.first().and_then(|w| w.value.as_deref()) {
            Some("add" | "set-url") => operands.get(2),
            _ => None,
        },
        "submodule" => match operands.first().and_then(|w| w.value.as_deref()) {
            Some("add") => operands.get(1),
            _ => None,
        },
        _ => None,
    };
    if let Some(w) = repo {
        c.hosts.extend(git_url_host(w));
    }
}

/// A subcommand's operands, and the values of its `--repo` / `--remote` options (a
/// repository URL).
fn git_operands<'a>(args: &[Word<'a>]) -> (Vec<Word<'a>>, Vec<Word<'a>>) {
    let mut operands = Vec::new();
    let mut urls = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        i += 1;
        let Some(a) = w.value.as_deref() else {
            operands.push(w.clone());
            continue;
        };
        if a == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            operands.push(w.clone());
            continue;
        }
        if let Some((name, v)) = a.split_once('=') {
            if name == "--repo" || name == "--remote" {
                urls.push(Word::lit(v));
            }
            continue;
        }
        if GIT_VALUE.contains(&a) {
            if a == "--repo" || a == "--remote" {
                urls.extend(args.get(i).cloned());
            }
            i += 1;
        }
    }
    (operands, urls)
}

/// The ssh host of a git repository argument, if it is an ssh URL (or may be one).
fn git_url_host(w: &Word) -> Option<Host> {
    let text = w.value.as_deref().unwrap_or(&w.prefix);
    // `helper::address`: a remote helper (`ext::`, `fd::`), not an ssh URL.
    if let Some((name, _)) = text.split_once("::") {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return None;
        }
    }
    operand_host(w, GIT_SCHEMES)
}
