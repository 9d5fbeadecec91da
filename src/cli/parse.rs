//! The parser: lexopt's tokens, each option looked up in the table of [`super::flags`].

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use super::flags::{self, FLAGS, Flag, Id, SubId, Subcommand};
use super::{
    CommandSpec, Invocation, LearnRequest, RunRequest, ShellChoice, TrustAction, TrustRequest,
};
use crate::config::ConfigSource;
use crate::error::{Error, Result};
use crate::output::escape;

/// Parses fence's arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Invocation> {
    let mut parser = lexopt::Parser::from_args(args);
    parse_run(&mut parser, None)
}

/// `fence learn`'s own options, besides a run's.
#[derive(Debug, Default)]
struct LearnOptions {
    output: Option<PathBuf>,
    force: bool,
}

/// A run's options and command. For `fence learn` (`learn` holds its options), the learn
/// table's options are accepted too, and no subcommand is recognised.
fn parse_run(
    parser: &mut lexopt::Parser,
    mut learn: Option<(&Subcommand, &mut LearnOptions)>,
) -> Result<Invocation> {
    let mut script: Option<OsString> = None;
    let mut settings: Option<PathBuf> = None;
    let mut template: Option<String> = None;
    let mut shell = ShellChoice::Sh;
    let mut shell_given = false;
    let mut debug = false;
    let mut monitor = false;
    let mut quiet = false;
    let mut allow_reduced_isolation = false;
    let mut force_new_session = false;
    let mut ports = Vec::new();
    let mut log_file = None;
    let mut log_format = crate::events::Format::Text;
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
        let id = match arg {
            Value(first) => {
                // A subcommand only as the very first argument.
                let sub = first.to_str().and_then(flags::subcommand);
                match sub {
                    Some(sub) if !saw_option && learn.is_none() => {
                        return parse_subcommand(parser, sub);
                    }
                    _ => {}
                }
                positional.push(first);
                positional.extend(parser.raw_args().map_err(usage)?);
                break;
            }
            _ => match lookup(FLAGS, &arg) {
                // The ssh ProxyCommand helper must come first (and is no learn option).
                Some(Id::ProxyConnect) if saw_option || learn.is_some() => None,
                None => learn.as_ref().and_then(|(sub, _)| lookup(sub.flags, &arg)),
                found => found,
            },
        };
        let Some(id) = id else {
            return Err(usage(arg.unexpected()));
        };
        match id {
            Id::Script => {
                // As for `sh -c`: everything after STRING is $0 $1 ..., never an option.
                script = Some(parser.value().map_err(usage)?);
                positional.extend(parser.raw_args().map_err(usage)?);
                break;
            }
            Id::Settings => settings = Some(parser.value().map_err(usage)?.into()),
            Id::Template => {
                template = Some(string_value(parser.value().map_err(usage)?, "--template")?);
            }
            Id::Shell => {
                shell = parse_shell(&parser.value().map_err(usage)?)?;
                shell_given = true;
            }
            Id::Debug => debug = true,
            Id::Monitor => monitor = true,
            Id::Quiet => quiet = true,
            Id::AllowReducedIsolation => allow_reduced_isolation = true,
            Id::ForceNewSession => force_new_session = true,
            Id::Port => ports.push(parse_exposed_port(&parser.value().map_err(usage)?)?),
            Id::FenceLogFile => log_file = Some(parser.value().map_err(usage)?.into()),
            Id::LogFormat => {
                let value = string_value(parser.value().map_err(usage)?, "--log-format")?;
                log_format = crate::events::Format::parse(&value).ok_or_else(|| {
                    Error::Usage(format!(
                        "--log-format {}: expected text or json",
                        escape(&value)
                    ))
                })?;
            }
            Id::PreserveFds => {
                preserve_fds = parse_preserve_fds(&parser.value().map_err(usage)?)?;
            }
            Id::ProxyConnect => {
                return Ok(Invocation::ProxyConnect(
                    parser.raw_args().map_err(usage)?.collect(),
                ));
            }
            Id::Help => return Ok(Invocation::Help),
            Id::Version => return Ok(Invocation::Version),
            Id::ListTemplates => return Ok(Invocation::ListTemplates),
            Id::LinuxFeatures => return Ok(Invocation::Features),
            Id::LearnOutput | Id::LearnForce => {
                let Some((_, options)) = learn.as_mut() else {
                    return Err(usage(arg.unexpected()));
                };
                if id == Id::LearnForce {
                    options.force = true;
                } else {
                    options.output = Some(parser.value().map_err(usage)?.into());
                }
            }
            // Options of `fence trust`, not in FLAGS.
            Id::TrustList | Id::TrustRevoke => return Err(usage(arg.unexpected())),
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
        None if positional.is_empty() => return Err(Error::NoCommand),
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
        quiet,
        allow_reduced_isolation,
        force_new_session,
        ports,
        log_file,
        log_format,
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
            "-p {}: expected PORT or ADDR:PORT (e.g. 3000, 0.0.0.0:3000, [::1]:3000)",
            escape(&text)
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

/// The option in `table` that an option token names.
fn lookup(table: &[Flag], arg: &lexopt::Arg) -> Option<Id> {
    let found = match arg {
        Short(c) => flags::find(table, Some(*c), None),
        Long(name) => flags::find(table, None, Some(name)),
        Value(_) => None,
    };
    found.map(|f| f.id)
}

fn parse_subcommand(parser: &mut lexopt::Parser, sub: &Subcommand) -> Result<Invocation> {
    match sub.id {
        SubId::Trust => parse_trust(parser, sub),
        SubId::Learn => {
            let mut options = LearnOptions::default();
            match parse_run(parser, Some((sub, &mut options)))? {
                Invocation::Run(run) => Ok(Invocation::Learn(LearnRequest {
                    run,
                    output: options.output,
                    force: options.force,
                })),
                other => Ok(other),
            }
        }
        SubId::Doctor => match parser.next().map_err(usage)? {
            None => Ok(Invocation::Features),
            Some(other) => Err(usage(other.unexpected())),
        },
    }
}

fn parse_trust(parser: &mut lexopt::Parser, sub: &Subcommand) -> Result<Invocation> {
    let mut action = TrustAction::Trust;
    let mut file: Option<PathBuf> = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        let id = match arg {
            Value(path) if file.is_none() => {
                file = Some(path.into());
                continue;
            }
            _ => lookup(sub.flags, &arg),
        };
        match id {
            Some(Id::TrustList) => action = TrustAction::List,
            Some(Id::TrustRevoke) => action = TrustAction::Revoke,
            Some(Id::Help) => return Ok(Invocation::Help),
            _ => return Err(usage(arg.unexpected())),
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
            escape(&value.to_string_lossy())
        )))
    }
}

fn string_value(value: OsString, option: &str) -> Result<String> {
    value.into_string().map_err(|v| {
        Error::Usage(format!(
            "{option}: not valid UTF-8: {}",
            crate::output::escape_bytes(v.as_encoded_bytes())
        ))
    })
}

/// A usage error from lexopt. Arguments are quoted escaped: a newline or a terminal
/// control sequence in one cannot forge or hide a line (every line of fence's starts with
/// `fence:`).
fn usage(err: lexopt::Error) -> Error {
    let msg = match err {
        lexopt::Error::UnexpectedOption(opt) => format!("unknown option '{}'", escape(&opt)),
        lexopt::Error::MissingValue { option: Some(opt) } => {
            format!("{} needs a value", escape(&opt))
        }
        lexopt::Error::UnexpectedValue { option, value } => format!(
            "{} takes no value (got '{}')",
            escape(&option),
            escape(&value.to_string_lossy())
        ),
        // The others quote the argument with `{:?}`, which escapes control characters.
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
        assert_eq!(req.log_format, crate::events::Format::Text);
        let req = run(&["--log-format", "json", "-m", "true"]);
        assert_eq!(req.log_format, crate::events::Format::Json);
        let err = parse_strs(&["--log-format", "xml\n", "true"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--log-format xml\\n: expected text or json"),
            "{err}"
        );
    }

    #[test]
    fn learn_takes_its_options_and_a_run() {
        let parsed = parse_strs(&[
            "learn", "-o", "f.json", "--force", "-t", "code", "--", "npm", "i",
        ]);
        let Ok(Invocation::Learn(req)) = parsed else {
            panic!("{parsed:?}");
        };
        assert_eq!(req.output, Some(PathBuf::from("f.json")));
        assert!(req.force);
        assert_eq!(req.run.config, ConfigSource::Template("code".into()));
        assert_eq!(req.run.command, argv(&["npm", "i"]));
        // A command named like a subcommand is a command; learn's options are not a run's.
        let parsed = parse_strs(&["learn", "trust", "x"]);
        assert!(
            matches!(&parsed, Ok(Invocation::Learn(r)) if r.run.command == argv(&["trust", "x"]) && r.output.is_none())
        );
        assert!(is_unknown_option(&parse_strs(&["-o", "f", "true"])));
        assert!(is_unknown_option(&parse_strs(&[
            "learn",
            "--proxy-connect",
            "h",
            "1"
        ])));
        assert!(matches!(
            parse_strs(&["learn", "-o", "f"]),
            Err(Error::NoCommand)
        ));
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
            (&["-s"], "needs a value"),
            (&["--shell", "bash", "-c", "x"], "--shell expects"),
            (&["--shell", "user", "ls"], "--shell only applies"),
            (&["trust", "--bogus"], "unknown option '--bogus'"),
            (&["trust", "--list", "x"], "takes no file"),
            (&["--debug=x", "ls"], "--debug takes no value (got 'x')"),
            // Arguments are quoted escaped: one line, nothing a terminal acts on.
            (&["--a\nb", "ls"], "unknown option '--a\\nb'"),
            (
                &["--x\u{1b}]0;T\u{7}", "ls"],
                "unknown option '--x\\e]0;T\\x07'",
            ),
            (&["-p", "1\n2", "ls"], "-p 1\\n2: expected PORT"),
            (&["--shell", "a\u{1b}[2J", "-c", "x"], "not 'a\\e[2J'"),
            (&["trust", "a", "b\nc"], "unexpected argument \"b\\nc\""),
        ];
        for (input, needle) in cases {
            match parse_strs(input) {
                Err(err @ Error::Usage(_)) => {
                    let text = err.to_string();
                    assert!(text.contains(needle), "{input:?}: {err}");
                    assert!(!text.chars().any(char::is_control), "{input:?}: {text:?}");
                    assert_eq!(err.exit_code(), 125);
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        for input in [&[][..], &["-d"], &["-s", "x.json"]] {
            assert!(
                matches!(parse_strs(input), Err(Error::NoCommand)),
                "{input:?}"
            );
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

    /// A valid value for each option that takes one (a new option must be added here).
    fn sample_value(flag: &Flag) -> Vec<&'static str> {
        match flag.id {
            Id::Script => vec!["x"],
            Id::Settings => vec!["cfg.json"],
            Id::Template => vec!["default"],
            Id::Shell => vec!["sh", "-c", "x"],
            Id::Port => vec!["3000"],
            Id::FenceLogFile => vec!["/l"],
            Id::LogFormat => vec!["json"],
            Id::PreserveFds => vec!["1"],
            Id::ProxyConnect => vec!["github.com", "22"],
            Id::Debug
            | Id::Monitor
            | Id::Quiet
            | Id::AllowReducedIsolation
            | Id::ForceNewSession
            | Id::ListTemplates
            | Id::LinuxFeatures
            | Id::Help
            | Id::Version
            | Id::TrustList
            | Id::TrustRevoke
            | Id::LearnForce => vec![],
            Id::LearnOutput => vec!["out.json"],
        }
    }

    fn is_unknown_option(result: &Result<Invocation>) -> bool {
        matches!(result, Err(Error::Usage(msg)) if msg.starts_with("unknown option"))
    }

    /// Option names to try: every one in a table, near misses, and every short letter.
    fn candidates() -> Vec<String> {
        let mut names: Vec<String> = FLAGS
            .iter()
            .chain(flags::SUBCOMMANDS.iter().flat_map(|s| s.flags))
            .flat_map(|f| f.names())
            .collect();
        let near: Vec<String> = names
            .iter()
            .filter(|n| n.len() > 3)
            .flat_map(|n| [n[..n.len() - 1].to_string(), format!("{n}s")])
            .collect();
        names.extend(near);
        names.extend(
            ['a'..='z', 'A'..='Z', '0'..='9']
                .into_iter()
                .flatten()
                .map(|c| format!("-{c}")),
        );
        names.extend(["--", "--x", "--generate", "--trust", "--doctor"].map(String::from));
        names
    }

    #[test]
    fn every_option_in_the_table_is_accepted() {
        for flag in FLAGS {
            for name in flag.names() {
                let mut args = vec![name.as_str()];
                args.extend(sample_value(flag));
                args.push("true");
                let result = parse_strs(&args);
                assert!(result.is_ok(), "{args:?} gave {result:?}");
            }
        }
        for sub in flags::SUBCOMMANDS {
            for flag in sub.flags {
                for name in flag.names() {
                    let mut args = vec![sub.name, name.as_str()];
                    if sub.id == SubId::Learn {
                        args.extend(sample_value(flag));
                        args.push("true");
                    }
                    let result = parse_strs(&args);
                    assert!(result.is_ok(), "{args:?} gave {result:?}");
                }
            }
        }
    }

    #[test]
    fn every_option_accepted_is_in_the_table() {
        let known =
            |table: &[Flag], name: &str| table.iter().any(|f| f.names().iter().any(|n| n == name));
        for name in candidates() {
            if name == "--" {
                continue;
            }
            let result = parse_strs(&[&name, "v", "true"]);
            assert_eq!(
                !is_unknown_option(&result),
                known(FLAGS, &name),
                "{name}: {result:?}"
            );
            for sub in flags::SUBCOMMANDS {
                // `fence learn` takes a run's options too (not --proxy-connect).
                let (result, expected) = if sub.id == SubId::Learn {
                    let run_option = known(FLAGS, &name) && name != "--proxy-connect";
                    let result = parse_strs(&[sub.name, &name, "v", "true"]);
                    (result, known(sub.flags, &name) || run_option)
                } else {
                    (parse_strs(&[sub.name, &name]), known(sub.flags, &name))
                };
                assert_eq!(
                    !is_unknown_option(&result),
                    expected,
                    "{} {name}: {result:?}",
                    sub.name
                );
            }
        }
    }
}
