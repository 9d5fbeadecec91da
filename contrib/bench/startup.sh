#!/usr/bin/env bash
# Startup benchmark: `fence -- true` vs the equivalent bare bwrap vs plain `true`,
# plus binary size and peak RSS; optionally the scaling cases (scaling.py): big project
# trees, many host sockets, many glob patterns. See contrib/bench/README.md.
set -euo pipefail

usage() {
    echo "usage: $0 [--runs N] [--fence PATH] [--baseline PATH]"
    echo "       [--scaling] [--only PART[,PART...]]... [--scale-runs N]"
    echo "PART: base (the default run), exec-deny, tree-1k, tree-10k, tree-50k, sockets-10,"
    echo "      sockets-100, sockets-1000, globs; tree, sockets: all their sizes;"
    echo "      scaling: all but base and exec-deny"
    echo "--scaling runs base and every scaling case"
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=200 warmup=10 fence= baseline= scale_runs=10
scaling_cases=(tree-1k tree-10k tree-50k sockets-10 sockets-100 sockets-1000 globs)
want=()

while (($#)); do
    case $1 in
        --runs) runs=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --fence) fence=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --baseline) baseline=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --scaling) want+=(base scaling); shift ;;
        --only)
            [[ -n ${2-} ]] || { usage >&2; exit 2; }
            IFS=, read -ra parts <<<"$2"
            want+=("${parts[@]}"); shift 2 ;;
        --scale-runs) scale_runs=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] && ((runs >= 2)) || { echo "--runs must be an integer >= 2" >&2; exit 2; }
[[ $scale_runs =~ ^[1-9][0-9]*$ ]] && ((scale_runs >= 2)) ||
    { echo "--scale-runs must be an integer >= 2" >&2; exit 2; }
((${#want[@]})) || want=(base)
run_base=0 run_exec_deny=0 cases=()
for w in "${want[@]}"; do
    case " base exec-deny scaling tree sockets ${scaling_cases[*]} " in
        *" $w "*) ;;
        *) echo "unknown part: '$w'" >&2; usage >&2; exit 2 ;;
    esac
    [[ $w != base ]] || run_base=1
    [[ $w != exec-deny ]] || run_exec_deny=1
done
for c in "${scaling_cases[@]}"; do # in this order, each once
    for w in "${want[@]}"; do
        if [[ $w == scaling || $w == "$c" || $w == "${c%%-*}" ]]; then cases+=("$c"); break; fi
    done
done

if [[ -z $fence ]]; then
    fence=$root/target/release/fence
    [[ -x $fence ]] || (cd "$root" && cargo build --release --locked)
fi
[[ -x $fence ]] || { echo "fence binary not found or not executable: $fence" >&2; exit 1; }
fence=$(realpath "$fence")
if [[ -n $baseline ]]; then
    [[ -x $baseline ]] || { echo "baseline binary not found or not executable: $baseline" >&2; exit 1; }
    baseline=$(realpath "$baseline")
fi

# `command -v true` names the shell builtin; `type -P` gives the executable on PATH.
true_bin=$(type -P true) || { echo "no 'true' executable on PATH" >&2; exit 1; }
# The bwrap fence itself would use: $FENCE_BWRAP, else the first bwrap on PATH.
bwrap=${FENCE_BWRAP:-$(type -P bwrap || true)}
[[ -x $bwrap ]] || { echo "bubblewrap (bwrap) not found: apt-get install bubblewrap" >&2; exit 1; }

if ((run_base || run_exec_deny)); then
    # An empty config in a fresh temp dir, which is also the commands' working directory.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo '{}' >"$tmp/empty.json"
    echo '{"command": {"useDefaults": false}}' >"$tmp/no-rules.json"
    dir=$tmp
    while :; do
        if [[ -e $dir/fence.json || -e $dir/fence.jsonc ]]; then
            echo "$dir holds a fence config; set TMPDIR elsewhere" >&2; exit 1
        fi
        if [[ $dir == / ]]; then break; fi
        dir=$(dirname "$dir")
    done
    cd "$tmp"
fi

if ((run_base)); then
    echo "fence startup: $runs interleaved rounds (A, B, C${baseline:+, D} each once per round) after $warmup warm-up rounds"
    echo "  fence: $fence"
    [[ -z $baseline ]] || echo "  baseline fence (D): $baseline"
    echo "  bwrap: $bwrap ($("$bwrap" --version))"
    echo "  true:  $true_bin"
    echo
    python3 "$here/startup.py" time "$runs" "$warmup" "$fence" "$tmp/empty.json" "$bwrap" "$true_bin" ${baseline:+"$baseline"}

    echo
    size=$(stat -c %s "$fence")
    awk -v b="$size" 'BEGIN { m = b / 1048576; printf "binary size: %d bytes = %.3f MiB   (%s target: < 2 MiB)\n",
        b, m, m < 2 ? "meets" : "MISSES" }'

    # Peak RSS, max over 5 runs of `fence -s EMPTY -- true`.
    mib() { awk -v k="$1" -v t="$2" 'BEGIN { printf "%.3f MiB", k / 1024; if (t) printf "   (%s target: < 8 MiB)", k < 8192 ? "meets" : "MISSES" }'; }
    own=0
    for _ in 1 2 3 4 5; do
        kib=$(python3 "$here/startup.py" rss "$fence" "$tmp/empty.json" "$true_bin")
        own=$((kib > own ? kib : own))
    done
    echo "peak RSS, host-side fence process only (VmHWM at exit, via ptrace): $(mib "$own" 1)"
    if [[ -x /usr/bin/time ]]; then
        tree=0
        for _ in 1 2 3 4 5; do
            /usr/bin/time -f %M -o "$tmp/rss" "$fence" -s "$tmp/empty.json" -- "$true_bin" </dev/null >/dev/null 2>&1
            kib=$(tail -n 1 "$tmp/rss")
            tree=$((kib > tree ? kib : tree))
        done
        # %M is wait4's ru_maxrss: the largest of fence and the bwrap process it reaps, not
        # fence alone. The sandboxed processes are not included: bwrap exits without reaping
        # its PID-namespace init (checked: a 100 MiB command in the sandbox leaves %M at ~2 MiB).
        echo "peak RSS, GNU time %M (max of fence and its bwrap child; sandbox excluded): $(mib "$tree" 0)"
    else
        echo "GNU time (/usr/bin/time) is missing; for the %M figure: apt-get install time"
    fi
fi

if ((run_exec_deny)); then
    ((run_base)) && echo
    # The run-time command deny (path mode) with the default deny list, against the same
    # run without command rules.
    masked=$("$fence" -d -s "$tmp/empty.json" -- "$true_bin" 2>&1 </dev/null |
        sed -n 's/.*command deny at run time (path mode): \(.*\) not executable in the sandbox$/\1/p')
    echo "run-time command deny (path mode): $runs interleaved rounds after $warmup warm-up rounds"
    echo "  files masked with the default list on this host: ${masked:-none}"
    echo
    python3 "$here/startup.py" exec-deny "$runs" "$warmup" "$fence" "$tmp/empty.json" \
        "$tmp/no-rules.json" "$true_bin"
fi

if ((${#cases[@]})); then
    ((run_base || run_exec_deny)) && echo
    python3 "$here/scaling.py" "$scale_runs" "$fence" "$bwrap" "$true_bin" "${cases[@]}"
fi
