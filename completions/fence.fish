# fish completion for fence.
# Generated from src/cli/flags.rs by `FENCE_REGENERATE=1 cargo test --lib cli::generate`: do not edit.
# Install: copy to ~/.config/fish/completions/fence.fish (or
# /usr/share/fish/vendor_completions.d/).

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
            case --proxy-connect --list-templates --linux-features --help --version
                echo none
                return
            case '--*=*'
            case --settings --template --shell --port --fence-log-file --log-format --preserve-fds
                set i (math $i + 1)
            case '--*'
            case '-*'
                # Grouped short options: one that takes a value takes the rest of the
                # token, or the next token.
                set -l rest (string sub -s 2 -- $token)
                while test -n "$rest"
                    set -l option (string sub -l 1 -- $rest)
                    set rest (string sub -s 2 -- $rest)
                    if contains -- $option c
                        test -n "$rest"; or set i (math $i + 1)
                        if test $i -gt $n
                            echo string
                        else
                            echo script
                        end
                        return
                    else if contains -- $option h v
                        echo none
                        return
                    else if contains -- $option s t p
                        test -n "$rest"; or set i (math $i + 1)
                        break
                    end
                end
            case '*'
                # A subcommand only as the first argument; anything else is the command.
                if test $i -eq 2; and contains -- $token trust learn doctor
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
        printf '%s\n' sh user
    end
end

complete -c fence -e
# fence's own options, then the command (or, first, a subcommand).
complete -c fence -n '__fence_is options' -s c -x -d 'run STRING with a shell (see --shell)'
complete -c fence -n '__fence_is options' -s s -l settings -r -F -d 'use this config file (no trust check)'
complete -c fence -n '__fence_is options' -s t -l template -x -a 'default workspace-write' -d 'use a built-in template'
complete -c fence -n '__fence_is options' -l shell -x -a '(__fence_shells)' -d 'shell for -c (sh, user for $SHELL, or an absolute path)'
complete -c fence -n '__fence_is options' -s d -l debug -d 'explain what fence does'
complete -c fence -n '__fence_is options' -s m -l monitor -d 'print one line per denied request or operation'
complete -c fence -n '__fence_is options' -s q -l quiet -d 'no summary line of denials at exit'
complete -c fence -n '__fence_is options' -l allow-reduced-isolation -d 'run even without Landlock, seccomp or user namespaces'
complete -c fence -n '__fence_is options' -l force-new-session -d 'run the command in a new terminal session'
complete -c fence -n '__fence_is options' -s p -l port -x -d 'expose the sandbox\'s port PORT on the host'
complete -c fence -n '__fence_is options' -l fence-log-file -r -F -d 'append the network lines of -m and -d to PATH'
complete -c fence -n '__fence_is options' -l log-format -x -d 'text (the default) or json lines for -m and -d'
complete -c fence -n '__fence_is options' -l preserve-fds -x -d 'pass the inherited fds 3 to 3+N-1 to the command'
complete -c fence -n '__fence_is options' -l proxy-connect -x -d 'ssh ProxyCommand through the sandbox\'s SOCKS5 proxy'
complete -c fence -n '__fence_is options' -l list-templates -d 'list the built-in templates'
complete -c fence -n '__fence_is options' -l linux-features -d 'check what this machine offers (same as fence doctor)'
complete -c fence -n '__fence_is options' -s h -l help -d 'show the help'
complete -c fence -n '__fence_is options' -s v -l version -d 'show the version'
complete -c fence -n '__fence_is options' -f -a '(__fence_complete_command)'
complete -c fence -n __fence_first -f -a trust -d 'trust a project config'
complete -c fence -n __fence_first -f -a learn -d 'run a command and write the config it needs'
complete -c fence -n __fence_first -f -a doctor -d 'check what this machine offers'
complete -c fence -n '__fence_is string' -f
complete -c fence -n '__fence_is none' -f
complete -c fence -n '__fence_is command' -f -a '(__fence_complete_command)'
# Subcommands.
complete -c fence -n '__fence_is trust' -l revoke -d 'forget that trust'
complete -c fence -n '__fence_is trust' -l list -d 'list trusted files'
complete -c fence -n '__fence_is trust' -s h -l help -d 'show the help'
complete -c fence -n '__fence_is learn' -s o -l output -r -F -d 'write the config to FILE (atomically)'
complete -c fence -n '__fence_is learn' -l force -d 'replace FILE if it exists'
complete -c fence -n '__fence_is learn' -s h -l help -d 'show the help'
complete -c fence -n '__fence_is learn' -f
complete -c fence -n '__fence_is doctor' -f
