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
        // The root itself was checked above; its subdirectories are levels 1 to 3.
        walk(root, 0, allow_git_config, &mut found);
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

/// Looks at the entries of `dir` (the names readdir gives: no stat per candidate name)
/// and descends into subdirectories, `depth` levels below the walk's root.
fn walk(dir: &Path, depth: usize, allow_git_config: bool, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_dir = entry.file_type().is_ok_and(|k| k.is_dir());
        if depth > 0 && (DANGEROUS_FILES.contains(&name) || DANGEROUS_DIRS.contains(&name)) {
            found.push(entry.path());
        }
        if !is_dir || name == "node_modules" {
            continue;
        }
        if name == ".git" {
            if depth > 0 {
                check_git(&entry.path(), allow_git_config, found);
            }
            continue;
        }
        if depth < WALK_DEPTH {
            walk(&entry.path(), depth + 1, allow_git_config, found);
        }
    }
}

fn check_git(git: &Path, allow_git_config: bool, found: &mut Vec<PathBuf>) {
    let names: &[&str] = if allow_git_config {
        &["hooks"]
    } else {
        &["hooks", "config"]
    };
    for name in names {
        let path = git.join(name);
        if path.symlink_metadata().is_ok() {
            found.push(path);
        }
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
