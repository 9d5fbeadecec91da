//! Landlock, the second filesystem layer: rules mirroring the compiled policy (pure), and
//! the ABI arithmetic that fits them to the running kernel.
//!
//! The mount plan decides what exists and what is read-only; Landlock independently allows
//! reading and executing only where the policy lets the sandbox read, and writing only in
//! `allowWrite`, `/tmp` and the device nodes. Landlock only grants, so deny rules inside
//! allowed trees stay the mount plan's job. That includes the run-time command denies: the
//! mount plan covers each denied executable with a read-only mode-0444 file, whose exec the
//! kernel refuses before Landlock is asked, so the EXECUTE right granted on the readable
//! trees cannot re-enable it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::Policy;

// Filesystem access rights (linux/landlock.h), with the ABI that introduced them.
pub const EXECUTE: u64 = 1 << 0;
pub const WRITE_FILE: u64 = 1 << 1;
pub const READ_FILE: u64 = 1 << 2;
pub const READ_DIR: u64 = 1 << 3;
pub const REMOVE_DIR: u64 = 1 << 4;
pub const REMOVE_FILE: u64 = 1 << 5;
pub const MAKE_CHAR: u64 = 1 << 6;
pub const MAKE_DIR: u64 = 1 << 7;
pub const MAKE_REG: u64 = 1 << 8;
pub const MAKE_SOCK: u64 = 1 << 9;
pub const MAKE_FIFO: u64 = 1 << 10;
pub const MAKE_BLOCK: u64 = 1 << 11;
pub const MAKE_SYM: u64 = 1 << 12;
pub const REFER: u64 = 1 << 13; // ABI 2
pub const TRUNCATE: u64 = 1 << 14; // ABI 3
pub const IOCTL_DEV: u64 = 1 << 15; // ABI 5

// Scopes (ABI 6).
pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
pub const SCOPE_SIGNAL: u64 = 1 << 1;

pub const READ: u64 = READ_FILE | READ_DIR | EXECUTE;
/// Everything a writable directory allows (no device nodes: MAKE_CHAR, MAKE_BLOCK).
pub const WRITE: u64 = WRITE_FILE
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_DIR
    | MAKE_REG
    | MAKE_SOCK
    | MAKE_FIFO
    | MAKE_SYM
    | REFER
    | TRUNCATE;
/// Using device nodes: read, write, ioctl; no creating or removing.
pub const DEVICE: u64 = READ_FILE | READ_DIR | WRITE_FILE | TRUNCATE | IOCTL_DEV;
/// Rights that only make sense on directories (the kernel rejects them on files).
const DIR_ONLY: u64 = READ_DIR
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_CHAR
    | MAKE_DIR
    | MAKE_REG
    | MAKE_SOCK
    | MAKE_FIFO
    | MAKE_BLOCK
    | MAKE_SYM
    | REFER;

/// The filesystem rights a kernel with this Landlock ABI understands.
pub fn handled_fs(abi: u32) -> u64 {
    let mut all = (1 << 13) - 1; // ABI 1: EXECUTE ..= MAKE_SYM
    if abi >= 2 {
        all |= REFER;
    }
    if abi >= 3 {
        all |= TRUNCATE;
    }
    if abi >= 5 {
        all |= IOCTL_DEV;
    }
    all
}

/// TCP bind and connect (ABI 4): handled without rules, they are refused entirely.
pub const NET_TCP: u64 = 0b11;

/// The network rights to handle: all TCP when there is no network namespace to rely on.
pub fn handled_net(abi: u32, no_netns: bool) -> u64 {
    if no_netns && abi >= 4 { NET_TCP } else { 0 }
}

/// The scopes a kernel with this ABI understands.
pub fn scopes(abi: u32) -> u64 {
    if abi >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    }
}

/// The rights to request for a rule on a directory or a file under this ABI.
pub fn fit(access: u64, abi: u32, is_dir: bool) -> u64 {
    let access = access & handled_fs(abi);
    if is_dir { access } else { access & !DIR_ONLY }
}

/// One path-beneath rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Sent as bytes: a path need not be UTF-8.
    #[serde(with = "path_bytes")]
    pub path: PathBuf,
    pub access: u64,
}

/// (De)serializes a path as its bytes.
mod path_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        path.as_os_str().as_bytes().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Vec::<u8>::deserialize(d).map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
    }
}

/// The rules for `policy`, as paths inside the sandbox (where every path sits at its host
/// location).
pub fn rules(policy: &Policy) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut rule = |path: &Path, access: u64| {
        out.push(Rule {
            path: path.to_path_buf(),
            access,
        })
    };
    if policy.default_deny_read {
        // Listing directories is harmless (only allowed paths are mounted); reading and
        // executing stays limited to the readable roots.
        rule(Path::new("/"), READ_DIR);
        for root in &policy.read {
            rule(root, READ);
        }
        rule(Path::new("/proc"), READ);
    } else {
        rule(Path::new("/"), READ);
    }
    rule(Path::new("/dev"), DEVICE);
    rule(Path::new("/dev/shm"), READ | WRITE);
    rule(Path::new("/tmp"), READ | WRITE);
    for path in &policy.write {
        rule(path, READ | WRITE);
    }
    out
}

/// The device nodes a sandbox may use when Landlock alone guards `/dev` (no fresh `/dev`).
const MINIMAL_DEVICES: [&str; 8] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// The rules when there is no mount namespace (reduced isolation): Landlock alone must keep
/// `denyRead` paths and the host's devices out of reach. Landlock only grants, so an
/// excluded path's ancestors get no grant of their own: their other children are granted
/// one by one (the ancestors themselves may only be listed). `list` reads a directory.
/// Write denies inside writable roots cannot be expressed this way (creating files in the
/// root would have to be refused); the caller checks those separately.
pub fn reduced_rules(
    policy: &Policy,
    scratch: &Path,
    list: &dyn Fn(&Path) -> Vec<PathBuf>,
) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut hidden: Vec<&Path> = policy.deny_read.iter().map(|t| t.path.as_path()).collect();
    let dev = Path::new("/dev");
    if !policy.host_devices {
        hidden.push(dev);
    }
    let roots: Vec<&Path> = if policy.default_deny_read {
        policy.read.iter().map(PathBuf::as_path).collect()
    } else {
        vec![Path::new("/")]
    };
    for root in roots {
        grant_except(&mut out, root, READ, &hidden, list);
    }
    if policy.host_devices {
        out.push(Rule {
            path: dev.into(),
            access: DEVICE,
        });
    } else {
        let allowed = MINIMAL_DEVICES
            .iter()
            .map(PathBuf::from)
            .chain(policy.devices.iter().cloned());
        out.extend(allowed.map(|path| Rule {
            path,
            access: DEVICE,
        }));
    }
    let mut writable: Vec<&Path> = policy.write.iter().map(PathBuf::as_path).collect();
    writable.push(scratch);
    if policy.tmp_shared {
        writable.push(Path::new("/tmp"));
    }
    for root in writable {
        grant_except(&mut out, root, READ | WRITE, &hidden, list);
    }
    out
}

fn grant_except(
    out: &mut Vec<Rule>,
    dir: &Path,
    access: u64,
    hidden: &[&Path],
    list: &dyn Fn(&Path) -> Vec<PathBuf>,
) {
    if hidden.iter().any(|h| dir.starts_with(h)) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(dir)) {
        out.push(Rule {
            path: dir.to_path_buf(),
            access,
        });
        return;
    }
    if access & READ_DIR != 0 {
        out.push(Rule {
            path: dir.to_path_buf(),
            access: READ_DIR,
        });
    }
    for child in list(dir) {
        grant_except(out, &child, access, hidden, list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_carry_paths_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let rule = Rule {
            path: Path::new(std::ffi::OsStr::from_bytes(b"/w/ws-\xff")).into(),
            access: READ,
        };
        let json = serde_json::to_vec(&rule).unwrap();
        assert_eq!(serde_json::from_slice::<Rule>(&json).unwrap(), rule);
    }

    #[test]
    fn abi_fitting() {
        assert_eq!(handled_fs(1), 0x1fff);
        assert_eq!(handled_fs(2) & REFER, REFER);
        assert_eq!(handled_fs(2) & TRUNCATE, 0);
        assert_eq!(handled_fs(7), 0xffff);
        assert_eq!(
            fit(READ | WRITE, 1, true),
            (READ | WRITE) & !(REFER | TRUNCATE)
        );
        assert_eq!(
            fit(READ | WRITE, 7, false),
            READ_FILE | EXECUTE | WRITE_FILE | TRUNCATE
        );
        assert_eq!(fit(DEVICE, 4, false), READ_FILE | WRITE_FILE | TRUNCATE);
        assert_eq!(scopes(5), 0);
        assert_eq!(scopes(6), SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL);
    }

    #[test]
    fn reduced_rules_grant_around_hidden_paths() {
        use crate::policy::Target;
        let tree = |dir: &Path| -> Vec<PathBuf> {
            let names: &[&str] = match dir.to_str().unwrap() {
                "/" => &["/dev", "/etc", "/home", "/usr"],
                "/home" => &["/home/a", "/home/u"],
                "/home/u" => &["/home/u/.ssh", "/home/u/src"],
                _ => &[],
            };
            names.iter().map(PathBuf::from).collect()
        };
        let policy = Policy {
            deny_read: vec![Target {
                path: "/home/u/.ssh".into(),
                is_dir: true,
            }],
            write: vec!["/home/u/src".into()],
            ..Policy::default()
        };
        let rules = reduced_rules(&policy, Path::new("/tmp/fence-1"), &tree);
        let find = |p: &str| {
            rules
                .iter()
                .filter(|r| r.path == Path::new(p))
                .map(|r| r.access)
                .collect::<Vec<_>>()
        };
        assert_eq!(find("/"), [READ_DIR]);
        assert_eq!(find("/home"), [READ_DIR]);
        assert_eq!(find("/home/u"), [READ_DIR]);
        assert_eq!(find("/etc"), [READ]);
        assert_eq!(find("/home/a"), [READ]);
        assert!(find("/home/u/.ssh").is_empty());
        assert!(
            find("/dev").is_empty(),
            "the host's /dev is not granted wholesale"
        );
        assert_eq!(find("/dev/null"), [DEVICE]);
        assert_eq!(find("/home/u/src"), [READ, READ | WRITE]);
        assert_eq!(find("/tmp/fence-1"), [READ | WRITE]);
    }

    #[test]
    fn rules_mirror_the_policy() {
        let policy = Policy {
            write: vec!["/w".into()],
            ..Policy::default()
        };
        let paths: Vec<(String, u64)> = rules(&policy)
            .into_iter()
            .map(|r| (r.path.display().to_string(), r.access))
            .collect();
        assert_eq!(
            paths,
            [
                ("/".to_string(), READ),
                ("/dev".to_string(), DEVICE),
                ("/dev/shm".to_string(), READ | WRITE),
                ("/tmp".to_string(), READ | WRITE),
                ("/w".to_string(), READ | WRITE),
            ]
        );
        let ddr = Policy {
            default_deny_read: true,
            read: vec!["/usr".into()],
            ..Policy::default()
        };
        let r = rules(&ddr);
        assert_eq!(
            r[0],
            Rule {
                path: "/".into(),
                access: READ_DIR
            }
        );
        assert!(r.contains(&Rule {
            path: "/usr".into(),
            access: READ
        }));
        assert!(
            !r.iter()
                .any(|x| x.path == Path::new("/") && x.access & READ_FILE != 0)
        );
    }
}
