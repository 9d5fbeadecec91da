//! `-m` on macOS: Seatbelt reports each denial to the unified log, and `log stream`,
//! filtered to this run's tag (the profile's `(deny default (with message TAG))`), shows
//! them as they happen (`fence-go-behaviour.md` §6.3). This file has the pure parser of
//! those lines into plain data ([`Denial`]), a small adapter to the event sink, and the
//! `log stream` child itself: started before the command (fence waits for its first line,
//! its header, instead of sleeping) and drained when the command is gone.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::events::{Decision, Event, EventSink, Kind};
use crate::sys;

/// One denial, as plain data: the same fields as the Linux backend's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// `fs`, `net` or `mach`: the `[fence:KIND]` of the line.
    pub kind: &'static str,
    /// Always `deny` (Seatbelt logs only denials here).
    pub action: &'static str,
    /// The Seatbelt operation (`file-write-create`, `network-outbound`, `mach-lookup`).
    pub op: String,
    /// What it was applied to (a path, an address, a service name); may be empty.
    pub target: String,
    pub pid: u32,
    /// The process name.
    pub comm: String,
    /// The rule that denied it: the log does not say (None).
    pub rule: Option<String>,
}

/// Parses one line of `log stream --style compact` output; None for every line that is
/// not a denial worth showing (headers, other messages, the terminal's own devices,
/// duplicate reports, the system logger's and mDNSResponder's sockets).
///
/// A denial reads `… Sandbox: node(4242) deny(1) file-write-create /Users/u/.npmrc TAG`
/// (the tag is the profile's message, removed from the target).
pub fn parse_line(line: &str, tag: &str) -> Option<Denial> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.starts_with("Filtering") || line.starts_with("Timestamp") {
        return None;
    }
    if line.contains("duplicate report") {
        return None;
    }
    let rest = &line[line.find("Sandbox: ")? + "Sandbox: ".len()..];
    let deny = rest.find(") deny(")?;
    let (who, after) = (&rest[..deny], &rest[deny + ") deny(".len()..]);
    let open = who.rfind('(')?;
    let comm = who[..open].to_string();
    let pid: u32 = who[open + 1..].parse().ok()?;
    // `deny(1) OP DETAILS`: the count, then the operation.
    let after = after.split_once(") ")?.1;
    let (op, details) = after.split_once(' ').unwrap_or((after, ""));
    let mut target = details.trim();
    if !tag.is_empty() {
        target = target.trim_end_matches(tag).trim_end();
    }
    let kind = if op.starts_with("file-read") || op.starts_with("file-write") {
        "fs"
    } else if op.starts_with("network-") {
        "net"
    } else if op.starts_with("mach-") {
        "mach"
    } else {
        return None;
    };
    let noise = target.starts_with("/dev/tty")
        || target.starts_with("/dev/pts")
        || target.contains("mDNSResponder")
        || target.starts_with("/private/var/run/syslog");
    if noise || comm.is_empty() {
        return None;
    }
    Some(Denial {
        kind,
        action: "deny",
        op: op.to_string(),
        target: target.to_string(),
        pid,
        comm,
        rule: None,
    })
}

/// Passes a denial to the run's events: `[fence:fs] file-write-create denied:
/// /Users/u/.npmrc (node[4242]): denied by the sandbox profile`.
pub fn emit(events: &mut EventSink, d: &Denial) {
    let kind = match d.kind {
        "net" => Kind::Net,
        "mach" => Kind::Mach,
        _ => Kind::Fs,
    };
    events.record(&Event {
        kind,
        action: &d.op,
        op: &d.op,
        target: &d.target,
        pid: Some(d.pid),
        comm: Some(&d.comm),
        rule: "denied by the sandbox profile",
        decision: Decision::Denied,
    });
}

/// The `log stream` arguments for `tag` (no shell: the predicate is one argument). The Go
/// fence matched `ENDSWITH`; `CONTAINS` also keeps a denial whose message has text after
/// the tag, and the tag is unique to the run either way.
pub fn arguments(tag: &str) -> Vec<OsString> {
    [
        "stream",
        "--style",
        "compact",
        "--predicate",
        &format!("eventMessage CONTAINS \"{tag}\""),
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// A running `log stream` (or, in the tests, any program printing such lines).
pub struct LogStream {
    pid: libc::pid_t,
    out: OwnedFd,
    tag: String,
    pending: Vec<u8>,
    events: EventSink,
}

/// How long fence waits for `log stream`'s header before starting without it.
const HEADER_WAIT: Duration = Duration::from_secs(5);
/// At exit: denials reach the log a moment after they happen; fence reads until the
/// stream has been quiet this long, at most [`DRAIN_MAX`].
const DRAIN_QUIET: Duration = Duration::from_millis(250);
const DRAIN_MAX: Duration = Duration::from_secs(1);

impl LogStream {
    /// Starts `program args` with its stdout on a pipe, and returns once it printed its
    /// first line (or after [`HEADER_WAIT`], with a warning).
    ///
    /// It joins `group` (the watcher's, which kills it if fence dies) with the terminal's
    /// signals ignored: the group is the terminal's foreground while the command runs, and
    /// a Ctrl-C meant for the command must not end the stream.
    pub fn start(
        program: &std::ffi::CStr,
        args: &[OsString],
        tag: &str,
        group: Option<libc::pid_t>,
        events: EventSink,
    ) -> std::io::Result<LogStream> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let (read, write) = sys::pipe()?;
        let argv = sys::c_strings(
            std::iter::once(program.to_bytes().to_vec())
                .chain(args.iter().map(|a| a.as_bytes().to_vec())),
        )?;
        let envp = sys::c_strings(
            std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()),
        )?;
        // Ignored here for the spawn, inherited as ignored (fence catches none of them yet).
        let terminal = [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ];
        let was_ignored: Vec<bool> = terminal.iter().map(|&s| sys::is_ignored(s)).collect();
        for signal in terminal {
            sys::set_ignored(signal, true);
        }
        let spawned = sys::spawn_with(
            &sys::Spawn {
                path: program,
                argv: &argv,
                envp: &envp,
                dup2: &[(write.as_raw_fd(), 1)],
                sigmask: &sys::sigset(&[]),
                sigdefault: &sys::sigset(&[libc::SIGPIPE]),
                setsid: false,
                open: Some((0, c"/dev/null")),
            },
            &sys::SpawnMore {
                pgroup: group,
                start_suspended: false,
            },
        );
        for (signal, ignored) in terminal.into_iter().zip(was_ignored) {
            sys::set_ignored(signal, ignored);
        }
        let pid = spawned?;
        drop(write);
        let mut stream = LogStream {
            pid,
            out: read,
            tag: tag.to_string(),
            pending: Vec::new(),
            events,
        };
        let deadline = Instant::now() + HEADER_WAIT;
        while !stream.pending.contains(&b'\n') {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !stream.read_some(left) {
                log::warn!("log stream printed nothing yet: -m may miss the first denials");
                break;
            }
        }
        stream.take_lines();
        Ok(stream)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.out.as_fd()
    }

    /// Reads what is there (the fd is non-blocking in the host loop) and reports the
    /// complete lines.
    pub fn on_readable(&mut self) {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = sys::read(self.out.as_fd(), &mut buf) {
            self.pending.extend_from_slice(&buf[..n]);
        }
        self.take_lines();
    }

    /// Waits up to `timeout` for input and reads it; false on timeout or end of file.
    fn read_some(&mut self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.out),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the call.
        if unsafe { libc::poll(&mut pfd, 1, ms) } != 1 {
            return false;
        }
        let mut buf = [0u8; 8192];
        match sys::read(self.out.as_fd(), &mut buf) {
            Ok(n @ 1..) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            _ => false,
        }
    }

    fn take_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(denial) = parse_line(&String::from_utf8_lossy(&line), &self.tag) {
                emit(&mut self.events, &denial);
            }
        }
    }

    /// The command is gone: reads the denials still on their way, then stops the stream.
    pub fn finish(&mut self) {
        let start = Instant::now();
        while start.elapsed() < DRAIN_MAX && self.read_some(DRAIN_QUIET) {}
        self.take_lines();
        let _ = sys::kill(self.pid, libc::SIGTERM);
        let _ = sys::wait(self.pid);
        self.pid = 0;
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if self.pid > 0 {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::wait(self.pid);
        }
    }
}

#[cfg(test)]
#[path = "logstream_tests.rs"]
mod tests;
