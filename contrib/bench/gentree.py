#!/usr/bin/env python3
"""A deterministic project tree for the startup scaling benchmark (python3 stdlib only).

  gentree.py DIR NDIRS [--seed N] [--globs]

Creates DIR (which must not exist) holding NDIRS directories below it, counted exactly
(DIR itself not included), laid out like a JavaScript project with dependencies:

  .git/                   HEAD, config, hooks/pre-commit.sample (the tree's repository)
  src/                    a random nested module tree (about 4 % of the directories)
  packages/               a monorepo's workspaces, pkg-N/ with src/, test/, ... (12 %)
  docs/, test/            small random trees (2 %)
  node_modules/           the rest: packages (pkg-N/ with lib/, dist/, ... below),
                          scoped ones (@scope-K/pkg-N/) and nested node_modules/ (up to 3
                          deep) inside about 20 % of the bigger packages
  gen-1/, gen-2/          with --globs only: out-0/ ... out-49/ (each with obj/), and
                          secret-0.txt ... secret-49.txt spread outside node_modules/

plus, at random places (random.Random(seed), so the same arguments give the same tree):

  * nested git repositories, one per 500 directories (at least one): a .git/ with HEAD,
    config and hooks/pre-commit.sample in a directory at depth 1-3 outside node_modules/;
  * protected names, one per 100 directories: .npmrc, .envrc, .vscode/ (with
    settings.json), .idea/, .mcp.json, .gitmodules or .bashrc, at depth 1-4 (that is, in a
    directory at depth 0-3) outside node_modules/;
  * *.pem files, one per 200 directories, anywhere outside the .git directories;
  * one to four empty files in every directory (index.js, README.md, ...).

The directories inside .git/, .vscode/, .idea/ and gen-*/ count towards NDIRS.
"""
import argparse
import os
import random

PROTECTED = [(".npmrc", False), (".envrc", False), (".vscode", True), (".idea", True),
             (".mcp.json", False), (".gitmodules", False), (".bashrc", False)]
FILES = ["index.js", "README.md", "package.json", "util.js", "LICENSE", "data.json",
         "main.ts", "notes.txt"]
GLOB_OUTS = 50  # gen-*/out-N directories and secret-N.txt files with --globs
GIT_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"


class Tree:
    """The directories made so far: `dirs` maps a relative path ("" is the top) to its
    depth, for the ones that may receive files, repositories and protected names."""

    def __init__(self, top, rng):
        self.top, self.rng = top, rng
        self.ndirs = self.nfiles = 0
        self.dirs = {"": 0}
        self.counts = {"packages": 0, "repositories": 0, "protected": 0, "pem": 0}

    def path(self, rel):
        return os.path.join(self.top, rel) if rel else self.top

    def mkdir(self, rel, listed=True):
        os.mkdir(self.path(rel))
        self.ndirs += 1
        if listed:
            self.dirs[rel] = rel.count("/") + 1

    def touch(self, rel, text=""):
        with open(self.path(rel), "x") as f:
            f.write(text)
        self.nfiles += 1

    def git_dir(self, parent):
        """A minimal repository: .git/ with HEAD, config and hooks/ (2 directories)."""
        git = os.path.join(parent, ".git") if parent else ".git"
        self.mkdir(git, listed=False)
        self.mkdir(f"{git}/hooks", listed=False)
        self.touch(f"{git}/HEAD", "ref: refs/heads/main\n")
        self.touch(f"{git}/config", GIT_CONFIG)
        self.touch(f"{git}/hooks/pre-commit.sample", "#!/bin/sh\nexit 0\n")

    def grow(self, root, budget, max_depth, names):
        """`root` plus random subdirectories below it: `budget` directories in all."""
        self.mkdir(root)
        inner = [root]
        base = self.dirs[root]
        for i in range(budget - 1):
            parent = self.rng.choice(inner)
            rel = f"{parent}/{self.rng.choice(names)}{i}"
            self.mkdir(rel)
            if self.dirs[rel] - base < max_depth:
                inner.append(rel)

    def packages(self, root, budget):
        """A monorepo's packages/ directory: pkg-N/ workspaces with src/, test/, ... below."""
        end = self.ndirs + budget
        self.mkdir(root)
        i = 0
        while self.ndirs < end:
            size = min(end - self.ndirs, self.rng.randint(3, 16))
            self.grow(f"{root}/pkg-{i}", size, 5, ["src", "lib", "test", "dist", "bin"])
            i += 1

    def node_modules(self, root, budget, nesting):
        """A node_modules/ directory holding packages: `budget` directories in all."""
        end = self.ndirs + budget
        self.mkdir(root)
        scopes = set()
        i = 0
        while self.ndirs < end:
            left = end - self.ndirs
            name = f"pkg-{i}"
            if self.rng.random() < 0.2 and left >= 2:  # a scoped package
                scope = f"{root}/@scope-{self.rng.randrange(8)}"
                if scope not in scopes:
                    self.mkdir(scope)
                    scopes.add(scope)
                    left -= 1
                name = f"{scope[len(root) + 1:]}/pkg-{i}"
            i += 1
            size = min(left, self.rng.randint(2, 12))
            pkg = f"{root}/{name}"
            self.counts["packages"] += 1
            nested = 0
            if nesting > 0 and size >= 6 and self.rng.random() < 0.2:
                nested = self.rng.randint(3, size - 2)
            self.grow(pkg, size - nested, 4, ["lib", "dist", "src", "esm", "cjs", "types"])
            if nested:
                self.node_modules(f"{pkg}/node_modules", nested, nesting - 1)


def build(top, ndirs, seed=1, globs=False):
    """Creates the tree (see the module's doc) and returns a one-line description."""
    rng = random.Random(seed)
    os.mkdir(top)
    t = Tree(top, rng)
    n_repos = max(1, ndirs // 500)
    n_protected = max(1, ndirs // 100)
    n_pem = max(1, ndirs // 200)
    protected = [rng.choice(PROTECTED) for _ in range(n_protected)]
    reserved = 2 + 2 * n_repos + sum(is_dir for _, is_dir in protected)
    if globs:
        reserved += 2 + 2 * GLOB_OUTS
    body = ndirs - reserved
    if body < 20:
        raise ValueError(f"{ndirs} directories are too few for this layout")

    t.git_dir("")
    src = max(1, body * 4 // 100)
    workspaces = max(1, body * 12 // 100)
    other = max(2, body * 2 // 100)
    t.grow("src", src, 8, ["mod", "util", "core", "api", "ui"])
    t.packages("packages", workspaces)
    t.grow("docs", other // 2, 3, ["guide", "ref"])
    t.grow("test", other - other // 2, 3, ["unit", "e2e"])
    t.node_modules("node_modules", body - src - workspaces - other, 3)
    if globs:
        for g in (1, 2):
            t.mkdir(f"gen-{g}")
        for n in range(GLOB_OUTS):
            out = f"gen-{1 + n * 2 // GLOB_OUTS}/out-{n}"
            t.mkdir(out)
            t.mkdir(f"{out}/obj")

    candidates = sorted(t.dirs.items())
    # Repositories and protected names go where fence looks for them (and where a project
    # would have them): outside node_modules/.
    walked = [(d, depth) for d, depth in candidates if not d.startswith("node_modules")]
    shallow = [d for d, depth in walked if 1 <= depth <= 3]
    for parent in rng.sample(shallow, min(n_repos, len(shallow))):
        t.git_dir(parent)
        t.counts["repositories"] += 1
    upper = [d for d, depth in walked if depth <= 3]
    taken = set()
    for name, is_dir in protected:
        parent = rng.choice(upper)
        while (parent, name) in taken:  # at most 7 names per directory; plenty of room
            parent = rng.choice(upper)
        taken.add((parent, name))
        rel = os.path.join(parent, name) if parent else name
        if is_dir:
            t.mkdir(rel, listed=False)
            t.touch(f"{rel}/settings.json", "{}\n")
        else:
            t.touch(rel)
        t.counts["protected"] += 1
    for i in range(n_pem):
        parent = rng.choice(candidates)[0]
        t.touch(os.path.join(parent, f"cert-{i}.pem") if parent else f"cert-{i}.pem")
        t.counts["pem"] += 1
    for d, _ in candidates:
        for name in rng.sample(FILES, rng.randint(1, 4)):
            t.touch(os.path.join(d, name) if d else name)
    if globs:
        for n in range(GLOB_OUTS):
            parent = rng.choice(walked)[0]
            t.touch(os.path.join(parent, f"secret-{n}.txt") if parent else f"secret-{n}.txt")

    assert t.ndirs == ndirs, (t.ndirs, ndirs)
    c = t.counts
    return (f"{t.ndirs:,} directories, {t.nfiles:,} files: {c['packages']:,} packages, "
            f"{c['repositories']} nested repositories, {c['protected']} protected names, "
            f"{c['pem']} .pem files" + (f", {GLOB_OUTS} gen-*/out-N and secret-N.txt"
                                         if globs else ""))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Generate a benchmark project tree.")
    ap.add_argument("dir")
    ap.add_argument("ndirs", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--globs", action="store_true")
    a = ap.parse_args()
    print(build(a.dir, a.ndirs, a.seed, a.globs))
