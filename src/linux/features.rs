//! `fence --linux-features` / `fence doctor`: what this machine offers and what fence can do
//! with it. Probes run only here, never on a normal run (which fails with an explanation
//! instead when something is missing).

use std::path::{Path, PathBuf};

use super::{diagnose, sys};

/// What was found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub kernel: String,
    pub machine: String,
    pub bwrap: Result<(PathBuf, String, bool), String>,
    /// The namespace probe: Ok, or bwrap's explained error.
    pub namespaces: Result<(), String>,
    pub landlock_abi: Option<u32>,
    pub seccomp_filter: bool,
    /// Whether a seccomp filter with a user-notification listener can be installed here
    /// (`-m`'s filesystem and connect events, exec checks), or why not.
    pub seccomp_listener: Result<(), String>,
    pub apparmor_userns_restricted: bool,
    pub container: Option<String>,
}

/// The verdict for a normal run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Full,
    /// Runs only with `--allow-reduced-isolation`; the reason.
    Reduced(String),
    CannotRun(String),
}

pub fn verdict(f: &Features) -> Verdict {
    let kernel_layers = f.landlock_abi.is_some() && f.seccomp_filter;
    if let Err(e) = f
        .bwrap
        .as_ref()
        .map(drop)
        .map_err(Clone::clone)
        .and(f.namespaces.clone())
    {
        return if kernel_layers {
            Verdict::Reduced(format!(
                "{e}; Landlock and seccomp alone with --allow-reduced-isolation"
            ))
        } else {
            Verdict::CannotRun(e)
        };
    }
    let mut missing = Vec::new();
    if f.landlock_abi.is_none() {
        missing.push("Landlock");
    }
    if !f.seccomp_filter || !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        missing.push("seccomp");
    }
    if missing.is_empty() {
        Verdict::Full
    } else {
        Verdict::Reduced(format!(
            "{} unavailable: runs only with --allow-reduced-isolation",
            missing.join(" and ")
        ))
    }
}

pub fn probe() -> Features {
    let (kernel, machine) = sys::uname();
    let bwrap = super::find_bwrap().map_err(|e| e.to_string()).map(|path| {
        let version = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let setuid = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0)
        };
        (path, version, setuid)
    });
    let namespaces = match &bwrap {
        Ok((path, _, _)) => probe_namespaces(path),
        Err(e) => Err(e.clone()),
    };
    let (seccomp_filter, seccomp_user_notif) = sys::seccomp_support();
    let seccomp_listener = if !seccomp_user_notif {
        Err("unavailable (kernel older than 5.5, or seccomp disabled)".to_string())
    } else {
        let allow_all = super::seccomp::notify::program(Default::default());
        match sys::probe_seccomp_listener(&allow_all) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(
                "busy: another seccomp filter already has a listener (an outer fence or a \
                 container runtime)"
                    .to_string(),
            ),
            Err(e) => Err(format!("unavailable ({e})")),
        }
    };
    Features {
        kernel,
        machine,
        bwrap,
        namespaces,
        landlock_abi: sys::landlock_abi().ok().filter(|&abi| abi >= 1),
        seccomp_filter,
        seccomp_listener,
        apparmor_userns_restricted: std::fs::read_to_string(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        )
        .is_ok_and(|s| s.trim() == "1"),
        container: detect_container(Path::new("/")),
    }
}

/// Starts bwrap with the namespaces a real run uses, running fence's `--version`.
fn probe_namespaces(bwrap: &Path) -> Result<(), String> {
    let mut args = super::bwrap::namespace_args(false);
    args.extend(
        [
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--",
        ]
        .map(Into::into),
    );
    let exe =
        std::fs::read_link("/proc/self/exe").map_err(|e| format!("cannot locate fence: {e}"))?;
    let out = std::process::Command::new(bwrap)
        .args(&args)
        .arg(&exe)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bwrap.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(diagnose::bwrap_failure(&String::from_utf8_lossy(
            &out.stderr,
        )))
    }
}

/// A container runtime's marker under `root`, if any.
pub fn detect_container(root: &Path) -> Option<String> {
    if root.join(".dockerenv").exists() {
        return Some("docker".into());
    }
    if root.join("run/.containerenv").exists() {
        return Some("podman".into());
    }
    let cgroup = std::fs::read_to_string(root.join("proc/1/cgroup")).unwrap_or_default();
    ["kubepods", "docker", "containerd", "libpod", "lxc"]
        .into_iter()
        .find(|name| cgroup.contains(name))
        .map(String::from)
}

/// The report `fence doctor` prints.
pub fn report(f: &Features) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| out.push_str(&format!("{name:<22}{value}\n"));
    line("kernel", format!("{} ({})", f.kernel, f.machine));
    line(
        "bubblewrap",
        match &f.bwrap {
            Ok((path, version, setuid)) => {
                let suid = if *setuid {
                    " (setuid: works, but bubblewrap no longer supports it)"
                } else {
                    ""
                };
                format!("{} {version}{suid}", path.display())
            }
            Err(e) => format!("missing: {e}"),
        },
    );
    line(
        "namespaces",
        match &f.namespaces {
            Ok(()) => "user, pid, network, ipc, uts, mount: usable".into(),
            Err(e) => format!("unusable: {e}"),
        },
    );
    line(
        "Landlock",
        match f.landlock_abi {
            Some(abi) => format!("ABI {abi}{}", landlock_features(abi)),
            None => "unavailable (kernel without Landlock, or not in the LSM list)".into(),
        },
    );
    line(
        "seccomp",
        format!(
            "filter {}; user notification {}",
            if f.seccomp_filter {
                "supported"
            } else {
                "unavailable"
            },
            match &f.seccomp_listener {
                Ok(()) => "usable (-m shows filesystem writes and direct connects; exec \
                           checks work)"
                    .to_string(),
                Err(why) => format!(
                    "{why}: -m shows the proxies' decisions only, and command.runtimeExecPolicy \
                     \"argv\" is refused"
                ),
            }
        ),
    );
    line(
        "AppArmor userns rule",
        if f.apparmor_userns_restricted {
            "active (see the namespaces line)".into()
        } else {
            "not active".into()
        },
    );
    line(
        "container",
        f.container
            .clone()
            .unwrap_or_else(|| "none detected".into()),
    );
    let verdict = match verdict(f) {
        Verdict::Full => "full isolation".to_string(),
        Verdict::Reduced(why) => format!("reduced isolation only: {why}"),
        Verdict::CannotRun(why) => format!("cannot run: {why}"),
    };
    line("verdict", verdict);
    out
}

fn landlock_features(abi: u32) -> String {
    let named = [
        (2, "refer"),
        (3, "truncate"),
        (4, "TCP ports"),
        (5, "device ioctl"),
        (6, "signal and abstract-socket scoping"),
        (9, "Unix socket connect"),
    ];
    let have: Vec<&str> = named
        .iter()
        .filter(|(v, _)| abi >= *v)
        .map(|(_, n)| *n)
        .collect();
    if have.is_empty() {
        String::new()
    } else {
        format!(" ({})", have.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Features {
        Features {
            kernel: "6.18".into(),
            machine: "x86_64".into(),
            bwrap: Ok(("/usr/bin/bwrap".into(), "bubblewrap 0.8.0".into(), false)),
            namespaces: Ok(()),
            landlock_abi: Some(7),
            seccomp_filter: true,
            seccomp_listener: Ok(()),
            apparmor_userns_restricted: false,
            container: None,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&full()), Verdict::Full);
        let no_landlock = Features {
            landlock_abi: None,
            ..full()
        };
        assert!(matches!(verdict(&no_landlock), Verdict::Reduced(r) if r.contains("Landlock")));
        let no_ns = Features {
            namespaces: Err("user namespaces refused".into()),
            ..full()
        };
        assert!(matches!(verdict(&no_ns), Verdict::Reduced(ref r) if r.contains("refused")));
        let nothing = Features {
            landlock_abi: None,
            ..no_ns
        };
        assert!(matches!(verdict(&nothing), Verdict::CannotRun(_)));
        let no_bwrap = Features {
            bwrap: Err("bwrap missing".into()),
            ..full()
        };
        assert!(matches!(verdict(&no_bwrap), Verdict::Reduced(_)));
        let text = report(&full());
        assert!(
            text.contains("verdict               full isolation"),
            "{text}"
        );
        assert!(text.contains(
            "ABI 7 (refer, truncate, TCP ports, device ioctl, signal and abstract-socket scoping)"
        ));
    }

    #[test]
    fn container_markers() {
        let root = std::env::temp_dir().join(format!("fence-container-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc/1")).unwrap();
        assert_eq!(detect_container(&root), None);
        std::fs::write(root.join("proc/1/cgroup"), "0::/kubepods/besteffort/x\n").unwrap();
        assert_eq!(detect_container(&root).as_deref(), Some("kubepods"));
        std::fs::write(root.join(".dockerenv"), "").unwrap();
        assert_eq!(detect_container(&root).as_deref(), Some("docker"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
