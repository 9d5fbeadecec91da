//! completions/fence.bash: a completion function for bash.

use super::super::flags::{Complete, FLAGS, Id, SUBCOMMANDS};
use super::{SHELL_WORDS, all_names, ends_options, fill, header, templates, value_flags};

const INSTALL: &str = "Install: copy to /usr/share/bash-completion/completions/fence (or \
                       ~/.local/share/bash-completion/completions/fence), or source it.";

const BODY: &str = r##"
# Completes an option's value of kind $1 for the text $2; $3 is put before each reply
# (for --option=VALUE in one word).
_fence_value() {
    local reply=()
    case $1 in
    file)
        compopt -o filenames 2>/dev/null
        mapfile -t reply < <(compgen -f -- "$2") ;;
    template)
        mapfile -t reply < <(compgen -W '@TEMPLATES@' -- "$2") ;;
    shell)
        if [[ $2 == /* ]]; then
            compopt -o filenames 2>/dev/null
            mapfile -t reply < <(compgen -f -- "$2")
        else
            mapfile -t reply < <(compgen -W '@SHELL_WORDS@' -- "$2")
        fi ;;
    esac
    COMPREPLY=("${reply[@]/#/$3}")
}

# The kind of value option $1 takes; nothing for a switch.
_fence_value_kind() {
    case $1 in
@KINDS@
    esac
}

# Hands the words from index $1 on over to the completion of the command they name.
_fence_command() {
    if declare -F _command_offset >/dev/null; then
        _command_offset "$1"
    elif (($1 == COMP_CWORD)); then
        mapfile -t COMPREPLY < <(compgen -c -- "${COMP_WORDS[COMP_CWORD]}")
    else
        _fence_value file "${COMP_WORDS[COMP_CWORD]}"
    fi
}

# Completes the arguments of subcommand $1.
_fence_subcommand() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    case $1 in
@SUBCOMMANDS@
    esac
}

_fence() {
    local cur=${COMP_WORDS[COMP_CWORD]} i=1 word kind rest
    COMPREPLY=()
    # Walk fence's own arguments before the word being completed.
    while ((i < COMP_CWORD)); do
        word=${COMP_WORDS[i]}
        case $word in
        --)
            _fence_command $((i + 1))
            return ;;
        @ENDING_LONGS@)
            return ;;
        --*=*) ;;
        --*)
            kind=$(_fence_value_kind "$word")
            if [[ -n $kind ]]; then
                ((i++))
                # --option=VALUE: bash splits the word at '='.
                if [[ ${COMP_WORDS[i]-} == = ]]; then
                    if ((i == COMP_CWORD)); then
                        _fence_value "$kind" ""
                        return
                    fi
                    ((i++))
                fi
                if ((i == COMP_CWORD)); then
                    _fence_value "$kind" "$cur"
                    return
                fi
            fi ;;
        -?*)
            # Grouped short options: one that takes a value takes the rest of the word,
            # or the next word.
            rest=${word#-}
            while [[ -n $rest ]]; do
                case ${rest:0:1} in
                @SCRIPT_SHORT@)
                    # -c STRING ARG0 ARGS...: nothing to offer for STRING, then files.
                    [[ -n ${rest:1} ]] || ((i++))
                    ((i >= COMP_CWORD)) || _fence_value file "$cur"
                    return ;;
                @ENDING_SHORTS@)
                    return ;;
                esac
                kind=$(_fence_value_kind "-${rest:0:1}")
                if [[ -n $kind ]]; then
                    if [[ -z ${rest:1} ]]; then
                        ((i++))
                        if ((i == COMP_CWORD)); then
                            _fence_value "$kind" "$cur"
                            return
                        fi
                    fi
                    break
                fi
                rest=${rest:1}
            done ;;
        *)
            # A subcommand only as the first argument; anything else is the command.
            if ((i == 1)); then
                case $word in
                @SUBCOMMAND_NAMES@)
                    _fence_subcommand "$word"
                    return ;;
                esac
            fi
            _fence_command "$i"
            return ;;
        esac
        ((i++))
    done
    # The word being completed is one of fence's own arguments.
    case $cur in
    --*=*)
        kind=$(_fence_value_kind "${cur%%=*}")
        [[ -z $kind ]] || _fence_value "$kind" "${cur#*=}" "${cur%%=*}=" ;;
    -*)
        mapfile -t COMPREPLY < <(compgen -W '@OPTIONS@' -- "$cur") ;;
    *)
        _fence_command "$COMP_CWORD"
        if ((COMP_CWORD == 1)); then
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W '@SUBCOMMAND_WORDS@' -- "$cur")
        fi ;;
    esac
}

complete -F _fence fence
"##;

pub fn script() -> String {
    let mut kinds = Vec::new();
    for (kind, word) in [
        (Complete::File, "file"),
        (Complete::Template, "template"),
        (Complete::Shell, "shell"),
        (Complete::Text, "text"),
    ] {
        let names: Vec<String> = value_flags()
            .filter(|f| f.complete == kind)
            .flat_map(|f| f.names())
            .collect();
        if !names.is_empty() {
            kinds.push(format!("    {}) echo {word} ;;", names.join("|")));
        }
    }
    let ending = || FLAGS.iter().filter(|f| ends_options(f));
    let ending_longs: Vec<String> = ending()
        .filter_map(|f| f.long)
        .map(|l| format!("--{l}"))
        .collect();
    let ending_shorts: Vec<String> = ending().filter_map(|f| f.short).map(String::from).collect();
    let script_short: Vec<String> = FLAGS
        .iter()
        .filter(|f| f.id == Id::Script)
        .filter_map(|f| f.short)
        .map(String::from)
        .collect();
    assert!(
        FLAGS
            .iter()
            .filter(|f| f.id == Id::Script)
            .all(|f| f.long.is_none())
    );
    let mut subs = Vec::new();
    for sub in SUBCOMMANDS {
        let mut branches = Vec::new();
        if !sub.flags.is_empty() {
            branches.push(format!(
                "if [[ $cur == -* ]]; then\n            \
                 mapfile -t COMPREPLY < <(compgen -W '{}' -- \"$cur\")",
                all_names(sub.flags)
            ));
        }
        if let Some((_, Complete::File)) = sub.operand {
            branches.push("_fence_value file \"$cur\"".to_string());
        }
        let body = match branches.as_slice() {
            [] => " ".to_string(),
            [one] if one.starts_with("if") => format!("\n        {one}\n        fi "),
            [one] => format!("\n        {one} "),
            [options, operand] => {
                format!("\n        {options}\n        else\n            {operand}\n        fi ")
            }
            _ => unreachable!(),
        };
        subs.push(format!("    {}){body};;", sub.name));
    }
    let names: Vec<&str> = SUBCOMMANDS.iter().map(|s| s.name).collect();
    let body = fill(
        BODY,
        &[
            ("TEMPLATES", templates().join(" ")),
            ("SHELL_WORDS", SHELL_WORDS.join(" ")),
            ("KINDS", kinds.join("\n")),
            ("SUBCOMMANDS", subs.join("\n")),
            ("ENDING_LONGS", ending_longs.join("|")),
            ("ENDING_SHORTS", ending_shorts.join("|")),
            ("SCRIPT_SHORT", script_short.join("|")),
            ("SUBCOMMAND_NAMES", names.join("|")),
            ("SUBCOMMAND_WORDS", names.join(" ")),
            ("OPTIONS", all_names(FLAGS)),
        ],
    );
    format!("{}{body}", header("bash", INSTALL))
}
