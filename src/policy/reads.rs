//! The readable roots: under `defaultDenyRead` the system and toolchain paths plus
//! `allowRead` and `allowExecute`; without it the host is readable already, and those lists
//! matter only in the host's `/tmp`, which the private `/tmp` hides (see `tmp.rs`): there
//! they share a path read-only.

use std::path::PathBuf;

use super::{Policy, glob, paths, resolve};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

/// System paths readable under `defaultDenyRead` (unless `strictDenyRead`).
const SYSTEM_READ_PATHS: &[&str] = &[
    "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/run", "/sys",
    "/nix", "/snap",
];

/// Per-user toolchain directories readable under `defaultDenyRead` (unless strict).
const HOME_TOOL_PATHS: &[&str] = &[
    ".nvm",
    ".fnm",
    ".volta",
    ".pyenv",
    ".rbenv",
    ".cargo/bin",
    ".rustup",
    "go/bin",
    ".local/bin",
    "bin",
    ".bun/bin",
    ".deno/bin",
];

/// Fills `policy.read` (and `read_symlinks`), after the masks are known.
pub(super) fn readable_roots(policy: &mut Policy, cfg: &Config, host: &HostEnv) -> Result<()> {
    let fs = &cfg.filesystem;
    let allowed_read = allowed_reads(policy, cfg, host)?;
    if policy.default_deny_read {
        let mut read: Vec<String> = Vec::new();
        if !fs.strict_deny_read {
            read.extend(SYSTEM_READ_PATHS.iter().map(|p| p.to_string()));
            policy.read_symlinks = SYSTEM_READ_PATHS
                .iter()
                .filter_map(|p| Some((PathBuf::from(p), std::fs::read_link(p).ok()?)))
                .collect();
            read.extend(HOME_TOOL_PATHS.iter().map(|p| format!("~/{p}")));
        }
        if fs.wsl_interop == Some(true) {
            read.push("/init".into());
        }
        let mut paths = resolve_quiet(&read, host);
        paths.extend(allowed_read);
        paths.retain(|p| !p.starts_with("/proc") && !p.starts_with("/dev"));
        paths.sort();
        paths.dedup();
        policy.read = paths;
    } else {
        // Without defaultDenyRead the host is readable already, except what the private
        // /tmp hides: allowRead brings such a path in, read-only (`/tmp` itself: the host's
        // whole /tmp, as with defaultDenyRead).
        for path in allowed_read {
            if !policy.tmp_shared && path.starts_with("/tmp") {
                policy.read.push(path);
            } else {
                policy.notes.push(format!(
                    "filesystem.allowRead: {} is readable anyway (without defaultDenyRead \
                     only the host's /tmp, hidden by the private /tmp, needs allowRead)",
                    crate::output::path(&path)
                ));
            }
        }
    }
    Ok(())
}

/// `allowRead` and `allowExecute`, resolved. A mask (`denyRead`, or a proc filesystem fence
/// always masks) hides its whole tree whatever allowRead says, since deny beats allow and
/// nothing is mounted below a mask: a literal entry inside one is a conflict, refused with
/// both names rather than silently left masked; what a glob matches there stays masked,
/// with a note (a pattern is not a claim about each match).
fn allowed_reads(policy: &mut Policy, cfg: &Config, host: &HostEnv) -> Result<Vec<PathBuf>> {
    let fs = &cfg.filesystem;
    let mut out = Vec::new();
    let lists = [
        ("filesystem.allowRead", &fs.allow_read),
        ("filesystem.allowExecute", &fs.allow_execute),
    ];
    for (key, entries) in lists {
        let (globs, literals): (Vec<String>, Vec<String>) =
            entries.iter().cloned().partition(|e| glob::has_glob(e));
        for (is_glob, list) in [(false, literals), (true, globs)] {
            for path in resolve(policy, key, &list, host)? {
                let Some(mask) = policy.deny_read.iter().find(|m| path.starts_with(&m.path)) else {
                    out.push(path);
                    continue;
                };
                let by = if host.kernel_mounts.iter().any(|k| k.path == mask.path) {
                    "a proc filesystem fence always masks"
                } else {
                    "filesystem.denyRead"
                };
                let (shown, masked) = (crate::output::path(&path), crate::output::path(&mask.path));
                if is_glob {
                    policy.notes.push(format!(
                        "{key}: {shown} stays hidden: it is inside {masked} ({by})"
                    ));
                    continue;
                }
                return Err(Error::Config(format!(
                    "{key}: {shown} cannot be read: it is inside {masked}, which is masked \
                     ({by}); deny beats allow and nothing is unmasked below a mask, so remove \
                     one of the two entries (or narrow the denyRead one)"
                )));
            }
        }
    }
    Ok(out)
}

/// Default read paths: missing ones are expected and not worth a note.
fn resolve_quiet(entries: &[String], host: &HostEnv) -> Vec<PathBuf> {
    paths::resolve("", entries, host)
        .map(|r| r.paths)
        .unwrap_or_default()
}
