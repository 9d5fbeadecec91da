//! Expanding glob patterns against the filesystem: one walk per fixed prefix, shared by
//! every pattern with that prefix, and optionally by an [`Observer`] that wants the top
//! levels of the same directory listed (the protected-name search of the working tree).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::Pattern;
use crate::sys::{Dir, EntryKind};

/// Bounds for [`expand`].
#[derive(Debug, Clone)]
pub struct ExpandLimits {
    /// Maximum depth of matched paths, in components below the literal
    /// prefix; directories at this depth are not read.
    pub max_depth: usize,
    /// Maximum number of directory entries examined in total.
    pub max_entries: usize,
    /// Directory names never descended into during the walk (they can still
    /// be matched themselves). Not applied to the literal prefix.
    pub skip_dir_names: &'static [&'static str],
}

impl Default for ExpandLimits {
    /// `max_depth` 16, `max_entries` 100 000, not descending into `node_modules` or `.git`
    /// (they can still be matched themselves; fence protects `.git/hooks` and `.git/config`
    /// with its own search).
    fn default() -> Self {
        ExpandLimits {
            max_depth: 16,
            max_entries: 100_000,
            skip_dir_names: &["node_modules", ".git"],
        }
    }
}

/// Result of [`expand`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Matching paths, sorted and deduplicated.
    pub paths: Vec<PathBuf>,
    /// True if `max_depth`, `max_entries` or a directory that could not be
    /// listed cut the walk short, so matches may be missing.
    pub truncated: bool,
}

/// Expands a pattern to the existing paths it matches (files, directories,
/// and symlinks themselves), sorted and deduplicated.
///
/// * A literal pattern yields the path itself if it exists
///   (`symlink_metadata`), else nothing.
/// * A matched directory whose whole subtree would match as well (the rest
///   of the pattern is only `**`) is returned alone and not walked: the
///   caller binds the whole directory. In particular `/literal/dir/**`
///   yields just `/literal/dir` (if it exists) without any directory read.
/// * Otherwise the walk starts at [`Pattern::literal_prefix`] (symlinks in
///   the prefix are resolved by the OS as usual). Below it symlinks are
///   candidates but never descended, directories named in
///   `skip_dir_names` are not descended, unreadable directories are skipped
///   (counted as truncation when they can be entered), and a directory is read only if
///   the pattern can still match something below it.
/// * `truncated` is set when a directory that could hold matches sat at
///   `max_depth`, could be entered but not listed, or failed part-way, or
///   when more than `max_entries` entries would have been examined.
pub fn expand(pattern: &Pattern, limits: &ExpandLimits) -> Expansion {
    expand_all(&[pattern], limits)
}

/// [`expand`] for several patterns that share one literal prefix, in a single walk (each
/// directory is read once for all of them). The limits apply to the walk as a whole.
///
/// # Panics
/// If the patterns' literal prefixes differ.
pub fn expand_all(patterns: &[&Pattern], limits: &ExpandLimits) -> Expansion {
    expand_all_in(Path::new("/"), patterns, limits)
}

/// [`expand_all`] with the patterns anchored at `base` instead of `/`: `/x/*` under the base
/// `/home/u` matches `/home/u/x/a`. The base is a path (any bytes, no glob syntax), so a
/// directory whose name is not UTF-8 can hold patterns.
///
/// # Panics
/// If the patterns' literal prefixes differ.
pub fn expand_all_in(base: &Path, patterns: &[&Pattern], limits: &ExpandLimits) -> Expansion {
    expand_all_observed(base, patterns, limits, None)
}

/// Wants the first levels of a walk's start directory listed, whatever the patterns need,
/// so that one traversal serves both (the protected-name search of the working tree and
/// the denyWrite patterns anchored there).
pub trait Observer {
    /// How many levels it wants listed: 1 is the start directory's own entries.
    fn levels(&self) -> usize;
    /// Every entry at `depth` (0: in the start directory) below [`Observer::levels`],
    /// with its kind from the directory; true for a directory it wants listed as well
    /// (the walk still never follows links or enters `skip_dir_names`).
    fn entry(&mut self, dir: &Path, name: &OsStr, kind: EntryKind, depth: usize) -> bool;
}

/// [`expand_all_in`], also showing `observer` the first levels of the start directory. The
/// observer saw everything it asked for unless the result is `truncated`.
pub fn expand_all_observed(
    base: &Path,
    patterns: &[&Pattern],
    limits: &ExpandLimits,
    observer: Option<&mut dyn Observer>,
) -> Expansion {
    let mut walker = Walker {
        patterns,
        limits,
        examined: 0,
        out: Expansion::default(),
        buf: Vec::new(),
        observer,
    };
    let Some(first) = patterns.first() else {
        return walker.out;
    };
    let prefix = first.literal_prefix();
    assert!(
        patterns.iter().all(|p| p.literal_prefix() == prefix),
        "expand_all needs one prefix"
    );
    let start = anchor(base, prefix);
    let mut states = Vec::new();
    for pattern in patterns {
        if pattern.literal_len >= pattern.tail_start {
            if fs::symlink_metadata(&start).is_ok() {
                walker.out.paths.push(start.clone());
            }
            states.push(Vec::new()); // nothing to walk for this one
        } else {
            states.push(pattern.start_states(pattern.literal_len));
        }
    }
    if states.iter().any(|s| !s.is_empty()) || walker.observer.is_some() {
        let opened = Dir::open(&start);
        walker.walk(&start, opened, &states, 0);
    }
    let mut out = walker.out;
    out.paths.sort();
    out.paths.dedup();
    out
}

/// `base` joined with `rest`, an absolute `/`-separated path taken relative to it.
pub fn anchor(base: &Path, rest: &str) -> PathBuf {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

struct Walker<'a, 'o> {
    patterns: &'a [&'a Pattern],
    limits: &'a ExpandLimits,
    examined: usize,
    out: Expansion,
    /// The directory-entry buffer every directory of the walk reads into.
    buf: Vec<u8>,
    observer: Option<&'o mut dyn Observer>,
}

impl Walker<'_, '_> {
    /// Reads `dir` (at `depth` below the prefix), whose path has brought each
    /// pattern into its `states` (empty: that pattern is done).
    fn walk(
        &mut self,
        dir: &Path,
        opened: std::io::Result<Dir>,
        states: &[Vec<bool>],
        depth: usize,
    ) {
        if depth >= self.limits.max_depth {
            self.out.truncated = true;
            return;
        }
        let Ok(handle) = opened else {
            // A directory that can be entered but not listed may hold matches that the
            // sandbox reaches by name: say so (a missing one has none).
            if fs::metadata(dir.join(".")).is_ok() {
                self.out.truncated = true;
            }
            return;
        };
        // One buffer per pattern for every entry of this directory: states are copied out
        // only for the subdirectories to walk, which are walked once this one is read.
        let mut scratch: Vec<Vec<bool>> = vec![Vec::new(); states.len()];
        let mut pending = vec![false; states.len()];
        let mut subdirs: Vec<(std::ffi::OsString, Vec<Vec<bool>>)> = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        let read = handle.for_each(&mut buf, |file_name, kind| {
            if self.examined >= self.limits.max_entries {
                self.out.truncated = true;
                return false;
            }
            self.examined += 1;
            // A name that is not UTF-8 is matched with each invalid sequence as one
            // character (U+FFFD): `*`, `?` and `**` cover it, literals do not.
            let name = file_name.to_string_lossy();
            let (mut matched, mut descend) = (false, false);
            for (i, (pattern, states)) in self.patterns.iter().zip(states).enumerate() {
                pending[i] = false;
                if states.is_empty() {
                    continue;
                }
                let end = pattern.comps.len();
                let next = &mut scratch[i];
                pattern.step_into(states, &name, next);
                matched |= next[end];
                let covered = next[pattern.tail_start..end].contains(&true);
                pending[i] = !covered && next[..end].contains(&true);
                descend |= pending[i];
            }
            let observed = match self.observer.as_deref_mut() {
                Some(observer) if depth < observer.levels() => {
                    observer.entry(dir, file_name, kind, depth)
                }
                _ => false,
            };
            // The entry's kind comes from the directory itself: a link is never walked.
            if (descend || observed)
                && kind == EntryKind::Dir
                && !self.limits.skip_dir_names.contains(&&*name)
            {
                let next_states = scratch
                    .iter()
                    .zip(&pending)
                    .map(|(next, &p)| if p { next.clone() } else { Vec::new() })
                    .collect();
                subdirs.push((file_name.to_owned(), next_states));
            }
            if matched {
                self.out.paths.push(dir.join(file_name));
            }
            true
        });
        self.buf = buf;
        if read.is_err() {
            self.out.truncated = true;
        }
        for (name, next_states) in subdirs {
            let child = handle.open_child(&name);
            self.walk(&dir.join(&name), child, &next_states, depth + 1);
        }
    }
}
