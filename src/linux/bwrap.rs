//! The bwrap mount plan: a pure function from the compiled [`Policy`] to bwrap arguments.
//!
//! Mount order is the policy, because later mounts cover earlier ones:
//! 1. the readable view: the host root read-only, or (defaultDenyRead) only the readable roots;
//! 2. a fresh `/dev`, `/proc`, and a private `/tmp` (unless `/tmp` is writable);
//! 3. writable binds, parents first, except those a deny covers (deny wins over allow);
//! 4. read-only re-binds of `denyWrite` and protected paths that lie inside a writable bind;
//! 5. masks for `denyRead` (an empty read-only tmpfs or file) on top of everything.
//!
//! Nothing is ever mounted below a mask, so a masked ancestor is never punctured by a child
//! rule, and nothing is mounted where it is not visible anyway (no parents are created in
//! the defaultDenyRead root just to hold a deny rule).

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::policy::{Policy, Target};

/// Namespaces, lifetime and session. Without `new_session` the command shares the user's
/// terminal session (job control works, /dev/tty is its terminal); that is safe only when
/// the seccomp filter blocks TIOCSTI and TIOCLINUX, which the caller guarantees.
pub fn namespace_args(new_session: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-all",    // user (try), ipc, pid, net (loopback only), uts, cgroup (try)
        "--unshare-user",   // always a user namespace, as root too
        "--disable-userns", // and no nested ones
        "--die-with-parent",
        "--cap-drop", // no capabilities, even for root (inside its user namespace)
        "ALL",
        "--chdir",
        "/", // the init changes to the real working directory and reports failure clearly
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    if new_session {
        args.push("--new-session".into());
    }
    args
}

/// The mount arguments for `policy`. `empty_fd` is a readable fd with no content, used as
/// the source of the empty read-only files that mask denied files.
pub fn mount_args(policy: &Policy, empty_fd: RawFd) -> Vec<OsString> {
    let mut plan = Plan::default();
    let masks: Vec<&Path> = outermost(policy.deny_read.iter().map(|t| t.path.as_path()));
    let masked = |p: &Path| masks.iter().any(|m| p.starts_with(m));
    let denied_write = |p: &Path| policy.deny_write.iter().any(|d| p.starts_with(d));

    // 1. The readable view.
    let mut visible: Vec<&Path> = Vec::new();
    let tmp = Path::new("/tmp");
    let read_roots = outermost(policy.read.iter().map(PathBuf::as_path));
    let (read_in_tmp, read_roots): (Vec<&Path>, Vec<&Path>) = read_roots
        .into_iter()
        .partition(|p| p.starts_with(tmp) && !policy.tmp_shared);
    if policy.default_deny_read {
        for root in read_roots {
            if !masked(root) {
                plan.op2("--ro-bind", root, root);
                visible.push(root);
            }
        }
        for (link, target) in &policy.read_symlinks {
            plan.op2("--symlink", target, link);
        }
    } else {
        plan.op2("--ro-bind", "/", "/");
        visible.push(Path::new("/"));
    }

    // 2. Devices, procfs, /tmp.
    if policy.host_devices {
        plan.op2("--dev-bind", "/dev", "/dev");
    } else {
        plan.op1("--dev", "/dev");
        for dev in &policy.devices {
            plan.op2("--dev-bind", dev, dev);
        }
    }
    plan.op1("--proc", "/proc");
    if policy.tmp_shared {
        plan.op2("--bind", "/tmp", "/tmp");
    } else {
        plan.op1("--tmpfs", "/tmp");
        // What is readable below the host's /tmp stays readable above the private one:
        // readable roots there, and in the default mode the working directory itself.
        let mut below_tmp = read_in_tmp;
        if !policy.default_deny_read && policy.cwd.starts_with(tmp) && policy.cwd != tmp {
            below_tmp.push(&policy.cwd);
        }
        for path in below_tmp {
            if !masked(path) {
                plan.op2("--ro-bind", path, path);
            }
        }
    }
    visible.push(tmp);

    // 3. Writable binds. A write under a denyWrite stays read-only (and, under
    //    defaultDenyRead, still readable); one under a mask is dropped.
    let mut writable: Vec<&Path> = Vec::new();
    if policy.tmp_shared {
        writable.push(tmp);
    }
    let mut write: Vec<&Path> = policy.write.iter().map(PathBuf::as_path).collect();
    write.sort();
    for path in write {
        if masked(path) {
            continue;
        }
        if denied_write(path) {
            if policy.default_deny_read && !is_visible(&visible, path) {
                plan.op2("--ro-bind", path, path);
                visible.push(path);
            }
            continue;
        }
        plan.op2("--bind", path, path);
        writable.push(path);
        visible.push(path);
    }

    // 4. Read-only re-binds, only where something writable would otherwise expose them.
    //    Their ancestors inside the writable bind are first bound onto themselves: a mount
    //    point cannot be renamed (EBUSY), so `mv .git x && mkdir .git` cannot swap the
    //    protected path for a fresh, writable copy.
    let innermost_writable = |p: &Path| {
        writable
            .iter()
            .filter(|w| p.starts_with(w))
            .max_by_key(|w| w.as_os_str().len())
            .copied()
    };
    let protected: Vec<(&Path, &Path)> = outermost(policy.deny_write.iter().map(PathBuf::as_path))
        .into_iter()
        .filter(|p| !masked(p))
        .filter_map(|p| Some((p, innermost_writable(p)?)))
        .collect();
    // 4b. Placeholders (protected names that do not exist yet), pinned like the rest.
    let placeholders = placeholders_in(policy, &masked, &denied_write, &innermost_writable);
    let mut pins: Vec<&Path> = protected
        .iter()
        .copied()
        .chain(
            placeholders
                .iter()
                .map(|(t, root)| (t.path.as_path(), *root)),
        )
        .flat_map(|(path, root)| path.ancestors().skip(1).take_while(move |a| *a != root))
        .collect();
    pins.sort();
    pins.dedup();
    for pin in pins {
        plan.op2("--bind", pin, pin);
    }
    for (path, _) in &protected {
        plan.op2("--ro-bind", path, path);
    }
    placeholder_args(&mut plan, &placeholders, empty_fd);

    // 5. Masks, outermost only, where visible.
    for target in &policy.deny_read {
        let path = target.path.as_path();
        if !masks.contains(&path) || !is_visible(&visible, path) {
            continue;
        }
        if path.starts_with("/proc") || path.starts_with("/dev") || path == Path::new("/") {
            continue;
        }
        if target.is_dir {
            plan.op1("--tmpfs", path);
            plan.op1("--remount-ro", path);
        } else {
            plan.empty_file(empty_fd, path);
        }
    }
    // Host Unix sockets: an empty file over each, so connect() is refused.
    for socket in &policy.sockets {
        if !masked(socket) && is_visible(&visible, socket) {
            plan.empty_file(empty_fd, socket);
        }
    }
    plan.args
}

/// The placeholders to mount (see `Policy::placeholders`), with their writable root: only
/// inside a writable bind, never under a read-only path or a mask.
fn placeholders_in<'a>(
    policy: &'a Policy,
    masked: &dyn Fn(&Path) -> bool,
    denied_write: &dyn Fn(&Path) -> bool,
    innermost_writable: &dyn Fn(&Path) -> Option<&'a Path>,
) -> Vec<(&'a Target, &'a Path)> {
    policy
        .placeholders
        .iter()
        .filter(|t| !masked(&t.path) && !denied_write(&t.path))
        .filter_map(|t| Some((t, innermost_writable(&t.path)?)))
        .filter(|(t, root)| t.path != *root)
        .collect()
}

/// An empty read-only directory (a tmpfs) or file at each placeholder. bwrap creates the
/// mount point on the host; fence removes it after the run.
fn placeholder_args(plan: &mut Plan, placeholders: &[(&Target, &Path)], empty_fd: RawFd) {
    for (target, _) in placeholders {
        if target.is_dir {
            plan.op1("--tmpfs", &target.path);
            plan.op1("--remount-ro", &target.path);
        } else {
            plan.empty_file(empty_fd, &target.path);
        }
    }
}

fn is_visible(visible: &[&Path], path: &Path) -> bool {
    visible.iter().any(|v| path.starts_with(v))
}

/// The paths of `paths` that are not below another one of them, sorted (parents first).
fn outermost<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<&'a Path> {
    let mut all: Vec<&Path> = paths.collect();
    all.sort();
    all.dedup();
    let mut out: Vec<&Path> = Vec::new();
    for p in all {
        if !out.iter().any(|o| p.starts_with(o)) {
            out.push(p);
        }
    }
    out
}

#[derive(Default)]
struct Plan {
    args: Vec<OsString>,
}

impl Plan {
    fn empty_file(&mut self, empty_fd: RawFd, path: &Path) {
        self.args.push("--perms".into());
        self.args.push("0444".into());
        self.op2("--ro-bind-data", empty_fd.to_string(), path);
    }

    fn op1(&mut self, op: &str, path: impl AsRef<std::ffi::OsStr>) {
        self.args.push(op.into());
        self.args.push(path.as_ref().to_owned());
    }

    fn op2(
        &mut self,
        op: &str,
        src: impl AsRef<std::ffi::OsStr>,
        dest: impl AsRef<std::ffi::OsStr>,
    ) {
        self.args.push(op.into());
        self.args.push(src.as_ref().to_owned());
        self.args.push(dest.as_ref().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(policy: &Policy) -> String {
        mount_args(policy, 9)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    fn dir(p: &str) -> Target {
        Target {
            path: p.into(),
            is_dir: true,
        }
    }

    fn file(p: &str) -> Target {
        Target {
            path: p.into(),
            is_dir: false,
        }
    }

    #[test]
    fn default_policy_is_read_only_with_private_tmp() {
        assert_eq!(
            plan(&Policy::default()),
            "--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"
        );
    }

    #[test]
    fn writes_then_protections_then_masks() {
        let policy = Policy {
            write: paths(&["/w", "/w/sub", "/x"]),
            deny_write: paths(&[
                "/w/.git/hooks",
                "/w/.git/hooks/pre-commit",
                "/elsewhere/.bashrc",
            ]),
            deny_read: vec![dir("/w/secret"), file("/home/u/.netrc")],
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
             --bind /w /w --bind /w/sub /w/sub --bind /x /x \
             --bind /w/.git /w/.git --ro-bind /w/.git/hooks /w/.git/hooks \
             --tmpfs /w/secret --remount-ro /w/secret \
             --perms 0444 --ro-bind-data 9 /home/u/.netrc"
        );
    }

    #[test]
    fn deny_beats_allow_and_masks_are_never_punctured() {
        let policy = Policy {
            write: paths(&["/a/b", "/s/inner", "/tmp/x"]),
            deny_write: paths(&["/a", "/s/inner/.bashrc"]),
            deny_read: vec![dir("/s"), dir("/s/inner/deeper"), file("/tmp/x/k")],
            tmp_shared: true,
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --proc /proc --bind /tmp /tmp --bind /tmp/x /tmp/x \
             --tmpfs /s --remount-ro /s --perms 0444 --ro-bind-data 9 /tmp/x/k"
        );
    }

    #[test]
    fn default_deny_read_binds_only_readable_roots() {
        let policy = Policy {
            default_deny_read: true,
            read: paths(&["/usr", "/usr/local", "/etc", "/home/u/proj"]),
            read_symlinks: vec![("/bin".into(), "usr/bin".into())],
            write: paths(&["/home/u/proj/out", "/home/u/.cache"]),
            deny_write: paths(&["/home/u/.cache"]),
            deny_read: vec![file("/home/u/.ssh/id_rsa"), file("/etc/shadow")],
            host_devices: true,
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind /etc /etc --ro-bind /home/u/proj /home/u/proj --ro-bind /usr /usr \
             --symlink usr/bin /bin \
             --dev-bind /dev /dev --proc /proc --tmpfs /tmp \
             --ro-bind /home/u/.cache /home/u/.cache --bind /home/u/proj/out /home/u/proj/out \
             --perms 0444 --ro-bind-data 9 /etc/shadow"
        );
    }

    #[test]
    fn working_directory_under_private_tmp_stays_readable() {
        let policy = Policy {
            cwd: "/tmp/proj".into(),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --ro-bind /tmp/proj /tmp/proj"
        );
        let policy = Policy {
            cwd: "/tmp/proj".into(),
            default_deny_read: true,
            read: paths(&["/usr", "/tmp/proj"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind /usr /usr --dev /dev --proc /proc --tmpfs /tmp --ro-bind /tmp/proj /tmp/proj"
        );
    }

    #[test]
    fn host_sockets_are_masked_where_visible() {
        let policy = Policy {
            sockets: paths(&["/run/docker.sock", "/run/user/1/bus"]),
            deny_read: vec![dir("/run/user")],
            ..Policy::default()
        };
        assert!(plan(&policy).ends_with(
            "--tmpfs /run/user --remount-ro /run/user --perms 0444 --ro-bind-data 9 /run/docker.sock"
        ));
    }

    #[test]
    fn placeholders_are_pinned_read_only_and_never_under_denies() {
        let policy = Policy {
            write: paths(&["/h"]),
            deny_write: paths(&["/h/.ssh"]),
            deny_read: vec![dir("/h/secret")],
            placeholders: vec![
                file("/h/.bashrc"),
                dir("/h/.config/git"),
                file("/h/.ssh/config"),
                file("/h/secret/.npmrc"),
                file("/elsewhere/.profile"),
            ],
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind /h /h \
             --bind /h/.config /h/.config --ro-bind /h/.ssh /h/.ssh \
             --perms 0444 --ro-bind-data 9 /h/.bashrc \
             --tmpfs /h/.config/git --remount-ro /h/.config/git \
             --tmpfs /h/secret --remount-ro /h/secret"
        );
    }

    #[test]
    fn device_allow_list_in_minimal_mode() {
        let policy = Policy {
            devices: paths(&["/dev/kvm"]),
            ..Policy::default()
        };
        assert!(plan(&policy).contains("--dev /dev --dev-bind /dev/kvm /dev/kvm"));
    }
}
