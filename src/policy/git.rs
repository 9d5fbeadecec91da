//! Git's own places that run code: a repository's config and hooks, its submodules' and
//! linked worktrees', the `core.hooksPath` target, and the files git config includes.

use std::path::{Path, PathBuf};

use super::dangerous::Kind::{self, Dir, File};

/// Bounds for following `.git/modules` and git config includes.
const MAX_GIT_DEPTH: usize = 8;
const MAX_GIT_DIRS: usize = 64;

/// Where a repository's own config and hooks live, for the `.git` entry `git` (a
/// directory, or a gitlink file `gitdir: …`), as (path, kind): `config` (unless
/// `allow_git_config`), `config.worktree`, `hooks/`, `worktrees/`, the same for every
/// repository under `modules/`, the `core.hooksPath` target, and the gitlink file itself.
pub fn git_locations(git: &Path, allow_git_config: bool) -> Vec<(PathBuf, Kind)> {
    let mut out = Vec::new();
    let Some(worktree) = git.parent() else {
        return out;
    };
    let git_dir = if git.is_dir() {
        git.to_path_buf()
    } else {
        out.push((git.to_path_buf(), File));
        match read_gitlink(git) {
            Some(dir) => worktree.join(dir),
            None => return out,
        }
    };
    let mut count = 0;
    repository(
        &git_dir,
        worktree,
        allow_git_config,
        0,
        &mut count,
        &mut out,
    );
    out
}

fn repository(
    git_dir: &Path,
    worktree: &Path,
    allow_git_config: bool,
    depth: usize,
    count: &mut usize,
    out: &mut Vec<(PathBuf, Kind)>,
) {
    *count += 1;
    let refs = config_refs(&git_dir.join("config"));
    if !allow_git_config {
        out.push((git_dir.join("config"), File));
        // Read only with extensions.worktreeConfig (set in the protected config).
        let worktree_config = git_dir.join("config.worktree");
        if refs.worktree_config || worktree_config.symlink_metadata().is_ok() {
            out.push((worktree_config, File));
        }
    }
    out.push((git_dir.join("hooks"), Dir));
    // Linked worktrees' admin directories (their own config, and `commondir`, which names
    // the repository whose config and hooks apply). A new one is only used through a new
    // `.git` file, which the working-tree report names.
    let worktrees = git_dir.join("worktrees");
    if worktrees.symlink_metadata().is_ok() {
        out.push((worktrees, Dir));
    }
    if git_dir.join("commondir").is_file() {
        out.push((git_dir.join("commondir"), File));
        out.push((git_dir.join("gitdir"), File));
    }
    if let Some(hooks) = refs.hooks_path {
        out.push((resolve_ref(&hooks, worktree, None), Dir));
    }
    modules(
        &git_dir.join("modules"),
        allow_git_config,
        depth,
        count,
        out,
    );
}

/// Submodule repositories under `dir` (`modules/<path/of/submodule>/`, nested ones under
/// their own `modules/`).
fn modules(
    dir: &Path,
    allow_git_config: bool,
    depth: usize,
    count: &mut usize,
    out: &mut Vec<(PathBuf, Kind)>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if depth >= MAX_GIT_DEPTH || *count >= MAX_GIT_DIRS {
            // Past the budget the whole directory is protected: submodules cannot be
            // updated inside the sandbox, but the mount count stays bounded.
            out.push((dir.to_path_buf(), Dir));
            return;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if path.join("HEAD").is_file() {
            // A submodule's hooks run in its working tree, which lies elsewhere; a
            // relative hooksPath there is resolved against the git directory (closest).
            repository(&path, &path, allow_git_config, depth + 1, count, out);
        } else {
            modules(&path, allow_git_config, depth + 1, count, out);
        }
    }
}

fn read_gitlink(file: &Path) -> Option<PathBuf> {
    let text = read_small(file)?;
    let line = text.lines().next()?;
    let dir = line.strip_prefix("gitdir:")?.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

fn read_small(file: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(file).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The references in a git config file that protection must follow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigRefs {
    /// `include.path` and `includeIf.<cond>.path`, as written.
    pub includes: Vec<String>,
    /// The last `core.hooksPath`, as written.
    pub hooks_path: Option<String>,
    /// `extensions.worktreeConfig` is true: `config.worktree` is read.
    pub worktree_config: bool,
}

/// Reads `include.path`, `includeIf.*.path` and `core.hooksPath` from a git config file.
pub fn config_refs(file: &Path) -> ConfigRefs {
    read_small(file)
        .map(|t| parse_config_refs(&t))
        .unwrap_or_default()
}

fn parse_config_refs(text: &str) -> ConfigRefs {
    let mut refs = ConfigRefs::default();
    let mut section = String::new();
    for line in text.lines() {
        let mut line = line.trim_start();
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else { continue };
            let header = &rest[..end];
            let name = header
                .split(|c: char| c.is_whitespace() || c == '.')
                .next()
                .unwrap_or("");
            section = name.to_ascii_lowercase();
            line = rest[end + 1..].trim_start();
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = config_value(value);
        match (section.as_str(), key.as_str()) {
            ("include" | "includeif", "path") => refs.includes.push(value),
            ("core", "hookspath") => refs.hooks_path = Some(value),
            ("extensions", "worktreeconfig") => {
                refs.worktree_config = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "true" | "yes" | "on" | "1"
                )
            }
            _ => {}
        }
    }
    refs
}

/// A git config value: quotes removed, `\\`, `\"` unescaped, a comment (`#`, `;` outside
/// quotes) cut off, surrounding blanks trimmed.
fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            },
            '#' | ';' if !quoted => break,
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// A path from a git config: `~/` is `home`, a relative one is relative to `base`.
fn resolve_ref(value: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => base.join(value),
    }
}

/// The files the user's git config includes (followed to a bounded depth) and the absolute
/// `core.hooksPath` targets it sets, starting from `configs` (`~/.gitconfig` and
/// `$XDG_CONFIG_HOME/git/config`).
pub fn global_git_refs(configs: &[PathBuf], home: Option<&Path>) -> Vec<(PathBuf, Kind)> {
    let mut out = Vec::new();
    let mut queue: Vec<(PathBuf, usize)> = configs.iter().map(|c| (c.clone(), 0)).collect();
    while let Some((file, depth)) = queue.pop() {
        if depth > MAX_GIT_DEPTH || out.len() > MAX_GIT_DIRS {
            break;
        }
        let refs = config_refs(&file);
        let base = file.parent().unwrap_or(Path::new("/"));
        for include in refs.includes {
            let path = resolve_ref(&include, base, home);
            out.push((path.clone(), File));
            queue.push((path, depth + 1));
        }
        if let Some(hooks) = refs.hooks_path {
            // A relative hooksPath here is relative to each repository: found per repository.
            if hooks.starts_with('/') || hooks.starts_with("~/") {
                out.push((resolve_ref(&hooks, base, home), Dir));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::policy::temp_tree::TempTree as Tree;

    #[test]
    fn git_locations_cover_modules_worktrees_and_hooks_path() {
        let t = Tree::new("git");
        let root = &t.0;
        for dir in [
            ".git/hooks",
            ".git/modules/libs/a/hooks",
            ".git/modules/libs/a/modules/inner/hooks",
            ".git/worktrees/w",
            "sub",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for head in [
            ".git/modules/libs/a/HEAD",
            ".git/modules/libs/a/modules/inner/HEAD",
        ] {
            std::fs::write(root.join(head), "ref: refs/heads/main\n").unwrap();
        }
        std::fs::write(
            root.join(".git/config"),
            "[core]\n\tbare = false\n\thooksPath = \"tools/hooks\" # shared\n\
             [extensions]\n\tworktreeConfig = true\n",
        )
        .unwrap();
        std::fs::write(root.join("sub/.git"), "gitdir: ../.git/modules/libs/a\n").unwrap();
        let paths = |git: &Path, allow| -> Vec<String> {
            let mut v: Vec<String> = git_locations(git, allow)
                .into_iter()
                .map(|(p, k)| format!("{}{}", t.rel(&[p])[0], if k == Dir { "/" } else { "" }))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            paths(&root.join(".git"), false),
            [
                ".git/config",
                ".git/config.worktree",
                ".git/hooks/",
                ".git/modules/libs/a/config",
                ".git/modules/libs/a/hooks/",
                ".git/modules/libs/a/modules/inner/config",
                ".git/modules/libs/a/modules/inner/hooks/",
                ".git/worktrees/",
                "tools/hooks/",
            ]
        );
        let sub = paths(&root.join("sub/.git"), true);
        assert!(sub.contains(&"sub/.git".to_string()), "{sub:?}");
        assert!(
            sub.contains(&"sub/../.git/modules/libs/a/hooks/".to_string()),
            "{sub:?}"
        );
        assert!(!sub.iter().any(|p| p.ends_with("/config")), "{sub:?}");
    }

    #[test]
    fn many_submodules_protect_the_whole_modules_directory() {
        let t = Tree::new("budget");
        let root = &t.0;
        for i in 0..MAX_GIT_DIRS + 5 {
            let dir = root.join(format!(".git/modules/m{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("HEAD"), "").unwrap();
        }
        let out = git_locations(&root.join(".git"), false);
        assert!(out.contains(&(root.join(".git/modules"), Dir)));
        assert!(out.len() < 4 * MAX_GIT_DIRS, "{}", out.len());
    }

    #[test]
    fn git_config_references() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            (
                "[include]\n  path = ~/.gitconfig.local\n",
                &["~/.gitconfig.local"],
                None,
            ),
            (
                "[includeIf \"gitdir:~/work/\"]\npath = work.inc ; comment\n[core]\nhooksPath=/h",
                &["work.inc"],
                Some("/h"),
            ),
            (
                "[CORE]\n\tHooksPath = \"a b\"\n[core] hooksPath = c",
                &[],
                Some("c"),
            ),
            ("[user]\n\tpath = not-an-include\n", &[], None),
            ("[include.sub]\npath=x\n", &["x"], None),
        ];
        for (text, includes, hooks) in cases {
            let refs = parse_config_refs(text);
            assert_eq!(refs.includes, *includes, "{text:?}");
            assert_eq!(refs.hooks_path.as_deref(), *hooks, "{text:?}");
        }
    }

    #[test]
    fn global_refs_follow_includes() {
        let t = Tree::new("global");
        let home = &t.0;
        std::fs::write(home.join(".gitconfig"), "[include]\npath = ~/a.inc\n").unwrap();
        std::fs::write(
            home.join("a.inc"),
            "[include]\npath = b.inc\n[core]\nhooksPath = ~/hooks\n",
        )
        .unwrap();
        let refs = global_git_refs(&[home.join(".gitconfig")], Some(home));
        let names: Vec<String> = refs
            .iter()
            .map(|(p, _)| t.rel(std::slice::from_ref(p))[0].clone())
            .collect();
        assert_eq!(names, ["a.inc", "b.inc", "hooks"]);
        assert_eq!(refs[2].1, Dir);
    }
}
