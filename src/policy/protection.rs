//! The mandatory protections at run time: which protected paths lie inside a writable
//! root (read-only binds), which missing ones get placeholders, fence's own trust roots,
//! the `PATH` warning, and the placeholders' life on the host (locks, removal).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Policy, Target, dangerous, git};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

/// The mandatory protections that matter, those inside a writable root (elsewhere the host
/// is read-only already): existing protected paths are added to `deny_write` (canonical);
/// the missing ones that the sandbox could create are returned as placeholders. Those that
/// grow with the tree (names found below the working directory, the git locations of
/// repositories nested in it) are also added to `grown`, for the mount budget.
///
/// In `$HOME`, `$XDG_CONFIG_HOME`, `$XDG_DATA_HOME`, in git directories and for fence's own
/// trust roots, a missing name gets a placeholder and a symbolic link in a writable
/// directory is an error (no mount can pin a link). In the working tree and at the top of
/// other writable paths only existing names are protected (their link targets for links);
/// what the command creates there is reported after the run ([`Policy::watched`]), because
/// placeholders would appear in the user's project while the command runs.
pub(super) fn mandatory_protections(
    policy: &mut Policy,
    host: &HostEnv,
    allow_git_config: bool,
    deny_write: &mut Vec<PathBuf>,
    grown: &mut HashSet<PathBuf>,
    observed: Option<dangerous::Snapshot>,
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
        // Taken during the denyWrite glob walk when one covered the working directory.
        let snapshot = observed.unwrap_or_else(|| dangerous::Snapshot::take(&host.cwd));
        let walked = snapshot.found();
        found.names.extend(walked.names);
        found.git.extend(walked.git);
        found.git.sort();
        found.git.dedup();
        policy.watched = Some(snapshot);
    }

    // Below the working directory's top: what grows with the tree.
    let deep = |p: &Path| {
        p.parent()
            .is_some_and(|d| d != host.cwd && d.starts_with(&host.cwd))
    };
    let mut deep_candidates: HashSet<PathBuf> = HashSet::new();
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
    for entry in &git_entries {
        for (path, kind) in git::git_locations(entry, allow_git_config) {
            if path.ends_with("config") || path.ends_with("config.worktree") {
                repo_configs.push(path.clone());
            }
            if deep(entry) {
                deep_candidates.insert(path.clone());
            }
            candidates.push((path, kind));
        }
    }
    // What a repository's (protected) config includes is config too.
    candidates.extend(git::global_git_refs(&repo_configs, host.home.as_deref()));

    let mut placeholders = Vec::new();
    for (path, kind) in candidates {
        let is_deep = deep_candidates.contains(&path);
        match dangerous::locate(&path, kind, &is_writable) {
            Ok(Some(dangerous::Located::Existing(p))) if is_writable(&p) => {
                if is_deep {
                    grown.insert(p.clone());
                }
                deny_write.push(p)
            }
            Ok(Some(dangerous::Located::Missing(t)))
                if t.path
                    .parent()
                    .is_some_and(|p| is_writable(p) && crate::host_env::can_create_in(p)) =>
            {
                if is_deep {
                    grown.insert(t.path.clone());
                }
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
    for name in &found.names {
        let Some(real) = std::fs::canonicalize(name).ok().filter(|p| is_writable(p)) else {
            continue;
        };
        if deep(name) {
            grown.insert(real.clone());
        }
        deny_write.push(real);
    }
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
    out.extend(git::global_git_refs(&git_configs, host.home.as_deref()));
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
pub(super) fn outside_of(mut placeholders: Vec<Target>, deny_write: &[PathBuf]) -> Vec<Target> {
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
pub(super) fn path_warning(policy: &Policy, host: &HostEnv) -> Option<String> {
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
        if self.write.is_empty() && !self.tmp_shared {
            return false; // nothing to resolve: the default policy writes nowhere
        }
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

/// After the run: warns of each protected name in the working tree (`policy.watched`) that
/// the command created or replaced.
pub fn warn_of_changed_startup_files(policy: &Policy) {
    let Some(before) = &policy.watched else {
        return;
    };
    for path in before.changed() {
        log::warn!(
            "the command created or replaced {}: git config and hooks, editor, agent and \
             direnv files there run code later; review it before you use git or a tool there",
            crate::output::path(&path)
        );
    }
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
    use crate::config::Config;
    use crate::policy::compile;

    use crate::policy::temp_tree::TempTree;

    fn config(json: &str) -> Config {
        crate::config::parse_text(json, "test").unwrap()
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

    /// The working tree's protected names are gathered during the denyWrite glob walk
    /// anchored there: the same snapshot as a walk of its own, deep names protected alike.
    #[test]
    fn one_walk_serves_the_deny_globs_and_the_protected_names() {
        let t = TempTree::new("onewalk");
        let ws = t.0.join("ws");
        for dir in [
            "a/b/c/.vscode",
            "a/.git/hooks",
            "node_modules/x/.idea",
            "d/e/f/g/h",
        ] {
            std::fs::create_dir_all(ws.join(dir)).unwrap();
        }
        for file in [
            ".envrc",
            "a/b/.npmrc",
            "a/b/c/key.pem",
            "d/e/f/g/.envrc",
            "k.pem",
        ] {
            std::fs::write(ws.join(file), "").unwrap();
        }
        let host = HostEnv::new(ws.clone(), None, None, None);
        let with_globs = r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["**/*.pem"]}}"#;
        let p = compile(&config(with_globs), &host).unwrap();
        let own_walk = crate::policy::dangerous::Snapshot::take(&ws);
        assert_eq!(p.watched.as_ref(), Some(&own_walk));
        for protected in [
            ".envrc",
            "a/b/.npmrc",
            "a/b/c/.vscode",
            "a/.git/hooks",
            "k.pem",
        ] {
            assert!(p.deny_write.contains(&ws.join(protected)), "{protected}");
        }
        assert!(p.deny_write.contains(&ws.join("a/b/c/key.pem")));
        assert!(
            !p.deny_write
                .iter()
                .any(|d| d.starts_with(ws.join("node_modules"))),
            "node_modules is not searched"
        );
        assert!(
            !p.deny_write.contains(&ws.join("d/e/f/g/.envrc")),
            "four levels down: reported after the run, not protected"
        );
        // Without a glob anchored at the working directory, its own walk finds the same.
        let p = compile(&config(r#"{"filesystem": {"allowWrite": ["."]}}"#), &host).unwrap();
        assert_eq!(p.watched.as_ref(), Some(&own_walk));
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
}
