//! `extends` merging. (What a config grants is decided on
//! the compiled policies: see `policy::compare`.)

use super::types::{Config, Devices};

/// Merges `child` over `base` the way the Go fence does: lists append (deduplicated, first
/// occurrence kept), booleans OR, optional booleans and scalars: the child wins when set.
pub fn merge(base: Config, child: Config) -> Config {
    let (b, c) = (base, child);
    Config {
        schema: None,
        extends: None,
        allow_pty: b.allow_pty || c.allow_pty,
        force_new_session: c.force_new_session.or(b.force_new_session),
        allow_reduced_isolation: b.allow_reduced_isolation || c.allow_reduced_isolation,
        quiet: b.quiet || c.quiet,
        network: super::types::Network {
            allowed_domains: append(b.network.allowed_domains, c.network.allowed_domains),
            denied_domains: append(b.network.denied_domains, c.network.denied_domains),
            allow_unix_sockets: append(b.network.allow_unix_sockets, c.network.allow_unix_sockets),
            allow_all_unix_sockets: b.network.allow_all_unix_sockets
                || c.network.allow_all_unix_sockets,
            allow_local_binding: b.network.allow_local_binding || c.network.allow_local_binding,
            allow_local_outbound: c
                .network
                .allow_local_outbound
                .or(b.network.allow_local_outbound),
            allow_local_outbound_ports: append(
                b.network.allow_local_outbound_ports,
                c.network.allow_local_outbound_ports,
            ),
            http_proxy_port: c.network.http_proxy_port.or(b.network.http_proxy_port),
            socks_proxy_port: c.network.socks_proxy_port.or(b.network.socks_proxy_port),
            upstream_proxy: c.network.upstream_proxy.or(b.network.upstream_proxy),
            default_action: c.network.default_action.or(b.network.default_action),
        },
        filesystem: super::types::Filesystem {
            default_deny_read: b.filesystem.default_deny_read
                || c.filesystem.default_deny_read
                || b.filesystem.strict_deny_read
                || c.filesystem.strict_deny_read,
            strict_deny_read: b.filesystem.strict_deny_read || c.filesystem.strict_deny_read,
            wsl_interop: c.filesystem.wsl_interop.or(b.filesystem.wsl_interop),
            allow_read: append(b.filesystem.allow_read, c.filesystem.allow_read),
            allow_execute: append(b.filesystem.allow_execute, c.filesystem.allow_execute),
            deny_read: append(b.filesystem.deny_read, c.filesystem.deny_read),
            allow_write: append(b.filesystem.allow_write, c.filesystem.allow_write),
            deny_write: append(b.filesystem.deny_write, c.filesystem.deny_write),
            allow_git_config: b.filesystem.allow_git_config || c.filesystem.allow_git_config,
        },
        devices: Devices {
            mode: c.devices.mode.or(b.devices.mode),
            allow: append(b.devices.allow, c.devices.allow),
        },
        command: super::types::CommandRules {
            deny: append(b.command.deny, c.command.deny),
            allow: append(b.command.allow, c.command.allow),
            use_defaults: c.command.use_defaults.or(b.command.use_defaults),
            accept_shared_binary_cannot_runtime_deny: append(
                b.command.accept_shared_binary_cannot_runtime_deny,
                c.command.accept_shared_binary_cannot_runtime_deny,
            ),
            runtime_exec_policy: c
                .command
                .runtime_exec_policy
                .or(b.command.runtime_exec_policy),
        },
        ssh: super::types::Ssh {
            allowed_hosts: append(b.ssh.allowed_hosts, c.ssh.allowed_hosts),
            denied_hosts: append(b.ssh.denied_hosts, c.ssh.denied_hosts),
            allowed_commands: append(b.ssh.allowed_commands, c.ssh.allowed_commands),
            denied_commands: append(b.ssh.denied_commands, c.ssh.denied_commands),
            allow_all_commands: b.ssh.allow_all_commands || c.ssh.allow_all_commands,
            inherit_deny: b.ssh.inherit_deny || c.ssh.inherit_deny,
        },
        macos: super::types::Macos {
            mach: super::types::Mach {
                lookup: append(b.macos.mach.lookup, c.macos.mach.lookup),
                register: append(b.macos.mach.register, c.macos.mach.register),
            },
        },
    }
}

/// `base` then `extra`, each value once (its first occurrence), in linear time: a config
/// may hold hundreds of thousands of entries, and a quadratic scan would take minutes.
fn append<T: Eq + std::hash::Hash + Clone>(base: Vec<T>, extra: Vec<T>) -> Vec<T> {
    let mut seen: std::collections::HashSet<T> =
        std::collections::HashSet::with_capacity(base.len() + extra.len());
    base.into_iter()
        .chain(extra)
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::DeviceMode;

    fn cfg(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn merge_semantics() {
        let base = cfg(
            r#"{"filesystem": {"allowWrite": ["a", "b"], "allowGitConfig": true},
            "devices": {"mode": "host"}, "forceNewSession": true}"#,
        );
        let child = cfg(
            r#"{"filesystem": {"allowWrite": ["b", "c"], "strictDenyRead": true},
            "devices": {"mode": "minimal"}}"#,
        );
        let m = merge(base, child);
        assert_eq!(m.filesystem.allow_write, ["a", "b", "c"]);
        assert!(m.filesystem.allow_git_config, "booleans OR");
        assert!(
            m.filesystem.default_deny_read,
            "strictDenyRead implies defaultDenyRead"
        );
        assert_eq!(
            m.devices.mode,
            Some(DeviceMode::Minimal),
            "child scalar wins"
        );
        assert_eq!(m.force_new_session, Some(true), "unset child keeps base");
    }

    #[test]
    fn append_keeps_first_occurrences_in_linear_time() {
        let cases: [(&[&str], &[&str], &[&str]); 4] = [
            (&[], &[], &[]),
            (&["a", "b", "a"], &["c", "b"], &["a", "b", "c"]),
            (&[], &["x", "x", "y"], &["x", "y"]),
            (&["z"], &[], &["z"]),
        ];
        for (base, extra, want) in cases {
            let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(append(strings(base), strings(extra)), strings(want));
        }
        // 200,000 entries (half of them repeated) merge correctly; with the old quadratic
        // scan this took close to a minute.
        let base: Vec<String> = (0..100_000).map(|i| format!("deny/{i}")).collect();
        let extra: Vec<String> = (50_000..150_000).map(|i| format!("deny/{i}")).collect();
        let merged = append(base, extra);
        assert_eq!(merged.len(), 150_000);
        assert!(
            merged
                .iter()
                .enumerate()
                .all(|(i, v)| *v == format!("deny/{i}"))
        );
    }
}
