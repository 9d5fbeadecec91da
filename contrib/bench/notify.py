#!/usr/bin/env python3
"""Seccomp user-notification benchmark (python3 stdlib only): what `-m` (filesystem and
connect events) and exec checks (`command.runtimeExecPolicy: "argv"`) add to real work.
See contrib/bench/README.md.

  notify.py [--runs N] [--fence PATH] [--files N] [--execs N]

Three workloads in a scratch workspace under /var/tmp, each timed (wall clock of the whole
run, fence's startup included) for every variant, interleaved round by round:
  untar   tar xf of an N-file tree (default 20,000 files in 200 directories) into the
          workspace; the previous round's copy is removed outside the timing
  status  git status in a repository of the same tree
  execs   a shell loop that executes /bin/true N times (default 2,000)
Variants: fence (no notification filter), fence -m (writes and connects notified), bare
bwrap with an equivalent writable workspace, and for execs also fence with exec checks
(argv mode, a one-rule deny list). Goals (issue 13): -m under +25 % on untar and under
+10 % on status; issue 12 asks for the argv-mode overhead on execs to be reported.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def die(msg):
    sys.exit(f"notify.py: {msg}")


def make_tree(base, files):
    """`files` small files in directories of 100 each."""
    for i in range(files):
        d = os.path.join(base, f"d{i // 100:04d}")
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
            f.write(f"file {i}\n")


def timed(argv, cwd):
    start = time.perf_counter_ns()
    done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        die(f"{argv[:6]}... failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return ms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--fence", default=os.path.join(ROOT, "target/release/fence"))
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--execs", type=int, default=2000)
    a = p.parse_args()
    if a.runs < 2:
        die("--runs must be >= 2")
    if not os.access(a.fence, os.X_OK):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    fence = os.path.realpath(a.fence)
    bwrap = shutil.which("bwrap") or die("bwrap not found")
    git = shutil.which("git") or die("git not found")

    ws = os.path.join("/var/tmp", f"fence-bench-notify-{os.getpid()}")
    os.makedirs(ws)
    try:
        src = os.path.join(ws, "src")
        make_tree(src, a.files)
        subprocess.run(["tar", "cf", os.path.join(ws, "tree.tar"), "-C", src, "."], check=True)
        repo = os.path.join(ws, "repo")
        shutil.copytree(src, repo)
        shutil.rmtree(src)
        env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "tree"]):
            subprocess.run([git, *cmd], cwd=repo, check=True, env=env)
        cfg = os.path.join(ws, "w.json")
        with open(cfg, "w") as f:
            json.dump({"filesystem": {"allowWrite": ["."]}}, f)
        argv_cfg = os.path.join(ws, "argv.json")
        with open(argv_cfg, "w") as f:
            json.dump({"filesystem": {"allowWrite": ["."]},
                       "command": {"deny": ["git push"], "runtimeExecPolicy": "argv"}}, f)
        bw = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
              "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
              "--bind", ws, ws, "--chdir", ws, "--"]
        untar = ["tar", "xf", "tree.tar", "-C", "out"]
        status = ["sh", "-c", f"cd repo && {git} status --porcelain >/dev/null"]
        loop = ["sh", "-c", f"i=0; while [ $i -lt {a.execs} ]; do /bin/true; i=$((i+1)); done"]
        workloads = {
            "untar": [("fence", [fence, "-s", cfg, "--", *untar]),
                      ("fence -m", [fence, "-m", "-s", cfg, "--", *untar]),
                      ("bwrap", [*bw, *untar])],
            "status": [("fence", [fence, "-s", cfg, "--", *status]),
                       ("fence -m", [fence, "-m", "-s", cfg, "--", *status]),
                       ("bwrap", [*bw, *status])],
            "execs": [("fence", [fence, "-s", cfg, "--", *loop]),
                      ("fence argv", [fence, "-s", argv_cfg, "--", *loop]),
                      ("fence -m", [fence, "-m", "-s", cfg, "--", *loop]),
                      ("bwrap", [*bw, *loop])],
        }
        out = os.path.join(ws, "out")
        print(f"fence {fence}; {a.files} files, {a.execs} execs; {a.runs} rounds after 1 warm-up;"
              f" load {os.getloadavg()[0]:.2f}")
        for name, variants in workloads.items():
            samples = {label: [] for label, _ in variants}
            for round_no in range(a.runs + 1):
                for label, argv in variants:
                    if name == "untar":
                        shutil.rmtree(out, ignore_errors=True)
                        os.makedirs(out)
                    ms = timed(argv, ws)
                    if round_no:
                        samples[label].append(ms)
            medians = {label: statistics.median(ms) for label, ms in samples.items()}
            base = medians["fence"]
            print(f"\n{name}:")
            for label, med in medians.items():
                p10, *_, p90 = statistics.quantiles(samples[label], n=10, method="inclusive")
                print(f"  {label:11} median {med:9.1f} ms  (p10 {p10:8.1f}, p90 {p90:8.1f})"
                      f"  {med / base:5.2f}x fence  {med / medians['bwrap']:5.2f}x bwrap")
    finally:
        shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    main()
