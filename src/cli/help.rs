//! `fence --help` and the usage lines, generated from the tables in [`super::flags`].

use super::flags::{FLAGS, Flag, SUBCOMMANDS};

/// The usage lines for running a command (the subcommands' lines come from the table).
const RUN_USAGE: &[&str] = &[
    "fence [OPTIONS] [--] COMMAND [ARGS...]",
    "fence [OPTIONS] -c STRING [ARG0 [ARGS...]]",
];

const ABOUT: &str =
    "fence runs a command in a sandbox: no network, writes only where the config allows.";

const AFTER_OPTIONS: &str = "\
The first argument that is not an option ends fence's options: `fence ls -la` passes
-la to ls. Use `--` before a command named `trust` or `doctor`, or one starting with '-'.

Config: fence.jsonc or fence.json in the current directory or a parent, else
$XDG_CONFIG_HOME/fence/fence.json(c), else ~/.fence.json(c), else deny everything.
A project config found by that search applies only after `fence trust`.

Exit status: the command's own; 125 if fence fails; 126 if the command cannot be
executed; 127 if it is not found. A command killed by a signal kills fence with it.";

/// The column where an option's description starts.
const DESCRIPTION_COLUMN: usize = 25;

/// The usage lines printed after "no command given" (no trailing newline).
pub fn usage() -> String {
    usage_lines(false)
}

/// The text of `fence --help` (no trailing newline).
pub fn help() -> String {
    format!("{ABOUT}\n\n{}\n{AFTER_OPTIONS}", synopsis_and_options())
}

/// The usage lines and the options, as `--help` shows them (also in README.md).
pub(super) fn synopsis_and_options() -> String {
    let mut out = format!("{}\n\nOptions:\n", usage_lines(true));
    for flag in FLAGS.iter().filter(|f| !f.help.is_empty()) {
        push_flag(&mut out, flag);
    }
    out
}

fn usage_lines(with_alias: bool) -> String {
    let mut lines: Vec<String> = RUN_USAGE.iter().map(|l| l.to_string()).collect();
    for sub in SUBCOMMANDS {
        let mut line = format!("fence {}", sub.name);
        if !sub.synopsis.is_empty() {
            line = format!("{line} {}", sub.synopsis);
        }
        if let (true, Some(alias)) = (with_alias, sub.alias) {
            line = format!("{line:<29}(also: {alias})");
        }
        lines.push(line);
    }
    format!("Usage: {}", lines.join("\n       "))
}

/// `  -s, --settings FILE    Use ...`: the names, then the description from
/// [`DESCRIPTION_COLUMN`], on the next line when the names reach it.
fn push_flag(out: &mut String, flag: &Flag) {
    let mut head = match flag.short {
        Some(c) if flag.long.is_some() => format!("  -{c}, "),
        Some(c) => format!("  -{c}"),
        None => "      ".to_string(),
    };
    if let Some(long) = flag.long {
        head.push_str("--");
        head.push_str(long);
    }
    if let Some(value) = flag.value {
        head.push(' ');
        head.push_str(value);
    }
    let indent = " ".repeat(DESCRIPTION_COLUMN);
    if head.len() < DESCRIPTION_COLUMN {
        out.push_str(&format!("{head:<DESCRIPTION_COLUMN$}"));
    } else {
        out.push_str(&head);
        out.push('\n');
        out.push_str(&indent);
    }
    out.push_str(&flag.help.replace('\n', &format!("\n{indent}")));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and subcommand is in the help, and the lines stay narrow.
    #[test]
    fn help_lists_the_table() {
        let text = help();
        for flag in FLAGS {
            for name in flag.names() {
                assert!(text.contains(&name), "{name} missing from --help");
            }
        }
        for sub in SUBCOMMANDS {
            assert!(
                text.contains(&format!("fence {}", sub.name)),
                "{}",
                sub.name
            );
            assert!(
                usage().contains(&format!("fence {}", sub.name)),
                "{}",
                sub.name
            );
        }
        for line in text.lines() {
            assert!(line.chars().count() <= 90, "too long: {line}");
        }
        assert!(!text.ends_with('\n'));
    }
}
