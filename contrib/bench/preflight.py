#!/usr/bin/env python3
"""Command preflight benchmark (python3 stdlib only): what checking the command rules adds
to a run. See contrib/bench/README.md.

  preflight.py [--runs N] [--fence PATH]

Four cases, interleaved (A, B, C, D, A, ...) after 10 warm-up rounds, timed as startup.py
times them (posix_spawn + waitpid, stdio on /dev/null):
  A  fence -s RULES -c SCRIPT     200 deny rules plus the default list, a 10 KiB script
  B  fence -s NONE  -c SCRIPT     no rules at all (useDefaults false); SCRIPT starts with
                                  `exit 0`, so the shell runs none of it
  C  fence -s RULES -- true       the argv check alone
  D  fence -s NONE  -- true
A - B is the preflight of the 10 KiB script (parse and match); C - D that of an argv.
Goal (issue 12): under 1 ms for A - B.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup import interleaved  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def rules():
    """200 deny rules of the kinds people write: subcommands, flags, `=` presence checks."""
    out = []
    for i in range(200):
        kind = i % 4
        if kind == 0:
            out.append(f"deploy{i} --prod")
        elif kind == 1:
            out.append(f"tool{i} publish")
        elif kind == 2:
            out.append(f"svc{i} run --privileged")
        else:
            out.append(f"copy{i} if=")
    return out


def script(size=10 * 1024):
    """A harmless script of about `size` bytes that makes the parser work: quotes,
    substitutions, pipes, compound commands, here-documents, wrappers. It starts with
    `exit 0`: fence checks all of it, the shell runs none of it (running it would add
    ~160 ms of noise to both cases)."""
    lines = [
        "exit 0",
        'x=$(printf "%s" "a b") && : "$x" | cat >/dev/null',
        "if true; then : 'quoted $HOME \"inner\"'; else : never; fi",
        'for f in a b c; do : "${f:-none}" `printf x`; done',
        "env A=1 B=2 nice -n 0 true --flag=value >/dev/null 2>&1",
        "case $x in a*) : one ;; *) : two ;; esac",
        "{ : grouped; : braces; } && ( : subshell )",
        "cat <<'EOF' >/dev/null\nhere-document text $(not run) `nor this`\nEOF",
    ]
    out, i = [], 0
    while sum(len(line) + 1 for line in out) < size:
        out.append(lines[i % len(lines)])
        i += 1
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fence", default=os.path.join(HERE, "..", "..", "target", "release", "fence"))
    args = parser.parse_args()
    if args.runs < 2:
        sys.exit("--runs must be 2 or more")
    fence = os.path.realpath(args.fence)
    if not os.access(fence, os.X_OK):
        sys.exit(f"fence binary not found: {fence} (cargo build --release --locked)")
    true = "/usr/bin/true" if os.access("/usr/bin/true", os.X_OK) else "/bin/true"
    with tempfile.TemporaryDirectory() as tmp:
        with_rules = os.path.join(tmp, "rules.json")
        without = os.path.join(tmp, "none.json")
        with open(with_rules, "w") as f:
            json.dump({"command": {"deny": rules()}}, f)
        with open(without, "w") as f:
            json.dump({"command": {"useDefaults": False}}, f)
        text = script()
        os.chdir(tmp)
        print(f"command preflight: {args.runs} interleaved rounds after 10 warm-up rounds")
        print(f"  fence: {fence}")
        print(f"  rules: 200 deny rules plus the default list; script: {len(text.encode())} bytes, "
              f"{text.count(chr(10))} lines")
        print()
        cases = [
            ("A  rules, -c SCRIPT", [fence, "-s", with_rules, "-c", text]),
            ("B  no rules, -c SCRIPT", [fence, "-s", without, "-c", text]),
            ("C  rules, -- true", [fence, "-s", with_rules, "--", true]),
            ("D  no rules, -- true", [fence, "-s", without, "--", true]),
        ]
        a, b, c, d = interleaved(cases, args.runs, 10)
    verdict = "meets" if a - b < 1.0 else "MISSES"
    print(f"\n  preflight of the script (A - B, medians): {a - b:+.3f} ms   ({verdict} goal: < 1 ms)")
    print(f"  preflight of an argv   (C - D, medians): {c - d:+.3f} ms")


if __name__ == "__main__":
    main()
