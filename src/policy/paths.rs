//! Turning config path entries into the absolute, canonical, existing paths a mount plan needs.
//!
//! `~` and `~/x` expand against `$HOME`; other relative entries are taken relative to the
//! current directory (as the Go fence does), not to the config file's directory. Glob
//! patterns are expanded once, now, to the paths that exist. Every result is canonical:
//! bwrap cannot mount onto a destination with symlinks in it, and a deny rule must land on
//! the file a symlink really reaches.

use std::path::{Component, Path, PathBuf};

use super::glob::{self, ExpandLimits, Pattern};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

/// The result of resolving one config list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResolvedPaths {
    /// Canonical existing paths, sorted and deduplicated.
    pub paths: Vec<PathBuf>,
    /// Things the user may want to know (`--debug`): where an entry resolved to.
    pub notes: Vec<String>,
    /// Entries that name nothing that exists (or `~` without a home): skipped, and why.
    pub skipped: Vec<String>,
    /// Patterns whose expansion hit a limit: some matches may be missing.
    pub truncated: Vec<String>,
}

/// A config entry made absolute: a base directory (kept as bytes: the working directory or
/// the home directory may have any name) and the rest of the entry, in glob syntax, as an
/// absolute `/`-separated path taken relative to the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    pub base: PathBuf,
    pub rest: String,
}

/// Makes an entry absolute: `~` → home, relative → `base`. Returns `None` for `~` without a
/// home. The result is lexically normalised (`.` and `..` removed, `..` never above `/`) but
/// not canonicalised; the base keeps its bytes whatever they are.
pub fn absolute(entry: &str, home: Option<&Path>, base: &Path) -> Option<Anchored> {
    let (dir, rel) = if entry == "~" || entry.starts_with("~/") {
        (home?, &entry[1..])
    } else if entry.starts_with('/') {
        (Path::new("/"), entry)
    } else {
        (base, entry)
    };
    let mut base = lexical(dir);
    let mut rest: Vec<&str> = Vec::new();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if rest.pop().is_none() {
                    base.pop();
                }
            }
            name => rest.push(name),
        }
    }
    Some(Anchored {
        base,
        rest: format!("/{}", rest.join("/")),
    })
}

/// Resolves a list of entries from the config key `key`. An entry that cannot be applied
/// at all (`~` in a deny list without a home) is an error; one that names nothing that
/// exists is skipped with a note.
pub fn resolve(key: &str, entries: &[String], host: &HostEnv) -> Result<ResolvedPaths> {
    Ok(resolve_observed(key, entries, host, None)?.0)
}

/// [`resolve`], letting `observer` see the walk of the glob group that starts at its
/// directory (see [`glob::Observer`]). The flag says whether it saw all it asked for: false
/// when no group starts there or that walk was cut short (the caller then walks itself).
pub fn resolve_observed(
    key: &str,
    entries: &[String],
    host: &HostEnv,
    mut observer: Option<(&Path, &mut dyn glob::Observer)>,
) -> Result<(ResolvedPaths, bool)> {
    let mut observed = false;
    let mut out = ResolvedPaths::default();
    let mut found: Vec<PathBuf> = Vec::new();
    // Glob patterns with the same base and fixed prefix are expanded together, in one walk.
    type Group<'a> = Vec<(&'a String, Pattern)>;
    let mut globs: std::collections::BTreeMap<(PathBuf, String), Group> = Default::default();
    for entry in entries {
        let shown = crate::output::escape(entry);
        let Some(abs) = absolute(entry, host.home.as_deref(), &host.cwd) else {
            if key.contains("deny") {
                return Err(Error::ConfigValue {
                    key: key.into(),
                    value: Some(entry.clone()),
                    message: format!(
                        "\"{shown}\" cannot be applied: $HOME is not set (or not absolute)"
                    ),
                });
            }
            out.skipped
                .push(format!("{key}: \"{shown}\" skipped: $HOME is not set"));
            continue;
        };
        let pattern = Pattern::new(&abs.rest).map_err(|e| Error::ConfigValue {
            key: key.into(),
            value: Some(entry.clone()),
            message: format!("\"{shown}\": invalid pattern: {e}"),
        })?;
        if pattern.is_literal() {
            found.push(glob::anchor(&abs.base, &unescape(&abs.rest)));
        } else {
            globs
                .entry((abs.base, pattern.literal_prefix().to_string()))
                .or_default()
                .push((entry, pattern));
        }
    }
    for ((base, prefix), group) in &globs {
        let patterns: Vec<&Pattern> = group.iter().map(|(_, p)| p).collect();
        let start = glob::anchor(base, prefix);
        // One group at most starts there (groups are keyed by base and prefix).
        let watcher = match observer.take() {
            Some((dir, watcher)) if dir == start => Some(watcher),
            other => {
                observer = other;
                None
            }
        };
        let watched = watcher.is_some();
        let expansion =
            glob::expand_all_observed(base, &patterns, &ExpandLimits::default(), watcher);
        observed |= watched && !expansion.truncated;
        let names = group
            .iter()
            .map(|(e, _)| format!("\"{}\"", crate::output::escape(e)))
            .collect::<Vec<_>>()
            .join(", ");
        if expansion.truncated {
            let below = crate::output::path(&glob::anchor(base, prefix));
            out.truncated.push(format!("{names} (below {below})"));
        }
        if expansion.paths.is_empty() {
            out.skipped
                .push(format!("{key}: {names} match nothing that exists"));
        }
        found.extend(expansion.paths);
    }
    for path in found {
        match std::fs::canonicalize(&path) {
            Ok(real) => {
                if real != path {
                    out.notes.push(format!(
                        "{key}: {} resolves to {}",
                        crate::output::path(&path),
                        crate::output::path(&real)
                    ));
                }
                out.paths.push(real);
            }
            Err(_) => out.skipped.push(format!(
                "{key}: {} does not exist, skipped",
                crate::output::path(&path)
            )),
        }
    }
    out.paths.sort();
    out.paths.dedup();
    Ok((out, observed))
}

/// `path` without `.`, `..` (lexically: `..` above the root stays at the root) and extra
/// slashes, as an absolute path. Links are not looked at.
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The innermost of `roots` that `path` lies in (the longest one it starts with).
pub fn innermost<'a, P: AsRef<Path>>(roots: &'a [P], path: &Path) -> Option<&'a P> {
    roots
        .iter()
        .filter(|r| path.starts_with(r.as_ref()))
        .max_by_key(|r| r.as_ref().as_os_str().len())
}

/// Removes glob escapes from a literal pattern.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn absolute_paths() {
        let home = Some(Path::new("/home/u"));
        let base = Path::new("/work/p");
        let cases = [
            ("~", "/home/u", "/"),
            ("~/.ssh/id_*", "/home/u", "/.ssh/id_*"),
            (".", "/work/p", "/"),
            ("./build/../out", "/work/p", "/out"),
            ("src", "/work/p", "/src"),
            ("**/.env", "/work/p", "/**/.env"),
            ("../sibling", "/work", "/sibling"),
            ("../../../..", "/", "/"),
            ("/etc/../..", "/", "/"),
            ("/a//b/./c/", "/", "/a/b/c"),
            ("~user", "/work/p", "/~user"),
            ("~/../v", "/home", "/v"),
        ];
        for (entry, want_base, want_rest) in cases {
            let got = absolute(entry, home, base).unwrap();
            assert_eq!(
                (got.base.to_str().unwrap(), got.rest.as_str()),
                (want_base, want_rest),
                "{entry}"
            );
        }
        assert_eq!(absolute("~/x", None, Path::new("/w")), None);
        // Glob characters and any bytes in the base directory are kept as they are.
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/a[1]/ws-\xff"));
        let got = absolute("x/*", None, odd).unwrap();
        assert_eq!((got.base.as_path(), got.rest.as_str()), (odd, "/x/*"));
    }

    /// A working directory (or home) whose name is not UTF-8 keeps relative rules working.
    #[test]
    fn resolve_keeps_non_utf8_base_directories() {
        let root = std::env::temp_dir().join(format!("fence-paths-bytes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let ws = root.join(std::ffi::OsStr::from_bytes(b"ws-\xff"));
        std::fs::create_dir_all(ws.join("secret")).unwrap();
        std::fs::create_dir_all(ws.join("a/b")).unwrap();
        std::fs::write(ws.join("a/b/.env"), "").unwrap();
        let ws = std::fs::canonicalize(&ws).unwrap();
        let host = HostEnv::new(ws.clone(), Some(ws.clone().into()), None, None);
        let entries = ["secret", ".", "**/.env", "~/a/b/.env", "missing"].map(String::from);
        let r = resolve("denyRead", &entries, &host).unwrap();
        assert_eq!(
            r.paths,
            vec![ws.clone(), ws.join("a/b/.env"), ws.join("secret")]
        );
        let home_less = HostEnv::new(ws.clone(), None, None, None);
        let err = resolve("filesystem.denyRead", &["~/.ssh".into()], &home_less).unwrap_err();
        assert!(err.to_string().contains("HOME is not set"), "{err}");
        let r = resolve("filesystem.allowRead", &["~/.ssh".into()], &home_less).unwrap();
        assert!(
            r.paths.is_empty() && r.skipped[0].contains("skipped"),
            "{r:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_observer_sees_the_walk_that_starts_at_its_directory() {
        struct Count(usize);
        impl glob::Observer for Count {
            fn levels(&self) -> usize {
                1
            }
            fn entry(
                &mut self,
                _: &Path,
                _: &std::ffi::OsStr,
                _: crate::sys::EntryKind,
                _: usize,
            ) -> bool {
                self.0 += 1;
                false
            }
        }
        let t = crate::policy::temp_tree::TempTree::new("observed");
        std::fs::create_dir_all(t.0.join("src")).unwrap();
        std::fs::write(t.0.join("src/k.pem"), "").unwrap();
        let host = HostEnv::new(t.0.clone(), None, None, None);
        let entries = ["**/*.pem".to_string(), "src/*.key".to_string()];
        let mut count = Count(0);
        let (r, observed) =
            resolve_observed("k", &entries, &host, Some((&t.0, &mut count))).unwrap();
        assert!(observed && count.0 == 1, "one entry at the top: src");
        assert_eq!(r.paths, [t.0.join("src/k.pem")]);
        let mut count = Count(0);
        let only_src = ["src/*.key".to_string()];
        let (_, observed) =
            resolve_observed("k", &only_src, &host, Some((&t.0, &mut count))).unwrap();
        assert!(
            !observed && count.0 == 0,
            "no walk starts at the working directory"
        );
    }

    #[test]
    fn resolve_canonicalises_and_expands() {
        let root = std::env::temp_dir().join(format!("fence-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::fs::write(root.join("real/a.pem"), "").unwrap();
        std::fs::write(root.join("real/sub/b.pem"), "").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let host = HostEnv::new(root.clone(), Some("/nonexistent-home".into()), None, None);

        let r = resolve("allowWrite", &["link".into(), "missing".into()], &host).unwrap();
        assert_eq!(r.paths, vec![root.join("real")]);
        assert!(
            r.notes.iter().any(|n| n.contains("resolves to")),
            "{:?}",
            r.notes
        );
        assert!(
            r.skipped.iter().any(|n| n.contains("missing")),
            "{:?}",
            r.skipped
        );

        let r = resolve("denyWrite", &["real/**/*.pem".into()], &host).unwrap();
        assert_eq!(
            r.paths,
            vec![root.join("real/a.pem"), root.join("real/sub/b.pem")]
        );

        let err = resolve("denyRead", &["real/[".into()], &host).unwrap_err();
        assert!(err.to_string().contains("denyRead"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
