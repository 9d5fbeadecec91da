//! Command-line parsing: raw arguments → a validated [`Invocation`].
//!
//! fence stops parsing its own options at the first non-option argument, so
//! `fence ls -la` and `fence grep -v x` hand everything after the command name to the
//! command. `--` ends option parsing explicitly (needed for a command named `trust` or one
//! that starts with `-`).
//!
//! The options and subcommands are defined once, in [`flags`]; the parser ([`parse()`]),
//! `--help` ([`help()`]), and, at test time, the man page's OPTIONS section, README.md's
//! options block and the shell completions under completions/ are generated from that table.

pub mod flags;
#[cfg(test)]
mod generate;
mod help;
mod parse;

pub use help::{help, usage};
pub use parse::{MAX_PRESERVED_FDS, parse};

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::ConfigSource;

/// What fence was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run(RunRequest),
    Help,
    Version,
    ListTemplates,
    /// `--linux-features` or `fence doctor`.
    Features,
    Trust(TrustRequest),
    /// `fence learn`: a run that records, then a config written from the record.
    Learn(LearnRequest),
    /// `--proxy-connect HOST PORT`: the ssh `ProxyCommand` helper (inside the sandbox).
    ProxyConnect(Vec<OsString>),
}

/// The shell used for `-c STRING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellChoice {
    /// `/bin/sh`.
    Sh,
    /// `$SHELL`, validated when the command runs.
    User,
    /// An absolute path given with `--shell PATH`.
    Path(PathBuf),
}

/// The command to run inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    /// `fence [--] PROGRAM ARGS...`
    Argv(Vec<OsString>),
    /// `fence -c STRING [ARG0 ARGS...]`, run as `SHELL -c STRING ARG0 ARGS...`.
    Shell {
        script: OsString,
        args: Vec<OsString>,
        shell: ShellChoice,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub struct RunRequest {
    pub command: CommandSpec,
    pub config: ConfigSource,
    pub debug: bool,
    pub monitor: bool,
    /// `-q/--quiet`: no summary line of blocked requests at exit.
    pub quiet: bool,
    /// Run even when Landlock or seccomp is unavailable, saying what is lost.
    pub allow_reduced_isolation: bool,
    /// `--force-new-session`: run the command in a new terminal session.
    pub force_new_session: bool,
    /// `-p/--port`: sandbox ports exposed on the host.
    pub ports: Vec<std::net::SocketAddr>,
    /// `--fence-log-file`: where the proxies' `-m`/`-d` lines go instead of stderr.
    pub log_file: Option<PathBuf>,
    /// `--log-format text|json`: the form of those lines.
    pub log_format: crate::events::Format,
    /// `--preserve-fds N`: inherited fds 3..3+N pass to the command (all others above
    /// stderr are closed).
    pub preserve_fds: u32,
}

/// `fence learn [-o FILE] [--force] [OPTIONS] [--] COMMAND...`
#[derive(Debug, PartialEq, Eq)]
pub struct LearnRequest {
    pub run: RunRequest,
    /// `-o FILE`; standard output without it.
    pub output: Option<PathBuf>,
    /// `--force`: replace FILE if it exists.
    pub force: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TrustAction {
    /// Record the file's current content as trusted.
    Trust,
    /// Forget a trusted file.
    Revoke,
    /// List trusted files and whether they still match.
    List,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TrustRequest {
    pub action: TrustAction,
    /// The file; `None` means the project config discovered from the current directory.
    pub file: Option<PathBuf>,
}
