//! A cache of the host socket scan, so that a run whose socket roots (`/run`,
//! `$XDG_RUNTIME_DIR`...) have not changed since an earlier run checks one stamp per
//! directory (`statx`) instead of reading each directory. Listing `/run` costs about 6.5 µs
//! per directory on the development VM (the kernel's directory read; a C loop takes as
//! long), a stamp about 1.5 µs.
//!
//! Trust: the next run believes what the cache says is absent, so the cache must be as safe
//! from the sandbox as fence's trust store, and it lives beside it, in `$XDG_DATA_HOME/fence/`:
//! a mandatory protection keeps that directory read-only in every sandbox whatever the
//! config (created first where a writable path would let the command create it). A cache
//! that is not the user's own (its directory or file owned by someone else or writable by
//! others, a symbolic link), too big, damaged or of another format is ignored.
//!
//! Invariants:
//! - A root's cached result is used only if every directory its scan read (or tried to)
//!   has the same stamp now (device, inode, modification and change times to the
//!   nanosecond), with the same limits and the same roots nested in it; otherwise the root
//!   is searched again. Stricter on any doubt, never looser.
//! - Only settled roots are written: every stamp at least [`SETTLED`] older than the scan's
//!   start. A change after the scan then gets a later timestamp even on a filesystem with
//!   coarse (jiffy or 2 s) timestamps, so it cannot leave a stamp as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::sockets::{DirStamp, Incomplete, Limits, RootScan};

const MAGIC: &[u8] = b"fence host sockets 1\n";
/// Bigger files are not read (a full budget's worth of paths stays far below).
const MAX_SIZE: u64 = 16 << 20;
/// How old every stamp of a root must be for its scan to be cached.
pub const SETTLED: Duration = Duration::from_secs(3);

/// The cache's place for a `$XDG_DATA_HOME`.
pub fn location(data_home: &Path) -> PathBuf {
    data_home.join("fence").join("host-sockets.cache")
}

/// The scans of `roots` (each skipping the others inside it), reused from the cache at
/// `cache` where every stamp still holds and searched otherwise; the cache is rewritten
/// when what it should hold changed. Returns the scans and how many were reused.
pub fn scan(roots: &[PathBuf], limits: &Limits, cache: Option<&Path>) -> (Vec<RootScan>, usize) {
    scan_at(roots, limits, cache, SystemTime::now())
}

/// [`scan`], with the scan's start given (tests move it to make fresh trees settled).
fn scan_at(
    roots: &[PathBuf],
    limits: &Limits,
    cache: Option<&Path>,
    started: SystemTime,
) -> (Vec<RootScan>, usize) {
    let loaded = cache.and_then(load);
    let cached: &[RootScan] = match &loaded {
        Some((file_limits, scans, _)) if file_limits == limits => scans,
        _ => &[],
    };
    let mut reused = 0;
    let scans: Vec<RootScan> = roots
        .iter()
        .map(|root| {
            let nested = super::sockets::nested_in(root, roots);
            let hit = cached
                .iter()
                .find(|c| c.root == *root && c.nested == nested && unchanged(c));
            match hit {
                Some(c) => {
                    reused += 1;
                    c.clone()
                }
                None => RootScan::scan(root, roots, limits, cache.is_some()),
            }
        })
        .collect();
    if let Some(path) = cache {
        let keep: Vec<&RootScan> = scans.iter().filter(|s| settled(s, started)).collect();
        let content = encode(limits, &keep);
        if loaded
            .as_ref()
            .is_none_or(|(_, _, bytes)| *bytes != content)
        {
            if let Err(e) = store(path, &content) {
                log::debug!("host socket cache {} not written: {e}", path.display());
            }
        }
    }
    (scans, reused)
}

/// Whether every directory `scan` read has the same stamp now.
fn unchanged(scan: &RootScan) -> bool {
    scan.dirs
        .iter()
        .all(|(path, stamp)| DirStamp::of(path) == *stamp)
}

/// Whether every stamp of `scan` is at least [`SETTLED`] older than `started`.
fn settled(scan: &RootScan, started: SystemTime) -> bool {
    let Some(cutoff) = started
        .checked_sub(SETTLED)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
    else {
        return false;
    };
    let cutoff = (cutoff.as_secs() as i64, i64::from(cutoff.subsec_nanos()));
    scan.dirs
        .iter()
        .filter_map(|(_, stamp)| *stamp)
        .all(|s| s.mtime <= cutoff && s.ctime <= cutoff)
}

/// The user's own directory or file: owned by this user, not writable by others, not a
/// symbolic link (`meta` from lstat or fstat).
fn own(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == crate::sys::geteuid() && meta.mode() & 0o022 == 0 && !meta.is_symlink()
}

/// The cache's limits, scans and bytes; None if it is absent or not to be believed.
fn load(path: &Path) -> Option<(Limits, Vec<RootScan>, Vec<u8>)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent()?;
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && own(&m)) {
        return None;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !own(&meta) || meta.len() > MAX_SIZE {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).ok()?;
    let (limits, scans) = decode(&bytes)?;
    Some((limits, scans, bytes))
}

/// Writes `content` to `path` by a rename (a reader sees the old file or the new one),
/// creating the `fence` directory (mode 0700) if `$XDG_DATA_HOME` exists and is the user's
/// own (not, say, another user's home kept by `sudo -E`, where a root-owned `fence`
/// directory would lock that user out of their trust store).
fn store(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    if std::fs::symlink_metadata(dir).is_err() {
        let data_home = dir.parent().unwrap_or(dir);
        if !std::fs::metadata(data_home).is_ok_and(|m| m.uid() == crate::sys::geteuid()) {
            return Err(std::io::Error::other(
                "the data directory is not the user's own",
            ));
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && own(&m)) {
        return Err(std::io::Error::other(
            "the directory is not the user's own (owner, mode or a symbolic link)",
        ));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(content)?;
        std::fs::rename(&temp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

fn encode(limits: &Limits, scans: &[&RootScan]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let num = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&n.to_le_bytes());
    let path = |out: &mut Vec<u8>, p: &Path| {
        let bytes = p.as_os_str().as_encoded_bytes();
        num(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    };
    let paths = |out: &mut Vec<u8>, list: &[PathBuf]| {
        num(out, list.len() as u64);
        for p in list {
            path(out, p);
        }
    };
    for n in [
        limits.max_depth,
        limits.per_root,
        limits.per_dir,
        limits.dirs_per_root,
    ] {
        num(&mut out, n as u64);
    }
    num(&mut out, scans.len() as u64);
    for scan in scans {
        path(&mut out, &scan.root);
        paths(&mut out, &scan.nested);
        num(&mut out, scan.dirs.len() as u64);
        for (p, stamp) in &scan.dirs {
            path(&mut out, p);
            match stamp {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    for n in [s.dev, s.ino] {
                        num(&mut out, n);
                    }
                    for n in [s.mtime.0, s.mtime.1, s.ctime.0, s.ctime.1] {
                        num(&mut out, n as u64);
                    }
                }
            }
        }
        out.push(u8::from(scan.exhausted));
        paths(&mut out, &scan.sockets);
        num(&mut out, scan.incomplete.len() as u64);
        for (p, why) in &scan.incomplete {
            path(&mut out, p);
            out.push(match why {
                Incomplete::TooMany => 0,
                Incomplete::Unreadable => 1,
            });
        }
    }
    out
}

/// Reads what [`encode`] wrote; None on anything else (the whole file must be used).
fn decode(bytes: &[u8]) -> Option<(Limits, Vec<RootScan>)> {
    let mut r = Reader {
        rest: bytes.strip_prefix(MAGIC)?,
    };
    let mut limit = || usize::try_from(r.num()?).ok();
    let limits = Limits {
        max_depth: limit()?,
        per_root: limit()?,
        per_dir: limit()?,
        dirs_per_root: limit()?,
    };
    let mut scans = Vec::new();
    for _ in 0..r.count()? {
        let root = r.path()?;
        let nested = r.paths()?;
        let mut dirs = Vec::new();
        for _ in 0..r.count()? {
            let p = r.path()?;
            let stamp = match r.byte()? {
                0 => None,
                1 => Some(DirStamp {
                    dev: r.num()?,
                    ino: r.num()?,
                    mtime: (r.num()? as i64, r.num()? as i64),
                    ctime: (r.num()? as i64, r.num()? as i64),
                }),
                _ => return None,
            };
            dirs.push((p, stamp));
        }
        let exhausted = match r.byte()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let sockets = r.paths()?;
        let mut incomplete = Vec::new();
        for _ in 0..r.count()? {
            let p = r.path()?;
            let why = match r.byte()? {
                0 => Incomplete::TooMany,
                1 => Incomplete::Unreadable,
                _ => return None,
            };
            incomplete.push((p, why));
        }
        scans.push(RootScan {
            root,
            nested,
            dirs,
            exhausted,
            sockets,
            incomplete,
        });
    }
    r.rest.is_empty().then_some((limits, scans))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn num(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A length or count: never more than the bytes left could hold (a damaged file cannot
    /// make a loop run long or an allocation grow big).
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.num()?)
            .ok()
            .filter(|&n| n <= self.rest.len())
    }

    /// A count, then that many paths.
    fn paths(&mut self) -> Option<Vec<PathBuf>> {
        (0..self.count()?).map(|_| self.path()).collect()
    }

    fn path(&mut self) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let n = self.count()?;
        let bytes = self.take(n)?;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;
    use crate::policy::temp_tree::TempTree;

    /// A tree with a socket two levels down, a nested root, and a data directory.
    struct Setup {
        t: TempTree,
        roots: Vec<PathBuf>,
        cache: PathBuf,
        _sockets: Vec<UnixListener>,
    }

    fn setup(name: &str) -> Setup {
        let t = TempTree::new(name);
        let run = t.0.join("run");
        std::fs::create_dir_all(run.join("a/b")).unwrap();
        std::fs::create_dir_all(run.join("user/1000/sub")).unwrap();
        std::fs::create_dir_all(t.0.join("data")).unwrap();
        let sockets = vec![
            UnixListener::bind(run.join("a/b/bus")).unwrap(),
            UnixListener::bind(run.join("user/1000/sub/agent")).unwrap(),
        ];
        Setup {
            roots: vec![run.clone(), run.join("user/1000")],
            cache: location(&t.0.join("data")),
            t,
            _sockets: sockets,
        }
    }

    fn later() -> SystemTime {
        SystemTime::now() + SETTLED + Duration::from_secs(1)
    }

    fn sockets_of(scans: &[RootScan]) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = scans.iter().flat_map(|s| s.sockets.clone()).collect();
        all.sort();
        all
    }

    #[test]
    fn unchanged_roots_are_reused_and_a_change_is_searched_again() {
        let s = setup("cache-reuse");
        let limits = Limits::default();
        let (first, reused) = scan_at(&s.roots, &limits, Some(&s.cache), later());
        assert_eq!(reused, 0);
        assert!(s.cache.is_file());
        let (again, reused) = scan_at(&s.roots, &limits, Some(&s.cache), later());
        assert_eq!((reused, &again), (2, &first));
        // A socket in a new directory deep down: its parent's stamp changed.
        std::fs::create_dir(s.t.0.join("run/a/b/c")).unwrap();
        let _new = UnixListener::bind(s.t.0.join("run/a/b/c/new")).unwrap();
        let (after, reused) = scan_at(&s.roots, &limits, Some(&s.cache), later());
        assert_eq!(reused, 1, "only the nested root is unchanged");
        assert!(sockets_of(&after).contains(&s.t.0.join("run/a/b/c/new")));
        // Another nesting of roots is another scan.
        let (alone, reused) = scan_at(&s.roots[..1], &limits, Some(&s.cache), later());
        assert_eq!(reused, 0);
        assert!(sockets_of(&alone).contains(&s.t.0.join("run/user/1000/sub/agent")));
    }

    #[test]
    fn fresh_directories_are_not_cached() {
        let s = setup("cache-fresh");
        let (_, _) = scan_at(
            &s.roots,
            &Limits::default(),
            Some(&s.cache),
            SystemTime::now(),
        );
        let (_, scans, _) = load(&s.cache).unwrap();
        assert!(scans.is_empty(), "{scans:?}");
    }

    #[test]
    fn a_cache_that_is_damaged_or_not_the_users_own_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let s = setup("cache-trust");
        let limits = Limits::default();
        let (first, _) = scan_at(&s.roots, &limits, Some(&s.cache), later());
        // A forged cache (right stamps, no sockets) that others could have written.
        let forged: Vec<RootScan> = first
            .iter()
            .map(|r| RootScan {
                sockets: Vec::new(),
                ..r.clone()
            })
            .collect();
        let forged = encode(&limits, &forged.iter().collect::<Vec<_>>());
        let write = |bytes: &[u8], mode: u32| {
            std::fs::remove_file(&s.cache).unwrap();
            std::fs::write(&s.cache, bytes).unwrap();
            std::fs::set_permissions(&s.cache, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        for mode in [0o620, 0o602] {
            write(&forged, mode);
            let (scans, reused) = scan_at(&s.roots, &limits, Some(&s.cache), later());
            assert_eq!(
                (reused, sockets_of(&scans)),
                (0, sockets_of(&first)),
                "{mode:o}"
            );
        }
        // Damaged: cut short, or one byte more.
        let good = std::fs::read(&s.cache).unwrap();
        for bytes in [&good[..good.len() - 3], &[&good[..], b"x"].concat()[..]] {
            write(bytes, 0o600);
            let (scans, reused) = scan_at(&s.roots, &limits, Some(&s.cache), later());
            assert_eq!((reused, sockets_of(&scans)), (0, sockets_of(&first)));
        }
        // A symbolic link to a good cache is not followed.
        let elsewhere = s.t.0.join("elsewhere");
        std::fs::write(&elsewhere, &good).unwrap();
        std::fs::remove_file(&s.cache).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &s.cache).unwrap();
        assert!(load(&s.cache).is_none());
        // Nor a cache in a directory others may write.
        std::fs::remove_file(&s.cache).unwrap();
        std::fs::write(&s.cache, &good).unwrap();
        let dir = s.cache.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(load(&s.cache).is_none());
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(load(&s.cache).is_some());
    }

    #[test]
    fn no_fence_directory_is_made_in_a_data_directory_of_someone_else() {
        let s = setup("cache-foreign");
        let data = s.t.0.join("data");
        let (_, _) = scan_at(&s.roots, &Limits::default(), Some(&s.cache), later());
        assert!(s.cache.is_file(), "made in the user's own");
        std::fs::remove_dir_all(data.join("fence")).unwrap();
        // Someone else's data directory: for root (`sudo -E` keeping a user's HOME), one it
        // gives to uid 65534; for anyone else, root's `/`.
        let foreign = if crate::sys::geteuid() == 0 {
            std::os::unix::fs::chown(&data, Some(65534), None).unwrap();
            data
        } else {
            PathBuf::from("/")
        };
        let cache = location(&foreign);
        let (scans, _) = scan_at(&s.roots, &Limits::default(), Some(&cache), later());
        assert!(!foreign.join("fence").exists());
        assert_eq!(sockets_of(&scans).len(), 2, "the scan itself ran");
    }

    #[test]
    fn encoding_round_trips_every_field() {
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/run/caf\xe9\n"));
        let scan = RootScan {
            root: "/run".into(),
            nested: vec!["/run/user/1000".into()],
            dirs: vec![
                (
                    "/run".into(),
                    Some(DirStamp {
                        dev: 1,
                        ino: u64::MAX,
                        mtime: (-5, 999_999_999),
                        ctime: (1_700_000_000, 0),
                    }),
                ),
                (odd.clone(), None),
            ],
            exhausted: true,
            sockets: vec![odd.clone()],
            incomplete: vec![
                (odd, Incomplete::Unreadable),
                ("/run/x".into(), Incomplete::TooMany),
            ],
        };
        // Limits bigger than the file: they are numbers, not lengths.
        let limits = Limits {
            max_depth: 2,
            per_root: 1 << 40,
            per_dir: 10_000,
            dirs_per_root: 5,
        };
        let bytes = encode(&limits, &[&scan]);
        assert_eq!(decode(&bytes), Some((limits, vec![scan])));
        assert_eq!(decode(b"fence host sockets 2\n"), None);
    }
}
