//! Local commands that ssh and the programs built on it run besides themselves, given in
//! their options: ssh's `ProxyCommand`, `LocalCommand` and `KnownHostsCommand` (`-o`, also
//! through scp and sftp), scp's and sftp's `-S PROGRAM`, rsync's `-e`/`--rsh COMMAND` and
//! git's `-c core.sshCommand=COMMAND`. Each is a script, checked like `sh -c`'s. A value
//! only known at run time is not seen (like `sh -c "$X"`).
//!
//! Options are recognized anywhere in the argv (an `-o` word in ssh's remote command is
//! read too): a misreading can only add a check, never skip one.

use crate::shell::{self, Word};

/// The scripts `name` (a basename) with `args` runs besides itself.
pub fn scripts(name: &str, args: &[Word]) -> Vec<String> {
    let mut out = Vec::new();
    match name {
        "ssh" | "slogin" | "scp" | "sftp" => {
            let program_opt = matches!(name, "scp" | "sftp");
            each_value(args, |opt, v| match opt {
                'o' => out.extend(ssh_config_command(v)),
                'S' if program_opt => out.push(shell::quote(v)),
                _ => {}
            });
        }
        "rsync" => {
            let mut next_is_rsh = false;
            for a in args.iter().filter_map(|w| w.value.as_deref()) {
                if std::mem::take(&mut next_is_rsh) {
                    out.push(a.to_string());
                } else if let Some(v) = a.strip_prefix("--rsh=") {
                    out.push(v.to_string());
                } else if a == "--rsh" {
                    next_is_rsh = true;
                } else if !a.starts_with("--") && a.starts_with('-') {
                    // `-e CMD`, `-eCMD`, `-avze CMD`: e takes the rest of the cluster.
                    if let Some(p) = a.find('e') {
                        match &a[p + 1..] {
                            "" => next_is_rsh = true,
                            v => out.push(v.to_string()),
                        }
                    }
                }
            }
        }
        "git" => {
            let mut next_is_config = false;
            for a in args.iter().filter_map(|w| w.value.as_deref()) {
                if std::mem::take(&mut next_is_config) {
                    if let Some((k, v)) = a.split_once('=') {
                        if k.eq_ignore_ascii_case("core.sshCommand") {
                            out.push(v.to_string());
                        }
                    }
                } else if a == "-c" {
                    next_is_config = true;
                } else if !a.starts_with('-') {
                    break; // the subcommand: git's own options end here
                }
            }
        }
        _ => {}
    }
    out
}

/// Calls `f(letter, value)` for each `-o`/`-S` option (value attached or the next word).
fn each_value(args: &[Word], mut f: impl FnMut(char, &str)) {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        i += 1;
        let Some(a) = w.value.as_deref() else {
            continue;
        };
        if a == "--" || !a.starts_with('-') || a.starts_with("--") {
            continue;
        }
        let Some(p) = a.find(['o', 'S']) else {
            continue;
        };
        let letter = a[p..].chars().next().unwrap_or('o');
        let attached = &a[p + 1..];
        if attached.is_empty() {
            if let Some(Some(v)) = args.get(i).map(|w| w.value.as_deref()) {
                f(letter, v);
                i += 1;
            }
        } else {
            f(letter, attached);
        }
    }
}

/// The command of an ssh `-o` setting that runs one locally, unless it is `none`.
fn ssh_config_command(setting: &str) -> Option<String> {
    let s = setting.trim_start();
    let end = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(s.len());
    let (key, rest) = s.split_at(end);
    let rest = rest.trim_start();
    let value = rest.strip_prefix('=').unwrap_or(rest).trim();
    let runs = ["proxycommand", "localcommand", "knownhostscommand"];
    (runs.contains(&key.to_ascii_lowercase().as_str()) && !value.eq_ignore_ascii_case("none"))
        .then(|| value.to_string())
}
