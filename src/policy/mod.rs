//! Policy compilation: a resolved [`Config`] plus the host's facts → concrete, canonical
//! paths and decisions that a platform backend turns into a sandbox.

mod budget;
pub mod command;
pub mod compare;
pub mod create;
pub mod dangerous;
pub mod domains;
pub mod exec_checks;
pub mod exec_deny;
pub mod git;
pub mod glob;
pub mod network;
pub mod paths;
pub mod platform;
mod protection;
mod reads;
pub mod sockets;
mod sockets_cache;
pub mod ssh;
#[cfg(test)]
mod temp_tree;
pub mod tmp;
pub mod trust_gate;
pub mod verdict;

pub use protection::{
    PlaceholderLocks, lock_empty_protected, remove_placeholders, warn_of_changed_startup_files,
};

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::types::DeviceMode;
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

/// A path with its kind, for rules whose mount depends on it (masks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// The compiled filesystem and device policy. All paths are absolute, canonical and existed
/// when the policy was compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Hide everything except `read` (and `write`).
    pub default_deny_read: bool,
    /// Readable roots when `default_deny_read` (system paths unless strict, allowRead,
    /// allowExecute).
    pub read: Vec<PathBuf>,
    /// Top-level system symlinks to recreate under defaultDenyRead (`/bin -> usr/bin` on
    /// merged-/usr systems), as (link, target as written).
    pub read_symlinks: Vec<(PathBuf, PathBuf)>,
    /// Writable roots (`allowWrite`), minus `/tmp` which is `tmp_shared`.
    pub write: Vec<PathBuf>,
    /// The host `/tmp` is shared read-write instead of a private tmpfs.
    pub tmp_shared: bool,
    /// Read-only even inside writable roots (`denyWrite` and the mandatory protections).
    pub deny_write: Vec<PathBuf>,
    /// Protected names that do not exist yet inside a writable root (see `dangerous.rs`):
    /// an empty read-only file or directory is mounted there, so the sandbox cannot create
    /// them. bwrap creates the mount point on the host; fence removes it after the run if it
    /// is still empty ([`remove_placeholders`]).
    pub placeholders: Vec<Target>,
    /// The protected names and git repositories in the writable working tree before the
    /// run, compared after it to name those the command created or replaced.
    pub watched: Option<dangerous::Snapshot>,
    /// Masked: empty and read-only (`denyRead`).
    pub deny_read: Vec<Target>,
    /// Host Unix sockets masked so that `connect()` fails (all but `allowUnixSockets`), and
    /// directories the socket scan could not search completely (masked whole).
    pub sockets: Vec<Target>,
    /// Files made unexecutable (run-time command deny, path mode: see `exec_deny.rs`):
    /// canonical paths of executable files, each masked by an empty read-only file.
    pub exec_deny: Vec<PathBuf>,
    /// `devices.mode: host`: the host's `/dev`.
    pub host_devices: bool,
    /// `devices.mode` is `auto` (or unset): the backend picks (the Go fence's rule).
    pub devices_auto: bool,
    /// Extra device nodes (`devices.allow`).
    pub devices: Vec<PathBuf>,
    /// The working directory the command starts in.
    pub cwd: PathBuf,
    /// `forceNewSession` / `--force-new-session`: Some(true) always runs the command in a
    /// new terminal session, Some(false) never, None decides by the protections in force.
    pub force_new_session: Option<bool>,
    /// `allowPty`: relay a pseudo-terminal when fence runs at a terminal.
    pub allow_pty: bool,
    /// Domains, proxy ports, host ports reachable from inside and ports exposed outside.
    pub network: network::NetworkPolicy,
    /// Explanations for `--debug`: entries skipped and why.
    pub notes: Vec<String>,
    /// Warnings that are always shown (deny patterns whose expansion was cut short).
    pub warnings: Vec<String>,
}

/// Compiles `cfg` against the host.
pub fn compile(cfg: &Config, host: &HostEnv) -> Result<Policy> {
    let fs = &cfg.filesystem;
    let mut policy = Policy {
        default_deny_read: fs.default_deny_read || fs.strict_deny_read,
        host_devices: cfg.devices.mode == Some(DeviceMode::Host),
        devices_auto: matches!(cfg.devices.mode, None | Some(DeviceMode::Auto)),
        cwd: host.cwd.clone(),
        force_new_session: cfg.force_new_session,
        allow_pty: cfg.allow_pty,
        ..Policy::default()
    };

    let write = resolve_write(&mut policy, &fs.allow_write, host)?;
    for path in write {
        if let Some(why) = refused_write(&path) {
            return Err(refused(
                "filesystem.allowWrite",
                &fs.allow_write,
                &path,
                why,
                host,
            ));
        }
        if path.starts_with("/dev") {
            let msg = format!(
                "filesystem.allowWrite: {} skipped: devices are granted with devices.allow \
                 (/dev/shm is already private and writable)",
                crate::output::path(&path)
            );
            if path.starts_with("/dev/shm") {
                policy.notes.push(msg);
            } else {
                policy.warnings.push(msg);
            }
            continue;
        }
        let kernel = |m: &&PathBuf| m.starts_with(&path) || path.starts_with(m);
        if let Some(mount) = host.kernel_mounts.iter().map(|m| &m.path).find(kernel) {
            let why = format!(
                "{} is a kernel filesystem (proc, sysfs, cgroup, ...) whose files would be \
                 writable",
                crate::output::path(mount)
            );
            return Err(refused(
                "filesystem.allowWrite",
                &fs.allow_write,
                &path,
                &why,
                host,
            ));
        }
        if path == Path::new("/tmp") {
            policy.tmp_shared = true;
        } else {
            policy.write.push(path);
        }
    }

    // When the working directory is writable, its protected names are searched during the
    // walk of denyWrite patterns anchored there (one traversal), if there is one.
    let cwd_writable = policy.write.iter().any(|w| host.cwd.starts_with(w))
        || (policy.tmp_shared && host.cwd.starts_with("/tmp"));
    let mut names = dangerous::TreeNames::new(&host.cwd);
    let observer: Option<(&Path, &mut dyn glob::Observer)> =
        cwd_writable.then_some((host.cwd.as_path(), &mut names));
    let (mut deny_write, observed) = resolve_observed(
        &mut policy,
        "filesystem.denyWrite",
        &fs.deny_write,
        host,
        observer,
    )?;
    let observed = observed.then(|| names.into_snapshot());
    // What the config's denyWrite names (globs above all) grows with the tree, like the
    // protected names found below the working directory.
    let mut grown: std::collections::HashSet<PathBuf> = deny_write.iter().cloned().collect();
    let placeholders = protection::mandatory_protections(
        &mut policy,
        host,
        fs.allow_git_config,
        &mut deny_write,
        &mut grown,
        observed,
    )?;
    deny_write.sort();
    deny_write.dedup();
    policy.placeholders = protection::outside_of(placeholders, &deny_write);
    policy.deny_write = deny_write;
    budget::bound(&mut policy, &grown, budget::GROWN_MOUNTS)?;
    // Deny beats allow: a denyWrite on /tmp (or above it) keeps the host's /tmp unshared.
    if policy.tmp_shared
        && policy
            .deny_write
            .iter()
            .any(|d| Path::new("/tmp").starts_with(d))
    {
        policy.tmp_shared = false;
        policy.notes.push(
            "filesystem.allowWrite: /tmp is also in filesystem.denyWrite, so the sandbox gets a \
             private /tmp"
                .into(),
        );
    }
    policy
        .warnings
        .extend(protection::path_warning(&policy, host));

    let deny_read = resolve(&mut policy, "filesystem.denyRead", &fs.deny_read, host)?;
    if let Some((path, why)) = deny_read.iter().find_map(|p| Some((p, refused_mask(p)?))) {
        return Err(refused(
            "filesystem.denyRead",
            &fs.deny_read,
            path,
            why,
            host,
        ));
    }
    policy.deny_read = deny_read
        .into_iter()
        .map(|path| Target {
            is_dir: path.is_dir(),
            path,
        })
        .collect();
    // A procfs mounted outside /proc (a container's /host/proc) shows the host's processes,
    // their open files included: masked, whatever the config says.
    for mount in &host.kernel_mounts {
        if mount.fstype == "proc" && !mount.path.starts_with("/proc") {
            policy.notes.push(format!(
                "{} (a proc filesystem outside /proc) is masked",
                crate::output::path(&mount.path)
            ));
            policy.deny_read.push(Target {
                path: mount.path.clone(),
                is_dir: true,
            });
        }
    }

    reads::readable_roots(&mut policy, cfg, host)?;

    if !cfg.network.allow_all_unix_sockets {
        let key = "network.allowUnixSockets";
        let allowed = resolve(&mut policy, key, &cfg.network.allow_unix_sockets, host)?;
        let hidden: Vec<&PathBuf> = allowed
            .iter()
            .filter(|p| policy.hidden_by_private_tmp(p))
            .collect();
        for path in hidden {
            let top = tmp::top_in_tmp(path).unwrap_or_else(|| path.clone());
            policy.warnings.push(format!(
                "{key}: {} is in the host's /tmp, which the sandbox's private /tmp hides; add \
                 [\"{}\"] to filesystem.allowRead to share it (or allowWrite \"/tmp\")",
                crate::output::path(path),
                crate::output::path(&top)
            ));
        }
        policy.sockets = host_sockets(&mut policy, host, &allowed)
            .into_iter()
            .filter(|s| !allowed.iter().any(|a| s.path.starts_with(a)))
            .collect();
    }

    for path in resolve(&mut policy, "devices.allow", &cfg.devices.allow, host)? {
        if path.starts_with("/dev/") && is_device_or_device_dir(&path) {
            policy.devices.push(path);
        } else {
            // A world-writable directory (/dev/shm, /dev/mqueue) would be the host's, and
            // writable: not a device grant.
            policy.warnings.push(format!(
                "devices.allow: {} skipped: not a device node (or a directory of them that \
                 others cannot write) under /dev",
                crate::output::path(&path)
            ));
        }
    }
    Ok(policy)
}

/// A character or block device, or a directory of them (`/dev/dri`) that is not
/// world-writable.
fn is_device_or_device_dir(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    std::fs::metadata(path).is_ok_and(|m| {
        let kind = m.file_type();
        kind.is_char_device()
            || kind.is_block_device()
            || (kind.is_dir() && m.permissions().mode() & 0o002 == 0)
    })
}

/// Why a writable path is refused: one that covers the sandbox's own `/proc`, `/dev` and
/// `/tmp` (only `/` does), or lies in `/proc` or `/sys` (kernel and process state), or is
/// `/dev` itself. Entries below `/dev` are skipped with a warning instead (see compile).
fn refused_write(path: &Path) -> Option<&'static str> {
    if path == Path::new("/") {
        Some(
            "the whole host would be writable; list the directories the command needs \
             (the sandbox's own /proc, /dev and /tmp stay its own whatever the config says)",
        )
    } else if path.starts_with("/proc") {
        Some("/proc is never writable")
    } else if path.starts_with("/sys") {
        Some("/sys (kernel settings) is never writable")
    } else if path == Path::new("/dev") {
        Some("/dev is the sandbox's own; grant device nodes with devices.allow")
    } else {
        None
    }
}

/// Why a `denyRead` path cannot be masked: `/` (nothing would be left to run; use
/// `defaultDenyRead`), and per-process paths in `/proc` (the sandbox's `/proc` has its own
/// processes: a host pid, including the `self` fence resolved, means nothing there).
fn refused_mask(path: &Path) -> Option<&'static str> {
    if path == Path::new("/") {
        return Some(
            "masking / would hide the whole system; to hide everything except what you \
             list, use \"defaultDenyRead\": true with allowRead",
        );
    }
    let mut below_proc = path.strip_prefix("/proc").ok()?.components();
    let first = below_proc.next()?.as_os_str().to_str()?;
    if first.bytes().all(|b| b.is_ascii_digit()) || first == "self" || first == "thread-self" {
        return Some(
            "a per-process /proc path means nothing inside the sandbox, whose /proc shows only \
             its own processes",
        );
    }
    None
}

pub(super) fn resolve(
    policy: &mut Policy,
    key: &str,
    entries: &[String],
    host: &HostEnv,
) -> Result<Vec<PathBuf>> {
    Ok(resolve_observed(policy, key, entries, host, None)?.0)
}

/// [`resolve`] with an observer of the walk that starts at its directory (see
/// [`paths::resolve_observed`]); the flag says whether it saw everything.
fn resolve_observed(
    policy: &mut Policy,
    key: &str,
    entries: &[String],
    host: &HostEnv,
    observer: Option<(&Path, &mut dyn glob::Observer)>,
) -> Result<(Vec<PathBuf>, bool)> {
    let (r, observed) = paths::resolve_observed(key, entries, host, observer)?;
    policy.notes.extend(r.notes);
    // A writable path that is skipped fails the command later in a way that does not name
    // fence (`ENOENT`, a disabled cache): always said. Elsewhere a missing path changes
    // nothing the command could notice.
    if key == "filesystem.allowWrite" {
        policy.warnings.extend(r.skipped);
    } else {
        policy.notes.extend(r.skipped);
    }
    let is_deny = key.contains("deny");
    for patterns in r.truncated {
        let msg = format!(
            "{key}: expanding {patterns} stopped at its limit (16 levels or 100,000 entries; \
             node_modules and .git are not searched) or at a directory it cannot list; \
             matches there are not covered"
        );
        if is_deny {
            policy.warnings.push(msg)
        } else {
            policy.notes.push(msg)
        }
    }
    Ok((r.paths, observed))
}

/// "`key`: PATH is refused: `why`", naming the entry of `entries` that resolves to `path`
/// (so that `config::locate` can point at it in the file) when there is one.
fn refused(key: &str, entries: &[String], path: &Path, why: &str, host: &HostEnv) -> Error {
    let shown = crate::output::path(path);
    let entry = entries.iter().find(|e| {
        paths::resolve("", std::slice::from_ref(*e), host)
            .is_ok_and(|r| r.paths.contains(&path.to_path_buf()))
    });
    Error::ConfigValue {
        key: key.into(),
        value: entry.cloned(),
        message: match entry {
            Some(e) if *e != shown => {
                format!(
                    "\"{}\" ({shown}) is refused: {why}",
                    crate::output::escape(e)
                )
            }
            _ => format!("{shown} is refused: {why}"),
        },
    }
}

/// `allowWrite`, where a relative entry (one naming something in the project) must not
/// lead out of the working directory: `./build -> ~/.ssh`, planted by the repository, would
/// otherwise turn a reviewed `"allowWrite": ["build"]` into write access to `~/.ssh`.
fn resolve_write(policy: &mut Policy, entries: &[String], host: &HostEnv) -> Result<Vec<PathBuf>> {
    let key = "filesystem.allowWrite";
    let is_relative = |e: &&String| !e.starts_with('/') && !e.starts_with('~');
    let (relative, absolute): (Vec<String>, Vec<String>) =
        entries.iter().cloned().partition(|e| is_relative(&e));
    let mut paths = resolve(policy, key, &absolute, host)?;
    for path in resolve(policy, key, &relative, host)? {
        if path.starts_with(&host.cwd) {
            paths.push(path);
        } else {
            policy.warnings.push(format!(
                "{key}: a relative entry resolves through a symlink to {}, outside the working \
                 directory {}; not granted (write the absolute path to allow it)",
                crate::output::path(&path),
                crate::output::path(&host.cwd)
            ));
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The host's pathname sockets in the places they live: `/run` (and `/var/run`),
/// `$XDG_RUNTIME_DIR`, `~/.docker`, `$SSH_AUTH_SOCK`, and the host `/tmp` when it is shared
/// (else the paths below it that are bound in);
/// plus, as directories, the places the scan could not search completely (masked whole).
/// Each root is scanned with a budget of its own, `/run` and `$XDG_RUNTIME_DIR` first.
fn host_sockets(policy: &mut Policy, host: &HostEnv, allowed: &[PathBuf]) -> Vec<Target> {
    let mut roots: Vec<PathBuf> = vec!["/run".into(), "/var/run".into()];
    roots.extend(host.runtime_dir.clone());
    // Every user's runtime directory as a root of its own (full depth, own budget), also
    // when `$XDG_RUNTIME_DIR` is unset (cron, sudo, CI); others' are not searchable anyway.
    if let Ok(users) = std::fs::read_dir("/run/user") {
        roots.extend(users.flatten().map(|e| e.path()));
    }
    roots.extend(host.home.as_ref().map(|h| h.join(".docker")));
    // A bound path may be a socket itself (allowRead of one).
    let mut tmp_bound: Vec<PathBuf> = Vec::new();
    if policy.tmp_shared {
        roots.push("/tmp".into());
    } else {
        // The parts of the host's /tmp that binds bring into the private one (X11, tmux and
        // ssh-agent keep their sockets in /tmp).
        let bound = policy
            .write
            .iter()
            .chain(&policy.read)
            .chain(policy.bound_cwd());
        tmp_bound.extend(bound.filter(|p| p.starts_with("/tmp")).cloned());
        roots.extend(tmp_bound.iter().cloned());
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for root in roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()) {
        if !unique.contains(&root) {
            unique.push(root);
        }
    }
    let files: Vec<PathBuf> = host
        .ssh_auth_sock
        .iter()
        .chain(&tmp_bound)
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let cache = host.data_home.as_deref().map(sockets_cache::location);
    let found = sockets::find(&unique, &files, cache.as_deref());
    // A crowded directory is masked whole, unless the policy reaches into it (a writable or
    // readable path, the working directory, an allowed socket) or it lies in a writable path.
    let writable: Vec<&Path> = policy
        .write
        .iter()
        .map(PathBuf::as_path)
        .chain(policy.tmp_shared.then_some(Path::new("/tmp")))
        .collect();
    let reached: Vec<&Path> = policy
        .read
        .iter()
        .chain(policy.bound_cwd())
        .chain(allowed)
        .map(PathBuf::as_path)
        .chain(writable.iter().copied())
        .collect();
    let may_mask = |dir: &Path| {
        !reached.iter().any(|p| p.starts_with(dir)) && !writable.iter().any(|w| dir.starts_with(w))
    };
    let (single, crowded) =
        sockets::group(found.sockets, &unique, sockets::SOCKETS_PER_DIR, &may_mask);
    let mut targets: Vec<Target> = single
        .into_iter()
        .map(|path| Target {
            path,
            is_dir: false,
        })
        .collect();
    for dir in crowded {
        policy.notes.push(format!(
            "{} holds more than {} host Unix sockets: it is hidden inside the sandbox as a whole",
            crate::output::path(&dir),
            sockets::SOCKETS_PER_DIR
        ));
        targets.push(Target {
            path: dir,
            is_dir: true,
        });
    }
    for (dir, why) in found.incomplete {
        let shown = crate::output::path(&dir);
        match why {
            sockets::Incomplete::TooMany => policy.warnings.push(format!(
                "the search for host Unix sockets in {shown} stopped at its limit (too many \
                 entries); {shown} is hidden inside the sandbox"
            )),
            sockets::Incomplete::Unreadable => policy.notes.push(format!(
                "{shown} can be entered but not listed, so its sockets cannot be found: it is \
                 hidden inside the sandbox"
            )),
        }
        targets.push(Target {
            path: dir,
            is_dir: true,
        });
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::temp_tree::TempTree;

    fn config(json: &str) -> Config {
        crate::config::parse_text(json, "test").unwrap()
    }

    #[test]
    fn compiles_writes_denies_and_protections() {
        let t = TempTree::new("compile");
        let ws = t.0.join("ws");
        for d in ["ws/.git/hooks", "ws/secret", "home"] {
            std::fs::create_dir_all(t.0.join(d)).unwrap();
        }
        for f in ["ws/.git/config", "ws/.bashrc", "ws/.env", "home/.bashrc"] {
            std::fs::write(t.0.join(f), "").unwrap();
        }
        let host = HostEnv::new(ws.clone(), Some(t.0.join("home").into()), None, None);
        let cfg = config(
            r#"{"filesystem": {"allowWrite": [".", "/dev/shm"],
            "denyWrite": ["**/.env"], "denyRead": ["secret", "nothing-here"]}}"#,
        );
        let p = compile(&cfg, &host).unwrap();
        assert_eq!(p.write, vec![ws.clone()]);
        assert!(!p.tmp_shared);
        assert_eq!(
            p.deny_write,
            vec![
                ws.join(".bashrc"),
                ws.join(".env"),
                ws.join(".git/config"),
                ws.join(".git/hooks")
            ],
            "home/.bashrc is outside every writable root, so it needs no extra mount"
        );
        assert_eq!(
            p.deny_read,
            vec![Target {
                path: ws.join("secret"),
                is_dir: true
            }]
        );
        assert!(
            p.notes.iter().any(|n| n.contains("nothing-here")),
            "{:?}",
            p.notes
        );
        assert!(
            p.notes.iter().any(|n| n.contains("/dev/shm")),
            "{:?}",
            p.notes
        );

        let with_git = config(r#"{"filesystem": {"allowWrite": ["."], "allowGitConfig": true}}"#);
        let p = compile(&with_git, &host).unwrap();
        let shared_tmp = compile(
            &config(r#"{"filesystem": {"allowWrite": ["/tmp"]}}"#),
            &host,
        )
        .unwrap();
        assert!(shared_tmp.tmp_shared && shared_tmp.write.is_empty());
        assert!(!p.deny_write.contains(&ws.join(".git/config")));
        assert!(p.deny_write.contains(&ws.join(".git/hooks")));
    }

    #[test]
    fn default_deny_read_lists_readable_roots() {
        let t = TempTree::new("ddr");
        let host = HostEnv::new(t.0.clone(), None, None, None);
        let p = compile(
            &config(r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["."]}}"#),
            &host,
        )
        .unwrap();
        assert!(p.default_deny_read);
        assert!(p.read.contains(&PathBuf::from("/usr")));
        assert!(p.read.contains(&t.0), "{:?} {:?}", p.read, p.notes);
        let p = compile(
            &config(r#"{"filesystem": {"strictDenyRead": true, "allowRead": ["."]}}"#),
            &host,
        )
        .unwrap();
        assert_eq!(p.read, vec![t.0.clone()]);
        let p = compile(&Config::default(), &host).unwrap();
        assert!(!p.default_deny_read && p.read.is_empty() && p.write.is_empty());
    }

    #[test]
    fn write_and_mask_refusals() {
        let writes = [
            ("/", true),
            ("/proc", true),
            ("/proc/sys", true),
            ("/sys/kernel", true),
            ("/dev", true),
            ("/dev/shm", false), // skipped with a note by compile, not refused
            ("/sysroot", false),
            ("/home/u", false),
            ("/tmp", false),
        ];
        for (path, refused) in writes {
            assert_eq!(refused_write(Path::new(path)).is_some(), refused, "{path}");
        }
        let masks = [
            ("/", true),
            ("/proc/1", true),
            ("/proc/1234/environ", true),
            ("/proc/self/environ", true),
            ("/proc/thread-self", true),
            ("/proc/cpuinfo", false),
            ("/proc/sys/kernel", false),
            ("/proc", false),
            ("/sys/firmware", false),
            ("/dev/kvm", false),
            ("/home/u/.ssh", false),
        ];
        for (path, refused) in masks {
            assert_eq!(refused_mask(Path::new(path)).is_some(), refused, "{path}");
        }
    }

    #[test]
    fn compile_refuses_what_would_unmask_or_expose_the_host() {
        let t = TempTree::new("refuse");
        let host = HostEnv::new(t.0.clone(), None, None, None);
        let cases = [
            (r#"{"filesystem": {"denyRead": ["/"]}}"#, "defaultDenyRead"),
            (
                r#"{"filesystem": {"denyRead": ["/etc/../.."]}}"#,
                "defaultDenyRead",
            ),
            (
                r#"{"filesystem": {"denyRead": ["/proc/self/environ"]}}"#,
                "per-process",
            ),
            (r#"{"filesystem": {"allowWrite": ["/"]}}"#, "whole host"),
            (
                r#"{"filesystem": {"allowWrite": ["/proc/sys"]}}"#,
                "never writable",
            ),
            (
                r#"{"filesystem": {"allowWrite": ["/sys/kernel"]}}"#,
                "never writable",
            ),
            (
                r#"{"filesystem": {"allowWrite": ["/dev"]}}"#,
                "devices.allow",
            ),
        ];
        for (json, why) in cases {
            let err = compile(&config(json), &host).unwrap_err();
            // The error names the entry, for config::locate to find it in the file.
            let Error::ConfigValue {
                value: Some(entry), ..
            } = &err
            else {
                panic!("{json}: {err:?}");
            };
            assert!(json.contains(&format!("[\"{entry}\"]")), "{json}: {err:?}");
            assert!(err.to_string().contains(why), "{json}: {err}");
        }
        let mut with_proc = host.clone();
        with_proc.kernel_mounts = vec![crate::host_env::KernelMount {
            path: t.0.join("host/proc"),
            fstype: "proc".into(),
        }];
        std::fs::create_dir_all(t.0.join("host/proc")).unwrap();
        std::fs::create_dir_all(t.0.join("host/proc/sys")).unwrap();
        let masked = compile(&Config::default(), &with_proc).unwrap();
        assert_eq!(
            masked.deny_read,
            vec![Target {
                path: t.0.join("host/proc"),
                is_dir: true
            }]
        );
        for entry in ["host", "host/proc/sys"] {
            let json = format!(r#"{{"filesystem": {{"allowWrite": ["{entry}"]}}}}"#);
            let err = compile(&config(&json), &with_proc).unwrap_err();
            assert!(
                err.to_string().contains("kernel filesystem"),
                "{entry}: {err}"
            );
        }
        let p = compile(
            &config(r#"{"filesystem": {"allowWrite": ["/dev/null", "/dev/shm"]}}"#),
            &host,
        )
        .unwrap();
        assert!(p.write.is_empty());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let devices = compile(
            &config(r#"{"devices": {"allow": ["/dev/null", "/dev/shm", "/dev/fd"]}}"#),
            &host,
        )
        .unwrap();
        assert_eq!(devices.devices, vec![PathBuf::from("/dev/null")]);
        assert_eq!(devices.warnings.len(), 2, "{:?}", devices.warnings);
        assert!(
            p.warnings[0].contains("/dev/null skipped"),
            "{:?}",
            p.warnings
        );
        assert!(
            p.notes.iter().any(|n| n.contains("/dev/shm skipped")),
            "{p:?}"
        );
    }
}
