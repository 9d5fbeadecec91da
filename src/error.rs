//! fence's own failures and the exit codes they map to.
//!
//! The sandboxed command's own status never goes through this type: it is passed through
//! by `run`. These are the cases where fence itself decides the outcome.

use std::fmt;
use std::io;

/// Exit status when fence itself fails (bad usage, bad config, no bwrap, setup failure).
pub const EXIT_FENCE_FAILED: i32 = 125;
/// Exit status when the command cannot be executed or is refused by policy.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug)]
pub enum Error {
    /// Bad command line; the message names the offending option.
    Usage(String),
    /// No command to run: the usage lines follow the error line.
    NoCommand,
    /// Invalid, unreadable or untrusted configuration. The message already carries
    /// `file:line:col` and the key when they are known.
    Config(String),
    /// A config value that cannot be applied, found while compiling the policy (after
    /// parsing, so without a position). `key` is its dotted key; `value`, for a list entry,
    /// the entry as written, so that `config::locate` can find it in the file and give the
    /// error a `file:line:col`. Displayed unlocated as `key: message`.
    ConfigValue {
        key: String,
        value: Option<String>,
        message: String,
    },
    /// The sandbox could not be set up (bwrap missing, a kernel layer missing, ...).
    Setup(String),
    /// The kernel refused to create the sandbox's namespaces (explained in the message).
    NoNamespaces(String),
    /// An I/O operation of fence's own failed.
    Io { context: String, source: io::Error },
    /// The command does not exist inside the sandbox.
    NotFound(String),
    /// The command exists on the host but the sandbox hides it (the message says what hides
    /// it and how to share it).
    HiddenCommand(String),
    /// The command exists but cannot be executed, or policy refuses it.
    CannotExecute(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotFound(_) | Error::HiddenCommand(_) => EXIT_NOT_FOUND,
            Error::CannotExecute(_) => EXIT_CANNOT_EXECUTE,
            Error::Usage(_)
            | Error::NoCommand
            | Error::Config(_)
            | Error::ConfigValue { .. }
            | Error::Setup(_)
            | Error::NoNamespaces(_)
            | Error::Io { .. } => EXIT_FENCE_FAILED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg} (see fence --help)"),
            Error::NoCommand => f.write_str("no command given (see fence --help)"),
            Error::Config(msg) | Error::Setup(msg) | Error::NoNamespaces(msg) => f.write_str(msg),
            Error::ConfigValue { key, message, .. } => write!(f, "{key}: {message}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::NotFound(cmd) => write!(f, "{cmd}: command not found"),
            Error::CannotExecute(msg) | Error::HiddenCommand(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let cases = [
            (Error::Usage("x".into()), 125),
            (Error::NoCommand, 125),
            (Error::Config("x".into()), 125),
            (
                Error::ConfigValue {
                    key: "k".into(),
                    value: None,
                    message: "x".into(),
                },
                125,
            ),
            (Error::Setup("x".into()), 125),
            (Error::io("x", io::Error::other("y")), 125),
            (Error::NotFound("x".into()), 127),
            (Error::HiddenCommand("x".into()), 127),
            (Error::CannotExecute("x".into()), 126),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code(), code, "{err:?}");
        }
    }

    #[test]
    fn display_is_one_line() {
        let err = Error::NotFound("nosuchcmd".into());
        assert_eq!(err.to_string(), "nosuchcmd: command not found");
        for err in [
            Error::Usage("unknown option '--x'".into()),
            Error::NoCommand,
        ] {
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }
}
