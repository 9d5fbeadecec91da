//! Policy compilation: a resolved [`Config`] plus the host's facts → concrete, canonical
//! paths and decisions that a platform backend turns into a sandbox.

pub mod dangerous;
pub mod domains;
pub mod glob;
pub mod network;
pub mod paths;
pub mod sockets;

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::types::DeviceMode;
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

/// System paths readable under `defaultDenyRead` (unless `strictDenyRead`).
const SYSTEM_READ_PATHS: &[&str] = &[
    "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/run", "/sys",
    "/nix", "/snap",
];

/// Per-user toolchain directories readable under `defaultDenyRead` (unless strict).
const HOME_TOOL_PATHS: &[&str] = &[
    ".nvm",
    ".fnm",
    ".volta",
    ".pyenv",
    ".rbenv",
    ".cargo/bin",
    ".rustup",
    "go/bin",
    ".local/bin",
    "bin",
    ".bun/bin",
    ".deno/bin",
];

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
    /// Host Unix sockets masked so that `connect()` fails (all but `allowUnixSockets`).
    pub sockets: Vec<PathBuf>,
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
        if path == Path::new("/tmp") {
            policy.tmp_shared = true;
        } else if path.starts_with("/proc") || path.starts_with("/dev") {
            policy.notes.push(format!(
                "filesystem.allowWrite: {} skipped: /proc is never writable, and devices are \
                 granted with devices.allow (/dev/shm is already private and writable)",
                path.display()
            ));
        } else {
            policy.write.push(path);
        }
    }

    let mut deny_write = resolve(&mut policy, "filesystem.denyWrite", &fs.deny_write, host)?;
    let placeholders =
        mandatory_protections(&mut policy, host, fs.allow_git_config, &mut deny_write)?;
    deny_write.sort();
    deny_write.dedup();
    policy.placeholders = outside_of(placeholders, &deny_write);
    policy.deny_write = deny_write;
    policy.warnings.extend(path_warning(&policy, host));

    let deny_read = resolve(&mut policy, "filesystem.denyRead", &fs.deny_read, host)?;
    policy.deny_read = deny_read
        .into_iter()
        .map(|path| Target {
            is_dir: path.is_dir(),
            path,
        })
        .collect();

    if policy.default_deny_read {
        let mut read: Vec<String> = Vec::new();
        if !fs.strict_deny_read {
            read.extend(SYSTEM_READ_PATHS.iter().map(|p| p.to_string()));
            policy.read_symlinks = SYSTEM_READ_PATHS
                .iter()
                .filter_map(|p| Some((PathBuf::from(p), std::fs::read_link(p).ok()?)))
                .collect();
            read.extend(HOME_TOOL_PATHS.iter().map(|p| format!("~/{p}")));
        }
        if fs.wsl_interop == Some(true) {
            read.push("/init".into());
        }
        let mut paths = resolve_quiet(&read, host);
        paths.extend(resolve(
            &mut policy,
            "filesystem.allowRead",
            &fs.allow_read,
            host,
        )?);
        paths.extend(resolve(
            &mut policy,
            "filesystem.allowExecute",
            &fs.allow_execute,
            host,
        )?);
        paths.retain(|p| !p.starts_with("/proc") && !p.starts_with("/dev"));
        paths.sort();
        paths.dedup();
        policy.read = paths;
    }

    if !cfg.network.allow_all_unix_sockets {
        let key = "network.allowUnixSockets";
        let allowed = resolve(&mut policy, key, &cfg.network.allow_unix_sockets, host)?;
        policy.sockets = host_sockets(&policy, host)
            .into_iter()
            .filter(|s| !allowed.iter().any(|a| s.starts_with(a)))
            .collect();
    }

    policy.devices = resolve(&mut policy, "devices.allow", &cfg.devices.allow, host)?
        .into_iter()
        .filter(|p| p.starts_with("/dev/"))
        .collect();
    Ok(policy)
}

fn resolve(
    policy: &mut Policy,
    key: &str,
    entries: &[String],
    host: &HostEnv,
) -> Result<Vec<PathBuf>> {
    let r = paths::resolve(key, entries, host)?;
    policy.notes.extend(r.notes);
    let is_deny = key.contains("deny");
    for patterns in r.truncated {
        let msg = format!(
            "{key}: expanding {patterns} stopped at its limit (16 levels or 100,000 entries; \
             node_modules and .git are not searched); deeper matches are not covered"
        );
        if is_deny {
            policy.warnings.push(msg)
        } else {
            policy.notes.push(msg)
        }
    }
    Ok(r.paths)
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
                path.display(),
                host.cwd.display()
            ));
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Default read paths: missing ones are expected and not worth a note.
fn resolve_quiet(entries: &[String], host: &HostEnv) -> Vec<PathBuf> {
    paths::resolve("", entries, host)
        .map(|r| r.paths)
        .unwrap_or_default()
}

/// The host's pathname sockets in the places they live: `/run` (and `/var/run`),
/// `$XDG_RUNTIME_DIR`, `~/.docker`, `$SSH_AUTH_SOCK`, and the host `/tmp` when it is shared.
fn host_sockets(policy: &Policy, host: &HostEnv) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = vec!["/run".into(), "/var/run".into()];
    roots.extend(host.runtime_dir.clone());
    roots.extend(host.home.as_ref().map(|h| h.join(".docker")));
    if policy.tmp_shared {
        roots.push("/tmp".into());
    }
    let mut roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    roots.sort();
    roots.dedup();
    let outer: Vec<PathBuf> = roots
        .iter()
        .filter(|r| !roots.iter().any(|o| o != *r && r.starts_with(o)))
        .cloned()
        .collect();
    let files: Vec<PathBuf> = host
        .ssh_auth_sock
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    sockets::find(&outer, &files)
}

/// The mandatory protections that matter, those inside a writable root (elsewhere the host
/// is read-only already): existing protected paths are added to `deny_write` (canonical);
/// the missing ones that the sandbox could create are returned as placeholders.
///
/// In `$HOME`, `$XDG_CONFIG_HOME`, `$XDG_DATA_HOME`, in git directories and for fence's own
/// trust roots, a missing name gets a placeholder and a symbolic link in a writable
/// directory is an error (no mount can pin a link). In the working tree and at the top of
/// other writable paths only existing names are protected (their link targets for links);
/// what the command creates there is reported after the run ([`Policy::watched`]), because
/// placeholders would appear in the user's project while the command runs.
fn mandatory_protections(
    policy: &mut Policy,
    host: &HostEnv,
    allow_git_config: bool,
    deny_write: &mut Vec<PathBuf>,
) -> Result<Vec<Target>> {
    let mut writable: Vec<PathBuf> = policy.write.clone();
    if policy.tmp_shared {
        writable.push("/tmp".into());
    }
    if writable.is_empty() {
        return Ok(Vec::new());
    }
    let is_writable = |p: &Path| writable.iter().any(|w| p.starts_with(w));
    create_own_dirs(host, &is_writable);

    let mut roots: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
    roots.push(&host.cwd);
    if let Some(home) = &host.home {
        roots.push(home);
    }
    // The working tree is walked once: the snapshot for the report after the run is also
    // the list of what exists there now.
    let mut found = dangerous::find(&roots, None);
    if is_writable(&host.cwd) {
        let snapshot = dangerous::Snapshot::take(&host.cwd);
        let walked = snapshot.found();
        found.names.extend(walked.names);
        found.git.extend(walked.git);
        found.git.sort();
        found.git.dedup();
        policy.watched = Some(snapshot);
    }

    let mut candidates = placed_candidates(host);
    let mut git_entries = found.git;
    // The repository the working directory belongs to, when its top lies above it.
    if let Some(top) = host
        .cwd
        .ancestors()
        .skip(1)
        .find(|d| d.join(".git").symlink_metadata().is_ok())
    {
        git_entries.push(top.join(".git"));
    }
    let mut repo_configs = Vec::new();
    for git in &git_entries {
        for (path, kind) in dangerous::git_locations(git, allow_git_config) {
            if path.ends_with("config") || path.ends_with("config.worktree") {
                repo_configs.push(path.clone());
            }
            candidates.push((path, kind));
        }
    }
    // What a repository's (protected) config includes is config too.
    candidates.extend(dangerous::global_git_refs(
        &repo_configs,
        host.home.as_deref(),
    ));

    let mut placeholders = Vec::new();
    for (path, kind) in candidates {
        match dangerous::locate(&path, kind, &is_writable) {
            Ok(Some(dangerous::Located::Existing(p))) if is_writable(&p) => deny_write.push(p),
            Ok(Some(dangerous::Located::Missing(t)))
                if t.path
                    .parent()
                    .is_some_and(|p| is_writable(p) && crate::host_env::can_create_in(p)) =>
            {
                placeholders.push(t)
            }
            Ok(_) => {}
            Err(dangerous::UnpinnableLink(link)) => {
                let hint = if link.ends_with("hooks") {
                    " (for shared git hooks, set core.hooksPath instead of linking .git/hooks)"
                } else {
                    ""
                };
                return Err(Error::Setup(format!(
                    "{} is a symbolic link in a directory the sandbox may write \
                     (filesystem.allowWrite), and it leads to a protected file ({}): no mount \
                     can pin a link, so the command could replace it. Replace the link with \
                     what it points to{hint}, or narrow filesystem.allowWrite",
                    crate::output::path(&link),
                    crate::output::path(&path)
                )));
            }
        }
    }
    deny_write.extend(
        found
            .names
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .filter(|p| is_writable(p)),
    );
    Ok(placeholders)
}

/// The protected locations named by the table for `$HOME` and the XDG directories, fence's
/// own executable, and what the user's git config includes or names as its hooks.
fn placed_candidates(host: &HostEnv) -> Vec<(PathBuf, dangerous::Kind)> {
    use dangerous::Place;
    let mut out = Vec::new();
    for p in dangerous::PROTECTED {
        let base = match p.place {
            Place::Everywhere | Place::Home => &host.home,
            Place::ConfigHome => &host.config_home,
            Place::DataHome => &host.data_home,
        };
        if let Some(base) = base {
            out.push((base.join(p.name), p.kind));
        }
    }
    if let Some(exe) = &host.exe {
        out.push((exe.clone(), dangerous::Kind::File));
    }
    let env_files = dangerous::startup_env_files(&host.startup_vars);
    out.extend(env_files.iter().map(|f| (f.clone(), dangerous::Kind::File)));
    let mut git_configs: Vec<PathBuf> = host.home.iter().map(|h| h.join(".gitconfig")).collect();
    git_configs.extend(host.config_home.iter().map(|c| c.join("git/config")));
    git_configs.extend(
        host.startup_vars
            .iter()
            .filter(|(name, _)| name == "GIT_CONFIG_GLOBAL")
            .map(|(_, path)| path.clone()),
    );
    out.extend(dangerous::global_git_refs(
        &git_configs,
        host.home.as_deref(),
    ));
    out
}

/// fence's own config and data directories, created (mode 0700, as the XDG spec asks) when
/// they are missing and the sandbox could otherwise create them: an existing directory can
/// be bound read-only. If creating fails, a placeholder protects the name instead.
fn create_own_dirs(host: &HostEnv, is_writable: &dyn Fn(&Path) -> bool) {
    use std::os::unix::fs::DirBuilderExt;
    for base in [&host.config_home, &host.data_home].into_iter().flatten() {
        let dir = base.join("fence");
        if dir.symlink_metadata().is_ok() {
            continue;
        }
        let covered = dir
            .ancestors()
            .find(|a| a.symlink_metadata().is_ok())
            .and_then(|a| std::fs::canonicalize(a).ok())
            .is_some_and(|a| is_writable(&a));
        if covered {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
        }
    }
}

/// The placeholders that are not inside a read-only path or another placeholder (there the
/// name cannot be created anyway), one per path (a directory wins over a file).
fn outside_of(mut placeholders: Vec<Target>, deny_write: &[PathBuf]) -> Vec<Target> {
    placeholders.retain(|t| !deny_write.iter().any(|d| t.path.starts_with(d)));
    placeholders.sort_by(|a, b| a.path.cmp(&b.path).then(b.is_dir.cmp(&a.is_dir)));
    let mut out: Vec<Target> = Vec::new();
    for t in placeholders {
        if !out.iter().any(|o| t.path.starts_with(&o.path)) {
            out.push(t);
        }
    }
    out
}

/// One warning naming the directories on the host's `PATH` that the sandbox may write:
/// a program written there runs later, outside the sandbox.
fn path_warning(policy: &Policy, host: &HostEnv) -> Option<String> {
    // A directory that does not exist yet counts too: the sandbox could create it.
    let mut dirs: Vec<PathBuf> = host
        .path_dirs
        .iter()
        .filter(|d| policy.can_write(d))
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    dirs.sort();
    dirs.dedup();
    if dirs.is_empty() {
        return None;
    }
    let list: Vec<String> = dirs.iter().map(|d| crate::output::path(d)).collect();
    Some(format!(
        "filesystem.allowWrite covers {} on PATH: a program the command writes there runs \
         later outside the sandbox (narrow allowWrite, or add the directory to denyWrite)",
        list.join(", ")
    ))
}

impl Policy {
    /// Whether the sandbox may write `path` (or create it, when it does not exist): inside a
    /// writable root and not under a read-only path.
    pub fn can_write(&self, path: &Path) -> bool {
        let Some(real) = path
            .ancestors()
            .find(|a| a.symlink_metadata().is_ok())
            .and_then(|a| std::fs::canonicalize(a).ok())
        else {
            return false;
        };
        let writable = self.write.iter().any(|w| real.starts_with(w))
            || (self.tmp_shared && real.starts_with("/tmp"));
        writable && !self.deny_write.iter().any(|d| real.starts_with(d))
    }

    /// Adds one of fence's own trust roots (the bwrap it runs) to the protected paths.
    /// `path` is absolute, as found; a link to it in a writable directory is refused.
    pub fn protect_trust_root(&mut self, path: &Path) -> Result<()> {
        let mut writable = self.write.clone();
        if self.tmp_shared {
            writable.push("/tmp".into());
        }
        let is_writable = |p: &Path| writable.iter().any(|w| p.starts_with(w));
        match dangerous::locate(path, dangerous::Kind::File, &is_writable) {
            Ok(Some(dangerous::Located::Existing(p))) if is_writable(&p) => {
                self.deny_write.push(p);
                self.deny_write.sort();
                self.deny_write.dedup();
                let deny_write = self.deny_write.clone();
                self.placeholders = outside_of(std::mem::take(&mut self.placeholders), &deny_write);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(dangerous::UnpinnableLink(link)) => Err(Error::Setup(format!(
                "{} is a symbolic link in a directory the sandbox may write, and it leads to \
                 the bwrap fence runs: no mount can pin a link. Set FENCE_BWRAP to the real \
                 path, or narrow filesystem.allowWrite",
                crate::output::path(&link)
            ))),
        }
    }
}

/// Shared locks (`flock`) on the protected paths that are empty files or directories, held
/// while the sandbox runs. Another fence run may have created them as placeholders: it
/// removes a placeholder only when it can lock it exclusively, so it never removes one
/// this run's protection is mounted on (removing a mount point on the host detaches the
/// mounts on it in every other mount namespace).
pub struct PlaceholderLocks(#[allow(dead_code)] Vec<std::fs::File>);

/// Takes the shared locks described at [`PlaceholderLocks`].
pub fn lock_empty_protected(policy: &Policy) -> PlaceholderLocks {
    let locks = policy
        .deny_write
        .iter()
        .filter_map(|path| {
            let file = std::fs::File::open(path).ok()?;
            let meta = file.metadata().ok()?;
            let empty = if meta.is_dir() {
                std::fs::read_dir(path).ok()?.next().is_none()
            } else {
                meta.is_file() && meta.len() == 0
            };
            (empty && flock(&file, libc::LOCK_SH | libc::LOCK_NB)).then(|| out_of_the_way(file))
        })
        .collect();
    PlaceholderLocks(locks)
}

/// `file` moved to a descriptor number of 256 or more (or kept where it is if that fails),
/// so that holding locks does not shift the numbers of the fds fence opens next: bwrap
/// closes a `--ro-bind-data` fd after its first use, and the mount plan's shared empty fd
/// keeps working only while bwrap's next file reuses its number.
fn out_of_the_way(file: std::fs::File) -> std::fs::File {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: fcntl duplicates a descriptor `file` owns; the result is checked.
    let high = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 256) };
    if high < 0 {
        return file;
    }
    // SAFETY: `high` is a new descriptor that nothing else owns; `file` is closed on drop.
    unsafe { std::fs::File::from_raw_fd(high) }
}

/// Removes the placeholders bwrap left on the host as mount points, where they are still
/// empty (an empty file or directory; anything else was written by someone else and stays)
/// and no other fence run holds a lock on them ([`PlaceholderLocks`]).
pub fn remove_placeholders(placeholders: &[Target]) {
    use std::os::unix::fs::MetadataExt;
    for t in placeholders.iter().rev() {
        let Ok(file) = std::fs::File::open(&t.path) else {
            continue;
        };
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            continue;
        }
        let (Ok(opened), Ok(now)) = (file.metadata(), t.path.symlink_metadata()) else {
            continue;
        };
        if (opened.dev(), opened.ino()) != (now.dev(), now.ino()) {
            continue;
        }
        if t.is_dir && now.is_dir() {
            let _ = std::fs::remove_dir(&t.path);
        } else if !t.is_dir && now.is_file() && now.len() == 0 {
            let _ = std::fs::remove_file(&t.path);
        }
    }
}

fn flock(file: &std::fs::File, op: libc::c_int) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor `file` owns and keeps open for the call.
    unsafe { libc::flock(file.as_raw_fd(), op) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempTree(PathBuf);
    impl TempTree {
        fn new(name: &str) -> TempTree {
            let root =
                std::env::temp_dir().join(format!("fence-policy-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            TempTree(std::fs::canonicalize(&root).unwrap())
        }
    }
    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

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
    fn writable_home_gets_placeholders_trust_roots_and_a_path_warning() {
        let t = TempTree::new("home");
        let home = t.0.join("home");
        for d in ["home/bin", "home/.ssh", "ws", "elsewhere"] {
            std::fs::create_dir_all(t.0.join(d)).unwrap();
        }
        std::fs::write(home.join(".bashrc"), "").unwrap();
        std::fs::write(t.0.join("fence-exe"), "").unwrap();
        let mut host = HostEnv::new(t.0.join("ws"), Some(home.clone().into()), None, None);
        host.exe = Some(t.0.join("fence-exe"));
        host.path_dirs = vec![
            home.join("bin"),
            t.0.join("elsewhere"),
            home.join(".local/bin"),
            PathBuf::from("/usr/bin"),
        ];
        let cfg = config(&format!(
            r#"{{"filesystem": {{"allowWrite": ["~", "{}"], "denyWrite": ["~/.ssh"]}}}}"#,
            t.0.display()
        ));
        let p = compile(&cfg, &host).unwrap();
        for protected in [".bashrc", ".ssh", ".config/fence", ".local/share/fence"] {
            assert!(p.deny_write.contains(&home.join(protected)), "{protected}");
        }
        assert!(p.deny_write.contains(&t.0.join("fence-exe")));
        let placeholder = |name: &str| p.placeholders.iter().find(|t| t.path == home.join(name));
        assert!(placeholder(".profile").is_some_and(|t| !t.is_dir));
        assert!(placeholder(".bashrc.d").is_some_and(|t| t.is_dir));
        assert!(placeholder(".config/git").is_some_and(|t| t.is_dir));
        assert!(placeholder(".bashrc").is_none(), "it exists");
        assert!(
            !p.placeholders
                .iter()
                .any(|t| t.path.starts_with(home.join(".ssh"))),
            "nothing inside a read-only path"
        );
        let warning = p.warnings.iter().find(|w| w.contains("on PATH")).unwrap();
        assert!(
            warning.contains("home/bin") && warning.contains("elsewhere"),
            "{warning}"
        );
        assert!(warning.contains(".local/bin"), "not yet created: {warning}");
        assert!(!warning.contains("/usr/bin"), "{warning}");
        assert!(p.can_write(&home.join("new-file")) && !p.can_write(&home.join(".ssh/x")));
        assert!(!p.can_write(Path::new("/usr/bin/new")));

        // Nothing writable: nothing to protect, no warning.
        let p = compile(&Config::default(), &host).unwrap();
        assert!(p.deny_write.is_empty() && p.placeholders.is_empty() && p.warnings.is_empty());
    }

    #[test]
    fn links_to_protected_files_in_writable_directories_are_refused() {
        let t = TempTree::new("link");
        let home = t.0.join("home");
        std::fs::create_dir_all(home.join("dotfiles")).unwrap();
        std::fs::write(home.join("dotfiles/bashrc"), "").unwrap();
        std::fs::create_dir_all(t.0.join("ws")).unwrap();
        std::os::unix::fs::symlink("dotfiles/bashrc", home.join(".bashrc")).unwrap();
        let host = HostEnv::new(t.0.join("ws"), Some(home.clone().into()), None, None);
        let err = compile(&config(r#"{"filesystem": {"allowWrite": ["~"]}}"#), &host)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbolic link") && err.contains(".bashrc"),
            "{err}"
        );
        // Read-only home: the link cannot be touched, nothing to refuse.
        assert!(compile(&config(r#"{"filesystem": {"allowWrite": ["."]}}"#), &host).is_ok());
    }

    #[test]
    fn placeholders_outside_read_only_paths_and_each_other() {
        let t = |p: &str, is_dir| Target {
            path: p.into(),
            is_dir,
        };
        let out = outside_of(
            vec![
                t("/h/.config/git", true),
                t("/h/.config", true),
                t("/h/.bashrc", false),
                t("/h/.bashrc", true),
                t("/h/.ssh/config", false),
            ],
            &[PathBuf::from("/h/.ssh")],
        );
        assert_eq!(
            out,
            vec![t("/h/.bashrc", true), t("/h/.config", true)],
            "a directory wins, inner and read-only ones go"
        );
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
}
