#!/usr/bin/env bash
# Network benchmark: fence's HTTP CONNECT and SOCKS5 proxies against direct loopback
# connections and an ideal splice relay (throughput, CPU per GiB), against direct ones
# (connection latency, small exchanges), memory per tunnel, and startup with allowed
# domains configured. All traffic stays on 127.0.0.1. See contrib/bench/README.md.
set -euo pipefail

usage() {
    echo "usage: $0 [--rounds R] [--connections N] [--tunnels N] [--runs N]"
    echo "       ${0//?/ } [--exchanges N] [--only a|b|c|d|e]... [--fence PATH]"
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=3 connections=1000 tunnels=1000 runs=200 exchanges=100 warmup=10 fence= only=

while (($#)); do
    case $1 in
        --rounds) rounds=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --connections) connections=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --tunnels) tunnels=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --runs) runs=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --exchanges) exchanges=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --only) only+=,${2-}; shift 2 || { usage >&2; exit 2; } ;;
        --fence) fence=${2-}; shift 2 || { usage >&2; exit 2; } ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds must be an integer >= 1" >&2; exit 2; }
[[ $connections =~ ^[1-9][0-9]*$ ]] && ((connections >= 2)) ||
    { echo "--connections must be an integer >= 2" >&2; exit 2; }
[[ $tunnels =~ ^[1-9][0-9]*$ ]] || { echo "--tunnels must be an integer >= 1" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] && ((runs >= 2)) || { echo "--runs must be an integer >= 2" >&2; exit 2; }
[[ $exchanges =~ ^[1-9][0-9]*$ ]] && ((exchanges >= 2)) ||
    { echo "--exchanges must be an integer >= 2" >&2; exit 2; }
[[ -z $only || -n ${only//,/} ]] || { echo "--only needs a part: a, b, c, d or e" >&2; exit 2; }
IFS=, read -ra wanted <<<"${only#,}"
for p in "${wanted[@]}"; do
    [[ $p =~ ^[a-e]?$ ]] ||
        { echo "--only takes a, b, c, d or e (repeatable, or a comma list), not '$p'" >&2; exit 2; }
done
parts=
for p in a b c d e; do  # always in this order
    [[ -z ${only//,/} || ,$only, == *,$p,* ]] && parts+=$p
done
want() { [[ $parts == *$1* ]]; }

# fence: as given, else target/release/fence, (re)built when missing or older than the sources.
if [[ -z $fence ]]; then
    fence=$root/target/release/fence
    sources=("$root/src" "$root/Cargo.toml" "$root/Cargo.lock")
    [[ -e $root/build.rs ]] && sources+=("$root/build.rs")
    if [[ ! -x $fence ]] || [[ -n $(find "${sources[@]}" -newer "$fence" -print -quit) ]]; then
        (cd "$root" && cargo build --release --locked)
    fi
fi
[[ -x $fence ]] || { echo "fence binary not found or not executable: $fence" >&2; exit 1; }
fence=$(realpath "$fence")

# The interpreter itself, not a wrapper such as a pyenv shim: the sandbox runs it too.
python=$(python3 -c 'import sys; print(sys.executable)') || { echo "python3 not found" >&2; exit 1; }
[[ -x $python ]] || { echo "python3 has no executable path (sys.executable): '$python'" >&2; exit 1; }
if want a; then
    curl=$(type -P curl) || { echo "curl not found: apt-get install curl" >&2; exit 1; }
    "$python" -c 'import os; os.splice' 2>/dev/null ||
        { echo "part (a)'s relay.py needs os.splice: Python 3.10 or later on Linux" >&2; exit 1; }
fi
if want c; then
    sleep_bin=$(type -P sleep) || { echo "no 'sleep' executable on PATH" >&2; exit 1; }
fi
if want d; then
    # `command -v true` names the shell builtin; `type -P` gives the executable on PATH.
    true_bin=$(type -P true) || { echo "no 'true' executable on PATH" >&2; exit 1; }
    # The bwrap fence itself would use: $FENCE_BWRAP, else the first bwrap on PATH.
    bwrap=${FENCE_BWRAP:-$(type -P bwrap || true)}
    [[ -x $bwrap ]] || { echo "bubblewrap (bwrap) not found: apt-get install bubblewrap" >&2; exit 1; }
fi

# Temp dir under /var/tmp (the sandbox's /tmp is a private tmpfs; the host's filesystem
# is readable inside). It is also the commands' working directory.
tmp=$(mktemp -d -p /var/tmp fence-bench-network.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
dir=$tmp
while :; do
    if [[ -e $dir/fence.json || -e $dir/fence.jsonc ]]; then
        echo "$dir holds a fence config; move it away for the benchmark" >&2; exit 1
    fi
    if [[ $dir == / ]]; then break; fi
    dir=$(dirname "$dir")
done
cd "$tmp"
echo '{}' >"$tmp/empty.json"
echo '{"network": {"allowedDomains": ["127.0.0.1"]}}' >"$tmp/loopback.json"
# That config draws fence's warning about loopback entries (the benchmark's clients use
# the proxies explicitly) on every run: errors only, unless FENCE_LOG says otherwise.
export FENCE_LOG=${FENCE_LOG:-error}
echo '{"network": {"allowedDomains": ["example.com", "*.example.org", "registry.npmjs.org"]}}' \
    >"$tmp/domains.json"
results=$tmp/results.tsv
: >"$results"

# start_server VAR NAME ARGS...: starts `network.py ARGS...` in the background and sets
# VAR to the port it prints (it binds 127.0.0.1 port 0).
start_server() {
    local var=$1 name=$2 port= i
    shift 2
    : >"$tmp/$name.port"
    "$python" "$here/network.py" "$@" >"$tmp/$name.port" &
    pids+=($!)
    for ((i = 0; i < 200; i++)); do
        if read -r port <"$tmp/$name.port" && [[ -n $port ]]; then
            printf -v "$var" %s "$port"
            return
        fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "the $name server did not start" >&2
    exit 1
}

echo "fence network benchmark (parts: $parts; all traffic on 127.0.0.1)"
echo "  fence:  $fence"
echo "  python: $python ($("$python" --version 2>&1))"
want a && echo "  curl:   $curl ($("$curl" --version | head -n 1 | cut -d' ' -f1-2))"
want d && echo "  bwrap:  $bwrap ($("$bwrap" --version))"
echo "  host:   $(nproc) CPUs, Linux $(uname -r)"

if want a; then
    truncate -s 1G "$tmp/1g"  # sparse: the server reads zero pages, not the disk
    start_server http_port http serve-http "$tmp/1g"
fi
if want b || want c; then
    start_server echo_port echo serve-echo
fi
if want e; then
    start_server exchange_port exchange serve-exchange
fi

if want a; then
    echo
    echo "(a) throughput: GET of 1 GiB from a sendfile server on 127.0.0.1:$http_port;"
    echo "    A direct, B through fence's HTTP CONNECT tunnel, C through fence's SOCKS5,"
    echo "    D through relay.py (an ideal splice relay on the host, the reference for B and C);"
    echo "    $rounds interleaved rounds (A, B, C, D each once per round) after 1 warm-up round"
    echo
    "$python" "$here/network.py" throughput "$rounds" "$http_port" "$fence" \
        "$tmp/loopback.json" "$curl" "$results"
fi
if want b; then
    echo
    echo "(b) connection latency: $connections sequential connections per mode to an echo"
    echo "    server on 127.0.0.1:$echo_port (connect, [proxy handshake,] 1 byte there and"
    echo "    back, close); A direct on the host, B CONNECT via 127.0.0.1:3128 and"
    echo "    C SOCKS5 via 127.0.0.1:1080 from inside the sandbox"
    echo
    "$python" "$here/network.py" latency "$connections" "$echo_port" "$python" "$fence" \
        "$tmp/loopback.json" "$results"
fi
if want c; then
    echo
    echo "(c) memory: host-side fence process (/proc/PID/status) with $tunnels concurrent"
    echo "    CONNECT tunnels to the echo server, each checked with a byte both ways"
    echo
    "$python" "$here/network.py" tunnels "$tunnels" "$echo_port" "$python" "$fence" \
        "$tmp/loopback.json" "$sleep_bin" "$results"
fi
if want d; then
    echo
    echo "(d) startup with allowedDomains [example.com, *.example.org, registry.npmjs.org]:"
    echo "    $runs interleaved rounds (A, B, C, D each once per round) after $warmup warm-up rounds"
    echo
    "$python" "$here/network.py" startup "$runs" "$warmup" "$fence" "$tmp/domains.json" \
        "$tmp/empty.json" "$bwrap" "$true_bin" "$results"
fi
if want e; then
    echo
    echo "(e) small exchanges with a server on 127.0.0.1:$exchange_port, 300 bytes each way"
    echo "    (a 100-byte head, then 1 ms later a 200-byte body): $exchanges round trips on one"
    echo "    connection, then $exchanges short connections (connect, [proxy handshake,]"
    echo "    one round trip, close); A direct, B CONNECT, C SOCKS5; 5 interleaved clients each"
    echo
    "$python" "$here/network.py" exchanges "$exchanges" "$exchange_port" "$python" "$fence" \
        "$tmp/loopback.json" "$results"
fi

echo
echo "summary"
"$python" "$here/network.py" summary "$results"
