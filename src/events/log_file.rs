//! The `--fence-log-file` file: opened by the host fence, refusing what a sandbox could
//! have planted at its path (see the module documentation of [`super`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::policy::Policy;

/// Opens (creating it, mode 0600) the log file for appending, refusing what a sandbox
/// could have put at its path; see the module documentation.
pub(super) fn open(path: &Path, policy: &mut Policy) -> Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

    let shown = crate::output::path(path);
    let refuse = |why: &str| {
        Error::Setup(format!(
            "--fence-log-file {shown}: {why}; keep the log outside every path the sandbox may \
             write"
        ))
    };
    let lexical = lexical_absolute(path, &policy.cwd);
    let (Some(parent), Some(name)) = (lexical.parent(), lexical.file_name()) else {
        return Err(refuse("not a file path"));
    };
    let real_parent = std::fs::canonicalize(parent)
        .map_err(|e| Error::io(format!("--fence-log-file {shown}"), e))?;
    if real_parent != parent && writable_inside(parent, policy) {
        return Err(refuse(
            "a directory on its path is a symbolic link in a place the sandbox may write (a \
             sandbox could have planted it); give the real path",
        ));
    }
    // Opened by the resolved path: the one checked above, not a symlink met again.
    // O_NOFOLLOW: a symbolic link is refused (ELOOP), never followed. O_NONBLOCK: a FIFO
    // without a reader fails (ENXIO) instead of hanging the open; it is cleared below.
    // std adds O_CLOEXEC.
    let real = real_parent.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&real)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refuse("it is a symbolic link, which fence does not follow"),
            Some(libc::ENXIO) => refuse("it is not a regular file (a FIFO or socket)"),
            _ => Error::io(format!("cannot open --fence-log-file {shown}"), e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("--fence-log-file {shown}"), e))?;
    if !meta.file_type().is_file() {
        return Err(refuse("it is not a regular file"));
    }
    if meta.nlink() > 1 {
        return Err(refuse(
            "it has other hard links (fence would append to whatever file it is linked to)",
        ));
    }
    // A file another user made (in a shared directory such as /tmp) would receive what
    // this run's sandbox did.
    // SAFETY: geteuid cannot fail and has no memory effects.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(refuse("it belongs to another user"));
    }
    clear_nonblocking(&file).map_err(|e| Error::io(format!("--fence-log-file {shown}"), e))?;
    if writable_inside(&real, policy) || writable_inside(&lexical, policy) {
        log::warn!(
            "--fence-log-file {shown} is in a directory the sandbox may write: it is read-only \
             inside for this run, but another run could change it; keep the log outside \
             every allowWrite path"
        );
        policy.deny_write.push(real);
        policy.deny_write.sort();
        policy.deny_write.dedup();
    }
    Ok(file)
}

/// Whether the sandbox of `policy` may write `path` (or replace it, through a writable
/// directory above it): it lies under a writable root and under no read-only path.
fn writable_inside(path: &Path, policy: &Policy) -> bool {
    let under_writable = policy.write.iter().any(|root| path.starts_with(root))
        || (policy.tmp_shared && path.starts_with("/tmp"));
    under_writable && !policy.deny_write.iter().any(|ro| path.starts_with(ro))
}

/// `path` made absolute against `cwd`, with `.` and `..` removed lexically (bytes kept).
fn lexical_absolute(path: &Path, cwd: &Path) -> PathBuf {
    crate::policy::paths::lexical(&cwd.join(path))
}

/// Clears `O_NONBLOCK`, set only so that opening a FIFO could not hang.
fn clear_nonblocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl F_GETFL/F_SETFL on a descriptor `file` owns, with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths() {
        let cwd = Path::new("/w/p");
        assert_eq!(
            lexical_absolute(Path::new("l.log"), cwd),
            Path::new("/w/p/l.log")
        );
        assert_eq!(
            lexical_absolute(Path::new("../x/./l"), cwd),
            Path::new("/w/x/l")
        );
        assert_eq!(
            lexical_absolute(Path::new("/a/../../b"), cwd),
            Path::new("/b")
        );
    }
}
