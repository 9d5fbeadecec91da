//! The command's executable, found on the host before `sandbox-exec` runs, the way a shell
//! finds it. Seatbelt has no mount namespace: the host's files are the sandbox's (minus
//! what the profile denies), so fence can say "command not found" (127) or "cannot
//! execute" (126) itself, as the Linux init does inside, and `sandbox-exec` is given an
//! absolute path: its own failures (a profile it refuses) are then the only ones left to it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `program` as a path: a name with a slash is used as is (relative to the working
/// directory); otherwise the first executable regular file in `path_var` (a shell's default
/// when unset). Directories and files without an execute bit are skipped in the search, as a
/// shell does, and named if nothing better is found.
pub fn resolve(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let name = program.to_string_lossy();
    if program.is_empty() {
        return Err(Error::NotFound("''".into()));
    }
    if program.as_bytes().contains(&b'/') {
        let path = Path::new(program);
        return match std::fs::metadata(path) {
            Err(_) => Err(Error::NotFound(name.into_owned())),
            Ok(m) if m.is_dir() => Err(Error::CannotExecute(format!("{name}: is a directory"))),
            Ok(_) if !executable(path) => Err(Error::CannotExecute(format!(
                "{name}: cannot execute: permission denied"
            ))),
            Ok(_) => Ok(path.to_path_buf()),
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/bin:/bin:/usr/sbin:/sbin"));
    let mut not_executable: Option<PathBuf> = None;
    for dir in std::env::split_paths(path_var) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        if !std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if executable(&candidate) {
            return Ok(candidate);
        }
        not_executable.get_or_insert(candidate);
    }
    Err(match not_executable {
        Some(found) => Error::CannotExecute(format!(
            "{name}: cannot execute {}: permission denied",
            found.display()
        )),
        None => Error::NotFound(name.into_owned()),
    })
}

fn executable(path: &Path) -> bool {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .is_ok_and(|c| super::sys::access(&c, libc::X_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_like_a_shell() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fence-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/tool")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("b/tool"), "").unwrap();
        std::fs::write(dir.join("b/plain"), "").unwrap();
        std::fs::write(dir.join("b/run"), "").unwrap();
        std::fs::set_permissions(dir.join("b/run"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let path = std::env::join_paths([dir.join("a"), dir.join("b")]).unwrap();
        let find = |p: &str| resolve(OsStr::new(p), Some(&path));
        assert_eq!(find("run").unwrap(), dir.join("b/run"));
        assert!(matches!(find("missing"), Err(Error::NotFound(n)) if n == "missing"));
        // A directory named like the command is skipped; a file without x bit is named
        // (root may execute nothing without an x bit either).
        assert!(matches!(find("tool"), Err(Error::CannotExecute(m)) if m.contains("b/tool")));
        assert!(matches!(find(""), Err(Error::NotFound(_))));
        let slash = |p: &Path| resolve(p.as_os_str(), Some(&path));
        assert_eq!(slash(&dir.join("b/run")).unwrap(), dir.join("b/run"));
        assert!(
            matches!(slash(&dir.join("a/tool")), Err(Error::CannotExecute(m)) if m.ends_with("is a directory"))
        );
        assert!(matches!(slash(&dir.join("nope")), Err(Error::NotFound(_))));
        assert!(matches!(
            slash(&dir.join("b/plain")),
            Err(Error::CannotExecute(_))
        ));
        assert_eq!(
            resolve(OsStr::new("sh"), None).unwrap(),
            PathBuf::from("/usr/bin/sh")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
