//! Run-time command deny, path mode (`command.runtimeExecPolicy: "path"`, the default): the
//! programs that single-word deny rules name are made unexecutable inside the sandbox, so
//! that a script the preflight let through (`make`, a `postinstall` hook, `sh -c "$X"`)
//! cannot start them either.
//!
//! Which rules: every `command.deny` rule of one word (not the default list's: its commands
//! fail in the sandbox anyway, and masking them would cost every run), compared by basename (`/sbin/reboot` is `reboot`), except a name
//! that a `command.allow` rule runs (`"allow": ["git status"]` keeps `git` executable: the
//! preflight still refuses the rest). Rules of several words (`git push`, `dd if=`) are
//! checked only before the run.
//!
//! Which files: the name is looked up by `stat` of `DIR/NAME` in each directory of the
//! command's `PATH` (a relative or empty entry counts from the working directory the command
//! starts in) and in the usual bin directories ([`BIN_DIRS`]), each directory once (merged
//! `/usr`: `/bin` is `/usr/bin`). No directory is listed. Each executable found is followed
//! through its symlinks to the file it runs; that file's path gets the mask (the backend
//! binds an empty, read-only, mode 0444 file over it), which every symlink leading there
//! reaches too. Exec of it fails with `EACCES` (a shell says "Permission denied", exit 126).
//!
//! Shared files. Masking a file disables every name it runs under, so a file is masked only
//! when every name fence can see it run under is denied: its own name and each other path
//! found for it (a symlink `mkfs.ext4 -> mke2fs` needs `mke2fs` denied too), and its hard
//! links all accounted for (`st_nlink` equals the paths found: another link would be a
//! command of another name that fence cannot see without listing directories). A file also
//! reached by a name `command.allow` allows is never masked. Otherwise the file is *shared*
//! (a multicall binary: busybox, single-binary coreutils, `reboot -> systemctl`,
//! `insmod -> kmod`), and:
//! - for a rule of `command.deny`: fence refuses to run, naming the file and why, unless
//!   the name is listed in `command.acceptSharedBinaryCannotRuntimeDeny`; then the name stays
//!   executable at run time (the preflight still refuses it) and a warning says so;
//! - for a rule of the default list only: the name stays executable at run time, said under
//!   `--debug` (on systemd hosts `reboot` is `systemctl`: the Go fence masks `systemctl`;
//!   inside the sandbox these commands fail anyway, without capabilities and with the
//!   `reboot`, module and mount syscalls denied by seccomp).
//!
//! Limits (path mode is policy hygiene, not a security boundary): a copy of the program at
//! another path, one the sandbox can write (a writable directory on `PATH`), an interpreter
//! reading it as a script, or a multicall binary asked by another name
//! (`busybox reboot`) are not stopped.
//!
//! Cost: one `fstatat` per name and directory (each directory opened once; a symlink target
//! shared by several names is followed once): 0.21 ms for the default list's 34 names on an
//! 8-directory `PATH` (`exec_deny_speed` in the tests), and one mount per masked file. The masks are
//! bounded by the config's single-word deny rules (not by the tree), so they are fixed
//! protections in the mount budget's sense (`budget.rs`): not counted in its grown budget.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::command::{CommandPolicy, List, Rule, rules::basename};
use crate::error::{Error, Result};
use crate::output;
use crate::sys::LookupDir;

/// The usual bin directories, searched besides `PATH`.
pub const BIN_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

const ACCEPT_KEY: &str = "command.acceptSharedBinaryCannotRuntimeDeny";

/// The names to deny at run time and the names `command.allow` runs.
#[derive(Debug, Default)]
pub struct Names {
    /// Denied name → the `command.deny` rule that names it, as written.
    deny: BTreeMap<String, String>,
    allow: BTreeSet<String>,
    /// Deny rules written as a path (`/opt/x/tool`): that path too, with its name.
    paths: Vec<(PathBuf, String)>,
}

impl Names {
    /// The single-word deny rules of `rules` (the config's first), minus allowed names.
    pub fn new(rules: &CommandPolicy) -> Names {
        let mut names = Names::default();
        for rule in rules.allow_rules() {
            names.allow.insert(basename(&rule.tokens[0]).to_string());
        }
        // The default list is checked before the run only: inside the sandbox its commands
        // fail anyway (no capabilities; seccomp denies reboot, mounts, namespaces, module
        // loading), and masking its ten-odd files would cost every run about 2.5 ms of
        // bwrap mounts (measured, see README "Run-time deny").
        for rule in rules
            .deny_rules()
            .iter()
            .filter(|r| r.tokens.len() == 1 && r.list != List::Default)
        {
            names.add(rule);
        }
        names
    }

    fn add(&mut self, rule: &Rule) {
        let token = &rule.tokens[0];
        let name = basename(token);
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return;
        }
        if self.allow.contains(name) {
            return;
        }
        if token.starts_with('/') && token.len() > name.len() {
            self.paths.push((PathBuf::from(token), name.to_string()));
        }
        self.deny
            .entry(name.to_string())
            .or_insert_with(|| rule.text.clone());
    }

    pub fn is_empty(&self) -> bool {
        self.deny.is_empty()
    }
}

/// A directory searched for the names, open: each name costs one `fstatat` relative to it
/// (a third of a `stat` of the full path).
pub struct SearchDir {
    /// As listed (absolute, not canonical).
    pub path: PathBuf,
    dir: LookupDir,
}

/// The directories to search, each once (by device and inode: merged `/usr`'s `/bin` is
/// `/usr/bin`): `PATH`'s entries in order (relative and empty ones from `cwd`), then
/// `bin_dirs`. Missing entries and non-directories are left out.
pub fn search_dirs(path_var: Option<&OsStr>, cwd: &Path, bin_dirs: &[&str]) -> Vec<SearchDir> {
    let from_path = path_var
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default();
    let listed = from_path
        .into_iter()
        .map(|d| if d.is_absolute() { d } else { cwd.join(d) })
        .chain(bin_dirs.iter().map(PathBuf::from));
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut dirs = Vec::new();
    for path in listed {
        let Ok(dir) = LookupDir::open(&path) else {
            continue;
        };
        if dir.stat().is_ok_and(|st| seen.insert((st.dev, st.ino))) {
            dirs.push(SearchDir { path, dir });
        }
    }
    dirs
}

/// What path mode does on this host: the files to mask, and what to say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Canonical paths of the files to make unexecutable, sorted.
    pub masks: Vec<PathBuf>,
    pub warnings: Vec<String>,
    /// For `--debug`.
    pub notes: Vec<String>,
}

/// One executable file that some probed name reaches.
#[derive(Debug, Default)]
struct File {
    nlink: u64,
    /// Its canonical paths found (hard links are several).
    paths: BTreeSet<PathBuf>,
    /// The denied names that reach it.
    denied: BTreeSet<String>,
    /// The allowed names that reach it.
    allowed: BTreeSet<String>,
}

/// Resolves `names` in `dirs` (see [`search_dirs`]) and decides what to mask. A file a
/// `command.deny` rule names that is shared with other commands is an error unless its name
/// is in `accept` (see the module documentation).
pub fn resolve(names: &Names, dirs: &[SearchDir], accept: &[String]) -> Result<Resolution> {
    let mut files: HashMap<(u64, u64), File> = HashMap::new();
    let probes = names
        .deny
        .keys()
        .map(|n| (n, true))
        .chain(names.allow.iter().map(|n| (n, false)));
    // Each directory's canonical path, found when something is found in it.
    let mut canonical: Vec<Option<Option<PathBuf>>> = vec![None; dirs.len()];
    type Found = Option<((u64, u64), u64, PathBuf)>;
    let mut links: HashMap<(usize, PathBuf), Found> = HashMap::new();
    for (name, denied) in probes {
        let mut found: Vec<((u64, u64), u64, PathBuf)> = Vec::new();
        let Ok(c_name) = std::ffi::CString::new(name.as_bytes()) else {
            continue; // a NUL byte: no file has that name
        };
        for (i, dir) in dirs.iter().enumerate() {
            let Ok(st) = dir.dir.lstat(&c_name) else {
                continue;
            };
            let hit = if st.is_symlink() {
                // Links to one target (`reboot`, `halt`, `poweroff` -> `/bin/systemctl`)
                // are followed once.
                let link = dir.path.join(name);
                match std::fs::read_link(&link) {
                    Ok(target) => links
                        .entry((i, target))
                        .or_insert_with(|| executable(&link))
                        .clone(),
                    Err(_) => None,
                }
            } else if st.is_file() && st.mode & 0o111 != 0 {
                let real =
                    canonical[i].get_or_insert_with(|| std::fs::canonicalize(&dir.path).ok());
                real.as_ref()
                    .map(|d| ((st.dev, st.ino), st.nlink, d.join(name)))
            } else {
                None
            };
            found.extend(hit);
        }
        let explicit = names.paths.iter().filter(|(_, n)| n == name);
        found.extend(explicit.filter_map(|(p, _)| executable(p)));
        for (key, nlink, path) in found {
            let file = files.entry(key).or_default();
            file.nlink = nlink;
            file.paths.insert(path);
            if denied {
                file.denied.insert(name.clone());
            } else {
                file.allowed.insert(name.clone());
            }
        }
    }
    let mut out = Resolution::default();
    let mut sorted: Vec<&File> = files.values().filter(|f| !f.denied.is_empty()).collect();
    sorted.sort_by(|a, b| a.paths.cmp(&b.paths));
    for file in sorted {
        match shared(file, names) {
            None => out.masks.extend(file.paths.iter().cloned()),
            Some(why) => decide_shared(file, &why, names, accept, &mut out)?,
        }
    }
    out.masks.sort();
    out.masks.dedup();
    if !out.masks.is_empty() {
        let shown: Vec<String> = out.masks.iter().map(|p| output::path(p)).collect();
        out.notes.push(format!(
            "command deny at run time (path mode): {} not executable in the sandbox",
            shown.join(", ")
        ));
    }
    Ok(out)
}

/// The identity, link count and canonical path of the executable regular file `candidate`
/// leads to, following symlinks; None for anything else (missing, a directory, not
/// executable).
fn executable(candidate: &Path) -> Option<((u64, u64), u64, PathBuf)> {
    let lstat = std::fs::symlink_metadata(candidate).ok()?;
    let (meta, path) = if lstat.file_type().is_symlink() {
        let path = std::fs::canonicalize(candidate).ok()?;
        (std::fs::metadata(&path).ok()?, path)
    } else {
        (lstat, candidate.to_path_buf())
    };
    (meta.is_file() && meta.mode() & 0o111 != 0)
        .then(|| ((meta.dev(), meta.ino()), meta.nlink(), path))
}

/// Why masking `file` would disable more than denied names: None when it would not.
fn shared(file: &File, names: &Names) -> Option<String> {
    let mut why = Vec::new();
    let allowed: BTreeSet<&str> = file
        .allowed
        .iter()
        .map(String::as_str)
        .chain(
            file.paths
                .iter()
                .filter_map(|p| p.file_name()?.to_str())
                .filter(|n| names.allow.contains(*n)),
        )
        .collect();
    if !allowed.is_empty() {
        why.push(format!(
            "it also runs as {}, which command.allow allows",
            quoted(allowed.iter().copied())
        ));
    }
    let others: BTreeSet<&str> = file
        .paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .filter(|n| !names.deny.contains_key(*n) && !allowed.contains(n))
        .collect();
    if !others.is_empty() {
        why.push(format!(
            "it also runs as {} (a multicall binary)",
            quoted(others.iter().copied())
        ));
    }
    let found = file.paths.len() as u64;
    if file.nlink > found {
        why.push(format!(
            "it has {} hard links and only {found} of them are known to be denied names (the \
             others may be other commands)",
            file.nlink
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// A shared file: an error for a `command.deny` name not accepted, else left executable.
fn decide_shared(
    file: &File,
    why: &str,
    names: &Names,
    accept: &[String],
    out: &mut Resolution,
) -> Result<()> {
    let shown: Vec<String> = file.paths.iter().map(|p| output::path(p)).collect();
    let shown = shown.join(", ");
    let accepted = |name: &str| accept.iter().any(|a| basename(a) == name);
    let allowed = !file.allowed.is_empty()
        || file.paths.iter().any(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| names.allow.contains(n))
        });
    for name in &file.denied {
        let rule = &names.deny[name];
        let keep = format!(
            "\"{name}\" stays executable inside the sandbox: {shown} would be masked, but {why}"
        );
        if allowed || accepted(name) {
            out.warnings.push(format!(
                "command.deny: {keep}; command.deny still refuses it before the run{}",
                if allowed {
                    ""
                } else {
                    " (command.acceptSharedBinaryCannotRuntimeDeny)"
                }
            ));
            continue;
        }
        return Err(Error::ConfigValue {
            key: "command.deny".into(),
            value: Some(rule.clone()),
            message: format!(
                "\"{}\" cannot be denied at run time: it runs {shown}, and {why}, so masking it \
                 would disable those commands in the sandbox too. Add \"{name}\" to \
                 {ACCEPT_KEY} to refuse it before the run only, or deny the other names as well",
                output::escape(rule)
            ),
        });
    }
    Ok(())
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<String> = names
        .map(|n| format!("\"{}\"", output::escape(n)))
        .collect();
    match all.len() {
        0..=5 => all.join(", "),
        n => format!("{}, ... ({n} names)", all[..5].join(", ")),
    }
}

#[cfg(test)]
#[path = "exec_deny_tests.rs"]
mod tests;
