//! The file sections of the profile: reads, writes with their mandatory protections, and
//! the rules that keep protected paths from being moved away.
//!
//! On Linux, `Policy::deny_write` and `Policy::placeholders` are mounts: read-only binds
//! over what existed when the policy was compiled, and empty placeholders where a
//! protected name did not exist yet. Seatbelt needs neither: a filter is checked at every
//! access, for paths that exist or not. So the macOS profile
//!
//! * denies writes to those same concrete paths (`subpath`, so a placeholder's path simply
//!   cannot be created, and nothing is left on the host to clean up);
//! * protects the names of `dangerous::PROTECTED` that apply everywhere (`.bashrc`,
//!   `.vscode`, …) and git's hooks and config at **any depth** below every writable root,
//!   with one regex scoped to the writable roots: a `.bashrc` created later in a new
//!   subdirectory is covered, at no per-file cost. The regex is unanchored at its start, so
//!   a writable root that itself lies inside such a name (`~/.vscode/x`) is not writable:
//!   the safe side;
//! * keeps the config's `denyWrite`/`denyRead` globs as anchored regexes (`super::regex`);
//! * forbids `file-write-unlink` (which Seatbelt checks for the source of a rename too) on
//!   every ancestor of a concrete protected or hidden path and on each glob's fixed leading
//!   directory and its ancestors, those inside a writable root (the others cannot be
//!   renamed anyway): otherwise `mv proj proj2` would carry a protected file
//!   to a path no rule names. Paths matched by the name regex need no such rule: wherever a
//!   rename takes them, the regex still matches.
//!
//! Hidden (`denyRead`) paths are unwritable too, as the Linux mask over them is.

use std::path::{Path, PathBuf};

use super::profile::{Extras, any, path_filters, spellings, unique};
use super::regex;
use super::sbpl::{Builder, regex_literal, string_literal};
use crate::policy::dangerous::{self, Place};
use crate::policy::{Policy, glob};

/// System paths readable under `defaultDenyRead` (unless `strictDenyRead`): the OS, its
/// frameworks and libraries (the dyld cache lies under `/System`), Homebrew and the
/// timezone data.
pub const SYSTEM_READ: &[&str] = &[
    "/System",
    "/Library",
    "/usr",
    "/bin",
    "/sbin",
    "/opt",
    "/etc",
    "/Applications",
    "/private/var/db/timezone",
    "/private/var/select",
];

/// The read operations a hidden path is denied, each on its own: a `file-read*` deny does
/// not override a specific `file-read-data` or `file-read-metadata` allow.
const READ_OPS: &[&str] = &[
    "file-read*",
    "file-read-data",
    "file-read-metadata",
    "file-read-xattr",
];

/// Filters for an absolute pattern: a literal one is a `subpath` parameter, a glob an
/// anchored regex, each for both spellings; `notes` tells of an invalid one.
fn pattern_filters(
    b: &mut Builder,
    prefix: &str,
    pattern: &str,
    notes: &mut Vec<String>,
) -> (Vec<String>, Option<PathBuf>) {
    let parsed = match glob::Pattern::new(pattern) {
        Ok(p) => p,
        Err(e) => {
            notes.push(format!("macOS profile: {e}: left out"));
            return (Vec::new(), None);
        }
    };
    let fixed = PathBuf::from(parsed.literal_prefix());
    if parsed.is_literal() {
        return (path_filters(b, "subpath", prefix, &fixed), Some(fixed));
    }
    let texts = std::iter::once(pattern.to_string()).chain(regex::alias(pattern));
    let filters = texts
        .filter_map(|t| regex::from_glob(&t))
        .map(|r| format!("(regex {})", regex_literal(&r)))
        .collect();
    (filters, Some(fixed))
}

/// `(subpath "…")` for a path of fence's own, in both spellings.
fn constant_filters(path: &str) -> Vec<String> {
    spellings(Path::new(path))
        .iter()
        .map(|p| format!("(subpath {})", string_literal(&p.to_string_lossy())))
        .collect()
}

/// The regexes for the names protected at any depth below a writable root.
fn name_regexes(allow_git_config: bool) -> Vec<String> {
    let names: Vec<&str> = dangerous::everywhere().map(|p| p.name).collect();
    let mut out = vec![regex::any_component(&names)];
    if allow_git_config {
        out.push(r"/\.git/hooks(/|$)".into());
        out.push(r"/\.git/(modules|worktrees)/(.*/)?hooks(/|$)".into());
    } else {
        out.push(r"/\.git/(hooks(/|$)|config$)".into());
        out.push(r"/\.git/(modules|worktrees)/(.*/)?(hooks(/|$)|config$)".into());
    }
    out.into_iter()
        .map(|r| format!("(regex {})", regex_literal(&r)))
        .collect()
}

/// The protected names that live in one place (`$HOME`, the XDG directories).
fn placed(extras: &Extras) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for row in dangerous::PROTECTED {
        let base = match row.place {
            Place::Everywhere => None,
            Place::Home => extras.home.as_ref(),
            Place::ConfigHome => extras.config_home.as_ref(),
            Place::DataHome => extras.data_home.as_ref(),
        };
        out.extend(base.map(|b| b.join(row.name)));
    }
    out
}

/// The read, write and move-blocking rules.
pub fn reads_and_writes(
    b: &mut Builder,
    policy: &Policy,
    extras: &Extras,
    notes: &mut Vec<String>,
) {
    // Hidden paths, and the places that must not move (see the module's doc).
    let mut hidden = Vec::new();
    let mut anchors: Vec<PathBuf> = Vec::new();
    for target in &policy.deny_read {
        hidden.extend(path_filters(b, "subpath", "DENY_READ", &target.path));
        anchors.push(target.path.clone());
    }
    for pattern in &extras.deny_read {
        let (filters, fixed) = pattern_filters(b, "DENY_READ", pattern, notes);
        hidden.extend(filters);
        anchors.extend(fixed);
    }
    let hidden = unique(hidden);
    let unhidden = |f: String| match any(&hidden) {
        None => f,
        Some(h) => format!("(require-all {f} (require-not {h}))"),
    };

    b.section("file read");
    if !policy.default_deny_read {
        match any(&hidden) {
            None => b.rule("(allow file-read*)"),
            Some(h) => b.rule(format!("(allow file-read* (require-not {h}))")),
        }
    } else {
        // Metadata everywhere (path resolution, `getcwd`, `realpath`), the root's listing,
        // and the readable roots.
        match any(&hidden) {
            None => b.rule("(allow file-read-metadata)"),
            Some(h) => b.rule(format!("(allow file-read-metadata (require-not {h}))")),
        }
        b.rule("(allow file-read-data (literal \"/\"))");
        let mut readable = Vec::new();
        if extras.system_read {
            for path in SYSTEM_READ {
                readable.extend(constant_filters(path));
            }
        }
        for path in &policy.read {
            readable.extend(path_filters(b, "subpath", "READ", path));
        }
        for pattern in &extras.allow_read {
            readable.extend(pattern_filters(b, "READ", pattern, notes).0);
        }
        for path in writable_roots(policy, extras) {
            readable.extend(path_filters(b, "subpath", "WRITE", &path));
        }
        if let Some(r) = any(&readable) {
            b.rule(format!("(allow file-read* {})", unhidden(r)));
        }
    }
    if let Some(h) = any(&hidden) {
        b.section("denyRead");
        for op in READ_OPS {
            b.rule(format!("(deny {op} {h})"));
        }
    }

    b.section("file write");
    let mut writable = Vec::new();
    for path in writable_roots(policy, extras) {
        writable.extend(path_filters(b, "subpath", "WRITE", &path));
    }
    let names = name_regexes(extras.allow_git_config);
    // Concrete protected paths: the compiled read-only paths and placeholders, and the
    // protected names of $HOME and the XDG directories.
    let mut concrete: Vec<PathBuf> = policy.deny_write.clone();
    concrete.extend(policy.placeholders.iter().map(|t| t.path.clone()));
    let roots = writable_roots(policy, extras);
    let in_writable = |path: &Path| {
        spellings(path)
            .iter()
            .any(|p| roots.iter().any(|r| p.starts_with(r)))
    };
    // Elsewhere nothing is writable anyway.
    concrete.extend(placed(extras).into_iter().filter(|p| in_writable(p)));
    let mut protected = Vec::new();
    for path in &concrete {
        protected.extend(path_filters(b, "subpath", "PROTECT", path));
        anchors.push(path.clone());
    }
    for pattern in &extras.deny_write {
        let (filters, fixed) = pattern_filters(b, "DENY_WRITE", pattern, notes);
        protected.extend(filters);
        anchors.extend(fixed);
    }
    protected.extend(hidden.iter().cloned());
    let protected = unique(protected);
    if let Some(w) = any(&writable) {
        let mut exceptions = names.clone();
        exceptions.extend(protected.iter().cloned());
        let except = any(&exceptions).expect("the name regexes are never empty");
        b.rule(format!(
            "(allow file-write* (require-all {w} (require-not {except})))"
        ));
        let names = any(&names).expect("never empty");
        b.rule(format!("(deny file-write* (require-all {w} {names}))"));
    }
    if let Some(p) = any(&protected) {
        b.rule(format!("(deny file-write* {p})"));
    }

    let mut ancestors: Vec<PathBuf> = Vec::new();
    for anchor in &anchors {
        // A glob's fixed directory itself (the concrete paths are denied whole already).
        let from: &Path = if concrete.contains(anchor) || hidden_path(policy, anchor) {
            match anchor.parent() {
                Some(parent) => parent,
                None => continue,
            }
        } else {
            anchor
        };
        // Renaming a directory takes `file-write-unlink` on it: only those inside a
        // writable root could be moved at all.
        for a in from.ancestors().filter(|a| in_writable(a)) {
            if !ancestors.iter().any(|x| x == a) {
                ancestors.push(a.to_path_buf());
            }
        }
    }
    let mut moves = Vec::new();
    for a in &ancestors {
        moves.extend(path_filters(b, "literal", "ANCESTOR", a));
    }
    if let Some(m) = any(&moves) {
        b.section("move-blocking");
        b.rule(format!("(deny file-write-unlink {m})"));
    }
}

fn hidden_path(policy: &Policy, path: &Path) -> bool {
    policy.deny_read.iter().any(|t| t.path == path)
}

/// The writable roots: `allowWrite`, the host's `/tmp` when it is shared, and the run's
/// own `TMPDIR`.
fn writable_roots(policy: &Policy, extras: &Extras) -> Vec<PathBuf> {
    let mut roots = policy.write.clone();
    if policy.tmp_shared {
        roots.push(PathBuf::from("/tmp"));
    }
    if !extras.tmpdir.as_os_str().is_empty() {
        roots.push(extras.tmpdir.clone());
    }
    roots
}
