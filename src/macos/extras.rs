//! The config-derived part of [`Extras`]: what the profile takes from the config as
//! written (patterns, Mach names, socket and binding switches) rather than from the
//! compiled policy. The run-time facts (`tmpdir`, `proxy_ports`, `exec_deny`, `log_tag`)
//! are left empty for the backend to fill in.

use std::path::{Path, PathBuf};

use super::profile::Extras;
use crate::config::Config;
use crate::host_env::HostEnv;
use crate::policy::{glob, paths};

/// `entries` as absolute patterns: `~` against `$HOME`, relative entries against the
/// working directory, the base's glob characters escaped. A base that is not UTF-8 (a
/// directory name of any bytes) has each invalid sequence replaced by `*`, which matches
/// it and, at worst, a few sibling names too: for the deny lists the safe side. Entries
/// with `~` and no home are left out (the compiled policy reports them).
pub fn patterns(entries: &[String], host: &HostEnv) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| paths::absolute(e, host.home.as_deref(), &host.cwd))
        .map(|a| {
            let base = base_pattern(&a.base);
            match (base.as_str(), a.rest.as_str()) {
                ("/", rest) => rest.to_string(),
                (base, "/") => base.to_string(),
                (base, rest) => format!("{base}{rest}"),
            }
        })
        .collect()
}

fn base_pattern(base: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in base.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(&glob::escape(chunk.valid()));
        if !chunk.invalid().is_empty() {
            out.push('*');
        }
    }
    out
}

/// The config's part of [`Extras`] for `cfg` on `host`.
pub fn from_config(cfg: &Config, host: &HostEnv) -> Extras {
    let fs = &cfg.filesystem;
    let net = &cfg.network;
    let mut allow_read = patterns(&fs.allow_read, host);
    allow_read.extend(patterns(&fs.allow_execute, host));
    // Socket paths are paths, not patterns: made absolute, taken as written.
    let unix_sockets = net
        .allow_unix_sockets
        .iter()
        .filter_map(|e| paths::absolute(e, host.home.as_deref(), &host.cwd))
        .map(|a| {
            let mut path = a.base;
            path.push(a.rest.trim_start_matches('/'));
            path
        })
        .collect::<Vec<PathBuf>>();
    Extras {
        home: host.home.clone(),
        config_home: host.config_home.clone(),
        data_home: host.data_home.clone(),
        system_read: fs.default_deny_read && !fs.strict_deny_read,
        allow_read,
        deny_read: patterns(&fs.deny_read, host),
        deny_write: patterns(&fs.deny_write, host),
        allow_git_config: fs.allow_git_config,
        mach_lookup: cfg.macos.mach.lookup.clone(),
        mach_register: cfg.macos.mach.register.clone(),
        unix_sockets,
        all_unix_sockets: net.allow_all_unix_sockets,
        local_binding: net.allow_local_binding,
        ..Extras::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    fn host() -> HostEnv {
        HostEnv::new(
            "/Users/u/my [proj]".into(),
            Some("/Users/u".into()),
            None,
            None,
        )
    }

    #[test]
    fn patterns_are_made_absolute_with_the_base_escaped() {
        let entries: Vec<String> = [
            "**/.env",
            "./build/*.log",
            "~/.ssh",
            "~",
            "/etc/*.conf",
            "../other/**",
            "/",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            patterns(&entries, &host()),
            [
                "/Users/u/my \\[proj]/**/.env",
                "/Users/u/my \\[proj]/build/*.log",
                "/Users/u/.ssh",
                "/Users/u",
                "/etc/*.conf",
                "/Users/u/other/**",
                "/",
            ]
        );
        let no_home = HostEnv::new("/w".into(), None, None, None);
        assert!(patterns(&["~/.x".into()], &no_home).is_empty());
    }

    #[test]
    fn a_base_of_any_bytes_is_covered_by_a_wildcard() {
        let cwd = PathBuf::from(OsString::from_vec(b"/w/a\xffb".to_vec()));
        let host = HostEnv::new(cwd, None, None, None);
        let got = patterns(&["x/*.key".into()], &host);
        assert_eq!(got, ["/w/a*b/x/*.key"]);
        let pattern = glob::Pattern::new(&got[0]).unwrap();
        assert!(pattern.matches("/w/a\u{fffd}b/x/k.key"));
    }

    #[test]
    fn extras_from_a_config() {
        let cfg = crate::config::parse_text(
            r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["src"],
                "allowExecute": ["/opt/bin"], "denyRead": ["~/.aws"],
                "denyWrite": ["**/*.lock"], "allowGitConfig": true},
                "network": {"allowUnixSockets": ["~/.colima/docker.sock"],
                "allowLocalBinding": true},
                "macos": {"mach": {"lookup": ["com.apple.metadata.*"],
                "register": ["org.x"]}}}"#,
            "test",
        )
        .unwrap();
        let e = from_config(&cfg, &host());
        assert!(e.system_read && e.allow_git_config && e.local_binding);
        assert!(!e.all_unix_sockets);
        assert_eq!(e.allow_read, ["/Users/u/my \\[proj]/src", "/opt/bin"]);
        assert_eq!(e.deny_read, ["/Users/u/.aws"]);
        assert_eq!(e.deny_write, ["/Users/u/my \\[proj]/**/*.lock"]);
        assert_eq!(
            e.unix_sockets,
            [PathBuf::from("/Users/u/.colima/docker.sock")]
        );
        assert_eq!(e.mach_lookup, ["com.apple.metadata.*"]);
        assert_eq!(e.mach_register, ["org.x"]);
        assert_eq!(e.config_home, Some("/Users/u/.config".into()));
        assert!(e.tmpdir.as_os_str().is_empty() && e.proxy_ports.is_empty());
        let strict = crate::config::parse_text(
            r#"{"filesystem": {"defaultDenyRead": true, "strictDenyRead": true}}"#,
            "test",
        )
        .unwrap();
        assert!(!from_config(&strict, &host()).system_read);
    }

    /// Every built-in template, compiled on this host, gives a well-formed profile.
    #[test]
    fn every_template_gives_a_well_formed_profile() {
        let root = std::env::temp_dir().join(format!("fence-macos-{}", std::process::id()));
        std::fs::create_dir_all(root.join("home")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let host = HostEnv::new(root.clone(), Some(root.join("home").into()), None, None);
        for t in crate::config::templates::TEMPLATES {
            let cfg = crate::config::parse_text(t.text, t.name).unwrap();
            let policy = crate::policy::compile(&cfg, &host).unwrap();
            let mut e = from_config(&cfg, &host);
            e.tmpdir = root.join("tmp");
            e.proxy_ports = vec![40000, 40001];
            e.log_tag = "TAG".into();
            let profile = super::super::profile::generate(&policy, &e);
            super::super::tests::assert_well_formed(&profile);
            let text = super::super::tests::resolved(&profile);
            if t.name == "workspace-write" {
                let cwd = root.to_str().unwrap();
                assert!(text.contains(&format!("(subpath \"{cwd}\")")), "{text}");
                assert!(
                    text.contains("(\\.env$\")") || text.contains("/\\.env$\")"),
                    "{text}"
                );
            } else {
                assert!(!text.contains(&format!("(subpath \"{}\")", root.display())));
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
