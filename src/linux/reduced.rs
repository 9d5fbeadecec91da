//! Reduced isolation: no bwrap, no namespaces; Landlock and seccomp alone, applied by
//! fence's init running directly on the host. Used where user namespaces are refused and
//! the user passed `--allow-reduced-isolation`, and, automatically, for fence inside fence
//! (where the outer sandbox still applies, so the result is never looser than it).

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{control, landlock, session, sys};
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::run::Outcome;

/// Whether fence runs inside another fence sandbox (its seccomp filter is in force).
pub fn nested() -> bool {
    std::env::var_os("FENCE_SANDBOX").is_some_and(|v| v == "1") && sys::under_fence_seccomp()
}

pub struct Reduced<'a> {
    pub policy: &'a Policy,
    pub plan: control::InitPlan,
    pub env: Vec<(OsString, OsString)>,
    pub debug: bool,
    pub new_session: bool,
    /// Nested in another fence (else: `--allow-reduced-isolation` was given).
    pub nested: bool,
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
        crate::run::warn(&format!(
            "reduced isolation cannot keep these read-only inside writable paths: {list}"
        ));
    }
    if r.nested {
        crate::run::debug(
            "inside another fence sandbox: stacking this policy with Landlock and seccomp",
        );
    } else {
        crate::run::warn(
            "user namespaces are unavailable: running with Landlock and seccomp only \
             (--allow-reduced-isolation). Lost: a private /tmp (TMPDIR is a fresh directory \
             removed at exit), a private /proc (other processes' command lines are visible), \
             and the mount-based masks (denied directories can still be listed); all sockets \
             but socketpair are refused",
        );
    }

    let scratch = PathBuf::from(format!(
        "/tmp/fence-{}-{}",
        sys::getuid(),
        std::process::id()
    ));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&scratch)
            .map_err(|e| Error::io(format!("cannot create {}", scratch.display()), e))?;
    }
    let mut plan = r.plan;
    plan.reduced = true;
    plan.landlock = landlock::reduced_rules(policy, &scratch, &list_dir);
    let mut env: Vec<(OsString, OsString)> =
        r.env.into_iter().filter(|(k, _)| k != "TMPDIR").collect();
    env.push(("TMPDIR".into(), scratch.clone().into_os_string()));
    let result = session::run(session::Spec {
        bwrap: None,
        args: Vec::new(),
        plan,
        env,
        empty_file: None,
        debug: r.debug,
        new_session: r.new_session,
        network: None,
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}
