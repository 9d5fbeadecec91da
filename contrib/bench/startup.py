#!/usr/bin/env python3
"""Helper for startup.sh (python3 stdlib only).

  startup.py time RUNS WARMUP FENCE CONFIG BWRAP TRUE [BASELINE]
                                                         interleaved startup timings
  startup.py exec-deny RUNS WARMUP FENCE DEFAULTS NO_RULES TRUE
                                                         default deny list vs no rules
  startup.py rss FENCE CONFIG TRUE                       fence's own peak RSS (KiB)
"""
import ctypes
import os
import signal
import statistics
import sys
from time import perf_counter_ns

BWRAP_ARGS = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
              "--new-session", "--chdir", "/", "--ro-bind", "/", "/", "--dev", "/dev",
              "--proc", "/proc", "--tmpfs", "/tmp"]


def die(msg):
    sys.exit(f"startup.py: {msg}")


def describe(status):
    code = os.waitstatus_to_exitcode(status)
    return f"exit status {code}" if code >= 0 else f"killed by signal {-code}"


def run_once(argv, devnull):
    """Wall-clock nanoseconds of spawn + wait. Every command is started the same way."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    start = perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = perf_counter_ns() - start
    if status != 0:
        die(f"`{' '.join(argv)}` failed ({describe(status)}); run it by hand to see why")
    return elapsed


def interleaved(cases, runs, warmup):
    """Runs the (label, argv) cases round-robin (A, B, C, A, B, C, ...), prints median,
    p10, p90 and mean per case in ms, and returns the medians."""
    samples = [[] for _ in cases]
    devnull = os.open(os.devnull, os.O_RDWR)
    for round_no in range(warmup + runs):
        for i, (_, argv) in enumerate(cases):
            ns = run_once(argv, devnull)
            if round_no >= warmup:
                samples[i].append(ns / 1e6)
    return table([label for label, _ in cases], samples)


def table(labels, samples):
    """Prints median, p10, p90 and mean (ms) of each label's samples (at least 2 each) and
    returns the medians."""
    width = max(len(label) for label in labels)
    runs = len(samples[0])
    rows = []
    for ms in samples:
        deciles = statistics.quantiles(ms, n=10, method="inclusive")
        rows.append((statistics.median(ms), deciles[0], deciles[8], statistics.fmean(ms)))
    w = max(9, *(len(f"{x:.3f}") + 1 for row in rows for x in row))  # 9 while all are < 10 s
    print(f"{'':{width + 2}}{'median':>{w}}{'p10':>{w}}{'p90':>{w}}{'mean':>{w}}"
          f"   (ms, {runs} runs each)")
    for label, row in zip(labels, rows):
        print(f"  {label:{width}}" + "".join(f"{x:{w}.3f}" for x in row))
    return [row[0] for row in rows]


def time_cmd(runs, warmup, fence, config, bwrap, true, baseline=None):
    cases = [("A  fence -- true", [fence, "-s", config, "--", true]),
             ("B  bwrap -- true", [bwrap, *BWRAP_ARGS, "--", true]),
             ("C  true", [true])]
    if baseline:
        cases.append(("D  baseline fence -- true", [baseline, "-s", config, "--", true]))
    medians = interleaved(cases, runs, warmup)
    a, b, c = medians[:3]
    verdict = "meets" if a - b <= 2.0 else "MISSES"
    print(f"\n  fence - bwrap (median): {a - b:+.3f} ms   ({verdict} target: <= 2 ms)")
    print(f"  fence / bwrap (median): {a / b:.2f}x")
    print(f"  fence / true  (median): {a / c:.2f}x")
    if baseline:
        d = medians[3]
        print(f"  baseline - bwrap (median): {d - b:+.3f} ms")
        print(f"  fence - baseline (median): {a - d:+.3f} ms   ({a / d:.3f}x)")


def exec_deny_cmd(runs, warmup, fence, defaults, no_rules, true):
    """The default deny list (checked before the run; path mode masks none of its files)
    against no command rules."""
    cases = [("A  fence -- true (default deny list)", [fence, "-s", defaults, "--", true]),
             ("B  fence -- true (useDefaults: false, no rules)", [fence, "-s", no_rules, "--", true])]
    a, b = interleaved(cases, runs, warmup)
    verdict = "meets" if a - b <= 0.5 else "MISSES"
    print(f"\n  A - B (median): {a - b:+.3f} ms   ({verdict} target: <= 0.5 ms)")


# ptrace(2) constants from <sys/ptrace.h>.
PTRACE_TRACEME, PTRACE_CONT, PTRACE_SETOPTIONS = 0, 7, 0x4200
PTRACE_O_TRACEEXIT, PTRACE_O_EXITKILL, PTRACE_EVENT_EXIT = 0x40, 0x100000, 6


def rss_cmd(fence, config, true):
    """Print fence's own peak RSS (VmHWM, KiB) for one `fence -s CONFIG -- TRUE`.

    wait4's ru_maxrss (GNU time's %M, os.wait4) cannot isolate fence: the kernel folds
    in the ru_maxrss of every descendant that was reaped by its parent all the way up
    (here bwrap's host-side process; the sandboxed processes drop out because bwrap
    exits without reaping its PID-namespace init), and a process's ru_maxrss also keeps
    the peak of the address space it had before execve (a fork or vfork of its parent).
    /proc/PID/status VmHWM is the peak RSS of fence's own address space, which execve
    creates afresh. It must be read while fence is done but still alive: ptrace with
    PTRACE_O_TRACEEXIT stops fence inside exit(), before its memory is released.
    fence's children are not traced (no PTRACE_O_TRACEFORK): bwrap runs as usual.
    Only the host-side fence is measured, not the fence init inside the sandbox.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            if libc.ptrace(PTRACE_TRACEME, 0, None, None) == 0:
                os.execv(fence, [fence, "-s", config, "--", true])
        finally:
            os._exit(127)

    hwm, traced = None, False
    while True:
        _, status = os.waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            break
        sig = os.WSTOPSIG(status)
        if status >> 8 == signal.SIGTRAP | PTRACE_EVENT_EXIT << 8:  # stopped in exit()
            with open(f"/proc/{pid}/status") as f:
                hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
            sig = 0
        elif not traced and sig == signal.SIGTRAP:  # execve done: set options once
            if libc.ptrace(PTRACE_SETOPTIONS, pid, None,
                           PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL) != 0:
                die(f"ptrace: {os.strerror(ctypes.get_errno())}")
            traced, sig = True, 0
        libc.ptrace(PTRACE_CONT, pid, None, sig)  # pass any other signal on
    if status != 0 or hwm is None:
        die(f"fence under ptrace failed ({describe(status)}); is ptrace allowed here?")
    print(hwm)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "time":
        time_cmd(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "exec-deny":
        exec_deny_cmd(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "rss":
        rss_cmd(*args)
    else:
        die(f"unknown subcommand {cmd!r}")
