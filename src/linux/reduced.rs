//! Reduced isolation: no bwrap, no namespaces; Landlock and seccomp alone, applied by
//! fence's init running directly on the host. Used where user namespaces are refused and
//! the user passed `--allow-reduced-isolation`, and, automatically, for fence inside fence
//! (where the outer sandbox still applies, so the result is never looser than it).

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{control, landlock, session, sys};
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::policy::Policy;

/// Whether fence runs inside another fence sandbox (its seccomp filter is in force).
pub fn nested() -> bool {
    std::env::var_os("FENCE_SANDBOX").is_some_and(|v| v == "1") && sys::under_fence_seccomp()
}

pub struct Reduced<'a> {
    pub policy: &'a Policy,
    pub plan: control::InitPlan,
    pub env: Vec<(OsString, OsString)>,
    pub new_session: bool,
    /// Nested in another fence (else: `--allow-reduced-isolation` was given).
    pub nested: bool,
    /// For the seccomp notification dispatcher, when the plan watches syscalls.
    pub notify: Option<super::notify::Context>,
}

pub fn run(r: Reduced<'_>) -> Result<Outcome> {
    let policy = r.policy;
    // What Landlock cannot express: a read-only path inside a writable one. Fine if it is
    // read-only already (the outer sandbox's mounts, when nested).
    let unenforced: Vec<&PathBuf> = policy
        .deny_write
        .iter()
        .filter(|p| {
            policy.write.iter().any(|w| p.starts_with(w))
                || (policy.tmp_shared && p.starts_with("/tmp"))
        })
        .filter(|p| {
            CString::new(p.as_os_str().as_bytes()).is_ok_and(|c| sys::access(&c, libc::W_OK))
        })
        .collect();
    if !unenforced.is_empty() {
        let list = unenforced
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if r.nested {
            return Err(Error::Setup(format!(
                "inside another fence sandbox fence cannot create namespaces, and Landlock alone \
                 cannot keep {list} read-only inside a writable path; narrow allowWrite or run \
                 this command under the outer fence's policy"
            )));
        }
        log::warn!("reduced isolation cannot keep these read-only inside writable paths: {list}");
    }
    // The run-time command deny (path mode) is a mount: without one, only the check before
    // the run applies.
    let exec_deny = if policy.exec_deny.is_empty() {
        String::new()
    } else {
        let mut shown: Vec<String> = policy
            .exec_deny
            .iter()
            .take(4)
            .map(|p| crate::output::path(p))
            .collect();
        let more = policy.exec_deny.len() - shown.len();
        if more > 0 {
            shown.push(format!("{more} more (-d lists them)"));
        }
        format!(
            " and the run-time command deny (still executable: {}; command rules are checked \
             before the run only)",
            shown.join(", ")
        )
    };
    let and = if exec_deny.is_empty() { "and " } else { "" };
    if r.nested {
        log::debug!("inside another fence sandbox: stacking this policy with Landlock and seccomp");
        if !exec_deny.is_empty() {
            log::debug!("not applied when nested{exec_deny}");
        }
    } else {
        log::warn!(
            "user namespaces are unavailable: running with Landlock and seccomp only \
             (--allow-reduced-isolation). Lost: a private /tmp (TMPDIR is a fresh directory \
             removed at exit), a private /proc (other processes' command lines are visible), \
             {and}the mount-based masks (denied directories can still be listed){exec_deny}; \
             all sockets but socketpair are refused"
        );
    }

    let scratch = Scratch::create(Path::new("/tmp"), sys::getuid(), std::process::id()).map_err(
        |(path, e)| Error::io(format!("cannot create {}", crate::output::path(&path)), e),
    )?;
    let mut plan = r.plan;
    plan.reduced = true;
    if plan.watch.required {
        return Err(Error::Setup(
            "fence learn needs to see denied writes, and reduced isolation has no mount sandbox \
             to judge them against; run it where user namespaces are available"
                .into(),
        ));
    }
    if plan.watch.writes || plan.watch.sockets {
        // The filesystem verdicts assume the mount sandbox (a private /tmp, masks).
        log::warn!(
            "-m shows no filesystem or connect events in reduced isolation (no mount sandbox \
             to judge them against); all sockets are refused here anyway"
        );
        plan.watch.writes = false;
        plan.watch.sockets = false;
    }
    plan.landlock = landlock::reduced_rules(policy, &scratch.path, &list_dir);
    let mut env: Vec<(OsString, OsString)> =
        r.env.into_iter().filter(|(k, _)| k != "TMPDIR").collect();
    env.push(("TMPDIR".into(), scratch.path.clone().into_os_string()));
    let options = super::launch::Options {
        pty: plan.pty,
        pty_stderr: plan.pty_stderr,
        empty_files: 0,
        setsid: r.new_session,
    };
    let result = super::launch::Launch::start(None, options).and_then(|launch| {
        let spec = session::Spec {
            args: Vec::new(),
            plan,
            env,
            new_session: r.new_session,
            network: None,
            notify: r.notify,
        };
        session::run(spec, launch)
    });
    drop(scratch);
    result
}

/// The run's `TMPDIR` in reduced isolation, `/tmp/fence-UID-PID` (the host's `/tmp`: there
/// is no private one). Removed when the run ends; a run killed before it could remove it
/// (`kill -9`) leaves it behind, and the next run removes it: the directory stays locked
/// (`flock`) by the fence that made it for as long as that fence lives, so a leftover is
/// told from a live run's directory even across pid namespaces that share `/tmp`.
struct Scratch {
    path: PathBuf,
    /// The directory itself, open and locked.
    _lock: std::fs::File,
}

impl Scratch {
    fn create(
        base: &Path,
        uid: u32,
        pid: u32,
    ) -> std::result::Result<Scratch, (PathBuf, std::io::Error)> {
        use std::os::unix::fs::DirBuilderExt;
        remove_leftovers(base, uid, pid);
        let path = base.join(format!("fence-{uid}-{pid}"));
        let fail = |e| (path.clone(), e);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(fail)?;
        let scratch = Scratch {
            _lock: open_dir(&path).map_err(fail)?,
            path: path.clone(),
        };
        // Only another run's leftover sweep probes it, and only if this pid looks gone to
        // it (another pid namespace): rare, and then the directory may vanish, so refuse.
        if !sys::try_lock(std::os::fd::AsFd::as_fd(&scratch._lock)).map_err(fail)? {
            return Err(fail(std::io::Error::other(
                "another process holds its lock",
            )));
        }
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn open_dir(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// Removes what runs of `uid` that are gone left under `base`: their scratch directories
/// (`fence-UID-PID`) and the init's runtime directories (`fence-runtime-UID-PID`). Only
/// real directories owned by `uid`, whose fence is not running (`pid` is gone, or it is
/// ours, which has made nothing yet) and whose scratch directory is not locked.
fn remove_leftovers(base: &Path, uid: u32, me: u32) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let scratch_prefix = format!("fence-{uid}-");
    let runtime_prefix = format!("fence-runtime-{uid}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(&scratch_prefix)
            .or_else(|| name.strip_prefix(&runtime_prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if !ours || (pid != me && Path::new(&format!("/proc/{pid}")).exists()) {
            continue;
        }
        // A live fence holds its scratch directory's lock.
        let owner = base.join(format!("{scratch_prefix}{pid}"));
        let in_use = open_dir(&owner)
            .is_ok_and(|dir| !sys::try_lock(std::os::fd::AsFd::as_fd(&dir)).unwrap_or(false));
        if !in_use {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Above the kernel's largest pid_max (2^22): never a live process.
    const GONE: u32 = 4_194_400;

    #[test]
    fn leftovers_of_runs_that_are_gone_are_removed() {
        let base = std::env::temp_dir().join(format!("fence-leftovers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let uid = sys::getuid();
        let live = std::process::id();
        let me = GONE + 9;
        let dir = |name: String| {
            let path = base.join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("file"), "x").unwrap();
            path
        };
        let removed = [
            dir(format!("fence-{uid}-{GONE}")),
            dir(format!("fence-runtime-{uid}-{GONE}")),
            dir(format!("fence-runtime-{uid}-{}", GONE + 1)),
            // A leftover of an earlier run that had this run's pid.
            dir(format!("fence-{uid}-{me}")),
        ];
        let kept = [
            dir(format!("fence-{uid}-{live}")),
            dir(format!("fence-runtime-{uid}-{live}")),
            dir(format!("fence-{uid}-{}", GONE + 2)),
            dir(format!("fence-runtime-{uid}-{}", GONE + 2)),
            dir(format!("fence-{}-{GONE}", uid + 1)),
            dir(format!("fence-{uid}-x{GONE}")),
            dir(format!("fence-{uid}-")),
            dir(format!("other-{uid}-{GONE}")),
        ];
        // A run in another pid namespace (its pid looks gone here) holds its lock.
        let locked = open_dir(&base.join(format!("fence-{uid}-{}", GONE + 2))).unwrap();
        assert!(sys::try_lock(locked.as_fd()).unwrap());
        // Not a directory of ours: a symlink with a matching name.
        let target = dir("target".into());
        let link = base.join(format!("fence-{uid}-{}", GONE + 3));
        std::os::unix::fs::symlink(&target, &link).unwrap();

        remove_leftovers(&base, uid, me);
        for path in removed {
            assert!(!path.exists(), "{} is left", path.display());
        }
        for path in kept.iter().chain([&target, &link]) {
            assert!(
                path.symlink_metadata().is_ok(),
                "{} was removed",
                path.display()
            );
        }
        assert!(target.join("file").exists());
        drop(locked);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn scratch_is_locked_while_it_lives_and_removed_after() {
        let base = std::env::temp_dir().join(format!("fence-scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let uid = sys::getuid();
        let scratch = Scratch::create(&base, uid, GONE).unwrap();
        assert_eq!(scratch.path, base.join(format!("fence-{uid}-{GONE}")));
        let probe = open_dir(&scratch.path).unwrap();
        assert!(
            !sys::try_lock(probe.as_fd()).unwrap(),
            "locked while the run lives"
        );
        // Another run's sweep leaves it alone although its pid looks gone.
        remove_leftovers(&base, uid, GONE + 1);
        assert!(scratch.path.exists());
        let path = scratch.path.clone();
        drop(scratch);
        assert!(!path.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
