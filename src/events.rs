//! The `-m` event stream: the proxies' decisions as lines. With `-m`, one line per blocked
//! request; with debug notes enabled for the proxies (`-d`, or `FENCE_LOG=fence::proxy=debug`),
//! every decision. They go to stderr, or to `--fence-log-file`. This is fence's output, not
//! a diagnostic log: fence's own notes and warnings go through [`crate::diagnostics`].
//!
//! The lines quote what the sandbox asked for (methods, URLs, host names), so every line
//! is escaped ([`crate::output::escape`]) as it is written: a newline cannot start a forged
//! line, an escape sequence cannot reach a terminal.
//!
//! The log file is opened by the host fence, as the user, before the sandbox starts. A
//! sandbox that can write where the log lives could have replaced it since the last run,
//! so the file is opened without following a symbolic link and must be a regular file with
//! one link (not a FIFO, a device, or a hard link to `~/.bashrc`), owned by the user (or
//! root). A log the current policy
//! lets the sandbox write is made read-only inside the sandbox for this run, with a
//! warning; a directory on its path that is a symbolic link in a sandbox-writable place is
//! refused.
//!
//! Every refusal is also counted, whatever the level: fence prints one summary line of
//! them when the run ends (see [`summary`]).

mod event;
mod summary;

pub use event::{Decision, Event, Kind};

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::policy::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    /// `-m`: blocked requests.
    Blocked,
    /// Debug notes for the proxies: every decision.
    All,
}

/// Where the run's events go. Clones share the log file (a setup retry keeps the stream)
/// and the count of refused requests (the run keeps a clone to print the summary).
#[derive(Clone)]
pub struct EventSink {
    level: Level,
    file: Option<Arc<File>>,
    refused: Arc<Mutex<summary::Tally>>,
}

impl EventSink {
    /// The sink for a run. With a log file, `policy` is the run's policy: a log it lets
    /// the sandbox write is added to its read-only paths.
    pub fn new(monitor: bool, log_file: Option<&Path>, policy: &mut Policy) -> Result<EventSink> {
        let level = if log::log_enabled!(target: "fence::proxy", log::Level::Debug) {
            Level::All
        } else if monitor {
            Level::Blocked
        } else {
            Level::Quiet
        };
        EventSink::with_level(level, log_file, policy)
    }

    fn with_level(level: Level, log_file: Option<&Path>, policy: &mut Policy) -> Result<EventSink> {
        let file = match log_file {
            Some(path) => Some(Arc::new(open_log(path, policy)?)),
            None => None,
        };
        Ok(EventSink {
            level,
            file,
            refused: Arc::default(),
        })
    }

    pub fn quiet() -> EventSink {
        EventSink {
            level: Level::Quiet,
            file: None,
            refused: Arc::default(),
        }
    }

    /// An event. A denied one is counted for the summary and, with `-m`, shown; an allowed
    /// one is shown with debug notes for the proxies. For the proxies, the lines are
    /// `[fence:http] blocked CONNECT evil.example:443: not in allowedDomains` and
    /// `[fence:http] allowed CONNECT ok.example:443 (rule "ok.example")`; see [`Event::text`].
    /// Whether denials are shown as they happen (`-m`, `-d`).
    pub fn shows_denials(&self) -> bool {
        self.level >= Level::Blocked
    }

    pub fn record(&mut self, event: &Event<'_>) {
        let shown = match event.decision {
            Decision::Denied => {
                if event.kind.is_proxy() {
                    self.tally().add(event.target);
                }
                Level::Blocked
            }
            Decision::Allowed => Level::All,
        };
        if self.level >= shown {
            self.line(&event.text());
        }
    }

    /// Any other decision or event (debug only). The text is formatted only then.
    pub fn note(&mut self, source: &str, text: std::fmt::Arguments<'_>) {
        if self.level >= Level::All {
            self.line(&format!("[fence:{source}] {text}"));
        }
    }

    /// The line fence prints at exit when requests were refused (without the `fence: `
    /// prefix), escaped: `blocked 3 requests (registry.npmjs.org:443 ×2, example.com:443);
    /// -m shows each`. Where the per-request lines were printed (`-m`, `-d`), there is no
    /// hint. `None` when nothing was refused.
    pub fn summary(&self) -> Option<String> {
        let line = self.tally().describe()?;
        Some(if self.level >= Level::Blocked {
            line
        } else {
            format!("{line}; -m shows each")
        })
    }

    /// The count of refusals. Never panics: a poisoned lock still holds a usable count (it
    /// is only ever added to).
    fn tally(&self) -> std::sync::MutexGuard<'_, summary::Tally> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one line, escaped: fence's own words need no escaping, so only what came
    /// from outside changes.
    fn line(&mut self, line: &str) {
        let line = crate::output::escape(line);
        let written = match &self.file {
            // One write per line: O_APPEND keeps concurrent writers' lines whole.
            Some(file) => (&**file).write_all(format!("{line}\n").as_bytes()),
            None => writeln!(std::io::stderr(), "{line}"),
        };
        // A full disk or closed stderr must not take the proxy down.
        let _ = written;
    }
}

/// Opens (creating it, mode 0600) the log file for appending, refusing what a sandbox
/// could have put at its path; see the module documentation.
fn open_log(path: &Path, policy: &mut Policy) -> Result<File> {
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
    let mut out = PathBuf::from("/");
    let joined = cwd.join(path);
    for component in joined.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
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

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fence-events-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(&dir).unwrap()
    }

    /// A refused proxy request, as the proxies record it.
    fn blocked(sink: &mut EventSink, source: &str, label: &str, target: &str, rule: &str) {
        let kind = if source == "socks" {
            Kind::Socks
        } else {
            Kind::Http
        };
        sink.record(&Event {
            kind,
            action: label.split(' ').next().unwrap_or(""),
            op: label,
            target,
            pid: None,
            comm: None,
            rule,
            decision: Decision::Denied,
        });
    }

    fn policy_in(cwd: &Path) -> Policy {
        Policy {
            cwd: cwd.to_path_buf(),
            ..Policy::default()
        }
    }

    /// The sink for a setup retry is a clone: same level, same file (`-m` stays on).
    #[test]
    fn a_clone_keeps_level_and_file() {
        let dir = temp_dir("clone");
        let path = dir.join("log");
        let first = EventSink::with_level(Level::Blocked, Some(&path), &mut policy_in(&dir));
        let mut retry = first.unwrap().clone();
        blocked(
            &mut retry,
            "socks",
            "CONNECT b:2",
            "b:2",
            "not in allowedDomains",
        );
        retry.note("socks", format_args!("not at this level"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[fence:socks] blocked CONNECT b:2: not in allowedDomains\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every refusal is counted, at every level, in the tally the clones share; the hint
    /// to use -m is given only where the lines were not printed.
    #[test]
    fn clones_share_the_summary() {
        let mut policy = Policy::default();
        let run = EventSink::with_level(Level::Quiet, None, &mut policy).unwrap();
        assert_eq!(run.summary(), None);
        let mut proxy = run.clone();
        blocked(
            &mut proxy,
            "http",
            "CONNECT a.example:443",
            "a.example:443",
            "r",
        );
        blocked(
            &mut proxy,
            "socks",
            "CONNECT a.example:443",
            "a.example:443",
            "r",
        );
        blocked(
            &mut proxy,
            "http",
            "GET http://b.example/x",
            "b.example:80",
            "r",
        );
        assert_eq!(
            run.summary().unwrap(),
            "blocked 3 requests (a.example:443 ×2, b.example:80); -m shows each"
        );
        let dir = temp_dir("summary");
        let path = dir.join("log");
        let mut m = EventSink::with_level(Level::Blocked, Some(&path), &mut policy).unwrap();
        blocked(
            &mut m,
            "http",
            "CONNECT a.example:443",
            "a.example:443",
            "r",
        );
        assert_eq!(m.summary().unwrap(), "blocked 1 request (a.example:443)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn levels_and_file() {
        let dir = temp_dir("levels");
        let path = dir.join("log");
        let mut policy = policy_in(&dir);
        let mut m = EventSink::with_level(Level::Blocked, Some(&path), &mut policy).unwrap();
        blocked(
            &mut m,
            "http",
            "CONNECT evil.example:443",
            "evil.example:443",
            "not in allowedDomains",
        );
        m.note("http", format_args!("allowed CONNECT ok.example:443"));
        let mut d = EventSink::with_level(Level::All, Some(&path), &mut policy).unwrap();
        d.note("socks", format_args!("allowed CONNECT a:1"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[fence:http] blocked CONNECT evil.example:443: not in allowedDomains\n\
             [fence:socks] allowed CONNECT a:1\n"
        );
        assert_eq!(
            policy,
            policy_in(&dir),
            "a log outside writable paths changes nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_from_outside_stay_one_line() {
        let dir = temp_dir("escape");
        let path = dir.join("log");
        let mut m =
            EventSink::with_level(Level::Blocked, Some(&path), &mut policy_in(&dir)).unwrap();
        blocked(
            &mut m,
            "http",
            "GET http://x/\n[fence:http] allowed CONNECT evil:443",
            "x:80",
            "not in \u{1b}]0;T\u{7}allowedDomains",
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[fence:http] blocked GET http://x/\\n[fence:http] allowed CONNECT evil:443: not in \
             \\e]0;T\\x07allowedDomains\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_a_sandbox_could_plant_is_refused() {
        let dir = temp_dir("refuse");
        let target = dir.join("bashrc");
        std::fs::write(&target, "original\n").unwrap();
        let link = dir.join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let hard = dir.join("hard.log");
        std::fs::hard_link(&target, &hard).unwrap();
        let fifo = dir.join("fifo.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink(&sub, dir.join("via")).unwrap();
        let cases = [
            (link.clone(), "symbolic link"),
            (hard, "hard links"),
            (fifo, "not a regular file"),
            (dir.clone(), "cannot open"),
        ];
        for (path, why) in cases {
            let err = EventSink::with_level(Level::Blocked, Some(&path), &mut policy_in(&dir))
                .err()
                .unwrap_or_else(|| panic!("{} was accepted", path.display()));
            assert!(err.to_string().contains(why), "{}: {err}", path.display());
            assert_eq!(err.exit_code(), 125);
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "original\n");
        // A symlinked directory on the way: refused where the sandbox may write, followed
        // elsewhere.
        let mut writable = policy_in(&dir);
        writable.write.push(dir.clone());
        let via = dir.join("via/fence.log");
        let err = EventSink::with_level(Level::Blocked, Some(&via), &mut writable.clone()).err();
        assert!(err.is_some_and(|e| e.to_string().contains("symbolic link in a place")));
        assert!(EventSink::with_level(Level::Blocked, Some(&via), &mut policy_in(&dir)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_log_the_sandbox_may_write_becomes_read_only() {
        let dir = temp_dir("protect");
        let mut policy = policy_in(&dir);
        policy.write.push(dir.clone());
        EventSink::with_level(
            Level::Blocked,
            Some(Path::new("./a/../fence.log")),
            &mut policy,
        )
        .unwrap();
        assert_eq!(policy.deny_write, vec![dir.join("fence.log")]);
        // Already read-only: nothing to add.
        let mut protected = policy.clone();
        EventSink::with_level(Level::Blocked, Some(&dir.join("fence.log")), &mut protected)
            .unwrap();
        assert_eq!(protected, policy);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
