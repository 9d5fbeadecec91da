//! completions/fence.fish: completions for fish.

use super::super::flags::{Complete, FLAGS, Flag, Id, SUBCOMMANDS};
use super::{SHELL_WORDS, ends_options, fill, header, templates, value_flags};

const INSTALL: &str = "Install: copy to ~/.config/fish/completions/fence.fish (or \
                       /usr/share/fish/vendor_completions.d/).";

const BODY: &str = r##"
# Where the token being completed stands, from fence's arguments before it: "options"
# (fence's own), "string" (the STRING of -c), "script" (the arguments after it), "command"
# and the index of the command's first token, "none", or a subcommand's name.
function __fence_state
    set -l tokens (commandline -opc)
    set -l n (count $tokens)
    set -l i 2
    while test $i -le $n
        set -l token $tokens[$i]
        switch $token
            case --
                printf '%s\n' command (math $i + 1)
                return
            case @ENDING_LONGS@
                echo none
                return
            case '--*=*'
            case @VALUE_LONGS@
                set i (math $i + 1)
            case '--*'
            case '-*'
                # Grouped short options: one that takes a value takes the rest of the
                # token, or the next token.
                set -l rest (string sub -s 2 -- $token)
                while test -n "$rest"
                    set -l option (string sub -l 1 -- $rest)
                    set rest (string sub -s 2 -- $rest)
                    if contains -- $option @SCRIPT_SHORT@
                        test -n "$rest"; or set i (math $i + 1)
                        if test $i -gt $n
                            echo string
                        else
                            echo script
                        end
                        return
                    else if contains -- $option @ENDING_SHORTS@
                        echo none
                        return
                    else if contains -- $option @VALUE_SHORTS@
                        test -n "$rest"; or set i (math $i + 1)
                        break
                    end
                end
            case '*'
                # A subcommand only as the first argument; anything else is the command.
                if test $i -eq 2; and contains -- $token @SUBCOMMANDS@
                    echo $token
                else
                    printf '%s\n' command $i
                end
                return
        end
        set i (math $i + 1)
    end
    echo options
end

function __fence_is
    test (__fence_state)[1] = $argv[1]
end

# Whether the token being completed is fence's first argument.
function __fence_first
    test (count (commandline -opc)) -eq 1
end

# Completes the command fence runs (or, before it, its name), as if typed alone.
function __fence_complete_command
    set -l state (__fence_state)
    set -l token (commandline -ct)
    if test $state[1] = options
        string match -q -- '-*' $token; or __fish_complete_subcommand --commandline $token
        return
    end
    set -l tokens (commandline -opc)
    __fish_complete_subcommand --commandline $tokens[$state[2]..-1] $token
end

# `--shell`: sh, user, or an absolute path.
function __fence_shells
    set -l token (string replace -r -- '^--[^=]*=' '' (commandline -ct))
    if string match -q -- '/*' $token
        __fish_complete_path $token
    else
        printf '%s\n' @SHELL_WORDS@
    end
end

complete -c fence -e
# fence's own options, then the command (or, first, a subcommand).
@OPTIONS@
complete -c fence -n '__fence_is options' -f -a '(__fence_complete_command)'
@SUBCOMMAND_WORDS@
complete -c fence -n '__fence_is string' -f
complete -c fence -n '__fence_is none' -f
complete -c fence -n '__fence_is command' -f -a '(__fence_complete_command)'
# Subcommands.
@SUBCOMMANDS_OPTIONS@
"##;

/// `'text'` for fish.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// One `complete` line for an option, under `condition`.
fn line(flag: &Flag, condition: &str) -> String {
    let mut out = format!("complete -c fence -n {}", quote(condition));
    if let Some(c) = flag.short {
        out.push_str(&format!(" -s {c}"));
    }
    if let Some(long) = flag.long {
        out.push_str(&format!(" -l {long}"));
    }
    if flag.value.is_some() {
        out.push_str(match flag.complete {
            Complete::File => " -r -F",
            Complete::Template | Complete::Shell | Complete::Text => " -x",
        });
        let words = match flag.complete {
            Complete::Template => templates(),
            Complete::Shell => vec!["(__fence_shells)"],
            Complete::File | Complete::Text => vec![],
        };
        if !words.is_empty() {
            out.push_str(&format!(" -a {}", quote(&words.join(" "))));
        }
    }
    out.push_str(&format!(" -d {}", quote(flag.summary)));
    out
}

pub fn script() -> String {
    let ending = || FLAGS.iter().filter(|f| ends_options(f));
    let longs = |flags: &mut dyn Iterator<Item = &'static Flag>| -> String {
        flags
            .filter_map(|f| f.long)
            .map(|l| format!("--{l}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let shorts = |flags: &mut dyn Iterator<Item = &'static Flag>| -> String {
        flags
            .filter_map(|f| f.short)
            .map(String::from)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let options: Vec<String> = FLAGS
        .iter()
        .map(|f| line(f, "__fence_is options"))
        .collect();
    let words: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| {
            format!(
                "complete -c fence -n __fence_first -f -a {} -d {}",
                s.name,
                quote(s.summary)
            )
        })
        .collect();
    let mut subs = Vec::new();
    for sub in SUBCOMMANDS {
        let condition = format!("__fence_is {}", sub.name);
        for flag in sub.flags {
            subs.push(line(flag, &condition));
        }
        if !matches!(sub.operand, Some((_, Complete::File))) {
            subs.push(format!("complete -c fence -n {} -f", quote(&condition)));
        }
    }
    let body = fill(
        BODY,
        &[
            ("SHELL_WORDS", SHELL_WORDS.join(" ")),
            ("ENDING_LONGS", longs(&mut ending())),
            ("VALUE_LONGS", longs(&mut value_flags())),
            (
                "SCRIPT_SHORT",
                shorts(&mut FLAGS.iter().filter(|f| f.id == Id::Script)),
            ),
            ("ENDING_SHORTS", shorts(&mut ending())),
            ("VALUE_SHORTS", shorts(&mut value_flags())),
            (
                "SUBCOMMANDS",
                SUBCOMMANDS
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("OPTIONS", options.join("\n")),
            ("SUBCOMMAND_WORDS", words.join("\n")),
            ("SUBCOMMANDS_OPTIONS", subs.join("\n")),
        ],
    );
    format!("{}{body}", header("fish", INSTALL))
}
