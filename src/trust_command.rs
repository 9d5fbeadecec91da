//! `fence trust`: review and record project configs.

use std::path::PathBuf;

use crate::cli::{TrustAction, TrustRequest};
use crate::config::load::{self, Origin};
use crate::config::{merge, trust};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

pub fn execute(req: TrustRequest) -> Result<()> {
    let host = HostEnv::from_process()?;
    if req.action == TrustAction::List {
        for (path, current) in trust::list(&host)? {
            let state = if current {
                "trusted"
            } else {
                "changed since trusted (not applied)"
            };
            crate::output::stdout(&format!("{}\t{state}\n", crate::output::path(&path)));
        }
        return Ok(());
    }
    let path = match req.file {
        Some(file) => std::fs::canonicalize(host.cwd.join(&file))
            .map_err(|e| Error::io(format!("cannot find {}", file.display()), e))?,
        None => load::discover_project(&host.cwd).ok_or_else(|| {
            Error::Config(format!(
                "no fence.jsonc or fence.json in {} or its parents",
                host.cwd.display()
            ))
        })?,
    };
    if req.action == TrustAction::Revoke {
        if trust::revoke(&host, &path)? {
            crate::output::stderr_line(format_args!(
                "{} is no longer trusted",
                crate::output::path(&path)
            ));
        } else {
            crate::output::stderr_line(format_args!(
                "{} was not trusted",
                crate::output::path(&path)
            ));
        }
        return Ok(());
    }
    let resolved = load::resolve(&crate::cli::ConfigSource::Settings(path.clone()), &host)?;
    let resolved = load::Resolved {
        origin: Origin::Project(path.clone()),
        ..resolved
    };
    trust::record(&host, &path, &resolved.files)?;
    let granted = merge::grants(&resolved.config);
    let what = if granted.is_empty() {
        "nothing beyond the default".to_string()
    } else {
        load::describe_grants(&granted)
    };
    let extra: Vec<PathBuf> = resolved
        .files
        .iter()
        .skip(1)
        .map(|(p, _)| p.clone())
        .collect();
    crate::output::stderr_line(format_args!(
        "trusted {} (grants {what})",
        crate::output::path(&path)
    ));
    for p in extra {
        crate::output::stderr_line(format_args!(
            "  including {} (extended by it)",
            crate::output::path(&p)
        ));
    }
    Ok(())
}
