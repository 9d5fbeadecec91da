//! Mandatory write protection: files and directories that run code later (shell startup
//! files, git hooks and config, editor task files). They stay read-only even inside
//! writable paths, whatever the config says (except `.git/config` with `allowGitConfig`).

use std::path::{Path, PathBuf};

/// Files protected in the workspace, in `$HOME` and in every writable root.
pub const DANGEROUS_FILES: &[&str] = &[
    ".gitconfig",
    ".gitmodules",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".profile",
    ".ripgreprc",
    ".mcp.json",
];

/// Directories protected the same way.
pub const DANGEROUS_DIRS: &[&str] = &[".vscode", ".idea"];

/// How deep below the working directory nested repositories and dotfiles are looked for.
const WALK_DEPTH: usize = 3;

/// The protected paths that exist now under `roots` (checked directly) and, for `walk_root`,
/// up to three directory levels below it (skipping `node_modules`). Paths are as found, not
/// canonicalised; the caller resolves them.
pub fn find(roots: &[&Path], walk_root: Option<&Path>, allow_git_config: bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for root in roots {
        check_dir(root, allow_git_config, &mut found);
    }
    if let Some(root) = walk_root {
        walk(root, 1, allow_git_config, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn check_dir(dir: &Path, allow_git_config: bool, found: &mut Vec<PathBuf>) {
    let names = DANGEROUS_FILES.iter().chain(DANGEROUS_DIRS).copied();
    let git: &[&str] = if allow_git_config {
        &[".git/hooks"]
    } else {
        &[".git/hooks", ".git/config"]
    };
    for name in names.chain(git.iter().copied()) {
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            found.push(path);
        }
    }
}

fn walk(dir: &Path, depth: usize, allow_git_config: bool, found: &mut Vec<PathBuf>) {
    if depth > WALK_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        if !kind.is_dir() || name == "node_modules" || name == ".git" {
            continue;
        }
        let sub = entry.path();
        check_dir(&sub, allow_git_config, found);
        walk(&sub, depth + 1, allow_git_config, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_protected_paths() {
        let root = std::env::temp_dir().join(format!("fence-dangerous-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in [
            ".git/hooks",
            "a/b/.git/hooks",
            "node_modules/x/.git/hooks",
            "a/b/c/d/.git/hooks",
            ".vscode",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [".git/config", ".bashrc", "a/.zshrc", "a/b/.git/config"] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let rel = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(find(&[&root], Some(&root), false)),
            [
                ".bashrc",
                ".git/config",
                ".git/hooks",
                ".vscode",
                "a/.zshrc",
                "a/b/.git/config",
                "a/b/.git/hooks"
            ]
        );
        assert_eq!(
            rel(find(&[&root], None, true)),
            [".bashrc", ".git/hooks", ".vscode"]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
