//! Finding the host's pathname Unix sockets, which the sandbox must not reach by default:
//! D-Bus leads to `systemd-run --user`, Docker's socket to root. A read-only mount does not
//! stop `connect()`, so each socket found is masked.
//!
//! The scan is bounded, and a bound never makes it silently incomplete: a directory it could
//! not search completely (too many entries, unreadable but enterable, an error while reading)
//! is reported so that the whole directory is masked; when a root's budget runs out, the root
//! is. Each root has a budget of its own, so a directory the sandbox could fill in one run
//! (`~/.docker`) cannot starve the scan of another (`/run`, `$XDG_RUNTIME_DIR`) in the next.

use std::path::{Path, PathBuf};

use crate::sys::{Dir, EntryKind};

/// Bounds for [`find_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How many directory levels below each root are read (1: the root's own entries).
    pub max_depth: usize,
    /// Entries examined per root.
    pub per_root: usize,
    /// Entries read per directory; a bigger directory is masked whole.
    pub per_dir: usize,
    /// Directories masked whole per root before the root itself is masked instead (bounds
    /// the number of mounts).
    pub dirs_per_root: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 4,
            per_root: 50_000,
            per_dir: 10_000,
            dirs_per_root: 32,
        }
    }
}

/// Why a directory is to be masked whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Incomplete {
    /// More entries than a directory may have (or than the root's budget had left).
    TooMany,
    /// The directory can be entered (so its sockets can be reached) but not listed, or
    /// listing it failed part-way.
    Unreadable,
}

/// How a directory looked when a scan read it (or tried to): device, inode, modification
/// and change times, to the nanosecond. A later run that finds every directory of a root
/// the same may reuse that root's result (see [`super::sockets_cache`]): an entry added,
/// removed or renamed in a directory changes its modification time, a mount over it its
/// device and inode, a chmod its change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    pub dev: u64,
    pub ino: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl DirStamp {
    /// The stamp of the directory at `path` now (not following a symbolic link); None if
    /// there is none (or it is not a directory).
    pub fn of(path: &Path) -> Option<DirStamp> {
        std::fs::symlink_metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .map(|m| DirStamp::from(&m))
    }
}

impl From<&std::fs::Metadata> for DirStamp {
    fn from(m: &std::fs::Metadata) -> DirStamp {
        use std::os::unix::fs::MetadataExt;
        DirStamp {
            dev: m.dev(),
            ino: m.ino(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// One root's scan: its result, and every directory it read or tried to, as it was.
/// [`super::sockets_cache`] stores these: a change to what a scan finds or records (not
/// only to this struct) must change the cache's format tag, or a run could reuse a result
/// an older scan made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootScan {
    pub root: PathBuf,
    /// The other roots inside this one, which its scan skipped (searched on their own).
    pub nested: Vec<PathBuf>,
    /// In the order read (recorded only for a cache); None: the directory was gone when the
    /// scan reached it.
    pub dirs: Vec<(PathBuf, Option<DirStamp>)>,
    pub exhausted: bool,
    pub sockets: Vec<PathBuf>,
    pub incomplete: Vec<(PathBuf, Incomplete)>,
}

impl RootScan {
    /// Scans `root`, skipping `other_roots` inside it; with `stamps`, records the stamp of
    /// every directory read (one more `fstat` each), which only a cache needs.
    pub fn scan(root: &Path, other_roots: &[PathBuf], limits: &Limits, stamps: bool) -> RootScan {
        let mut scan = Scan {
            limits,
            other_roots,
            budget: limits.per_root,
            exhausted: false,
            sockets: Vec::new(),
            incomplete: Vec::new(),
            dirs: stamps.then(Vec::new),
            buf: Vec::new(),
        };
        scan.walk(root, Dir::open(root), 0);
        RootScan {
            root: root.to_path_buf(),
            nested: nested_in(root, other_roots),
            dirs: scan.dirs.unwrap_or_default(),
            exhausted: scan.exhausted,
            sockets: scan.sockets,
            incomplete: scan.incomplete,
        }
    }
}

/// The roots strictly inside `root`, sorted.
pub fn nested_in(root: &Path, roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut nested: Vec<PathBuf> = roots
        .iter()
        .filter(|r| r.as_path() != root && r.starts_with(root))
        .cloned()
        .collect();
    nested.sort();
    nested
}

/// The result of a scan.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SocketScan {
    /// Sockets, sorted, deduplicated.
    pub sockets: Vec<PathBuf>,
    /// Directories whose content was not searched completely, with why; sorted by path.
    pub incomplete: Vec<(PathBuf, Incomplete)>,
}

/// The sockets under `roots` (each searched up to four levels deep, not following
/// symlinks), plus `files` that are sockets themselves.
pub fn find(roots: &[PathBuf], files: &[PathBuf], cache: Option<&Path>) -> SocketScan {
    find_with(roots, files, &Limits::default(), cache)
}

/// [`find`] with explicit bounds. A root nested in another is searched as a root of its own
/// (its own budget and depth) and skipped by the outer one. With a `cache`
/// ([`super::sockets_cache`]), the scans of roots that have not changed are reused.
pub fn find_with(
    roots: &[PathBuf],
    files: &[PathBuf],
    limits: &Limits,
    cache: Option<&Path>,
) -> SocketScan {
    let (scans, reused) = super::sockets_cache::scan(roots, limits, cache);
    if cache.is_some() {
        log::debug!(
            "host sockets: {reused} of {} roots unchanged since the cached scan",
            roots.len()
        );
    }
    merge(scans, files, limits)
}

/// The sockets of `scans` (one per root), plus `files` that are sockets themselves.
fn merge(scans: Vec<RootScan>, files: &[PathBuf], limits: &Limits) -> SocketScan {
    let mut found = SocketScan::default();
    for scan in scans {
        let root = scan.root;
        if scan.exhausted || scan.incomplete.len() > limits.dirs_per_root {
            found.incomplete.push((root, Incomplete::TooMany));
        } else {
            found.sockets.extend(scan.sockets);
            found.incomplete.extend(scan.incomplete);
        }
    }
    for file in files {
        if is_socket(file) {
            found.sockets.push(file.clone());
        }
    }
    found.sockets.sort();
    found.sockets.dedup();
    found.incomplete.sort();
    found.incomplete.dedup_by(|a, b| a.0 == b.0);
    found
}

/// A directory holding more sockets than this (directly or below) is masked as a whole
/// rather than socket by socket: each mask is a mount, and bubblewrap's setup time grows
/// with the square of the mount count (1,000 sockets under `/run` cost 1.9 s one by one).
pub const SOCKETS_PER_DIR: usize = 8;

/// Groups `sockets` (found under `roots`): the deepest directories that hold more than
/// `per_dir` of them (counting the directories already grouped below them as one each) are
/// masked whole instead, when `may_mask` allows it; a root itself never is. Returns the
/// sockets left to mask one by one and the directories to mask whole. Masking a directory
/// hides what else it holds too: stricter, never looser.
pub fn group(
    sockets: Vec<PathBuf>,
    roots: &[PathBuf],
    per_dir: usize,
    may_mask: &dyn Fn(&Path) -> bool,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    use std::collections::BTreeSet;
    let root_of = |p: &Path| super::paths::innermost(roots, p).cloned();
    // Candidate directories: every ancestor of a socket strictly below its root.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for socket in &sockets {
        let Some(root) = root_of(socket) else {
            continue;
        };
        for dir in socket.ancestors().skip(1) {
            if dir == root || !dir.starts_with(&root) {
                break;
            }
            dirs.insert(dir.to_path_buf());
        }
    }
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    // Targets: sockets (false) and grouped directories (true), ordered so that whatever
    // lies below a directory follows it.
    let mut targets: BTreeSet<(PathBuf, bool)> = sockets.into_iter().map(|s| (s, false)).collect();
    for dir in dirs {
        let below: Vec<(PathBuf, bool)> = targets
            .range((dir.clone(), false)..)
            .take_while(|(p, _)| p.starts_with(&dir))
            .filter(|(p, _)| *p != dir)
            .cloned()
            .collect();
        if below.len() > per_dir && may_mask(&dir) {
            for t in below {
                targets.remove(&t);
            }
            targets.insert((dir, true));
        }
    }
    let (dirs, sockets): (Vec<_>, Vec<_>) = targets.into_iter().partition(|(_, d)| *d);
    (
        sockets.into_iter().map(|(p, _)| p).collect(),
        dirs.into_iter().map(|(p, _)| p).collect(),
    )
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Whether `dir` can be entered (its entries reached by name): `stat("dir/.")` needs search
/// permission on `dir`.
fn is_searchable(dir: &Path) -> bool {
    std::fs::metadata(dir.join(".")).is_ok()
}

struct Scan<'a> {
    limits: &'a Limits,
    other_roots: &'a [PathBuf],
    budget: usize,
    exhausted: bool,
    sockets: Vec<PathBuf>,
    incomplete: Vec<(PathBuf, Incomplete)>,
    /// The directories read and their stamps, when recorded.
    dirs: Option<Vec<(PathBuf, Option<DirStamp>)>>,
    /// The directory-entry buffer every directory of the scan reads into.
    buf: Vec<u8>,
}

impl Scan<'_> {
    /// Reads `dir` (at `depth` levels below the root) whole, then its subdirectories.
    fn walk(&mut self, dir: &Path, opened: std::io::Result<Dir>, depth: usize) {
        if self.exhausted {
            return;
        }
        // Taken before the entries are read: a change while they are read makes the next
        // run see another stamp and search again.
        if let Some(dirs) = &mut self.dirs {
            let stamp = match &opened {
                Ok(handle) => handle.metadata().ok().map(|m| DirStamp::from(&m)),
                Err(_) => DirStamp::of(dir),
            };
            dirs.push((dir.to_path_buf(), stamp));
        }
        let Ok(handle) = opened else {
            // Gone (nothing to mask) or not searchable (nothing reachable) is fine.
            if is_searchable(dir) {
                self.incomplete
                    .push((dir.to_path_buf(), Incomplete::Unreadable));
            }
            return;
        };
        let mut subdirs = Vec::new();
        let mut count = 0;
        let mut stopped = false;
        let mut buf = std::mem::take(&mut self.buf);
        // The kinds come from the directory's own records: no stat per entry.
        let read = handle.for_each(&mut buf, |name, kind| {
            if self.budget == 0 {
                self.exhausted = true;
                stopped = true;
                return false;
            }
            if count == self.limits.per_dir {
                self.incomplete
                    .push((dir.to_path_buf(), Incomplete::TooMany));
                stopped = true;
                return false;
            }
            count += 1;
            self.budget -= 1;
            match kind {
                EntryKind::Socket => self.sockets.push(dir.join(name)),
                EntryKind::Dir if depth + 1 < self.limits.max_depth => {
                    let path = dir.join(name);
                    if !self.other_roots.contains(&path) {
                        subdirs.push((name.to_owned(), path));
                    }
                }
                _ => {}
            }
            true
        });
        self.buf = buf;
        if read.is_err() {
            self.incomplete
                .push((dir.to_path_buf(), Incomplete::Unreadable));
            return;
        }
        if stopped {
            return;
        }
        for (name, path) in subdirs {
            let opened = handle.open_child(&name);
            self.walk(&path, opened, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    use crate::policy::temp_tree::TempTree;

    #[test]
    fn crowded_directories_are_masked_whole() {
        let p = |s: &str| PathBuf::from(s);
        let mut sockets: Vec<PathBuf> = (0..10).map(|i| p(&format!("/r/many/{i}"))).collect();
        sockets.extend((0..5).map(|i| p(&format!("/r/deep/a{i}/s"))));
        sockets.extend((0..5).map(|i| p(&format!("/r/deep/b/{i}"))));
        sockets.extend([p("/r/few/1"), p("/r/few/2"), p("/r/kept/x/1")]);
        sockets.extend((0..20).map(|i| p(&format!("/r/{i}.sock"))));
        let may_mask = |d: &Path| !d.starts_with("/r/kept");
        let (left, dirs) = group(sockets, &[p("/r")], 4, &may_mask);
        // many: 10 > 4. deep/b: 5 > 4, then deep holds a0..a4 and b (6 > 4).
        assert_eq!(dirs, [p("/r/deep"), p("/r/many")]);
        assert!(left.contains(&p("/r/few/1")) && left.contains(&p("/r/kept/x/1")));
        assert_eq!(
            left.len(),
            23,
            "the root itself is never masked whole: {left:?}"
        );
    }

    #[test]
    fn finds_sockets_without_following_links() {
        let t = TempTree::new("links");
        let root = &t.0;
        std::fs::create_dir_all(root.join("a/b/c/d/e")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        let _top = UnixListener::bind(root.join("top.sock")).unwrap();
        let _deep = UnixListener::bind(root.join("a/b/c/deep.sock")).unwrap();
        let _too_deep = UnixListener::bind(root.join("a/b/c/d/e/too-deep.sock")).unwrap();
        let _other = UnixListener::bind(root.join("elsewhere/other.sock")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("a/link")).unwrap();
        std::fs::write(root.join("plain"), "").unwrap();
        let found = find(
            &[root.join("a"), root.join("missing")],
            &[root.join("top.sock"), root.join("plain")],
            None,
        );
        assert_eq!(
            found.sockets,
            vec![root.join("a/b/c/deep.sock"), root.join("top.sock")]
        );
        assert!(found.incomplete.is_empty(), "{:?}", found.incomplete);
    }

    #[test]
    fn a_nested_root_has_its_own_budget_and_depth() {
        let t = TempTree::new("nested");
        let outer = t.0.join("run");
        let inner = outer.join("user/1000");
        std::fs::create_dir_all(inner.join("gnupg/d.x")).unwrap();
        let _deep = UnixListener::bind(inner.join("gnupg/d.x/S.agent")).unwrap();
        let roots = [outer.clone(), inner.clone()];
        let found = find(&roots, &[], None);
        assert_eq!(found.sockets, vec![inner.join("gnupg/d.x/S.agent")]);
        // Alone, the outer root reaches only four levels: the socket is five below it.
        assert!(find(&[outer], &[], None).sockets.is_empty());
    }

    /// Table: a tiny budget never leaves anything unsearched silently, and a flooded root
    /// does not cost another root its sockets.
    #[test]
    fn budgets_mask_what_they_could_not_search() {
        let t = TempTree::new("budget");
        let flood = t.0.join("docker");
        let run = t.0.join("run");
        std::fs::create_dir_all(flood.join("many")).unwrap();
        std::fs::create_dir_all(flood.join("spread/a")).unwrap();
        std::fs::create_dir_all(flood.join("spread/b")).unwrap();
        for i in 0..20 {
            std::fs::write(flood.join(format!("many/{i}")), "").unwrap();
        }
        for i in 0..4 {
            std::fs::write(flood.join(format!("spread/a/{i}")), "").unwrap();
            std::fs::write(flood.join(format!("spread/b/{i}")), "").unwrap();
        }
        std::fs::create_dir_all(&run).unwrap();
        let _bus = UnixListener::bind(run.join("bus")).unwrap();
        let limits = |per_root, per_dir, dirs_per_root| Limits {
            max_depth: 4,
            per_root,
            per_dir,
            dirs_per_root,
        };
        use Incomplete::*;
        let cases: Vec<(Limits, Vec<(PathBuf, Incomplete)>)> = vec![
            // Enough for everything: nothing masked whole.
            (limits(100, 100, 4), vec![]),
            // `many` has more entries than a directory may: it alone is masked.
            (limits(100, 10, 4), vec![(flood.join("many"), TooMany)]),
            // The root's budget runs out: the whole root is masked.
            (limits(20, 100, 4), vec![(flood.clone(), TooMany)]),
            // Too many directories to mask one by one: the root instead.
            (limits(100, 3, 1), vec![(flood.clone(), TooMany)]),
        ];
        for (limits, want) in cases {
            let found = find_with(&[flood.clone(), run.clone()], &[], &limits, None);
            assert_eq!(found.incomplete, want, "{limits:?}");
            assert_eq!(found.sockets, vec![run.join("bus")], "{limits:?}");
        }
    }
}
