//! The control channel between the host fence and its in-sandbox init: an inherited
//! `AF_UNIX` `SOCK_SEQPACKET` socket pair.
//!
//! Host → init: one message carrying a memfd (SCM_RIGHTS) that holds the JSON [`InitPlan`];
//! a file descriptor has no size limit, unlike a datagram. Init → host: JSON [`Report`]s.
//! The host enables `SO_PASSCRED`, so every report carries its sender's pid as seen from
//! the host: the init's `Started` report tells the host which pid to send the signals
//! it forwards (the init passes them on to the command).

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

/// What the init (or the command, for `Started`) tells the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Report {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let reports = [
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
