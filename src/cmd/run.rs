//! One fence run: resolve the config, compile the policy, run the command in the sandbox.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::{CommandSpec, RunRequest, ShellChoice};
use crate::config;
use crate::error::{Error, Result};
use crate::exec::{Outcome, is_executable_file};
use crate::host_env::HostEnv;
use crate::policy;

/// Runs the request; the outcome is the command's.
pub fn execute(req: RunRequest) -> Result<Outcome> {
    execute_mode(req, None)
}

/// What a `fence learn` run brings back besides the outcome.
#[derive(Debug, Default)]
pub struct Learning {
    /// The policy in force as an `extends` value (`None`: fence's built-in default).
    pub extends: Option<String>,
    /// The config file of the policy in force, if it is one.
    pub config_file: Option<PathBuf>,
    /// The distinct events of the run, with their counts, and how many were not kept.
    pub events: Vec<(crate::events::Kept, u64)>,
    pub untracked: u64,
    /// The run's read-only paths (protected files among them), and `$HOME`.
    pub deny_write: Vec<PathBuf>,
    pub home: Option<PathBuf>,
}

/// Runs the request as `fence learn` does: the proxies let through (and record) every
/// host that `deniedDomains` does not refuse; every event is kept in `learning`.
pub fn execute_learning(req: RunRequest, learning: &mut Learning) -> Result<Outcome> {
    execute_mode(req, Some(learning))
}

fn execute_mode(req: RunRequest, mut learning: Option<&mut Learning>) -> Result<Outcome> {
    // Before fence opens anything of its own: only then are fds 3.. all inherited.
    keep_only_preserved_fds(req.preserve_fds)?;
    // bwrap starts now and waits for its plan while fence works it out (Linux).
    #[cfg(target_os = "linux")]
    let launch = crate::linux::launch_early();
    let host = HostEnv::from_process()?;
    let gated = policy::trust_gate::apply(config::resolve(&req.config, &host)?, &host)?;
    let resolved = gated.resolved;
    for step in &resolved.chain {
        log::debug!("config: {step}");
    }
    // Errors about one config value get the file, line and column where it is written.
    let locate = |e| config::locate(e, &resolved.files);
    // Settings this platform cannot honour are refused (Linux-only ones on macOS); the
    // other platform's own are only a note.
    let flags = policy::platform::Flags {
        allow_reduced_isolation: req.allow_reduced_isolation,
        force_new_session: req.force_new_session,
    };
    let target = policy::platform::Target::current();
    for note in policy::platform::check(&resolved.config, flags, target).map_err(locate)? {
        log::debug!("{note}");
    }
    let mut policy = match gated.policy {
        Some(classified) => classified,
        None => policy::compile(&resolved.config, &host).map_err(locate)?,
    };
    let prepared = gated.prepared;
    policy.warnings.retain(|w| !prepared.superseded.contains(w));
    policy.notes.splice(0..0, prepared.notes);
    policy.warnings.splice(0..0, prepared.warnings);
    let (network, network_warnings) =
        policy::network::compile(&resolved.config, &req.ports).map_err(locate)?;
    policy.network = network;
    policy.warnings.extend(network_warnings);
    if let Some(learning) = learning.as_deref_mut() {
        policy.network.domains.learn = true;
        (learning.extends, learning.config_file) = match &resolved.origin {
            config::Origin::Template(name) => (Some(name.clone()), None),
            config::Origin::Settings(path) | config::Origin::Project(path) => {
                let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                (Some(path.to_string_lossy().into_owned()), Some(path))
            }
            config::Origin::User(_) => (Some("@base".into()), None),
            config::Origin::Default => (None, None),
        };
        learning.deny_write = (policy.deny_write.iter().cloned())
            .chain(policy.placeholders.iter().map(|t| t.path.clone()))
            .collect();
        learning.home = host.home.clone();
    }
    if req.force_new_session {
        policy.force_new_session = Some(true);
    }
    // Notes and warnings quote paths and config entries: escaped, they cannot act on a
    // terminal.
    for note in &policy.notes {
        log::debug!("{}", crate::output::escape(note));
    }
    for warning in &policy.warnings {
        log::warn!("{}", crate::output::escape(warning));
    }
    let (rules, ssh) = preflight(&resolved, &host, &req.command)?;
    let argv = command_argv(&req.command)?;
    let (env, removed) = crate::sandbox_env::sandbox_env(std::env::vars_os());
    if !removed.is_empty() {
        log::debug!("removed from the environment: {}", removed.join(", "));
    }
    // Run-time command deny: in argv mode every exec is checked (seccomp notification);
    // otherwise (path mode, the default) one-word deny rules mask their programs.
    let argv_mode =
        resolved.config.command.runtime_exec_policy == Some(config::types::RuntimeExecPolicy::Argv);
    if !argv_mode {
        policy.exec_deny = runtime_exec_deny(&rules, &resolved, &env, &host)?;
    }
    let exec_checks = argv_mode.then(|| policy::exec_checks::ExecRules {
        commands: rules,
        ssh,
        // Exec checks name a refusing rule's file while the command runs: they keep their
        // own copy of the config files (only in argv mode).
        origin: {
            let (resolved, cwd) = (resolved.clone(), host.cwd.clone());
            std::rc::Rc::new(move |key: &str, rule: &str| rule_origin(&resolved, &cwd, key, rule))
        },
    });
    let req = RunRequest {
        allow_reduced_isolation: req.allow_reduced_isolation
            || resolved.config.allow_reduced_isolation,
        quiet: req.quiet || resolved.config.quiet,
        ..req
    };
    let extras = RunExtras {
        #[cfg(target_os = "linux")]
        launch,
        exec_checks,
        learning,
        config: &resolved.config,
        host: &host,
    };
    run_platform(&policy, &argv, env, &req, extras)
}

/// The run's event sink. The log file, when the sandbox may write it, becomes read-only
/// inside for this run (added to `p`); `fence learn` collects the events.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn open_events(
    req: &RunRequest,
    p: &mut policy::Policy,
    learning: bool,
) -> Result<crate::events::EventSink> {
    let mut events =
        crate::events::EventSink::new(req.monitor, req.log_format, req.log_file.as_deref(), p)?;
    if learning {
        events.collect();
    }
    Ok(events)
}

#[cfg(target_os = "linux")]
fn run_platform(
    p: &policy::Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    req: &RunRequest,
    extras: RunExtras<'_>,
) -> Result<Outcome> {
    let RunExtras {
        launch,
        exec_checks,
        learning,
        ..
    } = extras;
    let mut p = p.clone();
    let events = open_events(req, &mut p, learning.is_some())?;
    // -m and learn: the filesystem writes and direct connects the policy denies are seen
    // too (learn needs them: it refuses to run without).
    let observe = req.monitor || learning.is_some();
    let watch = crate::linux::notify::Watch {
        watched: crate::linux::notify::Watched {
            writes: observe,
            sockets: observe,
            execs: exec_checks.as_ref().is_some_and(|c| c.active()),
            required: learning.is_some(),
        },
        exec: exec_checks,
    };
    let outcome = crate::linux::run(
        &p,
        argv,
        env,
        (req.allow_reduced_isolation, req.preserve_fds),
        (events.clone(), watch),
        launch,
    );
    end_events(events, learning, &outcome, req.quiet);
    outcome
}

#[cfg(target_os = "macos")]
fn run_platform(
    p: &policy::Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    req: &RunRequest,
    extras: RunExtras<'_>,
) -> Result<Outcome> {
    let mut p = p.clone();
    let events = open_events(req, &mut p, extras.learning.is_some())?;
    let outcome = crate::macos::run::run(
        &p,
        crate::macos::run::Run {
            config: extras.config,
            host: extras.host,
            argv,
            env,
            monitor: req.monitor || extras.learning.is_some(),
            events: events.clone(),
        },
    );
    end_events(events, extras.learning, &outcome, req.quiet);
    outcome
}

/// After the run: `fence learn` takes what was seen, then [`finish_events`].
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn end_events(
    events: crate::events::EventSink,
    learning: Option<&mut Learning>,
    outcome: &Result<Outcome>,
    quiet: bool,
) {
    if let Some(learning) = learning {
        (learning.events, learning.untracked) = events.collected();
    }
    finish_events(events, outcome, quiet);
}

/// At exit: the `-m` lines of the events that repeated, with their counts; then one line
/// on stderr when anything was denied (even with `--fence-log-file`: the user is at the
/// terminal), unless `-q` or `"quiet": true`.
pub fn finish_events(mut events: crate::events::EventSink, outcome: &Result<Outcome>, quiet: bool) {
    events.finish();
    if quiet {
        return;
    }
    let status = match outcome {
        Ok(Outcome::Exited(code)) => format!("exit status {code}"),
        Ok(Outcome::Signaled(signal)) => format!("killed by signal {signal}"),
        Err(e) => format!("exit status {}", e.exit_code()),
    };
    if let Some(line) = events.summary(&status) {
        crate::output::stderr_line(format_args!("{line}"));
    }
}

/// A caller's open fds (a shell's `exec 9</dir`, an IDE's leaked pipes) reach past any
/// sandbox: none is passed to bwrap or the command except the `--preserve-fds` ones, which
/// must be open (else fence's own fds could take their numbers and be passed instead).
#[cfg(target_os = "linux")]
fn keep_only_preserved_fds(preserve: u32) -> Result<()> {
    use crate::linux::sys;
    let end = 3 + i32::try_from(preserve).unwrap_or(i32::MAX - 3);
    if let Some(missing) = (3..end).find(|&fd| sys::fd_access(fd).is_none()) {
        return Err(Error::Usage(format!(
            "--preserve-fds {preserve}: fd {missing} is not open"
        )));
    }
    if preserve > 0 {
        log::debug!(
            "passing inherited fds 3 to {} to the command (--preserve-fds)",
            end - 1
        );
    }
    // SAFETY: only marks fds close-on-exec; nothing is closed.
    unsafe { sys::close_range(end, i32::MAX, true) }
        .map_err(|e| Error::io("cannot keep inherited fds from the sandbox", e))
}

/// The same on macOS: fds from `3 + preserve` on are marked close-on-exec, so neither
/// sandbox-exec nor the command inherits them.
#[cfg(target_os = "macos")]
fn keep_only_preserved_fds(preserve: u32) -> Result<()> {
    let end = 3 + i32::try_from(preserve).unwrap_or(i32::MAX - 3);
    if let Some(missing) = (3..end).find(|&fd| !crate::macos::fd_is_open(fd)) {
        return Err(Error::Usage(format!(
            "--preserve-fds {preserve}: fd {missing} is not open"
        )));
    }
    crate::macos::cloexec_from(end)
        .map_err(|e| Error::io("cannot keep inherited fds from the sandbox", e))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn keep_only_preserved_fds(_: u32) -> Result<()> {
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn run_platform(
    _: &policy::Policy,
    _: &[OsString],
    _: Vec<(OsString, OsString)>,
    _: &RunRequest,
    _: RunExtras<'_>,
) -> Result<Outcome> {
    Err(Error::Setup(
        "this platform is not supported: fence sandboxes on Linux and macOS only".into(),
    ))
}

/// The files the run-time command deny (path mode, `policy::exec_deny`) masks, found on
/// the command's `PATH` (and the usual bin directories); its warnings are shown.
fn runtime_exec_deny(
    rules: &policy::command::CommandPolicy,
    resolved: &config::Resolved,
    env: &[(OsString, OsString)],
    host: &HostEnv,
) -> Result<Vec<PathBuf>> {
    use policy::exec_deny;
    let names = exec_deny::Names::new(rules);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let dirs = exec_deny::search_dirs(path, &host.cwd, exec_deny::BIN_DIRS);
    let accept = &resolved
        .config
        .command
        .accept_shared_binary_cannot_runtime_deny;
    let found = exec_deny::resolve(&names, &dirs, accept)
        .map_err(|e| config::locate(e, &resolved.files))?;
    for note in &found.notes {
        log::debug!("{}", crate::output::escape(note));
    }
    for warning in &found.warnings {
        log::warn!("{}", crate::output::escape(warning));
    }
    Ok(found.masks)
}

/// Names the config file that wrote `rule` under `key`, for messages (or the template, or
/// "config"). Looking it up re-reads the config text, so it is called only for a rule that
/// refuses.
fn rule_origin(
    resolved: &config::Resolved,
    cwd: &std::path::Path,
    key: &str,
    rule: &str,
) -> String {
    match config::written_in(&resolved.files, key, rule) {
        Some(file) => {
            let path = file.path.strip_prefix(cwd).unwrap_or(&file.path);
            crate::output::path(path)
        }
        None => match &resolved.origin {
            config::Origin::Template(name) => format!("template {name}"),
            _ => "config".to_string(),
        },
    }
}

/// Refuses, before anything runs, a command that `command.deny` or the default deny list
/// refuses (`command.allow` overriding them), or that the ssh policy refuses (a host or a
/// remote command): the `-c` script as parsed, or the argv. Returns the compiled rules
/// (exec checks at run time use them too).
fn preflight(
    resolved: &config::Resolved,
    host: &HostEnv,
    command: &CommandSpec,
) -> Result<(policy::command::CommandPolicy, policy::ssh::SshRules)> {
    // Which file wrote a rule is looked up only for the rule that refuses (the lookup
    // re-reads the config text: done for each of 200 rules it took 4 ms per run).
    let origin = |key: &str, rule: &str| rule_origin(resolved, &host.cwd, key, rule);
    let locate = |e| config::locate(e, &resolved.files);
    let rules =
        policy::command::compile(&resolved.config.command, |_, _| String::new()).map_err(locate)?;
    let ssh =
        policy::ssh::compile(&resolved.config.ssh, &resolved.config.command).map_err(locate)?;
    let checked = match command {
        CommandSpec::Argv(argv) => {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            rules.check_argv_with(&argv, &ssh)
        }
        CommandSpec::Shell { script, .. } => {
            rules.check_script_with(&script.to_string_lossy(), &ssh)
        }
    };
    checked.map_err(|mut refusal| {
        refusal.locate(&origin);
        Error::CannotExecute(crate::output::escape(&refusal.to_string()).into_owned())
    })?;
    Ok((rules, ssh))
}

/// What a run needs besides the policy and the command.
struct RunExtras<'a> {
    /// bwrap, started ahead ([`crate::linux::launch`]).
    #[cfg(target_os = "linux")]
    launch: Option<crate::linux::launch::Launch>,
    /// Linux only (`policy::platform` refuses argv mode elsewhere).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    exec_checks: Option<policy::exec_checks::ExecRules>,
    /// `fence learn`: what the run saw goes here.
    learning: Option<&'a mut Learning>,
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    config: &'a config::Config,
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    host: &'a HostEnv,
}

/// The argv to execute inside the sandbox.
pub fn command_argv(spec: &CommandSpec) -> Result<Vec<OsString>> {
    match spec {
        CommandSpec::Argv(argv) => Ok(argv.clone()),
        CommandSpec::Shell {
            script,
            args,
            shell,
        } => {
            let shell = resolve_shell(shell, std::env::var_os("SHELL"))?;
            let mut argv = vec![shell.into_os_string(), "-c".into(), script.clone()];
            argv.extend(args.iter().cloned());
            Ok(argv)
        }
    }
}

/// The shell binary for `-c`. `$SHELL` and explicit paths must be absolute executables.
pub fn resolve_shell(choice: &ShellChoice, shell_var: Option<OsString>) -> Result<PathBuf> {
    let path = match choice {
        ShellChoice::Sh => return Ok(PathBuf::from("/bin/sh")),
        ShellChoice::User => match shell_var.filter(|s| !s.is_empty()) {
            Some(s) => PathBuf::from(s),
            None => return Err(Error::Usage("--shell user: $SHELL is not set".into())),
        },
        ShellChoice::Path(p) => p.clone(),
    };
    if !path.is_absolute() {
        return Err(Error::Usage(format!(
            "--shell: {} is not an absolute path",
            path.display()
        )));
    }
    if !is_executable_file(&path) {
        return Err(Error::Usage(format!(
            "--shell: {} is not an executable file",
            path.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_selection() {
        assert_eq!(
            resolve_shell(&ShellChoice::Sh, None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            resolve_shell(&ShellChoice::User, Some("/bin/sh".into())).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert!(resolve_shell(&ShellChoice::User, None).is_err());
        assert!(resolve_shell(&ShellChoice::User, Some("bash".into())).is_err());
        assert!(resolve_shell(&ShellChoice::Path("/etc/passwd".into()), None).is_err());
        let argv = command_argv(&CommandSpec::Shell {
            script: "echo $0 $1".into(),
            args: vec!["a".into(), "b".into()],
            shell: ShellChoice::Sh,
        })
        .unwrap();
        assert_eq!(
            argv,
            ["/bin/sh", "-c", "echo $0 $1", "a", "b"].map(OsString::from)
        );
    }
}
