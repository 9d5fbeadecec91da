//! The mount budget for read-only paths inside writable roots.
//!
//! Each read-only path inside a writable bind costs one mount, plus one "pin" (a bind of the
//! directory onto itself, so that it cannot be renamed away) for every directory between
//! the writable root and the path (see `linux/bwrap.rs`). bubblewrap re-reads the mount
//! table after each mount, so its setup time grows with the square of the mount count:
//! 400 mounts cost about a quarter of a second, 2,000 about 14 seconds.
//!
//! The paths that grow with the tree (what denyWrite entries and globs match, the protected
//! names found below the working directory, the git locations of repositories nested in
//! it) therefore share a budget of [`GROWN_MOUNTS`] mounts. When they need more, their
//! directories are made read-only as a whole instead, from the deepest level up: at each
//! level, the directories whose cover saves the most mounts go first, and the walk up stops
//! as soon as the budget is met, so a deep cluster of matches collapses into its directory
//! while an isolated match elsewhere keeps its own mount. A whole directory read-only is
//! stricter than the paths in it, so the fallback never loosens the policy; a warning names
//! what became read-only. The fixed protections (the startup-file table in `$HOME` and the
//! XDG directories, fence's own trust roots, names at the top of a writable root, the
//! working repository's git locations) are bounded by their tables and are never coarsened.
//! The run-time command denies (`exec_deny.rs`, one mount per denied executable) are fixed
//! protections too: bounded by the config's one-word deny rules, not by the tree, and never
//! inside this budget.
//!
//! Invariants (tested below and by `tests/it/filesystem.rs`):
//! - every path that was read-only before [`bound`] is read-only after it (it, or an
//!   ancestor of it, is in `deny_write`), and every placeholder is kept or lies below a
//!   read-only directory;
//! - a replacement directory is an existing, canonical ancestor of the path it covers, and
//!   never a writable root itself (the coarsest level is one below the root);
//! - when even that level needs more than the budget, compilation fails with an error
//!   that names the count and the cause, never a silent cut.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Policy, Target};
use crate::error::{Error, Result};

/// Mounts (read-only binds, placeholders and their pins) that the grown protections may
/// add. About 0.2 ms each for bubblewrap: 64 keep them near 13 ms.
pub const GROWN_MOUNTS: usize = 64;

/// A protected path inside a writable root, with what it needs.
struct Entry<'a> {
    path: &'a Path,
    root: &'a Path,
    /// Directories between the root and the path.
    depth: usize,
    grown: bool,
    placeholder: bool,
}

/// Keeps the mounts that `grown` paths (members of `policy.deny_write` or
/// `policy.placeholders`) add within [`GROWN_MOUNTS`], by covering the deepest ones with
/// their ancestor directories (see the module documentation).
pub fn bound(policy: &mut Policy, grown: &HashSet<PathBuf>, budget: usize) -> Result<()> {
    let mut roots: Vec<PathBuf> = policy.write.clone();
    if policy.tmp_shared {
        roots.push("/tmp".into());
    }
    let (deny_write, placeholders) = (policy.deny_write.clone(), policy.placeholders.clone());
    let entries = entries(&deny_write, &placeholders, &roots, grown);
    let fixed = mounts(&entries, &[], |e| !e.grown);
    let fixed_count = |all: &[Key]| {
        all.iter()
            .filter(|m| fixed.binary_search(m).is_ok())
            .count()
    };
    // The depth at which each entry is kept read-only: itself at first.
    let mut cover: Vec<usize> = entries.iter().map(|e| e.depth).collect();
    let plan = |cover: &[usize]| mounts(&entries, cover, |_| true);
    let all = plan(&cover);
    let first = all.len() - fixed_count(&all);
    if first <= budget {
        return Ok(());
    }
    // From the deepest level up, the directories there that save the most mounts are made
    // read-only whole, until the grown paths fit the budget: deep clusters collapse first,
    // and a level is coarsened only as far as needed.
    let deepest = entries.iter().map(|e| e.depth).max().unwrap_or(0);
    let mut needed = first;
    for level in (1..deepest).rev() {
        let all = plan(&cover);
        needed = all.len() - fixed_count(&all);
        if needed <= budget {
            break;
        }
        // The grown entries still deeper than `level`, by their ancestor at `level`.
        let mut members: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.grown && cover[i] > level {
                members.entry(ancestor_at(e, level)).or_default().push(i);
            }
        }
        let mut groups: Vec<(Key, usize, Vec<usize>)> = members
            .into_iter()
            .map(|(dir, indices)| {
                let below = strictly_below(&all, dir);
                (dir, below.len() - fixed_count(below), indices)
            })
            .collect();
        groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (_, saving, indices) in groups {
            for i in indices {
                cover[i] = level;
            }
            needed -= saving;
            if needed <= budget {
                break;
            }
        }
    }
    if needed > budget {
        return Err(too_many(&entries, needed, budget));
    }
    let covered = apply(policy, &entries, &cover);
    let count = covered.len();
    let shown: Vec<String> = covered
        .iter()
        .take(5)
        .map(|d| crate::output::path(d))
        .collect();
    policy.warnings.push(format!(
        "keeping {} paths read-only one by one inside the writable directories would take {} \
         mounts, more than fence's budget of {budget} (bubblewrap's setup slows with the square \
         of the mount count): {count} directories are read-only as a whole instead: {}{} (`-d` \
         lists them; narrow filesystem.denyWrite, or name those directories in it)",
        entries.iter().filter(|e| e.grown).count(),
        first,
        shown.join(", "),
        if count > shown.len() { ", ..." } else { "" },
    ));
    for dir in &covered {
        policy.notes.push(format!(
            "{} is read-only as a whole (it holds protected or denyWrite paths beyond the \
             mount budget)",
            crate::output::path(dir)
        ));
    }
    Ok(())
}

/// The members of `sorted` strictly below `dir` (they follow it in path order).
fn strictly_below<'a, 'b>(sorted: &'b [Key<'a>], dir: Key) -> &'b [Key<'a>] {
    let start = sorted.partition_point(|p| *p <= dir);
    let len = sorted[start..].iter().take_while(|p| p.within(dir)).count();
    &sorted[start..start + len]
}

/// A path of the policy (absolute and canonical) as its bytes, for the budget's many path
/// operations: `Path` parses components for each comparison, hash and `starts_with`, which
/// made this module cost 45 ms in a 50,000-directory tree. For canonical paths these byte
/// operations mean the same: the order is `Path`'s (component by component: byte order with
/// `/` below every other byte), `within` is `Path::starts_with`, `parent` is `Path::parent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key<'a>(&'a [u8]);

impl<'a> Key<'a> {
    fn of(path: &'a Path) -> Key<'a> {
        let bytes = path.as_os_str().as_bytes();
        // Canonical paths have no trailing slash; should one come, it must not matter.
        match bytes {
            [rest @ .., b'/'] if !rest.is_empty() => Key(rest),
            _ => Key(bytes),
        }
    }

    fn path(self) -> &'a Path {
        Path::new(OsStr::from_bytes(self.0))
    }

    fn parent(self) -> Option<Key<'a>> {
        if self.0 == b"/" {
            return None;
        }
        let slash = self.0.iter().rposition(|&b| b == b'/')?;
        Some(Key(if slash == 0 { b"/" } else { &self.0[..slash] }))
    }

    /// `self` is `dir` or below it.
    fn within(self, dir: Key) -> bool {
        self.0.starts_with(dir.0)
            && (self.0.len() == dir.0.len() || dir.0 == b"/" || self.0[dir.0.len()] == b'/')
    }
}

impl Ord for Key<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0, other.0);
        let common = a.len().min(b.len());
        // The first difference, eight bytes at a time while they agree (sorting compares
        // keys that share long prefixes).
        let mut i = 0;
        while i + 8 <= common && a[i..i + 8] == b[i..i + 8] {
            i += 8;
        }
        while i < common && a[i] == b[i] {
            i += 1;
        }
        let rank = |byte: u8| if byte == b'/' { 0 } else { u16::from(byte) + 1 };
        match i < common {
            true => rank(a[i]).cmp(&rank(b[i])),
            false => a.len().cmp(&b.len()),
        }
    }
}

impl PartialOrd for Key<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The read-only paths and placeholders that lie inside a writable root (the others need no
/// mount), each with its innermost root.
fn entries<'a>(
    deny_write: &'a [PathBuf],
    placeholders: &'a [Target],
    roots: &'a [PathBuf],
    grown: &HashSet<PathBuf>,
) -> Vec<Entry<'a>> {
    let innermost = |p: &Path| super::paths::innermost(roots, p);
    let placeholders = placeholders.iter().map(|t| (t.path.as_path(), true));
    let denies = deny_write.iter().map(|p| (p.as_path(), false));
    denies
        .chain(placeholders)
        .filter_map(|(path, placeholder)| {
            let root = innermost(path)?;
            Some(Entry {
                path,
                root,
                depth: path.components().count() - root.components().count(),
                grown: grown.contains(path),
                placeholder,
            })
        })
        .collect()
}

/// The mounts the `selected` entries need when each is kept read-only at the depth `cover`
/// gives (empty: each at its own): the outermost targets and their pins, sorted, each once.
fn mounts<'a>(
    entries: &[Entry<'a>],
    cover: &[usize],
    selected: impl Fn(&Entry) -> bool,
) -> Vec<Key<'a>> {
    let mut targets: Vec<(Key<'a>, Key<'a>)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| selected(e))
        .map(|(i, e)| {
            (
                ancestor_at(e, cover.get(i).copied().unwrap_or(e.depth)),
                Key::of(e.root),
            )
        })
        .collect();
    targets.sort_unstable();
    targets.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::new();
    let mut last: Option<Key> = None;
    for (target, root) in targets {
        if last.is_some_and(|l| target.within(l)) {
            continue; // below another read-only target: nothing mounted there
        }
        last = Some(target);
        out.push(target);
        // The pins: strictly between the root and the target.
        let mut above = target.parent();
        while let Some(dir) = above.filter(|a| a.within(root) && *a != root) {
            out.push(dir);
            above = dir.parent();
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `e`'s path, or its ancestor `level` directories below its root when it lies deeper.
fn ancestor_at<'a>(e: &Entry<'a>, level: usize) -> Key<'a> {
    let mut key = Key::of(e.path);
    for _ in level..e.depth {
        key = key.parent().expect("the root is an ancestor");
    }
    key
}

/// Replaces the entries that `cover` keeps read-only at a shallower depth by their
/// covering directories; returns those directories.
fn apply(policy: &mut Policy, entries: &[Entry], cover: &[usize]) -> Vec<PathBuf> {
    let coarsened = || entries.iter().zip(cover).filter(|(e, c)| **c < e.depth);
    let covered: BTreeSet<PathBuf> = coarsened()
        .map(|(e, &c)| ancestor_at(e, c).path().to_path_buf())
        .collect();
    let replaced: HashSet<&Path> = coarsened()
        .filter(|(e, _)| !e.placeholder)
        .map(|(e, _)| e.path)
        .collect();
    let mut deny_write: Vec<PathBuf> = policy
        .deny_write
        .iter()
        .filter(|p| !replaced.contains(p.as_path()))
        .cloned()
        .chain(covered.iter().cloned())
        .collect();
    deny_write.sort();
    deny_write.dedup();
    let placeholders: Vec<Target> = std::mem::take(&mut policy.placeholders);
    policy.placeholders = super::protection::outside_of(placeholders, &deny_write);
    policy.deny_write = deny_write;
    covered.into_iter().collect()
}

fn too_many(entries: &[Entry], needed: usize, budget: usize) -> Error {
    let mut by_root: BTreeMap<&Path, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.grown) {
        *by_root.entry(e.root).or_default() += 1;
    }
    let (root, count) = by_root
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .unwrap_or((Path::new("/"), 0));
    Error::Setup(format!(
        "{count} paths inside {} must stay read-only (filesystem.denyWrite matches, protected \
         names): that takes {needed} mounts even with the directories one level below it \
         read-only as a whole, more than fence's budget of {budget} (bubblewrap's setup slows \
         with the square of the mount count); name their directory in filesystem.denyWrite \
         instead, or narrow filesystem.allowWrite (`-d` shows the expansion)",
        crate::output::path(root)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(write: &[&str], deny: &[&str], placeholders: &[&str]) -> Policy {
        Policy {
            write: write.iter().map(PathBuf::from).collect(),
            deny_write: deny.iter().map(PathBuf::from).collect(),
            placeholders: placeholders
                .iter()
                .map(|p| Target {
                    path: p.into(),
                    is_dir: false,
                })
                .collect(),
            ..Policy::default()
        }
    }

    fn all(paths: &[&str]) -> HashSet<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    fn covered(p: &Policy, path: &str) -> bool {
        p.deny_write.iter().any(|d| Path::new(path).starts_with(d))
    }

    #[test]
    fn within_budget_nothing_changes() {
        let deny = ["/w/a/b/c.pem", "/w/d/e.pem"];
        let mut p = policy(&["/w"], &deny, &[]);
        let before = p.clone();
        // c.pem: itself + pins a, a/b; e.pem: itself + pin d = 5 mounts.
        bound(&mut p, &all(&deny), 5).unwrap();
        assert_eq!(p, before);
    }

    #[test]
    fn over_budget_the_deepest_clusters_are_covered_first() {
        let deny = [
            "/w/a/b/c/1.pem",
            "/w/a/b/c/2.pem",
            "/w/a/b/d/3.pem",
            "/w/e/f/g/4.pem",
            "/w/top.pem",
        ];
        let mut p = policy(&["/w"], &deny, &["/w/a/b/c/missing"]);
        // Full: 5 files + placeholder + pins a, a/b, a/b/c, a/b/d, e, e/f, e/f/g = 13.
        // Level 3: a/b/c (saves 3), a/b/d, e/f/g (1 each): 8. Level 2: a/b saves 2, and
        // 6 fit, so e/f/g stays as it is.
        bound(
            &mut p,
            &all(&[&deny[..], &["/w/a/b/c/missing"]].concat()),
            6,
        )
        .unwrap();
        assert_eq!(
            p.deny_write,
            ["/w/a/b", "/w/e/f/g", "/w/top.pem"].map(PathBuf::from)
        );
        assert!(p.placeholders.is_empty(), "under a read-only directory now");
        for d in deny {
            assert!(covered(&p, d), "{d} stays read-only");
        }
        assert!(
            p.warnings[0].contains("2 directories are read-only"),
            "{:?}",
            p.warnings
        );
        assert_eq!(p.notes.len(), 2);
    }

    #[test]
    fn fixed_protections_are_kept_and_not_counted() {
        let fixed = ["/w/.git/hooks", "/w/.git/config", "/w/.bashrc"];
        let grown = ["/w/x/y/1.pem", "/w/x/z/2.pem"];
        let mut p = policy(&["/w"], &[&fixed[..], &grown[..]].concat(), &[]);
        // Grown alone: 2 files + pins x, x/y, x/z = 5 (pin .git is fixed's).
        bound(&mut p, &all(&grown), 5).unwrap();
        assert_eq!(p.deny_write.len(), 5, "unchanged");
        bound(&mut p, &all(&grown), 2).unwrap();
        assert!(p.deny_write.contains(&PathBuf::from("/w/x")));
        for f in fixed {
            assert!(p.deny_write.contains(&PathBuf::from(f)), "{f} kept as is");
        }
    }

    #[test]
    fn nested_writable_roots_count_from_the_innermost() {
        let deny = ["/w/sub/a/1.pem", "/w/sub/a/2.pem", "/w/sub/b/3.pem"];
        let mut p = policy(&["/w", "/w/sub"], &deny, &[]);
        bound(&mut p, &all(&deny), 2).unwrap();
        assert_eq!(p.deny_write, ["/w/sub/a", "/w/sub/b"].map(PathBuf::from));
    }

    #[test]
    fn too_many_at_the_top_of_a_root_is_an_error() {
        let deny: Vec<String> = (0..10).map(|i| format!("/w/{i}.pem")).collect();
        let deny: Vec<&str> = deny.iter().map(String::as_str).collect();
        let mut p = policy(&["/w"], &deny, &[]);
        let err = bound(&mut p, &all(&deny), 4).unwrap_err().to_string();
        assert!(err.contains("10 paths inside /w"), "{err}");
        assert!(err.contains("10 mounts"), "{err}");
    }

    #[test]
    fn keys_order_nest_and_climb_as_paths_do() {
        // Names that test the byte order against the component order: `-` and `.` sort
        // below `/` as bytes, above it as components.
        let names = ["a", "a-b", "a.b", "ab", "b", "é", "a b"];
        let mut paths = vec![PathBuf::from("/")];
        // Short paths, and long ones that share prefixes longer than the 8-byte steps.
        for top in [
            "/",
            "/a-common-prefix/of-some-length",
            "/a-common-prefix.of",
        ] {
            for x in names {
                paths.push(Path::new(top).join(x));
                for y in names {
                    paths.push(Path::new(top).join(x).join(y));
                    paths.push(Path::new(top).join(x).join(y).join(x));
                }
            }
        }
        for a in &paths {
            let ka = Key::of(a);
            assert_eq!(ka.path(), a.as_path());
            assert_eq!(ka.parent().map(Key::path), a.parent(), "{}", a.display());
            for b in &paths {
                let kb = Key::of(b);
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{} vs {}", a.display(), b.display());
                assert_eq!(
                    ka.within(kb),
                    a.starts_with(b),
                    "{} in {}",
                    a.display(),
                    b.display()
                );
            }
        }
        assert_eq!(Key::of(Path::new("/w/")), Key::of(Path::new("/w")));
    }

    #[test]
    fn paths_outside_writable_roots_cost_nothing() {
        let deny = ["/elsewhere/a/b/c", "/elsewhere/d/e/f"];
        let mut p = policy(&["/w"], &deny, &[]);
        let before = p.clone();
        bound(&mut p, &all(&deny), 0).unwrap();
        assert_eq!(p, before);
    }
}
