//! What a notified syscall asks for, from its number and raw arguments (pure): which paths it
//! writes, which address it connects to, which program it executes. The strings themselves
//! are still in the process's memory; [`super::memory`] reads them.

use crate::linux::seccomp::notify::{SYS_FCHMODAT2, WRITE_FLAGS};

/// A path argument: relative to a directory fd (`AT_FDCWD`: the working directory), or, with
/// a null pointer, the fd itself (`utimensat(fd, NULL, …)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg {
    pub dirfd: i32,
    pub ptr: u64,
}

/// What a notified syscall asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A filesystem change: the syscall's name, the open flags where it has them, and the
    /// paths it creates, changes or removes (one, or two for a rename).
    Write {
        op: &'static str,
        flags: Option<u32>,
        paths: Vec<PathArg>,
    },
    /// `openat2`: its flags are behind a pointer (`struct open_how`, flags first).
    OpenHow { path: PathArg, how: u64, size: u64 },
    /// `connect` or `bind` with a socket address of `len` bytes at `addr`.
    Socket {
        op: &'static str,
        addr: u64,
        len: u64,
    },
    /// `execve`/`execveat`: the program and its argument vector.
    Exec {
        op: &'static str,
        path: PathArg,
        argv: u64,
    },
    /// Nothing fence watches (a filter and a decoder out of step: answered CONTINUE).
    Other,
}

fn fd(arg: u64) -> i32 {
    arg as u32 as i32
}

fn at(dirfd: u64, ptr: u64) -> PathArg {
    PathArg {
        dirfd: fd(dirfd),
        ptr,
    }
}

fn cwd(ptr: u64) -> PathArg {
    PathArg {
        dirfd: libc::AT_FDCWD,
        ptr,
    }
}

fn write(op: &'static str, paths: Vec<PathArg>) -> Request {
    Request::Write {
        op,
        flags: None,
        paths,
    }
}

/// Decodes a notified syscall.
pub fn decode(nr: i64, a: [u64; 6]) -> Request {
    match nr {
        libc::SYS_openat => Request::Write {
            op: "openat",
            flags: Some(a[2] as u32),
            paths: vec![at(a[0], a[1])],
        },
        libc::SYS_openat2 => Request::OpenHow {
            path: at(a[0], a[1]),
            how: a[2],
            size: a[3],
        },
        libc::SYS_mkdirat => write("mkdirat", vec![at(a[0], a[1])]),
        libc::SYS_unlinkat => write("unlinkat", vec![at(a[0], a[1])]),
        libc::SYS_renameat2 => write("renameat2", vec![at(a[0], a[1]), at(a[2], a[3])]),
        libc::SYS_linkat => write("linkat", vec![at(a[2], a[3])]),
        libc::SYS_symlinkat => write("symlinkat", vec![at(a[1], a[2])]),
        libc::SYS_truncate => write("truncate", vec![cwd(a[0])]),
        libc::SYS_fchmodat => write("fchmodat", vec![at(a[0], a[1])]),
        SYS_FCHMODAT2 => write("fchmodat2", vec![at(a[0], a[1])]),
        libc::SYS_fchownat => write("fchownat", vec![at(a[0], a[1])]),
        libc::SYS_mknodat => write("mknodat", vec![at(a[0], a[1])]),
        libc::SYS_utimensat => write("utimensat", vec![at(a[0], a[1])]),
        libc::SYS_connect => Request::Socket {
            op: "connect",
            addr: a[1],
            len: a[2],
        },
        libc::SYS_bind => Request::Socket {
            op: "bind",
            addr: a[1],
            len: a[2],
        },
        libc::SYS_execve => Request::Exec {
            op: "execve",
            path: cwd(a[0]),
            argv: a[1],
        },
        libc::SYS_execveat => Request::Exec {
            op: "execveat",
            path: at(a[0], a[1]),
            argv: a[2],
        },
        _ => legacy(nr, a),
    }
}

/// The x86_64 syscalls without a directory fd.
#[cfg(target_arch = "x86_64")]
fn legacy(nr: i64, a: [u64; 6]) -> Request {
    match nr {
        libc::SYS_open => Request::Write {
            op: "open",
            flags: Some(a[1] as u32),
            paths: vec![cwd(a[0])],
        },
        libc::SYS_creat => Request::Write {
            op: "creat",
            flags: Some((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32),
            paths: vec![cwd(a[0])],
        },
        libc::SYS_mkdir => write("mkdir", vec![cwd(a[0])]),
        libc::SYS_rmdir => write("rmdir", vec![cwd(a[0])]),
        libc::SYS_unlink => write("unlink", vec![cwd(a[0])]),
        libc::SYS_rename => write("rename", vec![cwd(a[0]), cwd(a[1])]),
        libc::SYS_renameat => write("renameat", vec![at(a[0], a[1]), at(a[2], a[3])]),
        libc::SYS_link => write("link", vec![cwd(a[1])]),
        libc::SYS_symlink => write("symlink", vec![cwd(a[1])]),
        libc::SYS_chmod => write("chmod", vec![cwd(a[0])]),
        libc::SYS_chown => write("chown", vec![cwd(a[0])]),
        libc::SYS_lchown => write("lchown", vec![cwd(a[0])]),
        libc::SYS_mknod => write("mknod", vec![cwd(a[0])]),
        _ => Request::Other,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn legacy(_: i64, _: [u64; 6]) -> Request {
    Request::Other
}

/// Whether open flags write (the filter already checked; `openat2`'s are checked here).
pub fn writes(flags: u32) -> bool {
    flags & WRITE_FLAGS != 0
}

/// `O_WRONLY|O_CREAT|O_TRUNC`: the flags that say what an open does, for event lines.
pub fn describe_flags(flags: u32) -> String {
    let mode = match flags as i32 & libc::O_ACCMODE {
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    };
    let mut out = mode.to_string();
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
    ] {
        if flags as i32 & bit != 0 {
            out.push('|');
            out.push_str(name);
        }
    }
    if flags as i32 & libc::O_TMPFILE == libc::O_TMPFILE {
        out.push_str("|O_TMPFILE");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FDCWD: u64 = libc::AT_FDCWD as u32 as u64;

    #[test]
    fn path_arguments_are_found_where_each_syscall_keeps_them() {
        let flags = (libc::O_WRONLY | libc::O_CREAT) as u64;
        assert_eq!(
            decode(libc::SYS_openat, [FDCWD, 0x1000, flags, 0o644, 0, 0]),
            Request::Write {
                op: "openat",
                flags: Some(flags as u32),
                paths: vec![cwd(0x1000)],
            }
        );
        assert_eq!(
            decode(libc::SYS_renameat2, [3, 0x10, 4, 0x20, 0, 0]),
            write("renameat2", vec![at(3, 0x10), at(4, 0x20)])
        );
        // linkat and symlinkat create only their last path.
        assert_eq!(
            decode(libc::SYS_linkat, [3, 0x10, 4, 0x20, 0, 0]),
            write("linkat", vec![at(4, 0x20)])
        );
        assert_eq!(
            decode(libc::SYS_symlinkat, [0x10, 5, 0x20, 0, 0, 0]),
            write("symlinkat", vec![at(5, 0x20)])
        );
        // utimensat(fd, NULL, …) changes the fd itself.
        assert_eq!(
            decode(libc::SYS_utimensat, [7, 0, 0, 0, 0, 0]),
            write("utimensat", vec![at(7, 0)])
        );
        assert_eq!(
            decode(libc::SYS_execveat, [9, 0x30, 0x40, 0, 0, 0]),
            Request::Exec {
                op: "execveat",
                path: at(9, 0x30),
                argv: 0x40
            }
        );
        assert_eq!(
            decode(libc::SYS_connect, [3, 0x50, 16, 0, 0, 0]),
            Request::Socket {
                op: "connect",
                addr: 0x50,
                len: 16
            }
        );
        assert_eq!(decode(libc::SYS_read, [0; 6]), Request::Other);
        // A directory fd is an int: garbage above it is ignored, as by the kernel.
        assert_eq!(
            decode(libc::SYS_mkdirat, [FDCWD | 0xdead << 32, 0x10, 0, 0, 0, 0]),
            write("mkdirat", vec![cwd(0x10)])
        );
    }

    #[test]
    fn every_filtered_write_syscall_decodes() {
        for (name, nr, _) in crate::linux::seccomp::notify::write_syscalls() {
            match decode(nr, [1, 2, 3, 4, 5, 6]) {
                Request::Write { op, paths, .. } => {
                    assert_eq!(op, name);
                    assert!(!paths.is_empty(), "{name}");
                }
                Request::OpenHow { .. } => assert_eq!(name, "openat2"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn flags_are_described() {
        let f = |flags: i32| describe_flags(flags as u32);
        assert_eq!(
            f(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(f(libc::O_RDWR | libc::O_APPEND), "O_RDWR|O_APPEND");
        assert_eq!(
            f(libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL),
            "O_RDONLY|O_CREAT|O_EXCL"
        );
        assert_eq!(f(libc::O_TMPFILE | libc::O_WRONLY), "O_WRONLY|O_TMPFILE");
        assert!(writes(libc::O_APPEND as u32) && !writes(libc::O_CLOEXEC as u32));
    }
}
