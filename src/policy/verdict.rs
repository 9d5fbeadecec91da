//! What the policy says about one write or connect the sandbox attempts, for `-m` and
//! `fence learn` (pure, over the compiled [`Policy`]): the host answers the kernel's
//! notification with "continue" whatever this says (the mounts and Landlock decide), and
//! reports a denial when this predicts one.
//!
//! Paths are the sandbox's, which are the host's for everything fence binds (binds keep
//! their paths), except the sandbox's own `/tmp` (a private tmpfs unless shared), `/dev`
//! and `/proc`. Symbolic links: the caller resolves the directory part on the host where it
//! can ([`Verdicts`] caches that per directory); the last component is taken as written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Policy;
use super::dangerous;

/// Why a write is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Not under any writable root.
    OutsideAllowWrite,
    /// Under a writable root, but read-only: a protected name, git location or trust root.
    Protected,
    /// Under a writable root, but listed in `denyWrite`.
    DenyWrite,
    /// Masked by `denyRead`.
    DenyRead,
}

impl Denied {
    /// The reason as event lines give it.
    pub fn rule(self) -> &'static str {
        match self {
            Denied::OutsideAllowWrite => "outside allowWrite",
            Denied::Protected => "protected path",
            Denied::DenyWrite => "denyWrite",
            Denied::DenyRead => "denyRead",
        }
    }
}

/// Places the sandbox always writes on its own: private filesystems, not the host's.
/// In the private `/tmp`, what fence binds from the host's keeps the host's rules: the
/// working directory (shared read-only when it lies there), readable roots, writable roots.
fn private(policy: &Policy, path: &Path) -> bool {
    let bound = |root: &Path| root.starts_with("/tmp") && path.starts_with(root);
    let bound_from_host = || {
        bound(&policy.cwd)
            || policy.read.iter().any(|r| bound(r))
            || policy.write.iter().any(|w| bound(w))
    };
    path.starts_with("/proc")
        || path.starts_with("/dev")
        || (!policy.tmp_shared && path.starts_with("/tmp") && !bound_from_host())
}

/// The verdict on writing `path` (absolute, clean, directories resolved).
pub fn write(policy: &Policy, path: &Path) -> Option<Denied> {
    if private(policy, path) {
        return None;
    }
    if policy.deny_read.iter().any(|t| path.starts_with(&t.path)) {
        return Some(Denied::DenyRead);
    }
    let writable = policy.write.iter().any(|root| path.starts_with(root))
        || (policy.tmp_shared && path.starts_with("/tmp"));
    if !writable {
        return Some(Denied::OutsideAllowWrite);
    }
    if policy
        .placeholders
        .iter()
        .any(|t| path.starts_with(&t.path))
    {
        return Some(Denied::Protected);
    }
    let read_only = policy
        .deny_write
        .iter()
        .filter(|ro| path.starts_with(ro))
        .min_by_key(|ro| ro.as_os_str().len())?;
    Some(if is_protected_name(read_only) {
        Denied::Protected
    } else {
        Denied::DenyWrite
    })
}

/// Whether `path` is one of the mandatory protections (a protected name, a git location).
fn is_protected_name(path: &Path) -> bool {
    path.components().any(|c| {
        let name = c.as_os_str();
        name == ".git" || dangerous::PROTECTED.iter().any(|p| name == p.name)
    })
}

/// Whether connecting to the Unix socket at `path` meets a mask (a host socket not in
/// `allowUnixSockets`, or a directory of them masked whole).
pub fn socket_masked(policy: &Policy, path: &Path) -> bool {
    policy.sockets.iter().any(|t| path.starts_with(&t.path))
        || policy.deny_read.iter().any(|t| path.starts_with(&t.path))
}

/// Verdicts with the directory part of each path resolved on the host once (symbolic links
/// followed), bounded.
pub struct Verdicts {
    policy: Policy,
    resolved: HashMap<PathBuf, PathBuf>,
}

/// Directories remembered; past this the cache starts over (a sandbox can name many).
const MAX_CACHED: usize = 4096;

impl Verdicts {
    pub fn new(policy: Policy) -> Verdicts {
        Verdicts {
            policy,
            resolved: HashMap::new(),
        }
    }

    /// The verdict on writing `path` (absolute and clean, as the sandbox named it).
    pub fn write(&mut self, path: &Path) -> Option<Denied> {
        if private(&self.policy, path) {
            return None;
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return write(&self.policy, path);
        };
        if !self.resolved.contains_key(dir) {
            if self.resolved.len() >= MAX_CACHED {
                self.resolved.clear();
            }
            let real = resolve_dir(dir);
            self.resolved.insert(dir.to_path_buf(), real);
        }
        // The policy's paths are canonical: the real path is the one its rules name.
        write(&self.policy, &self.resolved[dir].join(name))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// `dir` with symbolic links resolved as far as it exists on the host.
fn resolve_dir(dir: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = dir;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            let mut out = real;
            out.extend(missing.iter().rev());
            return out;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Target;

    fn policy() -> Policy {
        Policy {
            write: vec!["/home/u/proj".into()],
            deny_write: vec![
                "/home/u/proj/.bashrc".into(),
                "/home/u/proj/.git/hooks".into(),
                "/home/u/proj/vendor".into(),
            ],
            deny_read: vec![Target {
                path: "/home/u/proj/secrets".into(),
                is_dir: true,
            }],
            placeholders: vec![Target {
                path: "/home/u/proj/.envrc".into(),
                is_dir: false,
            }],
            sockets: vec![Target {
                path: "/run/docker.sock".into(),
                is_dir: false,
            }],
            ..Policy::default()
        }
    }

    #[test]
    fn writes_are_judged_like_the_mount_plan() {
        let p = policy();
        let cases: &[(&str, Option<Denied>)] = &[
            ("/home/u/proj/src/main.rs", None),
            ("/home/u/proj", None),
            ("/tmp/x", None),
            ("/dev/null", None),
            ("/proc/self/attr/current", None),
            ("/etc/passwd", Some(Denied::OutsideAllowWrite)),
            ("/home/u/.npmrc", Some(Denied::OutsideAllowWrite)),
            ("/home/u/projx/a", Some(Denied::OutsideAllowWrite)),
            ("/home/u/proj/.bashrc", Some(Denied::Protected)),
            (
                "/home/u/proj/.git/hooks/pre-commit",
                Some(Denied::Protected),
            ),
            ("/home/u/proj/.envrc", Some(Denied::Protected)),
            ("/home/u/proj/vendor/x.c", Some(Denied::DenyWrite)),
            ("/home/u/proj/secrets/key", Some(Denied::DenyRead)),
        ];
        for (path, want) in cases {
            assert_eq!(write(&p, Path::new(path)), *want, "{path}");
        }
        // The working directory under the host's /tmp is shared read-only, not private.
        let cwd_in_tmp = Policy {
            cwd: "/tmp/proj".into(),
            ..Policy::default()
        };
        assert_eq!(
            write(&cwd_in_tmp, Path::new("/tmp/proj/out.txt")),
            Some(Denied::OutsideAllowWrite)
        );
        assert_eq!(write(&cwd_in_tmp, Path::new("/tmp/other")), None);
        let shared = Policy {
            tmp_shared: true,
            ..Policy::default()
        };
        assert_eq!(write(&shared, Path::new("/tmp/x")), None);
        assert_eq!(
            write(&shared, Path::new("/var/tmp/x")),
            Some(Denied::OutsideAllowWrite)
        );
    }

    #[test]
    fn sockets_are_masked_as_planned() {
        let p = policy();
        assert!(socket_masked(&p, Path::new("/run/docker.sock")));
        assert!(!socket_masked(&p, Path::new("/run/other.sock")));
    }

    #[test]
    fn directories_are_resolved_on_the_host() {
        // Not under /tmp, which is the sandbox's own.
        let dir = std::env::current_dir()
            .unwrap()
            .join(format!("target/fence-verdict-{}", std::process::id()));
        let real = dir.join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let real = std::fs::canonicalize(&real).unwrap();
        let p = Policy {
            write: vec![dir.join("elsewhere")],
            deny_write: vec![],
            ..Policy::default()
        };
        let via_link = Policy {
            write: vec![real.clone()],
            ..Policy::default()
        };
        // A write through a link into a writable root is allowed; one into a place the
        // policy does not open is denied under either spelling.
        assert_eq!(Verdicts::new(via_link).write(&link.join("f")), None);
        assert_eq!(
            Verdicts::new(p).write(&link.join("new/f")),
            Some(Denied::OutsideAllowWrite)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
