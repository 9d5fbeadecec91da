//! What a configuration and the command line ask for that the target platform cannot do.
//! Linux-only settings (the argv exec mode, `devices`, reduced isolation, WSL interop, a
//! forced new session) are refused on macOS with a clear error rather than ignored; the
//! macOS-only `macos.mach` names are accepted on Linux with a `-d` note. A pure function of
//! the config, the flags and the target, so both targets are tested on Linux.

use crate::config::Config;
use crate::config::types::RuntimeExecPolicy;
use crate::error::{Error, Result};

/// The platform a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Linux,
    Macos,
}

impl Target {
    /// The platform fence was built for.
    pub const fn current() -> Target {
        if cfg!(target_vendor = "apple") {
            Target::Macos
        } else {
            Target::Linux
        }
    }
}

/// The command-line flags that matter here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub allow_reduced_isolation: bool,
    pub force_new_session: bool,
}

/// Ok with the notes for `-d`, or the error for the first setting `target` cannot honour
/// (a config key, located in its file by the caller, or a flag).
pub fn check(cfg: &Config, flags: Flags, target: Target) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    match target {
        Target::Macos => {
            let linux_only = |key: &str, what: &str| Error::ConfigValue {
                key: key.to_string(),
                value: None,
                message: format!(
                    "{what} exists on Linux only; remove it from the config used on macOS"
                ),
            };
            if flags.allow_reduced_isolation {
                return Err(Error::Usage(
                    "--allow-reduced-isolation is Linux-only: macOS runs every command under \
                     its Seatbelt profile"
                        .into(),
                ));
            }
            if flags.force_new_session {
                return Err(Error::Usage(
                    "--force-new-session is Linux-only (it is bwrap's --new-session)".into(),
                ));
            }
            if cfg.allow_reduced_isolation {
                return Err(linux_only("allowReducedIsolation", "reduced isolation"));
            }
            if cfg.force_new_session.is_some() {
                return Err(linux_only("forceNewSession", "a forced new session"));
            }
            if cfg.command.runtime_exec_policy == Some(RuntimeExecPolicy::Argv) {
                return Err(linux_only(
                    "command.runtimeExecPolicy",
                    "the argv exec mode (seccomp user notification)",
                ));
            }
            if cfg.devices.mode.is_some() {
                return Err(linux_only("devices.mode", "the sandbox's own /dev"));
            }
            if !cfg.devices.allow.is_empty() {
                return Err(linux_only("devices.allow", "the sandbox's own /dev"));
            }
            if cfg.filesystem.wsl_interop.is_some() {
                return Err(linux_only("filesystem.wslInterop", "WSL interop"));
            }
        }
        Target::Linux => {
            let mach = &cfg.macos.mach;
            for (key, names) in [
                ("macos.mach.lookup", &mach.lookup),
                ("macos.mach.register", &mach.register),
            ] {
                if !names.is_empty() {
                    notes.push(format!(
                        "{key} applies on macOS only; its {} entries are not used here",
                        names.len()
                    ));
                }
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn linux_only_settings_are_refused_on_macos_and_fine_on_linux() {
        let refused = [
            (
                r#"{"allowReducedIsolation": true}"#,
                "allowReducedIsolation",
            ),
            (r#"{"forceNewSession": false}"#, "forceNewSession"),
            (
                r#"{"command": {"runtimeExecPolicy": "argv"}}"#,
                "command.runtimeExecPolicy",
            ),
            (r#"{"devices": {"mode": "minimal"}}"#, "devices.mode"),
            (r#"{"devices": {"allow": ["/dev/kvm"]}}"#, "devices.allow"),
            (
                r#"{"filesystem": {"wslInterop": true}}"#,
                "filesystem.wslInterop",
            ),
        ];
        for (json, key) in refused {
            let c = cfg(json);
            match check(&c, Flags::default(), Target::Macos) {
                Err(Error::ConfigValue {
                    key: k, message, ..
                }) => {
                    assert_eq!(k, key, "{json}");
                    assert!(message.contains("Linux only"), "{message}");
                }
                other => panic!("{json}: {other:?}"),
            }
            assert_eq!(
                check(&c, Flags::default(), Target::Linux).unwrap(),
                Vec::<String>::new()
            );
        }
        let fine = cfg(r#"{"command": {"runtimeExecPolicy": "path"}, "allowPty": true}"#);
        assert!(
            check(&fine, Flags::default(), Target::Macos)
                .unwrap()
                .is_empty()
        );
        for flags in [
            Flags {
                allow_reduced_isolation: true,
                ..Flags::default()
            },
            Flags {
                force_new_session: true,
                ..Flags::default()
            },
        ] {
            let c = Config::default();
            assert!(matches!(
                check(&c, flags, Target::Macos),
                Err(Error::Usage(_))
            ));
            assert!(check(&c, flags, Target::Linux).is_ok());
        }
    }

    #[test]
    fn mach_names_are_a_note_on_linux() {
        let c = cfg(r#"{"macos": {"mach": {"lookup": ["com.apple.a", "com.apple.b*"]}}}"#);
        assert!(
            check(&c, Flags::default(), Target::Macos)
                .unwrap()
                .is_empty()
        );
        let notes = check(&c, Flags::default(), Target::Linux).unwrap();
        assert_eq!(
            notes,
            ["macos.mach.lookup applies on macOS only; its 2 entries are not used here"]
        );
    }
}
