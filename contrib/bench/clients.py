#!/usr/bin/env python3
"""Real clients, direct and through fence: Python's urllib, pip, npm, cargo and git
(python3 stdlib only).

  contrib/bench/clients.py [--runs N] [--only urllib,pip,npm,cargo,git] [--fence PATH]...

urllib (six sequential HTTPS requests to pypi.org, each on a new connection), pip, npm
and cargo fetch from their public registries (pypi.org and
files.pythonhosted.org, registry.npmjs.org, index.crates.io and static.crates.io), so
they need the network; git clones from a smart-HTTP server this script starts on
127.0.0.1 (`git http-backend` behind Python's CGI server). Every run starts from empty
caches (a new temporary directory for pip's download, npm's cache and prefix, cargo's
CARGO_HOME and git's clone: on the sandbox's /tmp, a tmpfs, inside fence, and on
/dev/shm, a tmpfs too, for the direct runs). The modes (direct, then each --fence binary, default
target/release/fence) run interleaved: one unrecorded round, then N rounds of every
client in every mode. Reported per client: the median, min and max wall time of each
mode (process start to exit, fence's startup included) and each fence median over the
direct one. See contrib/bench/README.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOMAINS = ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org", "index.crates.io",
           "static.crates.io", "127.0.0.1"]

# Each client is one sh script run the same way in every mode (inside fence, /tmp is the
# sandbox's own). It fetches a few small things: many small exchanges.
URLLIB = ('"{python}" -c "import urllib.request as u; '
          '[u.urlopen(\'https://pypi.org/simple/six/\', timeout=30).read() for _ in range(6)]"')
PIP = ('d=$(mktemp -d) && env -u PIP_FIND_LINKS -u PIP_INDEX_URL "{python}" -m pip download '
       '-q --no-deps --no-cache-dir -d "$d" six==1.16.0 idna==3.7 packaging==24.0 '
       '&& rm -rf "$d"')
NPM = ('d=$(mktemp -d) && cd "$d" && npm install -s --no-save --no-package-lock '
       '--no-audit --no-fund --cache "$d/cache" --prefix "$d" chalk@4.1.2 && rm -rf "$d"')
CARGO = ('d=$(mktemp -d) && mkdir -p "$d/p/src" && : >"$d/p/src/lib.rs" && printf '
         '\'[package]\\nname = "p"\\nversion = "0.1.0"\\nedition = "2021"\\n'
         '[dependencies]\\nitoa = "=1.0.11"\\nryu = "=1.0.18"\\n\' >"$d/p/Cargo.toml" && '
         'CARGO_HOME="$d/home" "{cargo}" fetch -q --manifest-path "$d/p/Cargo.toml" '
         '&& rm -rf "$d"')
# NO_PROXY names 127.0.0.1: without it, git sends the clone to fence's HTTP proxy.
GIT = ('d=$(mktemp -d) && env -u NO_PROXY -u no_proxy git clone -q '
       'http://127.0.0.1:{port}/cgi-bin/git/repo.git "$d/out" && rm -rf "$d"')


def die(msg):
    sys.exit(f"clients.py: {msg}")


def git_server(tmp):
    """A bare repository (200 files, 20 commits) served over smart HTTP on 127.0.0.1."""
    src, served = os.path.join(tmp, "src"), os.path.join(tmp, "served")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com",
           "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", src], check=True)
    for c in range(20):
        for f in range(10):
            with open(os.path.join(src, f"f{f}-{c}.txt"), "w") as out:
                out.write(f"commit {c} file {f} " + os.urandom(150).hex() + "\n")
        subprocess.run([*git, "-C", src, "add", "-A"], check=True)
        subprocess.run([*git, "-C", src, "commit", "-qm", f"c{c}"], check=True)
    os.makedirs(os.path.join(served, "cgi-bin"))
    subprocess.run([*git, "clone", "-q", "--bare", src, os.path.join(served, "repo.git")],
                   check=True)
    cgi = os.path.join(served, "cgi-bin", "git")
    with open(cgi, "w") as out:
        # The CGI server runs scripts as nobody when started as root: hence safe.directory.
        out.write(f"#!/bin/sh\nexport GIT_PROJECT_ROOT='{served}' GIT_HTTP_EXPORT_ALL=1\n"
                  "export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory "
                  "GIT_CONFIG_VALUE_0='*'\nexec git http-backend\n")
    os.chmod(cgi, 0o755)
    for d in (tmp, served):
        os.chmod(d, 0o755)
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--cgi", "0",
                               "--bind", "127.0.0.1"], cwd=served, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
    try:
        return server, int(line.split(" port ")[1].split()[0])
    except (IndexError, ValueError):
        server.kill()
        die(f"the git server did not start: {line!r}")


def run(argv, env):
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        die(f"`{' '.join(argv)}` failed (exit status {p.returncode}):\n{p.stderr}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description="real clients, direct and through fence")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="urllib,pip,npm,cargo,git")
    ap.add_argument("--fence", action="append", help="a fence binary (repeatable)")
    args = ap.parse_args()
    fences = [os.path.realpath(f) for f in args.fence or [os.path.join(ROOT, "target/release/fence")]]
    for f in fences:
        if not os.access(f, os.X_OK):
            die(f"not an executable: {f} (cargo build --release --locked)")
    wanted = args.only.split(",")
    known = ["urllib", "pip", "npm", "cargo", "git"]
    if args.runs < 1 or not set(wanted) <= set(known):
        ap.error(f"--runs must be >= 1; --only takes a comma list of {', '.join(known)}")
    cargo = subprocess.run(["rustup", "which", "cargo"], capture_output=True, text=True)
    cargo = cargo.stdout.strip() if cargo.returncode == 0 else shutil.which("cargo")

    tmp = tempfile.mkdtemp(prefix="fence-bench-clients.", dir="/var/tmp")
    server, shm = None, None
    try:
        config = os.path.join(tmp, "fence.json")
        with open(config, "w") as out:
            json.dump({"network": {"allowedDomains": DOMAINS}}, out)
        scripts = {"urllib": URLLIB.format(python=sys.executable),
                   "pip": PIP.format(python=sys.executable), "npm": NPM,
                   "cargo": CARGO.format(cargo=cargo)}
        if "git" in wanted:
            server, port = git_server(tmp)
            scripts["git"] = GIT.format(port=port)
        clients = [(name, scripts[name]) for name in wanted]
        # The config's 127.0.0.1 draws a warning on every run: errors only.
        env = {**os.environ, "FENCE_LOG": os.environ.get("FENCE_LOG", "error")}
        env.pop("TMPDIR", None)
        # Direct runs write to a tmpfs as the sandboxed ones do (the host's /tmp may be
        # on a disk: clones and caches would cost the direct runs alone).
        shm = tempfile.mkdtemp(prefix="fence-bench-clients.", dir="/dev/shm")
        modes = [("direct", lambda s: ["/bin/sh", "-c", s], {**env, "TMPDIR": shm})]
        for i, f in enumerate(fences):
            label = "fence" if len(fences) == 1 else f"fence {i + 1}"
            modes.append((label, lambda s, f=f: [f, "-s", config, "-c", s], env))

        print("clients: " + ", ".join(wanted) + f"; {args.runs} rounds after 1 warm-up round")
        for i, f in enumerate(fences):
            print(f"  fence {i + 1}: {f}" if len(fences) > 1 else f"  fence: {f}")
        times = {(c, m): [] for c, _ in clients for m, _, _ in modes}
        for round_no in range(1 + args.runs):
            for client, script in clients:
                for mode, argv, mode_env in modes:
                    t = run(argv(script), mode_env)
                    if round_no:
                        times[(client, mode)].append(t)
        print(f"\n  {'client':8}{'mode':10}{'median':>9}{'min':>9}{'max':>9}{'/ direct':>10}   (s)")
        for client, _ in clients:
            direct = statistics.median(times[(client, "direct")])
            for mode, _, _ in modes:
                t = times[(client, mode)]
                m = statistics.median(t)
                ratio = f"{m / direct:10.2f}" if mode != "direct" else ""
                print(f"  {client:8}{mode:10}{m:9.3f}{min(t):9.3f}{max(t):9.3f}{ratio}")
    finally:
        if server:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if shm:
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
