//! The backend run on Linux with a stand-in for `sandbox-exec` (it skips to `--` and execs
//! the rest, without a profile): the spawn, the host loop's hooks, exit statuses, signals
//! passed on, and the watcher's cleanup of what the command left behind.

use super::*;
use crate::host::signal_pipe::TEST_LOCK;

fn stand_in() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("fence-sbx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sandbox-exec");
    if !path.exists() {
        let tmp = dir.join("sandbox-exec.tmp");
        std::fs::write(
            &tmp,
            "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn run_script(script: &str) -> Result<Outcome> {
    let _serial = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    run(Launch {
        sandbox_exec: stand_in(),
        profile_args: ["-p", "(version 1)", "-D", "X=(\"y\")"]
            .map(OsString::from)
            .to_vec(),
        argv: ["/bin/sh", "-c", script].map(OsString::from).to_vec(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        pty: false,
        pty_stderr: false,
        network: None,
        log: None,
        watcher: Watcher::start().unwrap(),
    })
}

#[test]
fn the_commands_status_is_the_outcome() {
    assert_eq!(run_script("exit 3").unwrap(), Outcome::Exited(3));
    assert_eq!(run_script("true").unwrap(), Outcome::Exited(0));
    assert_eq!(
        run_script("kill -TERM $$; sleep 5").unwrap(),
        Outcome::Signaled(libc::SIGTERM)
    );
}

#[test]
fn a_signal_sent_to_fence_reaches_the_command() {
    // The command asks fence ($PPID) to be terminated; fence passes it on.
    let outcome = run_script("kill -TERM $PPID; sleep 5; exit 0").unwrap();
    assert_eq!(outcome, Outcome::Signaled(libc::SIGTERM));
}

#[test]
fn what_the_command_leaves_running_is_killed_at_the_end() {
    let dir = std::env::temp_dir().join(format!("fence-left-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pid");
    let script = format!("sleep 300 & echo $! > '{}'; exit 0", file.display());
    assert_eq!(run_script(&script).unwrap(), Outcome::Exited(0));
    let pid: i32 = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for its new parent is dead too.
        Ok(stat) => stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone(), "the background sleep {pid} survived the run");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_sandbox_exec_is_a_setup_error() {
    let _serial = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let err = run(Launch {
        sandbox_exec: PathBuf::from("/nonexistent/sandbox-exec"),
        profile_args: Vec::new(),
        argv: vec!["/bin/true".into()],
        env: Vec::new(),
        pty: false,
        pty_stderr: false,
        network: None,
        log: None,
        watcher: Watcher::start().unwrap(),
    })
    .unwrap_err();
    assert_eq!(err.exit_code(), crate::error::EXIT_FENCE_FAILED);
    assert!(
        err.to_string().contains("/nonexistent/sandbox-exec"),
        "{err}"
    );
}
