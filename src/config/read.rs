//! Reading config files (and trust records) safely: regular files only, bounded in size,
//! and, for files found by discovery, owned by the user (or root) and not writable by others.
//!
//! A path given on the command line or named by a repository may be anything: `/dev/zero`
//! (an endless read), a FIFO (an `open` that blocks forever), a 50 MB string (gigabytes of
//! memory once parsed). The file is opened without blocking and without following a FIFO
//! into a wait, checked with `fstat` on the opened descriptor (no race with a rename), and
//! read up to [`MAX_CONFIG_BYTES`].

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::output;

/// The largest config file (or trust record) fence reads: far above any real config, far
/// below what could slow fence down or exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A file's content and the facts about it that trust depends on, read from one descriptor.
#[derive(Debug, Clone)]
pub struct FileText {
    pub text: String,
    pub meta: Metadata,
}

/// Opens `path` (following symlinks) without blocking, refuses anything but a regular file,
/// and reads it as UTF-8, at most [`MAX_CONFIG_BYTES`]. `what` names the file in errors
/// ("config", "trust record").
pub fn read_bounded(path: &Path, what: &str) -> Result<FileText> {
    read_file(path, what, 0)
}

/// [`read_bounded`] without following a symlink in the last component (trust records).
pub fn read_bounded_nofollow(path: &Path, what: &str) -> Result<FileText> {
    read_file(path, what, libc::O_NOFOLLOW)
}

fn read_file(path: &Path, what: &str, extra_flags: i32) -> Result<FileText> {
    let shown = output::path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | extra_flags)
        .open(path)
        .map_err(|e| Error::io(format!("cannot read {what} {shown}"), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {what} {shown}"), e))?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "{what} {shown} is not a regular file ({}); fence reads configs only from regular \
             files",
            kind(&meta)
        )));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big(what, &shown));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than the limit tells a file that grew past it from one that fits.
    (&file)
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("cannot read {what} {shown}"), e))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big(what, &shown));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Config(format!(
            "{what} {shown} is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(FileText { text, meta })
}

/// The effective uid of fence (whose files discovery and the trust store accept).
pub fn current_uid() -> u32 {
    // SAFETY: geteuid cannot fail and has no memory effects.
    unsafe { libc::geteuid() }
}

/// Whose files discovery accepts: the user's (and root's), and, for group write, the
/// user's private group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Me {
    pub uid: u32,
    /// The effective gid when it equals the uid (a user private group), else None.
    pub private_gid: Option<u32>,
}

impl Me {
    pub fn current() -> Me {
        // SAFETY: getegid cannot fail and has no memory effects.
        let gid = unsafe { libc::getegid() };
        let uid = current_uid();
        Me {
            uid,
            private_gid: (gid == uid).then_some(gid),
        }
    }

    /// Someone else: only ownership by `uid` or root counts, no group.
    pub fn uid(uid: u32) -> Me {
        Me {
            uid,
            private_gid: None,
        }
    }
}

/// A config file as read: its canonical path, content and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: std::path::PathBuf,
    pub text: String,
    /// Device and inode: the exact file, not another with the same name and content.
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
}

impl ConfigFile {
    /// A file that exists only in memory (for tests of what records and chains hold).
    #[cfg(test)]
    pub fn in_memory(path: &str, text: &str) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            text: text.into(),
            dev: 0,
            ino: 0,
            uid: 0,
        }
    }

    pub fn new(path: std::path::PathBuf, read: FileText) -> ConfigFile {
        ConfigFile {
            path,
            dev: read.meta.dev(),
            ino: read.meta.ino(),
            uid: read.meta.uid(),
            text: read.text,
        }
    }
}

fn too_big(what: &str, shown: &str) -> Error {
    Error::Config(format!(
        "{what} {shown} is larger than the {} MiB limit",
        MAX_CONFIG_BYTES / (1024 * 1024)
    ))
}

fn kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Why a file found by discovery may not be the user's own: owned by another user, or
/// writable by group or others (git's `safe.directory` rule, applied to the file and to
/// the directory it is in). `None` when it is safe to consider.
///
/// The directory matters because whoever can write it can replace the file. A sticky
/// directory (`/tmp`) writable by everyone is accepted when the user or root owns it: the
/// sticky bit stops others from renaming or removing the user's file there.
pub fn foreign_reason(file: &Metadata, dir: Option<&Metadata>, me: Me) -> Option<String> {
    let uid = me.uid;
    let trusted_owner = |owner: u32| owner == uid || owner == 0;
    // Group write is harmless when the group is the user's private group (uid = gid, the
    // convention under which distributions set umask 002, making every file 664).
    let others_write = |meta: &Metadata| {
        let group_write = meta.mode() & 0o020 != 0 && me.private_gid != Some(meta.gid());
        meta.mode() & 0o002 != 0 || group_write
    };
    if !trusted_owner(file.uid()) {
        return Some(format!(
            "it is owned by uid {}, not by you (uid {uid}) or root",
            file.uid()
        ));
    }
    let mode = file.mode();
    if others_write(file) {
        return Some(format!(
            "it is writable by {} (mode {:o})",
            if mode & 0o002 != 0 {
                "others"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    if let Some(dir) = dir {
        let dmode = dir.mode();
        let sticky = dmode & 0o1000 != 0;
        if !trusted_owner(dir.uid()) {
            return Some(format!(
                "its directory is owned by uid {}, not by you (uid {uid}) or root",
                dir.uid()
            ));
        }
        if others_write(dir) && !sticky {
            return Some(format!(
                "its directory is writable by {} (mode {:o})",
                if dmode & 0o002 != 0 {
                    "others"
                } else {
                    "its group"
                },
                dmode & 0o7777
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tempdir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("fence-read-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let d = tempdir("special");
        let fifo = d.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other memory effects.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let cases = [
            (Path::new("/dev/zero"), "character device"),
            (Path::new("/dev/null"), "character device"),
            (fifo.as_path(), "FIFO"),
            (d.0.as_path(), "directory"),
        ];
        for (path, needle) in cases {
            let err = read_bounded(path, "config").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn size_limit() {
        let d = tempdir("size");
        let fits = d.0.join("fits.json");
        std::fs::write(&fits, vec![b' '; MAX_CONFIG_BYTES as usize]).unwrap();
        assert_eq!(
            read_bounded(&fits, "config").unwrap().text.len(),
            MAX_CONFIG_BYTES as usize
        );
        let big = d.0.join("big.json");
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let err = read_bounded(&big, "config").unwrap_err().to_string();
        assert!(err.contains("larger than the 4 MiB limit"), "{err}");
        assert!(err.contains("big.json"), "{err}");
        let bad = d.0.join("bad.json");
        std::fs::write(&bad, b"{\"a\xff\"}").unwrap();
        let err = read_bounded(&bad, "config").unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn foreign_files() {
        let d = tempdir("foreign");
        let f = d.0.join("fence.json");
        std::fs::write(&f, "{}").unwrap();
        let set = |p: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let me = std::fs::metadata(&f).unwrap().uid();
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        set(&f, 0o644);
        set(&d.0, 0o755);
        assert_eq!(
            foreign_reason(&meta(&f), Some(&meta(&d.0)), Me::uid(me)),
            None
        );
        // Root-owned files are trusted as git does; another uid is not.
        if me == 0 {
            assert_eq!(foreign_reason(&meta(&f), None, Me::uid(65534)), None);
        } else {
            let r = foreign_reason(&meta(&f), None, Me::uid(me + 1)).unwrap();
            assert!(r.contains("owned by uid"), "{r}");
        }
        let cases = [
            (0o664, 0o755, "writable by its group"),
            (0o646, 0o755, "writable by others"),
            (0o644, 0o777, "directory is writable by others"),
            (0o644, 0o775, "directory is writable by its group"),
        ];
        for (fmode, dmode, needle) in cases {
            set(&f, fmode);
            set(&d.0, dmode);
            let r = foreign_reason(&meta(&f), Some(&meta(&d.0)), Me::uid(me)).unwrap();
            assert!(r.contains(needle), "{fmode:o} {dmode:o}: {r}");
        }
        set(&f, 0o644);
        set(&d.0, 0o1777);
        assert_eq!(
            foreign_reason(&meta(&f), Some(&meta(&d.0)), Me::uid(me)),
            None,
            "a sticky directory protects the owner's file"
        );
        set(&d.0, 0o755);
        // umask 002 with a user private group: group write by that group alone is fine.
        let gid = meta(&f).gid();
        let private = Me {
            uid: me,
            private_gid: Some(gid),
        };
        set(&f, 0o664);
        set(&d.0, 0o775);
        assert_eq!(foreign_reason(&meta(&f), Some(&meta(&d.0)), private), None);
        set(&f, 0o666);
        assert!(foreign_reason(&meta(&f), Some(&meta(&d.0)), private).is_some());
        let other_group = Me {
            uid: me,
            private_gid: Some(gid + 1),
        };
        set(&f, 0o664);
        assert!(foreign_reason(&meta(&f), Some(&meta(&d.0)), other_group).is_some());
        set(&f, 0o644);
        set(&d.0, 0o755);
    }
}
