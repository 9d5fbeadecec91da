//! `fence learn [-o FILE] [--force] [OPTIONS] [--] COMMAND...`: runs the command with the
//! proxies in learn mode (every host `deniedDomains` does not refuse passes, and is
//! recorded), then writes a config from what the run recorded ([`suggest`]): to standard
//! output, or atomically to FILE, which is never replaced without `--force`.
//!
//! The file is a project config like any other: fence applies it only once the user has
//! reviewed and trusted it (`fence trust FILE`).

mod suggest;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::LearnRequest;
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::policy::dangerous;

use super::run::{self, Learning};

pub fn execute(req: LearnRequest) -> Result<Outcome> {
    let output = match &req.output {
        Some(path) => Some(check_output(path, req.force)?),
        None => None,
    };
    let command = describe_command(&req.run.command);
    let mut learning = Learning::default();
    let outcome = run::execute_learning(req.run, &mut learning)?;
    if let (Some(out), Some(config)) = (&output, &learning.config_file) {
        if same_file(out, config) {
            return Err(Error::Setup(format!(
                "fence learn: -o {} is the config in force, which the learned config \
                 extends; write it elsewhere",
                crate::output::path(out)
            )));
        }
    }
    let time = crate::events::rfc3339_now();
    let home = learning.home.as_deref();
    let protected = |path: &Path| is_protected(path, home, &learning.deny_write);
    let text = suggest::render(&suggest::Learned {
        extends: learning.extends.as_deref(),
        command: &command,
        time: &time,
        events: &learning.events,
        untracked: learning.untracked,
        home,
        protected: &protected,
    });
    match (&output, &req.output) {
        (Some(path), Some(given)) => {
            write_atomically(path, &text, req.force)?;
            let shown = crate::output::path(given);
            crate::output::stderr_line(format_args!(
                "wrote {shown}: review it, then `fence trust {shown}` (it applies only once \
                 trusted)"
            ));
        }
        _ => crate::output::stdout(&text),
    }
    Ok(outcome)
}

/// The command as shown in the file's header.
fn describe_command(spec: &crate::cli::CommandSpec) -> String {
    match spec {
        crate::cli::CommandSpec::Argv(argv) => argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        crate::cli::CommandSpec::Shell { script, .. } => {
            format!("-c {}", script.to_string_lossy())
        }
    }
}

/// Refuses, before the command runs, an output that exists (without `--force`) or whose
/// directory does not; returns the path made absolute.
fn check_output(path: &Path, force: bool) -> Result<PathBuf> {
    let shown = crate::output::path(path);
    let absolute = std::env::current_dir()
        .map_err(|e| Error::io("fence learn: the current directory", e))?
        .join(path);
    if absolute.file_name().is_none() {
        return Err(Error::Usage(format!(
            "fence learn -o {shown}: not a file name"
        )));
    }
    match std::fs::symlink_metadata(&absolute) {
        Ok(_) if !force => {
            return Err(Error::Setup(format!(
                "fence learn: {shown} exists; pass --force to replace it"
            )));
        }
        Ok(meta) if meta.is_dir() => {
            return Err(Error::Setup(format!("fence learn: {shown} is a directory")));
        }
        _ => {}
    }
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(Error::Setup(format!(
            "fence learn: cannot write {shown}: its directory does not exist"
        )));
    }
    Ok(absolute)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes `text` to a new file beside `path` and moves it into place: readers see the old
/// file or the whole new one. Without `force`, an existing `path` is kept (the move is a
/// hard link, which fails if the name exists).
fn write_atomically(path: &Path, text: &str, force: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = crate::output::path(path);
    let err = |e| Error::io(format!("fence learn: cannot write {shown}"), e);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.fence-learn-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .map_err(err)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    let placed = written.and_then(|()| {
        if force {
            std::fs::rename(&temp, path)
        } else {
            std::fs::hard_link(&temp, path).and_then(|()| std::fs::remove_file(&temp))
        }
    });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(Error::Setup(format!(
                "fence learn: {shown} appeared during the run; pass --force to replace it"
            )));
        }
        return Err(err(e));
    }
    Ok(())
}

/// Whether fence keeps `path` read-only whatever the config says: it is (or is inside) a
/// read-only path of the run, has a protected name (`.bashrc`, `.git`, ...) as a
/// component, or is a protected file of `$HOME`.
fn is_protected(path: &Path, home: Option<&Path>, deny_write: &[PathBuf]) -> bool {
    if deny_write.iter().any(|ro| path.starts_with(ro)) {
        return true;
    }
    let named = path.components().any(|c| {
        let c = c.as_os_str();
        c == ".git" || dangerous::everywhere().any(|p| c == p.name)
    });
    // The run's read-only paths hold these where they are; their default places are
    // checked too (the suggestion may be a directory above them, or they may not exist).
    let in_home = home.is_some_and(|home| {
        dangerous::PROTECTED.iter().any(|p| {
            let base = match p.place {
                dangerous::Place::Home => home.to_path_buf(),
                dangerous::Place::ConfigHome => home.join(".config"),
                dangerous::Place::DataHome => home.join(".local/share"),
                dangerous::Place::Everywhere => return false,
            };
            path.starts_with(base.join(p.name))
        })
    });
    named || in_home
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths() {
        let home = Some(Path::new("/home/u"));
        let ro = [PathBuf::from("/w/p/.fence-ro")];
        for path in [
            "/home/u/.bashrc",
            "/w/p/.git/hooks/pre-commit",
            "/w/p/sub/.npmrc",
            "/w/p/.fence-ro/x",
            "/home/u/.ssh/config",
            "/home/u/.bashrc.d/x",
            "/home/u/.config/git/config",
            "/home/u/.local/share/applications/x.desktop",
        ] {
            assert!(is_protected(Path::new(path), home, &ro), "{path}");
        }
        for path in ["/home/u/.cache/x", "/w/p/src/a.rs", "/home/u/.bashrc-old"] {
            assert!(!is_protected(Path::new(path), home, &ro), "{path}");
        }
    }

    /// Filesystem events recorded through the sink (as the seccomp listener records them)
    /// reach the written config: what `fence learn` collects needs no other path.
    #[test]
    fn recorded_events_reach_the_config() {
        use crate::events::{Decision, Event, EventSink, Kind};
        let mut sink = EventSink::quiet();
        sink.collect();
        let mut listener = sink.clone();
        for (target, pid) in [
            ("/home/u/.cache/tool/a", 7),
            ("/home/u/.cache/tool/b/c", 8),
            ("/home/u/.bashrc", 9),
        ] {
            listener.record(&Event {
                kind: Kind::Fs,
                action: "write",
                op: "openat O_WRONLY|O_CREAT",
                target,
                pid: Some(pid),
                comm: Some("tool"),
                rule: "outside allowWrite",
                decision: Decision::Denied,
            });
        }
        let (events, untracked) = sink.collected();
        let home = Some(Path::new("/home/u"));
        let text = suggest::render(&suggest::Learned {
            extends: Some("default"),
            command: "tool",
            time: "t",
            events: &events,
            untracked,
            home,
            protected: &|p: &Path| is_protected(p, home, &[]),
        });
        assert!(
            text.contains(
                r#"//   "~/.cache/tool" // tool: 2 writes, e.g. "/home/u/.cache/tool/a""#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"//   "/home/u/.bashrc" // tool: 1 write"#),
            "{text}"
        );
    }

    #[test]
    fn output_files() {
        let dir = std::env::temp_dir().join(format!("fence-learn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fence.json");
        assert_eq!(check_output(&path, false).unwrap(), path);
        write_atomically(&path, "one\n", false).unwrap();
        assert!(
            check_output(&path, false)
                .unwrap_err()
                .to_string()
                .contains("--force")
        );
        assert!(check_output(&path, true).is_ok());
        let again = write_atomically(&path, "two\n", false).unwrap_err();
        assert!(
            again.to_string().contains("appeared during the run"),
            "{again}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        write_atomically(&path, "three\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        assert!(check_output(&dir.join("no/such"), false).is_err());
        assert!(check_output(&dir, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
