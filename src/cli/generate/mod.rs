//! Test-time generators: the man page's OPTIONS section, README.md's options block and the
//! bash, zsh and fish completions, from the tables in [`super::flags`].
//!
//! They run as a test rather than as a hidden `fence --generate` option: the binary does
//! not carry them, and the generated parts of the man page and the README have to be
//! spliced into hand-written text, which a command printing to stdout cannot do in one step. The
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

/// `text` with the lines between the line starting with `begin` and the next line
/// starting with `end` replaced by `generated`.
fn splice(text: &str, begin: &str, end: &str, generated: &str) -> Result<String, String> {
    let line_start = |from: usize, prefix: &str| {
        let mut at = from;
        loop {
            if text[at..].starts_with(prefix) {
                return Some(at);
            }
            at += text[at..].find('\n')? + 1;
        }
    };
    let missing = |what: &str| format!("no line starting with {what}");
    let begin_at = line_start(0, begin).ok_or_else(|| missing(begin))?;
    let after_begin = begin_at + text[begin_at..].find('\n').ok_or_else(|| missing(end))? + 1;
    let end_at = line_start(after_begin, end).ok_or_else(|| missing(end))?;
    Ok(format!(
        "{}{generated}{}",
        &text[..after_begin],
        &text[end_at..]
    ))
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
        | Id::Quiet
        | Id::AllowReducedIsolation
        | Id::ForceNewSession
        | Id::Port
        | Id::FenceLogFile
        | Id::LogFormat
        | Id::PreserveFds
        | Id::TrustList
        | Id::TrustRevoke
        | Id::LearnOutput
        | Id::LearnForce => false,
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

/// README.md's markers around the usage and options of `fence --help`.
const README_BEGIN: &str = "<!-- options:begin";
const README_END: &str = "<!-- options:end";

/// The committed files and what they should hold; `read` gives a committed file's text
/// (for the two whose generated part sits in hand-written text).
fn files(read: impl Fn(&str) -> String) -> Vec<(&'static str, String)> {
    let spliced = |path: &str, begin: &str, end: &str, generated: &str| {
        splice(&read(path), begin, end, generated).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let readme = format!("```text\n{}```\n", super::help::synopsis_and_options());
    vec![
        ("completions/fence.bash", bash::script()),
        ("completions/_fence", zsh::script()),
        ("completions/fence.fish", fish::script()),
        (
            "man/fence.1",
            spliced("man/fence.1", man::BEGIN, man::END, &man::options()),
        ),
        (
            "README.md",
            spliced("README.md", README_BEGIN, README_END, &readme),
        ),
    ]
}

#[test]
fn committed_files_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("FENCE_REGENERATE").is_some_and(|v| v == "1");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
    let mut stale = Vec::new();
    for (path, want) in files(read) {
        if read(path) == want {
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

#[test]
fn splices_between_the_markers() {
    let text = "a\n<!-- b (comment) -->\nold\nold\n<!-- e -->\nz\n";
    let done = splice(text, "<!-- b", "<!-- e", "new\n").unwrap();
    assert_eq!(done, "a\n<!-- b (comment) -->\nnew\n<!-- e -->\nz\n");
    assert_eq!(splice(&done, "<!-- b", "<!-- e", "new\n").unwrap(), done);
    let at_start = splice("<!-- b\n<!-- e\n", "<!-- b", "<!-- e", "x\n").unwrap();
    assert_eq!(at_start, "<!-- b\nx\n<!-- e\n");
    assert!(splice("a\nb\n", "<!-- b", "<!-- e", "").is_err());
    assert!(splice("<!-- b\na\n", "<!-- b", "<!-- e", "").is_err());
    // The end marker must follow the begin marker.
    assert!(splice("<!-- e\n<!-- b\n", "<!-- b", "<!-- e", "").is_err());
}
