//! `fence trust`: review and record project configs.

use crate::cli::{TrustAction, TrustRequest};
use crate::config::load::{self, Origin};
use crate::config::{Config, trust};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;
use crate::output;
use crate::policy::trust_gate;

pub fn execute(req: TrustRequest) -> Result<()> {
    let host = HostEnv::from_process()?;
    if req.action == TrustAction::List {
        let mut listed = 0;
        for entry in trust::list(&host)? {
            match entry {
                trust::Listed::Record { path, current } => {
                    listed += 1;
                    let state = if current {
                        "trusted"
                    } else {
                        "changed since trusted (not applied)"
                    };
                    output::stdout(&format!("{}\t{state}\n", output::path(&path)));
                }
                trust::Listed::Ignored { file, why } => log::warn!(
                    "ignored {} in the trust store: {}",
                    output::path(&file),
                    output::escape(&why)
                ),
            }
        }
        if listed == 0 {
            // Where the list goes: an empty answer still says it is one.
            output::stdout(
                "no project config is trusted (`fence trust` in a project trusts its config)\n",
            );
        }
        return Ok(());
    }
    let path = match req.file {
        Some(file) => std::fs::canonicalize(host.cwd.join(&file))
            .map_err(|e| Error::io(format!("cannot find {}", output::path(&file)), e))?,
        None => {
            let found = load::discover_project(&host.cwd);
            match (found.path, found.skipped.first()) {
                (Some(path), _) => path,
                (None, Some((path, why))) => {
                    return Err(Error::Config(format!(
                        "{}: not trusted: {why}; name it explicitly (fence trust FILE) if \
                         you mean to trust it",
                        output::path(path)
                    )));
                }
                (None, None) => {
                    return Err(Error::Config(format!(
                        "no fence.jsonc or fence.json in {} or its parents",
                        output::path(&host.cwd)
                    )));
                }
            }
        }
    };
    if req.action == TrustAction::Revoke {
        let done = if trust::revoke(&host, &path)? {
            "is no longer trusted"
        } else {
            "was not trusted"
        };
        output::stderr_line(format_args!("{} {done}", output::path(&path)));
        return Ok(());
    }
    // Read as an explicit file: exactly what will be recorded, whatever its trust today.
    let load::Resolution::Ready(resolved) =
        load::resolve(&crate::config::ConfigSource::Settings(path.clone()), &host)?
    else {
        return Err(Error::Config(
            "internal: an explicit config needs no trust".into(),
        ));
    };
    let resolved = load::Resolved {
        origin: Origin::Project(path.clone()),
        ..resolved
    };
    // A trusted project config applies as written: what it grants is measured against the
    // built-in default (deny everything).
    let (mut granted, _) = trust_gate::project_grants(&Config::default(), &resolved.config, &host)
        .map_err(|e| crate::config::locate(e, &resolved.files))?;
    // Directories a run creates (a missing `~/.npm`) are not in the compiled policy yet,
    // but trusting the file grants writing them.
    granted.extend(
        crate::policy::create::would_create(&resolved.config, &host)
            .into_iter()
            .map(crate::policy::compare::Grant::Write),
    );
    trust::record(&host, &path, &resolved.files)?;
    let what = if granted.is_empty() {
        "nothing beyond the default".to_string()
    } else {
        crate::policy::compare::describe(&granted, 12)
    };
    output::stderr_line(format_args!(
        "trusted {} (grants {what})",
        output::path(&path)
    ));
    for file in resolved.files.iter().skip(1) {
        output::stderr_line(format_args!(
            "  including {} (extended by it)",
            output::path(&file.path)
        ));
    }
    Ok(())
}
