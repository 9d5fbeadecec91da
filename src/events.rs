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
//!
//! Every event comes in through [`EventSink::record`] ([`Event`]: the proxies' decisions,
//! and the filesystem, direct-network and exec events of the seccomp listener). With `-m`,
//! a denied event is shown once per distinct (kind, action, target, rule) when it first
//! happens; repeats are counted, and when the run ends each event that repeated is shown
//! once more with its total, `… (×3)` (in JSON, `"count":3`). `--log-format json` writes
//! JSON lines instead of text ([`json`]). For `fence learn`, the sink also keeps every
//! distinct event, allowed or denied ([`EventSink::collect`]).

mod event;
mod json;
mod log_file;
mod seen;
mod summary;

pub use event::{Decision, Event, Kind};
pub use json::string as json_string;

/// Now, in RFC 3339 (UTC, milliseconds), as in the JSON lines.
pub fn rfc3339_now() -> String {
    json::rfc3339(SystemTime::now())
}
pub use seen::{Kept, cut as cut_text};

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::error::Result;
use crate::policy::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    /// `-m`: blocked requests.
    Blocked,
    /// Debug notes for the proxies: every decision.
    All,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl Format {
    /// `text` or `json`, as given to `--log-format`.
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Where the run's events go. Clones share the log file (a setup retry keeps the stream)
/// and what was counted and kept (the run keeps a clone to print the summary).
#[derive(Clone)]
pub struct EventSink {
    level: Level,
    format: Format,
    file: Option<Arc<File>>,
    state: Arc<Mutex<State>>,
}

/// What the clones of a sink share.
#[derive(Debug, Default)]
struct State {
    /// Every denial, for the exit summary.
    tally: summary::Tally,
    /// The denials shown (with `-m`), to show each once.
    shown: seen::Seen,
    /// For `fence learn`: every distinct event.
    collected: Option<seen::Seen>,
}

impl EventSink {
    /// The sink for a run. With a log file, `policy` is the run's policy: a log it lets
    /// the sandbox write is added to its read-only paths.
    pub fn new(
        monitor: bool,
        format: Format,
        log_file: Option<&Path>,
        policy: &mut Policy,
    ) -> Result<EventSink> {
        let level = if log::log_enabled!(target: "fence::proxy", log::Level::Debug) {
            Level::All
        } else if monitor {
            Level::Blocked
        } else {
            Level::Quiet
        };
        let mut sink = EventSink::with_level(level, log_file, policy)?;
        sink.format = format;
        Ok(sink)
    }

    fn with_level(level: Level, log_file: Option<&Path>, policy: &mut Policy) -> Result<EventSink> {
        let file = match log_file {
            Some(path) => Some(Arc::new(log_file::open(path, policy)?)),
            None => None,
        };
        Ok(EventSink {
            level,
            format: Format::Text,
            file,
            state: Arc::default(),
        })
    }

    pub fn quiet() -> EventSink {
        EventSink {
            level: Level::Quiet,
            format: Format::Text,
            file: None,
            state: Arc::default(),
        }
    }

    /// From now on, every distinct event is kept (bounded) for [`EventSink::collected`]:
    /// what `fence learn` writes its config from. Shared with the clones.
    pub fn collect(&mut self) {
        self.state().collected.get_or_insert_with(Default::default);
    }

    /// The distinct events kept since [`EventSink::collect`], in the order first seen,
    /// each with how often it happened, and how many events were not kept (the table was
    /// full).
    pub fn collected(&self) -> (Vec<(Kept, u64)>, u64) {
        match &self.state().collected {
            Some(seen) => (seen.all().to_vec(), seen.untracked()),
            None => (Vec::new(), 0),
        }
    }

    /// Whether denials are shown as they happen (`-m`, `-d`).
    pub fn shows_denials(&self) -> bool {
        self.level >= Level::Blocked
    }

    /// An event. A denied one is counted for the summary and, with `-m`, shown; an allowed
    /// one is shown with debug notes for the proxies. For the proxies, the lines are
    /// `[fence:http] blocked CONNECT evil.example:443: not in allowedDomains` and
    /// `[fence:http] allowed CONNECT ok.example:443 (rule "ok.example")`; see [`Event::text`].
    ///
    /// A denied event is shown once: its repeats are counted, and shown by
    /// [`EventSink::finish`]. Allowed events are not deduplicated (they are debug notes).
    pub fn record(&mut self, event: &Event<'_>) {
        let mut state = self.state();
        if event.decision == Decision::Denied {
            if event.kind.is_proxy() {
                state.tally.add(event.target);
            } else {
                state.tally.add_other(event.kind, event.action);
            }
        }
        if let Some(collected) = &mut state.collected {
            collected.add(event);
        }
        let show = match event.decision {
            Decision::Denied => {
                self.level >= Level::Blocked && state.shown.add(event) != seen::Found::Again
            }
            Decision::Allowed => self.level >= Level::All,
        };
        drop(state);
        if show {
            self.event_line(event, 1);
        }
    }

    /// At the end of the run: each denied event shown that happened again, once more with
    /// its count. A second call shows nothing new.
    pub fn finish(&mut self) {
        let repeated = self.state().shown.take_repeated();
        for (kept, count) in repeated {
            self.event_line(&kept.event(), count);
        }
    }

    /// Writes the line of `event`, which had happened `count` times.
    fn event_line(&mut self, event: &Event<'_>, count: u64) {
        match self.format {
            Format::Text if count > 1 => self.line(&format!("{} (×{count})", event.text())),
            Format::Text => self.line(&event.text()),
            Format::Json => {
                let line = json::event_line(event, count, SystemTime::now());
                self.write(&line);
            }
        }
    }

    /// Any other decision or event (debug only). The text is formatted only then.
    pub fn note(&mut self, source: &str, text: std::fmt::Arguments<'_>) {
        if self.level >= Level::All {
            match self.format {
                Format::Text => self.line(&format!("[fence:{source}] {text}")),
                Format::Json => {
                    let line = json::note_line(source, &text.to_string(), SystemTime::now());
                    self.write(&line);
                }
            }
        }
    }

    /// The line fence prints at exit when anything was denied (without the `fence: `
    /// prefix), escaped: `blocked 3 requests (registry.npmjs.org:443 ×2, example.com:443);
    /// -m shows each`, or with denials other than proxy requests `denied 1 request
    /// (example.com:443), 2 writes (exit status 0)`; `status` says how the command ended.
    /// Where the per-request lines were printed (`-m`, `-d`), there is no hint. `None`
    /// when nothing was denied.
    pub fn summary(&self, status: &str) -> Option<String> {
        let line = self.state().tally.describe(status)?;
        Some(if self.level >= Level::Blocked {
            line
        } else {
            format!("{line}; -m shows each")
        })
    }

    /// The shared state. Never panics: a poisoned lock still holds usable counts (they are
    /// only ever added to).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one line, escaped: fence's own words need no escaping, so only what came
    /// from outside changes.
    fn line(&mut self, line: &str) {
        let line = crate::output::escape(line);
        self.write(&line);
    }

    /// Writes one line as it is (a JSON line, already escaped).
    fn write(&mut self, line: &str) {
        let written = match &self.file {
            // One write per line: O_APPEND keeps concurrent writers' lines whole.
            Some(file) => (&**file).write_all(format!("{line}\n").as_bytes()),
            None => writeln!(std::io::stderr(), "{line}"),
        };
        // A full disk or closed stderr must not take the proxy down.
        let _ = written;
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
        assert_eq!(run.summary("exit status 0"), None);
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
            run.summary("exit status 0").unwrap(),
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
        assert_eq!(
            m.summary("exit status 0").unwrap(),
            "blocked 1 request (a.example:443)"
        );
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

    fn write_event<'a>(target: &'a str, pid: u32) -> Event<'a> {
        Event {
            kind: Kind::Fs,
            action: "write",
            op: "openat O_WRONLY|O_CREAT",
            target,
            pid: Some(pid),
            comm: Some("node"),
            rule: "outside allowWrite",
            decision: Decision::Denied,
        }
    }

    /// With -m, each distinct denial once as it happens; those that repeated once more at
    /// the end with their count; the summary counts them all, with the exit status.
    #[test]
    fn denials_are_shown_once_and_counted() {
        let dir = temp_dir("dedup");
        let path = dir.join("log");
        let mut policy = policy_in(&dir);
        let run = EventSink::with_level(Level::Blocked, Some(&path), &mut policy).unwrap();
        let mut sink = run.clone();
        sink.record(&write_event("/home/u/.npmrc", 4242));
        sink.record(&write_event("/home/u/.npmrc", 4243));
        sink.record(&write_event("/etc/x", 7));
        blocked(
            &mut sink,
            "http",
            "CONNECT t.example:443",
            "t.example:443",
            "r",
        );
        sink.record(&write_event("/home/u/.npmrc", 4244));
        let mut run = run;
        run.finish();
        run.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[fence:fs] write denied: /home/u/.npmrc (node[4242], openat O_WRONLY|O_CREAT): \
             outside allowWrite\n\
             [fence:fs] write denied: /etc/x (node[7], openat O_WRONLY|O_CREAT): outside \
             allowWrite\n\
             [fence:http] blocked CONNECT t.example:443: r\n\
             [fence:fs] write denied: /home/u/.npmrc (node[4242], openat O_WRONLY|O_CREAT): \
             outside allowWrite (×3)\n"
        );
        assert_eq!(
            run.summary("exit status 2").unwrap(),
            "denied 1 request (t.example:443), 4 writes (exit status 2)"
        );
        // Without -m: nothing shown, everything counted, and the hint.
        let mut quiet = EventSink::with_level(Level::Quiet, None, &mut policy).unwrap();
        quiet.record(&write_event("/x", 1));
        quiet.finish();
        assert_eq!(
            quiet.summary("exit status 0").unwrap(),
            "denied 1 write (exit status 0); -m shows each"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_lines() {
        let dir = temp_dir("json");
        let path = dir.join("log");
        let mut policy = policy_in(&dir);
        let mut sink = EventSink::with_level(Level::All, Some(&path), &mut policy).unwrap();
        sink.format = Format::Json;
        sink.record(&write_event("/a\n\u{1b}[2J", 1));
        sink.record(&write_event("/a\n\u{1b}[2J", 2));
        blocked(
            &mut sink,
            "socks",
            "CONNECT b:1",
            "b:1",
            "not in allowedDomains",
        );
        sink.note("http", format_args!("a note"));
        sink.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        let fields = [
            "time", "kind", "action", "op", "target", "pid", "comm", "rule", "decision", "count",
        ];
        for line in [&lines[0], &lines[1], &lines[3]] {
            let keys: Vec<&str> = line
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys.len(), fields.len(), "{line}");
            assert!(fields.iter().all(|f| keys.contains(f)), "{line}");
        }
        assert_eq!(lines[0]["target"], "/a\n\u{1b}[2J");
        assert_eq!(
            (&lines[0]["count"], &lines[3]["count"]),
            (&1.into(), &2.into())
        );
        assert_eq!(lines[1]["kind"], "socks");
        assert_eq!(lines[1]["pid"], serde_json::Value::Null);
        assert_eq!(lines[2]["note"], "a note");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `fence learn` sees every distinct event, allowed or denied, whatever the level.
    #[test]
    fn collecting_for_learn() {
        let mut sink = EventSink::quiet();
        assert_eq!(sink.collected().0.len(), 0);
        let mut proxy = sink.clone();
        sink.collect();
        proxy.record(&write_event("/x", 1));
        proxy.record(&write_event("/x", 2));
        proxy.record(&Event {
            decision: Decision::Allowed,
            ..write_event("/x", 3)
        });
        let (events, untracked) = sink.collected();
        assert_eq!(untracked, 0);
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].1, events[1].1), (2, 1));
        assert_eq!(events[1].0.decision, Decision::Allowed);
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
}
