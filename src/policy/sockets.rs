//! Finding the host's pathname Unix sockets, which the sandbox must not reach by default:
//! D-Bus leads to `systemd-run --user`, Docker's socket to root. A read-only mount does not
//! stop `connect()`, so each socket found is masked.

use std::path::{Path, PathBuf};

/// How far below each root sockets are looked for, and how many entries at most.
const MAX_DEPTH: usize = 4;
const MAX_ENTRIES: usize = 20_000;

/// The sockets under `roots` (each searched up to four levels deep, not following
/// symlinks), plus `files` that are sockets themselves. Sorted, deduplicated.
pub fn find(roots: &[PathBuf], files: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut budget = MAX_ENTRIES;
    for root in roots {
        walk(root, 0, &mut budget, &mut found);
    }
    for file in files {
        if is_socket(file) {
            found.push(file.clone());
        }
    }
    found.sort();
    found.dedup();
    found
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn walk(dir: &Path, depth: usize, budget: &mut usize, found: &mut Vec<PathBuf>) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        // DirEntry::file_type comes from readdir's d_type: no stat per entry.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_socket() {
            found.push(entry.path());
        } else if kind.is_dir() && depth + 1 < MAX_DEPTH {
            walk(&entry.path(), depth + 1, budget, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn finds_sockets_without_following_links() {
        let root = std::env::temp_dir().join(format!("fence-sockets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
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
        );
        assert_eq!(
            found,
            vec![root.join("a/b/c/deep.sock"), root.join("top.sock")]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
