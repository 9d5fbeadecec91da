//! Command-line parsing: raw arguments → a validated [`Invocation`].
//!
//! fence stops parsing its own options at the first non-option argument, so
//! `fence ls -la` and `fence grep -v x` hand everything after the command name to the
//! command. `--` ends option parsing explicitly (needed for a command named `trust` or one
//! that starts with `-`).

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::config::ConfigSource;
use crate::error::{Error, Result};

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
    /// Run even when Landlock or seccomp is unavailable, saying what is lost.
    pub allow_reduced_isolation: bool,
    /// `--force-new-session`: run the command in a new terminal session.
    pub force_new_session: bool,
    /// `-p/--port`: sandbox ports exposed on the host.
    pub ports: Vec<std::net::SocketAddr>,
    /// `--fence-log-file`: where the proxies' `-m`/`-d` lines go instead of stderr.
    pub log_file: Option<PathBuf>,
    /// `--preserve-fds N`: inherited fds 3..3+N pass to the command (all others above
    /// stderr are closed).
    pub preserve_fds: u32,
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

pub const USAGE: &str = "\
Usage: fence [OPTIONS] [--] COMMAND [ARGS...]
       fence [OPTIONS] -c STRING [ARG0 [ARGS...]]
       fence trust [--list | --revoke] [FILE]
       fence doctor";

pub const HELP: &str = "\
fence runs a command in a sandbox: no network, writes only where the config allows.

Usage: fence [OPTIONS] [--] COMMAND [ARGS...]
       fence [OPTIONS] -c STRING [ARG0 [ARGS...]]
       fence trust [--list | --revoke] [FILE]
       fence doctor                 (also: fence --linux-features)

Options:
  -c STRING              Run STRING with /bin/sh -c (see --shell); the arguments after
                         STRING become $0, $1, ... (fence's options go before -c)
  -s, --settings FILE    Use this config file (explicit consent: no trust check)
  -t, --template NAME    Use a built-in template (see --list-templates)
      --shell SHELL      Shell for -c: 'sh' (/bin/sh, the default), 'user' ($SHELL,
                         which must be an absolute path to an executable), or an
                         absolute path
  -d, --debug            Explain what fence does (config chain, bwrap arguments, ...)
  -m, --monitor          Print one line per blocked network request
      --allow-reduced-isolation
                         Run even if the kernel lacks Landlock or seccomp, or refuses
                         user namespaces (then Landlock and seccomp alone); fence
                         says what is lost instead of refusing to run
      --force-new-session
                         Run the command in a new terminal session: no job control,
                         no /dev/tty (default: share the terminal; TIOCSTI is blocked)
  -p, --port [ADDR:]PORT Expose the sandbox's port PORT on the host at ADDR:PORT
                         (ADDR defaults to 127.0.0.1; repeatable)
      --fence-log-file PATH
                         Append the network lines of -m and -d to PATH instead of
                         stderr
      --preserve-fds N   Pass the inherited file descriptors 3 to 3+N-1 to the command
                         (at most 64; they must be open). Without it the command gets
                         only stdin, stdout and stderr: an open fd reaches past the
                         sandbox (a directory fd opens files the policy hides)
      --proxy-connect HOST PORT
                         Connect to HOST:PORT through the sandbox's SOCKS5 proxy and
                         relay stdin/stdout (an ssh ProxyCommand; used inside fence)
      --list-templates   List the built-in templates
      --linux-features   Check what this machine offers (same as `fence doctor`)
  -h, --help             Show this help
  -v, --version          Show the version

The first argument that is not an option ends fence's options: `fence ls -la` passes
-la to ls. Use `--` before a command named `trust` or `doctor`, or one starting with '-'.

Config: fence.jsonc or fence.json in the current directory or a parent, else
$XDG_CONFIG_HOME/fence/fence.json(c), else ~/.fence.json(c), else deny everything.
A project config found by that search applies only after `fence trust`.

Exit status: the command's own; 125 if fence fails; 126 if the command cannot be
executed; 127 if it is not found. A command killed by a signal kills fence with it.";

/// Parses fence's arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Invocation> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut script: Option<OsString> = None;
    let mut settings: Option<PathBuf> = None;
    let mut template: Option<String> = None;
    let mut shell = ShellChoice::Sh;
    let mut shell_given = false;
    let mut debug = false;
    let mut monitor = false;
    let mut allow_reduced_isolation = false;
    let mut force_new_session = false;
    let mut ports = Vec::new();
    let mut log_file = None;
    let mut preserve_fds = 0;
    let mut positional: Vec<OsString> = Vec::new();
    let mut saw_option = false;

    loop {
        // An explicit `--`: everything after it is the command, verbatim.
        if let Some(mut raw) = parser.try_raw_args() {
            if raw.peek().is_some_and(|a| a == "--") {
                raw.next();
                positional.extend(raw);
                break;
            }
        }
        let Some(arg) = parser.next().map_err(usage)? else {
            break;
        };
        match arg {
            Short('c') => {
                // As for `sh -c`: everything after STRING is $0 $1 ..., never an option.
                script = Some(parser.value().map_err(usage)?);
                positional.extend(parser.raw_args().map_err(usage)?);
                break;
            }
            Short('s') | Long("settings") => {
                settings = Some(parser.value().map_err(usage)?.into());
            }
            Short('t') | Long("template") => {
                template = Some(string_value(parser.value().map_err(usage)?, "--template")?);
            }
            Long("shell") => {
                shell = parse_shell(&parser.value().map_err(usage)?)?;
                shell_given = true;
            }
            Short('d') | Long("debug") => debug = true,
            Short('m') | Long("monitor") => monitor = true,
            Long("allow-reduced-isolation") => allow_reduced_isolation = true,
            Long("force-new-session") => force_new_session = true,
            Short('p') | Long("port") => {
                ports.push(parse_exposed_port(&parser.value().map_err(usage)?)?)
            }
            Long("fence-log-file") => log_file = Some(parser.value().map_err(usage)?.into()),
            Long("preserve-fds") => {
                preserve_fds = parse_preserve_fds(&parser.value().map_err(usage)?)?;
            }
            Long("proxy-connect") if !saw_option => {
                return Ok(Invocation::ProxyConnect(
                    parser.raw_args().map_err(usage)?.collect(),
                ));
            }
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('v') | Long("version") => return Ok(Invocation::Version),
            Long("list-templates") => return Ok(Invocation::ListTemplates),
            Long("linux-features") => return Ok(Invocation::Features),
            Value(first) => {
                if first == "trust" && !saw_option && script.is_none() {
                    return parse_trust(parser);
                }
                if first == "doctor" && !saw_option && script.is_none() {
                    return match parser.next().map_err(usage)? {
                        None => Ok(Invocation::Features),
                        Some(other) => Err(usage(other.unexpected())),
                    };
                }
                positional.push(first);
                positional.extend(parser.raw_args().map_err(usage)?);
                break;
            }
            other => return Err(usage(other.unexpected())),
        }
        saw_option = true;
    }

    let config = match (settings, template) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "-s/--settings and -t/--template cannot be combined: choose one config".into(),
            ));
        }
        (Some(path), None) => ConfigSource::Settings(path),
        (None, Some(name)) => ConfigSource::Template(name),
        (None, None) => ConfigSource::Discover,
    };

    let command = match script {
        Some(script) => CommandSpec::Shell {
            script,
            args: positional,
            shell,
        },
        None if positional.is_empty() => {
            return Err(Error::Usage(format!("no command given\n{USAGE}")));
        }
        None if shell_given => {
            return Err(Error::Usage("--shell only applies to -c STRING".into()));
        }
        None => CommandSpec::Argv(positional),
    };
    Ok(Invocation::Run(RunRequest {
        command,
        config,
        debug,
        monitor,
        allow_reduced_isolation,
        force_new_session,
        ports,
        log_file,
        preserve_fds,
    }))
}

/// The most fds `--preserve-fds` passes on.
pub const MAX_PRESERVED_FDS: u32 = 64;

/// `--preserve-fds N`: a count from 0 to [`MAX_PRESERVED_FDS`].
fn parse_preserve_fds(value: &std::ffi::OsStr) -> Result<u32> {
    let text = value.to_string_lossy();
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_PRESERVED_FDS && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Error::Usage(format!(
            "--preserve-fds {}: expected a number from 0 to {MAX_PRESERVED_FDS}",
            crate::output::escape(&text)
        ))),
    }
}

/// `-p [ADDR:]PORT`: ADDR is an IP literal (IPv6 in brackets), 127.0.0.1 by default.
fn parse_exposed_port(value: &std::ffi::OsStr) -> Result<std::net::SocketAddr> {
    let text = value.to_string_lossy();
    let bad = || {
        Error::Usage(format!(
            "-p {text}: expected PORT or ADDR:PORT (e.g. 3000, 0.0.0.0:3000, [::1]:3000)"
        ))
    };
    let (addr, port) = match text.rsplit_once(':') {
        Some((addr, port)) => {
            let addr = match addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
                Some(v6) => v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?.into(),
                None => addr
                    .parse::<std::net::Ipv4Addr>()
                    .map_err(|_| bad())?
                    .into(),
            };
            (addr, port)
        }
        None => (std::net::Ipv4Addr::LOCALHOST.into(), &*text),
    };
    let port = crate::policy::network::parse_port(port).ok_or_else(bad)?;
    Ok(std::net::SocketAddr::new(addr, port))
}

fn parse_trust(mut parser: lexopt::Parser) -> Result<Invocation> {
    let mut action = TrustAction::Trust;
    let mut file: Option<PathBuf> = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("list") => action = TrustAction::List,
            Long("revoke") => action = TrustAction::Revoke,
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Value(path) if file.is_none() => file = Some(path.into()),
            other => return Err(usage(other.unexpected())),
        }
    }
    if action == TrustAction::List && file.is_some() {
        return Err(Error::Usage("fence trust --list takes no file".into()));
    }
    Ok(Invocation::Trust(TrustRequest { action, file }))
}

fn parse_shell(value: &std::ffi::OsStr) -> Result<ShellChoice> {
    if value == "sh" {
        Ok(ShellChoice::Sh)
    } else if value == "user" {
        Ok(ShellChoice::User)
    } else if value.as_encoded_bytes().starts_with(b"/") {
        Ok(ShellChoice::Path(value.into()))
    } else {
        Err(Error::Usage(format!(
            "--shell expects 'sh', 'user' or an absolute path, not '{}'",
            value.to_string_lossy()
        )))
    }
}

fn string_value(value: OsString, option: &str) -> Result<String> {
    value.into_string().map_err(|v| {
        Error::Usage(format!(
            "{option}: not valid UTF-8: {}",
            v.to_string_lossy()
        ))
    })
}

fn usage(err: lexopt::Error) -> Error {
    let msg = match err {
        lexopt::Error::UnexpectedOption(opt) => format!("unknown option '{opt}'"),
        lexopt::Error::MissingValue { option: Some(opt) } => format!("{opt} needs a value"),
        other => other.to_string(),
    };
    Error::Usage(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Invocation> {
        parse(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> RunRequest {
        match parse_strs(args) {
            Ok(Invocation::Run(req)) => req,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn argv(args: &[&str]) -> CommandSpec {
        CommandSpec::Argv(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn first_positional_ends_fence_options() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["ls", "-la"], &["ls", "-la"]),
            (&["grep", "-v", "x"], &["grep", "-v", "x"]),
            (&["-d", "echo", "-s", "x"], &["echo", "-s", "x"]),
            (&["--", "-weird", "-c"], &["-weird", "-c"]),
            (&["--", "trust", "x"], &["trust", "x"]),
            (&["-d", "--", "ls", "--", "x"], &["ls", "--", "x"]),
            (&["echo", "--", "x"], &["echo", "--", "x"]),
        ];
        for (input, expected) in cases {
            assert_eq!(run(input).command, argv(expected), "{input:?}");
        }
    }

    #[test]
    fn options_are_recognised() {
        let req = run(&["-d", "-m", "-s", "cfg.json", "true"]);
        assert!(req.debug && req.monitor);
        assert_eq!(req.config, ConfigSource::Settings("cfg.json".into()));
        let req = run(&["--template", "workspace-write", "--debug", "true"]);
        assert_eq!(req.config, ConfigSource::Template("workspace-write".into()));
        let req = run(&["-dm", "true"]);
        assert!(req.debug && req.monitor && !req.allow_reduced_isolation);
        assert!(run(&["--allow-reduced-isolation", "true"]).allow_reduced_isolation);
        assert!(run(&["--force-new-session", "true"]).force_new_session);
        let req = run(&["--settings=x.json", "true"]);
        assert_eq!(req.config, ConfigSource::Settings("x.json".into()));
        let req = run(&["--fence-log-file", "/l", "true"]);
        assert_eq!(req.log_file, Some(PathBuf::from("/l")));
    }

    #[test]
    fn preserved_fds() {
        assert_eq!(run(&["true"]).preserve_fds, 0);
        for (arg, n) in [("0", 0), ("1", 1), ("64", 64)] {
            assert_eq!(run(&["--preserve-fds", arg, "true"]).preserve_fds, n);
        }
        assert_eq!(run(&["--preserve-fds=2", "true"]).preserve_fds, 2);
        for bad in ["65", "-1", "+1", "", "x", "4294967296", "\u{1b}[31m"] {
            assert!(
                matches!(
                    parse_strs(&["--preserve-fds", bad, "true"]),
                    Err(Error::Usage(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_strs(&["--preserve-fds"]),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn exposed_ports() {
        let req = run(&[
            "-p",
            "3000",
            "--port",
            "0.0.0.0:8080",
            "-p",
            "[::1]:9",
            "true",
        ]);
        let expected: Vec<std::net::SocketAddr> = vec![
            "127.0.0.1:3000".parse().unwrap(),
            "0.0.0.0:8080".parse().unwrap(),
            "[::1]:9".parse().unwrap(),
        ];
        assert_eq!(req.ports, expected);
        for bad in ["0", "70000", "+80", "x:80", "localhost:80", "", "::1:80"] {
            assert!(
                matches!(parse_strs(&["-p", bad, "true"]), Err(Error::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn proxy_connect_helper() {
        let parsed = parse_strs(&["--proxy-connect", "github.com", "22"]).unwrap();
        assert_eq!(
            parsed,
            Invocation::ProxyConnect(vec!["github.com".into(), "22".into()])
        );
    }

    #[test]
    fn shell_command() {
        let req = run(&["-c", "echo $1", "zero", "one"]);
        assert_eq!(
            req.command,
            CommandSpec::Shell {
                script: "echo $1".into(),
                args: vec!["zero".into(), "one".into()],
                shell: ShellChoice::Sh,
            }
        );
        // After -c STRING nothing is an option: `-t workspace-write` is $0 and $1.
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["-c", "x", "-t", "workspace-write"],
                &["-t", "workspace-write"],
            ),
            (&["-c", "x", "--", "a"], &["--", "a"]),
            (
                &["-c", "x", "-s", "other.json", "--help"],
                &["-s", "other.json", "--help"],
            ),
            (&["-d", "-c", "x", "-d"], &["-d"]),
            (&["-c", "x"], &[]),
        ];
        for (input, args) in cases {
            let req = run(input);
            assert_eq!(req.config, ConfigSource::Discover, "{input:?}");
            match req.command {
                CommandSpec::Shell { args: got, .. } => {
                    assert_eq!(got, args.iter().map(OsString::from).collect::<Vec<_>>())
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        let req = run(&["--shell", "user", "-c", "x"]);
        assert!(matches!(
            req.command,
            CommandSpec::Shell {
                shell: ShellChoice::User,
                ..
            }
        ));
        let req = run(&["--shell", "/bin/bash", "-c", "x"]);
        assert!(matches!(
            req.command,
            CommandSpec::Shell {
                shell: ShellChoice::Path(_),
                ..
            }
        ));
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus", "ls"], "unknown option '--bogus'"),
            (&["-x", "ls"], "unknown option '-x'"),
            (&["-s", "a.json", "-t", "code", "ls"], "cannot be combined"),
            (&[], "no command given"),
            (&["-d"], "no command given"),
            (&["-s"], "needs a value"),
            (&["--shell", "bash", "-c", "x"], "--shell expects"),
            (&["--shell", "user", "ls"], "--shell only applies"),
            (&["trust", "--bogus"], "unknown option '--bogus'"),
            (&["trust", "--list", "x"], "takes no file"),
        ];
        for (input, needle) in cases {
            match parse_strs(input) {
                Err(err @ Error::Usage(_)) => {
                    assert!(err.to_string().contains(needle), "{input:?}: {err}");
                    assert_eq!(err.exit_code(), 125);
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse_strs(&["-h"]).unwrap(), Invocation::Help);
        assert_eq!(
            parse_strs(&["-s", "broken.json", "--help"]).unwrap(),
            Invocation::Help
        );
        assert_eq!(parse_strs(&["-v"]).unwrap(), Invocation::Version);
        assert_eq!(
            parse_strs(&["--list-templates"]).unwrap(),
            Invocation::ListTemplates
        );
    }

    #[test]
    fn trust_subcommand() {
        let cases: &[(&[&str], TrustAction, Option<&str>)] = &[
            (&["trust"], TrustAction::Trust, None),
            (
                &["trust", "fence.json"],
                TrustAction::Trust,
                Some("fence.json"),
            ),
            (
                &["trust", "--revoke", "x.json"],
                TrustAction::Revoke,
                Some("x.json"),
            ),
            (&["trust", "--list"], TrustAction::List, None),
        ];
        for (input, action, file) in cases {
            let expected = TrustRequest {
                action: match action {
                    TrustAction::Trust => TrustAction::Trust,
                    TrustAction::Revoke => TrustAction::Revoke,
                    TrustAction::List => TrustAction::List,
                },
                file: file.map(PathBuf::from),
            };
            assert_eq!(
                parse_strs(input).unwrap(),
                Invocation::Trust(expected),
                "{input:?}"
            );
        }
        // After an option, `trust` is a command name.
        assert_eq!(run(&["-d", "trust", "x"]).command, argv(&["trust", "x"]));
    }
}
