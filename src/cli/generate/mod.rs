//! Test-time generators: the man page's OPTIONS section and the bash, zsh and fish
//! completions, from the tables in [`super::flags`].
//!
//! They run as a test rather than as a hidden `fence --generate` option: the binary does
//! not carry them, and the man page's generated part has to be spliced into the
//! hand-written page, which a command printing to stdout cannot do in one step. The
//! generated files are committed; [`committed_files_are_current`] fails when one is stale,
//! and [`REGENERATE`] rewrites them.

mod bash;
mod fish;
mod man;
#[cfg(test)]
mod tests;
mod zsh;

use std::path::Path;

use super::flags::{Complete, FLAGS, Flag, Id, SUBCOMMANDS};

/// The command that rewrites the generated files.
pub const REGENERATE: &str = "FENCE_REGENERATE=1 cargo test --lib cli::generate";

/// The first lines of every completion file (after the shell's own first line, if any).
fn header(shell: &str, install: &str) -> String {
    let mut out = format!(
        "# {shell} completion for fence.\n\
         # Generated from src/cli/flags.rs by `{REGENERATE}`: do not edit.\n#"
    );
    let mut width = 1;
    for word in install.split(' ') {
        if width + 1 + word.len() > 88 {
            out.push_str("\n#");
            width = 1;
        }
        out.push(' ');
        out.push_str(word);
        width += 1 + word.len();
    }
    out.push('\n');
    out
}

/// `template` with each `@KEY@` replaced; panics if a placeholder is left.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("@{key}@"), value);
    }
    let parts: Vec<&str> = out.split('@').collect();
    let inner = &parts[1..parts.len().saturating_sub(1).max(1)];
    let left = inner.iter().find(|between| {
        !between.is_empty() && between.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    });
    assert!(
        left.is_none(),
        "placeholder @{}@ left",
        left.copied().unwrap_or_default()
    );
    out
}

/// Options that end fence's own arguments: nothing of fence's follows them.
fn ends_options(flag: &Flag) -> bool {
    match flag.id {
        Id::Help | Id::Version | Id::ListTemplates | Id::LinuxFeatures | Id::ProxyConnect => true,
        Id::Script
        | Id::Settings
        | Id::Template
        | Id::Shell
        | Id::Debug
        | Id::Monitor
        | Id::AllowReducedIsolation
        | Id::ForceNewSession
        | Id::Port
        | Id::FenceLogFile
        | Id::PreserveFds
        | Id::TrustList
        | Id::TrustRevoke => false,
    }
}

/// Options that take one value, after which fence's options go on.
fn value_flags() -> impl Iterator<Item = &'static Flag> {
    FLAGS
        .iter()
        .filter(|f| f.value.is_some() && f.id != Id::Script && !ends_options(f))
}

/// The built-in template names, as `-t` accepts them.
fn templates() -> Vec<&'static str> {
    crate::config::templates::TEMPLATES
        .iter()
        .map(|t| t.name)
        .collect()
}

/// The words `--shell` offers besides an absolute path.
const SHELL_WORDS: &[&str] = &["sh", "user"];

/// Every option name of `flags`, space-separated.
fn all_names(flags: &[Flag]) -> String {
    flags
        .iter()
        .flat_map(|f| f.names())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The committed files and what they should hold, given the committed man page.
fn files(man_page: &str) -> Vec<(&'static str, String)> {
    vec![
        ("completions/fence.bash", bash::script()),
        ("completions/_fence", zsh::script()),
        ("completions/fence.fish", fish::script()),
        (
            "man/fence.1",
            man::splice(man_page).unwrap_or_else(|e| panic!("man/fence.1: {e}")),
        ),
    ]
}

#[test]
fn committed_files_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("FENCE_REGENERATE").is_some_and(|v| v == "1");
    let man_page = std::fs::read_to_string(root.join("man/fence.1")).unwrap();
    let mut stale = Vec::new();
    for (path, want) in files(&man_page) {
        let have = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if have == want {
            continue;
        }
        if regenerate {
            std::fs::write(root.join(path), want).unwrap();
            eprintln!("regenerated {path}");
        } else {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{} out of date with the option table in src/cli/flags.rs: regenerate with `{REGENERATE}`",
        stale.join(", ")
    );
}

#[test]
fn every_option_is_in_every_completion() {
    for (shell, text) in [
        ("bash", bash::script()),
        ("zsh", zsh::script()),
        ("fish", fish::script()),
    ] {
        for flag in FLAGS.iter().chain(SUBCOMMANDS.iter().flat_map(|s| s.flags)) {
            for name in flag.names() {
                let name = if shell == "fish" {
                    name.trim_start_matches('-').to_string()
                } else {
                    name
                };
                assert!(text.contains(&name), "{shell}: {name}");
            }
        }
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub.name), "{shell}: {}", sub.name);
        }
        for template in templates() {
            assert!(text.contains(template), "{shell}: {template}");
        }
        assert!(FLAGS.iter().any(|f| f.complete == Complete::Shell));
    }
}
