#!/usr/bin/env python3
"""testcount.py - counts single tests, not meson suites, for scripts/test.sh.

    python3 scripts/testcount.py --suites DIR   one line per suite of a build
    python3 scripts/testcount.py DIR...         the closing note of a run

Reads DIR/meson-info/intro-tests.json (every test meson knows, with its
timeout) and DIR/meson-logs/testlog.json (what `meson test` ran), and
counts in each suite's output:

  cmocka       one test per case: "[ RUN      ] name", then OK, FAILED or
               SKIPPED; a case that started and never finished (a crash, a
               failed setup, a timeout) failed.
  unittest     one test per case of verbosity 2, "test_x (module.Class...)
               ... ok | FAIL | ERROR | skipped 'why' | expected failure |
               unexpected success", and the FAIL:/ERROR: headers of the
               closing report (setUpClass, subtests); a case still running
               when the output stops failed.
  ok/not ok    one test per "ok - name" or "not ok - name" line (the
               OpenSearch client checks).
  otherwise    one test named after the suite (fuzz corpus replays, header,
               example, haproxy).

A suite that failed or timed out with no failed case found counts as one
failed test named after the suite, and so does a suite that reported fewer
cases than it announced (cmocka's "Running N test(s)", unittest's "Ran N
tests"), a test meson knows but did not run, and a build with no log.
Expected failures count as skipped. The closing note lists every skipped and
every failed test (build, suite, test) and ends with the line
"N passed, N failed"; the exit status is 1 if anything failed.
Standard library only.
"""
import json
import os
import re
import sys

CM_ANNOUNCE = re.compile(r"^\[=+\] Running (\d+) test\(s\)\.$")
CM_RUN = re.compile(r"^\[ RUN      \] (.*)$")
CM_RESULT = re.compile(r"^\[ *(OK|FAILED|SKIPPED) *\] (.*)$")
# str(TestCase): "test_x (module.Class.test_x)" since Python 3.11,
# "test_x (module.Class)" before.
PY_CASE = re.compile(r"^(\w+) \(([\w.]+)\) \.\.\. ?(.*)$")
PY_SUBTEST = re.compile(r"^  (\w+) \(([\w.]+)\) .* \.\.\. (.*)$")
PY_TOKEN = re.compile(r"^(ok|FAIL|ERROR|skipped(?: (.*))?|expected failure|unexpected success)$")
PY_TRAILING = re.compile(r" \.\.\. (ok|FAIL|ERROR|skipped(?: (.*))?|expected failure|unexpected success)$")
PY_HEADER = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([\w.]+)\)(?: (.*))?$")
PY_RAN = re.compile(r"^Ran (\d+) tests? in ")
TAP = re.compile(r"^(not )?ok - (.*)$")


class Suite:
    """One meson test: its outcome and the single tests found in its output."""

    def __init__(self, build, test, entry):
        self.build = build
        self.name = test["suite"][0].split(":")[-1] + "/" + test["name"] if test["suite"] else test["name"]
        self.timeout = test["timeout"]
        self.entry = entry
        self.result = entry["result"] if entry else "NOTRUN"
        self.duration = entry["duration"] if entry else 0.0
        self.passed, self.failed, self.skipped = [], [], []  # [name] / [(name, why)]

    def ok(self):
        return self.result in ("OK", "EXPECTEDFAIL")

    def why(self):
        """The suite's own failure, in a few words."""
        if self.result == "TIMEOUT":
            return "timed out after %.0f s" % self.duration
        if self.result == "NOTRUN":
            return "did not run (not in meson's log)"
        rc = self.entry.get("returncode")
        if isinstance(rc, int) and rc < 0:
            return "killed by signal %d" % -rc
        if self.result == "FAIL":
            return "exit status %s" % rc
        return "%s, exit status %s" % (self.result.lower(), rc)


def py_name(method, inner):
    """Class.test_x from test_x and "module.Class.test_x" (or "module.Class")."""
    if inner.endswith("." + method):
        inner = inner[: -len(method) - 1]
    cls = inner.split(".")[-1] if "." in inner else ""
    return cls + "." + method if cls else method


def py_reasons(text):
    """{name: first line of the exception} from unittest's closing report."""
    out, cur, body = {}, None, False
    for line in text.splitlines():
        m = PY_HEADER.match(line)
        if m:
            cur, body = py_name(m.group(2), m.group(3)), False
            out.setdefault(cur, "")
        elif cur and line and set(line) <= {"=", "-"}:
            # a header, its dashes, the traceback; then "=" (next header) or "-" (end)
            cur = cur if (line[0] == "-" and not body) else None
            body = True
        elif cur and re.match(r"^[A-Za-z_][\w.]*(: |$)", line):
            out[cur] = line  # the last exception line of the section wins
    return out


def parse_cmocka(s, out):
    announced, started, seen = 0, None, {}

    def label(name):
        seen[name] = seen.get(name, 0) + 1
        return name if seen[name] == 1 else "%s #%d" % (name, seen[name])

    for line in out.splitlines():
        m = CM_ANNOUNCE.match(line)
        if m:
            announced += int(m.group(1))
            continue
        m = CM_RUN.match(line)
        if m:
            if started:
                s.failed.append((started, "did not finish (its setup or teardown failed?)"))
            started = label(m.group(1))
            continue
        m = CM_RESULT.match(line)
        if m and started:
            kind = m.group(1)
            if kind == "OK":
                s.passed.append(started)
            elif kind == "FAILED":
                s.failed.append((started, ""))
            else:
                s.skipped.append((started, ""))
            started = None
    if started:
        s.failed.append((started, "did not finish: " + s.why() if not s.ok() else "did not finish"))
    return announced


def parse_unittest(s, text):
    cases, order, open_case, ran = {}, [], None, None
    for line in text.splitlines():
        m = PY_CASE.match(line)
        if m:
            if open_case and cases[open_case] is None:
                cases[open_case] = "finished"  # its word was glued to what it printed
            open_case = py_name(m.group(1), m.group(2))
            if open_case not in cases:
                order.append(open_case)
            cases[open_case] = None
            tok = PY_TOKEN.match(m.group(3) or "")
            if tok:
                cases[open_case] = tok
                open_case = None
            continue
        m = PY_SUBTEST.match(line)
        if m:
            if re.match(r"^(FAIL|ERROR|unexpected success)$", m.group(3)):
                cases[py_name(m.group(1), m.group(2))] = PY_TOKEN.match("FAIL")
            continue
        m = PY_RAN.match(line)
        if m:
            ran, open_case = int(m.group(1)), None
            continue
        if open_case:
            tok = PY_TOKEN.match(line) or PY_TRAILING.search(line)
            if tok:
                cases[open_case] = cases[open_case] or tok
                open_case = None
    reasons = py_reasons(text)
    for name in order:
        tok = cases[name]
        word = tok.group(1) if tok and tok != "finished" else ""
        if name in reasons or word in ("FAIL", "ERROR", "unexpected success"):
            s.failed.append((name, reasons.get(name) or word))
        elif word.startswith("skipped"):
            why = tok.group(2) or ""
            s.skipped.append((name, why[1:-1] if why[:1] in "'\"" and len(why) > 1 else why))
        elif word == "expected failure":
            s.skipped.append((name, "expected failure"))
        elif tok or ran is not None:
            s.passed.append(name)  # ok, or finished with its "ok" glued to its output
        else:
            s.failed.append((name, "did not finish: " + s.why()))
    for name, why in reasons.items():  # setUpClass, setUpModule, ...
        if name not in cases:
            s.failed.append((name, why))
    return ran


def parse_tap(s, out):
    for line in out.splitlines():
        m = TAP.match(line)
        if m and m.group(1):
            name, _, why = m.group(2).partition(": ")
            s.failed.append((name, why))
        elif m:
            s.passed.append(m.group(2))


def count(s):
    """Fills s.passed, s.failed and s.skipped from the suite's output."""
    out = (s.entry.get("stdout") or "") if s.entry else ""
    err = (s.entry.get("stderr") or "") if s.entry else ""
    expected = None
    if any(CM_RUN.match(ln) or CM_ANNOUNCE.match(ln) for ln in out.splitlines()):
        expected = parse_cmocka(s, out)
    elif any(PY_CASE.match(ln) or PY_RAN.match(ln) for ln in (out + "\n" + err).splitlines()):
        expected = parse_unittest(s, out + "\n" + err)
    elif any(TAP.match(ln) for ln in out.splitlines()):
        parse_tap(s, out)
    else:
        if s.ok():
            s.passed.append(s.name)
        elif s.result == "SKIP":
            first = next((ln for ln in (out + "\n" + err).splitlines() if ln.strip()), "")
            s.skipped.append((s.name, first.strip()[:200]))
        else:
            s.failed.append((s.name, s.why()))
        return
    n = len(s.passed) + len(s.failed) + len(s.skipped)
    if not s.failed and not s.ok() and s.result != "SKIP":
        s.failed.append((s.name, s.why()))
    elif not s.failed and expected is not None and n < expected:
        s.failed.append((s.name, "%d of %d cases reported" % (n, expected)))
    elif not (s.passed or s.failed or s.skipped):
        s.skipped.append((s.name, "no case ran"))


def load(build):
    """The suites of one build directory, in meson's order; None without a log."""
    try:
        with open(os.path.join(build, "meson-info", "intro-tests.json")) as f:
            tests = json.load(f)
        entries = {}
        with open(os.path.join(build, "meson-logs", "testlog.json"), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                e = json.loads(line)
                entries[e["name"].rpartition(" / ")[2]] = e
    except (OSError, ValueError):
        return None
    suites = [Suite(build, t, entries.get(t["name"])) for t in tests]
    for s in suites:
        count(s)
    return suites


def table(build):
    suites = load(build)
    if suites is None:
        print("%s: no test log (the build or `meson test` failed)" % build)
        return
    print("%s: %d suites, %.0f s of tests" % (build, len(suites), sum(s.duration for s in suites)))
    for s in suites:
        parts = ["%d passed" % len(s.passed)]
        if s.failed:
            parts.append("%d failed" % len(s.failed))
        if s.skipped:
            parts.append("%d skipped" % len(s.skipped))
        mark = "FAIL" if s.failed else "ok"
        print("  %-4s %-30s %-28s %6.1f s (timeout %s s)"
              % (mark, s.name, ", ".join(parts), s.duration, s.timeout))


def label(s, name, why):
    """build suite: test (why), or build suite (why) for the suite itself."""
    why = why if len(why) <= 160 else why[:157] + "..."
    return "%s %s%s%s" % (s.build, s.name, "" if name == s.name else ": " + name,
                          " (%s)" % why if why else "")


def close(builds):
    passed, failed, skipped = 0, [], []
    for build in builds:
        suites = load(build)
        if suites is None:
            failed.append("%s: no test log (the build or `meson test` failed)" % build)
            continue
        for s in suites:
            passed += len(s.passed)
            failed += [label(s, name, why) for name, why in s.failed]
            skipped += [label(s, name, why) for name, why in s.skipped]
    if skipped:
        print("skipped (%d):" % len(skipped))
        for line in skipped:
            print("  " + line)
    if failed:
        print("FAILED (%d):" % len(failed))
        for line in failed:
            print("  " + line)
        print("logs: %s" % ", ".join(os.path.join(b, "meson-logs", "testlog.txt") for b in builds))
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--suites":
        table(argv[2])
        return 0
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    return close(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
