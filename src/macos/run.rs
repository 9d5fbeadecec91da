//! One macOS run: the private TMPDIR, the proxies on host loopback, the profile (with the
//! run's tag), `log stream` for `-m`, then [`exec::run`]. Everything but the final spawn is
//! the same code on every platform.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{command, exec, extras, logstream, network, profile};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::exec::Outcome;
use crate::host_env::HostEnv;
use crate::policy::Policy;

/// What the run needs besides the policy.
pub struct Run<'a> {
    pub config: &'a Config,
    pub host: &'a HostEnv,
    pub argv: &'a [OsString],
    pub env: Vec<(OsString, OsString)>,
    pub monitor: bool,
    pub events: EventSink,
}

/// Runs the command under `sandbox-exec`.
pub fn run(policy: &Policy, run: Run<'_>) -> Result<Outcome> {
    run_with(policy, run, PathBuf::from(exec::SANDBOX_EXEC))
}

/// [`run`] with `sandbox_exec` (the tests' stand-in).
fn run_with(policy: &Policy, run: Run<'_>, sandbox_exec: PathBuf) -> Result<Outcome> {
    if !crate::exec::is_executable_file(&sandbox_exec) {
        return Err(Error::Setup(format!(
            "{} is missing: fence sandboxes with it on macOS (it ships with the system)",
            exec::SANDBOX_EXEC
        )));
    }
    let path_var = run.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v);
    let (program, args) = run
        .argv
        .split_first()
        .ok_or_else(|| Error::Setup("no command".into()))?;
    let program = command::resolve(program, path_var.map(|v| v.as_os_str()))?;
    let mut argv = vec![program.into_os_string()];
    argv.extend(args.iter().cloned());

    // The watcher first: it forks fence as it is now, before the run's fds and handlers.
    let watcher = exec::Watcher::start()?;
    let tmp = PrivateTmp::create(&run.env)?;
    let tag = profile::log_tag(&format!("fence_{}_{}", std::process::id(), random_hex()));
    let proxies = network::host_proxies(policy, run.events.clone())?;
    let mut extras = extras::from_config(run.config, run.host);
    extras.tmpdir = tmp.0.clone();
    extras.proxy_ports = proxies.ports.clone();
    extras.log_tag = tag.clone();
    // Path mode's run-time command deny: the files it found (see `policy::exec_deny`).
    extras.exec_deny = policy.exec_deny.clone();
    let profile = profile::generate(policy, &extras);
    for note in &profile.notes {
        log::debug!("{}", crate::output::escape(note));
    }
    // The whole profile and its parameters under -d: what a first report from a Mac needs.
    let params: Vec<String> = profile
        .params
        .iter()
        .map(|(name, value)| format!("-D {name}={}", value.to_string_lossy()))
        .collect();
    log::debug!(
        "sandbox-exec profile ({} parameters):\n{}\n{}",
        profile.params.len(),
        profile.text,
        params.join("\n")
    );
    let mut profile_args: Vec<OsString> = vec!["-p".into(), profile.text.clone().into()];
    profile_args.extend(profile.arguments());

    let mut env = run.env;
    env.retain(|(k, _)| k != "TMPDIR" && !proxies.env.iter().any(|(n, _)| n == k));
    env.extend(proxies.env);
    env.push(("TMPDIR".into(), tmp.0.clone().into_os_string()));

    let log = if run.monitor {
        match logstream::LogStream::start(
            c"/usr/bin/log",
            &logstream::arguments(&tag),
            &tag,
            Some(watcher.group),
            run.events.clone(),
        ) {
            Ok(stream) => Some(stream),
            Err(e) => {
                log::warn!("cannot start log stream, -m shows no file denials: {e}");
                None
            }
        }
    } else {
        None
    };
    let tty = |fd: std::os::fd::BorrowedFd<'_>| crate::sys::is_tty(fd);
    use std::os::fd::AsFd;
    // At a terminal the command always gets a pseudo-terminal of its own, `allowPty` or
    // not: Seatbelt cannot refuse TIOCSTI (typing into a terminal), which XNU allows on a
    // process's controlling terminal, so the terminal it may type into is the relay's, not
    // the user's shell's (on Linux, seccomp refuses TIOCSTI instead).
    let interactive = tty(std::io::stdin().as_fd()) && tty(std::io::stdout().as_fd());
    if interactive && !policy.allow_pty {
        log::debug!("macOS: the command runs on a pseudo-terminal of its own (TIOCSTI)");
    }
    let pty = interactive;
    let outcome = exec::run(exec::Launch {
        sandbox_exec,
        profile_args,
        argv,
        env,
        pty,
        pty_stderr: pty && tty(std::io::stderr().as_fd()),
        network: Some(proxies.network),
        log,
        watcher,
    });
    drop(tmp);
    crate::policy::warn_of_changed_startup_files(policy);
    outcome
}

/// The run's own TMPDIR: a new 0700 directory in the user's (`$TMPDIR`, the per-user
/// `/var/folders/…/T/`, else `/tmp`), canonical (Seatbelt checks resolved paths), removed
/// with everything in it at the end of the run.
struct PrivateTmp(PathBuf);

impl PrivateTmp {
    fn create(env: &[(OsString, OsString)]) -> Result<PrivateTmp> {
        use std::os::unix::fs::DirBuilderExt;
        let base = env
            .iter()
            .find(|(k, _)| k == "TMPDIR")
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| p.is_absolute() && p.is_dir())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let base = std::fs::canonicalize(&base)
            .map_err(|e| Error::io(format!("cannot resolve {}", base.display()), e))?;
        let dir = base.join(format!("fence-{}-{}", std::process::id(), random_hex()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(PrivateTmp(dir))
    }

    #[cfg(test)]
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            log::warn!(
                "cannot remove the run's TMPDIR {}: {e}",
                crate::output::path(&self.0)
            );
        }
    }
}

/// 16 hex digits from the system's random source (unique names, not secrets).
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // Unique enough: the time and the pid already differ from run to run.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole run on Linux with a stand-in for sandbox-exec that records its arguments
    /// and execs the command: the command resolved to an absolute path after `--`, the
    /// profile and its parameters before it, the private TMPDIR writable during the run and
    /// gone after it, the proxy variables pointing at the loopback port the proxy uses.
    #[test]
    fn a_run_passes_the_profile_the_command_and_its_environment() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fence-macrun-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stand_in = dir.join("sandbox-exec");
        std::fs::write(
            &stand_in,
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n\
             while [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args_file = dir.join("args");
        let out = dir.join("out");
        let script = format!(
            "echo \"$TMPDIR\" > '{0}'; touch \"$TMPDIR/x\" && echo \"$HTTP_PROXY\" >> '{0}'",
            out.display()
        );
        let host = HostEnv::from_process().unwrap();
        let _serial = crate::host::signal_pipe::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let policy = Policy {
            exec_deny: vec!["/opt/fence-test/denied-tool".into()],
            ..Policy::default()
        };
        let outcome = run_with(
            &policy,
            Run {
                config: &Config::default(),
                host: &host,
                argv: &["sh".into(), "-c".into(), script.into()],
                env: vec![
                    ("PATH".into(), "/usr/bin:/bin".into()),
                    ("ARGS_FILE".into(), args_file.clone().into()),
                ],
                monitor: false,
                events: EventSink::quiet(),
            },
            stand_in,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Exited(0));
        let out = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let tmpdir = lines[0];
        assert!(tmpdir.starts_with("/tmp/fence-"), "{out}");
        assert!(!std::path::Path::new(tmpdir).exists(), "TMPDIR left behind");
        assert!(lines[1].starts_with("http://127.0.0.1:"), "{out}");
        let args = std::fs::read_to_string(&args_file).unwrap();
        let args: Vec<&str> = args.lines().collect();
        assert_eq!(args[0], "-p");
        assert_eq!(args[1], "(version 1)");
        let dashes = args.iter().position(|a| *a == "--").unwrap();
        assert_eq!(args[dashes + 2], "-c");
        assert!(args[dashes + 1].ends_with("/sh"), "{args:?}");
        assert!(args[dashes + 1].starts_with('/'), "{args:?}");
        // TMPDIR reaches the profile as a parameter, not as text.
        let params = &args[..dashes];
        // So does each file the run-time command deny found.
        assert!(
            params
                .iter()
                .any(|a| a.ends_with("=/opt/fence-test/denied-tool")),
            "{params:?}"
        );
        assert!(
            params.iter().any(|a| a.ends_with(&format!("={tmpdir}"))),
            "{params:?}"
        );
        let port = lines[1].rsplit(':').next().unwrap();
        assert!(
            params
                .iter()
                .any(|a| a.contains(&format!("(remote ip \"localhost:{port}\")"))),
            "the profile allows the proxy port"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Linux has no sandbox-exec: the run stops before anything starts, with exit 125.
    #[test]
    fn a_missing_sandbox_exec_is_exit_125_before_anything_runs() {
        assert!(!std::path::Path::new(exec::SANDBOX_EXEC).exists());
        let host = HostEnv::from_process().unwrap();
        let err = run(
            &Policy::default(),
            Run {
                config: &Config::default(),
                host: &host,
                argv: &["true".into()],
                env: Vec::new(),
                monitor: false,
                events: EventSink::quiet(),
            },
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_FENCE_FAILED);
        assert!(
            err.to_string().contains("/usr/bin/sandbox-exec is missing"),
            "{err}"
        );
    }

    #[test]
    fn the_private_tmpdir_is_made_in_the_users_and_removed() {
        let base = std::env::temp_dir().join(format!("fence-ptmp-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let env = vec![(OsString::from("TMPDIR"), base.clone().into_os_string())];
        let tmp = PrivateTmp::create(&env).unwrap();
        let path = tmp.path().to_path_buf();
        assert!(path.starts_with(std::fs::canonicalize(&base).unwrap()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(path.join("left-behind"), "x").unwrap();
        drop(tmp);
        assert!(!path.exists());
        // A relative or missing TMPDIR falls back to /tmp.
        let tmp = PrivateTmp::create(&[("TMPDIR".into(), "rel".into())]).unwrap();
        assert!(tmp.path().starts_with("/tmp"));
        std::fs::remove_dir_all(&base).unwrap();
        assert_ne!(random_hex(), random_hex());
    }
}
