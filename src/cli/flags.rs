//! The one definition of fence's options and subcommands.
//!
//! The parser looks every option up here (an option not in [`FLAGS`] is unknown), and
//! `--help`, the man page's OPTIONS section and the shell completions are generated from
//! these tables (src/cli/help.rs at run time; src/cli/generate/ at test time, whose test
//! fails when a committed file no longer matches).

/// What an option means to the parser: it matches on this, exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Script,
    Settings,
    Template,
    Shell,
    Debug,
    Monitor,
    Quiet,
    AllowReducedIsolation,
    ForceNewSession,
    Port,
    FenceLogFile,
    LogFormat,
    PreserveFds,
    ProxyConnect,
    ListTemplates,
    LinuxFeatures,
    Help,
    Version,
    TrustList,
    TrustRevoke,
    LearnOutput,
    LearnForce,
}

/// How a shell completes an option's value (or a subcommand's operand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// Free text (a port, a count, a shell script): nothing to offer.
    Text,
    /// A file name.
    File,
    /// A built-in template name (src/config/templates.rs).
    Template,
    /// `sh`, `user`, or an absolute path.
    Shell,
}

/// One option.
#[derive(Debug)]
pub struct Flag {
    pub id: Id,
    pub short: Option<char>,
    pub long: Option<&'static str>,
    /// The value's name (`FILE`); `None` for a switch.
    pub value: Option<&'static str>,
    pub complete: Complete,
    /// Whether giving it again adds to it (rather than replacing it).
    pub repeatable: bool,
    /// One line for completion menus.
    pub summary: &'static str,
    /// The `--help` text, wrapped by hand; continuation lines are indented when printed.
    /// Empty: not listed in `--help`.
    pub help: &'static str,
    /// The man page's text, roff; leading blanks of each line are dropped. Empty: not
    /// listed in the man page.
    pub man: &'static str,
}

/// Which subcommand: the parser matches on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubId {
    Trust,
    Learn,
    Doctor,
}

/// A subcommand: recognised only as the first argument.
#[derive(Debug)]
pub struct Subcommand {
    pub id: SubId,
    pub name: &'static str,
    /// What follows the name in the usage lines.
    pub synopsis: &'static str,
    /// An option that does the same, shown in `--help`'s usage lines.
    pub alias: Option<&'static str>,
    /// The operand (`FILE`) and how to complete it.
    pub operand: Option<(&'static str, Complete)>,
    pub summary: &'static str,
    /// The man page's text for the subcommand without options, roff.
    pub man: &'static str,
    /// Its options; those that also accept the operand say so in [`Subcommand::operand_with`].
    pub flags: &'static [Flag],
    /// The options after which the operand is still accepted (for the man page).
    pub operand_with: &'static [Id],
}

const fn flag(id: Id, short: Option<char>, long: Option<&'static str>) -> Flag {
    Flag {
        id,
        short,
        long,
        value: None,
        complete: Complete::Text,
        repeatable: false,
        summary: "",
        help: "",
        man: "",
    }
}

/// fence's own options, in the order `--help` and the man page list them.
pub const FLAGS: &[Flag] = &[
    Flag {
        value: Some("STRING"),
        summary: "run STRING with a shell (see --shell)",
        help: "Run STRING with /bin/sh -c (see --shell); the arguments after\n\
               STRING become $0, $1, ... (fence's options go before -c)",
        man: r"Run \fISTRING\fR with \fB/bin/sh \-c\fR (see \fB\-\-shell\fR); the
               arguments after \fISTRING\fR become \fB$0\fR, \fB$1\fR, ..., even when they
               look like fence options: put fence's options before \fB\-c\fR.",
        ..flag(Id::Script, Some('c'), None)
    },
    Flag {
        value: Some("FILE"),
        complete: Complete::File,
        summary: "use this config file (no trust check)",
        help: "Use this config file (explicit consent: no trust check)",
        man: r"Use this configuration file (relative to the current directory).
               This is explicit consent: no trust check.",
        ..flag(Id::Settings, Some('s'), Some("settings"))
    },
    Flag {
        value: Some("NAME"),
        complete: Complete::Template,
        summary: "use a built-in template",
        help: "Use a built-in template (see --list-templates)",
        man: r"Use a built-in template: \fBdefault\fR or \fBworkspace\-write\fR (a
               trailing \fB.json\fR is ignored).
               \fB\-s\fR and \fB\-t\fR cannot be combined.",
        ..flag(Id::Template, Some('t'), Some("template"))
    },
    Flag {
        value: Some("SHELL"),
        complete: Complete::Shell,
        summary: "shell for -c (sh, user for $SHELL, or an absolute path)",
        help: "Shell for -c: 'sh' (/bin/sh, the default), 'user' ($SHELL,\n\
               which must be an absolute path to an executable), or an\n\
               absolute path",
        man: r"The shell for \fB\-c\fR: \fBsh\fR (\fI/bin/sh\fR, the default), \fBuser\fR
               (\fB$SHELL\fR, which must be an absolute path to an executable), or an
               absolute path to an executable.
               Only valid with \fB\-c\fR.",
        ..flag(Id::Shell, None, Some("shell"))
    },
    Flag {
        summary: "explain what fence does",
        help: "Explain what fence does (config chain, bwrap arguments, ...)",
        man: r"Explain what fence does: the configuration chain, skipped paths, the bwrap
               command line, the init's setup steps, and every proxy decision (see
               \fBMONITORING\fR).",
        ..flag(Id::Debug, Some('d'), Some("debug"))
    },
    Flag {
        summary: "print one line per denied request or operation",
        help: "Print one line per denied network request (and, where the\n\
               kernel allows, filesystem write, direct connect, command),\n\
               each distinct one once; repeats are counted at exit",
        man: r"Print one line per distinct denied event: a network request the proxies
               refused, and, where the kernel offers seccomp user notification, a
               filesystem write, a direct connect or a command the policy refuses.
               Repeats are counted and shown once more at exit with their count (see
               \fBMONITORING\fR).",
        ..flag(Id::Monitor, Some('m'), Some("monitor"))
    },
    Flag {
        summary: "no summary line of denials at exit",
        help: "Do not print the line that sums up what was denied at exit\n\
               (also: \"quiet\": true in the config)",
        man: r#"Do not print the summary line of denials that fence otherwise prints at
               exit when anything was denied (see
               \fBMONITORING\fR); the same as \fB"quiet": true\fR in the configuration.
               The \fB\-m\fR lines are still printed."#,
        ..flag(Id::Quiet, Some('q'), Some("quiet"))
    },
    Flag {
        summary: "run even without Landlock, seccomp or user namespaces",
        help: "Run even if the kernel lacks Landlock or seccomp, or refuses\n\
               user namespaces (then Landlock and seccomp alone); fence\n\
               says what is lost instead of refusing to run",
        man: r"Run even if bwrap is missing or the kernel lacks Landlock or seccomp or
               refuses user namespaces, with a warning naming what is lost, instead of
               refusing.",
        ..flag(
            Id::AllowReducedIsolation,
            None,
            Some("allow-reduced-isolation"),
        )
    },
    Flag {
        summary: "run the command in a new terminal session",
        help: "Run the command in a new terminal session: no job control,\n\
               no /dev/tty (default: share the terminal; TIOCSTI is blocked)",
        man: r"Run the command in a terminal session of its own: no job control, no
               \fI/dev/tty\fR.",
        ..flag(Id::ForceNewSession, None, Some("force-new-session"))
    },
    Flag {
        value: Some("[ADDR:]PORT"),
        repeatable: true,
        summary: "expose the sandbox's port PORT on the host",
        help: "Expose the sandbox's port PORT on the host at ADDR:PORT\n\
               (ADDR defaults to 127.0.0.1; repeatable)",
        man: r"Expose the sandbox's port \fIPORT\fR on the host at
               \fIADDR\fB:\fIPORT\fR.
               \fIADDR\fR is an IPv4 address or a bracketed IPv6 address (default
               \fB127.0.0.1\fR), \fIPORT\fR 1\(en65535.
               Repeatable; see \fBExposing ports\fR under \fBNETWORK\fR.",
        ..flag(Id::Port, Some('p'), Some("port"))
    },
    Flag {
        value: Some("PATH"),
        complete: Complete::File,
        summary: "append the network lines of -m and -d to PATH",
        help: "Append the network lines of -m and -d to PATH instead of\n\
               stderr",
        man: r"Append the proxies' decision lines (those of \fB\-m\fR and \fB\-d\fR) to
               \fIPATH\fR instead of standard error.
               fence's other messages stay on standard error.
               Keep \fIPATH\fR outside every path the sandbox may write; a symbolic link,
               a non-regular file or a file with other hard links is refused (see
               \fBMONITORING\fR).",
        ..flag(Id::FenceLogFile, None, Some("fence-log-file"))
    },
    Flag {
        value: Some("FORMAT"),
        summary: "text (the default) or json lines for -m and -d",
        help: "Write the lines of -m and -d as 'text' (the default) or\n\
               'json' (one object per line; see the man page)",
        man: r"Write the lines of \fB\-m\fR and \fB\-d\fR as \fBtext\fR (the default) or
               as \fBjson\fR: one JSON object per line, with the fields listed under
               \fBMONITORING\fR.
               Applies to standard error and to \fB\-\-fence\-log\-file\fR alike.",
        ..flag(Id::LogFormat, None, Some("log-format"))
    },
    Flag {
        value: Some("N"),
        summary: "pass the inherited fds 3 to 3+N-1 to the command",
        help: "Pass the inherited file descriptors 3 to 3+N-1 to the command\n\
               (at most 64; they must be open). Without it the command gets\n\
               only stdin, stdout and stderr: an open fd reaches past the\n\
               sandbox (a directory fd opens files the policy hides)",
        man: r"Pass the inherited file descriptors 3 to 3+\fIN\fR\-1 to the command
               (\fIN\fR at most 64; each must be open).
               Without it, only standard input, output and error reach the command: any
               other open descriptor (a shell's \fBexec 9</some/dir\fR) would reach past
               the sandbox, so this is a grant, like a config rule that allows more.",
        ..flag(Id::PreserveFds, None, Some("preserve-fds"))
    },
    Flag {
        value: Some("HOST PORT"),
        summary: "ssh ProxyCommand through the sandbox's SOCKS5 proxy",
        help: "Connect to HOST:PORT through the sandbox's SOCKS5 proxy and\n\
               relay stdin/stdout (an ssh ProxyCommand; used inside fence)",
        man: r"Connect to \fIHOST\fB:\fIPORT\fR through the SOCKS5 proxy named by
               \fBALL_PROXY\fR and relay standard input and output: an ssh
               \fBProxyCommand\fR for use inside the sandbox.
               It must be the first argument and takes exactly two more.",
        ..flag(Id::ProxyConnect, None, Some("proxy-connect"))
    },
    Flag {
        summary: "list the built-in templates",
        help: "List the built-in templates",
        man: "List the built-in templates.",
        ..flag(Id::ListTemplates, None, Some("list-templates"))
    },
    Flag {
        summary: "check what this machine offers (same as fence doctor)",
        help: "Check what this machine offers (same as `fence doctor`)",
        man: r"The same as \fBfence doctor\fR.",
        ..flag(Id::LinuxFeatures, None, Some("linux-features"))
    },
    Flag {
        summary: "show the help",
        help: "Show this help",
        man: "Show a summary of the options.",
        ..flag(Id::Help, Some('h'), Some("help"))
    },
    Flag {
        summary: "show the version",
        help: "Show the version",
        man: "Show the version.",
        ..flag(Id::Version, Some('v'), Some("version"))
    },
];

/// The subcommands, in the order the usage lines and the man page list them.
pub const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        id: SubId::Trust,
        name: "trust",
        synopsis: "[--list | --revoke] [FILE]",
        alias: None,
        operand: Some(("FILE", Complete::File)),
        summary: "trust a project config",
        man: r"Trust the exact content of the project config found from the current
               directory (or of \fIFILE\fR) and of every file it extends; print what it
               grants.",
        flags: &[
            Flag {
                summary: "forget that trust",
                man: "Forget that trust.",
                ..flag(Id::TrustRevoke, None, Some("revoke"))
            },
            Flag {
                summary: "list trusted files",
                man: r"List trusted files, each followed by a tab and \fBtrusted\fR or
                       \fBchanged since trusted (not applied)\fR, or one line saying that
                       no project config is trusted.
                       Takes no \fIFILE\fR.",
                ..flag(Id::TrustList, None, Some("list"))
            },
            Flag {
                summary: "show the help",
                ..flag(Id::Help, Some('h'), Some("help"))
            },
        ],
        operand_with: &[Id::TrustRevoke],
    },
    Subcommand {
        id: SubId::Learn,
        name: "learn",
        synopsis: "[-o FILE] [--force] [OPTIONS] [--] COMMAND [ARGS...]",
        alias: None,
        operand: None,
        summary: "run a command and write the config it needs",
        man: r"Run \fICOMMAND\fR (with fence's \fIOPTIONS\fR, such as \fB\-t\fR, \fB\-s\fR,
               \fB\-c\fR) under the policy in force, except that the proxies let through,
               and record, every host that \fBdeniedDomains\fR does not refuse (the
               address checks and every filesystem rule still apply).
               Then write a JSONC config to standard output that extends the policy in
               force, adds the hosts used to \fBallowedDomains\fR, and lists the refused
               writes as commented-out \fBallowWrite\fR suggestions (see \fBLEARNING\fR).
               The exit status is the command's.",
        flags: &[
            Flag {
                value: Some("FILE"),
                complete: Complete::File,
                summary: "write the config to FILE (atomically)",
                man: r"Write the config to \fIFILE\fR instead, atomically; an existing
                       \fIFILE\fR is an error (before the command runs) unless
                       \fB\-\-force\fR is given.
                       \fIFILE\fR is a project config like any other: it applies only once
                       you run \fBfence trust\fR on it.",
                ..flag(Id::LearnOutput, Some('o'), Some("output"))
            },
            Flag {
                summary: "replace FILE if it exists",
                man: r"Replace \fIFILE\fR if it exists.",
                ..flag(Id::LearnForce, None, Some("force"))
            },
            Flag {
                summary: "show the help",
                ..flag(Id::Help, Some('h'), Some("help"))
            },
        ],
        operand_with: &[],
    },
    Subcommand {
        id: SubId::Doctor,
        name: "doctor",
        synopsis: "",
        alias: Some("fence --linux-features"),
        operand: None,
        summary: "check what this machine offers",
        man: r"Show what this machine offers: kernel, bubblewrap, whether the namespaces
               can be created (it tries), the Landlock ABI, seccomp support and whether a
               seccomp notification listener can be installed (it tries, in a child: what
               B\-mR's filesystem events, Bfence learnR and exec checks need),
               Ubuntu's AppArmor user-namespace rule, a container if one is detected, and
               the verdict (full isolation, reduced only, or cannot run).",
        flags: &[],
        operand_with: &[],
    },
];

/// The option `-C` or `--NAME` names in `flags`.
pub fn find<'a>(flags: &'a [Flag], short: Option<char>, long: Option<&str>) -> Option<&'a Flag> {
    flags
        .iter()
        .find(|f| (short.is_some() && f.short == short) || (long.is_some() && f.long == long))
}

/// The subcommand named `name`.
pub fn subcommand(name: &str) -> Option<&'static Subcommand> {
    SUBCOMMANDS.iter().find(|s| s.name == name)
}

impl Flag {
    /// `-s, --settings` / `--shell` / `-c`: the names as the user types them.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        names.extend(self.short.map(|c| format!("-{c}")));
        names.extend(self.long.map(|l| format!("--{l}")));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> impl Iterator<Item = &'static [Flag]> {
        std::iter::once(FLAGS).chain(SUBCOMMANDS.iter().map(|s| s.flags))
    }

    #[test]
    fn names_and_ids_are_unique_per_table() {
        for table in tables() {
            let mut names: Vec<String> = table.iter().flat_map(|f| f.names()).collect();
            let mut ids: Vec<String> = table.iter().map(|f| format!("{:?}", f.id)).collect();
            let (n, i) = (names.len(), ids.len());
            names.sort();
            names.dedup();
            ids.sort();
            ids.dedup();
            assert_eq!((names.len(), ids.len()), (n, i), "{table:?}");
        }
        for flag in FLAGS {
            assert!(!matches!(
                flag.id,
                Id::TrustList | Id::TrustRevoke | Id::LearnOutput | Id::LearnForce
            ));
        }
    }

    #[test]
    fn entries_are_complete() {
        for flag in tables().flatten() {
            assert!(!flag.names().is_empty());
            assert!(!flag.summary.is_empty(), "{flag:?}");
            assert!(
                !flag.summary.contains(['\n', '"', '[', ']', ':', '`', '\\']),
                "{flag:?}"
            );
            if flag.value.is_none() {
                assert_eq!(flag.complete, Complete::Text, "{flag:?}");
            }
            // Roff: no line may start a request, nor carry a stray backslash-newline.
            for line in flag.man.lines() {
                let line = line.trim_start();
                assert!(!line.starts_with(['.', '\'']), "{flag:?}");
            }
        }
        for flag in FLAGS {
            assert!(!flag.help.is_empty() && !flag.man.is_empty(), "{flag:?}");
        }
        for sub in SUBCOMMANDS {
            assert!(
                !sub.summary.is_empty() && !sub.man.is_empty(),
                "{}",
                sub.name
            );
            assert!(!sub.summary.contains(['\n', '"', '[', ']', ':', '`', '\\']));
        }
    }
}
