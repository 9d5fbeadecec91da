//! The seccomp filter the init installs before starting the command: a hand-assembled
//! classic-BPF program, built by a pure function and checked by an interpreter in tests.
//!
//! Order: the architecture first (anything but the native one is refused, which also
//! closes the i386 `int 0x80` entry), then on x86_64 the x32 syscall range, then the deny
//! list (`EPERM`), then argument checks for `ioctl` (TIOCSTI, TIOCLINUX), `clone` and
//! `unshare` (namespace flags), `socket` and `socketpair` (an allow-list of address
//! families) and `personality` (only the harmless values), and `clone3` answers `ENOSYS` so
//! that libc falls back to the checkable `clone`. The syscall number is looked up by a
//! binary search ([`dispatch`]), so the kernel's checks at install time stay short.

mod dispatch;
pub mod notify;

/// One classic-BPF instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Instruction classes and fields (linux/filter.h, linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_K: u16 = 0x00;
const LD_W_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
const JEQ_K: u16 = BPF_JMP | 0x10 | BPF_K;
const JGE_K: u16 = BPF_JMP | 0x30 | BPF_K;
const JSET_K: u16 = BPF_JMP | 0x40 | BPF_K;
const RET_K: u16 = BPF_RET | BPF_K;

pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;

// struct seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_low(i: u32) -> u32 {
    16 + 8 * i // little-endian: the low 32 bits come first
}

#[cfg(target_arch = "x86_64")]
pub const NATIVE_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
pub const NATIVE_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// x32 syscalls share AUDIT_ARCH_X86_64 and are marked by this bit in the number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;
const EAFNOSUPPORT: u32 = libc::EAFNOSUPPORT as u32;
const EPROTONOSUPPORT: u32 = libc::EPROTONOSUPPORT as u32;

/// Namespace-creating `clone`/`unshare` flags (CLONE_NEWNS … CLONE_NEWNET, CLONE_NEWTIME).
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
const CLONE_NEWTIME: u32 = 0x80;

/// `personality` values that change nothing security-relevant: PER_LINUX, PER_LINUX32 and
/// the query value 0xffffffff.
const HARMLESS_PERSONALITIES: [u32; 3] = [0x0000, 0x0008, 0xffff_ffff];

/// Syscalls refused with EPERM, whatever their arguments.
pub fn denied_syscalls() -> Vec<(&'static str, i64)> {
    #[allow(unused_mut)]
    let mut list: Vec<(&str, i64)> = vec![
        // Reaching into another process (the init, with its control channel, above all):
        // its memory, its file descriptors, facts about them.
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("process_madvise", libc::SYS_process_madvise),
        ("kcmp", libc::SYS_kcmp),
        ("get_robust_list", libc::SYS_get_robust_list),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("setns", libc::SYS_setns),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("acct", libc::SYS_acct),
        ("syslog", libc::SYS_syslog),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("quotactl", libc::SYS_quotactl),
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
        ("uselib", libc::SYS_uselib),
    ]);
    list
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

fn ret_errno(errno: u32) -> Insn {
    stmt(RET_K, RET_ERRNO | errno)
}

/// What `socket` does with an address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Allow,
    /// Allowed for `NETLINK_ROUTE` only (interface and route queries, which `getaddrinfo`
    /// makes); other netlink protocols (sock_diag, audit, uevents…) are refused.
    RouteOnly,
    /// Refused by policy with EPERM (reduced isolation: no network namespace around it).
    Refuse,
}

/// The address families `socket` may create: everything else (AF_VSOCK, which no network
/// namespace isolates, AF_PACKET, AF_ALG, AF_BLUETOOTH, AF_KEY, AF_XDP, …) gets
/// EAFNOSUPPORT, as from a kernel without them. Without a network namespace (reduced
/// isolation) Unix and IP sockets are refused too: no network, and no way to reach the
/// host's Unix sockets (`socketpair` stays available).
fn socket_families(reduced: bool) -> [(u32, Family); 4] {
    let unix_and_ip = if reduced {
        Family::Refuse
    } else {
        Family::Allow
    };
    [
        (libc::AF_UNIX as u32, unix_and_ip),
        (libc::AF_INET as u32, unix_and_ip),
        (libc::AF_INET6 as u32, unix_and_ip),
        (libc::AF_NETLINK as u32, Family::RouteOnly),
    ]
}

const NETLINK_ROUTE: u32 = libc::NETLINK_ROUTE as u32;

/// The argument check for `socket(family, type, protocol)`.
fn socket_block(reduced: bool) -> Vec<Insn> {
    let families = socket_families(reduced);
    // Layout: load the family, one comparison per family, then the tail:
    //   +0 ret EAFNOSUPPORT   (no comparison matched)
    //   +1 load the protocol  (netlink)
    //   +2 protocol == NETLINK_ROUTE ? allow : next
    //   +3 ret EPROTONOSUPPORT
    //   +4 ret ALLOW
    //   +5 ret EPERM
    let tail = 1 + families.len();
    let (netlink, allow, refuse) = (tail + 1, tail + 4, tail + 5);
    let mut block = vec![stmt(LD_W_ABS, off_arg_low(0))];
    for (i, (family, verdict)) in families.into_iter().enumerate() {
        let target = match verdict {
            Family::Allow => allow,
            Family::RouteOnly => netlink,
            Family::Refuse => refuse,
        };
        let here = 1 + i;
        let offset = u8::try_from(target - here - 1).expect("short family list");
        block.push(jump(JEQ_K, family, offset, 0));
    }
    block.extend([
        ret_errno(EAFNOSUPPORT),
        stmt(LD_W_ABS, off_arg_low(2)),
        jump(JEQ_K, NETLINK_ROUTE, 1, 0),
        ret_errno(EPROTONOSUPPORT),
        stmt(RET_K, RET_ALLOW),
        ret_errno(EPERM),
    ]);
    block
}

/// `return if arg0 (low 32 bits) is one of values { matched } else { otherwise }`.
fn first_arg_in(values: &[u32], matched: Insn, otherwise: Insn) -> Vec<Insn> {
    let mut block = vec![stmt(LD_W_ABS, off_arg_low(0))];
    for (i, &value) in values.iter().enumerate() {
        // Jump over the remaining comparisons and the `otherwise` return.
        let to_match = u8::try_from(values.len() - i).expect("short value lists");
        block.push(jump(JEQ_K, value, to_match, 0));
    }
    block.extend([otherwise, matched]);
    block
}

/// The filter program. `reduced`: there is no network namespace (reduced isolation), so
/// Unix and IP sockets are refused too.
pub fn program(reduced: bool) -> Vec<Insn> {
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, NATIVE_ARCH, 1, 0),
        ret_errno(EPERM), // a foreign architecture (i386 via int 0x80, arm32 compat…)
        stmt(LD_W_ABS, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    p.extend([jump(JGE_K, X32_SYSCALL_BIT, 0, 1), ret_errno(EPERM)]);
    let mut cases: Vec<(u32, Vec<Insn>)> = denied_syscalls()
        .into_iter()
        .map(|(_, nr)| (nr as u32, vec![ret_errno(EPERM)]))
        .collect();
    cases.push((libc::SYS_clone3 as u32, vec![ret_errno(ENOSYS)]));
    cases.push((
        libc::SYS_ioctl as u32,
        vec![
            stmt(LD_W_ABS, off_arg_low(1)),
            jump(JEQ_K, libc::TIOCSTI as u32, 2, 0),
            jump(JEQ_K, libc::TIOCLINUX as u32, 1, 0),
            stmt(RET_K, RET_ALLOW),
            ret_errno(EPERM),
        ],
    ));
    // clone(flags, …) on x86_64 and aarch64 alike; unshare(flags).
    for (nr, mask) in [
        (libc::SYS_clone, NAMESPACE_FLAGS),
        (libc::SYS_unshare, NAMESPACE_FLAGS | CLONE_NEWTIME),
    ] {
        cases.push((
            nr as u32,
            vec![
                stmt(LD_W_ABS, off_arg_low(0)),
                jump(JSET_K, mask, 0, 1),
                ret_errno(EPERM),
                stmt(RET_K, RET_ALLOW),
            ],
        ));
    }
    cases.push((libc::SYS_socket as u32, socket_block(reduced)));
    // socketpair exists for AF_UNIX alone (the kernel refuses the others, but a family the
    // filter has not seen is not worth trusting to that).
    let block = first_arg_in(
        &[libc::AF_UNIX as u32],
        stmt(RET_K, RET_ALLOW),
        ret_errno(EAFNOSUPPORT),
    );
    cases.push((libc::SYS_socketpair as u32, block));
    let block = first_arg_in(
        &HARMLESS_PERSONALITIES,
        stmt(RET_K, RET_ALLOW),
        ret_errno(EPERM),
    );
    cases.push((libc::SYS_personality as u32, block));
    p.extend(dispatch::dispatch(cases, stmt(RET_K, RET_ALLOW)));
    p
}

#[cfg(test)]
#[allow(clippy::unnecessary_cast)] // ioctl numbers' type differs between targets
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions `program` uses.
    pub(super) fn run(prog: &[Insn], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
        steps(prog, nr, arch, args).0
    }

    /// What `prog` returns, and how many instructions it ran to get there.
    pub(super) fn steps(prog: &[Insn], nr: i64, arch: u32, args: [u64; 6]) -> (u32, usize) {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc, mut count) = (0usize, 0u32, 0usize);
        loop {
            let insn = prog[pc];
            pc += 1;
            count += 1;
            match insn.code {
                LD_W_ABS => {
                    let k = insn.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                RET_K => return (insn.k, count),
                dispatch::JA => pc += insn.k as usize,
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match insn.code {
                        JEQ_K => acc == insn.k,
                        JGE_K => acc >= insn.k,
                        _ => acc & insn.k != 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn decide(nr: i64, args: [u64; 6]) -> u32 {
        run(&program(false), nr, NATIVE_ARCH, args)
    }

    const EPERM_RET: u32 = RET_ERRNO | EPERM;

    #[test]
    fn denies_the_deny_list_and_allows_the_rest() {
        for (name, nr) in denied_syscalls() {
            assert_eq!(decide(nr, [0; 6]), EPERM_RET, "{name}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_kill,
            libc::SYS_pidfd_open,
            libc::SYS_pidfd_send_signal,
        ] {
            assert_eq!(decide(nr, [0; 6]), RET_ALLOW, "syscall {nr}");
        }
        assert_eq!(decide(libc::SYS_clone3, [0; 6]), RET_ERRNO | ENOSYS);
    }

    #[test]
    fn every_other_number_is_allowed_in_a_few_steps() {
        let denied: Vec<u32> = denied_syscalls().iter().map(|(_, nr)| *nr as u32).collect();
        let checked = [
            libc::SYS_clone3,
            libc::SYS_ioctl,
            libc::SYS_clone,
            libc::SYS_unshare,
            libc::SYS_socket,
            libc::SYS_socketpair,
            libc::SYS_personality,
        ];
        for reduced in [false, true] {
            let prog = program(reduced);
            for nr in 0..1024i64 {
                let (verdict, steps) = steps(&prog, nr, NATIVE_ARCH, [0; 6]);
                // The kernel runs this path for every number when the filter is installed.
                assert!(steps <= 24, "syscall {nr}: {steps} instructions");
                if denied.contains(&(nr as u32)) {
                    assert_eq!(verdict, EPERM_RET, "syscall {nr}");
                } else if !checked.contains(&nr) {
                    assert_eq!(verdict, RET_ALLOW, "syscall {nr}");
                }
            }
        }
    }

    #[test]
    fn checks_arguments() {
        let tiocsti = libc::TIOCSTI as u64;
        assert_eq!(decide(libc::SYS_ioctl, [0, tiocsti, 0, 0, 0, 0]), EPERM_RET);
        // The kernel reads the command as 32 bits: garbage above them must not help.
        assert_eq!(
            decide(libc::SYS_ioctl, [0, tiocsti | 1 << 40, 0, 0, 0, 0]),
            EPERM_RET
        );
        assert_eq!(
            decide(libc::SYS_ioctl, [0, libc::TIOCLINUX as u64, 0, 0, 0, 0]),
            EPERM_RET
        );
        assert_eq!(
            decide(libc::SYS_ioctl, [0, libc::TIOCGWINSZ as u64, 0, 0, 0, 0]),
            RET_ALLOW
        );
        let thread =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(decide(libc::SYS_clone, [thread, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            decide(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        for flag in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWPID,
        ] {
            assert_eq!(
                decide(libc::SYS_clone, [flag as u64 | thread, 0, 0, 0, 0, 0]),
                EPERM_RET
            );
            assert_eq!(
                decide(libc::SYS_unshare, [flag as u64, 0, 0, 0, 0, 0]),
                EPERM_RET
            );
        }
        assert_eq!(
            decide(libc::SYS_unshare, [CLONE_NEWTIME as u64, 0, 0, 0, 0, 0]),
            EPERM_RET
        );
        assert_eq!(
            decide(libc::SYS_unshare, [libc::CLONE_FILES as u64, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        for harmless in HARMLESS_PERSONALITIES {
            assert_eq!(
                decide(libc::SYS_personality, [harmless as u64, 0, 0, 0, 0, 0]),
                RET_ALLOW
            );
        }
        assert_eq!(
            decide(libc::SYS_personality, [0x0040000, 0, 0, 0, 0, 0]),
            EPERM_RET,
            "ADDR_NO_RANDOMIZE"
        );
    }

    #[test]
    fn foreign_architectures_and_x32_are_refused() {
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        assert_eq!(
            run(&program(false), libc::SYS_read, AUDIT_ARCH_I386, [0; 6]),
            EPERM_RET
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(decide(0x4000_0000 | libc::SYS_read, [0; 6]), EPERM_RET);
    }

    #[test]
    fn the_init_is_out_of_reach() {
        for name in [
            "pidfd_getfd",
            "process_madvise",
            "kcmp",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "get_robust_list",
        ] {
            let (_, nr) = denied_syscalls()
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not on the deny list"));
            for reduced in [false, true] {
                assert_eq!(
                    run(&program(reduced), nr, NATIVE_ARCH, [1, 3, 0, 0, 0, 0]),
                    EPERM_RET,
                    "{name}"
                );
            }
        }
    }

    const EAFNOSUPPORT_RET: u32 = RET_ERRNO | EAFNOSUPPORT;
    const EPROTONOSUPPORT_RET: u32 = RET_ERRNO | EPROTONOSUPPORT;

    #[test]
    fn socket_families_are_an_allow_list() {
        const AF_KEY: i32 = 15;
        const AF_XDP: i32 = 44;
        // (family, protocol, with a network namespace, reduced isolation)
        let cases: &[(i32, u64, u32, u32)] = &[
            (libc::AF_UNIX, 0, RET_ALLOW, EPERM_RET),
            (libc::AF_INET, 0, RET_ALLOW, EPERM_RET),
            (libc::AF_INET6, 6, RET_ALLOW, EPERM_RET),
            (libc::AF_NETLINK, 0, RET_ALLOW, RET_ALLOW), // NETLINK_ROUTE
            (
                libc::AF_NETLINK,
                4,
                EPROTONOSUPPORT_RET,
                EPROTONOSUPPORT_RET,
            ), // sock_diag
            (
                libc::AF_NETLINK,
                9,
                EPROTONOSUPPORT_RET,
                EPROTONOSUPPORT_RET,
            ), // audit
            (
                libc::AF_NETLINK,
                15,
                EPROTONOSUPPORT_RET,
                EPROTONOSUPPORT_RET,
            ), // uevents
            (libc::AF_VSOCK, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (libc::AF_PACKET, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (libc::AF_ALG, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (libc::AF_BLUETOOTH, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (AF_KEY, 2, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (AF_XDP, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (libc::AF_TIPC, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (libc::AF_UNSPEC, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET),
            (46, 0, EAFNOSUPPORT_RET, EAFNOSUPPORT_RET), // AF_MAX today
        ];
        for &(family, protocol, full, reduced) in cases {
            for (prog, want) in [(program(false), full), (program(true), reduced)] {
                let stream = libc::SOCK_STREAM as u64 | libc::SOCK_CLOEXEC as u64;
                let args = [family as u64, stream, protocol, 0, 0, 0];
                assert_eq!(
                    run(&prog, libc::SYS_socket, NATIVE_ARCH, args),
                    want,
                    "socket({family}, _, {protocol})"
                );
            }
        }
        // The kernel reads the family and protocol as 32 bits: high garbage does not help.
        let vsock = libc::AF_VSOCK as u64 | 1 << 32;
        assert_eq!(
            decide(libc::SYS_socket, [vsock, 1, 0, 0, 0, 0]),
            EAFNOSUPPORT_RET
        );
        let netlink = libc::AF_NETLINK as u64;
        assert_eq!(
            decide(libc::SYS_socket, [netlink, 3, 4 | 1 << 32, 0, 0, 0]),
            EPROTONOSUPPORT_RET
        );
    }

    #[test]
    fn socketpair_is_unix_only() {
        for reduced in [false, true] {
            let prog = program(reduced);
            let pair = |family: i32| {
                run(
                    &prog,
                    libc::SYS_socketpair,
                    NATIVE_ARCH,
                    [family as u64, 1, 0, 0, 0, 0],
                )
            };
            assert_eq!(pair(libc::AF_UNIX), RET_ALLOW);
            for family in [
                libc::AF_VSOCK,
                libc::AF_INET,
                libc::AF_TIPC,
                libc::AF_NETLINK,
            ] {
                assert_eq!(pair(family), EAFNOSUPPORT_RET, "{family}");
            }
        }
    }

    #[test]
    fn program_is_well_formed() {
        for prog in [program(false), program(true)] {
            well_formed(&prog);
        }
    }

    pub(super) fn well_formed(prog: &[Insn]) {
        assert!(prog.len() < 4096, "BPF_MAXINSNS");
        let prog = prog.to_vec();
        for (i, insn) in prog.iter().enumerate() {
            if matches!(insn.code, JEQ_K | JGE_K | JSET_K) {
                assert!(
                    i + 1 + usize::from(insn.jt.max(insn.jf)) < prog.len(),
                    "jump out of range at {i}"
                );
            }
            if insn.code == dispatch::JA {
                assert!(
                    i + 1 + (insn.k as usize) < prog.len(),
                    "jump out of range at {i}"
                );
            }
        }
        assert_eq!(prog.last().map(|i| i.code), Some(RET_K));
    }
}
