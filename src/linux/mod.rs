//! The Linux backend: bwrap for namespaces and mounts, fence's own init inside.

pub mod bwrap;
pub mod control;
pub mod diagnose;
pub mod features;
mod harden;
pub mod init;
pub mod landlock;
pub mod launch;
pub mod netns;
pub mod network;
pub mod notify;
pub mod reduced;
pub mod seccomp;
pub mod session;
pub mod sys;
pub mod tmp_leftovers;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::policy::Policy;

/// Trusted system locations of bwrap, looked at before `PATH`.
const SYSTEM_BWRAP: [&str; 2] = ["/usr/bin/bwrap", "/bin/bwrap"];
/// A packager's fixed bwrap path, compiled in (`FENCE_BWRAP_PATH` at build time).
const BUILD_BWRAP: Option<&str> = option_env!("FENCE_BWRAP_PATH");

/// The bwrap fence runs and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bwrap {
    pub path: PathBuf,
    pub origin: BwrapOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BwrapOrigin {
    /// `$FENCE_BWRAP`: the user's explicit choice.
    Override,
    /// `/usr/bin`, `/bin` or the build-time path.
    System,
    /// Found on `PATH`; the directories searched before it (a bwrap planted there would win).
    Path { searched_before: Vec<PathBuf> },
}

/// The bwrap path (see [`locate_bwrap`]).
pub fn find_bwrap() -> Result<PathBuf> {
    locate_bwrap().map(|b| b.path)
}

/// bwrap from `$FENCE_BWRAP`, else `/usr/bin/bwrap`, `/bin/bwrap`, the build-time
/// `FENCE_BWRAP_PATH`, else the first executable `bwrap` in `PATH`.
pub fn locate_bwrap() -> Result<Bwrap> {
    if let Some(path) = std::env::var_os("FENCE_BWRAP").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("cannot determine the current directory", e))?
                .join(path)
        };
        return if crate::exec::is_executable_file(&path) {
            Ok(Bwrap {
                path,
                origin: BwrapOrigin::Override,
            })
        } else {
            Err(Error::Setup(format!(
                "FENCE_BWRAP={} is not an executable file",
                crate::output::path(&path)
            )))
        };
    }
    let system = SYSTEM_BWRAP.into_iter().chain(BUILD_BWRAP);
    if let Some(path) = system
        .map(PathBuf::from)
        .find(|p| crate::exec::is_executable_file(p))
    {
        return Ok(Bwrap {
            path,
            origin: BwrapOrigin::System,
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut searched_before = Vec::new();
    for dir in std::env::split_paths(&path).filter(|d| d.is_absolute()) {
        let candidate = dir.join("bwrap");
        if crate::exec::is_executable_file(&candidate) {
            return Ok(Bwrap {
                path: candidate,
                origin: BwrapOrigin::Path { searched_before },
            });
        }
        searched_before.push(dir);
    }
    Err(Error::Setup(diagnose::bwrap_missing()))
}

/// Whether `path` (a file, or the directory holding it) is one the user, rather than the
/// system, controls: owned by a non-root user, writable by group or others, writable by
/// the current (non-root) user, or under `$HOME`.
fn user_controlled(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let check = |p: &Path| {
        let Ok(m) = std::fs::metadata(p) else {
            return true;
        };
        let writable = sys::geteuid() != 0
            && std::ffi::CString::new(p.as_os_str().as_bytes())
                .is_ok_and(|c| sys::access(&c, libc::W_OK));
        m.uid() != 0
            || m.mode() & 0o022 != 0
            || writable
            || home
                .as_ref()
                .is_some_and(|h| h.is_absolute() && p.starts_with(h))
    };
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    [path, &real]
        .into_iter()
        .flat_map(|p| [Some(p), p.parent()])
        .flatten()
        .any(check)
}

/// Checks the bwrap found against the policy and adds it to the protected paths: a bwrap
/// from `PATH` in a user-controlled place gets a warning, and is refused when the sandbox
/// could write it, its directory or a `PATH` directory searched before it (the next run
/// would run what the command put there, outside any sandbox).
fn check_bwrap(bwrap: &Bwrap, policy: &mut Policy) -> Result<()> {
    if let BwrapOrigin::Path { searched_before } = &bwrap.origin {
        let controlled = user_controlled(&bwrap.path);
        let dir = bwrap.path.parent().unwrap_or(Path::new("/"));
        // The file itself is protected below; a user-controlled place is refused outright.
        let own: &[&Path] = if controlled {
            &[bwrap.path.as_path(), dir]
        } else {
            &[]
        };
        let writable = own
            .iter()
            .copied()
            .chain(searched_before.iter().map(PathBuf::as_path))
            .find(|p| policy.can_write(p));
        if let Some(writable) = writable {
            return Err(Error::Setup(format!(
                "refusing to use {}: the sandbox may write {} (filesystem.allowWrite), so the \
                 command could plant the bwrap the next fence runs outside any sandbox. \
                 Install bubblewrap system-wide (/usr/bin/bwrap), pin it with \
                 FENCE_BWRAP=/path/to/bwrap, or narrow allowWrite",
                crate::output::path(&bwrap.path),
                crate::output::path(writable)
            )));
        }
        if controlled {
            log::warn!(
                "bwrap is {}, found on PATH in a directory your user controls: whatever writes \
                 there runs outside every sandbox the next time fence starts; install \
                 bubblewrap system-wide or pin it with FENCE_BWRAP=/path/to/bwrap",
                crate::output::path(&bwrap.path)
            );
        }
    }
    policy.protect_trust_root(&bwrap.path)
}

/// `devices.mode: auto` as the Go fence defines it: the host's `/dev` only for a non-root
/// user with a setuid bwrap outside containers (where bwrap's fresh `/dev` is unreliable),
/// else the minimal set.
fn with_auto_devices(policy: &Policy, bwrap: &Path) -> Policy {
    use std::os::unix::fs::PermissionsExt;
    let mut policy = policy.clone();
    if policy.devices_auto {
        let setuid = std::fs::metadata(bwrap).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
        let root = sys::geteuid() == 0;
        policy.host_devices =
            setuid && !root && features::detect_container(Path::new("/")).is_none();
        if policy.host_devices {
            log::debug!("devices.mode auto: setuid bwrap, so the host's /dev is used");
        }
    }
    policy
}

/// Runs `argv` inside a sandbox built from `policy`: bwrap with namespaces, or, where the
/// kernel refuses namespaces and reduced isolation is acceptable, Landlock and seccomp alone.
/// `options`: reduced isolation allowed, fds to preserve; `observers`: the event sink and
/// the syscalls to watch; `early`: bwrap started ahead ([`launch_early`]).
pub fn run(
    policy: &Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    options: (bool, u32),
    observers: (crate::events::EventSink, notify::Watch),
    early: Option<launch::Launch>,
) -> Result<Outcome> {
    let locks = crate::policy::lock_empty_protected(policy);
    let outcome = run_sandbox(policy, argv, env, options, observers, early);
    drop(locks);
    crate::policy::remove_placeholders(&policy.placeholders);
    crate::policy::warn_of_changed_startup_files(policy);
    outcome
}

fn run_sandbox(
    policy: &Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    (allow_reduced_isolation, preserve_fds): (bool, u32),
    (events, watch): (crate::events::EventSink, notify::Watch),
    mut early: Option<launch::Launch>,
) -> Result<Outcome> {
    // TIOCSTI/TIOCLINUX are blocked by seccomp, so the command may share the terminal's
    // session (job control, /dev/tty) unless told otherwise, or unless seccomp may be
    // missing (reduced isolation), where a new session is the remaining defence.
    let new_session = match policy.force_new_session {
        Some(forced) => forced,
        None => allow_reduced_isolation,
    };
    let (pty, pty_stderr) = terminal(policy.allow_pty);
    let plan = control::InitPlan {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: policy.cwd.as_os_str().as_bytes().to_vec(),
        // The init's notes cross a process boundary: it is told whether to send them.
        debug: log::log_enabled!(target: session::INIT_LOG, log::Level::Debug),
        instance: std::process::id(),
        allow_reduced_isolation,
        pty,
        pty_stderr,
        preserve_fds,
        watch: watch.watched,
        ..control::InitPlan::default()
    };
    let notify_context = |policy: &Policy| {
        watch.watched.any().then(|| notify::Context {
            policy: policy.clone(),
            events: events.clone(),
            exec: watch.exec.clone(),
        })
    };
    let reduced = |cause: Error| -> Result<Outcome> {
        let nested = reduced::nested();
        if policy.network.allows_anything() && (allow_reduced_isolation || nested) {
            log::warn!(
                "reduced isolation has no network namespace to serve the proxies in: all \
                 network access stays blocked (allowedDomains, allowLocalOutboundPorts and \
                 -p have no effect)"
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
            new_session,
            nested,
            notify: notify_context(policy),
        })
    };
    let bwrap = match locate_bwrap() {
        Ok(bwrap) => bwrap,
        Err(missing) => return reduced(missing),
    };
    let mut policy = with_auto_devices(policy, &bwrap.path);
    check_bwrap(&bwrap, &mut policy)?;
    let bwrap = bwrap.path;
    let report_tmp_leftovers = explain_private_tmp(&policy, argv, &env, allow_reduced_isolation)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Bound again on a retry: the previous attempt's sockets died with it. The events
        // keep their stream (a clone shares the log file).
        let net = network::prepare(&policy, events.clone())?;
        let mut env = env.clone();
        env.retain(|(k, _)| !net.env.iter().any(|(n, _)| n == k));
        env.extend(net.env);
        let mut args = bwrap::namespace_args(new_session);
        args.extend(net.bwrap_args);
        args.extend(bwrap::mount_args(&policy, -1)?);
        bwrap::check_arg_count(&args)?;
        // An empty file to bind over denied files, host sockets and placeholders: one fd
        // (of the same empty memfd) per use, since bwrap closes each after reading it.
        let uses = bwrap::empty_file_uses(&args);
        // An early launch that does not fit is dropped (killed) here, before another starts.
        let fitting = early
            .take()
            .filter(|l| l.bwrap() == Some(bwrap.as_path()) && l.fits(uses, pty, pty_stderr));
        let launch = match fitting {
            Some(launch) => launch,
            None => launch::Launch::start(
                Some(&bwrap),
                launch::Options {
                    pty,
                    pty_stderr,
                    empty_files: uses,
                    setsid: false,
                },
            )?,
        };
        bwrap::assign_empty_fds(&mut args, launch.empty_fds());
        let spec = session::Spec {
            args,
            plan: control::InitPlan {
                landlock: landlock::rules(&policy),
                listen: net.listen,
                connect_service: net.connect_service,
                report_tmp_leftovers,
                ..plan.clone()
            },
            env,
            new_session,
            network: Some(net.network),
            notify: notify_context(&policy),
        };
        let full = session::run(spec, launch);
        match full {
            Err(cause @ Error::NoNamespaces(_)) => return reduced(cause),
            // A host socket that vanished between the scan and bwrap's setup leaves nothing
            // to mask: hide its directory instead and start again (the sandbox never ran),
            // a bounded number of times.
            Err(Error::Setup(msg)) if drop_vanished_sockets(&mut policy, &msg) => {
                retry_after_vanished_sockets(attempt, &msg)?;
                log::debug!("a host socket vanished while the sandbox was set up; retrying");
            }
            other => return other,
        }
    }
}

/// Says what the sandbox's private /tmp hides from this run (see `policy::tmp`), before
/// bwrap starts: a program found only there is an error (exit 127, as the run would end,
/// but saying why and how to share it), unless reduced isolation may follow, where the
/// host's /tmp stays readable; the rest are warnings. Returns whether the init should name
/// what the command leaves in the private /tmp. Nothing to say inside another fence (no
/// private /tmp of this run's own there).
fn explain_private_tmp(
    policy: &Policy,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    allow_reduced_isolation: bool,
) -> Result<bool> {
    if reduced::nested() {
        return Ok(false);
    }
    let found = crate::policy::tmp::check(policy, argv, env);
    if let Some(message) = found.not_found {
        if !allow_reduced_isolation {
            return Err(Error::HiddenCommand(message));
        }
        log::warn!("{message}");
    }
    for warning in &found.warnings {
        log::warn!("{warning}");
    }
    Ok(found.report_leftovers)
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

/// A host socket that vanished between the scan and bwrap's setup leaves no file to mask,
/// and the host service may create it again while the sandbox runs: each socket mask that
/// bwrap's error names and whose path no longer exists is replaced by a mask over its
/// nearest existing ancestor directory (a read-only empty tmpfs), which also covers a
/// socket created there later. Returns whether the policy changed (then the caller tries
/// again, a bounded number of times); never masks `/`.
fn drop_vanished_sockets(policy: &mut Policy, bwrap_error: &str) -> bool {
    let mut changed = false;
    for target in &mut policy.sockets {
        if !bwrap_error.contains(&*target.path.to_string_lossy())
            || target.path.symlink_metadata().is_ok()
        {
            continue;
        }
        let Some(dir) = target
            .path
            .ancestors()
            .skip(1)
            .find(|a| a.symlink_metadata().is_ok_and(|m| m.is_dir()))
            .filter(|a| *a != Path::new("/"))
        else {
            continue;
        };
        log::warn!(
            "host socket {} vanished while the sandbox was set up: {} is hidden inside it \
             instead",
            crate::output::path(&target.path),
            crate::output::path(dir)
        );
        *target = crate::policy::Target {
            path: dir.to_path_buf(),
            is_dir: true,
        };
        changed = true;
    }
    changed
}

/// Starts bwrap before the plan is known ([`launch`]), when it comes from a trusted place
/// (a bwrap found on `PATH` is checked against the policy before it may run), before the
/// config is read: as for a run without `allowPty` (the default; a run with it at a
/// terminal starts another). None when it cannot be: the run then starts bwrap the usual
/// way, and reports what fails then.
pub fn launch_early() -> Option<launch::Launch> {
    let bwrap = locate_bwrap().ok()?;
    if matches!(bwrap.origin, BwrapOrigin::Path { .. }) {
        return None;
    }
    let (pty, pty_stderr) = terminal(false);
    let options = launch::Options {
        pty,
        pty_stderr,
        empty_files: launch::EARLY_EMPTY_FILES,
        setsid: false,
    };
    let launch = launch::Launch::start(Some(&bwrap.path), options).ok()?;
    log::debug!(
        "{} started ahead of its plan (pid {})",
        bwrap.path.display(),
        launch.pid()
    );
    Some(launch)
}

/// allowPty: a pseudo-terminal relay, when fence itself runs at a terminal; and whether
/// stderr goes to it too.
fn terminal(allow_pty: bool) -> (bool, bool) {
    let pty = allow_pty && is_tty(&std::io::stdin()) && is_tty(&std::io::stdout());
    (pty, pty && is_tty(&std::io::stderr()))
}

fn is_tty(stream: &impl std::os::fd::AsFd) -> bool {
    sys::is_tty(stream.as_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_sockets_mask_their_directory_when_named_and_gone() {
        use crate::policy::Target;
        let dir = std::env::temp_dir().join(format!("fence-vanished-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gone = dir.join("sub/fence-a.sock");
        let file = |p: &Path| Target {
            path: p.to_path_buf(),
            is_dir: false,
        };
        let mut policy = Policy {
            sockets: vec![file(&gone), file(Path::new("/proc/self/status"))],
            ..Policy::default()
        };
        let unchanged = policy.sockets.clone();
        let cases = [
            "bwrap: Can't mount tmpfs on /x".to_string(),
            "bwrap: Can't create file at /proc/self/status".to_string(),
        ];
        for msg in &cases {
            assert!(!drop_vanished_sockets(&mut policy, msg), "{msg}");
            assert_eq!(policy.sockets, unchanged);
        }
        let msg = format!("bwrap: Can't create file at {}: Read-only", gone.display());
        assert!(drop_vanished_sockets(&mut policy, &msg));
        assert_eq!(
            policy.sockets,
            vec![
                Target {
                    path: dir.clone(),
                    is_dir: true
                },
                file(Path::new("/proc/self/status"))
            ]
        );
        // Once masked, the same error changes nothing more: the retry loop ends.
        assert!(!drop_vanished_sockets(&mut policy, &msg));
        // Never `/`.
        let mut top = Policy {
            sockets: vec![file(Path::new("/fence-nonexistent.sock"))],
            ..Policy::default()
        };
        assert!(!drop_vanished_sockets(
            &mut top,
            "bwrap: Can't create file at /fence-nonexistent.sock"
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bwrap_from_a_writable_place_is_refused_and_always_protected() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("fence-bwrap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["early", "bin"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            // Writable by others: user-controlled for any user, root included.
            std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o777))
                .unwrap();
        }
        let root = std::fs::canonicalize(&root).unwrap();
        let path = root.join("bin/bwrap");
        std::fs::write(&path, "").unwrap();
        let found = |origin| Bwrap {
            path: path.clone(),
            origin,
        };
        let on_path = || BwrapOrigin::Path {
            searched_before: vec![root.join("early")],
        };
        let writing = |dirs: &[&str]| Policy {
            write: dirs.iter().map(|d| root.join(d)).collect(),
            ..Policy::default()
        };
        let cases: &[(&[&str], BwrapOrigin, bool)] = &[
            (&["bin"], on_path(), true),
            (&["early"], on_path(), true),
            (&[], on_path(), false),
            (&["bin"], BwrapOrigin::Override, false),
            (&["bin"], BwrapOrigin::System, false),
        ];
        for (dirs, origin, refused) in cases {
            let mut policy = writing(dirs);
            let result = check_bwrap(&found(origin.clone()), &mut policy);
            assert_eq!(result.is_err(), *refused, "{dirs:?} {origin:?}");
            if !refused && dirs.contains(&"bin") {
                assert!(policy.deny_write.contains(&path), "protected: {origin:?}");
            }
        }
        std::fs::remove_dir_all(&root).unwrap();
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
