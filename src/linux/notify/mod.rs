//! The host's side of the seccomp user notification (the init installs the filter, see
//! [`crate::linux::seccomp::notify`], and passes its listener over the control channel): one
//! listener, one dispatcher in the host loop, for `-m`/`fence learn` (filesystem writes,
//! direct connects) and for exec checks (`command.runtimeExecPolicy: "argv"`).
//!
//! For each notification the dispatcher reads the syscall's arguments from the process's
//! memory, checks that the notification is still valid (the pid was not reused meanwhile),
//! and answers at once: CONTINUE for everything observed (the mounts and Landlock still
//! decide; monitoring never weakens or delays beyond the round trip), EPERM for an exec the
//! command policy refuses. What the policy predicts the kernel will deny becomes an event.
//!
//! The race, stated: memory read from another process can change after the read (another
//! thread of the process rewrites the path or argv before the kernel reads it again), so exec
//! checks are best-effort against a multi-threaded adversary. What narrows it: the preflight
//! already checked the command as written, path-mode masks still apply, and a program that
//! races its own exec is already running code of its choosing inside the sandbox.

mod decode;
mod memory;
mod sys;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::events::{Decision, Event, EventSink, Kind};
pub use crate::linux::seccomp::notify::Watched;
use crate::policy::Policy;
use crate::policy::exec_checks::ExecRules;
use crate::policy::verdict::Verdicts;
use decode::{PathArg, Request};
use memory::{MAX_PATH, Unreadable};
use sys::{Answer, Buffers, Notif};

/// What a run asks the dispatcher for.
#[derive(Clone, Default)]
pub struct Watch {
    pub watched: Watched,
    pub exec: Option<ExecRules>,
}

/// What the dispatcher checks and reports against.
pub struct Context {
    pub policy: Policy,
    pub events: EventSink,
    pub exec: Option<ExecRules>,
}

/// Refused execs remembered for deduplication; past this, lines repeat.
const MAX_EXEC_LINES: usize = 1024;

/// The dispatcher, served by the host loop.
pub struct Notifier {
    listener: OwnedFd,
    buffers: Buffers,
    verdicts: Verdicts,
    events: EventSink,
    exec: Option<ExecRules>,
    /// The last denied write (process, path), so that one attempt's second call on the same
    /// path is not counted again.
    last_denied: Option<(u32, std::path::PathBuf)>,
    /// Refused execs already shown (without -m, where the sink does not show them).
    exec_lines: std::collections::HashSet<(String, String)>,
    /// The init's notifications are fence's own doing: answered, never reported.
    init: Option<u32>,
    broken: bool,
}

impl Notifier {
    pub fn new(
        listener: OwnedFd,
        context: Context,
        init: Option<libc::pid_t>,
    ) -> std::io::Result<Notifier> {
        if let Err(e) = sys::prefer_sync_wake_up(listener.as_fd()) {
            log::debug!("seccomp notification: no synchronous wake-up ({e})");
        }
        Ok(Notifier {
            listener,
            buffers: Buffers::new()?,
            verdicts: Verdicts::new(context.policy),
            events: context.events,
            exec: context.exec,
            exec_lines: Default::default(),
            last_denied: None,
            init: init.and_then(|pid| u32::try_from(pid).ok()),
            broken: false,
        })
    }

    fn handle(&mut self, n: Notif) {
        let answer = if Some(n.pid) == self.init {
            Answer::Continue
        } else {
            match decode::decode(i64::from(n.nr), n.args) {
                Request::Exec { op, path, argv } => self.check_exec(n, op, path, argv),
                request => {
                    self.observe(n, request);
                    Answer::Continue
                }
            }
        };
        match self.buffers.send(self.listener.as_fd(), n.id, answer) {
            // The process went away (killed, or its syscall interrupted): nothing to answer.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => log::debug!("notification answer: {e}"),
            Ok(()) => {}
        }
    }

    /// Reads the path of `arg` as the process named it, absolute and clean.
    fn path(&self, n: &Notif, arg: PathArg) -> Option<std::path::PathBuf> {
        let bytes = if arg.ptr == 0 {
            None
        } else {
            Some(memory::read_string(n.pid, arg.ptr, MAX_PATH).ok()?)
        };
        memory::absolute(n.pid, arg, bytes.as_deref()).ok()
    }

    /// Reports what the policy predicts the kernel will deny.
    fn observe(&mut self, n: Notif, request: Request) {
        let (op, paths) = match request {
            Request::Write { op, flags, paths } => {
                let op = match flags {
                    Some(flags) => format!("{op} {}", decode::describe_flags(flags)),
                    None => op.to_string(),
                };
                (op, paths)
            }
            Request::OpenHow { path, how, size } => {
                let mut flags = [0u8; 8];
                let read = size >= 8 && sys::read_memory(n.pid, how, &mut flags).ok() == Some(8);
                let flags = u64::from_ne_bytes(flags) as u32;
                if !read || !decode::writes(flags) {
                    return;
                }
                (
                    format!("openat2 {}", decode::describe_flags(flags)),
                    vec![path],
                )
            }
            Request::Socket { op, addr, len } => return self.observe_socket(n, op, addr, len),
            Request::Exec { .. } | Request::Other => return,
        };
        let paths: Vec<_> = paths.into_iter().filter_map(|a| self.path(&n, a)).collect();
        if !sys::id_valid(self.listener.as_fd(), n.id) {
            return;
        }
        // `mkdir` of what exists fails with EEXIST before any permission matters (`mkdir -p`
        // tries every ancestor): not a denial.
        let creates_dir = op.starts_with("mkdir");
        for path in paths {
            if creates_dir && exists_in_root(n.pid, &path) {
                continue;
            }
            if let Some(denied) = self.verdicts.write(&path) {
                // One attempt often takes two calls on the same path (`touch`: open, then
                // utimensat; `cp`: open, then unlink): a process's back-to-back denials of
                // one path count once.
                let attempt = (n.pid, path.clone());
                if self.last_denied.as_ref() == Some(&attempt) {
                    continue;
                }
                self.last_denied = Some(attempt);
                let comm = comm(n.pid);
                self.events.record(&Event {
                    kind: Kind::Fs,
                    action: "write",
                    op: &op,
                    target: &String::from_utf8_lossy(path.as_os_str().as_bytes()),
                    pid: Some(n.pid),
                    comm: comm.as_deref(),
                    rule: denied.rule(),
                    decision: Decision::Denied,
                });
            }
        }
    }

    /// A `connect` to an address outside the sandbox's loopback (the network namespace has
    /// no route: only the proxies reach out), or to a masked host Unix socket; a `bind` of a
    /// Unix socket path where the sandbox may not write.
    fn observe_socket(&mut self, n: Notif, op: &'static str, addr: u64, len: u64) {
        let mut raw = [0u8; 110];
        let len = (len as usize).min(raw.len());
        let Ok(got) = sys::read_memory(n.pid, addr, &mut raw[..len]) else {
            return;
        };
        let Some(target) = socket_target(&raw[..got]) else {
            return;
        };
        if !sys::id_valid(self.listener.as_fd(), n.id) {
            return;
        }
        let (kind, action, rule) = match (&target, op) {
            (SocketTarget::Ip(ip), "connect") if !ip.ip().is_loopback() => {
                (Kind::Net, "connect", "use the proxy")
            }
            (SocketTarget::Path(path), "connect")
                if crate::policy::verdict::socket_masked(self.verdicts.policy(), path) =>
            {
                (Kind::Net, "connect", "host socket not in allowUnixSockets")
            }
            (SocketTarget::Path(path), "bind") => match self.verdicts.write(path) {
                Some(denied) => (Kind::Fs, "write", denied.rule()),
                None => return,
            },
            _ => return,
        };
        let comm = comm(n.pid);
        let shown = match &target {
            SocketTarget::Ip(ip) => ip.to_string(),
            SocketTarget::Path(path) => String::from_utf8_lossy(path.as_os_str().as_bytes()).into(),
        };
        self.events.record(&Event {
            kind,
            action,
            op,
            target: &shown,
            pid: Some(n.pid),
            comm: comm.as_deref(),
            rule,
            decision: Decision::Denied,
        });
    }

    /// The exec check: EPERM when the command policy refuses the program with its
    /// arguments; also when they cannot be read (fail closed).
    fn check_exec(&mut self, n: Notif, op: &'static str, path: PathArg, argv: u64) -> Answer {
        let Some(rules) = &self.exec else {
            return Answer::Continue;
        };
        let program = memory::read_string(n.pid, path.ptr, MAX_PATH);
        let args = memory::read_argv(n.pid, argv);
        if !sys::id_valid(self.listener.as_fd(), n.id) {
            return Answer::Continue; // gone: nothing runs
        }
        let (program, mut args) = match (program, args) {
            (Ok(program), Ok(args)) => (program, args),
            (Err(why), _) | (_, Err(why)) => {
                let why = match why {
                    Unreadable::Fault => "its arguments cannot be read",
                    Unreadable::TooLong => "its arguments are longer than fence checks",
                };
                self.exec_refused(&n, op, "(unreadable)", why);
                return Answer::Fail(libc::EPERM);
            }
        };
        if args.is_empty() {
            args.push(program.clone());
        }
        let words = |first: &[u8]| -> Vec<String> {
            std::iter::once(first)
                .chain(args.iter().skip(1).map(Vec::as_slice))
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        };
        // argv[0] is the caller's to choose: the program's own name is checked too (and the
        // name of the file it is a link to, for a multicall binary's name the check needs).
        let mut names = vec![args[0].clone(), program.clone()];
        let absolute = memory::absolute(n.pid, path, Some(&program));
        if let Some(real) = absolute
            .ok()
            .and_then(|p| sys::real_name_in_root(n.pid, &p))
        {
            names.push(real.as_bytes().to_vec());
        }
        // Rules name programs by their last path component: check each name once.
        let base = |name: &[u8]| -> Vec<u8> {
            name.rsplit(|&b| b == b'/').next().unwrap_or(name).to_vec()
        };
        let mut checked = Vec::new();
        names.retain(|name| {
            let b = base(name);
            let new = !checked.contains(&b);
            checked.push(b);
            new
        });
        for name in names {
            if let Err(mut refusal) = rules.commands.check_argv_with(&words(&name), &rules.ssh) {
                refusal.locate(&*rules.origin);
                // The command as it was run (argv[0] as given), not as it was matched.
                let shown = words(&args[0]).join(" ");
                let why = refusal.to_string();
                let why = why
                    .split_once(": ")
                    .map_or(why.as_str(), |(_, rest)| rest)
                    .to_string();
                self.exec_refused(&n, op, &shown, &why);
                return Answer::Fail(libc::EPERM);
            }
        }
        Answer::Continue
    }

    /// A refused exec: always shown (the command fails with EPERM and the user must see
    /// why), and recorded as an event.
    fn exec_refused(&mut self, n: &Notif, op: &str, command: &str, why: &str) {
        let comm = comm(n.pid);
        let event = Event {
            kind: Kind::Exec,
            action: "exec",
            op,
            target: command,
            pid: Some(n.pid),
            comm: comm.as_deref(),
            rule: why,
            decision: Decision::Denied,
        };
        // A shell tries each PATH directory in turn: one line per refused command and rule.
        let key = (command.to_string(), why.to_string());
        if !self.events.shows_denials() && !self.exec_lines.contains(&key) {
            if self.exec_lines.len() < MAX_EXEC_LINES {
                self.exec_lines.insert(key);
            }
            crate::output::stderr(&format!("{}\n", crate::output::escape(&event.text())));
        }
        self.events.record(&event);
    }
}

impl crate::host::Watcher for Notifier {
    fn fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    fn on_readable(&mut self) {
        // The receive call blocks when nothing waits: take only what poll says is there.
        while !self.broken && crate::sys::readable_now(self.listener.as_fd()) {
            match self.buffers.recv(self.listener.as_fd()) {
                Ok(n) => self.handle(n),
                // Gone meanwhile (killed, interrupted): its notification went with it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {}
                Err(e) => {
                    log::warn!("cannot read seccomp notifications ({e}); -m stops showing events");
                    self.broken = true;
                }
            }
        }
    }
}

/// Whether `path` (as process `pid` names it) exists in its mount namespace.
fn exists_in_root(pid: u32, path: &std::path::Path) -> bool {
    let inside = std::path::Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(path.strip_prefix("/").unwrap_or(path));
    inside.symlink_metadata().is_ok()
}

/// The process's name (`/proc/PID/comm`), if it is still there.
fn comm(pid: u32) -> Option<String> {
    let name = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    let name = name.strip_suffix(b"\n").unwrap_or(&name);
    Some(String::from_utf8_lossy(name).into_owned())
}

/// Where a socket address points.
#[derive(Debug, PartialEq, Eq)]
enum SocketTarget {
    Ip(std::net::SocketAddr),
    Path(std::path::PathBuf),
}

/// The address in a `struct sockaddr` (IPv4, IPv6, or a Unix socket path; an abstract
/// Unix address or another family gives None).
fn socket_target(raw: &[u8]) -> Option<SocketTarget> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    let family = i32::from(u16::from_ne_bytes(raw.get(..2)?.try_into().ok()?));
    let port = || Some(u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?));
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = raw.get(4..8)?.try_into().ok()?;
            Some(SocketTarget::Ip(SocketAddr::from((
                Ipv4Addr::from(ip),
                port()?,
            ))))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
            let ip = Ipv6Addr::from(ip);
            // An IPv4-mapped address is where IPv4 goes.
            let ip = ip.to_ipv4_mapped().map_or(ip.into(), Into::into);
            Some(SocketTarget::Ip(SocketAddr::new(ip, port()?)))
        }
        libc::AF_UNIX => {
            let path = raw.get(2..)?;
            if path.first().is_none_or(|&b| b == 0) {
                return None; // abstract (the network namespace isolates it) or unnamed
            }
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Some(SocketTarget::Path(memory::path_of(path[..end].to_vec())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_are_read() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[140, 82, 112, 3]);
        assert_eq!(
            socket_target(&v4),
            Some(SocketTarget::Ip("140.82.112.3:443".parse().unwrap()))
        );
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&80u16.to_be_bytes());
        v6[8..24].copy_from_slice(
            &"::ffff:10.0.0.1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(
            socket_target(&v6),
            Some(SocketTarget::Ip("10.0.0.1:80".parse().unwrap()))
        );
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend_from_slice(b"/run/docker.sock\0junk");
        assert_eq!(
            socket_target(&unix),
            Some(SocketTarget::Path("/run/docker.sock".into()))
        );
        let mut abstract_ = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abstract_.extend_from_slice(b"\0name");
        assert_eq!(socket_target(&abstract_), None);
        assert_eq!(socket_target(&[1]), None);
        assert_eq!(socket_target(&v4[..6]), None);
    }
}
