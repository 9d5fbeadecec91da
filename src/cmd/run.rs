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
    // Before fence opens anything of its own: only then are fds 3.. all inherited.
    keep_only_preserved_fds(req.preserve_fds)?;
    let host = HostEnv::from_process()?;
    let gated = policy::trust_gate::apply(config::resolve(&req.config, &host)?, &host)?;
    let resolved = gated.resolved;
    for step in &resolved.chain {
        log::debug!("config: {step}");
    }
    // Errors about one config value get the file, line and column where it is written.
    let locate = |e| config::locate(e, &resolved.files);
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
    let rules = preflight(&resolved, &host, &req.command)?;
    let argv = command_argv(&req.command)?;
    let (env, removed) = crate::sandbox_env::sandbox_env(std::env::vars_os());
    if !removed.is_empty() {
        log::debug!("removed from the environment: {}", removed.join(", "));
    }
    policy.exec_deny = runtime_exec_deny(&rules, &resolved, &env, &host)?;
    let req = RunRequest {
        allow_reduced_isolation: req.allow_reduced_isolation
            || resolved.config.allow_reduced_isolation,
        quiet: req.quiet || resolved.config.quiet,
        ..req
    };
    run_platform(&policy, &argv, env, &req)
}

#[cfg(target_os = "linux")]
fn run_platform(
    p: &policy::Policy,
    argv: &[OsString],
    env: Vec<(OsString, OsString)>,
    req: &RunRequest,
) -> Result<Outcome> {
    // The log file, when the sandbox may write it, becomes read-only inside for this run.
    let mut p = p.clone();
    let events = crate::events::EventSink::new(req.monitor, req.log_file.as_deref(), &mut p)?;
    let outcome = crate::linux::run(
        &p,
        argv,
        env,
        req.allow_reduced_isolation,
        req.preserve_fds,
        events.clone(),
    );
    print_summary(&events, req.quiet);
    outcome
}

/// At exit, one line on stderr when the proxies refused anything (even with
/// `--fence-log-file`: the user is at the terminal), unless `-q` or `"quiet": true`.
#[cfg(target_os = "linux")]
fn print_summary(events: &crate::events::EventSink, quiet: bool) {
    if quiet {
        return;
    }
    if let Some(line) = events.summary() {
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

#[cfg(not(target_os = "linux"))]
fn keep_only_preserved_fds(_: u32) -> Result<()> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn run_platform(
    _: &policy::Policy,
    _: &[OsString],
    _: Vec<(OsString, OsString)>,
    _: &RunRequest,
) -> Result<Outcome> {
    Err(Error::Setup(
        "this platform is not supported yet: fence currently sandboxes on Linux only".into(),
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

/// Refuses, before anything runs, a command that `command.deny` or the default deny list
/// refuses (`command.allow` overriding them): the `-c` script as parsed, or the argv.
/// Returns the compiled rules.
fn preflight(
    resolved: &config::Resolved,
    host: &HostEnv,
    command: &CommandSpec,
) -> Result<policy::command::CommandPolicy> {
    let origin = |key: &str, rule: &str| match config::written_in(&resolved.files, key, rule) {
        Some(file) => {
            let path = file.path.strip_prefix(&host.cwd).unwrap_or(&file.path);
            crate::output::path(path)
        }
        None => match &resolved.origin {
            config::Origin::Template(name) => format!("template {name}"),
            _ => "config".to_string(),
        },
    };
    // Which file wrote a rule is looked up only for the rule that refuses (the lookup
    // re-reads the config text: done for each of 200 rules it took 4 ms per run).
    let rules = policy::command::compile(&resolved.config.command, |_, _| String::new())
        .map_err(|e| config::locate(e, &resolved.files))?;
    let checked = match command {
        CommandSpec::Argv(argv) => {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            rules.check_argv(&argv)
        }
        CommandSpec::Shell { script, .. } => rules.check_script(&script.to_string_lossy()),
    };
    checked.map(|()| rules).map_err(|mut refusal| {
        if let policy::command::Reason::Rule { rule, .. } = &mut refusal.reason {
            let key = match rule.list {
                policy::command::List::Deny => Some("command.deny"),
                policy::command::List::Allow => Some("command.allow"),
                policy::command::List::Default => None,
            };
            if let Some(key) = key {
                rule.origin = origin(key, &rule.text);
            }
        }
        Error::CannotExecute(crate::output::escape(&refusal.to_string()).into_owned())
    })
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
