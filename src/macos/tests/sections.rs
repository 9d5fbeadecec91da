//! Each section of the profile.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;
use crate::policy::Target;

#[test]
fn default_profile_is_well_formed_and_denies_by_default() {
    let p = gen_checked(&policy(), &extras());
    let lines: Vec<&str> = p.text.lines().collect();
    assert_eq!(lines[0], "(version 1)");
    assert_eq!(
        lines[1],
        "(deny default (with message \"CMD64_abc_END_0123abcde_SBX\"))"
    );
    assert_eq!(lines[2], "; LogTag: CMD64_abc_END_0123abcde_SBX");
    assert!(!p.text.contains("(allow network*)"));
    assert!(!p.text.contains("(allow default"));
    assert!(p.notes.is_empty());
}

#[test]
fn log_tag_is_reduced_to_plain_characters() {
    let mut e = extras();
    e.log_tag = "x\") (allow default) (\"\n;y\\".into();
    let p = gen_checked(&policy(), &e);
    assert!(
        p.text
            .contains("(deny default (with message \"x____allow_default______y_\"))"),
        "{}",
        p.text
    );
    assert!(!p.text.contains("(allow default"));
}

#[test]
fn process_section() {
    let p = gen_checked(&policy(), &extras());
    for rule in [
        "(allow process-exec)",
        "(allow process-fork)",
        "(allow process-info* (target same-sandbox))",
        "(allow signal (target same-sandbox))",
        "(allow mach-priv-task-port (target same-sandbox))",
        "(allow user-preference-read)",
    ] {
        assert!(p.text.lines().any(|l| l == rule), "{rule}");
    }
    assert!(!p.text.contains("(deny process-exec"));
}

#[test]
fn runtime_exec_deny_is_carved_out_and_denied_after_the_allow() {
    let mut e = extras();
    e.exec_deny = vec!["/usr/sbin/shutdown".into(), "/private/var/x/bin/dd".into()];
    let p = gen_checked(&policy(), &e);
    let r = resolved(&p);
    let deny = "(deny process-exec (require-any (literal \"/usr/sbin/shutdown\") \
                (literal \"/private/var/x/bin/dd\") (literal \"/var/x/bin/dd\")))";
    assert!(r.contains(deny), "{r}");
    assert!(r.contains(&format!(
        "(allow process-exec (require-not {}))",
        &deny["(deny process-exec ".len()..deny.len() - 1]
    )));
    assert!(line_of(&r, "(allow process-exec") < line_of(&r, "(deny process-exec"));
    assert!(!p.text.contains("/usr/sbin/shutdown"), "a parameter");
}

#[test]
fn mach_baseline_has_directory_trust_and_dns_services() {
    let p = gen_checked(&policy(), &extras());
    let line = lines_with(&p.text, &["(allow mach-lookup"])[0];
    for name in [
        "com.apple.system.opendirectoryd.libinfo",
        "com.apple.trustd.agent",
        "com.apple.SystemConfiguration.DNSConfiguration",
        "com.apple.SystemConfiguration.configd",
        "com.apple.SecurityServer",
    ] {
        assert!(
            line.contains(&format!("(global-name \"{name}\")")),
            "{name}"
        );
    }
}

#[test]
fn ipc_iokit_and_sysctl() {
    let p = gen_checked(&policy(), &extras());
    assert!(p.text.contains("(allow ipc-posix-shm)"));
    assert!(p.text.contains("(allow ipc-posix-sem)"));
    assert!(
        p.text
            .contains("(iokit-registry-entry-class \"IOSurfaceRootUserClient\")")
    );
    let sysctl = lines_with(&p.text, &["(allow sysctl-read"])[0];
    assert!(sysctl.contains("(sysctl-name \"hw.ncpu\")"));
    assert!(sysctl.contains("(sysctl-name \"kern.osproductversion\")"));
    assert!(sysctl.contains("(sysctl-name-prefix \"hw.optional.arm\")"));
    assert!(
        p.text
            .contains("(allow sysctl-write (sysctl-name \"kern.tcsm_enable\"))")
    );
}

#[test]
fn devices_section() {
    let p = gen_checked(&policy(), &extras());
    let rw = lines_with(&p.text, &["(literal \"/dev/null\")"])[0];
    assert!(rw.starts_with("(allow file-read* file-write-data file-ioctl"));
    assert!(rw.contains("(literal \"/dev/tty\")"));
    assert!(p.text.contains("(regex #\"^/dev/ttys[0-9]+$\")"));
    let ro = lines_with(&p.text, &["(literal \"/dev/urandom\")"])[0];
    assert!(!ro.contains("file-write"));
}

#[test]
fn user_mach_exact_name_is_a_parameter() {
    let mut e = extras();
    e.mach_lookup = vec!["com.apple.metadata.mds".into()];
    let p = gen_checked(&policy(), &e);
    assert!(
        p.text
            .contains("(allow mach-lookup (global-name (param \"MACH_LOOKUP_0\")))")
    );
    assert_eq!(p.params[0].1, "com.apple.metadata.mds");
}

#[test]
fn user_mach_wildcard_is_a_prefix_regex() {
    let mut e = extras();
    e.mach_lookup = vec!["com.apple.metadata.*".into(), "org.x".into()];
    let p = gen_checked(&policy(), &e);
    assert!(p.text.contains(
        "(allow mach-lookup (global-name-regex #\"^com\\.apple\\.metadata\\..*$\") \
         (global-name (param \"MACH_LOOKUP_0\")))"
    ));
}

#[test]
fn user_mach_star_allows_every_lookup() {
    let mut e = extras();
    e.mach_lookup = vec!["com.x".into(), "*".into()];
    let p = gen_checked(&policy(), &e);
    assert!(p.text.lines().any(|l| l == "(allow mach-lookup)"));
    assert!(!p.text.contains("MACH_LOOKUP"));
}

#[test]
fn user_mach_register() {
    let mut e = extras();
    e.mach_register = vec!["org.example.agent".into(), "org.example.*".into()];
    let p = gen_checked(&policy(), &e);
    let line = lines_with(&p.text, &["(allow mach-register"])[0];
    assert!(line.contains("(global-name (param \"MACH_REGISTER_0\"))"));
    assert!(line.contains("(global-name-regex #\"^org\\.example\\..*$\")"));
}

#[test]
fn hostile_mach_names_stay_parameters_or_quoted_regexes() {
    let mut e = extras();
    e.mach_lookup = vec![
        "a\") (allow default) (global-name \"b".into(),
        "x\\\"#\"(allow file-write*)*".into(),
    ];
    let p = gen_checked(&policy(), &e);
    assert!(!p.text.contains("(allow default)"));
    assert!(!p.text.contains("(allow file-write*)"));
    assert_eq!(p.params[0].1, e.mach_lookup[0].as_str());
}

#[test]
fn network_reaches_only_the_proxy_ports() {
    let p = gen_checked(&policy(), &extras());
    let outbound = lines_with(&p.text, &["(allow network-outbound (remote ip"]);
    assert_eq!(
        outbound,
        [
            "(allow network-outbound (remote ip \"localhost:50001\"))",
            "(allow network-outbound (remote ip \"localhost:50002\"))"
        ]
    );
    assert!(lines_with(&p.text, &["network-bind (local ip"]).is_empty());
    assert!(lines_with(&p.text, &["network-inbound"]).is_empty());
    assert!(!p.text.contains("(allow network*"));
}

#[test]
fn network_shared_with_the_host_for_star() {
    let mut pol = policy();
    pol.network.share_host_network = true;
    let p = gen_checked(&pol, &extras());
    assert!(p.text.lines().any(|l| l == "(allow network*)"));
    assert!(lines_with(&p.text, &["remote ip"]).is_empty());
}

#[test]
fn local_outbound_ports_join_the_proxy_ports() {
    let mut pol = policy();
    pol.network.local_outbound_ports = vec![5432, 50001];
    let p = gen_checked(&pol, &extras());
    let outbound = lines_with(&p.text, &["(allow network-outbound (remote ip"]);
    assert_eq!(outbound.len(), 3, "{outbound:?}");
    assert!(p.text.contains("(remote ip \"localhost:5432\")"));
}

#[test]
fn exposed_ports_may_bind_and_accept() {
    let mut pol = policy();
    pol.network.exposed = vec![
        "127.0.0.1:3000".parse::<SocketAddr>().unwrap(),
        "0.0.0.0:8080".parse().unwrap(),
    ];
    let p = gen_checked(&pol, &extras());
    for rule in [
        "(allow network-bind (local ip \"localhost:3000\"))",
        "(allow network-inbound (local ip \"localhost:3000\"))",
        "(allow network-bind (local ip \"*:8080\"))",
        "(allow network-inbound (local ip \"*:8080\"))",
    ] {
        assert!(p.text.lines().any(|l| l == rule), "{rule}");
    }
    assert!(!p.text.contains("localhost:*"));
}

#[test]
fn local_binding_allows_any_localhost_port() {
    let mut e = extras();
    e.local_binding = true;
    let p = gen_checked(&policy(), &e);
    assert!(
        p.text
            .contains("(allow network-bind (local ip \"localhost:*\"))")
    );
    assert!(
        p.text
            .contains("(allow network-inbound (local ip \"localhost:*\"))")
    );
    assert!(!p.text.contains("network-outbound (local"));
}

#[test]
fn unix_sockets_in_tmpdir_and_allowed_paths() {
    let mut e = extras();
    e.unix_sockets = vec!["/Users/u/.colima/docker.sock".into()];
    let p = gen_checked(&policy(), &e);
    let r = resolved(&p);
    assert!(r.contains("(allow system-socket (socket-domain AF_UNIX))"));
    for path in [
        "/private/tmp/fence-1",
        "/tmp/fence-1",
        "/Users/u/.colima/docker.sock",
    ] {
        assert!(
            r.contains(&format!(
                "(allow network-outbound (remote unix-socket (subpath \"{path}\")))"
            )),
            "{path}\n{r}"
        );
        assert!(r.contains(&format!(
            "(allow network-bind (local unix-socket (subpath \"{path}\")))"
        )));
    }
}

#[test]
fn all_unix_sockets() {
    let mut e = extras();
    e.all_unix_sockets = true;
    e.unix_sockets = vec!["/x.sock".into()];
    let p = gen_checked(&policy(), &e);
    assert!(
        p.text
            .contains("(allow network-outbound (remote unix-socket (subpath \"/\")))")
    );
    assert!(!resolved(&p).contains("/x.sock"));
}

#[test]
fn reads_are_open_without_default_deny_read() {
    let p = gen_checked(&policy(), &extras());
    assert!(p.text.lines().any(|l| l == "(allow file-read*)"));
    assert!(!p.text.contains("(deny file-read"));
}

#[test]
fn deny_read_is_carved_out_then_denied_for_each_operation() {
    let mut pol = policy();
    pol.deny_read = vec![Target {
        path: "/Users/u/.aws".into(),
        is_dir: true,
    }];
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    assert!(r.contains("(allow file-read* (require-not (subpath \"/Users/u/.aws\")))"));
    let allow = line_of(&r, "(allow file-read*");
    for op in [
        "file-read*",
        "file-read-data",
        "file-read-metadata",
        "file-read-xattr",
    ] {
        let deny = format!("(deny {op} (subpath \"/Users/u/.aws\"))");
        assert!(line_of(&r, &deny) > allow, "{op}");
    }
}

#[test]
fn default_deny_read_allows_metadata_root_and_readable_roots() {
    let mut pol = policy();
    pol.default_deny_read = true;
    pol.read = vec!["/Users/u/proj".into(), "/private/etc/ssl".into()];
    let mut e = extras();
    e.system_read = true;
    let p = gen_checked(&pol, &e);
    let r = resolved(&p);
    assert!(!r.lines().any(|l| l == "(allow file-read*)"));
    assert!(r.contains("(allow file-read-metadata)"));
    assert!(r.contains("(allow file-read-data (literal \"/\"))"));
    let read = section(&r, "file read")
        .into_iter()
        .find(|l| l.starts_with("(allow file-read* "))
        .unwrap();
    for filter in [
        "(subpath \"/System\")",
        "(subpath \"/etc\")",
        "(subpath \"/private/etc\")",
        "(subpath \"/Users/u/proj\")",
        "(subpath \"/private/etc/ssl\")",
        "(subpath \"/etc/ssl\")",
        "(subpath \"/private/tmp/fence-1\")",
    ] {
        assert!(read.contains(filter), "{filter}: {read}");
    }
}

#[test]
fn strict_deny_read_has_no_system_paths() {
    let mut pol = policy();
    pol.default_deny_read = true;
    pol.read = vec!["/Users/u/proj".into()];
    let p = gen_checked(&pol, &extras());
    assert!(!p.text.contains("/System"));
    assert!(!p.text.contains("\"/usr\""));
}

#[test]
fn deny_read_beats_allow_read() {
    let mut pol = policy();
    pol.default_deny_read = true;
    pol.read = vec!["/Users/u/proj".into()];
    pol.deny_read = vec![Target {
        path: "/Users/u/proj/secrets".into(),
        is_dir: true,
    }];
    let mut e = extras();
    e.deny_read = vec!["/Users/u/proj/**/.env".into()];
    let p = gen_checked(&pol, &e);
    let r = resolved(&p);
    let read = section(&r, "file read")
        .into_iter()
        .find(|l| l.starts_with("(allow file-read* "))
        .unwrap();
    assert!(read.starts_with("(allow file-read* (require-all (require-any"));
    assert!(
        read.ends_with(
            "(require-not (require-any (subpath \"/Users/u/proj/secrets\") \
         (regex #\"^/Users/u/proj(/.*)?/\\.env$\")))))"
        ),
        "{read}"
    );
    let allow = line_of(&r, "(allow file-read* ");
    assert!(line_of(&r, "(deny file-read-data (require-any (subpath") > allow);
    assert!(line_of(&r, "(deny file-read-metadata") > allow);
}

#[test]
fn allow_read_globs_become_regexes() {
    let mut pol = policy();
    pol.default_deny_read = true;
    let mut e = extras();
    e.allow_read = vec!["/Users/u/.config/*.toml".into(), "/opt/tools".into()];
    let p = gen_checked(&pol, &e);
    let r = resolved(&p);
    let read = section(&r, "file read")
        .into_iter()
        .find(|l| l.starts_with("(allow file-read* "))
        .unwrap();
    assert!(read.contains("(regex #\"^/Users/u/\\.config/[^/]*\\.toml$\")"));
    assert!(read.contains("(subpath \"/opt/tools\")"));
}

#[test]
fn deny_read_globs_under_tmp_get_both_spellings() {
    let mut e = extras();
    e.deny_read = vec!["/tmp/**/*.key".into()];
    let p = gen_checked(&policy(), &e);
    assert!(p.text.contains("(regex #\"^/tmp(/.*)?/[^/]*\\.key$\")"));
    assert!(
        p.text
            .contains("(regex #\"^/private/tmp(/.*)?/[^/]*\\.key$\")")
    );
}

#[test]
fn hidden_paths_are_not_writable_either() {
    let mut pol = policy();
    pol.write = vec!["/Users/u/proj".into()];
    pol.deny_read = vec![Target {
        path: "/Users/u/proj/secrets".into(),
        is_dir: true,
    }];
    let p = gen_checked(&pol, &extras());
    let r = resolved(&p);
    let allow = lines_with(&r, &["(allow file-write*"])[0];
    assert!(allow.contains("(subpath \"/Users/u/proj/secrets\")"));
    let deny = lines_with(&r, &["(deny file-write* ", "proj/secrets\")"]);
    assert_eq!(deny.len(), 1, "{r}");
}

#[test]
fn invalid_patterns_are_left_out_with_a_note() {
    let mut e = extras();
    e.deny_write = vec!["/a/[".into(), "relative/x".into()];
    let p = gen_checked(&policy(), &e);
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    assert!(!p.text.contains("DENY_WRITE"));
}

#[test]
fn pty_only_when_allowed() {
    let p = gen_checked(&policy(), &extras());
    assert!(!p.text.contains("pseudo-tty"));
    assert!(!p.text.contains("/dev/ptmx"));
    let mut pol = policy();
    pol.allow_pty = true;
    let p = gen_checked(&pol, &extras());
    assert!(p.text.lines().any(|l| l == "(allow pseudo-tty)"));
    assert!(p.text.contains(
        "(allow file-read* file-write* file-ioctl (literal \"/dev/ptmx\") \
         (regex #\"^/dev/ttys[0-9]+$\"))"
    ));
    assert_eq!(line_of(&p.text, ";; pty"), p.text.lines().count() - 3);
}

#[test]
fn sections_come_in_the_reference_order() {
    let mut pol = policy();
    pol.write = vec!["/Users/u/proj".into()];
    pol.allow_pty = true;
    pol.deny_write = vec!["/Users/u/proj/.git/hooks".into()];
    let mut e = extras();
    e.mach_lookup = vec!["org.x".into()];
    e.exec_deny = vec![PathBuf::from("/bin/dd")];
    let p = gen_checked(&pol, &e);
    let order = [
        "(version 1)",
        ";; process",
        ";; mach baseline",
        ";; ipc, iokit, sysctl",
        ";; devices",
        ";; user mach-lookup",
        ";; runtime exec deny",
        ";; network",
        ";; file read",
        ";; file write",
        ";; move-blocking",
        ";; pty",
    ];
    let at: Vec<usize> = order.iter().map(|s| line_of(&p.text, s)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}\n{}", p.text);
}

#[test]
fn every_protected_name_is_in_the_write_carve_out() {
    let mut pol = policy();
    pol.write = vec!["/Users/u/proj".into()];
    let p = gen_checked(&pol, &extras());
    let allow = lines_with(&p.text, &["(allow file-write* (require-all"])[0];
    for row in crate::policy::dangerous::everywhere() {
        let escaped = row.name.replace('.', "\\.");
        assert!(allow.contains(&escaped), "{}", row.name);
    }
}

#[test]
fn log_tags_keep_plain_characters_only() {
    use super::super::profile::log_tag;
    assert_eq!(
        log_tag("CMD64_YWJj+/=_END_0a1b_SBX"),
        "CMD64_YWJj+/=_END_0a1b_SBX"
    );
    assert_eq!(log_tag("a\"b c\\(é)"), "a_b_c____");
}

#[test]
fn spellings_work_on_paths_of_any_bytes() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let odd = PathBuf::from(OsString::from_vec(b"/tmp/\xff\"x".to_vec()));
    let both = super::super::profile::spellings(&odd);
    assert_eq!(
        both,
        [
            odd.clone(),
            PathBuf::from(OsString::from_vec(b"/private/tmp/\xff\"x".to_vec()))
        ]
    );
    assert_eq!(
        super::super::profile::spellings(std::path::Path::new("/tmpx")).len(),
        1
    );
}

#[test]
fn shared_host_network_keeps_the_unix_socket_rules() {
    let mut pol = policy();
    pol.network.share_host_network = true;
    let mut e = extras();
    e.all_unix_sockets = true;
    let p = gen_checked(&pol, &e);
    assert!(
        p.text
            .contains("(allow network-bind (local unix-socket (subpath \"/\")))")
    );
}
