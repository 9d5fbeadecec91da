//! Explaining why the sandbox could not start: bwrap missing, user namespaces refused.

use std::path::Path;

/// The error for a missing bwrap, with the install command for common distributions.
pub fn bwrap_missing() -> String {
    "bubblewrap (bwrap) is required but was not found in PATH (or $FENCE_BWRAP). Install it: \
     Debian/Ubuntu: sudo apt install bubblewrap; Fedora: sudo dnf install bubblewrap; \
     Arch: sudo pacman -S bubblewrap; Alpine: sudo apk add bubblewrap"
        .to_string()
}

/// Turns bwrap's own error output into one explained line.
pub fn bwrap_failure(stderr: &str) -> String {
    let raw = stderr.trim().lines().last().unwrap_or("").trim();
    let raw = if raw.is_empty() {
        "bwrap exited without starting the sandbox"
    } else {
        raw
    };
    if looks_like_userns_refusal(stderr)
        && std::env::var_os("FENCE_SANDBOX").is_some_and(|v| v == "1")
    {
        return format!(
            "cannot create the sandbox: fence is already running inside a fence sandbox, which \
             forbids new user namespaces ({raw})"
        );
    }
    if looks_like_userns_refusal(stderr) {
        return format!(
            "cannot create the sandbox: user namespaces are not available ({raw}). {}",
            userns_advice(Path::new("/proc/sys"))
        );
    }
    format!("cannot create the sandbox: {raw}")
}

/// Whether bwrap's error output says the kernel refused to create namespaces.
pub fn looks_like_userns_refusal(stderr: &str) -> bool {
    [
        "No permissions to create new namespace",
        "Creating new namespace failed",
        "setting up uid map",
        "uid map",
        "Failed RTM_NEWADDR",
        "unshare failed",
        "clone: Operation not permitted",
        "max_user_namespaces",
        "max_*_namespaces",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

/// The cause and the fix, from the sysctls under `proc_sys` (a parameter for tests).
pub fn userns_advice(proc_sys: &Path) -> String {
    let read = |rel: &str| {
        std::fs::read_to_string(proc_sys.join(rel))
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "AppArmor restricts unprivileged user namespaces on this system (Ubuntu 23.10+). \
                Fix: let bwrap create them with an AppArmor profile: `sudo install -m 0644 \
                contrib/apparmor/bwrap /etc/apparmor.d/bwrap && sudo apparmor_parser -r \
                /etc/apparmor.d/bwrap` (the profile ships with fence's sources; see \
                contrib/apparmor/README.md), or lift the restriction for every program with \
                `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
            .to_string();
    }
    if read("user/max_user_namespaces").as_deref() == Some("0") {
        return "user namespaces are disabled (user.max_user_namespaces = 0). Fix: \
                `sudo sysctl user.max_user_namespaces=15000`"
            .to_string();
    }
    if read("kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0). \
                Fix: `sudo sysctl kernel.unprivileged_userns_clone=1`"
            .to_string();
    }
    if Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists() {
        return "this looks like a container whose seccomp or capability settings forbid user \
                namespaces. Fix: run the container with a seccomp profile that allows them \
                (e.g. docker --security-opt seccomp=unconfined), or run fence outside it"
            .to_string();
    }
    "the kernel refused to create a user namespace; check user.max_user_namespaces and any \
     LSM policy restricting them"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_userns_refusals() {
        let dir = std::env::temp_dir().join(format!("fence-diag-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("kernel")).unwrap();
        std::fs::create_dir_all(dir.join("user")).unwrap();
        std::fs::write(
            dir.join("kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
        assert!(userns_advice(&dir).contains("AppArmor"));
        std::fs::write(
            dir.join("kernel/apparmor_restrict_unprivileged_userns"),
            "0\n",
        )
        .unwrap();
        std::fs::write(dir.join("user/max_user_namespaces"), "0\n").unwrap();
        assert!(userns_advice(&dir).contains("max_user_namespaces=15000"));
        std::fs::remove_dir_all(&dir).unwrap();

        let msg = bwrap_failure(
            "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces.\n",
        );
        assert!(
            msg.starts_with("cannot create the sandbox: user namespaces are not available"),
            "{msg}"
        );
        let msg = bwrap_failure("bwrap: Can't mount tmpfs on /newroot/x: No such file\n");
        assert_eq!(
            msg,
            "cannot create the sandbox: bwrap: Can't mount tmpfs on /newroot/x: No such file"
        );
        assert!(bwrap_missing().contains("apt install bubblewrap"));
    }
}
