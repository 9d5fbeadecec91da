# bash completion for fence.
# Generated from src/cli/flags.rs by `FENCE_REGENERATE=1 cargo test --lib cli::generate`: do not edit.
# Install: copy to /usr/share/bash-completion/completions/fence (or
# ~/.local/share/bash-completion/completions/fence), or source it.

# Completes an option's value of kind $1 for the text $2; $3 is put before each reply
# (for --option=VALUE in one word).
_fence_value() {
    local reply=()
    case $1 in
    file)
        compopt -o filenames 2>/dev/null
        mapfile -t reply < <(compgen -f -- "$2") ;;
    template)
        mapfile -t reply < <(compgen -W 'default workspace-write' -- "$2") ;;
    shell)
        if [[ $2 == /* ]]; then
            compopt -o filenames 2>/dev/null
            mapfile -t reply < <(compgen -f -- "$2")
        else
            mapfile -t reply < <(compgen -W 'sh user' -- "$2")
        fi ;;
    esac
    COMPREPLY=("${reply[@]/#/$3}")
}

# The kind of value option $1 takes; nothing for a switch.
_fence_value_kind() {
    case $1 in
    -s|--settings|--fence-log-file) echo file ;;
    -t|--template) echo template ;;
    --shell) echo shell ;;
    -p|--port|--log-format|--preserve-fds) echo text ;;
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
    trust)
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W '--revoke --list -h --help' -- "$cur")
        else
            _fence_value file "$cur"
        fi ;;
    learn)
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W '-o --output --force -h --help' -- "$cur")
        fi ;;
    doctor) ;;
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
        --proxy-connect|--list-templates|--linux-features|--help|--version)
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
                c)
                    # -c STRING ARG0 ARGS...: nothing to offer for STRING, then files.
                    [[ -n ${rest:1} ]] || ((i++))
                    ((i >= COMP_CWORD)) || _fence_value file "$cur"
                    return ;;
                h|v)
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
                trust|learn|doctor)
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
        mapfile -t COMPREPLY < <(compgen -W '-c -s --settings -t --template --shell -d --debug -m --monitor -q --quiet --allow-reduced-isolation --force-new-session -p --port --fence-log-file --log-format --preserve-fds --proxy-connect --list-templates --linux-features -h --help -v --version' -- "$cur") ;;
    *)
        _fence_command "$COMP_CWORD"
        if ((COMP_CWORD == 1)); then
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W 'trust learn doctor' -- "$cur")
        fi ;;
    esac
}

complete -F _fence fence
