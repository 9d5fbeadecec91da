//! The facts about the host that config resolution and policy compilation depend on,
//! read once from the process environment so the rest stays pure and testable.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct HostEnv {
    /// The current directory, canonical.
    pub cwd: PathBuf,
    /// `$HOME`, if set and absolute.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` or `~/.config`.
    pub config_home: Option<PathBuf>,
    /// `$XDG_DATA_HOME` or `~/.local/share`.
    pub data_home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, if set and absolute (where per-user sockets live).
    pub runtime_dir: Option<PathBuf>,
    /// `$SSH_AUTH_SOCK`, if set and absolute.
    pub ssh_auth_sock: Option<PathBuf>,
    /// Where kernel filesystems (procfs, sysfs, cgroup, ...) are mounted, from
    /// `/proc/self/mountinfo`: a writable bind over one would let the sandbox change the
    /// host's kernel state (as root, `/proc/sys`, a cgroup's `release_agent`), and a procfs
    /// outside `/proc` shows the host's processes.
    pub kernel_mounts: Vec<KernelMount>,
    /// fence's own executable (`/proc/self/exe`, canonical): one of its trust roots.
    pub exe: Option<PathBuf>,
    /// The absolute directories of `$PATH` (where programs run later are found).
    pub path_dirs: Vec<PathBuf>,
    /// The variables of [`STARTUP_VARS`] that are set to an absolute path.
    pub startup_vars: Vec<(String, PathBuf)>,
}

/// A mounted kernel filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelMount {
    pub path: PathBuf,
    /// The filesystem type (`proc`, `sysfs`, ...).
    pub fstype: String,
}

/// Filesystem types whose files are kernel state rather than data.
const KERNEL_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "efivarfs",
    "pstore",
    "binfmt_misc",
    "devtmpfs",
];

/// The mount points of kernel filesystems in a `/proc/self/mountinfo` text (mount points
/// are octal-escaped there: `\040` is a space).
pub fn kernel_mounts(mountinfo: &[u8]) -> Vec<KernelMount> {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        let (Some(mount_point), Some(fstype)) = (fields.get(4), fields.get(sep + 1)) else {
            continue;
        };
        if let Some(fstype) = KERNEL_FILESYSTEMS.iter().find(|k| k.as_bytes() == *fstype) {
            out.push(KernelMount {
                path: PathBuf::from(std::ffi::OsString::from_vec(unescape_octal(mount_point))),
                fstype: fstype.to_string(),
            });
        }
    }
    out
}

fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field.get(i + 1..i + 4);
        match digits {
            Some(d) if field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// Variables that move startup files elsewhere (their meaning is in
/// `policy::dangerous::STARTUP_ENV`).
pub const STARTUP_VARS: &[&str] = &[
    "ZDOTDIR",
    "BASH_ENV",
    "ENV",
    "GIT_CONFIG_GLOBAL",
    "INPUTRC",
    "RIPGREP_CONFIG_PATH",
    "NPM_CONFIG_USERCONFIG",
];

impl HostEnv {
    pub fn from_process() -> Result<HostEnv> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("cannot determine the current directory", e))?;
        let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
        // Unreadable (no procfs): nothing known, and compile refuses nothing on this ground.
        let mountinfo = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
        Ok(HostEnv {
            runtime_dir: absolute("XDG_RUNTIME_DIR"),
            ssh_auth_sock: absolute("SSH_AUTH_SOCK"),
            kernel_mounts: kernel_mounts(&mountinfo),
            exe: std::fs::canonicalize("/proc/self/exe").ok(),
            path_dirs: var("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .filter(|d| d.is_absolute())
                        .collect()
                })
                .unwrap_or_default(),
            startup_vars: STARTUP_VARS
                .iter()
                .filter_map(|name| Some((name.to_string(), absolute(name)?)))
                .collect(),
            ..HostEnv::new(
                cwd,
                var("HOME"),
                var("XDG_CONFIG_HOME"),
                var("XDG_DATA_HOME"),
            )
        })
    }

    pub fn new(
        cwd: PathBuf,
        home: Option<OsString>,
        xdg_config_home: Option<OsString>,
        xdg_data_home: Option<OsString>,
    ) -> HostEnv {
        let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
        let home = home.and_then(absolute);
        let under_home = |rel: &str| home.as_ref().map(|h| h.join(rel));
        HostEnv {
            config_home: xdg_config_home
                .and_then(absolute)
                .or_else(|| under_home(".config")),
            data_home: xdg_data_home
                .and_then(absolute)
                .or_else(|| under_home(".local/share")),
            cwd,
            home,
            runtime_dir: None,
            ssh_auth_sock: None,
            kernel_mounts: Vec::new(),
            exe: None,
            path_dirs: Vec::new(),
            startup_vars: Vec::new(),
        }
    }
}

/// Whether the current user may create entries in `dir` on the host (`access(W_OK)`): where
/// it may not, neither can the sandbox, which runs as the same user without capabilities.
pub fn can_create_in(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_mounts_from_mountinfo() {
        let text = b"22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
            23 22 0:22 / /proc rw,nosuid shared:12 - proc proc rw\n\
            24 22 0:23 / /sys rw shared:7 - sysfs sysfs rw\n\
            25 24 0:24 / /sys/fs/cgroup rw shared:8 - cgroup2 cgroup2 rw\n\
            26 22 0:25 / /var/lib/my\\040host/proc rw - proc proc rw\n\
            27 22 0:26 / /run rw shared:2 - tmpfs tmpfs rw\n\
            28 22 0:27 / /odd rw master:3 unbindable - debugfs none rw\n\
            garbage line\n";
        let want: Vec<KernelMount> = [
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/sys/fs/cgroup", "cgroup2"),
            ("/var/lib/my host/proc", "proc"),
            ("/odd", "debugfs"),
        ]
        .iter()
        .map(|(path, fstype)| KernelMount {
            path: path.into(),
            fstype: fstype.to_string(),
        })
        .collect();
        assert_eq!(kernel_mounts(text), want);
        assert!(kernel_mounts(b"").is_empty());
    }
}
