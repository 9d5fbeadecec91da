//! The bwrap mount plan: a pure function from the compiled [`Policy`] to bwrap arguments.
//!
//! Mount order is the policy, because later mounts cover earlier ones:
//! 1. the readable view: the host root read-only, or (defaultDenyRead) only the readable roots;
//! 2. writable binds outside `/tmp`, parents first, except those a deny covers (deny wins
//!    over allow);
//! 3. read-only re-binds of `denyWrite` and protected paths that lie inside a writable bind;
//! 4. the sandbox's own `/dev` (then the `devices.allow` nodes), `/proc` and `/tmp` (a private
//!    tmpfs, or the host's when `/tmp` is writable): after and over every user bind, so that
//!    no rule can bring the host's back;
//! 5. what belongs below `/tmp`: readable roots and the working directory there (when `/tmp`
//!    is private), writable binds, then their protections;
//! 6. masks for `denyRead` (an empty read-only tmpfs or file), outermost only;
//! 7. masks for the host's Unix sockets;
//! 8. the run-time command denies (path mode, `policy::exec_deny`): an empty, read-only,
//!    non-executable file over each denied executable, last of all.
//!
//! Nothing is ever mounted below a mask, so a masked ancestor is never punctured by a child
//! rule, and nothing is mounted where it is not visible anyway (no parents are created in
//! the defaultDenyRead root just to hold a deny rule): a mask on a path that is not visible
//! is left out only because nothing at or below it is mounted. A mask that cannot be applied
//! (on `/`) and a writable bind that would cover the sandbox's own mounts are errors, never
//! skipped.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
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
pub fn mount_args(policy: &Policy, empty_fd: RawFd) -> Result<Vec<OsString>> {
    check(policy)?;
    let mut plan = Plan::default();
    let tmp = Path::new("/tmp");
    let in_tmp = |p: &Path| p.starts_with(tmp);
    let masks: Vec<&Target> = outermost_targets(policy.deny_read.iter());
    // Lookups by ancestor (a path's depth), not by scanning every rule: a hostile
    // repository's narrowing config can list tens of thousands of masks.
    let mask_set: HashSet<&Path> = masks.iter().map(|m| m.path.as_path()).collect();
    let masked = |p: &Path| covers(&mask_set, p);
    let deny_write_set: HashSet<&Path> = policy.deny_write.iter().map(PathBuf::as_path).collect();
    let denied_write = |p: &Path| covers(&deny_write_set, p);
    // The host's /tmp is shared only if no denyWrite covers it (deny beats allow); else
    // the sandbox gets its private one.
    let tmp_shared = policy.tmp_shared && !denied_write(tmp);

    // 1. The readable view.
    let mut visible: HashSet<&Path> = [Path::new("/dev"), Path::new("/proc"), tmp].into();
    let read_roots = outermost(policy.read.iter().map(PathBuf::as_path));
    let (read_in_tmp, read_roots): (Vec<&Path>, Vec<&Path>) = read_roots
        .into_iter()
        .partition(|p| in_tmp(p) && !tmp_shared);
    if policy.default_deny_read {
        for root in read_roots {
            if !masked(root) {
                plan.op2("--ro-bind", root, root);
                visible.insert(root);
            }
        }
        // The top-level links (`/bin -> usr/bin`), unless a readable root brought them.
        for (link, target) in &policy.read_symlinks {
            if !is_visible(&visible, link) {
                plan.op2("--symlink", target, link);
            }
        }
    } else {
        plan.op2("--ro-bind", "/", "/");
        visible.insert(Path::new("/"));
    }

    // Writable binds. A write under a denyWrite stays read-only (and, under defaultDenyRead,
    // still readable); one under a mask is dropped.
    let mut writable: Vec<&Path> = Vec::new();
    if tmp_shared {
        writable.push(tmp);
    }
    let mut write: Vec<&Path> = policy.write.iter().map(PathBuf::as_path).collect();
    write.sort();
    write.retain(|p| !masked(p));
    let mut write_ops: Vec<(&'static str, &Path)> = Vec::new();
    for path in write {
        if denied_write(path) {
            if policy.default_deny_read && !is_visible(&visible, path) {
                write_ops.push(("--ro-bind", path));
                visible.insert(path);
            }
            continue;
        }
        write_ops.push(("--bind", path));
        writable.push(path);
        visible.insert(path);
    }

    // Read-only re-binds, only where something writable would otherwise expose them.
    // Their ancestors inside the writable bind are first bound onto themselves: a mount
    // point cannot be renamed (EBUSY), so `mv .git x && mkdir .git` cannot swap the
    // protected path for a fresh, writable copy.
    let innermost_writable = |p: &Path| crate::policy::paths::innermost(&writable, p).copied();
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
        .flat_map(|(path, root)| {
            // Strictly between the writable root and the protected path (none when the
            // path is the root itself): never the root's own ancestors.
            path.ancestors()
                .skip(1)
                .take_while(move |a| a.starts_with(root) && *a != root)
        })
        .collect();
    pins.sort();
    pins.dedup();
    let mut protect_ops: Vec<(&'static str, &Path)> =
        pins.into_iter().map(|pin| ("--bind", pin)).collect();
    protect_ops.extend(protected.iter().map(|(path, _)| ("--ro-bind", *path)));

    // 2. and 3.: the user's binds outside /tmp.
    for (op, path) in write_ops.iter().chain(&protect_ops) {
        if !in_tmp(path) {
            plan.op2(op, path, path);
        }
    }
    placeholder_args(&mut plan, &placeholders, empty_fd, |p| !in_tmp(p));

    // 4. The sandbox's own devices, procfs and /tmp, over whatever the binds above brought.
    if policy.host_devices {
        // The host's device nodes, but not its shared memory (world-writable, holding other
        // programs' segments): /dev/shm stays private as in the minimal mode.
        plan.op2("--dev-bind", "/dev", "/dev");
        plan.op1("--tmpfs", "/dev/shm");
    } else {
        plan.op1("--dev", "/dev");
        for dev in &policy.devices {
            plan.op2("--dev-bind", dev, dev);
        }
    }
    plan.op1("--proc", "/proc");
    // What the sandbox sees of the host below a private /tmp: only what is bound there.
    let mut tmp_bound: Vec<&Path> = Vec::new();
    if tmp_shared {
        plan.op2("--bind", "/tmp", "/tmp");
    } else {
        plan.op1("--tmpfs", "/tmp");
        // What is readable below the host's /tmp stays readable above the private one:
        // readable roots there, and in the default mode the working directory itself.
        let mut below_tmp = read_in_tmp;
        if !policy.default_deny_read && in_tmp(&policy.cwd) && policy.cwd != tmp {
            below_tmp.push(&policy.cwd);
        }
        for path in below_tmp {
            if !masked(path) {
                plan.op2("--ro-bind", path, path);
                tmp_bound.push(path);
            }
        }
    }

    // 5. The user's binds below /tmp, over the private (or shared) /tmp.
    for (op, path) in write_ops.iter().chain(&protect_ops) {
        if in_tmp(path) && *path != tmp {
            plan.op2(op, path, path);
            tmp_bound.push(path);
        }
    }
    placeholder_args(&mut plan, &placeholders, empty_fd, |p| in_tmp(p));

    // 6. Masks, outermost only, where visible (elsewhere nothing at or below them is mounted).
    for target in &masks {
        if is_visible(&visible, &target.path) {
            plan.mask(empty_fd, target);
        }
    }

    // 7. Host Unix sockets: an empty file over each (or a read-only empty tmpfs over a
    //    directory that could not be searched completely), so connect() is refused.
    for target in outermost_targets(policy.sockets.iter()) {
        if !masked(&target.path) && is_visible(&visible, &target.path) {
            plan.mask(empty_fd, target);
        }
    }

    // 8. Run-time command denies (path mode): an empty, read-only, mode 0444 file over each
    //    denied executable, after every other mount so that none brings the file back. exec
    //    fails with EACCES; the sandbox cannot chmod it (read-only) or unmount it (no
    //    capabilities, and seccomp denies the mount family). Only where the host's file is
    //    what the sandbox sees (not in a private /tmp unless bound there, not under a mask).
    let seen_in_tmp = |p: &Path| tmp_shared || tmp_bound.iter().any(|b| p.starts_with(b));
    for path in &policy.exec_deny {
        let visible = is_visible(&visible, path) && (!in_tmp(path) || seen_in_tmp(path));
        if visible && !masked(path) && path.is_absolute() && path != Path::new("/") {
            plan.empty_file(empty_fd, path);
        }
    }
    Ok(plan.args)
}

/// How many `--ro-bind-data` operations `args` holds: bwrap reads each operation's fd and
/// closes it, so each needs an fd of its own (one shared fd works only while bwrap's next
/// `open` happens to reuse the closed number for an empty file).
pub fn empty_file_uses(args: &[OsString]) -> usize {
    args.iter().filter(|a| *a == "--ro-bind-data").count()
}

/// Gives each `--ro-bind-data` operation in `args`, in order, the next fd of `fds`.
pub fn assign_empty_fds(args: &mut [OsString], fds: &[RawFd]) {
    let mut fds = fds.iter();
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i] == "--ro-bind-data" {
            if let Some(fd) = fds.next() {
                args[i + 1] = fd.to_string().into();
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// bwrap refuses more arguments than this (its `MAX_ARGS`).
const BWRAP_MAX_ARGS: usize = 9000;

/// Refuses a plan longer than bwrap accepts, with the likely cause, before bwrap is started.
pub fn check_arg_count(args: &[OsString]) -> Result<()> {
    if args.len() < BWRAP_MAX_ARGS {
        return Ok(());
    }
    let mounts = args
        .iter()
        .filter(|a| a.as_encoded_bytes().starts_with(b"--"))
        .count();
    Err(Error::Setup(format!(
        "the sandbox would need about {mounts} mount operations, more than bubblewrap accepts \
         ({BWRAP_MAX_ARGS} arguments); a pattern in filesystem.denyRead, denyWrite or \
         allowWrite probably matches too many paths: name their common directory instead \
         (`-d` shows the expansion)"
    )))
}

/// Refuses what the plan cannot apply (compilation refuses these first, with the config
/// key; this keeps the plan fail-closed for any policy): a mask on `/`, and a writable bind
/// that is `/` or lies in `/proc`, `/sys` or `/dev`.
fn check(policy: &Policy) -> Result<()> {
    let root = Path::new("/");
    for target in policy.deny_read.iter().chain(&policy.sockets) {
        if target.path == root || !target.path.is_absolute() {
            return Err(Error::Setup(format!(
                "cannot mask {}: only the files and directories below / can be masked",
                crate::output::path(&target.path)
            )));
        }
    }
    for path in &policy.write {
        if path == root
            || ["/proc", "/sys", "/dev"]
                .iter()
                .any(|p| path.starts_with(p))
        {
            return Err(Error::Setup(format!(
                "refusing to bind {} writable: /, /proc, /sys and /dev are never writable",
                crate::output::path(path)
            )));
        }
    }
    Ok(())
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

/// An empty read-only directory (a tmpfs) or file at each placeholder that `here` selects.
/// bwrap creates the mount point on the host; fence removes it after the run.
fn placeholder_args(
    plan: &mut Plan,
    placeholders: &[(&Target, &Path)],
    empty_fd: RawFd,
    here: impl Fn(&Path) -> bool,
) {
    for (target, _) in placeholders.iter().filter(|(t, _)| here(&t.path)) {
        if target.is_dir {
            plan.op1("--tmpfs", &target.path);
            plan.op1("--remount-ro", &target.path);
        } else {
            plan.empty_file(empty_fd, &target.path);
        }
    }
}

fn is_visible(visible: &HashSet<&Path>, path: &Path) -> bool {
    covers(visible, path)
}

/// Whether `path` or one of its ancestors is in `set`.
fn covers(set: &HashSet<&Path>, path: &Path) -> bool {
    !set.is_empty() && path.ancestors().any(|a| set.contains(a))
}

/// The paths of `paths` that are not below another one of them, sorted (parents first).
fn outermost<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<&'a Path> {
    let mut all: Vec<&Path> = paths.collect();
    all.sort();
    all.dedup();
    // Sorted component by component, a path's descendants follow it directly: a path
    // below any kept one is below the last kept one.
    let mut out: Vec<&Path> = Vec::new();
    for p in all {
        if !out.last().is_some_and(|o| p.starts_with(o)) {
            out.push(p);
        }
    }
    out
}

/// The targets of `targets` that are not below another one of them, sorted by path.
fn outermost_targets<'a>(targets: impl Iterator<Item = &'a Target>) -> Vec<&'a Target> {
    let mut all: Vec<&Target> = targets.collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out: Vec<&Target> = Vec::new();
    for t in all {
        if !out.last().is_some_and(|o| t.path.starts_with(&o.path)) {
            out.push(t);
        }
    }
    out
}

#[derive(Default)]
struct Plan {
    args: Vec<OsString>,
}

impl Plan {
    /// An empty read-only directory (tmpfs) or file over `target`.
    fn mask(&mut self, empty_fd: RawFd, target: &Target) {
        if target.is_dir {
            self.op1("--tmpfs", &target.path);
            self.op1("--remount-ro", &target.path);
        } else {
            self.empty_file(empty_fd, &target.path);
        }
    }

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
            .unwrap()
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

    const OWN: &str = "--dev /dev --proc /proc --tmpfs /tmp";

    #[test]
    fn default_policy_is_read_only_with_private_tmp() {
        assert_eq!(plan(&Policy::default()), format!("--ro-bind / / {OWN}"));
    }

    #[test]
    fn writes_then_protections_then_own_mounts_then_masks() {
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
            format!(
                "--ro-bind / / \
                 --bind /w /w --bind /w/sub /w/sub --bind /x /x \
                 --bind /w/.git /w/.git --ro-bind /w/.git/hooks /w/.git/hooks \
                 {OWN} \
                 --perms 0444 --ro-bind-data 9 /home/u/.netrc \
                 --tmpfs /w/secret --remount-ro /w/secret"
            )
        );
    }

    #[test]
    fn deny_beats_allow_and_masks_are_never_punctured() {
        let policy = Policy {
            write: paths(&["/a/b", "/s/inner", "/tmp/x"]),
            deny_write: paths(&["/a", "/s/inner/.bashrc", "/tmp/x/.bashrc"]),
            deny_read: vec![dir("/s"), dir("/s/inner/deeper"), file("/tmp/x/k")],
            tmp_shared: true,
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --proc /proc --bind /tmp /tmp --bind /tmp/x /tmp/x \
             --ro-bind /tmp/x/.bashrc /tmp/x/.bashrc \
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
             --ro-bind /home/u/.cache /home/u/.cache --bind /home/u/proj/out /home/u/proj/out \
             --dev-bind /dev /dev --tmpfs /dev/shm --proc /proc --tmpfs /tmp \
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
            format!("--ro-bind / / {OWN} --ro-bind /tmp/proj /tmp/proj")
        );
        let policy = Policy {
            cwd: "/tmp/proj".into(),
            default_deny_read: true,
            read: paths(&["/usr", "/tmp/proj"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            format!("--ro-bind /usr /usr {OWN} --ro-bind /tmp/proj /tmp/proj")
        );
    }

    /// allowRead of a path in the host's /tmp, without defaultDenyRead: bound read-only
    /// over the private /tmp, with the masks below it after it.
    #[test]
    fn readable_roots_in_the_private_tmp() {
        let policy = Policy {
            read: paths(&["/tmp/venv"]),
            deny_read: vec![file("/tmp/venv/secret")],
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            format!(
                "--ro-bind / / {OWN} --ro-bind /tmp/venv /tmp/venv \
                 --perms 0444 --ro-bind-data 9 /tmp/venv/secret"
            )
        );
    }

    /// Whatever the readable view and the binds bring, the sandbox's own /dev, /proc and
    /// /tmp come after them; binds below a private /tmp come after its tmpfs.
    #[test]
    fn own_mounts_come_after_every_user_bind() {
        let policy = Policy {
            default_deny_read: true,
            read: paths(&["/"]),
            read_symlinks: vec![("/bin".into(), "usr/bin".into())],
            write: paths(&["/home/u", "/tmp/build"]),
            deny_write: paths(&["/tmp/build/.git/hooks"]),
            devices: paths(&["/dev/kvm"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --bind /home/u /home/u \
             --dev /dev --dev-bind /dev/kvm /dev/kvm --proc /proc --tmpfs /tmp \
             --bind /tmp/build /tmp/build --bind /tmp/build/.git /tmp/build/.git \
             --ro-bind /tmp/build/.git/hooks /tmp/build/.git/hooks"
        );
    }

    /// Masks in /dev, /proc and /tmp land on the sandbox's own mounts (after them), and a
    /// device the allow list binds is masked when denyRead names it.
    #[test]
    fn masks_apply_over_own_mounts() {
        let policy = Policy {
            deny_read: vec![
                file("/dev/kvm"),
                file("/proc/cpuinfo"),
                dir("/sys/firmware"),
                dir("/tmp/cache"),
            ],
            devices: paths(&["/dev/kvm"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --dev /dev --dev-bind /dev/kvm /dev/kvm --proc /proc --tmpfs /tmp \
             --perms 0444 --ro-bind-data 9 /dev/kvm \
             --perms 0444 --ro-bind-data 9 /proc/cpuinfo \
             --tmpfs /sys/firmware --remount-ro /sys/firmware \
             --tmpfs /tmp/cache --remount-ro /tmp/cache"
        );
    }

    /// A mask is dropped as redundant only below a mask that is applied (or below one that
    /// is invisible, where nothing is mounted); masks that cannot be applied are errors.
    #[test]
    fn no_mask_is_lost() {
        let policy = Policy {
            deny_read: vec![dir("/"), dir("/home/u/.ssh")],
            sockets: vec![file("/run/docker.sock")],
            ..Policy::default()
        };
        let err = mount_args(&policy, 9).unwrap_err().to_string();
        assert!(err.contains("cannot mask /"), "{err}");
        for write in ["/", "/proc/sys", "/sys/kernel", "/dev", "/dev/sda"] {
            let policy = Policy {
                write: paths(&[write]),
                ..Policy::default()
            };
            let err = mount_args(&policy, 9).unwrap_err().to_string();
            assert!(err.contains("never writable"), "{write}: {err}");
        }
        // Under defaultDenyRead, an invisible outer mask keeps everything below it unmounted.
        let policy = Policy {
            default_deny_read: true,
            read: paths(&["/usr", "/home/u"]),
            write: paths(&["/home/u/proj"]),
            deny_read: vec![dir("/home"), dir("/home/u/.ssh")],
            ..Policy::default()
        };
        assert_eq!(plan(&policy), format!("--ro-bind /usr /usr {OWN}"));
        // A visible outer mask is applied and covers the inner one.
        let policy = Policy {
            deny_read: vec![dir("/home"), dir("/home/u/.ssh")],
            sockets: vec![file("/home/u/.docker/run.sock"), file("/run/x.sock")],
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            format!(
                "--ro-bind / / {OWN} --tmpfs /home --remount-ro /home \
                 --perms 0444 --ro-bind-data 9 /run/x.sock"
            )
        );
    }

    #[test]
    fn host_sockets_are_masked_where_visible_and_last() {
        let policy = Policy {
            sockets: vec![
                file("/run/docker.sock"),
                file("/run/user/1/bus"),
                dir("/home/u/.docker"),
                file("/home/u/.docker/x.sock"),
                file("/tmp/shared.sock"),
            ],
            deny_read: vec![dir("/run/user")],
            write: paths(&["/run"]),
            tmp_shared: true,
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind / / --bind /run /run --dev /dev --proc /proc --bind /tmp /tmp \
             --tmpfs /run/user --remount-ro /run/user \
             --tmpfs /home/u/.docker --remount-ro /home/u/.docker \
             --perms 0444 --ro-bind-data 9 /run/docker.sock \
             --perms 0444 --ro-bind-data 9 /tmp/shared.sock"
        );
    }

    /// A denyWrite that is (or covers) a writable root leaves it read-only and pins nothing
    /// above it: `/tmp` shared and denied once pinned `/` writable (`--bind / /`).
    #[test]
    fn deny_write_on_a_writable_root_pins_nothing_above_it() {
        let policy = Policy {
            write: paths(&["/w"]),
            tmp_shared: true,
            deny_write: paths(&["/tmp", "/w"]),
            ..Policy::default()
        };
        assert_eq!(plan(&policy), format!("--ro-bind / / {OWN}"));
        let policy = Policy {
            write: paths(&["/w"]),
            deny_write: paths(&["/w/a/b/c"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            format!(
                "--ro-bind / / --bind /w /w --bind /w/a /w/a --bind /w/a/b /w/a/b \
                 --ro-bind /w/a/b/c /w/a/b/c {OWN}"
            )
        );
    }

    #[test]
    fn each_empty_file_gets_its_own_fd() {
        let policy = Policy {
            deny_read: vec![file("/a"), dir("/d"), file("/b")],
            sockets: vec![file("/run/s.sock")],
            ..Policy::default()
        };
        let mut args = mount_args(&policy, 9).unwrap();
        assert_eq!(empty_file_uses(&args), 3);
        assign_empty_fds(&mut args, &[20, 21, 22]);
        let text = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            text.contains("--ro-bind-data 20 /a")
                && text.contains("--ro-bind-data 21 /b")
                && text.contains("--ro-bind-data 22 /run/s.sock")
                && !text.contains(" 9 "),
            "{text}"
        );
    }

    #[test]
    fn plans_longer_than_bwrap_accepts_are_refused() {
        let masks: Vec<Target> = (0..3000).map(|i| file(&format!("/big/f{i}"))).collect();
        let policy = Policy {
            deny_read: masks,
            ..Policy::default()
        };
        let args = mount_args(&policy, 9).unwrap();
        let err = check_arg_count(&args).unwrap_err().to_string();
        assert!(err.contains("mount operations"), "{err}");
        let small = mount_args(&Policy::default(), 9).unwrap();
        assert!(check_arg_count(&small).is_ok());
    }

    #[test]
    fn outermost_keeps_only_the_top_of_each_subtree() {
        let list = paths(&["/a/b", "/a", "/ab", "/a/b/c", "/c/d", "/c", "/a b"]);
        let got = outermost(list.iter().map(PathBuf::as_path));
        assert_eq!(got, paths(&["/a", "/a b", "/ab", "/c"]));
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
            "--ro-bind / / --bind /h /h \
             --bind /h/.config /h/.config --ro-bind /h/.ssh /h/.ssh \
             --perms 0444 --ro-bind-data 9 /h/.bashrc \
             --tmpfs /h/.config/git --remount-ro /h/.config/git \
             --dev /dev --proc /proc --tmpfs /tmp \
             --tmpfs /h/secret --remount-ro /h/secret"
        );
    }

    /// Run-time denied executables are masked last, over every other mount, unless the
    /// sandbox cannot see them (under a mask, in the private /tmp, outside the readable
    /// roots).
    #[test]
    fn exec_denies_come_last_where_visible() {
        let policy = Policy {
            write: paths(&["/w"]),
            deny_read: vec![dir("/secret")],
            sockets: vec![file("/run/s.sock")],
            exec_deny: paths(&[
                "/usr/sbin/chroot",
                "/w/bin/tool",
                "/secret/bin/x",
                "/tmp/hidden/x",
                "/tmp/proj/bin/x",
            ]),
            cwd: "/tmp/proj".into(),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            format!(
                "--ro-bind / / --bind /w /w {OWN} --ro-bind /tmp/proj /tmp/proj \
                 --tmpfs /secret --remount-ro /secret \
                 --perms 0444 --ro-bind-data 9 /run/s.sock \
                 --perms 0444 --ro-bind-data 9 /usr/sbin/chroot \
                 --perms 0444 --ro-bind-data 9 /w/bin/tool \
                 --perms 0444 --ro-bind-data 9 /tmp/proj/bin/x"
            )
        );
        let policy = Policy {
            default_deny_read: true,
            read: paths(&["/usr"]),
            tmp_shared: true,
            exec_deny: paths(&["/usr/bin/unshare", "/opt/bin/x", "/tmp/x"]),
            ..Policy::default()
        };
        assert_eq!(
            plan(&policy),
            "--ro-bind /usr /usr --dev /dev --proc /proc --bind /tmp /tmp \
             --perms 0444 --ro-bind-data 9 /usr/bin/unshare --perms 0444 --ro-bind-data 9 /tmp/x"
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
