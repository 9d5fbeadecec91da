//! `extends` merging, "not supported yet" checks and the grants a config makes.

use super::types::{Config, DeviceMode, Devices};

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

fn append<T: PartialEq>(mut base: Vec<T>, extra: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(base.len() + extra.len());
    for item in base.drain(..).chain(extra) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A setting this build parses but cannot enforce yet, as (key path, explanation).
pub type Unsupported = (&'static str, &'static str);

const COMMAND_LATER: &str = "command policy is not supported yet";
const SSH_LATER: &str = "ssh policy is not supported yet";

/// Settings that would be silently ignored by this build. Each one is an error, so that no
/// config is ever weaker than it reads.
pub fn unsupported(cfg: &Config) -> Vec<Unsupported> {
    let checks: [(bool, Unsupported); 5] = [
        (
            !cfg.command.deny.is_empty(),
            ("command.deny", COMMAND_LATER),
        ),
        (
            !cfg.command.allow.is_empty(),
            ("command.allow", COMMAND_LATER),
        ),
        (
            cfg.command.use_defaults.is_some(),
            ("command.useDefaults", COMMAND_LATER),
        ),
        (
            cfg.command.runtime_exec_policy.is_some(),
            ("command.runtimeExecPolicy", COMMAND_LATER),
        ),
        (ssh_used(cfg), ("ssh", SSH_LATER)),
    ];
    let mut out: Vec<Unsupported> = checks
        .into_iter()
        .filter(|(used, _)| *used)
        .map(|(_, u)| u)
        .collect();
    if !cfg
        .command
        .accept_shared_binary_cannot_runtime_deny
        .is_empty()
    {
        out.push(("command.acceptSharedBinaryCannotRuntimeDeny", COMMAND_LATER));
    }
    out
}

fn ssh_used(cfg: &Config) -> bool {
    let s = &cfg.ssh;
    !(s.allowed_hosts.is_empty()
        && s.denied_hosts.is_empty()
        && s.allowed_commands.is_empty()
        && s.denied_commands.is_empty()
        && !s.allow_all_commands
        && !s.inherit_deny)
}

/// One permission a config grants beyond the built-in default (deny everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub key: &'static str,
    pub value: String,
}

/// Everything `cfg` grants, for the trust check and its message. Settings that only narrow
/// (deny lists, defaultDenyRead, minimal devices) are not grants.
pub fn grants(cfg: &Config) -> Vec<Grant> {
    let mut out = Vec::new();
    let mut list = |key: &'static str, values: &[String]| {
        out.extend(values.iter().map(|v| Grant {
            key,
            value: v.clone(),
        }));
    };
    list("filesystem.allowWrite", &cfg.filesystem.allow_write);
    list("network.allowedDomains", &cfg.network.allowed_domains);
    list("network.allowUnixSockets", &cfg.network.allow_unix_sockets);
    list("devices.allow", &cfg.devices.allow);
    list("command.allow", &cfg.command.allow);
    list("ssh.allowedHosts", &cfg.ssh.allowed_hosts);
    list("ssh.allowedCommands", &cfg.ssh.allowed_commands);
    // allowRead and allowExecute only widen what defaultDenyRead hid.
    if cfg.filesystem.default_deny_read {
        list("filesystem.allowRead", &cfg.filesystem.allow_read);
        list("filesystem.allowExecute", &cfg.filesystem.allow_execute);
    }
    let n = &cfg.network;
    let mut flag = |on: bool, key: &'static str, value: &str| {
        if on {
            out.push(Grant {
                key,
                value: value.to_string(),
            });
        }
    };
    flag(
        n.allow_all_unix_sockets,
        "network.allowAllUnixSockets",
        "true",
    );
    flag(n.allow_local_binding, "network.allowLocalBinding", "true");
    flag(
        n.allow_local_outbound == Some(true),
        "network.allowLocalOutbound",
        "true",
    );
    flag(
        n.upstream_proxy.is_some(),
        "network.upstreamProxy",
        n.upstream_proxy.as_deref().unwrap_or(""),
    );
    flag(
        n.default_action == Some(super::types::DefaultAction::Proxy),
        "network.defaultAction",
        "proxy",
    );
    flag(
        cfg.filesystem.allow_git_config,
        "filesystem.allowGitConfig",
        "true",
    );
    flag(
        cfg.devices.mode == Some(DeviceMode::Host),
        "devices.mode",
        "host",
    );
    flag(
        cfg.command.use_defaults == Some(false),
        "command.useDefaults",
        "false",
    );
    flag(cfg.ssh.allow_all_commands, "ssh.allowAllCommands", "true");
    flag(cfg.allow_pty, "allowPty", "true");
    flag(
        cfg.force_new_session == Some(false),
        "forceNewSession",
        "false",
    );
    flag(cfg.allow_reduced_isolation, "allowReducedIsolation", "true");
    out.extend(n.allow_local_outbound_ports.iter().map(|p| Grant {
        key: "network.allowLocalOutboundPorts",
        value: p.to_string(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn unsupported_fields_are_reported() {
        let cases = [
            (r#"{"command": {"deny": ["git push"]}}"#, "command.deny"),
            (r#"{"ssh": {"allowedHosts": ["x.com"]}}"#, "ssh"),
        ];
        for (json, key) in cases {
            let found = unsupported(&cfg(json));
            assert!(found.iter().any(|(k, _)| *k == key), "{json}: {found:?}");
        }
        let enforced = r#"{"network": {"deniedDomains": ["x.com"], "defaultAction": "proxy",
            "allowedDomains": ["y.com"], "allowLocalBinding": true, "allowLocalOutbound": true,
            "allowLocalOutboundPorts": [5432], "httpProxyPort": 1, "socksProxyPort": 2,
            "upstreamProxy": "http://p:1"},
            "filesystem": {"allowWrite": ["."], "denyRead": ["~/.ssh"]},
            "devices": {"mode": "host"}, "forceNewSession": true,
            "macos": {"mach": {"lookup": ["com.apple.x"]}}}"#;
        assert_eq!(unsupported(&cfg(enforced)), Vec::<Unsupported>::new());
    }

    #[test]
    fn grants_list_only_widening_settings() {
        let g = grants(&cfg(
            r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["x"],
            "allowRead": ["/opt"]}, "devices": {"mode": "minimal"}}"#,
        ));
        assert_eq!(
            g,
            vec![Grant {
                key: "filesystem.allowWrite",
                value: ".".into()
            }]
        );
        let g = grants(&cfg(
            r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["/opt"]}}"#,
        ));
        assert_eq!(
            g,
            vec![Grant {
                key: "filesystem.allowRead",
                value: "/opt".into()
            }]
        );
        assert!(grants(&Config::default()).is_empty());
        let g = grants(&cfg(
            r#"{"network": {"defaultAction": "proxy", "allowLocalOutboundPorts": [5432],
            "deniedDomains": ["x.com"], "httpProxyPort": 8080}}"#,
        ));
        let keys: Vec<&str> = g.iter().map(|g| g.key).collect();
        assert_eq!(
            keys,
            ["network.defaultAction", "network.allowLocalOutboundPorts"]
        );
    }
}
