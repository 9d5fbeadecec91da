#!/usr/bin/env python3
"""The scaling cases of the startup benchmark (python3 stdlib only); run by startup.sh.

  scaling.py RUNS FENCE BWRAP TRUE CASE...

CASE is one of tree-1k, tree-10k, tree-50k, sockets-10, sockets-100, sockets-1000, globs.
Each case sets a situation up (a generated project tree, Unix sockets under /run, a config
with glob patterns), runs fence once with -d (the warm-up: it must exit 0, and its logged
bwrap command gives the plan's mount count), then RUNS interleaved rounds of fence and of
the bare bwrap of startup.py's case B, and reports fence - bwrap and fence / bwrap (medians).
A case whose command fails is reported (with fence's message) and the others still run;
the exit status is then 1. Everything is created in a temp dir under /var/tmp (the tree)
and under /run or $XDG_RUNTIME_DIR (the sockets), removed on exit, interrupted or not.
"""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from time import perf_counter_ns

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gentree  # noqa: E402
import startup as st  # noqa: E402  (the same bare bwrap command and table as case B)

GOAL_MS = 15.0  # issue 11: every scaling case <= bare bwrap + 15 ms
TREES = {"tree-1k": 1_000, "tree-10k": 10_000, "tree-50k": 50_000}
SOCKETS = {"sockets-10": 10, "sockets-100": 100, "sockets-1000": 1_000}
CASES = [*TREES, *SOCKETS, "globs"]
GLOB_TREE = 1_000
# bwrap's mount operations (those src/linux/bwrap.rs emits, and the rest of bwrap's list).
MOUNT_OPS = {"--bind", "--bind-try", "--ro-bind", "--ro-bind-try", "--dev-bind",
             "--dev-bind-try", "--bind-data", "--ro-bind-data", "--tmpfs", "--remount-ro",
             "--dev", "--proc", "--mqueue", "--symlink", "--overlay", "--tmp-overlay",
             "--ro-overlay"}


class CaseFailed(Exception):
    pass


def spawn(argv, devnull):
    """Wall-clock ns and wait status of one run, started as startup.py starts its runs."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    start = perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    return perf_counter_ns() - start, status


def messages(argv):
    """Runs `argv` again with stderr captured: its exit status and non-debug lines."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    lines = p.stderr.decode(errors="replace").splitlines()
    return p.returncode, [line for line in lines if ": debug: " not in line]


def plan_run(argv):
    """The warm-up run with -d: wall ms, and the mount operations of the bwrap command
    fence logged ({op: count}). Raises CaseFailed with fence's message if it fails."""
    argv = [argv[0], "-d", *argv[1:]]
    start = perf_counter_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    ms = (perf_counter_ns() - start) / 1e6
    lines = p.stderr.decode(errors="replace").splitlines()
    if p.returncode != 0:
        shown = [line for line in lines if ": debug: " not in line][-5:]
        raise CaseFailed(f"`{shlex.join(argv)}` exited {p.returncode}"
                         + "".join(f"\n      {line}" for line in shown))
    execs = [line for line in lines if ": debug: exec " in line]
    if not execs:
        raise CaseFailed(f"`{shlex.join(argv)}` logged no `exec ... bwrap` line")
    ops = {}
    for word in shlex.split(execs[-1].split(": debug: exec ", 1)[1])[1:]:
        if word == "--":
            break
        if word in MOUNT_OPS:
            ops[word] = ops.get(word, 0) + 1
    return ms, ops


def measure(name, argv, bwrap_argv, runs, verbose):
    """RUNS rounds of fence then bwrap; the samples in ms. Raises CaseFailed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    samples = ([], [])
    try:
        for r in range(runs):
            for cmd, out in zip((argv, bwrap_argv), samples):
                ns, status = spawn(cmd, devnull)
                if status != 0:
                    code, lines = messages(cmd)
                    raise CaseFailed(
                        f"round {r + 1}: `{shlex.join(cmd)}` failed ({st.describe(status)});"
                        f" run again: exit status {code}"
                        + "".join(f"\n      {line}" for line in lines[-5:]))
                out.append(ns / 1e6)
            if verbose:
                print(f"    [{name}] round {r + 1}/{runs}: fence {samples[0][-1]:.1f} ms, "
                      f"bwrap {samples[1][-1]:.1f} ms", file=sys.stderr, flush=True)
    finally:
        os.close(devnull)
    return samples


def socket_base():
    """Where the socket cases may create their directory: /run, else $XDG_RUNTIME_DIR
    (both scanned by fence); None if neither is writable."""
    candidates = ["/run", os.environ.get("XDG_RUNTIME_DIR", "")]
    for base in candidates:
        if base.startswith("/") and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK):
            return base
    return None


def make_sockets(base, n):
    """A new directory under `base` holding `n` pathname Unix sockets (bound, then closed:
    the socket file stays)."""
    d = tempfile.mkdtemp(prefix="fence-bench.", dir=base)
    for i in range(n):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(os.path.join(d, f"s-{i}.sock"))
    return d


def glob_config(path):
    """50 allowWrite and 50 denyRead glob patterns (relative: to the working directory)."""
    n = gentree.GLOB_OUTS
    cfg = {"filesystem": {"allowWrite": [f"./gen*/out-{i}/**" for i in range(n)],
                          "denyRead": [f"**/secret-{i}.txt" for i in range(n)]}}
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)


def remove(path):
    """Removes a tree, retrying: bwrap's namespace process may recreate a mount point in a
    writable directory for a few ms after fence exits. Returns False if some is left."""
    for _ in range(10):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return True
        time.sleep(0.2)
    return False


def run_case(name, work, empty, fence, true, bwrap_argv, runs):
    """Sets case `name` up, measures it and tears it down. Returns a result dict."""
    res = {"case": name}
    cleanup = []
    try:
        if name in TREES or name == "globs":
            n = TREES.get(name, GLOB_TREE)
            top = os.path.join(work, name)
            start = time.monotonic()
            what = gentree.build(top, n, seed=1, globs=name == "globs")
            cleanup.append(top)
            print(f"  tree: {what} (built in {time.monotonic() - start:.1f} s)")
            os.chdir(top)
            if name == "globs":
                cfg = os.path.join(work, "globs.json")
                glob_config(cfg)
                argv = [fence, "-s", cfg, "--", true]
            else:
                argv = [fence, "-t", "workspace-write", "--", true]
        else:
            base = socket_base()
            if base is None:
                xdg = os.environ.get("XDG_RUNTIME_DIR")
                why = (f"neither /run nor $XDG_RUNTIME_DIR ({xdg}) is writable" if xdg else
                       "/run is not writable and $XDG_RUNTIME_DIR is unset")
                print(f"  SKIPPED: {why}: run as root, or with XDG_RUNTIME_DIR set to your "
                      "writable runtime directory (/run/user/UID)")
                res["skipped"] = why
                return res
            sockdir = make_sockets(base, SOCKETS[name])
            cleanup.append(sockdir)
            print(f"  sockets: {SOCKETS[name]:,} Unix sockets in {sockdir}")
            os.chdir(work)
            argv = [fence, "-s", empty, "--", true]
        print(f"  command: (cd {shlex.quote(os.getcwd())} && {shlex.join(argv)})")
        res["first"], ops = plan_run(argv)
        res["mounts"] = sum(ops.values())
        detail = ", ".join(f"{op} {k}" for op, k in sorted(ops.items(), key=lambda x: -x[1]))
        print(f"  mounts in fence's plan: {res['mounts']:,} ({detail})")
        print(f"  first run (with -d, not counted): {res['first']:.1f} ms")
        samples = measure(name, argv, bwrap_argv, runs, res["first"] >= 200)
        a, b = st.table(["A  fence", "B  bwrap"], list(samples))
        res.update(fence=a, bwrap=b)
        ok = "meets" if a - b <= GOAL_MS else "MISSES"
        print(f"  fence - bwrap (median): {a - b:+.3f} ms   ({ok} goal: <= +{GOAL_MS:g} ms)")
        print(f"  fence / bwrap (median): {a / b:.2f}x")
    except CaseFailed as e:
        print(f"  FAILED: {e}")
        res["failed"] = str(e).splitlines()[0]
    finally:
        os.chdir(work)
        for path in cleanup:
            if not remove(path):
                print(f"  warning: could not remove {path}")
    return res


def slopes(results, cases, unit, per):
    """The added time and mounts per `per` units between consecutive sizes, as text."""
    done = [(cases[r["case"]], r) for r in results if r["case"] in cases and "fence" in r]
    out = []
    for (n0, r0), (n1, r1) in zip(done, done[1:]):
        dt = ((r1["fence"] - r1["bwrap"]) - (r0["fence"] - r0["bwrap"])) / (n1 - n0) * per
        dm = (r1["mounts"] - r0["mounts"]) / (n1 - n0) * per
        out.append(f"{r0['case']} -> {r1['case']}: {dt:+.2f} ms and {dm:+.1f} mounts "
                   f"per {per:,} {unit}")
    return out


def summary(results):
    head = ("case", "mounts", "fence ms", "bwrap ms", "fence-bwrap", "fence/bwrap", "goal")
    rows = []
    for r in results:
        if "fence" in r:
            d = r["fence"] - r["bwrap"]
            rows.append((r["case"], f"{r['mounts']:,}", f"{r['fence']:.1f}", f"{r['bwrap']:.1f}",
                         f"{d:+.1f} ms", f"{r['fence'] / r['bwrap']:.1f}x",
                         "meets" if d <= GOAL_MS else "MISSES"))
        else:
            rows.append((r["case"], f"{r['mounts']:,}" if "mounts" in r else "-", "-", "-", "-",
                         "-", "FAILED" if "failed" in r else "skipped"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  " + "  ".join(f"{{:>{w}}}" if i else f"{{:{w}}}" for i, w in enumerate(widths))
    print(f"scaling summary (medians; goal: fence - bwrap <= +{GOAL_MS:g} ms, or linear "
          "growth with a documented slope and a cap)")
    print(fmt.format(*head))
    for row in rows:
        print(fmt.format(*row))
    for line in (slopes(results, TREES, "directories", 1000)
                 + slopes(results, SOCKETS, "sockets", 100)):
        print(f"  growth {line}")


def host_plan(fence, empty, true):
    """The default config's plan here (mount count and empty-file masks, which are the
    host's sockets), as text: other programs' sockets under /run add to every case."""
    try:
        _, ops = plan_run([fence, "-s", empty, "--", true])
    except CaseFailed as e:
        return f"unknown ({e})"
    return (f"{sum(ops.values())} mounts, of which {ops.get('--ro-bind-data', 0)} empty files "
            "over the host's sockets")


def main(runs, fence, bwrap, true, cases):
    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    bwrap_argv = [bwrap, *st.BWRAP_ARGS, "--", true]
    work = tempfile.mkdtemp(prefix="fence-bench.", dir="/var/tmp")
    results = []
    try:
        empty = os.path.join(work, "empty.json")
        with open(empty, "w") as f:
            f.write("{}\n")
        print(f"scaling cases: {runs} interleaved rounds each (fence, then the bare bwrap of B),"
              f" after one fence -d run; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        print(f"  work directory: {work}")
        os.chdir(work)
        before = host_plan(fence, empty, true)
        print(f"  the default config's plan (fence -s EMPTY) here: {before}")
        for name in cases:
            print(f"\n{name}")
            results.append(run_case(name, work, empty, fence, true, bwrap_argv, runs))
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        after = host_plan(fence, empty, true)
        if after != before:
            print(f"WARNING: the default config's plan changed during the run, now: {after};"
                  " something else created or removed sockets (every case masks them)")
        print()
        summary(results)
    finally:
        os.chdir("/")
        if not remove(work):
            print(f"warning: could not remove {work}", file=sys.stderr)
    return 1 if any("failed" in r for r in results) else 0


if __name__ == "__main__":
    if len(sys.argv) < 6 or any(c not in CASES for c in sys.argv[5:]):
        sys.exit(f"usage: scaling.py RUNS FENCE BWRAP TRUE CASE... (CASE: {', '.join(CASES)})")
    try:
        sys.exit(main(int(sys.argv[1]), *sys.argv[2:5], sys.argv[5:]))
    except KeyboardInterrupt:  # main has removed what it made
        sys.exit("scaling.py: interrupted")
