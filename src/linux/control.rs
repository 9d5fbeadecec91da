//! The control channel between the host fence and its in-sandbox init: an inherited
//! `AF_UNIX` `SOCK_SEQPACKET` socket pair.
//!
//! Host → init: one message carrying a memfd (SCM_RIGHTS) that holds the JSON [`InitPlan`];
//! a file descriptor has no size limit, unlike a datagram. Init → host: JSON [`Report`]s.
//! The host enables `SO_PASSCRED`, so every report carries its sender's pid as seen from
//! the host. The init's first report, [`Report::Hello`], is sent before the command exists,
//! so its sender is the init: from then on the host accepts reports from that pid only, and
//! sends the signals it forwards there (the init passes them on to the command).
//!
//! Every report is untrusted input (a command that got hold of the socket could write to
//! it): [`Reports::accept`] bounds, validates and orders them, and escapes their text.

use serde::{Deserialize, Serialize};

/// The argv[1] that starts fence in its in-sandbox init mode.
pub const INIT_ARG: &str = "__fence-sandbox-init";

/// Largest report the host accepts.
pub const MAX_REPORT: usize = 64 * 1024;

/// What the init must do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitPlan {
    /// The command (argv[0] is searched in `PATH` when it has no slash).
    pub argv: Vec<Vec<u8>>,
    /// The working directory to start the command in.
    pub cwd: Vec<u8>,
    /// The host's stderr, passed separately because bwrap's own stderr is a pipe to the
    /// host (so bwrap's setup errors can be explained rather than shown raw).
    pub stderr_fd: i32,
    /// fence's other inherited plumbing, closed before the command runs.
    pub close_fds: Vec<i32>,
    /// Signals that were ignored when fence started (e.g. SIGHUP under nohup); every other
    /// forwarded signal is reset to its default action for the command.
    pub ignored_signals: Vec<i32>,
    /// Whether the init sends debug notes.
    pub debug: bool,
    /// The host fence's pid: names per-run scratch paths that may be shared with other runs
    /// (the init's own pid is the same small number in every sandbox).
    pub instance: u32,
    /// Landlock rules (paths inside the sandbox), fitted to the kernel's ABI by the init.
    pub landlock: Vec<super::landlock::Rule>,
    /// Run without Landlock or seccomp if the kernel lacks them (with a warning) instead of
    /// refusing to run (`--allow-reduced-isolation`).
    pub allow_reduced_isolation: bool,
    /// Run the command on a pseudo-terminal made inside the sandbox (`allowPty`), whose
    /// master the init passes to the host to relay; `pty_stderr` puts stderr on it too.
    pub pty: bool,
    pub pty_stderr: bool,
    /// No bwrap: the init runs directly on the host (reduced isolation). It then also
    /// refuses sockets, drops capabilities, restricts TCP with Landlock, and kills whatever
    /// the command left behind.
    pub reduced: bool,
    /// Addresses the init listens on inside the sandbox's network namespace before the
    /// command starts; the listening sockets go to the host fence (`Report::Listening`),
    /// which serves them (the proxies, the host-port forwarders).
    pub listen: Vec<std::net::SocketAddr>,
    /// The init connects to sandbox ports on the host's request (`HostRequest::Connect`),
    /// for ports exposed with `-p`.
    pub connect_service: bool,
    /// Inherited fds `3..3+preserve_fds` pass to the command (`--preserve-fds`); every
    /// other fd above stderr is closed before it starts.
    pub preserve_fds: u32,
    /// The soft open-file limit to restore before the command starts, when fence raised it
    /// for bwrap (one fd per empty file bwrap mounts; see `bwrap::assign_empty_fds`).
    #[serde(default)]
    pub restore_nofile: Option<u64>,
    /// When the command has ended, name what it left in the private /tmp (discarded with
    /// the sandbox) in a warning: its working directory, or a directory its environment
    /// keeps state in, lies there.
    #[serde(default)]
    pub report_tmp_leftovers: bool,
    /// Syscalls the host wants to hear of (`-m`, `fence learn`, exec checks): the init
    /// installs a second seccomp filter that notifies them and passes its listener to the
    /// host (`Report::Listener`).
    #[serde(default)]
    pub watch: super::seccomp::notify::Watched,
}

/// What the host asks of the init after the plan (only with `connect_service`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum HostRequest {
    /// Connect to this port on the sandbox's loopback and send back the socket
    /// (`Report::Connected`), or say why not (`Report::ConnectFailed`).
    Connect { id: u64, port: u16, ipv6: bool },
}

impl HostRequest {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("requests serialize")
    }

    pub fn parse(bytes: &[u8]) -> Option<HostRequest> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Longest text (in bytes) the host keeps from a report's message; the rest is cut.
pub const MAX_MESSAGE: usize = 4096;

/// What the init tells the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Report {
    /// The init's first report, sent before anything else and before the command exists:
    /// its sender's pid is the init's.
    Hello,
    /// The command is running (sent by the init right after starting it).
    Started,
    /// The master of the command's pseudo-terminal is attached to this message.
    Pty,
    /// The command could not be executed; `code` is 126 or 127.
    ExecFailed { code: i32, message: String },
    /// The init could not prepare the command (working directory, plan).
    SetupFailed { message: String },
    /// The command exited with this status.
    Exited { code: i32 },
    /// The command was killed by this signal.
    Signaled { signal: i32 },
    /// The command was stopped by this signal (fence stops too, to hand back the terminal).
    Stopped { signal: i32 },
    /// A `--debug` note from inside the sandbox.
    Note { message: String },
    /// A warning the host always shows (a protection that could not be applied).
    Warning { message: String },
    /// Listening sockets for these addresses are attached, in order. Addresses the
    /// namespace cannot have (IPv6 disabled) are left out.
    Listening { addrs: Vec<std::net::SocketAddr> },
    /// The seccomp user-notification listener is attached (the plan's `watch`).
    Listener,
    /// The socket connected for `HostRequest::Connect { id }` is attached.
    Connected { id: u64 },
    /// `HostRequest::Connect { id }` failed.
    ConnectFailed { id: u64, message: String },
}

impl Report {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("reports serialize")
    }

    pub fn parse(bytes: &[u8]) -> Option<Report> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The host's side of the report protocol: which report is acceptable now, from whom.
///
/// Order: `Hello` first (it names the init); before `Started`: notes, warnings, `Listening`
/// and `Pty` (each of the last two once), or a failure (`ExecFailed`, `SetupFailed`); after
/// `Started`: `Stopped`, `Connected`/`ConnectFailed`, notes, warnings, then one status
/// (`Exited`, `Signaled`, `SetupFailed`). Nothing is accepted after the status.
#[derive(Debug, Default)]
pub struct Reports {
    /// The init's pid, once known (in advance when fence spawns the init itself).
    init: Option<libc::pid_t>,
    hello: bool,
    started: bool,
    status: bool,
    pty: bool,
    listening: bool,
    listener: bool,
    /// Whether the plan asked for a pseudo-terminal.
    expect_pty: bool,
    /// Whether the plan asked for a notification listener.
    expect_listener: bool,
}

/// Why a report was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No sender credentials (`SO_PASSCRED` is on, so the kernel always attaches them).
    NoSender,
    /// Sent by another process than the init.
    NotTheInit { sender: libc::pid_t },
    /// Not a report.
    Malformed,
    /// Not acceptable at this point of the protocol.
    OutOfOrder(&'static str),
    /// A value out of range.
    Invalid(&'static str),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::NoSender => f.write_str("no sender credentials"),
            Rejected::NotTheInit { sender } => write!(f, "sent by pid {sender}, not the init"),
            Rejected::Malformed => f.write_str("malformed"),
            Rejected::OutOfOrder(what) | Rejected::Invalid(what) => f.write_str(what),
        }
    }
}

impl Reports {
    /// `init`: the init's pid when fence spawned it directly (no bwrap), else learnt from
    /// its `Hello`. `expect_pty`: the plan asked for a pseudo-terminal.
    pub fn new(init: Option<libc::pid_t>, expect_pty: bool) -> Reports {
        Reports {
            init,
            expect_pty,
            ..Reports::default()
        }
    }

    /// The plan asked for a notification listener (`Report::Listener`, once, before the
    /// start).
    pub fn expecting_listener(mut self, expect: bool) -> Reports {
        self.expect_listener = expect;
        self
    }

    /// The init's pid, once it said hello.
    pub fn init(&self) -> Option<libc::pid_t> {
        self.init.filter(|_| self.hello)
    }

    /// Whether the command started.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Checks one message (`bytes`, from `sender`) and returns the report it holds, its
    /// text escaped and bounded, or why it is ignored. A rejected message changes nothing.
    pub fn accept(
        &mut self,
        sender: Option<libc::pid_t>,
        bytes: &[u8],
    ) -> Result<Report, Rejected> {
        let sender = sender.ok_or(Rejected::NoSender)?;
        if self.init.is_some_and(|init| init != sender) {
            return Err(Rejected::NotTheInit { sender });
        }
        let report = Report::parse(bytes).ok_or(Rejected::Malformed)?;
        if !self.hello {
            if report != Report::Hello {
                return Err(Rejected::OutOfOrder("a report before the init's hello"));
            }
            self.init = Some(sender);
            self.hello = true;
            return Ok(report);
        }
        let order = Rejected::OutOfOrder;
        if self.status {
            return Err(order("a report after the command's status"));
        }
        let report = match report {
            Report::Hello => return Err(order("a second hello")),
            Report::Started if self.started => return Err(order("a second start")),
            Report::Started => {
                self.started = true;
                Report::Started
            }
            Report::Pty if !self.expect_pty => {
                return Err(order("a terminal that was not asked for"));
            }
            Report::Pty if self.pty || self.started => return Err(order("a second terminal")),
            Report::Pty => {
                self.pty = true;
                Report::Pty
            }
            Report::Listening { .. } if self.listening || self.started => {
                return Err(order("listening sockets twice or after the start"));
            }
            Report::Listening { addrs } => {
                self.listening = true;
                Report::Listening { addrs }
            }
            Report::Listener if !self.expect_listener => {
                return Err(order("a notification listener that was not asked for"));
            }
            Report::Listener if self.listener || self.started => {
                return Err(order("a second listener or one after the start"));
            }
            Report::Listener => {
                self.listener = true;
                Report::Listener
            }
            Report::ExecFailed { .. } if self.started => {
                return Err(order("an exec failure after the start"));
            }
            Report::ExecFailed { code, message } => {
                if code != crate::error::EXIT_CANNOT_EXECUTE && code != crate::error::EXIT_NOT_FOUND
                {
                    return Err(Rejected::Invalid(
                        "an exec failure status other than 126 or 127",
                    ));
                }
                self.status = true;
                Report::ExecFailed {
                    code,
                    message: bounded(&message),
                }
            }
            Report::SetupFailed { message } => {
                self.status = true;
                Report::SetupFailed {
                    message: bounded(&message),
                }
            }
            Report::Exited { .. } | Report::Signaled { .. } | Report::Stopped { .. }
                if !self.started =>
            {
                return Err(order("a status before the start"));
            }
            Report::Exited { code } => {
                if !(0..=255).contains(&code) {
                    return Err(Rejected::Invalid("an exit code outside 0..=255"));
                }
                self.status = true;
                Report::Exited { code }
            }
            Report::Signaled { signal } => {
                if !can_end_a_process(signal) {
                    return Err(Rejected::Invalid("a signal that cannot end a process"));
                }
                self.status = true;
                Report::Signaled { signal }
            }
            Report::Stopped { signal } => {
                if !is_stop_signal(signal) {
                    return Err(Rejected::Invalid("a stop by a signal that does not stop"));
                }
                Report::Stopped { signal }
            }
            Report::Connected { .. } | Report::ConnectFailed { .. } if !self.started => {
                return Err(order("a connection before the start"));
            }
            Report::Connected { id } => Report::Connected { id },
            Report::ConnectFailed { id, message } => Report::ConnectFailed {
                id,
                message: bounded(&message),
            },
            Report::Note { message } => Report::Note {
                message: bounded(&message),
            },
            Report::Warning { message } => Report::Warning {
                message: bounded(&message),
            },
        };
        Ok(report)
    }
}

/// `message` cut to [`MAX_MESSAGE`] bytes (on a character boundary) and escaped.
fn bounded(message: &str) -> String {
    let mut end = message.len().min(MAX_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < message.len() { "…" } else { "" };
    format!("{}{cut}", crate::output::escape(&message[..end]))
}

/// SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: the signals a process can be stopped by.
fn is_stop_signal(signal: i32) -> bool {
    [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU].contains(&signal)
}

/// A signal number (1..=64) whose delivery can end a process: not a stop signal, and not
/// one whose default action is to be ignored or to continue.
fn can_end_a_process(signal: i32) -> bool {
    (1..=64).contains(&signal)
        && !is_stop_signal(signal)
        && ![libc::SIGCHLD, libc::SIGCONT, libc::SIGURG, libc::SIGWINCH].contains(&signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let reports = [
            Report::Hello,
            Report::Started,
            Report::Pty,
            Report::ExecFailed {
                code: 127,
                message: "x".into(),
            },
            Report::SetupFailed {
                message: "y".into(),
            },
            Report::Exited { code: 3 },
            Report::Signaled { signal: 9 },
            Report::Stopped { signal: 20 },
            Report::Note {
                message: "z".into(),
            },
            Report::Listening {
                addrs: vec![
                    "127.0.0.1:3128".parse().unwrap(),
                    "[::1]:1080".parse().unwrap(),
                ],
            },
            Report::Connected { id: 7 },
            Report::ConnectFailed {
                id: 8,
                message: "refused".into(),
            },
        ];
        for r in reports {
            assert_eq!(Report::parse(&r.to_bytes()), Some(r));
        }
        assert_eq!(Report::parse(b"{\"bogus\":1}"), None);
        assert_eq!(Report::parse(b"\xff"), None);
    }

    const INIT: Option<libc::pid_t> = Some(100);
    const OTHER: Option<libc::pid_t> = Some(200);

    fn exited(code: i32) -> Report {
        Report::Exited { code }
    }

    fn signaled(signal: i32) -> Report {
        Report::Signaled { signal }
    }

    fn stopped(signal: i32) -> Report {
        Report::Stopped { signal }
    }

    fn exec_failed(code: i32) -> Report {
        Report::ExecFailed {
            code,
            message: "x: command not found".into(),
        }
    }

    fn note() -> Report {
        Report::Note {
            message: "n".into(),
        }
    }

    /// Each case: (name, init pid known in advance, a pseudo-terminal planned, steps of
    /// (sender, report, accepted)).
    #[test]
    fn reports_are_accepted_only_from_the_init_in_order() {
        use Report::{Hello, Pty, Started};
        type Step = (Option<libc::pid_t>, Report, bool);
        let listening = || Report::Listening { addrs: Vec::new() };
        let cases: Vec<(&str, Option<libc::pid_t>, bool, Vec<Step>)> = vec![
            (
                "an ordinary run",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, note(), true),
                    (INIT, listening(), true),
                    (INIT, Started, true),
                    (INIT, stopped(libc::SIGTSTP), true),
                    (INIT, Report::Connected { id: 1 }, true),
                    (INIT, exited(0), true),
                ],
            ),
            (
                "nothing before the hello, which names the init",
                None,
                false,
                vec![
                    (INIT, Started, false),
                    (INIT, exited(0), false),
                    (OTHER, Hello, true),
                    (INIT, Started, false),
                    (OTHER, Started, true),
                ],
            ),
            (
                "another process's reports are ignored",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (OTHER, Hello, false),
                    (OTHER, Started, false),
                    (INIT, Started, true),
                    (OTHER, exited(0), false),
                    (OTHER, stopped(libc::SIGSTOP), false),
                    (
                        OTHER,
                        Report::Warning {
                            message: "w".into(),
                        },
                        false,
                    ),
                    (None, exited(0), false),
                    (INIT, exited(1), true),
                ],
            ),
            (
                "an init known in advance",
                INIT,
                false,
                vec![
                    (OTHER, Hello, false),
                    (INIT, Hello, true),
                    (OTHER, Started, false),
                ],
            ),
            (
                "one hello, one start, one status",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, Hello, false),
                    (INIT, Started, true),
                    (INIT, Started, false),
                    (INIT, exited(0), true),
                    (INIT, exited(1), false),
                    (INIT, signaled(libc::SIGKILL), false),
                    (INIT, note(), false),
                ],
            ),
            (
                "no exit before the start, no exec failure after it",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, exited(0), false),
                    (INIT, signaled(libc::SIGTERM), false),
                    (INIT, stopped(libc::SIGTSTP), false),
                    (INIT, Report::Connected { id: 1 }, false),
                    (INIT, Started, true),
                    (INIT, exec_failed(127), false),
                    (INIT, signaled(libc::SIGTERM), true),
                ],
            ),
            (
                "an exec failure is a status",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, exec_failed(0), false),
                    (INIT, exec_failed(137), false),
                    (INIT, exec_failed(127), true),
                    (INIT, Started, false),
                ],
            ),
            (
                "a setup failure after the start is the status",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, Started, true),
                    (
                        INIT,
                        Report::SetupFailed {
                            message: "m".into(),
                        },
                        true,
                    ),
                    (INIT, exited(0), false),
                ],
            ),
            (
                "exit codes and signals in range",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, Started, true),
                    (INIT, exited(256), false),
                    (INIT, exited(-1), false),
                    (INIT, signaled(0), false),
                    (INIT, signaled(65), false),
                    (INIT, signaled(libc::SIGSTOP), false),
                    (INIT, signaled(libc::SIGCHLD), false),
                    (INIT, signaled(libc::SIGCONT), false),
                    (INIT, stopped(libc::SIGKILL), false),
                    (INIT, stopped(0), false),
                    (INIT, stopped(libc::SIGTTIN), true),
                    (INIT, stopped(libc::SIGTTOU), true),
                    (INIT, signaled(64), true),
                ],
            ),
            (
                "a terminal only when planned, once, before the start",
                None,
                false,
                vec![(INIT, Hello, true), (INIT, Pty, false)],
            ),
            (
                "a planned terminal",
                None,
                true,
                vec![
                    (INIT, Hello, true),
                    (INIT, Pty, true),
                    (INIT, Pty, false),
                    (INIT, Started, true),
                ],
            ),
            (
                "a terminal after the start",
                None,
                true,
                vec![
                    (INIT, Hello, true),
                    (INIT, Started, true),
                    (INIT, Pty, false),
                ],
            ),
            (
                "listening sockets once, before the start",
                None,
                false,
                vec![
                    (INIT, Hello, true),
                    (INIT, listening(), true),
                    (INIT, listening(), false),
                    (INIT, Started, true),
                ],
            ),
        ];
        for (name, init, pty, steps) in cases {
            let mut reports = Reports::new(init, pty);
            for (i, (sender, report, accepted)) in steps.into_iter().enumerate() {
                let got = reports.accept(sender, &report.to_bytes());
                assert_eq!(
                    got.is_ok(),
                    accepted,
                    "{name}, step {i}: {report:?}: {got:?}"
                );
                if let Ok(got) = got {
                    assert_eq!(got, report, "{name}, step {i}");
                }
            }
        }
    }

    #[test]
    fn rejections_say_why() {
        let mut reports = Reports::new(None, false);
        assert_eq!(reports.accept(None, b"\"hello\""), Err(Rejected::NoSender));
        assert_eq!(
            reports.accept(INIT, b"{\"bogus\":1}"),
            Err(Rejected::Malformed)
        );
        assert_eq!(reports.accept(INIT, b"\"hello\""), Ok(Report::Hello));
        assert_eq!(reports.init(), INIT);
        assert_eq!(
            reports.accept(OTHER, b"\"started\""),
            Err(Rejected::NotTheInit { sender: 200 })
        );
        assert!(!reports.started());
        assert_eq!(reports.accept(INIT, b"\"started\""), Ok(Report::Started));
        assert!(reports.started());
    }

    #[test]
    fn message_text_is_escaped_and_bounded() {
        let long = "é".repeat(MAX_MESSAGE);
        let cases = [
            ("\u{1b}]0;PWNED\u{7}", r"\e]0;PWNED\x07".to_string()),
            ("two\nlines", r"two\nlines".to_string()),
            (long.as_str(), format!("{}…", "é".repeat(MAX_MESSAGE / 2))),
        ];
        for (raw, want) in cases {
            let message = raw.to_string();
            let reports = [
                Report::Warning {
                    message: message.clone(),
                },
                Report::Note {
                    message: message.clone(),
                },
                Report::SetupFailed {
                    message: message.clone(),
                },
                Report::ExecFailed {
                    code: 126,
                    message: message.clone(),
                },
            ];
            for report in reports {
                let mut gate = Reports::new(None, false);
                gate.accept(INIT, &Report::Hello.to_bytes()).unwrap();
                let got = gate.accept(INIT, &report.to_bytes()).unwrap();
                let text = match got {
                    Report::Warning { message }
                    | Report::Note { message }
                    | Report::SetupFailed { message }
                    | Report::ExecFailed { message, .. } => message,
                    other => panic!("{other:?}"),
                };
                assert_eq!(text, want);
            }
        }
        let mut gate = Reports::new(None, false);
        gate.accept(INIT, &Report::Hello.to_bytes()).unwrap();
        gate.accept(INIT, &Report::Started.to_bytes()).unwrap();
        let failed = Report::ConnectFailed {
            id: 1,
            message: "\u{1b}[2J".into(),
        };
        assert_eq!(
            gate.accept(INIT, &failed.to_bytes()),
            Ok(Report::ConnectFailed {
                id: 1,
                message: r"\e[2J".into()
            })
        );
    }

    #[test]
    fn plan_round_trips() {
        let plan = InitPlan {
            argv: vec![b"ls".to_vec(), vec![0xff]],
            cwd: b"/".to_vec(),
            ..InitPlan::default()
        };
        let json = serde_json::to_vec(&plan).unwrap();
        assert_eq!(serde_json::from_slice::<InitPlan>(&json).unwrap(), plan);
        let request = HostRequest::Connect {
            id: 1,
            port: 3000,
            ipv6: true,
        };
        assert_eq!(HostRequest::parse(&request.to_bytes()), Some(request));
        assert_eq!(HostRequest::parse(b"{}"), None);
    }
}
