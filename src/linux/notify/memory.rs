//! Reading a notified process's arguments: strings and argument vectors from its memory,
//! bounded, and relative paths resolved against its working directory or directory fd as
//! the process sees them (its mount namespace's paths).
//!
//! What is read is advisory: another thread of the process can change the memory after the
//! read and before the kernel reads it again (see the module documentation of
//! [`super`]).

use std::ffi::OsStr;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::decode::PathArg;
use super::sys::read_memory;

/// The longest path read (PATH_MAX, with its NUL).
pub const MAX_PATH: usize = 4096;
/// Limits for an argument vector: the kernel's own (MAX_ARG_STRLEN and a 2 MiB total at the
/// usual stack limit) make larger ones fail to exec anyway.
pub const MAX_ARG: usize = 128 * 1024;
pub const MAX_ARGV_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_ARGS: usize = 256 * 1024;

const PAGE: u64 = 4096;

/// Why an argument could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The memory is not mapped or the process is gone.
    Fault,
    /// Longer than fence reads.
    TooLong,
}

/// The NUL-terminated string at `addr` in `pid`, without its NUL, at most `max` bytes.
/// Read page by page, so that a string ending just before an unmapped page is read whole.
pub fn read_string(pid: u32, addr: u64, max: usize) -> Result<Vec<u8>, Unreadable> {
    if addr == 0 {
        return Err(Unreadable::Fault);
    }
    let mut out = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; PAGE as usize];
    while out.len() <= max {
        let room = (PAGE - at % PAGE) as usize;
        let n = read_memory(pid, at, &mut chunk[..room]).map_err(|_| Unreadable::Fault)?;
        if n == 0 {
            return Err(Unreadable::Fault);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return if out.len() <= max {
                Ok(out)
            } else {
                Err(Unreadable::TooLong)
            };
        }
        out.extend_from_slice(&chunk[..n]);
        at = at.checked_add(n as u64).ok_or(Unreadable::Fault)?;
    }
    Err(Unreadable::TooLong)
}

/// The argument vector at `addr` (a null-terminated array of string pointers).
pub fn read_argv(pid: u32, addr: u64) -> Result<Vec<Vec<u8>>, Unreadable> {
    let mut pointers = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; PAGE as usize];
    'array: loop {
        if at == 0 {
            return Err(Unreadable::Fault);
        }
        let room = (PAGE - at % PAGE) as usize;
        let n = read_memory(pid, at, &mut chunk[..room]).map_err(|_| Unreadable::Fault)?;
        let whole = n - n % 8;
        if whole == 0 {
            return Err(Unreadable::Fault);
        }
        for word in chunk[..whole].chunks_exact(8) {
            let pointer = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
            if pointer == 0 {
                break 'array;
            }
            if pointers.len() == MAX_ARGS {
                return Err(Unreadable::TooLong);
            }
            pointers.push(pointer);
        }
        at = at.checked_add(whole as u64).ok_or(Unreadable::Fault)?;
    }
    let mut total = 0;
    let mut argv = Vec::with_capacity(pointers.len());
    for pointer in pointers {
        let arg = read_string(pid, pointer, MAX_ARG)?;
        total += arg.len() + 1;
        if total > MAX_ARGV_BYTES {
            return Err(Unreadable::TooLong);
        }
        argv.push(arg);
    }
    Ok(argv)
}

/// The directory a path argument is relative to, as the process sees it.
fn base(pid: u32, dirfd: i32) -> io::Result<PathBuf> {
    if dirfd == libc::AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd"))
    } else {
        std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}"))
    }
}

/// The absolute path a path argument names, made lexically clean (`.`, `..`, repeated
/// slashes); symbolic links are left as written. `path` empty or absent: the directory fd's
/// own path (`AT_EMPTY_PATH`, `utimensat(fd, NULL, …)`).
pub fn absolute(pid: u32, arg: PathArg, path: Option<&[u8]>) -> io::Result<PathBuf> {
    let path = Path::new(OsStr::from_bytes(path.unwrap_or_default()));
    if path.is_absolute() {
        return Ok(crate::policy::paths::lexical(path));
    }
    let base = base(pid, arg.dirfd)?;
    Ok(crate::policy::paths::lexical(&base.join(path)))
}

/// Bytes as an owned path.
pub fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        std::process::id()
    }

    #[test]
    fn strings_are_read_up_to_their_nul_across_pages() {
        // A string that starts near the end of a page and continues on the next one.
        let mut buf = vec![b'x'; 3 * PAGE as usize];
        let start = buf.as_ptr() as u64;
        let offset = (PAGE - start % PAGE) as usize - 5 + PAGE as usize;
        buf[offset + 20] = 0;
        let addr = start + offset as u64;
        assert_eq!(read_string(me(), addr, MAX_PATH), Ok(vec![b'x'; 20]));
        assert_eq!(read_string(me(), addr, 10), Err(Unreadable::TooLong));
        assert_eq!(read_string(me(), 0, MAX_PATH), Err(Unreadable::Fault));
        assert_eq!(read_string(me(), 8, MAX_PATH), Err(Unreadable::Fault));
    }

    #[test]
    fn argument_vectors_are_read_whole() {
        let args: Vec<std::ffi::CString> = ["git", "push", "", "--force"]
            .iter()
            .map(|s| std::ffi::CString::new(*s).unwrap())
            .collect();
        let mut pointers: Vec<u64> = args.iter().map(|a| a.as_ptr() as u64).collect();
        pointers.push(0);
        let argv = read_argv(me(), pointers.as_ptr() as u64).unwrap();
        assert_eq!(
            argv,
            vec![
                b"git".to_vec(),
                b"push".to_vec(),
                vec![],
                b"--force".to_vec()
            ]
        );
        assert_eq!(read_argv(me(), 0), Err(Unreadable::Fault));
    }

    #[test]
    fn paths_are_made_absolute_and_clean() {
        let cwd = std::env::current_dir().unwrap();
        let here = PathArg {
            dirfd: libc::AT_FDCWD,
            ptr: 0,
        };
        assert_eq!(
            absolute(me(), here, Some(b"a/./b/../c")).unwrap(),
            cwd.join("a/c")
        );
        assert_eq!(
            absolute(me(), here, Some(b"/x//y/../../../z")).unwrap(),
            PathBuf::from("/z")
        );
        assert_eq!(absolute(me(), here, None).unwrap(), cwd);
        let dir = std::fs::File::open("/usr").unwrap();
        let at_usr = PathArg {
            dirfd: std::os::fd::AsRawFd::as_raw_fd(&dir),
            ptr: 0,
        };
        assert_eq!(
            absolute(me(), at_usr, Some(b"bin/x")).unwrap(),
            PathBuf::from("/usr/bin/x")
        );
    }
}
