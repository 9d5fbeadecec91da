//! The environment that points the sandboxed command's clients at fence's proxies:
//! `HTTP_PROXY` and friends, and `GIT_SSH_COMMAND` through `fence --proxy-connect`. The
//! same for every backend.

use std::ffi::OsString;
use std::path::Path;

use crate::policy::Policy;

/// The variables that point clients at the proxies. They replace the caller's own proxy
/// settings, which cannot work from inside (`upstreamProxy` is the way to chain one).
pub fn proxy_env(http_port: u16, socks_port: u16, policy: &Policy) -> Vec<(OsString, OsString)> {
    let http = format!("http://127.0.0.1:{http_port}");
    let socks = format!("socks5h://127.0.0.1:{socks_port}");
    let no_proxy = crate::policy::network::NO_PROXY;
    let mut env: Vec<(OsString, OsString)> = [
        ("HTTP_PROXY", http.as_str()),
        ("HTTPS_PROXY", &http),
        ("http_proxy", &http),
        ("https_proxy", &http),
        ("ALL_PROXY", &socks),
        ("all_proxy", &socks),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
        // Node 24 honours HTTP(S)_PROXY in fetch and https only with this.
        ("NODE_USE_ENV_PROXY", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let git_ssh_set = ["GIT_SSH_COMMAND", "GIT_SSH"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !git_ssh_set {
        if let Some(command) = git_ssh_command(policy) {
            env.push(("GIT_SSH_COMMAND".into(), command.into()));
        }
    }
    env
}

/// `ssh` with fence's own SOCKS5 connector as its ProxyCommand, if the fence binary can be
/// executed inside the sandbox at its host path.
fn git_ssh_command(policy: &Policy) -> Option<String> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let text = exe.to_str()?;
    if text.contains(['\'', '"', '\\', '%', ' ']) || !visible_inside(policy, &exe) {
        log::debug!(
            "GIT_SSH_COMMAND not set: {} is not usable inside the sandbox",
            exe.display()
        );
        return None;
    }
    Some(format!(
        "ssh -o ProxyCommand='{text} --proxy-connect %h %p'"
    ))
}

/// Whether `path` is readable inside the sandbox the policy describes. Conservative: a
/// path in the private `/tmp` counts only when a bind brings it in (a writable path or
/// the working directory).
fn visible_inside(policy: &Policy, path: &Path) -> bool {
    let masked = policy
        .deny_read
        .iter()
        .any(|target| path.starts_with(&target.path));
    let bound = policy
        .write
        .iter()
        .chain(std::iter::once(&policy.cwd))
        .any(|root| path.starts_with(root));
    let readable = if path.starts_with("/tmp") && !policy.tmp_shared {
        bound
    } else {
        !policy.default_deny_read || bound || policy.read.iter().any(|r| path.starts_with(r))
    };
    readable && !masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_visibility() {
        let mut policy = Policy {
            cwd: "/work".into(),
            ..Policy::default()
        };
        assert!(visible_inside(&policy, Path::new("/usr/bin/fence")));
        policy.deny_read.push(crate::policy::Target {
            path: "/usr/bin".into(),
            is_dir: true,
        });
        assert!(!visible_inside(&policy, Path::new("/usr/bin/fence")));
        let mut policy = Policy {
            default_deny_read: true,
            cwd: "/work".into(),
            ..Policy::default()
        };
        policy.read.push("/usr".into());
        assert!(visible_inside(&policy, Path::new("/usr/bin/fence")));
        assert!(!visible_inside(
            &policy,
            Path::new("/home/u/.cargo/bin/fence")
        ));
    }
}
