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
    /// fence's own executable (`/proc/self/exe`, canonical): one of its trust roots.
    pub exe: Option<PathBuf>,
    /// The absolute directories of `$PATH` (where programs run later are found).
    pub path_dirs: Vec<PathBuf>,
    /// The variables of [`STARTUP_VARS`] that are set to an absolute path.
    pub startup_vars: Vec<(String, PathBuf)>,
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
        Ok(HostEnv {
            runtime_dir: absolute("XDG_RUNTIME_DIR"),
            ssh_auth_sock: absolute("SSH_AUTH_SOCK"),
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
