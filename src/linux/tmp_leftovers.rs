//! In the sandbox, once the command has ended: what it left in the private `/tmp`, which
//! is discarded with the sandbox. The init says so in one warning when the working
//! directory or a state directory of the command's environment lies in `/tmp` (the host
//! decides; see `policy::tmp`), where `touch ../x` or a `CARGO_HOME=/tmp/ch` download
//! would otherwise vanish without a word.
//!
//! Only the private tmpfs counts: a bind below `/tmp` (a host path shared into it) is
//! another filesystem and is not entered, and the directories bwrap made to hold the binds
//! are not empty, so they are not named. The search is bounded; it follows no symbolic
//! link and opens no file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// At most this many entries are looked at.
const BUDGET: usize = 10_000;
/// At most this many levels below `/tmp`.
const MAX_DEPTH: usize = 16;
/// At most this many paths are named.
const NAMED: usize = 5;

/// The files and empty directories on the filesystem of `tmp` below it, sorted, and
/// whether the search stopped at its bounds.
pub fn find(tmp: &Path) -> (Vec<PathBuf>, bool) {
    let Ok(root) = tmp.symlink_metadata() else {
        return (Vec::new(), false);
    };
    let mut found = Vec::new();
    let mut budget = BUDGET;
    let mut cut = false;
    let mut queue = vec![(tmp.to_path_buf(), 0)];
    while let Some((dir, depth)) = queue.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        if names.is_empty() && dir != tmp {
            found.push(dir);
            continue;
        }
        names.sort();
        for path in names {
            if budget == 0 {
                cut = true;
                break;
            }
            budget -= 1;
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.dev() != root.dev() {
                continue; // a bind: a host path, kept
            }
            if meta.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    queue.push((path, depth + 1));
                } else {
                    cut = true;
                }
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    (found, cut)
}

/// The warning for what [`find`] found in `tmp`, if anything.
pub fn summary(tmp: &Path) -> Option<String> {
    let (found, cut) = find(tmp);
    let first = found.first()?;
    let count = if cut {
        format!("at least {}", found.len())
    } else {
        found.len().to_string()
    };
    let noun = if found.len() == 1 { "entry" } else { "entries" };
    let mut list = found
        .iter()
        .take(NAMED)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if found.len() > NAMED {
        list.push_str(&format!(" and {} more", found.len() - NAMED));
    }
    let top = crate::policy::tmp::top_in_tmp(first).unwrap_or_else(|| first.clone());
    Some(format!(
        "the command left {count} {noun} outside the allowed paths in the sandbox's private \
         /tmp, which is discarded now: {list}; to keep what it writes there, add [\"{}\"] to \
         filesystem.allowWrite (or \"/tmp\")",
        top.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_files_and_empty_directories_of_its_own_filesystem() {
        let root = std::env::temp_dir().join(format!("fence-leftovers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["p/sub", "empty", "full/deeper"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in ["p/x", "full/deeper/f", "top"] {
            std::fs::write(root.join(file), "").unwrap();
        }
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let (found, cut) = find(&root);
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            rel,
            ["empty", "full/deeper/f", "link", "p/sub", "p/x", "top"]
        );
        assert!(!cut);
        assert!(summary(&root).unwrap().contains("left 6 entries"));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(summary(&root), None);
    }
}
