//! Missing `allowWrite` directories under `$HOME` or the working directory are created
//! before the sandbox starts, as the user (the mode is `0777` less the umask), so that a
//! cache a tool expects (`~/.npm` on a fresh account) exists and is bound writable instead
//! of being skipped.
//!
//! Only what the config plainly asks for is created: a literal entry (no wildcard, but a
//! trailing `/**` names the directory with all it holds) that lies strictly below the home
//! or working directory (not `/`), not in `/proc`, `/sys`, `/dev` or a kernel filesystem,
//! not covered by a `denyWrite` or `denyRead` entry, and where no directory to be created
//! is a protected name (`.ssh`, `.git`, `.vscode`, `~/.config/git`, ...; see
//! `dangerous.rs`). The walk never follows a symbolic link out
//! of the tree it starts from: each component is opened relative to its verified parent
//! with `O_NOFOLLOW` and created with `mkdirat` there; a component that is a link is
//! resolved, and the walk starts again from the top along the link's target only when
//! that target lies inside the same tree. The run's policy is compiled afterwards, so the
//! new directories get the same protections as existing ones.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::dangerous::{self, Place};
use super::glob::{self, Pattern};
use super::paths;
use crate::config::Config;
use crate::host_env::HostEnv;
use crate::output;

/// What creating the missing directories did, for the run's messages.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Directories created (for `-d`), and entries not created because the rules above
    /// exclude them.
    pub notes: Vec<String>,
    /// Entries that could not be created (a link out of the tree, a permission error).
    pub warnings: Vec<String>,
    /// The compiler's "does not exist, skipped" warnings that a warning above already
    /// explains (one line per entry is enough).
    pub superseded: Vec<String>,
}

/// How many symbolic links one entry's walk follows (within its tree) before giving up.
const MAX_LINKS: usize = 40;

/// A missing literal `filesystem.allowWrite` entry under the home or working directory.
struct Missing<'a> {
    /// The entry as written.
    written: &'a str,
    full: PathBuf,
    /// The tree it would be created in, and its path relative to that tree.
    tree: PathBuf,
    rel: PathBuf,
    /// Why it must not be created, if it must not.
    excluded: Option<String>,
}

fn missing_entries<'a>(cfg: &'a Config, host: &HostEnv) -> Vec<Missing<'a>> {
    let mut out = Vec::new();
    for written in &cfg.filesystem.allow_write {
        // `dir/**` is the directory and everything in it: the directory is created.
        let entry = written.strip_suffix("/**").unwrap_or(written);
        if glob::has_glob(entry) {
            continue;
        }
        let Some(abs) = paths::absolute(entry, host.home.as_deref(), &host.cwd) else {
            continue;
        };
        let full = glob::anchor(&abs.base, &abs.rest);
        if full.symlink_metadata().is_ok() {
            continue;
        }
        let Some((tree, rel)) = tree_of(&full, host) else {
            continue;
        };
        let excluded = excluded(&full, &tree, &rel, cfg, host);
        out.push(Missing {
            written,
            full,
            tree,
            rel,
            excluded,
        });
    }
    out
}

/// The missing `filesystem.allowWrite` directories of `cfg` that a run would create (what
/// `fence trust` must count as granted: they do not exist to be compared yet).
pub fn would_create(cfg: &Config, host: &HostEnv) -> Vec<PathBuf> {
    missing_entries(cfg, host)
        .into_iter()
        .filter(|m| m.excluded.is_none())
        .map(|m| m.full)
        .collect()
}

/// Creates the missing `filesystem.allowWrite` directories of `cfg` that lie under the home
/// or working directory (see the module documentation).
pub fn missing_write_dirs(cfg: &Config, host: &HostEnv) -> Prepared {
    let key = "filesystem.allowWrite";
    let mut out = Prepared::default();
    for missing in missing_entries(cfg, host) {
        let shown = output::path(&missing.full);
        if let Some(why) = missing.excluded {
            out.notes
                .push(format!("{key}: {shown} is missing and not created: {why}"));
            continue;
        }
        match create_below(&missing.tree, &missing.rel) {
            Ok(created) => {
                for dir in created {
                    out.notes
                        .push(format!("{key}: created {}", output::path(&dir)));
                }
            }
            Err(why) => {
                out.warnings.push(format!(
                    "{key}: {shown} does not exist and was not created ({why}), skipped"
                ));
                out.superseded.extend([
                    format!("{key}: {shown} does not exist, skipped"),
                    format!(
                        "{key}: \"{}\" match nothing that exists",
                        output::escape(missing.written)
                    ),
                ]);
            }
        }
    }
    out
}

/// The tree a missing path is created in: the deepest of the working directory and the
/// home directory it lies strictly below (never `/`), canonical, and the path relative to
/// it (plain names only).
fn tree_of(full: &Path, host: &HostEnv) -> Option<(PathBuf, PathBuf)> {
    let mut bases: Vec<(PathBuf, PathBuf)> = vec![(host.cwd.clone(), host.cwd.clone())];
    if let Some(home) = &host.home {
        let real = std::fs::canonicalize(home).ok()?;
        bases.push((home.clone(), real.clone()));
        bases.push((real.clone(), real));
    }
    bases
        .into_iter()
        .filter(|(_, real)| real != Path::new("/"))
        .filter_map(|(lexical, real)| {
            let rel = full.strip_prefix(&lexical).ok()?;
            let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
            (plain && !rel.as_os_str().is_empty())
                .then(|| (lexical.as_os_str().len(), real, rel.to_path_buf()))
        })
        .max_by_key(|(depth, _, _)| *depth)
        .map(|(_, real, rel)| (real, rel))
}

/// Why a missing path must not be created, if it must not.
fn excluded(full: &Path, tree: &Path, rel: &Path, cfg: &Config, host: &HostEnv) -> Option<String> {
    let target = tree.join(rel);
    for p in [full, target.as_path()] {
        let kernel = host.kernel_mounts.iter().any(|m| p.starts_with(&m.path));
        if super::refused_write(p).is_some() || p.starts_with("/dev") || kernel {
            return Some("it is in a system or kernel filesystem".into());
        }
    }
    let fs = &cfg.filesystem;
    for (key, entries) in [
        ("filesystem.denyWrite", &fs.deny_write),
        ("filesystem.denyRead", &fs.deny_read),
    ] {
        if let Some(entry) = entries.iter().find(|e| covers(e, &[full, &target], host)) {
            return Some(format!("{key} \"{}\" covers it", output::escape(entry)));
        }
    }
    // The directories that would be new: from the first missing component down.
    let existing = rel
        .ancestors()
        .find(|a| tree.join(a).symlink_metadata().is_ok())
        .map_or(0, |a| a.components().count());
    let mut dir = tree.to_path_buf();
    for (i, name) in rel.components().enumerate() {
        dir.push(name);
        if i >= existing && is_protected_location(&dir, host) {
            return Some(format!(
                "{} is a protected name (see \"Protected files\" in the README)",
                output::path(&dir)
            ));
        }
    }
    None
}

/// Whether the deny entry `entry` covers one of `paths` (or an ancestor of one): by its
/// pattern, for what does not exist yet, and by the existing paths it resolves to.
fn covers(entry: &str, paths: &[&Path], host: &HostEnv) -> bool {
    let Some(abs) = paths::absolute(entry, host.home.as_deref(), &host.cwd) else {
        return false;
    };
    let Ok(pattern) = Pattern::new(&abs.rest) else {
        return true;
    };
    let by_pattern = paths.iter().any(|p| {
        let Ok(rel) = p.strip_prefix(&abs.base) else {
            return false;
        };
        let mut text = String::new();
        rel.components().any(|c| {
            let Some(name) = c.as_os_str().to_str() else {
                return true; // not UTF-8: cannot tell, so covered
            };
            text.push('/');
            text.push_str(name);
            pattern.matches(&text)
        }) || pattern.matches("/")
    });
    let resolved = || {
        paths::resolve("", &[entry.to_string()], host).is_ok_and(|r| {
            r.paths.iter().any(|d| {
                paths.iter().any(|p| {
                    let real = p
                        .ancestors()
                        .find(|a| a.symlink_metadata().is_ok())
                        .and_then(|a| std::fs::canonicalize(a).ok());
                    p.starts_with(d) || real.is_some_and(|r| r.starts_with(d))
                })
            })
        })
    };
    by_pattern || resolved()
}

/// Whether `dir` is one of the protected names: anywhere for the names protected
/// everywhere (and `.git`), else at its place in the home, config or data directory.
fn is_protected_location(dir: &Path, host: &HostEnv) -> bool {
    let Some(name) = dir.file_name() else {
        return false;
    };
    if name == ".git" {
        return true;
    }
    dangerous::PROTECTED.iter().any(|row| {
        let base = match row.place {
            Place::Everywhere => return name == OsStr::new(row.name),
            Place::Home => host.home.as_ref(),
            Place::ConfigHome => host.config_home.as_ref(),
            Place::DataHome => host.data_home.as_ref(),
        };
        base.is_some_and(|b| {
            let real = std::fs::canonicalize(b).unwrap_or_else(|_| b.clone());
            dir == b.join(row.name) || dir == real.join(row.name)
        })
    })
}

/// Creates `rel` below `tree` (canonical), component by component (see the module
/// documentation). Returns the directories created, or why it stopped.
fn create_below(tree: &Path, rel: &Path) -> Result<Vec<PathBuf>, String> {
    let mut created = Vec::new();
    let mut todo: Vec<OsString> = rel.iter().map(OsStr::to_os_string).collect();
    let mut links = 0;
    'walk: loop {
        let mut dir = open_tree(tree)?;
        let mut at = tree.to_path_buf();
        for (i, name) in todo.iter().enumerate() {
            let c_name =
                CString::new(name.as_bytes()).map_err(|_| "a name holds a NUL byte".to_string())?;
            let mut made = false;
            let next = loop {
                match crate::sys::open_dir_at(dir.as_fd(), &c_name) {
                    Ok(fd) => break fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !made => {
                        match crate::sys::mkdir_at(dir.as_fd(), &c_name, 0o777) {
                            Ok(()) => created.push(at.join(name)),
                            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                            Err(e) => {
                                return Err(format!(
                                    "cannot create {}: {e}",
                                    output::path(&at.join(name))
                                ));
                            }
                        }
                        made = true;
                    }
                    Err(e) => {
                        let link = at.join(name);
                        let is_link = link.symlink_metadata().is_ok_and(|m| m.is_symlink());
                        if !is_link {
                            return Err(format!("cannot open {}: {e}", output::path(&link)));
                        }
                        links += 1;
                        let target = std::fs::canonicalize(&link).ok().filter(|t| t.is_dir());
                        let inside = target.as_ref().and_then(|t| t.strip_prefix(tree).ok());
                        let (Some(inside), true) = (inside, links <= MAX_LINKS) else {
                            return Err(format!(
                                "{} is a symbolic link that does not lead to a directory \
                                 inside {}",
                                output::path(&link),
                                output::path(tree)
                            ));
                        };
                        let mut rest: Vec<OsString> =
                            inside.iter().map(OsStr::to_os_string).collect();
                        rest.extend(todo[i + 1..].iter().cloned());
                        todo = rest;
                        continue 'walk;
                    }
                }
            };
            dir = next;
            at.push(name);
        }
        return Ok(created);
    }
}

/// The tree's top directory, opened, and checked to be the directory it names.
fn open_tree(tree: &Path) -> Result<OwnedFd, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(tree)
        .map_err(|e| format!("cannot open {}: {e}", output::path(tree)))?;
    let opened = file.metadata().map_err(|e| e.to_string())?;
    let named = std::fs::metadata(tree).map_err(|e| e.to_string())?;
    if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
        return Err(format!(
            "{} changed while it was opened",
            output::path(tree)
        ));
    }
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;
    use crate::policy::temp_tree::TempTree;
    use std::os::unix::fs::PermissionsExt;

    fn run(t: &TempTree, json: &str) -> Prepared {
        let host = HostEnv::new(
            t.0.join("home/ws"),
            Some(t.0.join("home").into()),
            None,
            None,
        );
        missing_write_dirs(&parse_text(json, "test").unwrap(), &host)
    }

    #[test]
    fn creates_missing_dirs_under_home_and_the_working_directory() {
        let t = TempTree::new("create");
        std::fs::create_dir_all(t.0.join("home/ws")).unwrap();
        std::fs::create_dir_all(t.0.join("elsewhere")).unwrap();
        let out = run(
            &t,
            &format!(
                r#"{{"filesystem": {{"allowWrite": ["~/.npm", "~/.cache/pip/http", "build/out",
                "{}/elsewhere/x", "~/*.d", "~/.ssh/sub", "~/.config/git/x", "~/denied/x",
                "~/.vscode", "~/.cargo/registry/**"], "denyWrite": ["~/denied"]}}}}"#,
                t.0.display()
            ),
        );
        // The mode is the umask's, as for any directory the user creates.
        std::fs::create_dir(t.0.join("reference")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        for dir in [
            "home/.npm",
            "home/.cache/pip/http",
            "home/ws/build/out",
            "home/.cargo/registry",
        ] {
            assert!(t.0.join(dir).is_dir(), "{dir}");
            assert_eq!(mode(&t.0.join(dir)), mode(&t.0.join("reference")), "{dir}");
        }
        for dir in [
            "elsewhere/x",
            "home/*.d",
            "home/.ssh",
            "home/.config/git",
            "home/denied",
            "home/.vscode",
        ] {
            assert!(!t.0.join(dir).exists(), "{dir}: {out:?}");
        }
        assert!(out.warnings.is_empty(), "{out:?}");
        let noted = |what: &str| out.notes.iter().any(|n| n.contains(what));
        assert!(
            noted("created") && noted("protected name") && noted("denyWrite"),
            "{out:?}"
        );
    }

    #[test]
    fn never_follows_a_link_out_of_the_tree() {
        let t = TempTree::new("create-link");
        std::fs::create_dir_all(t.0.join("home/ws")).unwrap();
        std::fs::create_dir_all(t.0.join("outside")).unwrap();
        std::fs::create_dir_all(t.0.join("home/real")).unwrap();
        std::os::unix::fs::symlink(t.0.join("outside"), t.0.join("home/.npm")).unwrap();
        std::os::unix::fs::symlink(t.0.join("outside"), t.0.join("home/ws/build")).unwrap();
        std::os::unix::fs::symlink(t.0.join("home/real"), t.0.join("home/inside")).unwrap();
        let out = run(
            &t,
            r#"{"filesystem": {"allowWrite": ["~/.npm/_cacache", "build/x", "~/inside/y"]}}"#,
        );
        assert!(
            std::fs::read_dir(t.0.join("outside"))
                .unwrap()
                .next()
                .is_none(),
            "nothing made outside"
        );
        assert_eq!(out.warnings.len(), 2, "{out:?}");
        assert!(out.warnings[0].contains("symbolic link"), "{out:?}");
        // A link that stays inside the tree is followed.
        assert!(t.0.join("home/real/y").is_dir(), "{out:?}");
    }
}
