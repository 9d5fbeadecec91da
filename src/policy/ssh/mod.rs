//! SSH policy (`ssh.*`): which hosts `ssh`, `scp`, `sftp`, `rsync` and git's ssh URLs may
//! reach, and which commands `ssh` may run there. Pure: [`SshRules::check_words`] (and
//! [`SshRules::check_args`] for an argv of strings) takes one argv, after the wrappers
//! (`sudo`, `sh -c`...) were looked through, and does no I/O, so that the same function
//! serves the preflight (through [`ArgvCheck`]) and run-time exec checks.
//!
//! Where each program connects is read with its real option grammar: see `grammar.rs`.
//! The decision, in the Go fence's order:
//!
//! 1. **Active** when any `ssh.*` field is set. (The Go fence only looks at the other
//!    fields when a host list is set, so `deniedCommands` alone was silently ignored.)
//! 2. **Hosts** (every host the argv connects to: the destination, `-J`/`ProxyJump` jump
//!    hosts, `-W host:port`, an `-o HostName=`): one that matches `deniedHosts` is refused; when
//!    `allowedHosts` is set, one that matches none of it is refused. Patterns are
//!    case-insensitive, `*` matches any run of characters (see `host.rs`).
//! 3. No remote command (an interactive session, a file transfer, git): allowed.
//! 4. **Remote command** (ssh's command words joined by spaces, as ssh sends them, and any
//!    `-o RemoteCommand=`), parsed as the remote shell would, every simple command in it
//!    (and what wrappers in it run) being checked: with `inheritDeny`, the local command
//!    policy (`command.deny`, the default list, `command.allow` overriding them, as for a
//!    local command; the Go fence ignored `command.allow` there); then `deniedCommands`;
//!    then, unless `allowAllCommands`, each simple command must match an `allowedCommands`
//!    rule (the command rules' token semantics), and an empty `allowedCommands` refuses
//!    every remote command.
//!
//! Words only known at run time (fail closed where a rule could be affected):
//! - a host only known at run time (`ssh $HOST`, `scp "$f" x:`, `git clone "$URL"`, `-o
//!   "$OPT"`) is refused when `allowedHosts` or `deniedHosts` is set, unless its literal
//!   start settles it (`./$f` is a local path, `host:$p` names `host`). Such a word among
//!   ssh's options or at its destination, before or after it (`ssh $OPTS h`, `ssh h
//!   "$CMD"`), could be `-oHostName=…`: it is an unknown host, and the words from it on an
//!   unknown remote command (`ssh h -- "$CMD"` has a known host);
//! - a remote command with a word only known at run time (`ssh h -- "$CMD"`: the remote
//!   shell re-parses it, so it may be any script) is refused unless remote commands go
//!   unchecked (`allowAllCommands` with no `deniedCommands` and no `inheritDeny`);
//! - in a remote script, a command word only known there (`ssh h 'X=rm; $X -rf /'`) is
//!   refused when a deny rule applies to remote commands (nothing checks the remote host
//!   at run time), and never matches `allowedCommands`;
//! - a command word only known at run time locally (`$SSH prod ls`) is refused when the
//!   words after it, read as any of these programs, name a host that `deniedHosts`
//!   matches (only then: `$EDITOR file` must keep running under `allowedHosts`).
//!
//! `-F FILE` (other than `/dev/null` or `none`) is refused when a host rule is set: a
//! config file can give any alias another `HostName`, and fence reads no file here. The
//! user's `~/.ssh/config` is not read either: an alias it defines is checked by its name.

mod grammar;
mod host;

#[cfg(test)]
mod tests;

pub use grammar::{Connection, Host, PROGRAMS, connection};

use crate::config::types::{CommandRules, Ssh};
use crate::error::{Error, Result};
use crate::policy::command::{
    self, ArgvCheck, CommandPolicy, Finding, List, Match, Refusal, Rule, basename,
};
use crate::shell::{self, Word};

/// The compiled `ssh.*` rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshRules {
    active: bool,
    allowed_hosts: Vec<String>,
    denied_hosts: Vec<String>,
    denied: CommandPolicy,
    allowed: Vec<Rule>,
    allow_all: bool,
    /// The local command policy, when `inheritDeny`.
    inherit: Option<CommandPolicy>,
}

/// Compiles the `ssh` section; `command` is the local command policy's section (for
/// `inheritDeny`). A command rule that cannot be tokenized is a config error at its entry.
pub fn compile(ssh: &Ssh, command: &CommandRules) -> Result<SshRules> {
    let bad = |key: &str, text: &str, message: String| Error::ConfigValue {
        key: key.to_string(),
        value: Some(text.to_string()),
        message,
    };
    for text in &ssh.denied_commands {
        Rule::new(text, List::Deny, "").map_err(|m| bad("ssh.deniedCommands", text, m))?;
    }
    let denied = CommandPolicy::new(&ssh.denied_commands, &[], false, "")
        .map_err(|m| bad("ssh.deniedCommands", "", m))?;
    let allowed = ssh
        .allowed_commands
        .iter()
        .map(|t| Rule::new(t, List::Allow, "").map_err(|m| bad("ssh.allowedCommands", t, m)))
        .collect::<Result<Vec<_>>>()?;
    let inherit = match ssh.inherit_deny {
        true => Some(command::compile(command, |_, _| String::new())?),
        false => None,
    };
    Ok(SshRules {
        active: *ssh != Ssh::default(),
        allowed_hosts: ssh.allowed_hosts.clone(),
        denied_hosts: ssh.denied_hosts.clone(),
        denied,
        allowed,
        allow_all: ssh.allow_all_commands,
        inherit,
    })
}

impl SshRules {
    /// Whether any `ssh.*` field is set.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Checks one argv whose words are all known (a run-time exec).
    pub fn check_args(&self, argv: &[String]) -> std::result::Result<(), Refusal> {
        let words: Vec<Word> = argv.iter().map(|a| Word::lit(a)).collect();
        self.check_words(&words)
    }

    /// Checks one argv (its command word known): allowed, or why not.
    pub fn check_words(&self, argv: &[Word]) -> std::result::Result<(), Refusal> {
        self.finding(argv).map_err(|finding| Refusal {
            command: shell::display_words(argv),
            reason: command::Reason::Other(Box::new(finding)),
        })
    }

    fn finding(&self, argv: &[Word]) -> std::result::Result<(), Finding> {
        if !self.active {
            return Ok(());
        }
        let Some(c) = connection(argv) else {
            return Ok(());
        };
        self.check_connection(&c)
    }

    fn host_rules(&self) -> bool {
        !self.allowed_hosts.is_empty() || !self.denied_hosts.is_empty()
    }

    /// The host list an unknown host or a config file is refused for.
    fn host_key(&self) -> &'static str {
        if self.allowed_hosts.is_empty() {
            "ssh.deniedHosts"
        } else {
            "ssh.allowedHosts"
        }
    }

    fn check_connection(&self, c: &Connection) -> std::result::Result<(), Finding> {
        for h in &c.hosts {
            self.check_host(h)?;
        }
        if let Some(file) = &c.config_file {
            if self.host_rules() && !matches!(file.as_str(), "/dev/null" | "none") {
                return Err(finding(
                    format!(
                        "ssh -F {file:?}: an ssh config file can give a host another HostName, \
                         and fence does not read it ({} is set)",
                        self.host_key()
                    ),
                    None,
                ));
            }
        }
        c.remote.iter().try_for_each(|r| self.check_remote(r))
    }

    fn check_host(&self, h: &Host) -> std::result::Result<(), Finding> {
        let name = match h {
            Host::Known(n) => n,
            Host::Unknown(word) if self.host_rules() => {
                return Err(finding(
                    format!(
                        "its host ({word}) is only known when it runs, and {} is set",
                        self.host_key()
                    ),
                    None,
                ));
            }
            Host::Unknown(_) => return Ok(()),
        };
        if let Some(p) = self.denied_hosts.iter().find(|p| host::matches(p, name)) {
            return Err(finding(
                format!("host {name:?} matches ssh.deniedHosts {p:?}"),
                Some(("ssh.deniedHosts", p)),
            ));
        }
        if !self.allowed_hosts.is_empty()
            && !self.allowed_hosts.iter().any(|p| host::matches(p, name))
        {
            return Err(finding(
                format!("host {name:?} is not in ssh.allowedHosts"),
                None,
            ));
        }
        Ok(())
    }

    /// Whether remote commands are checked at all.
    fn commands_checked(&self) -> bool {
        !self.allow_all || !self.denied.is_empty() || self.inherit.is_some()
    }

    fn check_remote(&self, words: &[Word]) -> std::result::Result<(), Finding> {
        if words.is_empty() || !self.commands_checked() {
            return Ok(());
        }
        let Some(parts) = words
            .iter()
            .map(|w| w.value.as_deref())
            .collect::<Option<Vec<&str>>>()
        else {
            return Err(finding(
                format!(
                    "its remote command ({}) is only known when it runs, and {} is set",
                    shell::display_words(words),
                    self.command_key()
                ),
                None,
            ));
        };
        let script = parts.join(" ");
        let cmds = shell::parse(&script).map_err(|e| unparseable(&script, &e.message))?;
        if let Some(inherit) = &self.inherit {
            inherit
                .check_parsed(&cmds, &script, &command::NoCheck)
                .map_err(inherited)?;
        }
        if let Err(r) = self.denied.check_parsed(&cmds, &script, &command::NoCheck) {
            return Err(match r.reason {
                command::Reason::Rule { rule, certain } => {
                    rule_finding(certain, "ssh.deniedCommands", &rule.text, "")
                }
                command::Reason::Unparseable(why) => unparseable(&script, &why),
                command::Reason::Other(f) => *f,
            });
        }
        if !self.denied.is_empty() || self.inherit.is_some() {
            // Nothing checks the remote host at run time: a command word only known there
            // could be any command.
            for c in &cmds {
                let argvs = command::argvs(&c.words, c.stdin.as_deref())
                    .map_err(|e| unparseable(&script, &e.message))?;
                if let Some(a) = argvs.iter().find(|a| a[0].value.is_none()) {
                    return Err(finding(
                        format!(
                            "its remote command {:?} could be any command: {} is only known \
                             on the remote host, and {} is set",
                            c.display(),
                            a[0].source,
                            self.command_key()
                        ),
                        None,
                    ));
                }
            }
        }
        if self.allow_all {
            return Ok(());
        }
        for c in &cmds {
            if self.allowed.is_empty() {
                return Err(finding(
                    format!(
                        "remote command {:?} is not allowed: ssh.allowedCommands is empty \
                         (list the commands, or set ssh.allowAllCommands)",
                        c.display()
                    ),
                    None,
                ));
            }
            let known = c.words[0].value.is_some();
            if !known
                || !self
                    .allowed
                    .iter()
                    .any(|r| r.matches(&c.words) == Match::Yes)
            {
                return Err(finding(
                    format!(
                        "remote command {:?} is not in ssh.allowedCommands",
                        c.display()
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// The setting that makes remote commands checked (for messages).
    fn command_key(&self) -> &'static str {
        if !self.denied.is_empty() {
            "ssh.deniedCommands"
        } else if self.inherit.is_some() {
            "ssh.inheritDeny"
        } else {
            "ssh.allowedCommands"
        }
    }
}

impl ArgvCheck for SshRules {
    fn active(&self) -> bool {
        self.active
    }

    fn check(&self, argv: &[Word]) -> std::result::Result<(), Finding> {
        self.finding(argv)
    }

    /// `$X host …`: refused when, read as one of [`PROGRAMS`] whose name starts with the
    /// word's literal start, the words after it name a host `deniedHosts` matches.
    fn check_unknown(&self, argv: &[Word]) -> std::result::Result<(), Finding> {
        if self.denied_hosts.is_empty() {
            return Ok(());
        }
        let prefix = basename(&argv[0].prefix);
        let prefix = if argv[0].prefix.ends_with('/') {
            ""
        } else {
            prefix
        };
        for program in PROGRAMS.iter().filter(|p| p.starts_with(prefix)) {
            let mut inst = vec![Word::lit(program)];
            inst.extend_from_slice(&argv[1..]);
            let Some(c) = connection(&inst) else { continue };
            for h in &c.hosts {
                let Host::Known(name) = h else { continue };
                if let Some(p) = self.denied_hosts.iter().find(|p| host::matches(p, name)) {
                    let mut f = finding(
                        format!(
                            "could be {program} to host {name:?}, which matches \
                             ssh.deniedHosts {p:?}"
                        ),
                        Some(("ssh.deniedHosts", p)),
                    );
                    f.tail = ": its command word is only known when it runs".into();
                    return Err(f);
                }
            }
        }
        Ok(())
    }
}

fn finding(message: String, rule: Option<(&'static str, &str)>) -> Finding {
    Finding {
        message,
        key: rule.map(|(k, _)| k),
        rule: rule.map(|(_, r)| r.to_string()),
        origin: String::new(),
        tail: String::new(),
    }
}

fn rule_finding(certain: bool, key: &'static str, rule: &str, tail: &str) -> Finding {
    let verb = if certain { "matches" } else { "could match" };
    let mut f = finding(format!("{verb} {key} {rule:?}"), Some((key, rule)));
    f.tail = match certain {
        true => tail.to_string(),
        false => format!("{tail}: part of it is only known when it runs"),
    };
    f
}

/// A refusal of the local command policy applied to a remote command (`inheritDeny`).
fn inherited(r: Refusal) -> Finding {
    const TAIL: &str = ", applied to remote commands by ssh.inheritDeny";
    match r.reason {
        command::Reason::Rule { rule, certain } => match rule.list {
            List::Default => {
                let verb = if certain { "matches" } else { "could match" };
                finding(
                    format!(
                        "{verb} the default command deny list {:?} (command.useDefaults){TAIL}",
                        rule.text
                    ),
                    None,
                )
            }
            _ => rule_finding(certain, "command.deny", &rule.text, TAIL),
        },
        command::Reason::Unparseable(why) => unparseable(&r.command, &why),
        command::Reason::Other(f) => *f,
    }
}

fn unparseable(script: &str, why: &str) -> Finding {
    finding(
        format!(
            "its remote command {script:?} cannot be parsed as a shell command ({why}); fence \
             refuses what it cannot check"
        ),
        None,
    )
}
