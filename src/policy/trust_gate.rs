//! The trust gate: a discovered project config applies as written once the user trusted
//! its exact files (content and identity, and those of every file it extends). Untrusted, it
//! applies only if it grants nothing beyond the user's own config, and then on top of that
//! config, so that it can only narrow it (the user's deny rules stay). Otherwise fence
//! refuses to run.
//!
//! "Grants nothing" is decided on the compiled policies, the user's config alone against
//! the user's config with the project's merged over it: see [`project_grants`].
//!
//! The gate is also where the run's missing `allowWrite` directories are created
//! ([`super::create`]), before anything is compiled, and only for a config that applies as
//! written: an untrusted project's entries are never created (only the user's own).

use super::Policy;
use super::compare::{self, Grant};
use crate::config::load::{self, Origin, Resolution, Resolved, shell_word};
use crate::config::merge::merge;
use crate::config::types::{CommandRules, RuntimeExecPolicy};
use crate::config::{Config, trust};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;
use crate::output;

/// A config to run, and the policy compiled from it if the gate already compiled it.
pub struct Gated {
    pub resolved: Resolved,
    /// The compiled policy the gate classified (an untrusted project config merged over the
    /// user's): the run uses exactly this one, not a second compilation that a file created
    /// in between could make wider.
    pub policy: Option<Policy>,
    /// The missing `allowWrite` directories created for the run, and those that were not.
    pub prepared: super::create::Prepared,
}

/// Lets a resolution through the gate: a ready config as it is, an untrusted project
/// config narrowed onto the user's, or an error saying what it would grant.
pub fn apply(resolution: Resolution, host: &HostEnv) -> Result<Gated> {
    match resolution {
        Resolution::Ready(resolved) => Ok(Gated {
            prepared: super::create::missing_write_dirs(&resolved.config, host),
            resolved,
            policy: None,
        }),
        Resolution::Untrusted {
            project,
            state,
            notes,
        } => {
            let mut gated = narrow(project, state, host)?;
            gated.resolved.chain.splice(0..0, notes);
            Ok(gated)
        }
    }
}

/// An untrusted project config: on top of the user's, if it grants nothing more.
fn narrow(project: Resolved, state: trust::TrustState, host: &HostEnv) -> Result<Gated> {
    let Origin::Project(path) = &project.origin else {
        return Err(Error::Config(
            "internal: only a discovered project config can be untrusted".into(),
        ));
    };
    let baseline = load::resolve_user(host)?;
    let prepared = super::create::missing_write_dirs(&baseline.config, host);
    let merged = merge(baseline.config.clone(), project.config.clone());
    let (extra, policy) = project_grants(&baseline.config, &merged, host).map_err(|e| {
        let files: Vec<_> = project
            .files
            .iter()
            .chain(&baseline.files)
            .cloned()
            .collect();
        crate::config::locate(e, &files)
    })?;
    if extra.is_empty() {
        let mut chain = baseline.chain;
        chain.push(format!(
            "narrowed by untrusted {} (it grants nothing more)",
            output::path(path)
        ));
        return Ok(Gated {
            resolved: Resolved {
                config: merged,
                origin: project.origin,
                files: project.files,
                chain,
            },
            policy: Some(policy),
            prepared,
        });
    }
    let described = compare::describe(&extra, 12);
    let command = shell_word(path.as_os_str().as_encoded_bytes());
    let shown = output::path(path);
    let how =
        format!("Review it, then run `fence trust {command}` (or pass it explicitly with -s)");
    Err(Error::Config(match state {
        trust::TrustState::Changed { why, trusted } => {
            let news = match newly_granted(path, &trusted, &project.config, host) {
                Ok(new) if new.is_empty() => {
                    "compared with the trusted version it grants nothing new".to_string()
                }
                Ok(new) => format!(
                    "compared with the trusted version it newly grants {}",
                    compare::describe(&new, 12)
                ),
                Err(e) => format!(
                    "fence cannot tell what it grants compared with the trusted version ({e})"
                ),
            };
            format!(
                "{shown}: project config has changed since it was trusted ({why}); {news}. \
                 Beyond your own config it would grant {described}. {how}"
            )
        }
        trust::TrustState::Trusted | trust::TrustState::Untrusted => {
            format!("{shown}: project config is not trusted; it would grant {described}. {how}")
        }
    }))
}

/// What the project config grants now (`current`, as written) that it did not grant as
/// trusted (`trusted`, the files of its trust record), both compiled on this host.
fn newly_granted(
    path: &std::path::Path,
    trusted: &[crate::config::read::ConfigFile],
    current: &Config,
    host: &HostEnv,
) -> Result<Vec<Grant>> {
    let before = load::resolve_recorded(path, trusted, host)?;
    Ok(project_grants(&before.config, current, host)?.0)
}

/// What `merged` (the user's config with a project's over it) allows that `user` does not,
/// on the compiled policies (see [`compare`]), plus the settings that act
/// outside the policy; and the compiled policy of `merged`.
pub fn project_grants(
    user: &Config,
    merged: &Config,
    host: &HostEnv,
) -> Result<(Vec<Grant>, Policy)> {
    let compile = |cfg: &Config| -> Result<Policy> {
        let mut policy = super::compile(cfg, host)?;
        policy.network = super::network::compile(cfg, &[])?.0;
        Ok(policy)
    };
    let with = compile(merged)?;
    let mut grants = compare::policy_grants(&compile(user)?, &with);
    if merged.allow_reduced_isolation && !user.allow_reduced_isolation {
        grants.push(Grant::Setting("allowReducedIsolation", "true".into()));
    }
    // Silencing the line about refused requests hides what the sandbox tried: a repository
    // may not choose that for the user.
    if merged.quiet && !user.quiet {
        grants.push(Grant::Setting("quiet", "true".into()));
    }
    command_grants(&user.command, &merged.command, &mut grants);
    ssh_grants(&user.ssh, &merged.ssh, &mut grants);
    let mach = [
        (
            "macos.mach.lookup",
            &user.macos.mach.lookup,
            &merged.macos.mach.lookup,
        ),
        (
            "macos.mach.register",
            &user.macos.mach.register,
            &merged.macos.mach.register,
        ),
    ];
    for (key, before, after) in mach {
        for service in after.iter().filter(|s| !before.contains(s)) {
            grants.push(Grant::Setting(key, service.clone()));
        }
    }
    Ok((grants, with))
}

/// Command rules: an allow entry lifts a deny (the user's too), turning the default list off
/// lifts all of it, an accepted shared binary stays executable at run time
/// (`policy::exec_deny`), and going back from the user's exec checks (`"argv"`) to path
/// mode lets every multi-word rule through at run time. Added denies only narrow.
fn command_grants(user: &CommandRules, merged: &CommandRules, out: &mut Vec<Grant>) {
    for rule in merged.allow.iter().filter(|r| !user.allow.contains(r)) {
        out.push(Grant::Setting("command.allow", rule.clone()));
    }
    if merged.use_defaults == Some(false) && user.use_defaults != Some(false) {
        out.push(Grant::Setting("command.useDefaults", "false".into()));
    }
    let key = "command.acceptSharedBinaryCannotRuntimeDeny";
    let accepted = &user.accept_shared_binary_cannot_runtime_deny;
    for name in merged
        .accept_shared_binary_cannot_runtime_deny
        .iter()
        .filter(|n| !accepted.contains(n))
    {
        out.push(Grant::Setting(key, name.clone()));
    }
    let argv = Some(RuntimeExecPolicy::Argv);
    if user.runtime_exec_policy == argv && merged.runtime_exec_policy != argv {
        out.push(Grant::Setting("command.runtimeExecPolicy", "path".into()));
    }
}

/// The ssh policy is checked before the run: a host or remote command the project adds to
/// an allow list, `allowAllCommands` and turning `inheritDeny` off are grants (the merge
/// ORs booleans, so the last cannot happen through `extends`, but the check does not rely
/// on it); added `deniedHosts` and `deniedCommands` only narrow.
fn ssh_grants(
    user: &crate::config::types::Ssh,
    merged: &crate::config::types::Ssh,
    out: &mut Vec<Grant>,
) {
    let lists = [
        (
            "ssh.allowedHosts",
            &user.allowed_hosts,
            &merged.allowed_hosts,
        ),
        (
            "ssh.allowedCommands",
            &user.allowed_commands,
            &merged.allowed_commands,
        ),
    ];
    for (key, before, after) in lists {
        for entry in after.iter().filter(|e| !before.contains(e)) {
            out.push(Grant::Setting(key, entry.clone()));
        }
    }
    if merged.allow_all_commands && !user.allow_all_commands {
        out.push(Grant::Setting("ssh.allowAllCommands", "true".into()));
    }
    if user.inherit_deny && !merged.inherit_deny {
        out.push(Grant::Setting("ssh.inheritDeny", "false".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::Ssh;

    fn ssh(json: &str) -> Ssh {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn command_grants_and_narrowings() {
        let rules = |json: &str| -> CommandRules { serde_json::from_str(json).unwrap() };
        let user = rules(r#"{"deny": ["git push"], "runtimeExecPolicy": "argv"}"#);
        let cases: [(&str, &[&str]); 6] = [
            (r#"{}"#, &[]),
            (
                r#"{"deny": ["npm publish"], "runtimeExecPolicy": "argv"}"#,
                &[],
            ),
            // A repository may not turn the user's exec checks back into path mode.
            (
                r#"{"runtimeExecPolicy": "path"}"#,
                &["command.runtimeExecPolicy path"],
            ),
            (r#"{"allow": ["git push"]}"#, &["command.allow git push"]),
            (r#"{"useDefaults": false}"#, &["command.useDefaults false"]),
            (
                r#"{"acceptSharedBinaryCannotRuntimeDeny": ["chroot"]}"#,
                &["command.acceptSharedBinaryCannotRuntimeDeny chroot"],
            ),
        ];
        for (project, want) in cases {
            let u = crate::config::Config {
                command: user.clone(),
                ..Default::default()
            };
            let p = crate::config::Config {
                command: rules(project),
                ..Default::default()
            };
            let merged = merge(u.clone(), p);
            let mut grants = Vec::new();
            command_grants(&u.command, &merged.command, &mut grants);
            let got: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
            assert_eq!(got, *want, "{project}");
        }
        // Asking for exec checks where the user had none narrows.
        let mut grants = Vec::new();
        command_grants(&CommandRules::default(), &user, &mut grants);
        assert!(grants.is_empty(), "{grants:?}");
    }

    #[test]
    fn ssh_allow_entries_are_grants_and_denies_narrow() {
        let user =
            ssh(r#"{"allowedHosts": ["a.com"], "allowedCommands": ["ls"], "inheritDeny": true}"#);
        let cases: [(&str, &[&str]); 7] = [
            (r#"{}"#, &[]),
            (
                r#"{"deniedHosts": ["b.com"], "deniedCommands": ["rm"]}"#,
                &[],
            ),
            (r#"{"allowedHosts": ["a.com"]}"#, &[]),
            (r#"{"allowedHosts": ["*"]}"#, &["ssh.allowedHosts *"]),
            (
                r#"{"allowedCommands": ["rm -rf"]}"#,
                &["ssh.allowedCommands rm -rf"],
            ),
            (
                r#"{"allowAllCommands": true}"#,
                &["ssh.allowAllCommands true"],
            ),
            (r#"{"inheritDeny": false}"#, &[]),
        ];
        for (project, want) in cases {
            let u = crate::config::Config {
                ssh: user.clone(),
                ..Default::default()
            };
            let p = crate::config::Config {
                ssh: ssh(project),
                ..Default::default()
            };
            let merged = merge(u.clone(), p);
            let mut grants = Vec::new();
            ssh_grants(&u.ssh, &merged.ssh, &mut grants);
            let got: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
            assert_eq!(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{project}"
            );
        }
        // Turning inheritDeny off (not possible through the merge) would be a grant.
        let mut grants = Vec::new();
        ssh_grants(&user, &Ssh::default(), &mut grants);
        assert!(
            grants
                .iter()
                .any(|g| g.to_string() == "ssh.inheritDeny false"),
            "{grants:?}"
        );
    }
}
