//! The Linux backend: bwrap for namespaces and mounts, fence's own init inside.

pub mod bwrap;
pub mod control;
pub mod diagnose;
pub mod features;
pub mod init;
pub mod landlock;
pub mod netns;
pub mod network;
pub mod reduced;
pub mod relay;
pub mod seccomp;
pub mod session;
pub mod sys;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::run::Outcome;

/// bwrap from `$FENCE_BWRAP`, else the first executable `bwrap` in `PATH`.
pub fn find_bwrap() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("FENCE_BWRAP").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if crate::run::is_executable_file(&path) {
            Ok(path)
        } else {
            Err(Error::Setup(format!(
                "FENCE_BWRAP={} is not an executable file",
                path.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join("bwrap"))
        .find(|p| p.is_absolute() && crate::run::is_executable_file(p))
        .ok_or_else(|| Error::Setup(diagnose::bwrap_missing()))
}

/// `devices.mode: auto` as the Go fence defines it: the host's `/dev` only for a non-root
/// user with a setuid bwrap outside containers (where bwrap's fresh `/dev` is unreliable),
/// else the minimal set.
fn with_auto_devices(policy: &Policy, bwrap: &Path, debug: bool) -> Policy {
    use std::os::unix::fs::PermissionsExt;
    let mut policy = policy.clone();
    if policy.devices_auto {
        let setuid = std::fs::metadata(bwrap).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
        let root = sys::geteuid() == 0;
        policy.host_devices =
            setuid && !root && features::detect_container(Path::new("/")).is_none();
        if debug && policy.host_devices {
            crate::run::debug("devices.mode auto: setuid bwrap, so the host's /dev is used");
        }
    }
    policy
}

/// Runs `argv` inside a sandbox built from `policy`: bwrap with namespaces, or, where the
/// kernel refuses namespaces and reduced isolation is acceptable, Landlock and seccomp alone.
pub fn run(
    policy: &Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    debug: bool,
    allow_reduced_isolation: bool,
    monitor: crate::monitor::Monitor,
) -> Result<Outcome> {
    // TIOCSTI/TIOCLINUX are blocked by seccomp, so the command may share the terminal's
    // session (job control, /dev/tty) unless told otherwise, or unless seccomp may be
    // missing (reduced isolation), where a new session is the remaining defence.
    let new_session = match policy.force_new_session {
        Some(forced) => forced,
        None => allow_reduced_isolation,
    };
    // allowPty: a pseudo-terminal relay, when fence itself runs at a terminal.
    let pty = policy.allow_pty && sys::is_tty(0) && sys::is_tty(1);
    let plan = control::InitPlan {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: policy.cwd.as_os_str().as_bytes().to_vec(),
        debug,
        instance: std::process::id(),
        allow_reduced_isolation,
        pty,
        pty_stderr: pty && sys::is_tty(2),
        ..control::InitPlan::default()
    };
    let reduced = |cause: Error| -> Result<Outcome> {
        let nested = reduced::nested();
        if policy.network.allows_anything() && (allow_reduced_isolation || nested) {
            crate::run::warn(
                "reduced isolation has no network namespace to serve the proxies in: all \
                 network access stays blocked (allowedDomains, allowLocalOutboundPorts and \
                 -p have no effect)",
            );
        }
        if !allow_reduced_isolation && !nested {
            return Err(match cause {
                Error::NoNamespaces(msg) => Error::NoNamespaces(format!(
                    "{msg}. To run with Landlock and seccomp alone instead, pass \
                     --allow-reduced-isolation"
                )),
                other => other,
            });
        }
        reduced::run(reduced::Reduced {
            policy,
            plan: plan.clone(),
            env: env.clone(),
            debug,
            new_session,
            nested,
        })
    };
    let bwrap = match find_bwrap() {
        Ok(bwrap) => bwrap,
        Err(missing) => return reduced(missing),
    };
    let mut policy = with_auto_devices(policy, &bwrap, debug);
    let mut monitor = Some(monitor);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Bound again on a retry: the previous attempt's sockets died with it.
        let net = network::prepare(
            &policy,
            monitor
                .take()
                .unwrap_or_else(crate::monitor::Monitor::quiet),
            debug,
        )?;
        let mut env = env.clone();
        env.retain(|(k, _)| !net.env.iter().any(|(n, _)| n == k));
        env.extend(net.env);
        // An empty file to bind over denied files and host sockets, only when there are some.
        let needs_empty = policy.deny_read.iter().any(|t| !t.is_dir) || !policy.sockets.is_empty();
        let empty_file = if needs_empty {
            Some(sys::memfd(c"fence-empty").map_err(|e| Error::io("cannot create a memfd", e))?)
        } else {
            None
        };
        let empty_fd = empty_file
            .as_ref()
            .map_or(-1, std::os::fd::AsRawFd::as_raw_fd);
        let mut args = bwrap::namespace_args(new_session);
        args.extend(net.bwrap_args);
        args.extend(bwrap::mount_args(&policy, empty_fd));
        let full = session::run(session::Spec {
            bwrap: Some(bwrap.clone()),
            args,
            plan: control::InitPlan {
                landlock: landlock::rules(&policy),
                listen: net.listen,
                connect_service: net.connect_service,
                ..plan.clone()
            },
            env,
            empty_file,
            debug,
            new_session,
            network: Some(net.network),
        });
        match full {
            Err(cause @ Error::NoNamespaces(_)) => return reduced(cause),
            // A host socket that vanished between the scan and bwrap's setup leaves nothing
            // to mask: drop it and start again (the sandbox never ran), a bounded number
            // of times.
            Err(Error::Setup(msg)) if drop_vanished_sockets(&mut policy, &msg) => {
                retry_after_vanished_sockets(attempt, &msg)?;
                crate::run::debug("a host socket vanished while the sandbox was set up; retrying");
            }
            other => return other,
        }
    }
}

/// How many times fence sets the sandbox up when host sockets keep vanishing meanwhile.
const SETUP_ATTEMPTS: u32 = 3;

/// Ok to try again after attempt `attempt` failed on vanished sockets; an error after the
/// last one (sockets appearing and vanishing that fast are not a race fence can win).
fn retry_after_vanished_sockets(attempt: u32, bwrap_error: &str) -> Result<()> {
    if attempt < SETUP_ATTEMPTS {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "host sockets kept vanishing while the sandbox was set up ({attempt} attempts); \
             the last error: {bwrap_error}"
        )))
    }
}

/// Removes from `policy.sockets` those that bwrap's error names and that no longer exist.
fn drop_vanished_sockets(policy: &mut Policy, bwrap_error: &str) -> bool {
    let before = policy.sockets.len();
    policy.sockets.retain(|s| {
        !(bwrap_error.contains(&*s.to_string_lossy()) && s.symlink_metadata().is_err())
    });
    policy.sockets.len() < before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_sockets_are_dropped_only_when_named_and_gone() {
        let mut policy = Policy {
            sockets: vec![
                "/nonexistent/fence-a.sock".into(),
                "/proc/self/status".into(),
            ],
            ..Policy::default()
        };
        assert!(!drop_vanished_sockets(
            &mut policy,
            "bwrap: Can't mount tmpfs on /x"
        ));
        assert!(!drop_vanished_sockets(
            &mut policy,
            "bwrap: Can't create file at /proc/self/status"
        ));
        assert!(drop_vanished_sockets(
            &mut policy,
            "bwrap: Can't create file at /nonexistent/fence-a.sock: Read-only"
        ));
        assert_eq!(policy.sockets, vec![PathBuf::from("/proc/self/status")]);
    }

    #[test]
    fn vanished_socket_retries_are_bounded() {
        for (attempt, retried) in [(1, true), (2, true), (3, false), (4, false)] {
            let verdict = retry_after_vanished_sockets(attempt, "bwrap: Can't create file at /s");
            assert_eq!(verdict.is_ok(), retried, "attempt {attempt}");
            if let Err(Error::Setup(msg)) = verdict {
                assert!(
                    msg.contains("kept vanishing") && msg.contains("/s"),
                    "{msg}"
                );
            }
        }
    }
}
