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
pub struct Resolved {
    /// Canonical existing paths, sorted and deduplicated.
    pub paths: Vec<PathBuf>,
    /// Things the user may want to know (`--debug`): skipped entries and why.
    pub notes: Vec<String>,
    /// Patterns whose expansion hit a limit: some matches may be missing.
    pub truncated: Vec<String>,
}

/// Makes an entry absolute: `~` → home, relative → `base`. Returns `None` for `~` without a
/// home. The result is lexically normalised (`.` and `..` removed) but not canonicalised.
pub fn absolute(entry: &str, home: Option<&Path>, base: &Path) -> Option<String> {
    let joined = if entry == "~" || entry.starts_with("~/") {
        let home = home?;
        escaped(home) + &entry[1..]
    } else if entry.starts_with('/') {
        entry.to_string()
    } else {
        escaped(base) + "/" + entry
    };
    Some(normalize(&joined))
}

fn escaped(dir: &Path) -> String {
    glob::escape(&dir.to_string_lossy())
}

/// Removes `.`, empty components and `..` (which never climbs above `/`), lexically.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves a list of entries from the config key `key`.
pub fn resolve(key: &str, entries: &[String], host: &HostEnv) -> Result<Resolved> {
    let mut out = Resolved::default();
    let mut found: Vec<PathBuf> = Vec::new();
    // Glob patterns with the same fixed prefix are expanded together, in one walk.
    let mut globs: std::collections::BTreeMap<String, Vec<(&String, Pattern)>> = Default::default();
    for entry in entries {
        let Some(abs) = absolute(entry, host.home.as_deref(), &host.cwd) else {
            out.notes
                .push(format!("{key}: {entry:?} skipped: $HOME is not set"));
            continue;
        };
        let pattern = Pattern::new(&abs)
            .map_err(|e| Error::Config(format!("{key}: {entry:?}: invalid pattern: {e}")))?;
        if pattern.is_literal() {
            found.push(PathBuf::from(unescape(&abs)));
        } else {
            globs
                .entry(pattern.literal_prefix().to_string())
                .or_default()
                .push((entry, pattern));
        }
    }
    for (prefix, group) in &globs {
        let patterns: Vec<&Pattern> = group.iter().map(|(_, p)| p).collect();
        let expansion = glob::expand_all(&patterns, &ExpandLimits::default());
        let names = group
            .iter()
            .map(|(e, _)| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        if expansion.truncated {
            out.truncated.push(format!("{names} (below {prefix})"));
        }
        if expansion.paths.is_empty() {
            out.notes
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
                        path.display(),
                        real.display()
                    ));
                }
                out.paths.push(real);
            }
            Err(_) => out
                .notes
                .push(format!("{key}: {} does not exist, skipped", path.display())),
        }
    }
    out.paths.sort();
    out.paths.dedup();
    Ok(out)
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

    #[test]
    fn absolute_paths() {
        let home = Some(Path::new("/home/u"));
        let base = Path::new("/work/p");
        let cases = [
            ("~", "/home/u"),
            ("~/.ssh/id_*", "/home/u/.ssh/id_*"),
            (".", "/work/p"),
            ("./build/../out", "/work/p/out"),
            ("src", "/work/p/src"),
            ("**/.env", "/work/p/**/.env"),
            ("/etc/../..", "/"),
            ("/a//b/./c/", "/a/b/c"),
            ("~user", "/work/p/~user"),
        ];
        for (entry, want) in cases {
            assert_eq!(
                absolute(entry, home, base).as_deref(),
                Some(want),
                "{entry}"
            );
        }
        assert_eq!(absolute("~/x", None, base), None);
        // Glob characters in the base directory are escaped, not interpreted.
        assert_eq!(
            absolute("x", None, Path::new("/a[1]")).as_deref(),
            Some(r"/a\[1]/x")
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
            r.notes.iter().any(|n| n.contains("missing")),
            "{:?}",
            r.notes
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
