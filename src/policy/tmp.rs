//! The sandbox's private `/tmp`: which host paths under `/tmp` it hides, and the checks that
//! say so before the command runs, instead of a bare "command not found" or writes that
//! vanish at exit.
//!
//! Unless `/tmp` is shared (`allowWrite: ["/tmp"]`), the sandbox gets an empty tmpfs at
//! `/tmp`, discarded when the sandbox ends. Host paths under `/tmp` are visible in it only
//! where a bind brings them back: a writable path, a readable root (`allowRead`,
//! `allowExecute`), and, without `defaultDenyRead`, the working directory (read-only).
//! What the command writes anywhere else in `/tmp` is lost.
//!
//! Checked before the sandbox starts (see [`check`]): the program (`argv[0]`, or where the
//! host's `PATH` finds it), the working directory, and the variables of [`STATE_VARS`],
//! which name directories where tools keep what they download or build.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use super::Policy;
use crate::output;

/// Variables naming directories that tools keep state in (caches, installs, homes): one
/// under the private `/tmp` loses everything written there at exit. `TMPDIR` is scratch by
/// definition and is not among them.
pub const STATE_VARS: &[&str] = &[
    "HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "RUSTUP_HOME",
    "GOPATH",
    "GOMODCACHE",
    "GOCACHE",
    "npm_config_cache",
    "NPM_CONFIG_CACHE",
    "npm_config_prefix",
    "NPM_CONFIG_PREFIX",
    "YARN_CACHE_FOLDER",
    "PNPM_HOME",
    "BUN_INSTALL",
    "DENO_DIR",
    "PIP_CACHE_DIR",
    "PIPX_HOME",
    "POETRY_CACHE_DIR",
    "UV_CACHE_DIR",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "GEM_HOME",
    "BUNDLE_PATH",
    "GRADLE_USER_HOME",
    "CCACHE_DIR",
    "SCCACHE_DIR",
];

/// The directory directly below `/tmp` that holds `path` (`/tmp/x` for `/tmp/x/venv/bin`).
pub fn top_in_tmp(path: &Path) -> Option<PathBuf> {
    let first = path.strip_prefix("/tmp").ok()?.components().next()?;
    Some(Path::new("/tmp").join(first))
}

impl Policy {
    /// Whether the sandbox has a private `/tmp` and `path` (canonical) lies below it.
    pub fn in_private_tmp(&self, path: &Path) -> bool {
        !self.tmp_shared && path.starts_with("/tmp") && path != Path::new("/tmp")
    }

    /// Whether the private `/tmp` hides the host's `path` (canonical): it lies below `/tmp`
    /// and no bind brings it in (a writable or readable root, or the working directory,
    /// which is bound read-only without `defaultDenyRead`).
    pub fn hidden_by_private_tmp(&self, path: &Path) -> bool {
        self.in_private_tmp(path)
            && !self
                .write
                .iter()
                .chain(&self.read)
                .chain(self.bound_cwd())
                .any(|bound| path.starts_with(bound))
    }

    /// The working directory when it lies below the private `/tmp` and is bound into it
    /// (read-only, without `defaultDenyRead`).
    pub fn bound_cwd(&self) -> Option<&PathBuf> {
        (!self.default_deny_read && self.in_private_tmp(&self.cwd)).then_some(&self.cwd)
    }

    /// What the private `/tmp` hides on the way to `path` (absolute, possibly through
    /// symbolic links, or not existing yet), if anything: a symbolic link on the way that
    /// lies in a hidden part of the host's /tmp (a venv's `bin/python -> /usr/bin/python3`
    /// does not exist in the sandbox), or the place the path finally leads to. Directories
    /// on the way may be hidden themselves: bwrap makes empty ones to hold a bind below.
    pub fn hidden_on_the_way(&self, path: &Path) -> Option<PathBuf> {
        let mut at = PathBuf::from("/");
        for part in path.components() {
            match part {
                Component::Normal(name) => {
                    let next = at.join(name);
                    let is_link = next.symlink_metadata().is_ok_and(|m| m.is_symlink());
                    if is_link && self.hidden_by_private_tmp(&next) {
                        return Some(next);
                    }
                    at = match is_link {
                        true => std::fs::canonicalize(&next).ok()?,
                        false => next,
                    };
                }
                Component::ParentDir => {
                    at.pop();
                }
                _ => {}
            }
        }
        self.hidden_by_private_tmp(&at).then_some(at)
    }
}

/// What [`check`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TmpCheck {
    /// The program exists on the host but not in the sandbox, and nothing else on `PATH`
    /// stands in for it: the run would fail with "command not found" (exit 127).
    pub not_found: Option<String>,
    /// One line each: what is hidden or discarded, and how to share it.
    pub warnings: Vec<String>,
    /// Whether the sandbox should name, when the command ends, the files it left in the
    /// private `/tmp` (the working directory or a state directory lies there).
    pub report_leftovers: bool,
}

/// Checks what the private `/tmp` hides from a run of `argv` in `env` (the command's own
/// environment): see the module documentation.
pub fn check(policy: &Policy, argv: &[OsString], env: &[(OsString, OsString)]) -> TmpCheck {
    let mut out = TmpCheck::default();
    if policy.tmp_shared {
        return out;
    }
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    if let Some(program) = argv.first() {
        check_program(policy, program, path_var, &mut out);
    }
    let cwd = &policy.cwd;
    if policy.in_private_tmp(cwd) {
        out.report_leftovers = true;
        let writable = policy.write.iter().any(|w| cwd.starts_with(w));
        if !writable && !policy.hidden_by_private_tmp(cwd) {
            let top = top_in_tmp(cwd).unwrap_or_else(|| cwd.clone());
            out.warnings.push(format!(
                "the working directory {} is in the host's /tmp, which the sandbox replaces \
                 with a private one: it is shared read-only, and what the command writes \
                 elsewhere in /tmp is discarded at exit; to write there, add {} to \
                 filesystem.allowWrite (or \"/tmp\")",
                output::path(cwd),
                fix(&top)
            ));
        }
    }
    for name in STATE_VARS {
        let Some((_, value)) = env.iter().find(|(k, _)| k == *name) else {
            continue;
        };
        let path = Path::new(value);
        if !path.is_absolute() {
            continue;
        }
        let Some(hidden) = policy.hidden_on_the_way(path) else {
            continue;
        };
        out.report_leftovers = true;
        let top = top_in_tmp(&hidden).unwrap_or(hidden);
        let shown = output::escape_bytes(value.as_encoded_bytes());
        out.warnings.push(if path.exists() {
            format!(
                "{name}={shown} is in the host's /tmp, which the sandbox's private /tmp hides: \
                 the command does not see what is there, and what it writes there is discarded \
                 at exit; to share it, add {} to filesystem.allowWrite (or \"/tmp\")",
                fix(&top)
            )
        } else {
            format!(
                "{name}={shown} is in /tmp, where the sandbox has a private /tmp: what the \
                 command writes there is discarded at exit; to keep it, create {} on the host \
                 and add {} to filesystem.allowWrite (or \"/tmp\")",
                output::path(&top),
                fix(&top)
            )
        });
    }
    out
}

/// The program: a path (with a slash, relative to the working directory) or the first match
/// in `PATH`, as the init searches it.
fn check_program(policy: &Policy, program: &OsStr, path_var: Option<&OsStr>, out: &mut TmpCheck) {
    let shown = output::escape_bytes(program.as_encoded_bytes());
    if program.as_encoded_bytes().contains(&b'/') {
        let path = policy.cwd.join(program);
        if !is_executable_file(&path) {
            return;
        }
        if let Some(hidden) = policy.hidden_on_the_way(&path) {
            out.not_found = Some(format!(
                "{shown}: command not found in the sandbox: {}; to run it, add {} to \
                 filesystem.allowRead (read-only) or allowWrite (or allowWrite \"/tmp\")",
                hidden_text(&hidden),
                fix(&top_in_tmp(&hidden).unwrap_or(hidden.clone()))
            ));
        }
        return;
    }
    if program.is_empty() {
        return;
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let found: Vec<PathBuf> = std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .filter(|p| is_executable_file(p))
        .collect();
    let Some(first) = found.first() else {
        return;
    };
    let Some(hidden) = policy.hidden_on_the_way(first) else {
        return;
    };
    let top = top_in_tmp(&hidden).unwrap_or(hidden.clone());
    match found
        .iter()
        .skip(1)
        .find(|p| policy.hidden_on_the_way(p).is_none())
    {
        Some(other) => out.warnings.push(format!(
            "{shown} is {} on the host's PATH, but {}: the sandbox runs {} instead; to run \
             the first, add {} to filesystem.allowRead (or allowWrite)",
            output::path(first),
            hidden_text(&hidden),
            output::path(other),
            fix(&top)
        )),
        None => {
            out.not_found = Some(format!(
                "{shown}: command not found in the sandbox: the host's PATH finds {}, but {}; \
                 to run it, add {} to filesystem.allowRead (read-only) or allowWrite (or \
                 allowWrite \"/tmp\")",
                output::path(first),
                hidden_text(&hidden),
                fix(&top)
            ))
        }
    }
}

fn hidden_text(hidden: &Path) -> String {
    format!(
        "{} is in the host's /tmp, which the sandbox's private /tmp hides",
        output::path(hidden)
    )
}

/// A path as a config list entry: `["/tmp/x"]`.
fn fix(path: &Path) -> String {
    format!("[\"{}\"]", output::path(path))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cwd: &str) -> Policy {
        Policy {
            cwd: cwd.into(),
            ..Policy::default()
        }
    }

    #[test]
    fn what_the_private_tmp_hides() {
        let mut p = policy("/tmp/p/sub");
        p.write.push("/tmp/w".into());
        p.read.push("/tmp/r".into());
        for (path, hidden) in [
            ("/tmp", false),
            ("/tmp/x", true),
            ("/tmp/x/venv/bin/pip", true),
            ("/tmp/w/a", false),
            ("/tmp/r", false),
            ("/tmp/p", true),
            ("/tmp/p/sub/f", false),
            ("/tmpx/a", false),
            ("/home/u", false),
        ] {
            assert_eq!(p.hidden_by_private_tmp(Path::new(path)), hidden, "{path}");
        }
        // Under defaultDenyRead the working directory is not bound by itself.
        p.default_deny_read = true;
        assert!(p.hidden_by_private_tmp(Path::new("/tmp/p/sub/f")));
        p.tmp_shared = true;
        assert!(!p.hidden_by_private_tmp(Path::new("/tmp/x")));
        assert_eq!(
            top_in_tmp(Path::new("/tmp/x/venv/bin")),
            Some(PathBuf::from("/tmp/x"))
        );
        assert_eq!(top_in_tmp(Path::new("/tmp")), None);
        assert_eq!(top_in_tmp(Path::new("/usr/bin")), None);
    }

    #[test]
    fn state_variables_and_the_working_directory() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
        };
        let p = policy("/tmp/p/sub");
        let c = check(
            &p,
            &["true".into()],
            &env(&[
                ("CARGO_HOME", "/tmp/fence-no-such-dir/ch"),
                ("TMPDIR", "/tmp/t"),
                ("GOPATH", "relative"),
                ("HOME", "/home/u"),
            ]),
        );
        assert_eq!(c.not_found, None);
        assert!(c.report_leftovers);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("working directory /tmp/p/sub")
                && c.warnings[0].contains("[\"/tmp/p\"]"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings[1].starts_with("CARGO_HOME=/tmp/fence-no-such-dir/ch")
                && c.warnings[1].contains("[\"/tmp/fence-no-such-dir\"]"),
            "{:?}",
            c.warnings
        );
        // A writable working directory needs no warning, but leftovers are still named.
        let mut writable = policy("/tmp/p/sub");
        writable.write.push("/tmp/p".into());
        let c = check(&writable, &["true".into()], &[]);
        assert!(c.warnings.is_empty() && c.report_leftovers);
        // Nothing to say outside /tmp, or with the host's /tmp shared.
        assert_eq!(
            check(&policy("/home/u"), &["true".into()], &[]),
            TmpCheck::default()
        );
        let mut shared = policy("/tmp/p");
        shared.tmp_shared = true;
        let c = check(&shared, &["true".into()], &env(&[("CARGO_HOME", "/tmp/c")]));
        assert_eq!(c, TmpCheck::default());
    }

    #[test]
    fn programs_hidden_by_the_private_tmp() {
        use std::os::unix::fs::PermissionsExt;
        let root = PathBuf::from(format!("/tmp/fence-tmp-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let bin = root.join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["tool", "sh"] {
            std::fs::write(bin.join(name), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let env = vec![(OsString::from("PATH"), OsString::from(&path))];
        let p = policy("/");
        let by_path = check(&p, &["tool".into()], &env);
        let by_name = check(&p, &[bin.join("tool").into()], &env);
        for c in [&by_path, &by_name] {
            let msg = c.not_found.as_deref().unwrap_or_default();
            assert!(
                msg.contains("command not found in the sandbox")
                    && msg.contains(&format!("[\"{}\"]", root.display())),
                "{c:?}"
            );
        }
        // Found later on PATH: a warning naming what runs instead.
        let c = check(&p, &["sh".into()], &env);
        assert_eq!(c.not_found, None);
        assert!(
            c.warnings[0].contains("the sandbox runs /usr/bin/sh"),
            "{c:?}"
        );
        // Relative to a working directory that is bound: visible.
        let c = check(
            &policy(&root.display().to_string()),
            &["venv/bin/tool".into()],
            &env,
        );
        assert_eq!(c.not_found, None, "{c:?}");
        // Shared read-only with allowRead: visible.
        let mut readable = policy("/");
        readable.read.push(root.clone());
        assert_eq!(
            check(&readable, &["tool".into()], &env),
            TmpCheck::default()
        );
        // A link in the hidden venv to a visible program is missing in the sandbox too.
        std::os::unix::fs::symlink("/bin/sh", bin.join("py")).unwrap();
        assert!(
            check(&p, &[bin.join("py").into()], &env)
                .not_found
                .is_some()
        );
        // A bind below a hidden directory: bwrap makes the directories on the way.
        let mut bound = policy("/");
        bound.write.push(bin.clone());
        assert_eq!(check(&bound, &["tool".into()], &env), TmpCheck::default());
        // Not on the host either: the ordinary "command not found", nothing to explain.
        assert_eq!(
            check(&p, &["fence-no-such-tool".into()], &env).not_found,
            None
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}

/// How compilation treats the private /tmp: allowRead brings a path there in (without
/// defaultDenyRead too), a masked one is a conflict, sockets in bound paths stay masked.
#[cfg(test)]
mod compile_tests {
    use crate::config::parse_text;
    use crate::host_env::HostEnv;
    use crate::policy::compile;
    use crate::policy::temp_tree::TempTree;

    #[test]
    fn allow_read_in_the_private_tmp() {
        let t = TempTree::new("tmp-read");
        assert!(
            t.0.starts_with("/tmp"),
            "the tree must be in the host's /tmp"
        );
        for d in ["ws", "r/sub", "d/x"] {
            std::fs::create_dir_all(t.0.join(d)).unwrap();
        }
        let _sock = std::os::unix::net::UnixListener::bind(t.0.join("r/sub/s.sock")).unwrap();
        let host = HostEnv::new(t.0.join("ws"), None, None, None);
        let json = |s: &str| parse_text(s, "test").unwrap();
        let root = t.0.display();
        let p = compile(
            &json(&format!(
                r#"{{"filesystem": {{"allowRead": ["{root}/r", "/etc"],
                    "allowWrite": ["{root}/missing"]}},
                    "network": {{"allowUnixSockets": ["{root}/d/x"]}}}}"#
            )),
            &host,
        )
        .unwrap();
        assert_eq!(p.read, vec![t.0.join("r")]);
        assert!(!p.hidden_by_private_tmp(&t.0.join("r/sub")));
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("/etc is readable anyway")),
            "{p:?}"
        );
        assert!(
            p.sockets.iter().any(|s| s.path == t.0.join("r/sub/s.sock")),
            "a socket in a bound part of /tmp stays masked: {:?}",
            p.sockets
        );
        let warned = |what: &str| p.warnings.iter().any(|w| w.contains(what));
        assert!(
            warned("missing does not exist, skipped"),
            "{:?}",
            p.warnings
        );
        assert!(warned("allowUnixSockets"), "{:?}", p.warnings);

        // A literal entry inside a mask is a conflict; a glob's match there stays masked.
        let err = compile(
            &json(&format!(
                r#"{{"filesystem": {{"denyRead": ["{root}/d"], "allowRead": ["{root}/d/x"]}}}}"#
            )),
            &host,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("cannot be read") && err.to_string().contains("denyRead"),
            "{err}"
        );
        let p = compile(
            &json(&format!(
                r#"{{"filesystem": {{"denyRead": ["{root}/d"], "allowRead": ["{root}/d/*"],
                    "defaultDenyRead": true}}}}"#
            )),
            &host,
        )
        .unwrap();
        assert!(!p.read.contains(&t.0.join("d/x")), "{:?}", p.read);
        assert!(
            p.notes.iter().any(|n| n.contains("stays hidden")),
            "{:?}",
            p.notes
        );
    }
}
