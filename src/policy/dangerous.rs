//! Mandatory write protection: files and directories that run code later (shell and login
//! startup files, git config and hooks, ssh and direnv config, editor and agent files) and
//! fence's own trust roots. They stay read-only even inside writable paths, whatever the
//! config says (except `.git/config` with `allowGitConfig`).
//!
//! [`PROTECTED`] is the one table of these names; the README's "Protected files" table
//! lists the same rows (a unit test keeps the two in step). Git's own locations are found
//! per repository and from the user's git config (`git.rs`); `protection.rs` applies them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::Target;

/// Whether a protected name is a file or a directory (decides the placeholder's kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Where a protected name is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// At the top of `$HOME`, of the working directory and of every writable path, and up
    /// to three levels below the working directory.
    Everywhere,
    /// In `$HOME` only.
    Home,
    /// In `$XDG_CONFIG_HOME` (default `~/.config`).
    ConfigHome,
    /// In `$XDG_DATA_HOME` (default `~/.local/share`).
    DataHome,
}

/// One row of the protected-files table.
#[derive(Debug, Clone, Copy)]
pub struct Protected {
    pub name: &'static str,
    pub kind: Kind,
    pub place: Place,
    /// What runs it, for the docs.
    pub runs: &'static str,
}

const fn row(name: &'static str, kind: Kind, place: Place, runs: &'static str) -> Protected {
    Protected {
        name,
        kind,
        place,
        runs,
    }
}

use Kind::{Dir, File};
use Place::{ConfigHome, DataHome, Everywhere, Home};

/// The protected names. Git's per-repository locations (`$GIT_DIR/config`, `hooks/`,
/// `worktrees/`, `modules/**`, `core.hooksPath`) and fence's own executable and bwrap are
/// added where they are found.
pub const PROTECTED: &[Protected] = &[
    row(".bashrc", File, Everywhere, "bash (interactive)"),
    row(".bash_profile", File, Everywhere, "bash (login)"),
    row(".bash_login", File, Everywhere, "bash (login)"),
    row(".bash_logout", File, Everywhere, "bash (logout)"),
    row(
        ".bash_aliases",
        File,
        Everywhere,
        "bash (sourced by .bashrc)",
    ),
    row(".profile", File, Everywhere, "sh, bash, dash (login)"),
    row(".zshrc", File, Everywhere, "zsh"),
    row(".zshenv", File, Everywhere, "zsh (every zsh)"),
    row(".zprofile", File, Everywhere, "zsh (login)"),
    row(".zlogin", File, Everywhere, "zsh (login)"),
    row(".zlogout", File, Everywhere, "zsh (logout)"),
    row(
        ".gitconfig",
        File,
        Everywhere,
        "git (core.fsmonitor, aliases, hooks)",
    ),
    row(".gitmodules", File, Everywhere, "git submodules"),
    row(".envrc", File, Everywhere, "direnv"),
    row(
        ".direnv",
        Dir,
        Everywhere,
        "direnv (layouts put it on PATH)",
    ),
    row(
        ".npmrc",
        File,
        Everywhere,
        "npm, pnpm (script-shell, node-options)",
    ),
    row(".ripgreprc", File, Everywhere, "ripgrep (--pre)"),
    row(
        ".mcp.json",
        File,
        Everywhere,
        "coding agents (MCP server commands)",
    ),
    row(".vscode", Dir, Everywhere, "VS Code (tasks, extensions)"),
    row(
        ".idea",
        Dir,
        Everywhere,
        "JetBrains IDEs (run configurations)",
    ),
    row(".bashrc.d", Dir, Home, "bash (sourced by many .bashrc)"),
    row(".profile.d", Dir, Home, "sh (sourced by many .profile)"),
    row(
        ".inputrc",
        File,
        Home,
        "readline (key macros type commands)",
    ),
    row(
        ".pam_environment",
        File,
        Home,
        "login (environment, LD_PRELOAD)",
    ),
    row(".xprofile", File, Home, "X session start"),
    row(".xsessionrc", File, Home, "X session start"),
    row(".xinitrc", File, Home, "startx"),
    row(
        ".ssh",
        Dir,
        Home,
        "ssh (config, authorized_keys, rc, environment)",
    ),
    row(".fence.json", File, Home, "fence (legacy user config)"),
    row(".fence.jsonc", File, Home, "fence (legacy user config)"),
    // fence's default directories, for a later run without the XDG variables set now.
    row(
        ".config/fence",
        Dir,
        Home,
        "fence (user config, default place)",
    ),
    row(
        ".local/share/fence",
        Dir,
        Home,
        "fence (trust store, host socket cache, default place)",
    ),
    row("fence", Dir, ConfigHome, "fence (user config)"),
    row("git", Dir, ConfigHome, "git (user config, attributes)"),
    row("fish", Dir, ConfigHome, "fish"),
    row("direnv", Dir, ConfigHome, "direnv (direnvrc, whitelist)"),
    row("autostart", Dir, ConfigHome, "desktop session start"),
    row("systemd", Dir, ConfigHome, "systemd user units"),
    row("environment.d", Dir, ConfigHome, "systemd user environment"),
    row(
        "fence",
        Dir,
        DataHome,
        "fence (trust store, host socket cache)",
    ),
    row("direnv", Dir, DataHome, "direnv (allowed .envrc files)"),
    row(
        "applications",
        Dir,
        DataHome,
        "desktop entries (menus, file types)",
    ),
];

/// Variables that move startup files elsewhere: the variable names a directory holding
/// these names, or (an empty list) the file itself.
pub const STARTUP_ENV: &[(&str, &[&str])] = &[
    (
        "ZDOTDIR",
        &[".zshenv", ".zprofile", ".zshrc", ".zlogin", ".zlogout"],
    ),
    ("BASH_ENV", &[]),
    ("ENV", &[]),
    ("GIT_CONFIG_GLOBAL", &[]),
    ("INPUTRC", &[]),
    ("RIPGREP_CONFIG_PATH", &[]),
    ("NPM_CONFIG_USERCONFIG", &[]),
];

/// The files that the startup variables set now point at.
pub fn startup_env_files(vars: &[(String, PathBuf)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (name, value) in vars {
        match STARTUP_ENV.iter().find(|(n, _)| n == name) {
            Some((_, [])) => out.push(value.clone()),
            Some((_, names)) => out.extend(names.iter().map(|n| value.join(n))),
            None => {}
        }
    }
    out
}

/// The names protected wherever they are found.
pub fn everywhere() -> impl Iterator<Item = &'static Protected> {
    PROTECTED.iter().filter(|p| p.place == Everywhere)
}

/// How deep below the working directory nested repositories and dotfiles are looked for.
const WALK_DEPTH: usize = 3;

/// Where a protected path is, or where it would be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// It exists; the canonical path.
    Existing(PathBuf),
    /// It does not exist; the first missing component (its parent is canonical and exists).
    Missing(Target),
}

/// A symbolic link in a directory the sandbox may write: no mount can pin a link, so the
/// sandbox could replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpinnableLink(pub PathBuf);

/// Resolves `path` (absolute) component by component without trusting symbolic links:
/// a link inside a directory for which `writable` is true is refused, others are followed.
pub fn locate(
    path: &Path,
    kind: Kind,
    writable: &dyn Fn(&Path) -> bool,
) -> Result<Option<Located>, UnpinnableLink> {
    locate_hops(path.to_path_buf(), kind, writable, 0)
}

fn locate_hops(
    path: PathBuf,
    kind: Kind,
    writable: &dyn Fn(&Path) -> bool,
    hops: usize,
) -> Result<Option<Located>, UnpinnableLink> {
    if hops > 40 || !path.is_absolute() {
        return Ok(None);
    }
    let comps: Vec<Component> = path.components().collect();
    let mut cur = PathBuf::from("/");
    for (i, comp) in comps.iter().enumerate() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::ParentDir => {
                cur.pop();
                continue;
            }
            _ => continue,
        };
        let next = cur.join(name);
        let last = i + 1 == comps.len();
        match next.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(Located::Missing(Target {
                    path: next,
                    is_dir: !last || kind == Dir,
                })));
            }
            // Unreadable: nothing the sandbox could reach there either.
            Err(_) => return Ok(None),
            Ok(m) if m.file_type().is_symlink() => {
                if writable(&cur) {
                    return Err(UnpinnableLink(next));
                }
                let Ok(target) = std::fs::read_link(&next) else {
                    return Ok(None);
                };
                let mut resolved = cur.join(target);
                for rest in &comps[i + 1..] {
                    resolved.push(rest);
                }
                return locate_hops(resolved, kind, writable, hops + 1);
            }
            Ok(m) => {
                if !last && !m.is_dir() {
                    return Ok(None);
                }
                cur = next;
            }
        }
    }
    Ok(Some(Located::Existing(cur)))
}

/// What the search of the working tree found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeScan {
    /// Existing protected names (as found, not canonical).
    pub names: Vec<PathBuf>,
    /// `.git` entries: repository directories or gitlink files.
    pub git: Vec<PathBuf>,
}

/// The protected names that exist now at the top of each of `roots` and, for `walk_root`,
/// up to three directory levels below it (skipping `node_modules`), with the `.git`
/// entries found in the same places.
pub fn find(roots: &[&Path], walk_root: Option<&Path>) -> TreeScan {
    let mut found = TreeScan::default();
    for root in roots {
        for name in names_at_top(root) {
            let path = root.join(name);
            if name == ".git" {
                found.git.push(path);
            } else {
                found.names.push(path);
            }
        }
    }
    if let Some(root) = walk_root {
        walk(root, &mut |path| {
            let name = path.file_name().unwrap_or_default();
            if name == ".git" {
                found.git.push(path.to_path_buf());
            } else {
                found.names.push(path.to_path_buf());
            }
        });
    }
    for list in [&mut found.names, &mut found.git] {
        list.sort();
        list.dedup();
    }
    found
}

/// Entries read from a directory before [`names_at_top`] probes the names instead.
const LIST_LIMIT: usize = 256;

/// The protected names and `.git` that exist at the top of `dir`. A small directory is
/// listed once (one `getdents` instead of a `statx` per name: 50 writable roots took 1,050
/// probes); past [`LIST_LIMIT`] entries each name is probed, which costs less there.
fn names_at_top(dir: &Path) -> Vec<&'static str> {
    let wanted = || everywhere().map(|p| p.name).chain([".git"]);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut complete = true;
        for (count, entry) in entries.enumerate() {
            let Ok(entry) = entry.as_ref() else {
                complete = false;
                break;
            };
            if count == LIST_LIMIT {
                complete = false;
                break;
            }
            let name = entry.file_name();
            if let Some(known) = wanted().find(|w| name.as_encoded_bytes() == w.as_bytes()) {
                out.push(known);
            }
        }
        if complete {
            return out;
        }
    }
    wanted()
        .filter(|name| dir.join(name).symlink_metadata().is_ok())
        .collect()
}

/// Calls `visit` for every protected name and `.git` entry from one level below `root` down
/// to [`WALK_DEPTH`] (the names the directory records give: no stat per candidate name),
/// not descending into `node_modules` or `.git`, nor through symbolic links. Names need not
/// be UTF-8: the protected ones are compared as bytes, and every directory is walked.
fn walk(root: &Path, visit: &mut dyn FnMut(&Path)) {
    let mut buf = Vec::new();
    walk_dir(root, crate::sys::Dir::open(root), 0, &mut buf, visit);
}

fn walk_dir(
    dir: &Path,
    opened: std::io::Result<crate::sys::Dir>,
    depth: usize,
    buf: &mut Vec<u8>,
    visit: &mut dyn FnMut(&Path),
) {
    use crate::sys::EntryKind;
    let Ok(handle) = opened else {
        return;
    };
    let mut subdirs: Vec<std::ffi::OsString> = Vec::new();
    let _ = handle.for_each(buf, |name, kind| {
        let bytes = name.as_encoded_bytes();
        let is_protected = bytes == b".git" || everywhere().any(|p| p.name.as_bytes() == bytes);
        if depth > 0 && is_protected {
            visit(&dir.join(name));
        }
        let skipped = bytes == b"node_modules" || bytes == b".git";
        if kind == EntryKind::Dir && !skipped && depth < WALK_DEPTH {
            subdirs.push(name.to_owned());
        }
        true
    });
    for name in subdirs {
        let opened = handle.open_child(&name);
        walk_dir(&dir.join(&name), opened, depth + 1, buf, visit);
    }
}

/// The protected names and `.git` entries of a working tree, gathered while the glob walk
/// of its `denyWrite` patterns passes (one traversal instead of two): the same entries
/// [`Snapshot::take`] finds, at the top and down to [`WALK_DEPTH`] levels below.
pub struct TreeNames {
    root: PathBuf,
    found: Vec<PathBuf>,
}

impl TreeNames {
    pub fn new(root: &Path) -> TreeNames {
        TreeNames {
            root: root.to_path_buf(),
            found: Vec::new(),
        }
    }

    /// The snapshot of what was seen (valid only if the walk showed everything it asked
    /// for: see [`super::glob::expand_all_observed`]).
    pub fn into_snapshot(self) -> Snapshot {
        Snapshot::of(&self.root, self.found)
    }
}

impl super::glob::Observer for TreeNames {
    fn levels(&self) -> usize {
        WALK_DEPTH + 1
    }

    fn entry(
        &mut self,
        dir: &Path,
        name: &std::ffi::OsStr,
        kind: crate::sys::EntryKind,
        depth: usize,
    ) -> bool {
        let bytes = name.as_encoded_bytes();
        if bytes == b".git" || everywhere().any(|p| p.name.as_bytes() == bytes) {
            self.found.push(dir.join(name));
        }
        let skipped = bytes == b"node_modules" || bytes == b".git";
        kind == crate::sys::EntryKind::Dir && !skipped && depth < WALK_DEPTH
    }
}

/// The protected names and `.git` entries in the working tree (the root and three levels
/// below), with their identity, to tell after a run what the command created or replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    root: PathBuf,
    entries: BTreeMap<PathBuf, Identity>,
}

/// Device, inode and (except for repository directories, which change with every commit)
/// the change time: a removed and recreated entry may get the same inode number back.
type Identity = (u64, u64, i64, i64);

impl Snapshot {
    pub fn take(root: &Path) -> Snapshot {
        let mut paths: Vec<PathBuf> = names_at_top(root).iter().map(|n| root.join(n)).collect();
        walk(root, &mut |path| paths.push(path.to_path_buf()));
        Snapshot::of(root, paths)
    }

    /// The snapshot of the protected names and `.git` entries `paths`, found in `root`.
    fn of(root: &Path, paths: Vec<PathBuf>) -> Snapshot {
        use std::os::unix::fs::MetadataExt;
        let mut entries = BTreeMap::new();
        for path in paths {
            if let Ok(m) = path.symlink_metadata() {
                let ctime = if m.is_dir() && path.ends_with(".git") {
                    (0, 0)
                } else {
                    (m.ctime(), m.ctime_nsec())
                };
                entries.insert(path, (m.dev(), m.ino(), ctime.0, ctime.1));
            }
        }
        Snapshot {
            root: root.to_path_buf(),
            entries,
        }
    }

    /// The protected names and `.git` entries found (as [`find`] reports them).
    pub fn found(&self) -> TreeScan {
        let mut found = TreeScan::default();
        for path in self.entries.keys() {
            if path.file_name().is_some_and(|n| n == ".git") {
                found.git.push(path.clone());
            } else {
                found.names.push(path.clone());
            }
        }
        found
    }

    /// The entries that are new, or another file than before, in `self.root` now.
    pub fn changed(&self) -> Vec<PathBuf> {
        let now = Snapshot::take(&self.root);
        now.entries
            .into_iter()
            .filter(|(path, id)| self.entries.get(path) != Some(id))
            .map(|(path, _)| path)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::policy::temp_tree::TempTree as Tree;

    #[test]
    fn finds_protected_names_and_repositories() {
        let t = Tree::new("find");
        let root = &t.0;
        for dir in [
            ".git/hooks",
            "a/b/.git/hooks",
            "node_modules/x/.git/hooks",
            "a/b/c/d/.git/hooks",
            ".vscode",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [".bashrc", "a/.zshrc", "a/.envrc", "sub/.git"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        let found = find(&[root], Some(root));
        assert_eq!(
            t.rel(&found.names),
            [".bashrc", ".vscode", "a/.envrc", "a/.zshrc"]
        );
        assert_eq!(t.rel(&found.git), [".git", "a/b/.git", "sub/.git"]);
        assert_eq!(find(&[root], None).git.len(), 1);
    }

    #[test]
    fn directories_with_names_that_are_not_utf8_are_walked_too() {
        use std::os::unix::ffi::OsStrExt;
        let t = Tree::new("bytes");
        let odd = t.0.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir_all(odd.join("sub/.git")).unwrap();
        std::fs::write(odd.join(".envrc"), "").unwrap();
        let found = find(&[&t.0], Some(&t.0));
        assert_eq!(found.names, [odd.join(".envrc")]);
        assert_eq!(found.git, [odd.join("sub/.git")]);
    }

    #[test]
    fn top_names_by_listing_small_directories_and_probing_big_ones() {
        let t = Tree::new("top");
        for (dir, count) in [("small", 3), ("big", LIST_LIMIT + 10)] {
            let dir = t.0.join(dir);
            std::fs::create_dir_all(dir.join(".git")).unwrap();
            std::fs::write(dir.join(".envrc"), "").unwrap();
            for i in 0..count {
                std::fs::write(dir.join(format!("f{i}")), "").unwrap();
            }
            let mut names = names_at_top(&dir);
            names.sort();
            assert_eq!(names, [".envrc", ".git"], "{}", dir.display());
        }
        assert!(names_at_top(&t.0.join("missing")).is_empty());
    }

    #[test]
    fn locate_refuses_links_in_writable_directories_and_finds_the_first_missing_part() {
        let t = Tree::new("locate");
        let root = &t.0;
        std::fs::create_dir_all(root.join("w/real")).unwrap();
        std::fs::create_dir_all(root.join("ro")).unwrap();
        std::fs::write(root.join("w/real/rc"), "").unwrap();
        std::os::unix::fs::symlink("real/rc", root.join("w/.bashrc")).unwrap();
        std::os::unix::fs::symlink(root.join("w/real"), root.join("ro/link")).unwrap();
        let w = root.join("w");
        let writable = |p: &Path| p.starts_with(&w);
        assert_eq!(
            locate(&root.join("w/.bashrc"), File, &writable),
            Err(UnpinnableLink(root.join("w/.bashrc")))
        );
        assert_eq!(
            locate(&root.join("ro/link/rc"), File, &writable),
            Ok(Some(Located::Existing(root.join("w/real/rc"))))
        );
        assert_eq!(
            locate(&root.join("w/.config/git/config"), File, &writable),
            Ok(Some(Located::Missing(Target {
                path: root.join("w/.config"),
                is_dir: true
            })))
        );
        assert_eq!(
            locate(&root.join("ro/link/.npmrc"), File, &writable),
            Ok(Some(Located::Missing(Target {
                path: root.join("w/real/.npmrc"),
                is_dir: false
            })))
        );
        assert_eq!(locate(&root.join("w/real/rc/x"), File, &writable), Ok(None));
    }

    #[test]
    fn snapshot_names_new_and_replaced_entries() {
        let t = Tree::new("snapshot");
        let root = &t.0;
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join(".envrc"), "").unwrap();
        std::fs::write(root.join("a/.mcp.json"), "").unwrap();
        let before = Snapshot::take(root);
        assert!(before.changed().is_empty());
        std::fs::create_dir_all(root.join("a/b/.git")).unwrap();
        std::fs::write(root.join("a/.mcp.json.tmp"), "x").unwrap();
        std::fs::rename(root.join("a/.mcp.json.tmp"), root.join("a/.mcp.json")).unwrap();
        std::fs::write(root.join("a/unrelated"), "").unwrap();
        assert_eq!(t.rel(&before.changed()), ["a/.mcp.json", "a/b/.git"]);
    }

    #[test]
    fn startup_variables_name_files() {
        let names: Vec<&str> = STARTUP_ENV.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, crate::host_env::STARTUP_VARS);
        let vars = [
            ("ZDOTDIR".to_string(), PathBuf::from("/z")),
            ("BASH_ENV".to_string(), PathBuf::from("/b/env.sh")),
            ("OTHER".to_string(), PathBuf::from("/o")),
        ];
        let files = startup_env_files(&vars);
        assert_eq!(files.len(), 6);
        assert!(files.contains(&PathBuf::from("/z/.zshrc")));
        assert!(files.contains(&PathBuf::from("/b/env.sh")));
    }

    #[test]
    fn every_row_is_in_the_readme_table() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("<!-- protected-files:begin -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- protected-files:end -->").next())
            .expect("README has the protected-files table");
        for p in PROTECTED {
            let shown = match (p.place, p.kind) {
                (ConfigHome, _) => format!("`$XDG_CONFIG_HOME/{}/`", p.name),
                (DataHome, _) => format!("`$XDG_DATA_HOME/{}/`", p.name),
                (_, Dir) => format!("`{}/`", p.name),
                (_, File) => format!("`{}`", p.name),
            };
            assert!(table.contains(&shown), "README table lacks {shown}");
        }
        for (name, _) in STARTUP_ENV {
            let shown = format!("`{name}`");
            assert!(table.contains(&shown), "README table lacks {shown}");
        }
    }
}
