//! A unique temporary directory for the policy tests, removed on drop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct TempTree(pub PathBuf);

impl TempTree {
    /// A new, empty, canonical directory `fence-NAME-PID-N` in the temporary directory.
    pub fn new(name: &str) -> TempTree {
        TempTree::in_dir(name, &std::env::temp_dir())
    }

    /// The same in `dir`.
    pub fn in_dir(name: &str, dir: &std::path::Path) -> TempTree {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = dir.join(format!("fence-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        TempTree(std::fs::canonicalize(&root).unwrap())
    }

    /// `paths` relative to the tree, as text.
    pub fn rel(&self, paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.strip_prefix(&self.0).unwrap().display().to_string())
            .collect()
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
