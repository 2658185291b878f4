#!/usr/bin/env python3
"""
source_test.py - the sources and the documents that describe them agree:

- every source file of the repository has a row in docs/ARCHITECTURE.md's
  module map, and every file a row names exists;
- the user and developer documents (README.md, docs/*.md) refer to nothing
  outside the repository (a design brief, a path of the machine they were
  written on);
- no function in root/ is longer than 120 lines (issue #10: a query's path
  through the root must stay readable; search_uncached was 347).

    python3 tests/source_test.py [REPO_ROOT]

Files come from `git ls-files` when the tree is a git checkout (else a walk
of the tree). Data, fuzz corpora, benchmark results and the journal,
documents and lock files are not source files. Standard library only.
"""
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Not source files: what a module map would not list one by one.
NOT_SOURCE = re.compile(
    r"^(data/|tests/fuzz/corpus/|bench/results/|bench/serve/results/|bench/journal/)"
    r"|\.(md|json|txt|tsv|svg|png|gz|zst|jsonl)$"
    r"|^tests/package(-lock)?\.json$")
MAP_HEADING = "## Module map"
FUNCTION_LIMIT = 120


def repo_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
        # files added and not committed yet count too
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--others",
                              "--exclude-standard"], capture_output=True, check=True)
        files += [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith((".git", "build"))]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(f for f in set(files)
                  if not NOT_SOURCE.search(f) and os.path.exists(os.path.join(root, f)))


def module_map(text):
    """The files the module map names: {path: row}. A row's first cell holds
    `names` separated by commas; a name without a folder is in the folder
    of the name before it."""
    start = text.index(MAP_HEADING)
    end = text.find("\n## ", start + 1)
    named = {}
    for line in text[start:end if end >= 0 else None].splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        folder = ""
        for name in re.findall(r"`([^`]+)`", cell):
            if "/" in name:
                folder = name.rsplit("/", 1)[0] + "/"
                path = name
            else:
                path = folder + name
            named[path] = line
    return named


def functions(path):
    """(first line, length, signature) of every function defined in a C file
    (a body opens with '{' alone at column 0 and ends with '}' there)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, start = [], None
    for i, line in enumerate(lines):
        if line == "{":
            j = i - 1
            while j > 0 and not re.match(r"[A-Za-z_]", lines[j]):
                j -= 1
            start = j
        elif line == "}" and start is not None:
            out.append((start + 1, i - start + 1, lines[start].strip()))
            start = None
    return out


class TestSources(unittest.TestCase):
    root = ROOT

    def test_every_source_file_is_in_the_module_map(self):
        with open(os.path.join(self.root, "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
            named = module_map(f.read())
        missing = [f for f in repo_files(self.root) if f not in named]
        self.assertEqual(missing, [], "files missing from docs/ARCHITECTURE.md's module map "
                         "(add a row: | `path` | its one purpose |)")

    def test_every_file_in_the_module_map_exists(self):
        with open(os.path.join(self.root, "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
            named = module_map(f.read())
        gone = [p for p in named if not os.path.exists(os.path.join(self.root, p))]
        self.assertEqual(gone, [], "the module map names files that do not exist")

    def test_documents_refer_to_nothing_outside_the_repository(self):
        outside = re.compile(r"/work/|\.\./shared/docs|DESIGN\.md|STYLE\.md|/root/")
        docs = ["README.md"] + ["docs/" + f for f in sorted(os.listdir(
            os.path.join(self.root, "docs"))) if f.endswith(".md")]
        found = []
        for d in docs:
            with open(os.path.join(self.root, d), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if outside.search(line):
                        found.append("%s:%d: %s" % (d, n, line.strip()))
        self.assertEqual(found, [], "documents refer outside the repository")

    def test_no_function_in_root_is_over_120_lines(self):
        long = []
        folder = os.path.join(self.root, "root")
        for name in sorted(os.listdir(folder)):
            if name.endswith(".c") and not name.endswith("_test.c"):
                for line, n, sig in functions(os.path.join(folder, name)):
                    if n > FUNCTION_LIMIT:
                        long.append("root/%s:%d: %d lines: %s" % (name, line, n, sig))
        self.assertEqual(long, [], "functions over %d lines" % FUNCTION_LIMIT)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        TestSources.root = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
