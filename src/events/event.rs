//! One event: what the sandbox attempted and what fence decided, from whichever part of
//! fence saw it (the proxies, the seccomp notification listener). [`EventSink::record`]
//! takes them all; this file renders them as text lines.
//!
//! [`EventSink::record`]: super::EventSink::record

use std::fmt::Write as _;

/// Who saw the event: the `[fence:KIND]` prefix of its line and `kind` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The HTTP proxy.
    Http,
    /// The SOCKS5 proxy.
    Socks,
    /// A filesystem operation (seccomp notification).
    Fs,
    /// A direct network operation, not through the proxies (`connect`, `bind`).
    Net,
    /// A command the command policy refuses.
    Exec,
    /// A Mach service lookup the macOS sandbox profile refused.
    Mach,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Socks => "socks",
            Kind::Fs => "fs",
            Kind::Net => "net",
            Kind::Exec => "exec",
            Kind::Mach => "mach",
        }
    }

    /// A request through one of the proxies.
    pub fn is_proxy(self) -> bool {
        matches!(self, Kind::Http | Kind::Socks)
    }
}

/// What fence did about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// Refused (or, for kernel-enforced operations, refused by the kernel): shown with
    /// `-m`, counted in the exit summary.
    Denied,
    /// Let through: shown with debug notes for the proxies (`-d`); recorded by `learn`.
    Allowed,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Denied => "denied",
            Decision::Allowed => "allowed",
        }
    }
}

/// An event. Every `&str` but `rule` may come from the sandbox and is escaped wherever it
/// is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub kind: Kind,
    /// What was attempted, short: `write`, `connect`, `exec`; for the proxies the method
    /// (`CONNECT`, `GET`).
    pub action: &'a str,
    /// The detail: `openat O_WRONLY|O_CREAT`, `unlinkat`, `connect`, `execve`; for the
    /// proxies the request as shown (`CONNECT example.com:443`, `GET http://example.com/x`).
    pub op: &'a str,
    /// A path, `host:port` (for the proxies always `host:port`, the key of the exit
    /// summary), an address, a command line.
    pub target: &'a str,
    pub pid: Option<u32>,
    /// The process name.
    pub comm: Option<&'a str>,
    /// The rule that decided, or the reason: `outside allowWrite`, `protected path`,
    /// `not in allowedDomains`; for an allowed proxy request the allowing pattern.
    pub rule: &'a str,
    pub decision: Decision,
}

impl Event<'_> {
    /// The text line, without escaping (the sink escapes the whole line):
    ///
    /// - proxies: `[fence:http] blocked CONNECT evil.example:443: not in allowedDomains`,
    ///   `[fence:http] allowed CONNECT ok.example:443 (rule "*.example")`;
    /// - `[fence:fs] write denied: /home/u/.npmrc (node[4242], openat O_WRONLY): outside
    ///   allowWrite`;
    /// - `[fence:net] direct connect denied: 140.82.112.3:443 (curl[4260]): use the proxy`;
    /// - `[fence:exec] refused git push (sh[42]): matches command.deny "git push"`.
    ///
    /// The part in parentheses names the process (`comm[pid]`, or `pid N`, or `comm`) and
    /// the operation where it says more than the action; it is left out when empty.
    pub fn text(&self) -> String {
        let kind = self.kind.name();
        let mut line = format!("[fence:{kind}] ");
        match (self.kind, self.decision) {
            (Kind::Http | Kind::Socks, Decision::Denied) => {
                let _ = write!(line, "blocked {}: {}", self.op, self.rule);
                return line;
            }
            (Kind::Http | Kind::Socks, Decision::Allowed) => {
                let _ = write!(line, "allowed {} (rule \"{}\")", self.op, self.rule);
                return line;
            }
            (Kind::Exec, Decision::Denied) => {
                let _ = write!(line, "refused {}", self.target);
            }
            (Kind::Exec, Decision::Allowed) => {
                let _ = write!(line, "allowed {}", self.target);
            }
            (Kind::Net, decision) => {
                let _ = write!(
                    line,
                    "direct {} {}: {}",
                    self.action,
                    decision.name(),
                    self.target
                );
            }
            (Kind::Fs | Kind::Mach, decision) => {
                let _ = write!(line, "{} {}: {}", self.action, decision.name(), self.target);
            }
        }
        let mut detail = self.process();
        if !self.op.is_empty() && self.op != self.action {
            if !detail.is_empty() {
                detail.push_str(", ");
            }
            detail.push_str(self.op);
        }
        if !detail.is_empty() {
            let _ = write!(line, " ({detail})");
        }
        if !self.rule.is_empty() {
            let _ = write!(line, ": {}", self.rule);
        }
        line
    }

    /// `node[4242]`, `pid 4242`, `node`, or nothing.
    fn process(&self) -> String {
        match (self.comm, self.pid) {
            (Some(comm), Some(pid)) => format!("{comm}[{pid}]"),
            (None, Some(pid)) => format!("pid {pid}"),
            (Some(comm), None) => comm.to_string(),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(kind: Kind, action: &'a str, op: &'a str, target: &'a str) -> Event<'a> {
        Event {
            kind,
            action,
            op,
            target,
            pid: None,
            comm: None,
            rule: "r",
            decision: Decision::Denied,
        }
    }

    #[test]
    fn the_issue_forms() {
        let fs = Event {
            pid: Some(4242),
            comm: Some("node"),
            rule: "outside allowWrite",
            ..event(
                Kind::Fs,
                "write",
                "openat O_WRONLY|O_CREAT",
                "/home/u/.npmrc",
            )
        };
        assert_eq!(
            fs.text(),
            "[fence:fs] write denied: /home/u/.npmrc (node[4242], openat O_WRONLY|O_CREAT): \
             outside allowWrite"
        );
        let net = Event {
            pid: Some(4260),
            comm: Some("curl"),
            rule: "use the proxy",
            ..event(Kind::Net, "connect", "connect", "140.82.112.3:443")
        };
        assert_eq!(
            net.text(),
            "[fence:net] direct connect denied: 140.82.112.3:443 (curl[4260]): use the proxy"
        );
        let exec = Event {
            pid: Some(42),
            comm: Some("sh"),
            rule: "matches command.deny \"git push\"",
            ..event(Kind::Exec, "exec", "execve", "git push")
        };
        assert_eq!(
            exec.text(),
            "[fence:exec] refused git push (sh[42], execve): matches command.deny \"git push\""
        );
        let http = Event {
            rule: "not in allowedDomains",
            ..event(
                Kind::Http,
                "CONNECT",
                "CONNECT telemetry.example.com:443",
                "telemetry.example.com:443",
            )
        };
        assert_eq!(
            http.text(),
            "[fence:http] blocked CONNECT telemetry.example.com:443: not in allowedDomains"
        );
        let allowed = Event {
            rule: "*.example.com",
            decision: Decision::Allowed,
            ..http
        };
        assert_eq!(
            allowed.text(),
            "[fence:http] allowed CONNECT telemetry.example.com:443 (rule \"*.example.com\")"
        );
    }

    #[test]
    fn missing_parts_are_left_out() {
        let bare = event(Kind::Fs, "unlink", "", "/x");
        assert_eq!(bare.text(), "[fence:fs] unlink denied: /x: r");
        let pid_only = Event {
            pid: Some(7),
            rule: "",
            ..event(Kind::Fs, "mkdir", "mkdir", "/y")
        };
        assert_eq!(pid_only.text(), "[fence:fs] mkdir denied: /y (pid 7)");
        let comm_only = Event {
            comm: Some("sh"),
            decision: Decision::Allowed,
            ..event(Kind::Net, "bind", "bind", "0.0.0.0:80")
        };
        assert_eq!(
            comm_only.text(),
            "[fence:net] direct bind allowed: 0.0.0.0:80 (sh): r"
        );
    }
}
