//! Golden snippets: whole sections for representative policies, parameters resolved.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;
use crate::policy::Target;

fn workspace_write() -> (Policy, Extras) {
    let mut pol = policy();
    pol.write = vec!["/Users/u/proj".into()];
    pol.deny_write = vec!["/Users/u/proj/.git/hooks".into()];
    (pol, extras())
}

fn default_deny_read() -> (Policy, Extras) {
    let mut pol = policy();
    pol.default_deny_read = true;
    pol.read = vec!["/Users/u/proj".into()];
    pol.deny_read = vec![Target {
        path: "/Users/u/.aws".into(),
        is_dir: true,
    }];
    let mut e = extras();
    e.home = None;
    e.config_home = None;
    e.data_home = None;
    e.system_read = true;
    e.allow_read = vec!["/Users/u/.config/*.toml".into()];
    e.deny_read = vec!["/Users/u/proj/**/.env".into()];
    (pol, e)
}

fn network() -> (Policy, Extras) {
    let mut pol = policy();
    pol.network.exposed = vec!["127.0.0.1:3000".parse::<SocketAddr>().unwrap()];
    pol.network.local_outbound_ports = vec![5432];
    pol.allow_pty = true;
    let mut e = extras();
    e.unix_sockets = vec!["/var/run/docker.sock".into()];
    (pol, e)
}

/// The mandatory names' regexes, shortened to `NAMES` in the golden files (checked on
/// their own by the tests of the write section).
const NAMES: &str = "(regex #\"/(\\.bashrc|\\.bash_profile|\\.bash_login|\\.bash_logout|\\.bash_aliases|\\.profile|\\.zshrc|\\.zshenv|\\.zprofile|\\.zlogin|\\.zlogout|\\.gitconfig|\\.gitmodules|\\.envrc|\\.direnv|\\.npmrc|\\.ripgreprc|\\.mcp\\.json|\\.vscode|\\.idea)(/|$)\") (regex #\"/\\.git/(hooks(/|$)|config$)\") (regex #\"/\\.git/(modules|worktrees)/(.*/)?(hooks(/|$)|config$)\")";

/// The profile from its network section on, parameters resolved, compared with
/// `tests/golden/macos/NAME.sbpl` (`FENCE_BLESS=1` rewrites the file).
fn golden(name: &str, (pol, e): (Policy, Extras)) {
    let p = gen_checked(&pol, &e);
    let r = resolved(&p);
    assert!(r.contains(NAMES), "the name regexes changed:\n{r}");
    let from = line_of(&r, ";; network");
    let mut got = r.lines().skip(from).collect::<Vec<_>>().join("\n");
    got = got.replace(NAMES, "NAMES");
    got.push('\n');
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/macos")
        .join(format!("{name}.sbpl"));
    if std::env::var_os("FENCE_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (FENCE_BLESS=1 writes it)", file.display()));
    assert_eq!(got, want, "{} differs", file.display());
}

#[test]
fn golden_workspace_write() {
    golden("workspace-write", workspace_write());
}

#[test]
fn golden_default_deny_read() {
    golden("default-deny-read", default_deny_read());
}

#[test]
fn golden_network_and_pty() {
    golden("network-pty", network());
}

/// Hostile strings: the raw text (no substitution) and the parameters, in
/// `tests/golden/macos/hostile.sbpl`.
#[test]
fn golden_hostile_strings() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let mut pol = policy();
    pol.write = vec![
        "/Users/u/x\") (allow default) (subpath \"/".into(),
        PathBuf::from(OsString::from_vec(b"/tmp/a\\\"\n\xff".to_vec())),
    ];
    let mut e = extras();
    e.deny_write = vec!["/Users/u/x\") (allow default) (regex #\"/**/#\"*".into()];
    e.mach_lookup = vec!["a\")(allow default)(\"*".into(), "b\"\\".into()];
    e.log_tag = "T\")(allow default)".into();
    let p = gen_checked(&pol, &e);
    let mut got = String::new();
    for line in p.text.lines() {
        let keep = line.starts_with("(deny default")
            || line.contains("(param")
            || line.contains("#\"^/Users")
            || line.contains("global-name-regex");
        if keep {
            got.push_str(&line.replace(NAMES, "NAMES"));
            got.push('\n');
        }
    }
    got.push_str(";; parameters\n");
    for (name, value) in &p.params {
        got.push_str(&format!("; {name}={value:?}\n"));
    }
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/macos/hostile.sbpl");
    if std::env::var_os("FENCE_BLESS").is_some() {
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file).unwrap();
    assert_eq!(got, want);
}
