#!/usr/bin/env python3
"""
cli_test.py - integration tests of the trawl command-line tool.

Runs the real binary as subprocesses in temporary directories and checks
output, exit codes (sysexits.h: 64 usage, 65 bad data, 66 missing input) and
the index directory on disk. Standard library only.

    python3 tests/cli_test.py build/cli/trawl      (or TRAWL_BIN=... python3 ...)

Every case prints one line; the exit status is unittest's.
"""
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURE = os.path.join(ROOT, "data", "fixtures", "small.jsonl")

TRAWL = None  # set in main()

EX_USAGE, EX_DATAERR, EX_NOINPUT = 64, 65, 66

# Unique ids of the fixture after duplicates are resolved (later wins).
FIXTURE_IDS = [
    "air-01", "air-02", "air-03", "geo-01", "geo-02", "geo-03", "geo-04",
    "fruit-01", "fruit-02", "fruit-03", "fruit-04", "fox-01", "fox-02",
    "uni-01", "uni-02", "uni-03", "uni-04", "uni-05", "uni-06", "uni-07",
    "dup-01", "dup-02", "misc-01", "misc-02", "misc-03", "misc-04", "misc-05",
    "ид-ü-01",
]

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "Segmentation fault")


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "trawl %s -> %d\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in self.args), self.rc, self.out[-2000:], self.err[-2000:])


def trawl(*args, stdin=None, cwd=None, timeout=120):
    """Runs trawl; never raises on a non-zero exit. Arguments may be bytes."""
    p = subprocess.run([TRAWL] + list(args), input=stdin, cwd=cwd, capture_output=True,
                       timeout=timeout)
    return Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def write_lines(path, lines):
    """Writes JSON Lines; each element is a dict (dumped), str or bytes (raw)."""
    with open(path, "wb") as f:
        for ln in lines:
            if isinstance(ln, dict):
                ln = json.dumps(ln, ensure_ascii=False)
            if isinstance(ln, str):
                ln = ln.encode("utf-8")
            f.write(ln + b"\n")


def gen_dirs(ix):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(ix, "gen-*")))


def current(ix):
    with open(os.path.join(ix, "CURRENT")) as f:
        return f.read()


class TrawlCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="trawl-cli-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # ---- assertions ----

    def assertClean(self, r):
        """No crash, no signal, no sanitizer report."""
        self.assertGreaterEqual(r.rc, 0, "killed by signal %d: %r" % (-r.rc, r))
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, r.err, repr(r))
        self.assertNotIn(r.rc, (70, 71, 134, 139), repr(r))

    def ok(self, *args, **kw):
        r = trawl(*args, **kw)
        self.assertClean(r)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def fails(self, code, *args, msg=(), **kw):
        """Runs trawl expecting exit `code` and every regex of msg on stderr."""
        r = trawl(*args, **kw)
        self.assertClean(r)
        self.assertEqual(r.rc, code, repr(r))
        self.assertTrue(r.err.strip(), "no message: %r" % r)
        for m in msg:
            self.assertRegex(r.err, m, repr(r))
        return r

    def hits(self, ix, query, *opts):
        r = self.ok("search", ix, "--json", *opts, "--", query)
        doc = json.loads(r.out)
        return doc, [h["id"] for h in doc["hits"]]

    def ids(self, ix, query, *opts):
        return self.hits(ix, query, "-k", "100", *opts)[1]


def build_fixture(ix, *opts):
    r = trawl("index", ix, FIXTURE, *opts)
    if r.rc != 0:
        raise AssertionError("cannot build the fixture index: %r" % r)
    return r


# ---------------------------------------------------------------------------
# --help, usage errors
# ---------------------------------------------------------------------------

class TestUsage(TrawlCase):
    COMMANDS = ["index", "search", "get", "stats", "verify"]

    def test_help_every_command(self):
        for cmd in self.COMMANDS:
            for flag in ("--help", "-h"):
                with self.subTest(cmd=cmd, flag=flag):
                    r = self.ok(cmd, flag)
                    self.assertTrue(r.out.startswith("usage: trawl " + cmd), repr(r))
        # --help wins even when other arguments are present or wrong
        for args in (["index", "x", "--help"], ["search", "x", "q", "--help"],
                     ["get", "x", "--help"], ["stats", "--help", "x"], ["verify", "x", "-h"]):
            with self.subTest(args=args):
                self.assertIn("usage: trawl", self.ok(*args).out)

    def test_main_help_and_version(self):
        for flag in ("--help", "-h", "help"):
            r = self.ok(flag)
            for cmd in self.COMMANDS:
                self.assertIn(cmd, r.out)
        for flag in ("version", "--version"):
            self.assertRegex(self.ok(flag).out, r"^trawl \d+\.\d+\.\d+")

    def test_no_command(self):
        r = trawl()
        self.assertClean(r)
        self.assertEqual(r.rc, EX_USAGE)
        self.assertIn("usage", r.err)

    def test_unknown_command(self):
        for cmd in ("frobnicate", "Index", "--frobnicate", "-x", ""):
            with self.subTest(cmd=cmd):
                self.fails(EX_USAGE, cmd, msg=["unknown command"])

    def test_unknown_option(self):
        ix = self.path("ix")
        build_fixture(ix)
        data = self.path("d.jsonl")
        write_lines(data, [{"id": "a", "body": "x"}])
        cases = [
            ["index", ix, data, "--frobnicate"],
            ["index", "--frobnicate", ix, data],
            ["index", "-z", ix, data],
            ["search", ix, "fox", "--frobnicate"],
            ["search", "-z", ix, "fox"],
            ["search", ix, "fox", "--json=yes"],
            ["get", ix, "air-01", "--frobnicate"],
            ["get", "--frobnicate", ix, "air-01"],
            ["stats", ix, "--frobnicate"],
            ["stats", "--frobnicate", ix],
            ["verify", ix, "--frobnicate"],
            ["verify", "--frobnicate", ix],
            # an unknown option as the only argument is an option, not a DIR
            ["stats", "--frobnicate"],
            ["verify", "--frobnicate"],
            ["get", ix, "--frobnicate"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.fails(EX_USAGE, *args)
        self.assertEqual(current(ix), "gen-000001\n")

    def test_double_dash_ends_options(self):
        ix = self.path("ix")
        data = self.path("d.jsonl")
        write_lines(data, [{"id": "-dash", "body": "hyphenated identifier"},
                           {"id": "--help", "body": "an unlucky identifier"}])
        self.ok("index", ix, data)
        self.assertEqual(json.loads(self.ok("get", ix, "--", "-dash").out)["id"], "-dash")
        self.assertEqual(json.loads(self.ok("get", "--", ix, "--help").out)["id"], "--help")
        self.assertIn("documents: 2", self.ok("stats", "--", ix).out)
        self.ok("verify", "--", ix)
        self.fails(EX_USAGE, "get", ix, "-dash")
        self.fails(EX_USAGE, "get", ix, "--", "-dash", "extra")
        self.assertEqual(sorted(self.ids(ix, "identifier")), ["--help", "-dash"])

    def test_bad_arguments(self):
        ix = self.path("ix")
        build_fixture(ix)
        data = self.path("d.jsonl")
        write_lines(data, [{"id": "a", "body": "x"}])
        cases = [
            (["index"], "needs DIR"),
            (["index", ix], "needs DIR"),
            (["index", ix, data, "--shards", "0"], "shards"),
            (["index", ix, data, "--shards", "257"], "shards"),
            (["index", ix, data, "--shards", "-1"], "shards"),
            (["index", ix, data, "--shards", "two"], "shards"),
            (["index", ix, data, "--shards"], ""),
            (["search"], "needs DIR"),
            (["search", ix], "needs DIR and QUERY"),
            (["search", ix, "a", "b"], "needs DIR and QUERY"),
            (["search", ix, "fox", "-k", "0"], "-k"),
            (["search", ix, "fox", "-k", "10001"], "-k"),
            (["search", ix, "fox", "-k", "ten"], "-k"),
            (["search", ix, "fox", "-k", "-5"], "-k"),
            (["search", ix, "fox", "-k"], ""),
            (["search", ix, "fox", "--offset", "-1"], "offset"),
            (["search", ix, "fox", "--offset", "10001"], "offset"),
            (["search", ix, "fox", "--offset", "1x"], "offset"),
            (["search", ix, "--queries", data], "batch mode"),
            (["search", ix, "--run", self.path("run")], "batch mode"),
            (["search", ix, "fox", "--queries", data, "--run", self.path("run")], "batch mode"),
            (["get"], "needs DIR and ID"),
            (["get", ix], "needs DIR and ID"),
            (["get", ix, "a", "b"], "needs DIR and ID"),
            (["stats"], "needs DIR"),
            (["stats", ix, ix], "needs DIR"),
            (["verify"], "needs DIR"),
            (["verify", ix, ix], "needs DIR"),
        ]
        for args, m in cases:
            with self.subTest(args=args):
                self.fails(EX_USAGE, *args, msg=[re.escape(m)] if m else [])
        self.assertFalse(os.path.exists(self.path("run")))
        self.assertEqual(current(ix), "gen-000001\n")

    def test_k_plus_offset_limit(self):
        ix = self.path("ix")
        build_fixture(ix)
        self.fails(EX_DATAERR, "search", ix, "common", "-k", "10000", "--offset", "1",
                   msg=[r"10001", r"10000"])
        self.ok("search", ix, "common", "-k", "9999", "--offset", "1")

    def test_missing_index(self):
        nowhere = self.path("nowhere")
        for args in (["search", nowhere, "fox"], ["get", nowhere, "a"], ["stats", nowhere],
                     ["verify", nowhere]):
            with self.subTest(args=args):
                self.fails(EX_NOINPUT, *args, msg=[re.escape(nowhere), "no index"])
        self.assertFalse(os.path.exists(nowhere))


# ---------------------------------------------------------------------------
# index, search, get, stats, verify on the fixture corpus
# ---------------------------------------------------------------------------

class TestFixture(TrawlCase):
    @classmethod
    def setUpClass(cls):
        cls._ctmp = tempfile.TemporaryDirectory(prefix="trawl-fixture-")
        cls.ix = os.path.join(cls._ctmp.name, "ix")
        cls.report = build_fixture(cls.ix)

    @classmethod
    def tearDownClass(cls):
        cls._ctmp.cleanup()

    def test_build_report(self):
        out = self.report.out
        self.assertRegex(out, r"indexed 28 documents .* generation 1: 1 shard,")
        self.assertIn("lines: 31 read, 0 rejected; 3 duplicates replaced", out)
        self.assertEqual(current(self.ix), "gen-000001\n")
        self.assertEqual(gen_dirs(self.ix), ["gen-000001"])
        man = json.load(open(os.path.join(self.ix, "gen-000001", "MANIFEST.json")))
        self.assertEqual(man["docs"], 28)
        self.assertEqual(man["generation"], 1)
        self.assertEqual(len(man["files"]), 1)
        self.assertRegex(man["files"][0]["xxh3_128"], r"^[0-9a-f]{32}$")
        self.assertEqual(man["files"][0]["bytes"],
                         os.path.getsize(os.path.join(self.ix, "gen-000001", "shard-000.mdb")))
        with open(os.path.join(self.ix, "gen-000001", "MANIFEST.xxh3"), "rb") as f:
            self.assertRegex(f.read(), rb"\A[0-9a-f]{32}\n\Z")

    def test_stats(self):
        out = self.ok("stats", self.ix).out
        self.assertIn("generation: 1\n", out)
        self.assertIn("shards: 1\n", out)
        self.assertIn("documents: 28\n", out)
        self.assertRegex(out, r"terms: [1-9]\d*\n")
        self.assertRegex(out, r"bytes: [1-9]\d*\n")
        schema = json.loads(re.search(r"^schema: (.*)$", out, re.M).group(1))
        self.assertEqual(sorted(schema["fields"]), ["body", "title"])

    def test_verify(self):
        r = self.ok("verify", self.ix)
        self.assertIn("ok", r.out)
        self.assertEqual(r.err, "")

    def test_simple_queries(self):
        cases = {
            "zeppelin": ["air-01"],
            "ZEPPELIN": ["air-01"],
            "title:zeppelin": ["air-01"],
            "volcano": ["geo-01", "geo-02", "geo-03"],
            "volc*": ["geo-01", "geo-02", "geo-03"],
            "title:volcano": ["geo-01"],
            "volcano -iceland": ["geo-03"],
            '"quick brown fox"': ["fox-01"],
            '"brown quick"': ["fox-02"],
            "apple": ["fruit-01", "fruit-02"],
            "body:narwhals": ["misc-01"],
            "narwhal": ["misc-01"],
            "axolotl": ["misc-03"],
            "capybara": ["misc-04"],
            "echidna": ["dup-01"],   # the later dup-01 won
            "platypus": [],          # ... and the earlier one is gone
            "wombat": ["dup-02"],
            "gamma": ["dup-02"],
            "alpha": [],
            "Zürich": ["uni-01"],
            "ZÜRICH": ["uni-01"],
            "zurich": [],
            "東京": ["uni-02"],
            "Αθήνα": ["uni-03"],
            "αθήνα": ["uni-03"],
            "café": ["uni-04"],
            "été": ["uni-06"],
            "marmot": ["uni-06"],
            "москва": ["uni-07"],
            "quokka": ["uni-05"],
            "pangolin": ["ид-ü-01"],
            "nonexistentword": [],
        }
        for q, want in cases.items():
            with self.subTest(q=q):
                doc, got = self.hits(self.ix, q, "-k", "50")
                self.assertEqual(got, want)
                self.assertEqual(doc["total"], len(want))
        with self.subTest(q="+volcano +glaciers"):
            self.assertEqual(sorted(self.ids(self.ix, "+volcano +glaciers")), ["geo-02", "geo-03"])
        with self.subTest(q="red apple"):
            got = self.ids(self.ix, "red apple")
            self.assertEqual(got[0], "fruit-01")
            self.assertEqual(sorted(got), ["fruit-01", "fruit-02", "fruit-03"])
        with self.subTest(q="quick brown fox"):
            got = self.ids(self.ix, "quick brown fox")
            self.assertEqual(got[:2], ["fox-01", "fox-02"])
            self.assertEqual(sorted(got), ["fox-01", "fox-02", "uni-05"])

    def test_json_output(self):
        r = self.ok("search", self.ix, "--json", "-k", "50", "common")
        self.assertEqual(r.out.count("\n"), 1)
        doc = json.loads(r.out)
        self.assertEqual(set(doc), {"total", "took_ms", "hits"})
        self.assertEqual(doc["total"], 10)
        self.assertEqual(len(doc["hits"]), 10)
        self.assertGreaterEqual(doc["took_ms"], 0)
        scores = [h["score"] for h in doc["hits"]]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for h in doc["hits"]:
            self.assertEqual(set(h), {"id", "score", "title", "snippet"})
            self.assertIn(h["id"], FIXTURE_IDS)
            self.assertGreater(h["score"], 0)
        # titles and snippets survive JSON escaping, including non-ASCII text
        doc = json.loads(self.ok("search", self.ix, "--json", "pangolin").out)
        self.assertEqual(doc["hits"][0]["id"], "ид-ü-01")
        self.assertEqual(doc["hits"][0]["title"], "Unicode id")
        self.assertIn("<em>pangolin</em>", doc["hits"][0]["snippet"])
        doc = json.loads(self.ok("search", self.ix, "--json", "marmot").out)
        self.assertIn("<em>marmot</em>", doc["hits"][0]["snippet"])
        doc = json.loads(self.ok("search", self.ix, "--json", "Zürich").out)
        self.assertEqual(doc["hits"][0]["title"], "Zürich")
        # no match: valid JSON with no hits
        doc = json.loads(self.ok("search", self.ix, "--json", "nonexistentword").out)
        self.assertEqual(doc["total"], 0)
        self.assertEqual(doc["hits"], [])

    def test_text_output(self):
        r = self.ok("search", self.ix, "volcano")
        lines = r.out.splitlines()
        self.assertRegex(lines[0], r"^1\. geo-01  \(score \d+\.\d{4}\)  Volcano volcano volcano$")
        self.assertIn("<em>", r.out)  # stdout is not a terminal: HTML-style marks
        self.assertNotIn("\033[", r.out)
        self.assertRegex(lines[-1], r"^3 matching documents; 3 shown; [\d.]+ ms$")
        r = self.ok("search", self.ix, "common", "-k", "2", "--offset", "3")
        self.assertRegex(r.out, r"(?m)^4\. ")
        self.assertRegex(r.out, r"(?m)^5\. ")
        self.assertNotRegex(r.out, r"(?m)^[1236]\. ")
        self.assertRegex(r.out, r"10 matching documents; 2 shown")

    def test_and(self):
        self.assertEqual(len(self.ids(self.ix, "red apple")), 3)
        doc, got = self.hits(self.ix, "red apple", "--and")
        self.assertEqual(got, ["fruit-01"])
        self.assertEqual(doc["total"], 1)
        doc, got = self.hits(self.ix, "red apple bananas", "--and")
        self.assertEqual((doc["total"], got), (0, []))
        # explicit operators still apply with --and
        self.assertEqual(sorted(self.ids(self.ix, "red -apple", "--and")), ["fruit-03"])
        self.assertEqual(sorted(self.ids(self.ix, "red OR bananas", "--and")),
                         ["fruit-01", "fruit-03", "fruit-04"])

    def test_literal(self):
        # operators lose their meaning: quotes, colons, minus, stars, parens
        self.assertEqual(self.ids(self.ix, '"zeppelin', "--literal"), ["air-01"])
        self.assertEqual(self.ids(self.ix, "(zeppelin)", "--literal"), ["air-01"])
        self.assertEqual(self.ids(self.ix, "zeppelin*", "--literal"), ["air-01"])
        self.assertEqual(self.ids(self.ix, "zep*", "--literal"), [])  # no prefix search
        self.assertEqual(self.ids(self.ix, "-zeppelin", "--literal"), ["air-01"])
        self.assertEqual(self.ids(self.ix, "zeppelin\\", "--literal"), ["air-01"])
        # and the typed filters' syntax: ranges, '#', ^=1
        for q in ("[zeppelin", "{zeppelin TO x}", ">zeppelin", "<=zeppelin", "#zeppelin",
                  "(zeppelin)^=1", "_id:zeppelin", "_exists_:zeppelin"):
            with self.subTest(q=q):
                self.assertIn("air-01", self.ids(self.ix, q, "--literal"))
        # a colon is no field separator: no "unknown field" error
        self.ok("search", self.ix, "--literal", "nosuch:zeppelin")
        self.assertEqual(sorted(self.ids(self.ix, "volcano -iceland", "--literal")),
                         ["geo-01", "geo-02", "geo-03"])

    def test_paging(self):
        doc, full = self.hits(self.ix, "common", "-k", "100")
        self.assertEqual(len(full), 10)
        self.assertEqual(len(set(full)), 10)
        for k in (1, 3, 4, 10):
            pages = []
            for off in range(0, 12, k):
                d, got = self.hits(self.ix, "common", "-k", str(k), "--offset", str(off))
                self.assertEqual(d["total"], 10)
                self.assertLessEqual(len(got), k)
                pages += got
            with self.subTest(k=k):
                self.assertEqual(pages, full)
        d, got = self.hits(self.ix, "common", "--offset", "10")
        self.assertEqual((d["total"], got), (10, []))
        d, got = self.hits(self.ix, "common", "--offset", "500")
        self.assertEqual((d["total"], got), (10, []))
        # default k is 10
        d, got = self.hits(self.ix, "common OR volcano OR apple")
        self.assertEqual(len(got), 10)
        self.assertGreater(d["total"], 10)
        # the same query gives the same order every time
        self.assertEqual(self.hits(self.ix, "common", "-k", "100")[1], full)

    def test_get(self):
        for i in FIXTURE_IDS:
            with self.subTest(id=i):
                r = self.ok("get", self.ix, i)
                self.assertEqual(json.loads(r.out)["id"], i)
        self.assertEqual(json.loads(self.ok("get", self.ix, "dup-01").out)["title"],
                         "Second version")
        self.assertEqual(json.loads(self.ok("get", self.ix, "dup-02").out)["title"],
                         "Version three")
        d = json.loads(self.ok("get", self.ix, "misc-03").out)
        self.assertEqual(d["extra"], {"nested": [1, 2, 3]})  # stored as given
        d = json.loads(self.ok("get", self.ix, "uni-06").out)
        self.assertEqual(d["body"][:17], "JSON escapes: été")
        self.assertIn("\t", d["body"])
        for missing in ("nope", "AIR-01", "air-01 ", "x" * 600):
            with self.subTest(id=missing):
                self.fails(EX_NOINPUT, "get", self.ix, missing, msg=["no document"])

    def test_batch_run(self):
        qf = self.path("queries.tsv")
        with open(qf, "w", encoding="utf-8") as f:
            f.write("q1\tzeppelin\n"
                    "q2\tvolcano\n"
                    "\n"
                    "q3\tred apple\n"
                    "q4\t\"unterminated\n"   # bad query: reported, not fatal
                    "no tab here\n"          # malformed line
                    "q5\tnonexistentword\n"
                    "q6\tcommon\r\n"
                    "q7\tZürich\n")
        run = self.path("out.run")
        r = self.ok("search", self.ix, "--queries", qf, "--run", run)
        self.assertRegex(r.err, r"queries\.tsv:5: query q4: column 1: unterminated quote")
        self.assertRegex(r.err, r"queries\.tsv:6: expected qid<TAB>text")
        self.assertRegex(r.err, r"6 queries run, 2 failed")
        byq = {}
        with open(run, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ")
                self.assertEqual(len(parts), 6, line)
                qid, q0, docid, rank, score, tag = parts
                self.assertEqual((q0, tag), ("Q0", "trawl"))
                self.assertIn(docid, FIXTURE_IDS)
                byq.setdefault(qid, []).append((int(rank), float(score), docid))
        self.assertEqual(sorted(byq), ["q1", "q2", "q3", "q6", "q7"])
        for qid, rows in byq.items():
            self.assertEqual([r[0] for r in rows], list(range(1, len(rows) + 1)), qid)
            scores = [r[1] for r in rows]
            self.assertEqual(scores, sorted(scores, reverse=True), qid)
            self.assertEqual(len({r[2] for r in rows}), len(rows), qid)
        self.assertEqual([r[2] for r in byq["q1"]], ["air-01"])
        self.assertEqual([r[2] for r in byq["q2"]], ["geo-01", "geo-02", "geo-03"])
        self.assertEqual([r[2] for r in byq["q7"]], ["uni-01"])
        self.assertEqual(len(byq["q6"]), 10)
        # the run agrees with interactive search
        self.assertEqual([r[2] for r in byq["q6"]], self.ids(self.ix, "common"))
        # -k limits hits per query; --run - writes to standard output
        r = self.ok("search", self.ix, "--queries", qf, "--run", "-", "-k", "2")
        rows = [ln.split(" ") for ln in r.out.splitlines()]
        self.assertEqual(len([x for x in rows if x[0] == "q6"]), 2)
        self.assertEqual([x[2] for x in rows if x[0] == "q2"], ["geo-01", "geo-02"])
        # --and applies in batch mode too
        r = self.ok("search", self.ix, "--queries", qf, "--run", "-", "--and")
        self.assertEqual([x.split(" ")[2] for x in r.out.splitlines() if x.startswith("q3 ")],
                         ["fruit-01"])
        # a missing query file
        self.fails(EX_NOINPUT, "search", self.ix, "--queries", self.path("none.tsv"), "--run",
                   run, msg=["none.tsv"])

    def test_shard_layouts_rank_alike(self):
        one = self.ix
        three = self.path("ix3")
        r = build_fixture(three, "--shards", "3")
        self.assertRegex(r.out, r"indexed 28 documents .* 3 shards")
        out = self.ok("stats", three).out
        self.assertIn("shards: 3\n", out)
        self.assertIn("documents: 28\n", out)
        self.assertEqual(len(glob.glob(os.path.join(three, "gen-000001", "shard-*.mdb"))), 3)
        self.ok("verify", three)
        for q in ("common", "volcano", "red apple", "quick brown fox", "volc*",
                  '"quick brown fox"', "common -volcano", "apple OR common"):
            with self.subTest(q=q):
                a, _ = self.hits(one, q, "-k", "50")
                b, _ = self.hits(three, q, "-k", "50")
                self.assertEqual(a["total"], b["total"])
                self.assertEqual([(h["id"], round(h["score"], 4)) for h in a["hits"]],
                                 [(h["id"], round(h["score"], 4)) for h in b["hits"]])
        for i in FIXTURE_IDS:
            self.assertEqual(self.ok("get", three, i).out, self.ok("get", one, i).out)

    def test_stdin_and_new_generation(self):
        ix = self.path("ix")
        build_fixture(ix)
        with open(FIXTURE, "rb") as f:
            data = f.read()
        extra = json.dumps({"id": "new-01", "body": "a freshly added okapi"}).encode() + b"\n"
        r = self.ok("index", ix, "-", stdin=data + extra)
        self.assertRegex(r.out, r"indexed 29 documents .* generation 2")
        self.assertEqual(current(ix), "gen-000002\n")
        self.assertEqual(self.ids(ix, "okapi"), ["new-01"])
        self.assertIn("generation: 2\n", self.ok("stats", ix).out)
        # several files in one build; the later file's document wins
        f2 = self.path("more.jsonl")
        write_lines(f2, [{"id": "air-01", "title": "Replaced", "body": "dirigible"}])
        r = self.ok("index", ix, FIXTURE, f2)
        self.assertIn("4 duplicates", r.out)
        self.assertEqual(self.ids(ix, "dirigible"), ["air-01"])
        self.assertEqual(self.ids(ix, "zeppelin"), [])
        self.assertEqual(current(ix), "gen-000003\n")
        self.assertEqual(glob.glob(os.path.join(ix, "gen-*.tmp")), [])

    def test_empty_input(self):
        ix = self.path("ix")
        empty = self.path("empty.jsonl")
        with open(empty, "w") as f:
            f.write("\n  \n\t\n")
        r = self.ok("index", ix, empty)
        self.assertRegex(r.out, r"indexed 0 documents")
        self.assertIn("documents: 0\n", self.ok("stats", ix).out)
        self.ok("verify", ix)
        doc, got = self.hits(ix, "anything")
        self.assertEqual((doc["total"], got), (0, []))


# ---------------------------------------------------------------------------
# bad input documents
# ---------------------------------------------------------------------------

GOOD = [{"id": "g1", "title": "Good one", "body": "the baseline word is kestrel"},
        {"id": "g2", "title": "Good two", "body": "another baseline document"}]


class TestBadInput(TrawlCase):
    def setUp(self):
        super().setUp()
        self.ix = self.path("ix")
        base = self.path("base.jsonl")
        write_lines(base, GOOD)
        self.ok("index", self.ix, base)
        self.gens = gen_dirs(self.ix)

    def assertNothingPublished(self):
        self.assertEqual(current(self.ix), "gen-000001\n")
        self.assertEqual(gen_dirs(self.ix), self.gens)
        self.assertEqual(self.ids(self.ix, "kestrel"), ["g1"])
        self.assertIn("generation: 1\n", self.ok("stats", self.ix).out)

    # Each case: the bad line (raw), the regexes its message must match, and
    # the 1-based character columns between which a reported column must lie
    # (None: the message has no column).
    CASES = {
        "malformed_json": (b'{"id": "b1", "body": oops}', [r"invalid token 'o'"], (22, 25)),
        "truncated_json": (b'{"id": "b1", "body": "unterminated', [], (21, 35)),
        "trailing_garbage": (b'{"id": "b1"} trailing', [r"text after the end of the object"], (13, 22)),
        "not_an_object": (b'[1, 2, 3]', [r"must be a JSON object"], (1, 1)),
        "scalar": (b'"just a string"', [], (1, 16)),
        "duplicate_key": (b'{"id": "b1", "id": "b2"}', [r"duplicate"], (13, 19)),
        "missing_id": (b'{"title": "no id here", "body": "x"}', [r'"id" is missing'], None),
        "numeric_id": (b'{"id": 42, "body": "x"}', [r'"id" must be a string'], None),
        "null_id": (b'{"id": null}', [r'"id" must be a string'], None),
        "array_id": (b'{"id": ["a"]}', [r'"id" must be a string'], None),
        "empty_id": (b'{"id": ""}', [r'"id" must be a string of 1 to 512 bytes'], None),
        "long_id": (b'{"id": "' + b"x" * 513 + b'"}', [r'"id" must be a string of 1 to 512'],
                    None),
        "nul_in_id": (b'{"id": "a\\u0000b"}', [], (8, 19)),
        "invalid_utf8": (b'{"id": "b1", "body": "caf\xe9 au lait"}', [r"0xe9"], (24, 26)),
        "invalid_utf8_after_multibyte": (b'{"id": "b1", "body": "\xc3\xa9\xc3\xa9\xff"}',
                                         [r"0xff"], (24, 26)),
        "overlong_utf8": (b'{"id": "b1", "body": "\xc0\xaf"}', [r"0xc0"], (21, 23)),
        "surrogate_utf8": (b'{"id": "b1", "body": "\xed\xa0\x80"}', [r"0xed"], (21, 23)),
        "invalid_utf8_in_key": (b'{"id": "b1", "\xfe": "x"}', [r"0xfe"], (13, 15)),
        "lone_surrogate_escape": (b'{"id": "b1", "body": "\\ud800"}', [r"(?i)\\ud800"],
                                  (21, 30)),
        "body_number": (b'{"id": "b1", "body": 123}', [r'field "body" must be a string'], None),
        "body_object": (b'{"id": "b1", "body": {"a": "b"}}', [r'field "body"'], None),
        "body_bool": (b'{"id": "b1", "body": true}', [r'field "body"'], None),
        "title_array_of_numbers": (b'{"id": "b1", "title": ["ok", 2]}',
                                   [r'field "title" must be a string or an array of strings'],
                                   None),
    }

    def check_bad(self, name, bad, msgs, cols, line_no=3):
        f = self.path(name + ".jsonl")
        lines = [GOOD[0], GOOD[1], bad, {"id": "after", "body": "never indexed"}]
        if line_no == 4:
            lines.insert(1, "")  # blank lines count in line numbers
        write_lines(f, lines)
        r = self.fails(EX_DATAERR, "index", self.ix, f, msg=msgs + ["nothing was published"])
        m = re.search(re.escape(f) + r":(\d+)(?::(\d+))?: ", r.err)
        self.assertTrue(m, "message does not name file:line: %r" % r)
        self.assertEqual(int(m.group(1)), line_no, repr(r))
        if cols is None:
            self.assertIsNone(m.group(2), repr(r))
        else:
            self.assertIsNotNone(m.group(2), "no column: %r" % r)
            self.assertTrue(cols[0] <= int(m.group(2)) <= cols[1],
                            "column %s not in %s: %r" % (m.group(2), cols, r))
        self.assertNothingPublished()

    def test_bad_lines(self):
        for name, (bad, msgs, cols) in self.CASES.items():
            with self.subTest(case=name):
                self.check_bad(name, bad, msgs, cols)

    def test_line_numbers_count_blank_lines(self):
        self.check_bad("blank_before", b'{"id": 7}', [r'"id"'], None, line_no=4)

    def test_crlf_line_endings(self):
        f = self.path("crlf.jsonl")
        with open(f, "wb") as fh:
            fh.write(b'{"id": "c1", "body": "windows lines"}\r\n{"id": "c2"}\r\n')
        self.ok("index", self.ix, f)
        self.assertEqual(self.ids(self.ix, "windows"), ["c1"])
        with open(f, "wb") as fh:
            fh.write(b'{"id": "c1", "body": "windows lines"}\r\n{"id": 3}\r\n')
        r = self.fails(EX_DATAERR, "index", self.ix, f)
        self.assertIn(f + ":2:", r.err)
        self.assertEqual(current(self.ix), "gen-000002\n")

    def test_document_over_size_limit(self):
        f = self.path("big.jsonl")
        body = "word " * 230000  # > 1 MiB
        write_lines(f, [GOOD[0], {"id": "big", "body": body}, GOOD[1]])
        size = len(json.dumps({"id": "big", "body": body}))
        r = self.fails(EX_DATAERR, "index", self.ix, f,
                       msg=[re.escape(f) + r":2: ", r"%d bytes" % size, r"limit is 1048576"])
        self.assertNothingPublished()
        # exactly at the limit is fine
        pad = 1048576 - len(json.dumps({"id": "edge", "body": ""}))
        write_lines(f, [{"id": "edge", "body": "y" * pad}, GOOD[0]])
        self.ok("index", self.ix, f)
        self.assertIn("documents: 2\n", self.ok("stats", self.ix).out)

    def test_line_over_buffer(self):
        # A line longer than the read buffer (4 MiB) takes another path.
        f = self.path("huge.jsonl")
        write_lines(f, [GOOD[0], {"id": "huge", "body": "z" * (5 << 20)}, GOOD[1]])
        self.fails(EX_DATAERR, "index", self.ix, f,
                   msg=[re.escape(f) + r":2: ", r"1048576", "nothing was published"])
        self.assertNothingPublished()
        r = self.ok("index", self.ix, f, "--skip-bad")
        self.assertIn("documents: 2\n", self.ok("stats", self.ix).out)
        self.assertRegex(r.err, r"skipped: " + re.escape(f) + r":2: ")
        self.assertIn("lines: 3 read, 1 rejected", r.out)

    def test_missing_input_file(self):
        missing = self.path("no-such-file.jsonl")
        r = self.fails(EX_NOINPUT, "index", self.ix, missing,
                       msg=[re.escape(missing), "No such file"])
        self.assertNothingPublished()
        # a missing file after a good one publishes nothing either
        good = self.path("good.jsonl")
        write_lines(good, [{"id": "n1", "body": "x"}])
        self.fails(EX_NOINPUT, "index", self.ix, good, missing)
        self.assertNothingPublished()

    def test_bad_schema(self):
        data = self.path("d.jsonl")
        write_lines(data, GOOD)
        for name, text in (("missing", None), ("garbage", "{not json"),
                           ("wrong", '{"fields": 3}')):
            with self.subTest(schema=name):
                sp = self.path("schema-%s.json" % name)
                if text is not None:
                    with open(sp, "w") as f:
                        f.write(text)
                r = trawl("index", self.ix, data, "--schema", sp)
                self.assertClean(r)
                self.assertIn(r.rc, (66,) if text is None else (78,), repr(r))
                self.assertIn(sp, r.err)
                self.assertNothingPublished()

    def test_skip_bad(self):
        f = self.path("mixed.jsonl")
        lines = [{"id": "s1", "body": "first sparrow"}]
        expect_lines = []
        for name, (bad, _msgs, _cols) in self.CASES.items():
            lines.append(bad)
            expect_lines.append(len(lines))
            lines.append({"id": "ok-" + name, "body": "sparrow " + name.replace("_", " ")})
        lines.append({"id": "s1", "body": "second sparrow replaces the first"})
        lines.append({"id": "big", "body": "word " * 230000})
        expect_lines.append(len(lines))
        lines.append({"id": "s2", "body": "last sparrow"})
        write_lines(f, lines)
        r = self.ok("index", self.ix, f, "--skip-bad")
        nbad = len(expect_lines)
        ngood = len(lines) - nbad
        self.assertIn("lines: %d read, %d rejected; 1 duplicates" % (len(lines), nbad), r.out)
        self.assertRegex(r.out, r"indexed %d documents .* generation 2" % (ngood - 1))
        skipped = [ln for ln in r.err.splitlines() if "skipped:" in ln]
        self.assertEqual(len(skipped), nbad, r.err)
        for ln, want in zip(skipped, expect_lines):
            self.assertRegex(ln, r"^trawl: skipped: " + re.escape(f) + r":%d(:\d+)?: \S" % want)
        self.assertEqual(current(self.ix), "gen-000002\n")
        self.assertEqual(len(self.ids(self.ix, "sparrow")), ngood - 1)
        self.assertEqual(json.loads(self.ok("get", self.ix, "s1").out)["body"],
                         "second sparrow replaces the first")
        self.assertEqual(self.ids(self.ix, "kestrel"), [])  # a new generation replaced it
        self.ok("verify", self.ix)
        # skip-bad with nothing good still publishes an (empty) generation
        allbad = self.path("allbad.jsonl")
        write_lines(allbad, [b"{", b"[]", b'{"id": 1}'])
        r = self.ok("index", self.ix, allbad, "--skip-bad")
        self.assertIn("lines: 3 read, 3 rejected", r.out)
        self.assertIn("documents: 0\n", self.ok("stats", self.ix).out)

    def test_id_length_limits(self):
        # ids of 1 to 512 bytes are documents like any other
        ids = ["a", "b" * 511, "c" * 512, "é" * 256, "東" * 170 + "xy"]
        self.assertEqual([len(i.encode()) for i in ids], [1, 511, 512, 512, 512])
        f = self.path("ids.jsonl")
        write_lines(f, [{"id": i, "body": "identifier length %d" % len(i)} for i in ids])
        r = self.ok("index", self.ix, f)
        self.assertRegex(r.out, r"indexed 5 documents")
        for i in ids:
            self.assertEqual(json.loads(self.ok("get", self.ix, i).out)["id"], i)
        self.assertEqual(sorted(self.ids(self.ix, "identifier")), sorted(ids))
        self.ok("verify", self.ix)
        write_lines(f, [{"id": "d" * 513, "body": "x"}])
        self.fails(EX_DATAERR, "index", self.ix, f, msg=[re.escape(f) + r":1: ", "512 bytes"])

    def test_duplicates(self):
        f = self.path("dups.jsonl")
        write_lines(f, [{"id": "d", "body": "version one heron"},
                        {"id": "e", "body": "unrelated"},
                        {"id": "d", "body": "version two egret"},
                        {"id": "d", "body": "version three ibis"},
                        {"id": "e", "body": "unrelated again"}])
        r = self.ok("index", self.ix, f)
        self.assertIn("3 duplicates replaced", r.out)
        self.assertRegex(r.out, r"indexed 2 documents")
        self.assertEqual(json.loads(self.ok("get", self.ix, "d").out)["body"],
                         "version three ibis")
        self.assertEqual(self.ids(self.ix, "ibis"), ["d"])
        self.assertEqual(self.ids(self.ix, "heron OR egret"), [])
        self.assertEqual(self.ids(self.ix, "version"), ["d"])


# ---------------------------------------------------------------------------
# a build killed half-way
# ---------------------------------------------------------------------------

def write_big_corpus(path, ndocs, seed=1):
    r = random.Random(seed)
    words = ["w%x" % i for i in range(30000)]
    with open(path, "w") as f:
        for i in range(ndocs):
            f.write('{"id":"big-%d","title":"%s","body":"%s"}\n' % (
                i, " ".join(r.choices(words, k=4)), " ".join(r.choices(words, k=40))))


class TestInterruptedBuild(TrawlCase):
    def test_kill_mid_build(self):
        ix = self.path("ix")
        build_fixture(ix)
        big = self.path("big.jsonl")
        ndocs = 60000
        write_big_corpus(big, ndocs)
        caught_tmp = 0
        killed = 0
        attempts = 0
        # first: kill while the temporary generation is being written, as
        # soon as it appears and a little later; then at plain delays
        plans = [("tmp", 0.0), ("tmp", 0.05), ("tmp", 0.15), ("delay", 0.05), ("delay", 0.3)]
        while plans and attempts < 12:
            kind, wait = plans[0]
            attempts += 1
            live = current(ix)
            p = subprocess.Popen([TRAWL, "index", ix, big], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            t0 = time.monotonic()
            if kind == "tmp":
                while p.poll() is None and not glob.glob(os.path.join(ix, "gen-*.tmp")):
                    if time.monotonic() - t0 > 120:
                        break
                    time.sleep(0.001)
            time.sleep(wait)
            finished = p.poll() is not None
            if not finished:
                p.send_signal(signal.SIGKILL)
            rc = p.wait()
            if finished or rc == 0:  # it may finish between the poll and the kill
                # too fast: the build completed (killed attempts leave their
                # finished work items, which a rerun reuses); make the input
                # larger, bring back the small generation, and retry
                self.assertEqual(rc, 0)
                ndocs *= 2
                write_big_corpus(big, ndocs)
                self.ok("index", ix, FIXTURE)
                continue
            self.assertEqual(rc, -signal.SIGKILL)
            plans.pop(0)
            killed += 1
            leftovers = glob.glob(os.path.join(ix, "gen-*.tmp"))
            caught_tmp += bool(leftovers)
            now = current(ix)
            # the kill may (rarely) land after the atomic publish; either way
            # the live generation must be complete and searchable
            if now == live:
                self.assertEqual(self.ids(ix, "zeppelin"), ["air-01"])
                self.assertIn("documents: 28\n", self.ok("stats", ix).out)
                self.assertTrue(self.ok("get", ix, "dup-01").out)
            else:
                self.assertNotIn(".tmp", now)
            self.ok("verify", ix)
            if now != live:
                # the big corpus is live now: bring back the small
                # generation, which the next attempt checks against
                self.ok("index", ix, FIXTURE)
        self.assertFalse(plans, "could not kill the build mid-way in %d attempts" % attempts)
        self.assertGreater(caught_tmp, 0, "never caught a leftover gen-*.tmp")
        # a later build succeeds and removes the leftovers
        before = current(ix)
        r = self.ok("index", ix, FIXTURE)
        self.assertEqual(glob.glob(os.path.join(ix, "gen-*.tmp")), [])
        self.assertNotEqual(current(ix), before)
        self.assertRegex(r.out, r"generation %d:" % int(current(ix)[4:]))
        self.assertEqual(self.ids(ix, "zeppelin"), ["air-01"])
        self.ok("verify", ix)
        self.assertFalse(os.path.exists(os.path.join(ix, "CURRENT.tmp")))

    def test_concurrent_build_is_refused(self):
        ix = self.path("ix")
        build_fixture(ix)
        big = self.path("big.jsonl")
        write_big_corpus(big, 60000)
        p = subprocess.Popen([TRAWL, "index", ix, big], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.05)
            if p.poll() is None:
                r = trawl("index", ix, FIXTURE)
                self.assertClean(r)
                if p.poll() is None:
                    self.assertNotEqual(r.rc, 0, repr(r))
                    self.assertIn("another build", r.err)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.ok("search", ix, "zeppelin")


# ---------------------------------------------------------------------------
# damaged index files
# ---------------------------------------------------------------------------

class TestDamage(TrawlCase):
    @classmethod
    def setUpClass(cls):
        cls._ctmp = tempfile.TemporaryDirectory(prefix="trawl-damage-")
        cls.template = os.path.join(cls._ctmp.name, "ix")
        build_fixture(cls.template)
        cls.template3 = os.path.join(cls._ctmp.name, "ix3")
        build_fixture(cls.template3, "--shards", "3")

    @classmethod
    def tearDownClass(cls):
        cls._ctmp.cleanup()

    def fresh(self, template=None):
        ix = self.path("ix-%d" % len(os.listdir(self.tmp)))
        shutil.copytree(template or self.template, ix)
        return ix

    def manifest(self, ix):
        return json.load(open(os.path.join(ix, "gen-000001", "MANIFEST.json")))

    COMMANDS = (["search", "{ix}", "zeppelin"], ["search", "{ix}", "--json", "common"],
                ["stats", "{ix}"], ["verify", "{ix}"], ["get", "{ix}", "air-01"],
                ["search", "{ix}", "--queries", "{q}", "--run", "{run}"])

    def all_fail(self, ix, msgs, code=EX_DATAERR):
        qf = self.path("q.tsv")
        with open(qf, "w") as f:
            f.write("q1\tzeppelin\n")
        run = self.path("damaged.run")
        for cmd in self.COMMANDS:
            args = [a.format(ix=ix, q=qf, run=run) for a in cmd]
            with self.subTest(cmd=args[0], args=args[1:]):
                r = self.fails(code, *args, msg=msgs)
                self.assertEqual(r.out, "")
        self.assertFalse(os.path.exists(run))

    def test_flipped_bytes(self):
        shard = os.path.join("gen-000001", "shard-000.mdb")
        size = os.path.getsize(os.path.join(self.template, shard))
        rnd = random.Random(42)
        offsets = sorted({0, 1, 16, 4095, 4096, size // 2, size - 2, size - 1} |
                         {rnd.randrange(size) for _ in range(4)})
        for off in offsets:
            with self.subTest(offset=off):
                ix = self.fresh()
                path = os.path.join(ix, shard)
                expected = self.manifest(ix)["files"][0]["xxh3_128"]
                with open(path, "r+b") as f:
                    f.seek(off)
                    b = f.read(1)[0]
                    f.seek(off)
                    f.write(bytes([b ^ (1 << (off % 8))]))
                self.all_fail(ix, [re.escape(path), r"checksum mismatch",
                                   r"expected xxh3-128 %s, actual (?!%s)[0-9a-f]{32}" % (
                                       expected, expected)])
                with open(path, "r+b") as f:  # put it back: all is well again
                    f.seek(off)
                    f.write(bytes([b]))
                self.ok("verify", ix)
                self.assertEqual(self.ids(ix, "zeppelin"), ["air-01"])

    def test_flipped_byte_in_one_of_three_shards(self):
        for s in range(3):
            with self.subTest(shard=s):
                ix = self.fresh(self.template3)
                path = os.path.join(ix, "gen-000001", "shard-%03d.mdb" % s)
                expected = self.manifest(ix)["files"][s]["xxh3_128"]
                with open(path, "r+b") as f:
                    f.seek(100)
                    b = f.read(1)[0]
                    f.seek(100)
                    f.write(bytes([b ^ 0x40]))
                self.all_fail(ix, [re.escape(path), r"expected xxh3-128 %s, actual" % expected])

    def test_truncated_and_extended(self):
        shard = os.path.join("gen-000001", "shard-000.mdb")
        size = os.path.getsize(os.path.join(self.template, shard))
        for new_size in (0, 1, 4096, size // 2, size - 1, size + 1, size + 4096):
            with self.subTest(size=new_size):
                ix = self.fresh()
                path = os.path.join(ix, shard)
                with open(path, "r+b") as f:
                    f.truncate(new_size)
                self.all_fail(ix, [re.escape(path),
                                   r"size %d bytes, the manifest expects %d" % (new_size, size)])

    def test_deleted_or_replaced_shard(self):
        ix = self.fresh()
        path = os.path.join(ix, "gen-000001", "shard-000.mdb")
        os.unlink(path)
        self.all_fail(ix, [re.escape(path), "missing"])
        ix = self.fresh()
        path = os.path.join(ix, "gen-000001", "shard-000.mdb")
        os.unlink(path)
        os.mkdir(path)  # a directory where the file should be
        for cmd in (["search", ix, "zeppelin"], ["verify", ix], ["stats", ix]):
            r = trawl(*cmd)
            self.assertClean(r)
            self.assertIn(r.rc, (EX_DATAERR, 74), repr(r))
            self.assertIn(path, r.err)
        # a shard of another generation with the same size
        ix = self.fresh()
        other = self.path("other")
        build_fixture(other)
        a = os.path.join(ix, "gen-000001", "shard-000.mdb")
        b = os.path.join(other, "gen-000001", "shard-000.mdb")
        if os.path.getsize(a) == os.path.getsize(b) and open(a, "rb").read() != open(b, "rb").read():
            shutil.copy(b, a)
            self.all_fail(ix, [re.escape(a), "checksum mismatch"])

    def sum_path(self, ix):
        return os.path.join(ix, "gen-000001", "MANIFEST.xxh3")

    def test_edited_manifest(self):
        # finding 7: an edited k1 changed the rankings and passed verify
        ix = self.fresh()
        mp = os.path.join(ix, "gen-000001", "MANIFEST.json")
        with open(mp, "rb") as f:
            orig = f.read()
        with open(self.sum_path(ix)) as f:
            expected = f.read().strip()
        edited = orig.replace(b'"k1": 0.9', b'"k1": 3.0', 1)
        self.assertNotEqual(edited, orig)
        with open(mp, "wb") as f:
            f.write(edited)
        self.all_fail(ix, [re.escape(mp) + r": checksum mismatch",
                           r"expected xxh3-128 %s, actual (?!%s)[0-9a-f]{32}" % (expected, expected)])
        with open(mp, "wb") as f:  # put it back: all is well again
            f.write(orig)
        self.ok("verify", ix)

    def test_manifest_without_sum(self):
        # a generation written before MANIFEST.xxh3 existed: opened, verify warns
        ix = self.fresh()
        sp = self.sum_path(ix)
        digest = self.ok("verify", ix).out
        os.unlink(sp)
        self.assertEqual(self.ids(ix, "zeppelin"), ["air-01"])
        self.ok("stats", ix)
        self.ok("get", ix, "air-01")
        r = self.ok("verify", ix)
        self.assertEqual(r.out, digest)
        self.assertRegex(r.err, r"\Atrawl: warning: %s is missing, so MANIFEST\.json is covered "
                         r"by no checksum.*\n\Z" % re.escape(sp))
        # which is why it matters: unchecked, an edited k1 is believed
        before = self.hits(ix, "common")[0]["hits"]
        mp = os.path.join(ix, "gen-000001", "MANIFEST.json")
        with open(mp, "rb") as f:
            text = f.read()
        with open(mp, "wb") as f:
            f.write(text.replace(b'"k1": 0.9', b'"k1": 3.0'))
        self.assertNotEqual(self.hits(ix, "common")[0]["hits"], before)
        self.assertIn("warning", self.ok("verify", ix).err)

    def test_malformed_manifest_sum(self):
        with open(self.sum_path(self.template), "rb") as f:
            good = f.read()
        for name, text in (("empty", b""), ("no_newline", good[:32]),
                           ("upper_case", good.upper()), ("short", good[1:]),
                           ("long", good[:32] + b"0\n"), ("crlf", good[:32] + b"\r\n"),
                           ("two_lines", good + good), ("spaces", b" " + good[:31] + b"\n"),
                           ("not_hex", b"g" * 32 + b"\n"), ("nul", b"\x00" * 33)):
            with self.subTest(case=name):
                ix = self.fresh()
                with open(self.sum_path(ix), "wb") as f:
                    f.write(text)
                self.all_fail(ix, [re.escape(self.sum_path(ix)) + r": malformed"])
        with self.subTest(case="directory"):
            ix = self.fresh()
            os.unlink(self.sum_path(ix))
            os.mkdir(self.sum_path(ix))
            r = self.fails(74, "verify", ix, msg=[re.escape(self.sum_path(ix))])
            self.assertEqual(r.out, "")

    def test_corrupt_manifest(self):
        # Edits the parser must refuse. MANIFEST.xxh3 is removed, as if an
        # older trawl had written the generation: with it, every edit would
        # be a checksum mismatch (test_edited_manifest) and the parser would
        # never see the edit.
        def edit(fn):
            ix = self.fresh()
            mp = os.path.join(ix, "gen-000001", "MANIFEST.json")
            with open(mp) as f:
                text = f.read()
            with open(mp, "w") as f:
                f.write(fn(text))
            os.unlink(self.sum_path(ix))
            return ix, mp

        def setkey(path, value):
            def fn(text):
                m = json.loads(text)
                o = m
                for k in path[:-1]:
                    o = o[k]
                if value is KeyError:
                    del o[path[-1]]
                else:
                    o[path[-1]] = value
                return json.dumps(m)
            return fn

        cases = {
            "truncated": lambda t: t[: len(t) // 2],
            "empty": lambda t: "",
            "garbage": lambda t: "\x00\x01garbage\xff",
            "not_object": lambda t: "[1, 2, 3]",
            "flipped_brace": lambda t: t.replace("{", "[", 1),
            "no_files": setkey(["files"], KeyError),
            "files_not_array": setkey(["files"], {"a": 1}),
            "shards_mismatch": setkey(["shards"], 2),
            "shards_zero": setkey(["shards"], 0),
            "shards_huge": setkey(["shards"], 100000),
            "format_string": setkey(["format"], "1"),
            "file_traversal": setkey(["files", 0, "file"], "../../CURRENT"),
            "file_hidden": setkey(["files", 0, "file"], ".lock"),
            "file_absolute": setkey(["files", 0, "file"], "/etc/passwd"),
            "file_long": setkey(["files", 0, "file"], "s" * 300),
            "hash_short": setkey(["files", 0, "xxh3_128"], "abc"),
            "hash_number": setkey(["files", 0, "xxh3_128"], 12),
            "no_schema": setkey(["schema"], KeyError),
            "schema_bad": setkey(["schema"], {"fields": 7}),
        }
        for name, fn in cases.items():
            with self.subTest(case=name):
                ix, mp = edit(fn)
                self.all_fail(ix, [r"MANIFEST\.json"])
        with self.subTest(case="wrong_checksum"):
            ix, mp = edit(setkey(["files", 0, "xxh3_128"], "0" * 32))
            self.all_fail(ix, [r"shard-000\.mdb", r"expected xxh3-128 0{32}, actual"])
        with self.subTest(case="wrong_size"):
            ix, mp = edit(setkey(["files", 0, "bytes"], 12345))
            self.all_fail(ix, [r"shard-000\.mdb", r"the manifest expects 12345"])
        with self.subTest(case="unknown_format"):
            ix, mp = edit(setkey(["format"], 99))
            self.all_fail(ix, [r"MANIFEST\.json", r"format 99"])

    def test_corrupt_current(self):
        for name, text in (("garbage", b"garbage\n"), ("empty", b""), ("nul", b"\x00" * 8),
                           ("tmp_generation", b"gen-000001.tmp\n"), ("number", b"1\n"),
                           ("binary", bytes(range(256))), ("no_digits", b"gen-\n"),
                           ("traversal", b"gen-000001/../../x\n")):
            with self.subTest(case=name):
                ix = self.fresh()
                with open(os.path.join(ix, "CURRENT"), "wb") as f:
                    f.write(text)
                self.all_fail(ix, [r"CURRENT", r"does not name a generation"])
        with self.subTest(case="missing_generation"):
            # CURRENT names a generation that is not there: a damaged index
            ix = self.fresh()
            with open(os.path.join(ix, "CURRENT"), "w") as f:
                f.write("gen-000007\n")
            self.all_fail(ix, [r"gen-000007"])
        with self.subTest(case="deleted"):
            ix = self.fresh()
            os.unlink(os.path.join(ix, "CURRENT"))
            self.all_fail(ix, [r"no index here"], code=EX_NOINPUT)
        with self.subTest(case="no_newline"):
            ix = self.fresh()
            with open(os.path.join(ix, "CURRENT"), "w") as f:
                f.write("gen-000001")
            self.ok("verify", ix)

    def test_damaged_index_can_be_rebuilt(self):
        ix = self.fresh()
        path = os.path.join(ix, "gen-000001", "shard-000.mdb")
        with open(path, "r+b") as f:
            f.seek(10)
            f.write(b"\xff\xff")
        self.fails(EX_DATAERR, "search", ix, "zeppelin")
        r = self.ok("index", ix, FIXTURE)
        self.assertIn("generation 2", r.out)
        self.assertEqual(self.ids(ix, "zeppelin"), ["air-01"])
        self.ok("verify", ix)


# ---------------------------------------------------------------------------
# typed fields (keyword, long, double, date, boolean)
# ---------------------------------------------------------------------------

class TestTypedFields(TrawlCase):
    """The schema's typed fields: the schemas shipped in data/ fit their
    corpora whole; a bad value is an error naming the file, line, column,
    field, type and value (or is skipped with --skip-bad); a typed field is
    not taken for a text field in a query."""

    SCHEMA = {"fields": {"title": {"fields": {"raw": {"type": "keyword", "ignore_above": 8}}},
                         "n": {"type": "long"}, "x": {"type": "double"},
                         "when": {"type": "date"}, "ok": {"type": "boolean"},
                         "tags": {"type": "keyword", "normalizer": "lowercase"}}}

    def test_shipped_schemas_fit_their_corpora(self):
        for corpus, docs, doc_id, query in (
                ("debian-packages", 63436, "curl", "transfer url"),
                ("curl-commits", 39490, "5c61e168698a72b87437d58ed728bcdea6d5db42", "http2")):
            ix = self.path(corpus)
            data = os.path.join(ROOT, "data", corpus)
            r = self.ok("index", ix, os.path.join(data, "docs.jsonl.zst"), "--schema",
                        os.path.join(data, "schema.json"), timeout=600)
            self.assertIn("lines: %d read, 0 rejected" % docs, r.out)
            stats = self.ok("stats", ix).out
            self.assertIn("documents: %d\n" % docs, stats)
            schema = json.loads(re.search(r"^schema: (.*)$", stats, re.M).group(1))
            with open(os.path.join(data, "schema.json")) as f:
                given = json.load(f)["fields"]
            for name, spec in given.items():
                self.assertEqual(schema["fields"][name]["type"], spec["type"], name)
            doc = json.loads(self.ok("get", ix, doc_id).out)
            self.assertEqual(doc["id"], doc_id)
            self.assertTrue(self.ids(ix, query), query)

    def write_schema(self):
        sp = self.path("schema.json")
        with open(sp, "w") as f:
            json.dump(self.SCHEMA, f)
        return sp

    # a bad document: (its line, the message's pattern)
    BAD = [
        ({"id": "b1", "n": "many"}, r'field "n" \(long\): "many" is not a long'),
        ({"id": "b2", "n": 1.5}, r'field "n" \(long\): 1\.5 is not a long'),
        ({"id": "b3", "n": 9223372036854775808}, r'field "n" \(long\): 9223372036854775808 is'),
        ({"id": "b4", "x": "1,5"}, r'field "x" \(double\): "1,5" is not a double'),
        ({"id": "b5", "when": "2023-02-29"}, r'field "when" \(date\): "2023-02-29" is not a date'),
        ({"id": "b6", "when": "yesterday"}, r'field "when" \(date\): "yesterday" is not'),
        ({"id": "b7", "ok": "yes"}, r'field "ok" \(boolean\): "yes" is not a boolean'),
        ({"id": "b8", "tags": ["a", {"b": 1}]}, r'field "tags" \(keyword\): \{"b": 1\} is not'),
        ({"id": "b9", "tags": ["a", "k" * 1025]}, r'field "tags" \(keyword\): a keyword of 1025 '
                                                  r'bytes; the limit is 1024'),
        ({"id": "b10", "n": list(range(1025))}, r'field "n" \(long\): more than 1024 values'),
    ]
    # where the column points in the line of BAD[i]: the value, or the element in error
    AT = {"b8": '{"b": 1}', "b9": '"kkk', "b10": ' 1024]'}

    def test_bad_values_name_file_line_column_field_and_value(self):
        sp = self.write_schema()
        for bad, pattern in self.BAD:
            f = self.path("bad.jsonl")
            write_lines(f, [{"id": "g", "title": "good", "n": 1}, bad])
            key = [k for k in bad if k != "id"][0]
            text = json.dumps(bad, ensure_ascii=False)
            col = text.index('"%s": ' % key) + len(key) + 4 + 1
            at = self.AT.get(bad["id"])
            if at:
                col = text.index(at) + (at[0] == " ") + 1
            self.fails(65, "index", self.path("ix"), f, "--schema", sp,
                       msg=[re.escape(f) + r":2:%d: " % col + pattern])
            self.assertFalse(os.path.exists(self.path("ix", "CURRENT")))

    def test_skip_bad_counts_bad_values(self):
        sp = self.write_schema()
        f = self.path("mixed.jsonl")
        lines = [{"id": "g1", "title": "first good", "n": "7", "x": 2, "when": 1700000000000,
                  "ok": "true", "tags": ["A", ["b", None]]}]
        for bad, _ in self.BAD:
            lines.append(bad)
        lines.append({"id": "g2", "title": "second good and a long title",
                      "when": "2024-01-31T12:00:00+02:00", "ok": False, "tags": None})
        write_lines(f, lines)
        ix = self.path("ix")
        r = self.ok("index", ix, f, "--schema", sp, "--skip-bad")
        self.assertIn("lines: %d read, %d rejected" % (len(lines), len(self.BAD)), r.out)
        skipped = [ln for ln in r.err.splitlines() if "skipped:" in ln]
        self.assertEqual(len(skipped), len(self.BAD), r.err)
        for ln, (_, pattern) in zip(skipped, self.BAD):
            self.assertRegex(ln, pattern)
        self.assertEqual(sorted(self.ids(ix, "good")), ["g1", "g2"])
        # the stored document is the document as given
        self.assertEqual(json.loads(self.ok("get", ix, "g1").out), lines[0])

    def test_typed_fields_are_searched_by_value(self):
        sp = self.write_schema()
        f = self.path("docs.jsonl")
        write_lines(f, [{"id": "g", "title": "Good Day", "n": 1},
                        {"id": "h", "title": "good", "n": [2, 3]},
                        {"id": "i", "title": "bad"}])
        ix = self.path("ix")
        self.ok("index", ix, f, "--schema", sp)
        def ids(q):
            r = self.ok("search", ix, q, "--json")
            return sorted(h["id"] for h in json.loads(r.out)["hits"])
        self.assertEqual(ids("n:1"), ["g"])
        self.assertEqual(ids("n:3"), ["h"])
        self.assertEqual(ids("title.raw:\"Good Day\""), ["g"])
        self.assertEqual(ids("title.raw:good"), ["h"])
        self.fails(65, "search", ix, "n:x", msg=[r'column 1: field "n" \(long\): "x" is not a long'])
        self.fails(65, "search", ix, "n:abc*", msg=[r'a prefix on field "n", a long'])


    def test_search_after_dates_near_the_epoch(self):
        # a date's sort value is its milliseconds: 1000 must not read as the year 1000
        sp = self.write_schema()
        f = self.path("docs.jsonl")
        write_lines(f, [{"id": "a", "when": 0}, {"id": "b", "when": 1000},
                        {"id": "c", "when": 5000}, {"id": "d"}])
        ix = self.path("ix")
        self.ok("index", ix, f, "--schema", sp)
        seen, after = [], []
        for _ in range(4):
            r = self.ok("search", ix, "--sort", "when", "-k", "1", "--json", *after, "--", "*:*")
            hits = json.loads(r.out)["hits"]
            seen.append(hits[0]["id"])
            after = ["--after", json.dumps(hits[0]["sort"])]
        self.assertEqual(seen, ["a", "b", "c", "d"])

    def test_monthly_histogram_over_centuries(self):
        # a monthly histogram keeps its counts in a table of 1024 spans of
        # 2^31 ms (about 70 years): dates further apart share an entry, and
        # a bucket that leaves it must keep its count
        sp = self.write_schema()
        f = self.path("docs.jsonl")
        rnd = random.Random(17)
        docs, want = [], {}
        for i in range(400):
            y, m = rnd.choice([1700, 1771, 1842, 1913, 1984, 2055, 2126]) + rnd.randrange(3), \
                rnd.randrange(1, 13)
            dates = sorted({"%04d-%02d-%02dT%02d:00:00Z" % (y, m, rnd.randrange(1, 29),
                                                         rnd.randrange(24))
                            for _ in range(rnd.randrange(1, 3))})
            docs.append({"id": "d%d" % i, "title": "x", "when": dates})
            want["%04d-%02d" % (y, m)] = want.get("%04d-%02d" % (y, m), 0) + 1
        write_lines(f, docs)
        ix = self.path("ix")
        self.ok("index", ix, f, "--schema", sp, "--shards", "2")
        aggs = self.path("aggs.json")
        with open(aggs, "w") as fh:
            json.dump({"m": {"date_histogram": {"field": "when", "calendar_interval": "month",
                                                "min_doc_count": 1}}}, fh)
        r = self.ok("search", ix, "--json", "--aggs", aggs, "--", "*:*")
        got = {b["key_as_string"][:7]: b["doc_count"]
               for b in json.loads(r.out)["aggregations"]["m"]["buckets"]}
        self.assertEqual(got, want)

    def test_fixed_width_date_histograms_to_the_ends_of_time(self):
        # days, weeks and fixed intervals count by bucket numbers: exact
        # integer floors against the brute force's, from the first to the
        # last millisecond trawl's dates hold, alike at the top (tallied)
        # and under a filter (bucket by bucket)
        sp = self.write_schema()
        f = self.path("docs.jsonl")
        rnd = random.Random(23)
        end = 8640000000000000
        docs, dates = [], []
        for i in range(300):
            pick = rnd.choice([lambda: rnd.randrange(-end, end + 1),
                               lambda: rnd.choice([-end, end, -1, 0, 1]),
                               lambda: 1700000000000 + rnd.randrange(-10**10, 10**10)])
            ds = sorted({pick() for _ in range(rnd.randrange(1, 3))})
            docs.append({"id": "d%d" % i, "title": "x", "when": ds})
            dates.append(ds)
        write_lines(f, docs)
        ix = self.path("ix")
        self.ok("index", ix, f, "--schema", sp, "--shards", "2")
        day, hour = 86400000, 3600000
        cases = [({"calendar_interval": "day"}, day, 0),
                 ({"calendar_interval": "week", "time_zone": "+05:30"}, 7 * day,
                  -330 * 60000 - 3 * day),
                 ({"fixed_interval": "36h", "offset": "+3h", "time_zone": "-03:30"},
                  36 * hour, 3 * hour + 210 * 60000)]
        for spec, width, base in cases:
            want = {}
            for ds in dates:
                for k in {(d - base) // width * width + base for d in ds}:
                    want[k] = want.get(k, 0) + 1
            h = dict(spec, field="when", min_doc_count=1)
            aggs = self.path("aggs.json")
            with open(aggs, "w") as fh:
                json.dump({"top": {"date_histogram": h},
                           "in": {"filter": {"match_all": {}},
                                  "aggs": {"h": {"date_histogram": h}}}}, fh)
            r = json.loads(self.ok("search", ix, "--json", "--aggs", aggs, "--", "*:*").out)
            a = r["aggregations"]
            for got in (a["top"]["buckets"], a["in"]["h"]["buckets"]):
                self.assertEqual({b["key"]: b["doc_count"] for b in got}, want, spec)

    def test_exists_needs_index_or_doc_values(self):
        sp = self.path("schema-off.json")
        with open(sp, "w") as fh:
            json.dump({"fields": {"title": {"type": "text"},
                                  "n": {"type": "long", "index": False, "doc_values": False}}}, fh)
        f = self.path("docs.jsonl")
        write_lines(f, [{"id": "a", "title": "x", "n": 1}])
        ix = self.path("ix-off")
        self.ok("index", ix, f, "--schema", sp)
        self.fails(65, "search", ix, "_exists_:n",
                   msg=[r'field "n" \(long\) cannot be searched for a value'])

    def test_empty_keyword_value(self):
        # "" is a keyword's value like any other: field:"" finds it (alone,
        # in a group, as a filter); on a text field it matches nothing; with
        # no field it is an empty phrase
        sp = self.path("schema-empty.json")
        with open(sp, "w") as fh:
            json.dump({"fields": {"title": {"type": "text"}, "k": {"type": "keyword"}}}, fh)
        f = self.path("docs.jsonl")
        write_lines(f, [{"id": "a", "title": "x", "k": ""}, {"id": "b", "title": "x", "k": "v"},
                        {"id": "c", "title": "x", "k": ["", "w"]}, {"id": "d", "title": "x"}])
        ix = self.path("ix-empty")
        self.ok("index", ix, f, "--schema", sp)
        for q, want in (('k:""', {"a", "c"}), ('k:("" OR v)', {"a", "b", "c"}),
                        ('x -k:""', {"b", "d"}), ('title:""', set()),
                        ('+x +title:""', set())):
            self.assertEqual(set(self.hits(ix, q, "-k", "10")[1]), want, q)
        self.assertEqual(set(self.hits(ix, "x", "--filter", 'k:""')[1]), {"a", "c"})
        self.fails(65, "search", ix, '""', msg=[r"column 1: empty phrase"])


class TestExposedLeaf(TrawlCase):
    """A leaf that listens beyond loopback with nothing to keep strangers out
    says so at start (issue #13); on loopback it says nothing."""

    def leaf_stderr(self, ix, url, *extra):
        p = subprocess.Popen([TRAWL, "leaf", "--index", ix, "--listen", url] + list(extra),
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        lines = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ln = p.stderr.readline().decode("utf-8", "replace")
                if not ln:
                    break
                lines.append(ln)
                if "serving generation" in ln:
                    break
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            p.stderr.close()
        self.assertTrue(any("serving generation" in ln for ln in lines), lines)
        return "".join(lines)

    def test_warning_beyond_loopback(self):
        ix = self.path("ix")
        build_fixture(ix)
        sys.path.insert(0, HERE)
        from netlib import free_port
        port = free_port()
        err = self.leaf_stderr(ix, "tcp://0.0.0.0:%d" % port)
        self.assertIn("trawl leaf: WARNING: listening on tcp://0.0.0.0:%d without TLS: "
                      "whoever reaches that address can search the shards and read their "
                      "stored documents" % port, err)
        self.assertNotIn("WARNING", self.leaf_stderr(ix, "tcp://127.0.0.1:%d" % free_port()))


class TestSchemaFromMappings(TrawlCase):
    """trawl schema --from-mappings: an OpenSearch mapping's fields in their
    nearest trawl types, multi-fields as keyword twins, and one line on
    standard error for each thing not carried over, naming the field."""

    PROPS = {
        "title": {"type": "text", "analyzer": "english",
                  "fields": {"raw": {"type": "keyword", "ignore_above": 256},
                             "en": {"type": "text"}}},
        "body": {"type": "text"},
        "summary": {"type": "text", "analyzer": "french", "copy_to": "all"},
        "section": {"type": "keyword", "normalizer": "lowercase"},
        "owner": {"type": "keyword", "normalizer": "my_norm", "ignore_above": 40000},
        "size": {"type": "integer"},
        "count": {"type": "long"},
        "big": {"type": "unsigned_long"},
        "ratio": {"type": "float", "index": False},
        "price": {"type": "scaled_float", "scaling_factor": 100},
        "when": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
        "day": {"type": "date", "format": "dd/MM/yyyy"},
        "ns": {"type": "date_nanos"},
        "ok": {"type": "boolean", "doc_values": False},
        "addr": {"type": "ip"},
        "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
        "blob": {"type": "object", "enabled": False},
        "id": {"type": "keyword"},
        "bad name": {"type": "keyword"},
    }
    WANT = {"fields": {
        "title": {"type": "text", "analyzer": "english",
                  "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
        "body": {"type": "text", "analyzer": "plain"},
        "summary": {"type": "text", "analyzer": "plain"},
        "section": {"type": "keyword", "normalizer": "lowercase"},
        "owner": {"type": "keyword", "ignore_above": 1024},
        "size": {"type": "long"}, "count": {"type": "long"}, "big": {"type": "long"},
        "ratio": {"type": "double", "index": False}, "price": {"type": "double"},
        "when": {"type": "date"}, "day": {"type": "date"}, "ns": {"type": "date"},
        "ok": {"type": "boolean", "doc_values": False}}}
    WARN = [r"title\.en: a text sub-field", r'summary: "copy_to"',
            r'summary: analyzer "french" is not trawl\'s; "plain" used',
            r'owner: normalizer "my_norm"', r"owner: ignore_above 40000 .* 1024 used",
            r"big: unsigned_long becomes long", r'day: date format "dd/MM/yyyy"',
            r"ns: date_nanos becomes date", r'addr: type "ip" has no trawl equivalent',
            r"user: an object: .* sub-fields \(user\.name, user\.age\) are not mapped",
            r'id: trawl\'s documents carry their id in "id"', r"bad name: not a trawl field name"]

    def translate(self, doc):
        f = self.path("mappings.json")
        with open(f, "w") as out:
            json.dump(doc, out)
        r = self.ok("schema", "--from-mappings", f)
        return json.loads(r.out), [ln for ln in r.err.splitlines() if ln.strip()]

    def test_every_type_and_what_is_not_carried_over(self):
        got, warnings = self.translate({"mappings": {"properties": self.PROPS}})
        self.assertEqual(got, self.WANT)
        self.assertEqual(list(got["fields"]), list(self.WANT["fields"]))  # the mapping's order
        self.assertEqual(len(warnings), len(self.WARN), "\n".join(warnings))
        for ln, pattern in zip(warnings, self.WARN):
            self.assertRegex(ln, "^trawl: mappings: " + pattern)
        # the schema builds an index that takes the mapping's documents
        sp = self.path("schema.json")
        with open(sp, "w") as out:
            json.dump(got, out)
        docs = self.path("docs.jsonl")
        write_lines(docs, [{"id": "1", "title": "Pipes and Filters", "body": "streams",
                            "section": "Libs", "size": 12, "ratio": 0.5, "when": "2024-05-01",
                            "ok": True, "user": {"name": "x"}, "addr": "10.0.0.1"}])
        ix = self.path("ix")
        self.ok("index", ix, docs, "--schema", sp)
        self.assertEqual(self.ids(ix, "pipe"), ["1"])

    def test_the_mapping_forms_agree(self):
        props = {"t": {"type": "text"}, "k": {"type": "keyword"}}
        want = {"fields": {"t": {"type": "text", "analyzer": "plain"}, "k": {"type": "keyword"}}}
        for doc in ({"mappings": {"properties": props}},
                    {"my-index": {"mappings": {"properties": props}}},
                    {"properties": props},
                    {"mappings": {"_doc": {"properties": props}}}):
            self.assertEqual(self.translate(doc), (want, []), doc)

    def test_errors(self):
        f = self.path("m.json")
        for text, code, pattern in (
                ('{"mappings": {', 78, r"m\.json: mappings: line 1, column \d+: "),
                ('{"mappings": {}}', 78, r'no "properties" object'),
                ('[1]', 78, r'no "properties" object'),
                ('{"properties": {"k": {"type": "keyword"}}}', 78, r"no text field to map"),
                ('{"properties": {"a": {"type": "text"}, "a": {"type": "text"}}}', 78,
                 r"duplicate object key")):
            with open(f, "w") as out:
                out.write(text)
            self.fails(code, "schema", "--from-mappings", f, msg=[pattern])
        self.fails(66, "schema", "--from-mappings", self.path("none.json"),
                   msg=[r"none\.json: No such file"])
        self.fails(64, "schema", "--from", f)
        r = self.ok("schema", "--from-mappings", "-", stdin=b'{"properties": {"t": {"type": "text"}}}')
        self.assertEqual(json.loads(r.out), {"fields": {"t": {"type": "text", "analyzer": "plain"}}})


# ---------------------------------------------------------------------------
# query errors
# ---------------------------------------------------------------------------

class TestQueries(TrawlCase):
    @classmethod
    def setUpClass(cls):
        cls._ctmp = tempfile.TemporaryDirectory(prefix="trawl-queries-")
        cls.ix = os.path.join(cls._ctmp.name, "ix")
        build_fixture(cls.ix)
        # a corpus with 1100 terms sharing the prefix "pfx" (1000 of them "pfx0...")
        cls.pix = os.path.join(cls._ctmp.name, "pix")
        data = os.path.join(cls._ctmp.name, "prefix.jsonl")
        terms = ["pfx%04d" % i for i in range(1100)]
        write_lines(data, [{"id": "p%d" % d, "body": " ".join(terms[d::11])} for d in range(11)])
        r = trawl("index", cls.pix, data)
        assert r.rc == 0, r

    @classmethod
    def tearDownClass(cls):
        cls._ctmp.cleanup()

    def bad(self, query, *msgs, ix=None, opts=()):
        r = self.fails(EX_DATAERR, "search", ix or self.ix, *opts, "--", query, msg=msgs)
        self.assertEqual(r.out, "")
        # the same error in batch mode is reported per query and is not fatal
        return r

    def test_syntax_errors(self):
        cases = [
            ('"red apple', r"column 1: unterminated quote"),
            ('red "apple', r"column 5: unterminated quote"),
            ('"', r"column 1: unterminated quote"),
            ('(red apple', r"column 1: unclosed '\('"),
            ('red (apple (cherry)', r"column 5: unclosed '\('"),
            ('red apple)', r"column 10: unexpected '\)'"),
            (')', r"column 1: unexpected '\)'"),
            ('()', r"column 1: empty group"),
            ('""', r"column 1: empty phrase"),
            ('red AND', r"column 5: expected a term after 'AND'"),
            ('OR red', r"column 1: expected a term before 'OR'"),
            ('+', r"column 1: expected a term after '\+'"),
            ('red -', r"column 5: expected a term after '-'"),
            ('title:', r"column 1: expected a term after 'title:'"),
            ('red\\', r"column \d+: trailing backslash"),
            ('*', r"column 1: "),
            ('Zürich "ä', r"column 8: unterminated quote"),  # columns count characters
            ('東京 (', r"column 4: unclosed"),
            # the typed filters' syntax is checked before any field is looked up
            ('red [a TO b]', r"column 5: a range needs a field"),
            ('red >5', r"column 5: a range needs a field"),
            ('n:[1 TO 2', r"column 3: unclosed range"),
            ('n:[1 2]', r"column 6: expected TO after the range's first bound"),
            ('n:>', r"column 3: expected a value after '>'"),
            ('_exists_:', r"column 1: expected a field name after '_exists_:'"),
            ('_id:""', r"column 5: empty id"),
            ('red # apple', r"column 5: expected a term after '#'"),
            ('(red)^=2', r"column 6: only \^=1 is supported"),
        ]
        for q, m in cases:
            with self.subTest(q=q):
                self.bad(q, m)

    # --filter's syntax is checked before the index is searched (a filter that
    # parses runs only with an engine that knows FILTER clauses: not here)
    def test_filter_errors(self):
        cases = [
            (("zeppelin", "--filter", "[a TO b]"),
             r"--filter '\[a TO b\]': column 1: a range needs a field"),
            (("zeppelin", "--filter", "tags:x", "--filter", "n:[1 TO"),
             r"--filter 'n:\[1 TO': column 3: unclosed range"),
            (("--filter", "a OR b c"),
             r"column 1: an optional clause beside required ones does not narrow a filter"),
            (("--filter", ""), r"--filter '': empty query"),
            (("--filter", "_id:ab*"), r"column 5: an id is not a prefix"),
            ((" ".join(["w"] * 1000), "--filter", " ".join(["v"] * 30)),
             r"the query and its filters together: the query has 1030 terms; the limit is 1024"),
        ]
        for args, m in cases:
            with self.subTest(args=args[:3]):
                r = self.fails(EX_DATAERR, "search", self.ix, *args, msg=[m])
                self.assertEqual(r.out, "")
        # a query is needed without a filter; a bad filter fails a batch at once
        self.fails(EX_USAGE, "search", self.ix, msg=[r"needs DIR and QUERY \(or DIR and --filter F\)"])
        qf = self.path("q.tsv")
        with open(qf, "w") as f:
            f.write("q1\tzeppelin\n")
        self.fails(EX_DATAERR, "search", self.ix, "--queries", qf, "--run", self.path("run"),
                   "--filter", "(", msg=[r"--filter '\(': column 1: unclosed '\('"])
        self.assertIn("--filter F", self.ok("search", "--help").out)

    def test_empty_query(self):
        for q in ("", " ", "\t \t"):
            with self.subTest(q=q):
                self.bad(q, r"empty query")

    def test_only_excluded_terms(self):
        for q, col in (("-red", 1), ("-red -apple", 1), ("NOT red", 1), ("-red NOT apple", 1),
                       ("zeppelin (-red -apple)", 10)):
            with self.subTest(q=q):
                self.bad(q, r"column %d: .*only excluded" % col)

    def test_nothing_to_search(self):
        for q in ("the", "the a an", "!!!", "🦊", "title:the"):
            with self.subTest(q=q):
                self.bad(q, r"column \d+: .*nothing to search for")

    def test_unknown_field(self):
        self.bad("nosuch:red", r'column 1: unknown field "nosuch"', r"title, body")
        self.bad("red nosuch:apple", r'column 5: unknown field "nosuch"')
        self.bad("Title:red", r'column 1: unknown field "Title"')
        self.bad("zeppelin (id:air)", r'column 11: unknown field "id"')

    def test_invalid_utf8_query(self):
        r = self.fails(EX_DATAERR, "search", self.ix, b"caf\xe9", msg=[r"column 4", "UTF-8"])
        self.assertEqual(r.out, "")
        self.fails(EX_DATAERR, "search", self.ix, b"\xff", msg=[r"column 1"])
        self.fails(EX_DATAERR, "search", self.ix, b"ab \xc0\xaf", msg=[r"column 4"])

    def test_prefix_too_many_terms(self):
        # 1000 terms: within the limit
        doc, got = self.hits(self.pix, "pfx0*", "-k", "50")
        self.assertEqual(doc["total"], 11)
        doc, got = self.hits(self.pix, "pfx109*", "-k", "50")
        self.assertEqual(doc["total"], 10)
        # 1100 terms: over
        self.bad("pfx*", r"column 1: the prefix matches more than 1024 terms", ix=self.pix)
        self.bad("pfx1 pfx*", r"column 6: .*more than 1024 terms", ix=self.pix)
        self.bad("body:pfx*", r"column 1: .*1024", ix=self.pix)
        self.bad("+pfx0001 -(p*)", r"column 12: .*1024", ix=self.pix)
        self.bad("pfx*", r"1024", ix=self.pix, opts=("--and",))

    def test_too_many_terms(self):
        words = ["w%d" % i for i in range(1025)]
        self.bad(" ".join(words), r"column \d+: too many terms; the limit is 1024")
        self.bad(" ".join(words), r"1024", opts=("--and",))
        self.bad('"%s"' % " ".join(words), r"1024")
        # 600 words are 1200 terms over the two text fields
        self.bad(" ".join(words[:600]), r"column \d+: .*more than 1024 terms")
        doc, got = self.hits(self.ix, " ".join(words[:500] + ["zeppelin"]))
        self.assertEqual(got, ["air-01"])

    # A prefix's expansions count towards TRAWL_MAX_QUERY_TERMS, so that a 6 KB
    # query of 1020 prefixes of 1000 terms each cannot build a million cursors.
    def test_prefix_expansions_count_toward_term_limit(self):
        words = ["w%d" % i for i in range(400)]
        self.bad(" ".join(words + ["pfx0*"]), r"1024", ix=self.pix)

    def test_query_too_long_or_deep(self):
        self.bad("x" * 8193, r"8193 bytes; the limit is 8192")
        self.bad("zeppelin " + "a" * 8200, r"limit is 8192")
        doc, got = self.hits(self.ix, "zeppelin " + "y" * 200)
        self.assertEqual(got, ["air-01"])
        self.bad("(" * 40 + "red" + ")" * 40, r"32")
        self.hits(self.ix, "(" * 10 + "red" + ")" * 10)

    def test_errors_in_batch_mode(self):
        qf = self.path("q.tsv")
        bad = ['"red', "(red", "red)", "", "-red", "nosuch:red", "the",
               " ".join("w%d" % i for i in range(1025))]
        with open(qf, "w") as f:
            for i, q in enumerate(bad):
                f.write("b%d\t%s\n" % (i, q))
            f.write("good\tzeppelin\n")
        r = self.ok("search", self.ix, "--queries", qf, "--run", "-")
        self.assertEqual(r.out, "good Q0 air-01 1 %s trawl\n" % r.out.split()[4])
        self.assertIn("1 queries run, %d failed" % len(bad), r.err)
        for i in range(len(bad)):
            self.assertRegex(r.err, r"q\.tsv:%d: (query b%d: |expected qid)" % (i + 1, i))

    def test_prefix_error_in_batch_mode(self):
        qf = self.path("q.tsv")
        with open(qf, "w") as f:
            f.write("a\tpfx*\nb\tpfx0001\n")
        r = self.ok("search", self.pix, "--queries", qf, "--run", "-")
        self.assertRegex(r.err, r"q\.tsv:1: query a: column 1: .*1024")
        self.assertEqual([ln.split()[0] for ln in r.out.splitlines()], ["b"])


def main():
    global TRAWL
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        TRAWL = argv.pop(1)
    else:
        TRAWL = os.environ.get("TRAWL_BIN")
    if not TRAWL:
        sys.exit("usage: cli_test.py TRAWL_BINARY [unittest options] (or set TRAWL_BIN)")
    TRAWL = os.path.abspath(TRAWL)
    if not os.access(TRAWL, os.X_OK):
        sys.exit("cli_test.py: %s is not an executable" % TRAWL)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False)
    unittest.main(argv=argv, testRunner=runner)


if __name__ == "__main__":
    main()
