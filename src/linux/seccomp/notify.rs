//! The second seccomp filter, installed only when someone listens: it hands the host fence
//! (through a user-notification listener) the syscalls that can break the policy, for `-m`
//! and `fence learn` (writes, direct connects) and for exec checks
//! (`command.runtimeExecPolicy: "argv"`).
//!
//! It decides nothing: the host answers CONTINUE (the mounts and Landlock still decide) or,
//! for a refused exec, EPERM. The enforcing filter ([`super::program`]) is installed first,
//! and the kernel lets the strictest answer win (ERRNO before USER_NOTIF), so a syscall it
//! refuses is never notified. What a policy cannot be broken by is filtered here, in BPF, so
//! it costs no round trip: an `open` without write intent above all (its flags are an
//! argument; `openat2` keeps them behind a pointer and is notified whole, rarely used).

use super::{
    Insn, JEQ_K, JSET_K, LD_W_ABS, NATIVE_ARCH, OFF_ARCH, OFF_NR, RET_ALLOW, RET_K, dispatch, jump,
    off_arg_low, stmt,
};

pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// `open` flags that write: the file, its size, or the directory (a new entry). O_TMPFILE
/// needs O_WRONLY or O_RDWR, so it is covered.
pub const WRITE_FLAGS: u32 =
    (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u32;

/// `fchmodat2` (Linux 6.6), the same number on every architecture.
pub const SYS_FCHMODAT2: i64 = 452;

/// What the host wants to see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watched {
    /// Syscalls that create, change or remove filesystem entries (`-m`, `learn`).
    pub writes: bool,
    /// `connect` and `bind` (`-m`, `learn`).
    pub sockets: bool,
    /// `execve` and `execveat` (exec checks).
    pub execs: bool,
    /// Without the listener the run is refused (`fence learn`; exec checks always are).
    #[serde(default)]
    pub required: bool,
}

impl Watched {
    pub fn any(self) -> bool {
        self.writes || self.sockets || self.execs
    }
}

/// How a watched syscall is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only when this argument has a write flag ([`WRITE_FLAGS`]).
    WriteFlagsIn(u32),
}

/// The syscalls that change filesystem entries, and when they are worth a round trip.
pub fn write_syscalls() -> Vec<(&'static str, i64, When)> {
    #[allow(unused_mut)]
    let mut list = vec![
        ("openat", libc::SYS_openat, When::WriteFlagsIn(2)),
        ("openat2", libc::SYS_openat2, When::Always),
        ("mkdirat", libc::SYS_mkdirat, When::Always),
        ("unlinkat", libc::SYS_unlinkat, When::Always),
        ("renameat2", libc::SYS_renameat2, When::Always),
        ("linkat", libc::SYS_linkat, When::Always),
        ("symlinkat", libc::SYS_symlinkat, When::Always),
        ("truncate", libc::SYS_truncate, When::Always),
        ("fchmodat", libc::SYS_fchmodat, When::Always),
        ("fchmodat2", SYS_FCHMODAT2, When::Always),
        ("fchownat", libc::SYS_fchownat, When::Always),
        ("mknodat", libc::SYS_mknodat, When::Always),
        ("utimensat", libc::SYS_utimensat, When::Always),
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        ("open", libc::SYS_open, When::WriteFlagsIn(1)),
        ("creat", libc::SYS_creat, When::Always),
        ("mkdir", libc::SYS_mkdir, When::Always),
        ("rmdir", libc::SYS_rmdir, When::Always),
        ("unlink", libc::SYS_unlink, When::Always),
        ("rename", libc::SYS_rename, When::Always),
        ("renameat", libc::SYS_renameat, When::Always),
        ("link", libc::SYS_link, When::Always),
        ("symlink", libc::SYS_symlink, When::Always),
        ("chmod", libc::SYS_chmod, When::Always),
        ("chown", libc::SYS_chown, When::Always),
        ("lchown", libc::SYS_lchown, When::Always),
        ("mknod", libc::SYS_mknod, When::Always),
    ]);
    list
}

fn watched_syscalls(watched: Watched) -> Vec<(i64, When)> {
    let mut list = Vec::new();
    if watched.writes {
        list.extend(write_syscalls().into_iter().map(|(_, nr, when)| (nr, when)));
    }
    if watched.sockets {
        list.extend([
            (libc::SYS_connect, When::Always),
            (libc::SYS_bind, When::Always),
        ]);
    }
    if watched.execs {
        list.extend([
            (libc::SYS_execve, When::Always),
            (libc::SYS_execveat, When::Always),
        ]);
    }
    list
}

/// The notification filter for `watched`. A foreign architecture is let through here: the
/// enforcing filter refuses it.
pub fn program(watched: Watched) -> Vec<Insn> {
    let notify = stmt(RET_K, RET_USER_NOTIF);
    let allow = stmt(RET_K, RET_ALLOW);
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, NATIVE_ARCH, 1, 0),
        allow,
        stmt(LD_W_ABS, OFF_NR),
    ];
    let cases = watched_syscalls(watched)
        .into_iter()
        .map(|(nr, when)| {
            let block = match when {
                When::Always => vec![notify],
                When::WriteFlagsIn(arg) => vec![
                    stmt(LD_W_ABS, off_arg_low(arg)),
                    jump(JSET_K, WRITE_FLAGS, 0, 1),
                    notify,
                    allow,
                ],
            };
            (nr as u32, block)
        })
        .collect();
    p.extend(dispatch::dispatch(cases, allow));
    p
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, well_formed};
    use super::*;

    const ALL: Watched = Watched {
        writes: true,
        sockets: true,
        execs: true,
        required: false,
    };

    fn decide(watched: Watched, nr: i64, args: [u64; 6]) -> u32 {
        run(&program(watched), nr, NATIVE_ARCH, args)
    }

    #[test]
    fn opens_are_notified_only_with_write_intent() {
        let at = |flags: i32| decide(ALL, libc::SYS_openat, [0, 0, flags as u64, 0, 0, 0]);
        assert_eq!(at(libc::O_RDONLY), RET_ALLOW);
        assert_eq!(
            at(libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY),
            RET_ALLOW
        );
        assert_eq!(
            at(libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_PATH),
            RET_ALLOW
        );
        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_RDONLY | libc::O_CREAT,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC,
            libc::O_TMPFILE | libc::O_WRONLY,
        ] {
            assert_eq!(at(flags), RET_USER_NOTIF, "openat flags {flags:#o}");
        }
        // The kernel reads the flags as an int: high garbage does not hide write intent, and
        // high bits alone do not add it.
        let high = |low: i32| [0, 0, low as u64 | 1 << 40, 0, 0, 0];
        assert_eq!(decide(ALL, libc::SYS_openat, high(0)), RET_ALLOW);
        assert_eq!(decide(ALL, libc::SYS_openat, high(1)), RET_USER_NOTIF);
        #[cfg(target_arch = "x86_64")]
        {
            let open = |flags: i32| decide(ALL, libc::SYS_open, [0, flags as u64, 0, 0, 0, 0]);
            assert_eq!(open(libc::O_RDONLY), RET_ALLOW);
            assert_eq!(open(libc::O_WRONLY | libc::O_CREAT), RET_USER_NOTIF);
            assert_eq!(decide(ALL, libc::SYS_creat, [0; 6]), RET_USER_NOTIF);
        }
        assert_eq!(decide(ALL, libc::SYS_openat2, [0; 6]), RET_USER_NOTIF);
    }

    #[test]
    fn only_what_is_watched_is_notified() {
        let writes = Watched {
            writes: true,
            ..Watched::default()
        };
        let execs = Watched {
            execs: true,
            ..Watched::default()
        };
        for (_, nr, _) in write_syscalls() {
            assert_eq!(decide(execs, nr, [0, 0, 1, 0, 0, 0]), RET_ALLOW);
            assert_eq!(decide(writes, nr, [1, 1, 1, 0, 0, 0]), RET_USER_NOTIF);
        }
        for nr in [libc::SYS_execve, libc::SYS_execveat] {
            assert_eq!(decide(writes, nr, [0; 6]), RET_ALLOW);
            assert_eq!(decide(execs, nr, [0; 6]), RET_USER_NOTIF);
        }
        for nr in [libc::SYS_connect, libc::SYS_bind] {
            assert_eq!(decide(writes, nr, [0; 6]), RET_ALLOW);
            assert_eq!(decide(ALL, nr, [0; 6]), RET_USER_NOTIF);
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_close,
            libc::SYS_fstat,
            libc::SYS_getdents64,
            libc::SYS_mmap,
        ] {
            assert_eq!(decide(ALL, nr, [1, 1, 1, 1, 1, 1]), RET_ALLOW, "{nr}");
        }
        assert!(!Watched::default().any());
    }

    #[test]
    fn foreign_architectures_are_left_to_the_enforcing_filter() {
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        // i386's number 5 is open: not ours to decide.
        assert_eq!(
            run(&program(ALL), 5, AUDIT_ARCH_I386, [0, 1, 0, 0, 0, 0]),
            RET_ALLOW
        );
    }

    #[test]
    fn program_is_well_formed() {
        for writes in [false, true] {
            for sockets in [false, true] {
                for execs in [false, true] {
                    well_formed(&program(Watched {
                        writes,
                        sockets,
                        execs,
                        required: false,
                    }));
                }
            }
        }
    }
}
