//! The kernel layers the init applies to itself before starting the command, so the
//! command inherits them: Landlock (a second filesystem layer, signal and abstract-socket
//! scoping), the enforcing seccomp filter, and, when the host watches syscalls (`-m`,
//! `fence learn`, exec checks), the notification filter whose listener goes to the host.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::control::{InitPlan, Report};
use super::init::setup_failed;
use super::sys;

/// Applies the kernel layers to the init itself, so the command inherits them: Landlock
/// (second filesystem layer, signal and abstract-socket scoping), then seccomp. A layer the
/// kernel lacks is an error unless the plan allows reduced isolation, and then a warning.
pub(super) fn harden(
    control: BorrowedFd<'_>,
    plan: &InitPlan,
    note: &dyn Fn(String),
) -> Result<(), Report> {
    let warn = |message: String| {
        let _ = sys::send_message(
            control.as_fd(),
            &Report::Warning { message }.to_bytes(),
            None,
        );
    };
    let unavailable = |layer: &str, cause: String, lost: &str| -> Result<(), Report> {
        if plan.allow_reduced_isolation {
            warn(format!(
                "{layer} is not available ({cause}); running without it: {lost}"
            ));
            Ok(())
        } else {
            Err(setup_failed(format!(
                "{layer} is not available ({cause}); fence needs it ({lost} otherwise). \
                 Run `fence --allow-reduced-isolation ...` to accept that"
            )))
        }
    };
    sys::set_no_new_privs().map_err(|e| setup_failed(format!("cannot set no_new_privs: {e}")))?;
    match sys::landlock_abi() {
        Ok(abi) if abi >= 1 => {
            apply_landlock(abi, &plan.landlock, plan.reduced)?;
            note(format!(
                "Landlock ABI {abi} applied ({} rules)",
                plan.landlock.len()
            ));
        }
        Ok(abi) => unavailable("Landlock", format!("ABI {abi}"), LANDLOCK_LOSS)?,
        Err(e) => unavailable("Landlock", e.to_string(), LANDLOCK_LOSS)?,
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    match sys::install_seccomp(&super::seccomp::program(plan.reduced)) {
        Ok(()) => note("seccomp filter installed".into()),
        Err(e) => unavailable("seccomp", e.to_string(), SECCOMP_LOSS)?,
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    unavailable(
        "seccomp",
        "this CPU architecture has no filter yet".into(),
        SECCOMP_LOSS,
    )?;
    if plan.watch.any() {
        watch(control, plan.watch, &warn)?;
    }
    Ok(())
}

/// Installs the notification filter (after the enforcing one, which thus decides first) and
/// passes its listener to the host. Without it, exec checks cannot run (the run is refused);
/// `-m` and `learn` lose only the filesystem and connect events, which the host says.
fn watch(
    control: BorrowedFd<'_>,
    watched: super::seccomp::notify::Watched,
    warn: &dyn Fn(String),
) -> Result<(), Report> {
    let unavailable = |cause: String| {
        if watched.execs {
            Err(setup_failed(format!(
                "exec checks (command.runtimeExecPolicy \"argv\") need seccomp user \
                 notification, which is not available here: {cause}"
            )))
        } else if watched.required {
            Err(setup_failed(format!(
                "fence learn needs seccomp user notification to see denied writes, which is \
                 not available here: {cause}"
            )))
        } else {
            warn(format!(
                "filesystem and connect events cannot be observed here (seccomp user \
                 notification: {cause}); -m shows the proxies' decisions only"
            ));
            Ok(())
        }
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    match sys::install_seccomp_listener(&super::seccomp::notify::program(watched)) {
        Ok(listener) => {
            sys::send_message(
                control.as_fd(),
                &Report::Listener.to_bytes(),
                Some(listener.as_raw_fd()),
            )
            .map_err(|e| setup_failed(format!("cannot pass the notification listener: {e}")))?;
            // The init keeps no copy: only the host answers.
            drop(listener);
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => unavailable(
            "another filter already has a listener (an outer fence or a container runtime; it \
             sees these events)"
                .into(),
        ),
        Err(e) => unavailable(e.to_string()),
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    unavailable("this CPU architecture has no filter yet".into())
}

const LANDLOCK_LOSS: &str = "the filesystem policy rests on the mount sandbox alone, and \
    signals and abstract Unix sockets are not scoped";
const SECCOMP_LOSS: &str = "ptrace, pidfd_getfd, mount, namespace, io_uring, keyring, bpf and \
    terminal-injection system calls stay available, and so do vsock, packet and other \
    socket families";

fn apply_landlock(abi: u32, rules: &[super::landlock::Rule], reduced: bool) -> Result<(), Report> {
    use super::landlock::{MAKE_REG, fit, handled_fs, handled_net, scopes};
    let failed = |what: String, e: std::io::Error| setup_failed(format!("Landlock: {what}: {e}"));
    let ruleset =
        sys::landlock_ruleset(abi, handled_fs(abi), handled_net(abi, reduced), scopes(abi))
            .map_err(|e| failed("cannot create a ruleset".into(), e))?;
    let allow = |path: &std::path::Path, access: u64| -> std::io::Result<bool> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(false);
        };
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
        // Writable paths were canonical when the policy was compiled; if one has become a
        // symlink since (a swap racing this start), refuse rather than follow it.
        let fd = if access & MAKE_REG != 0 {
            sys::open_path_no_symlinks(&c_path).map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    std::io::Error::other("it has become a symbolic link since fence started")
                } else {
                    e
                }
            })?
        } else {
            sys::open_path(&c_path)?
        };
        sys::landlock_allow(ruleset.as_fd(), fd.as_fd(), fit(access, abi, meta.is_dir()))?;
        Ok(true)
    };
    for rule in rules {
        allow(&rule.path, rule.access)
            .map_err(|e| failed(format!("rule for {}", rule.path.display()), e))?;
    }
    // The files behind stdin/stdout/stderr stay reachable by path (`echo x > /dev/stderr`
    // reopens them through /proc/self/fd), with the rights their fds already give: a file
    // on stdin opened read-only stays read-only (`< file` must not make it writable).
    for fd in 0..=2 {
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
        let Some(is_device) = std::fs::metadata(&path).ok().and_then(|m| {
            use std::os::unix::fs::FileTypeExt;
            let device = m.file_type().is_char_device();
            (m.is_file() || device).then_some(device)
        }) else {
            continue;
        };
        let access = sys::fd_access(fd).map_or(0, |a| stdio_access(a, is_device));
        if access != 0 {
            let _ = allow(&path, access);
        }
    }
    sys::landlock_restrict_self(ruleset.as_fd())
        .map_err(|e| failed("cannot enforce the ruleset".into(), e))
}

/// The Landlock rights for the file behind a std fd: what its open mode already allows
/// (plus ioctls on a device), nothing for an `O_PATH` fd.
fn stdio_access(fd: sys::FdAccess, is_device: bool) -> u64 {
    use super::landlock::{IOCTL_DEV, READ_FILE, TRUNCATE, WRITE_FILE};
    let mut access = 0;
    if fd.read {
        access |= READ_FILE;
    }
    if fd.write {
        // ftruncate on the fd is allowed already; `> /dev/stdout` truncates by path.
        access |= WRITE_FILE | TRUNCATE;
    }
    if is_device && access != 0 {
        access |= IOCTL_DEV;
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn writable_rule_paths_refuse_symlinks() {
        let root = std::env::temp_dir().join(format!("fence-nofollow-{}", std::process::id()));
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let c = |p: PathBuf| CString::new(p.into_os_string().into_encoded_bytes()).unwrap();
        assert!(sys::open_path_no_symlinks(&c(root.join("real"))).is_ok());
        let err = sys::open_path_no_symlinks(&c(root.join("link"))).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn std_fds_grant_only_their_open_mode() {
        use crate::linux::landlock::{IOCTL_DEV, READ_FILE, TRUNCATE, WRITE_FILE};
        let fd = |read, write, path_only| sys::FdAccess {
            read,
            write,
            path_only,
            is_dir: false,
        };
        // (fd, is a device, rights)
        let cases = [
            (fd(true, false, false), false, READ_FILE),
            (fd(false, true, false), false, WRITE_FILE | TRUNCATE),
            (
                fd(true, true, false),
                false,
                READ_FILE | WRITE_FILE | TRUNCATE,
            ),
            (fd(true, false, false), true, READ_FILE | IOCTL_DEV),
            (
                fd(true, true, false),
                true,
                READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV,
            ),
            (fd(false, false, true), false, 0),
            (fd(false, false, true), true, 0),
        ];
        for (access, is_device, want) in cases {
            assert_eq!(
                stdio_access(access, is_device),
                want,
                "{access:?} {is_device}"
            );
        }
    }
}
