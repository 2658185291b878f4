#!/usr/bin/env python3
"""
build_test.py - integration tests of trawl's build pipeline: `trawl index`
cut into work items, worked by threads or by `trawl build-worker` processes,
merged per shard and published atomically; `trawl reshard`; `trawl verify`'s
content digest.

The pipeline promises that how a build is run does not change what it
builds: any number of shards ranks alike, any number of workers (local or
remote, some of them killed) gives the same bytes, and a build killed at any
moment and run again (or --resume'd, or split with --partition) finishes with
the same generation as an uninterrupted one, while readers only ever see a
complete generation. These tests check those promises with real processes
and real loopback sockets, plus bad input, a full disk and --progress json.

    python3 tests/build_test.py build/cli/trawl    (or TRAWL_BIN=... python3 ...)

Set TRAWL_SLOW=1 (or run a sanitizer build: detected from the binary) to
stretch the timeouts, which only bound waits; nothing asserts on speed.
Kill moments are drawn from a seeded generator (TRAWL_TEST_SEED to change
it). Tests of known bugs carry a "KNOWN BUG" comment and are expected
failures or skipped (TRAWL_KNOWN_BUGS=fail runs them). Standard library only.
"""
import glob
import gzip
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WIKI = os.path.join(ROOT, "data", "wiki-demo", "docs.jsonl")
SMALL = os.path.join(ROOT, "data", "fixtures", "small.jsonl")
WIKI_DOCS = 7635

TRAWL = None  # set in main()
SLOW = 1.0    # timeouts (never assertions) are multiplied by this (set in main())
SEED = int(os.environ.get("TRAWL_TEST_SEED", "20240917"))

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_IOERR, EX_CONFIG = 64, 65, 66, 74, 78

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "ThreadSanitizer", "runtime error:", "Segmentation fault")

SHARED = {}  # made once in setUpModule: the tmp dir, the doubled corpus, the queries


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "trawl %s -> %s\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in self.args), self.rc, self.out[-2000:], self.err[-2000:])


def trawl(*args, cwd=None, timeout=None, preexec_fn=None):
    """Runs trawl to the end; never raises on a non-zero exit."""
    p = subprocess.run([TRAWL] + [str(a) for a in args], cwd=cwd, capture_output=True,
                       timeout=(timeout or 120) * SLOW, preexec_fn=preexec_fn)
    return Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


class Proc:
    """A trawl process in the background. Its stdout lines are collected by a
    thread (so that --progress json events can be waited for); its stderr goes
    to a file, read at the end."""

    def __init__(self, args, errfile, cwd=None):
        self.args = [str(a) for a in args]
        self.errfile = errfile
        self._err = open(errfile, "wb")
        self.p = subprocess.Popen([TRAWL] + self.args, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=self._err, stdin=subprocess.DEVNULL)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def events(self):
        """The JSON objects printed so far (lines that do not parse are skipped)."""
        with self.cv:
            lines = list(self.lines)
        out = []
        for ln in lines:
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
        return out

    def wait_event(self, pred, timeout):
        """Waits for an event for which pred is true; returns it, or None when the
        process ended or timeout seconds passed first."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cv:
            while True:
                while seen < len(self.lines):
                    ln = self.lines[seen]
                    seen += 1
                    try:
                        ev = json.loads(ln)
                    except ValueError:
                        continue
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    return None
                self.cv.wait(min(left, 0.05))

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            self.kill()
            self.p.wait()
            raise AssertionError("trawl %s: still running after %.0f s" % (
                " ".join(self.args), timeout * SLOW))
        self.t.join(10)
        self._err.close()
        return rc

    def stdout(self):
        with self.cv:
            return "\n".join(self.lines)

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        with open(self.errfile, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def describe(self):
        return "trawl %s -> %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.p.returncode, self.stdout()[-1500:], self.stderr()[-1500:])

    def close(self):
        self.kill()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self.t.join(5)
        if not self._err.closed:
            self._err.close()


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import free_port  # noqa: E402


# ---------------------------------------------------------------------------
# inputs, queries
# ---------------------------------------------------------------------------

def wiki_docs():
    with open(WIKI, encoding="utf-8") as f:
        return [json.loads(ln) for ln in f]


def write_docs(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def make_queries(docs, n=100, seed=SEED):
    """About n queries from the words of the titles: 1 to 3 words, a few
    phrases, +required terms and title: terms; the same on every run."""
    rng = random.Random(seed)
    titles = sorted({d["title"] for d in docs if d.get("title")})
    words = sorted({w for t in titles for w in re.findall(r"[a-z]{3,}", t.lower())})
    multi = [t for t in titles if len(re.findall(r"[a-z]{3,}", t.lower())) >= 2]
    qs = []
    for _ in range(n - 16):
        qs.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))))
    for _ in range(6):
        w = re.findall(r"[a-z]{3,}", rng.choice(multi).lower())
        i = rng.randrange(len(w) - 1)
        qs.append('"%s %s"' % (w[i], w[i + 1]))
    for _ in range(6):
        qs.append("+%s %s %s" % tuple(rng.choice(words) for _ in range(3)))
    for _ in range(4):
        qs.append("title:%s %s" % (rng.choice(words), rng.choice(words)))
    return ["q%03d" % i for i in range(len(qs))], qs


def split_items(lines, item_kb):
    """The work items the splitter cuts JSON Lines into (shard/split.c): the
    index of each item's first line. An item is closed before a line that
    would take it past item_kb KiB."""
    limit = item_kb * 1024
    starts, size = [], 0
    for i, ln in enumerate(lines):
        n = len(ln.rstrip(b"\n"))
        if size and size + n + 1 > limit:
            size = 0
        if size == 0:
            starts.append(i)
        size += n + 1
    return starts


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="trawl-build-shared-")
    SHARED["tmp"] = tmp
    docs = wiki_docs()
    SHARED["docs"] = docs
    # the corpus twice, each copy's ids made unique: 15270 documents, 9.4 MB
    big = os.path.join(tmp, "wiki-x2.jsonl")
    with open(big, "w", encoding="utf-8") as f:
        for c in range(2):
            for d in docs:
                d = dict(d)
                d["id"] = "%s~%d" % (d["id"], c)
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    SHARED["big"], SHARED["big_docs"] = big, 2 * len(docs)
    qids, qs = make_queries(docs)
    qfile = os.path.join(tmp, "queries.tsv")
    with open(qfile, "w", encoding="utf-8") as f:
        for qid, q in zip(qids, qs):
            f.write("%s\t%s\n" % (qid, q))
    SHARED["qids"], SHARED["queries"], SHARED["qfile"] = qids, qs, qfile


def tearDownModule():
    shutil.rmtree(SHARED.get("tmp", ""), ignore_errors=True)


# ---------------------------------------------------------------------------
# the base case
# ---------------------------------------------------------------------------

def current(ix):
    with open(os.path.join(ix, "CURRENT")) as f:
        return f.read().strip()


def tmp_gens(ix):
    return sorted(glob.glob(os.path.join(ix, "gen-*.tmp")))


def score_close(a, b):
    """Equal within 1e-6 relative; scores are printed with 6 decimals, so
    one unit of the last printed digit is allowed on top."""
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1.01e-6


class BuildCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="trawl-build-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # ---- processes ----

    def assertClean(self, text, what):
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, text, what)

    def run_ok(self, *args, **kw):
        r = trawl(*args, **kw)
        self.assertClean(r.err, repr(r))
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def run_fails(self, code, *args, **kw):
        r = trawl(*args, **kw)
        self.assertClean(r.err, repr(r))
        self.assertEqual(r.rc, code, repr(r))
        self.assertTrue(r.err.strip(), "no message: %r" % r)
        return r

    def start(self, *args, cwd=None):
        p = Proc(args, self.path("proc-%d.err" % len(glob.glob(self.path("proc-*.err")))),
                 cwd=cwd)
        self.addCleanup(p.close)
        return p

    def finish(self, p, timeout=180):
        """Waits for a build started with --progress json; its done event."""
        rc = p.wait(timeout)
        self.assertClean(p.stderr(), p.describe())
        self.assertEqual(rc, 0, p.describe())
        ev = p.events()
        self.assertTrue(ev and ev[-1]["event"] == "done", p.describe())
        return ev[-1]

    # ---- index checks ----

    def digest(self, ix):
        """Runs trawl verify; returns the content digest."""
        r = self.run_ok("verify", ix)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "%s: ok" % ix, repr(r))
        m = re.fullmatch(r"content digest: ([0-9a-f]{32})", lines[1])
        self.assertTrue(m, repr(r))
        return m.group(1)

    def build(self, ix, *args, **kw):
        """trawl index IX ARGS --progress json; returns the done event."""
        r = self.run_ok("index", ix, *args, "--progress", "json", **kw)
        done = json.loads(r.out.splitlines()[-1])
        self.assertEqual(done["event"], "done", repr(r))
        return done

    def stats(self, ix):
        r = self.run_ok("stats", ix)
        # "key: value" lines; the per-field table after "fields:" is indented
        return dict(ln.split(": ", 1) for ln in r.out.splitlines()
                    if ": " in ln and not ln.startswith(" "))

    def batch(self, ix, k=10000):
        """Every query of the shared set in one process (TREC run, k hits):
        {qid: [(id, score), ...]}; with k above the corpus size, every match."""
        r = self.run_ok("search", ix, "--queries", SHARED["qfile"], "--run", "-", "-k", k)
        self.assertIn("%d queries run, 0 failed" % len(SHARED["qids"]), r.err)
        res = {q: [] for q in SHARED["qids"]}
        for ln in r.out.splitlines():
            qid, _, doc, rank, score, _ = ln.split(" ")
            self.assertEqual(int(rank), len(res[qid]) + 1, ln)
            res[qid].append((doc, float(score)))
        return res

    def assertSameRanking(self, want, got, what):
        """Top-10 ids in the same order, scores within score_close, equal totals."""
        for qid, q in zip(SHARED["qids"], SHARED["queries"]):
            a, b = want[qid], got[qid]
            ctx = "%s: query %s %r" % (what, qid, q)
            self.assertEqual(len(a), len(b), ctx + ": total hits")
            self.assertEqual([h[0] for h in a[:10]], [h[0] for h in b[:10]], ctx)
            for (ida, sa), (_, sb) in zip(a[:10], b[:10]):
                self.assertTrue(score_close(sa, sb), "%s: %s scored %r, then %r" % (ctx, ida, sa, sb))

    def assertNoLeftovers(self, ix):
        self.assertFalse(os.path.exists(os.path.join(ix, "build")), os.listdir(ix))
        self.assertEqual(tmp_gens(ix), [])


# ---------------------------------------------------------------------------
# 1, 2: shard and worker counts do not change the result
# ---------------------------------------------------------------------------

class TestEquivalence(BuildCase):
    def test_shard_counts_rank_alike(self):
        # a few queries also through --json, for its "total"
        probe = [q for q in SHARED["queries"] if q.startswith(('"', "+"))][:3] + \
            SHARED["queries"][:3]
        base = base_totals = None
        for shards in (1, 2, 4, 8):
            ix = self.path("s%d" % shards)
            done = self.build(ix, WIKI, "--shards", shards, "--item-kb", 256)
            self.assertEqual(done["docs"], WIKI_DOCS)
            self.assertGreaterEqual(done["items"], 10, done)
            st = self.stats(ix)
            self.assertEqual((st["shards"], st["documents"]), (str(shards), str(WIKI_DOCS)))
            res = self.batch(ix)
            totals = [json.loads(self.run_ok("search", ix, "--json", "-k", "10", "--", q).out)["total"]
                      for q in probe]
            if base is None:
                base, base_totals = res, totals
                # the queries are worth something: most match, many match more than 10
                self.assertGreater(sum(1 for v in res.values() if v), 80)
                self.assertGreater(sum(1 for v in res.values() if len(v) > 10), 40)
                self.assertEqual(totals, [len(res[SHARED["qids"][SHARED["queries"].index(q)]])
                                          for q in probe])
                continue
            self.assertSameRanking(base, res, "%d shards against 1" % shards)
            self.assertEqual(totals, base_totals, "--json totals, %d shards against 1" % shards)
        print("shards 1, 2, 4, 8: %d queries, same top 10, scores and totals" % len(base))

    def test_worker_counts_same_digest(self):
        digests, reports = [], []
        for w in (1, 2, 3):
            ix = self.path("w%d" % w)
            done = self.build(ix, WIKI, "--workers", w, "--shards", 3, "--item-kb", 128)
            self.assertEqual((done["workers"], done["docs"]), (w, WIKI_DOCS))
            digests.append(self.digest(ix))
            reports.append(done["items"])
        self.assertEqual(len(set(digests)), 1, digests)
        self.assertEqual(len(set(reports)), 1, reports)
        print("workers 1, 2, 3: digest", digests[0])


# ---------------------------------------------------------------------------
# 3: trawl build-worker processes
# ---------------------------------------------------------------------------

class TestDistributed(BuildCase):
    def coordinator(self, ix, src, *opts):
        url = "tcp://127.0.0.1:%d" % free_port()
        p = self.start("index", ix, src, "--workers", 0, "--listen", url, "--progress", "json",
                       *opts)
        return p, url

    def worker(self, url):
        return self.start("build-worker", "--connect", url, "--threads", 1)

    def test_two_workers_same_as_local(self):
        opts = ("--shards", 2, "--item-kb", 256)
        ix = self.path("dist")
        coord, url = self.coordinator(ix, WIKI, *opts)
        workers = [self.worker(url), self.worker(url)]
        done = self.finish(coord)
        self.assertEqual((done["docs"], done["workers"]), (WIKI_DOCS, 0), done)
        for w in workers:
            rc = w.wait(60)
            self.assertClean(w.stderr(), w.describe())
            self.assertEqual(rc, 0, w.describe())
        self.build(self.path("local"), WIKI, *opts)
        self.assertEqual(self.digest(ix), self.digest(self.path("local")))
        self.assertNoLeftovers(ix)
        print("2 build-workers: %d items, digest equal to a local build" % done["items"])

    # --give-up bounds the whole wait: each call gets only the time left
    # (until it did, every call waited a fixed 60 s first, so a worker whose
    # builder was gone exited after 63 s whatever --give-up said).
    def test_give_up(self):
        url = "tcp://127.0.0.1:%d" % free_port()  # nothing listens there
        w = self.start("build-worker", "--connect", url, "--threads", 1, "--give-up", 2)
        # a wall-clock deadline of 2 s, not CPU: 15 s allows for any machine
        rc = w.wait(15 / SLOW)
        self.assertEqual(rc, EX_IOERR, w.describe())
        self.assertIn("the builder stopped answering", w.stderr())

    def test_worker_killed_mid_item(self):
        opts = ("--shards", 2, "--item-kb", 64)
        ix = self.path("dist")
        coord, url = self.coordinator(ix, SHARED["big"], *opts)
        # the victim works alone until items are done, so it holds a lease when
        # it is killed (the queue is never empty this early: ~145 items)
        victim = self.worker(url)
        ev = coord.wait_event(lambda e: e.get("items_done", 0) >= 1 and
                              e.get("event") == "progress", 60 * SLOW)
        self.assertIsNotNone(ev, coord.describe() + "\n" + victim.describe())
        self.assertLess(ev["items_done"], ev["items"], ev)
        other = self.worker(url)
        victim.kill()
        self.assertEqual(victim.wait(30), -signal.SIGKILL)
        done = self.finish(coord)
        self.assertEqual(done["docs"], SHARED["big_docs"], done)
        self.assertGreaterEqual(done["items_retried"], 1, done)
        rc = other.wait(60)
        self.assertClean(other.stderr(), other.describe())
        self.assertEqual(rc, 0, other.describe())
        self.build(self.path("local"), SHARED["big"], *opts)
        self.assertEqual(self.digest(ix), self.digest(self.path("local")))
        self.assertNoLeftovers(ix)
        print("worker killed after %d/%d items: %d retried, digest equal to a local build" % (
            ev["items_done"], ev["items"], done["items_retried"]))


# ---------------------------------------------------------------------------
# 4, 5, 6: killed builds, --resume, --partition
# ---------------------------------------------------------------------------

class TestRestart(BuildCase):
    def test_kill9_twenty_times(self):
        ix = self.path("ix")
        opts = ("--item-kb", 64, "--workers", 2, "--shards", 2)
        # A: what readers see before B is ever published
        self.run_ok("index", ix, SMALL, "--progress", "none")
        dig_a = self.digest(ix)
        # B's digest, from an uninterrupted build
        t0 = time.monotonic()
        ref = self.build(self.path("ref"), WIKI, *opts)
        t_ref = time.monotonic() - t0
        dig_b = self.digest(self.path("ref"))
        self.assertGreaterEqual(ref["items"], 50, ref)
        self.assertNotEqual(dig_a, dig_b)

        # a reader, all along: CURRENT names a complete generation that
        # verifies, and it is A or B
        stop = threading.Event()
        bad, checks = [], [0]

        def check_once():
            try:
                gen = current(ix)
                gdir = os.path.join(ix, gen)
                if not os.path.isfile(os.path.join(gdir, "MANIFEST.json")):
                    return "CURRENT names %s, which has no MANIFEST.json: %s" % (
                        gen, os.listdir(gdir) if os.path.isdir(gdir) else "missing")
                r = trawl("verify", ix)
                if r.rc != 0 or any(m in r.err for m in SANITIZER_MARKS):
                    return "verify failed with %s live: %r" % (gen, r)
                m = re.search(r"content digest: ([0-9a-f]{32})", r.out)
                if not m or m.group(1) not in (dig_a, dig_b):
                    return "%s has digest %s, neither A's nor B's: %r" % (gen, m and m.group(1), r)
            except Exception as e:  # noqa: BLE001 - reported below
                return "reader: %r" % e
            return None

        def reader():
            while not stop.is_set():
                err = check_once()
                checks[0] += 1
                if err:
                    bad.append(err)

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        rng = random.Random(SEED)
        cmd = ("index", ix, WIKI) + opts + ("--progress", "json")
        kills = attempts = 0
        completed, reuse_expected, reused_seen = [], 0, 0
        after_kill_with_runs = False  # the last run was killed with finished items left
        try:
            while kills < 20:
                attempts += 1
                self.assertLess(attempts, 80, "could not kill 20 builds mid-way")
                before = current(ix)
                p = self.start(*cmd)
                if kills < 19:
                    time.sleep(rng.uniform(0, t_ref))
                else:
                    # the last kill: surely after some items and before the publish
                    p.wait_event(lambda e: e.get("event") == "progress" and e["items_done"] > 0
                                 and e["stage"] != "publishing", 60 * SLOW)
                p.kill()  # unless it has finished: then its status says so
                rc = p.wait(120)
                self.assertClean(p.stderr(), p.describe())
                ev = p.events()
                if rc == -signal.SIGKILL:
                    kills += 1
                    progressed = any(e.get("event") == "progress" and e["items_done"] > 0
                                     and e["stage"] != "publishing" for e in ev)
                    after_kill_with_runs = progressed and current(ix) == before
                else:
                    self.assertEqual(rc, 0, p.describe())
                    done = ev[-1]
                    self.assertEqual((done["event"], done["docs"]), ("done", WIKI_DOCS), done)
                    completed.append(done)
                    if after_kill_with_runs:
                        reuse_expected += 1
                        self.assertGreater(done["items_reused"], 0,
                                           "the run before was killed after finishing items")
                    reused_seen += done["items_reused"] > 0
                    after_kill_with_runs = False
                err = check_once()
                self.assertIsNone(err, "after attempt %d" % attempts)
            # the final run, to the end
            p = self.start(*cmd)
            rc = p.wait(120)
            self.assertClean(p.stderr(), p.describe())
            self.assertEqual(rc, 0, p.describe())
            done = p.events()[-1]
            self.assertEqual((done["event"], done["docs"]), ("done", WIKI_DOCS), done)
            if after_kill_with_runs:
                self.assertGreater(done["items_reused"], 0, done)
            reused_seen += done["items_reused"] > 0
        finally:
            stop.set()
            rt.join(60 * SLOW)
        self.assertEqual(bad, [], "reader")
        self.assertGreater(checks[0], 0)
        self.assertEqual(self.digest(ix), dig_b)
        self.assertNoLeftovers(ix)
        self.assertGreater(reused_seen, 0, "no resumed run reused an item")
        print("20 kills in %d attempts (%d ran to the end, %d right after a kill that left "
              "runs), %d reader checks, last run reused %d/%d items; digest B" % (
                  attempts, len(completed), reuse_expected, checks[0], done["items_reused"],
                  done["items"]))

    def test_resume_from_elsewhere(self):
        src = self.path("src")
        os.makedirs(src)
        os.makedirs(self.path("elsewhere"))
        shutil.copy(SHARED["big"], os.path.join(src, "docs.jsonl"))
        opts = ("--item-kb", 64, "--shards", 2, "--workers", 2)
        # relative DIR and FILE, run in src
        p = self.start("index", "ix", "docs.jsonl", *opts, "--progress", "json", cwd=src)
        ev = p.wait_event(lambda e: e.get("event") == "progress" and e["items_done"] > 0
                          and e["stage"] == "reading", 60 * SLOW)
        p.kill()
        self.assertEqual(p.wait(60), -signal.SIGKILL, p.describe())
        self.assertIsNotNone(ev, p.describe())
        self.assertFalse(os.path.exists(os.path.join(src, "ix", "CURRENT")), p.describe())
        build = os.path.join(src, "ix", "build")
        self.assertTrue(os.path.isfile(os.path.join(build, "command.args")))
        # from another directory, where neither ix nor docs.jsonl exist
        r = self.run_ok("index", "--resume", build, cwd=self.path("elsewhere"))
        self.assertIn("trawl: resuming the build of ", r.err)
        done = json.loads(r.out.splitlines()[-1])  # the saved --progress json
        self.assertEqual(done["docs"], SHARED["big_docs"], r)
        self.assertGreater(done["items_reused"], 0, r)
        self.assertEqual(os.listdir(self.path("elsewhere")), [])
        ix = os.path.join(src, "ix")
        self.build(self.path("ref"), SHARED["big"], *opts)
        self.assertEqual(self.digest(ix), self.digest(self.path("ref")))
        self.assertNoLeftovers(ix)
        # a directory that is not a build directory
        self.run_fails(EX_NOINPUT, "index", "--resume", self.path("elsewhere"))
        print("--resume from elsewhere: reused %d/%d items, digest equal" % (
            done["items_reused"], done["items"]))

    # The saved command is argv as given, before getopt_long reorders it
    # (until it was, --resume named "--item-kb" as the index).
    def test_resume_names_the_index(self):
        src = self.path("src")
        os.makedirs(src)
        with open(SMALL, "rb") as f, open(os.path.join(src, "s.jsonl"), "wb") as g:
            g.write(f.read())
        # --partition: the runs are made and kept, nothing is published
        self.run_ok("index", "ix", "s.jsonl", "--item-kb", 64, "--partition", "0/2",
                    "--progress", "none", cwd=src)
        r = self.run_ok("index", "--resume", os.path.join(src, "ix", "build"))
        self.assertEqual(r.err.splitlines()[0], "trawl: resuming the build of ix")

    def test_partitions_then_merge(self):
        ix = self.path("ix")
        opts = ("--item-kb", 64, "--shards", 2, "--workers", 2)
        self.run_ok("index", ix, SMALL, "--progress", "none")
        gen, dig = current(ix), self.digest(ix)
        # the two partitions at once, as the pods of an Indexed Job would run
        parts = [self.start("index", ix, WIKI, *opts, "--partition", "%d/2" % i,
                            "--progress", "none") for i in (0, 1)]
        made = []
        for i, p in enumerate(parts):
            rc = p.wait(120)
            self.assertClean(p.stderr(), p.describe())
            self.assertEqual(rc, 0, p.describe())
            m = re.search(r"^partition %d/2: (\d+) work items of (\d+) made \((\d+) reused\).*"
                          r"nothing published$" % i, p.stdout(), re.M)
            self.assertTrue(m, p.describe())
            made.append((int(m.group(1)), int(m.group(2))))
        self.assertEqual(current(ix), gen)
        self.assertEqual(self.digest(ix), dig)
        self.assertEqual(tmp_gens(ix), [])
        items = made[0][1]
        self.assertEqual(made[1][1], items)
        self.assertGreaterEqual(items, 50)
        self.assertEqual(made[0][0] + made[1][0], items, made)
        runs = glob.glob(os.path.join(ix, "build", "item-*.run"))
        self.assertEqual(len(runs), items, sorted(os.listdir(os.path.join(ix, "build"))))
        # the same command without --partition merges them all
        done = self.build(ix, WIKI, *opts)
        self.assertEqual((done["items"], done["items_reused"], done["docs"]),
                         (items, items, WIKI_DOCS), done)
        self.assertNotEqual(current(ix), gen)
        self.build(self.path("plain"), WIKI, *opts)
        self.assertEqual(self.digest(ix), self.digest(self.path("plain")))
        self.assertNoLeftovers(ix)
        print("--partition 0/2 and 1/2: %d + %d of %d items; merge reused all; digest equal" % (
            made[0][0], made[1][0], items))


# ---------------------------------------------------------------------------
# 7: reshard
# ---------------------------------------------------------------------------

class TestReshard(BuildCase):
    def test_reshard_1_to_4(self):
        ix = self.path("ix")
        self.run_ok("index", ix, WIKI, "--progress", "none")
        gen = current(ix)
        before = self.batch(ix)
        ids = [h[0] for v in list(before.values())[:20] for h in v[:1]] + ["12-0", "303-0"]
        docs_before = {i: self.run_ok("get", ix, i).out for i in ids}
        r = self.run_ok("reshard", ix, "--shards", 4)
        self.assertRegex(r.out, r"resharded .* into 4 shards: generation \d+, %d documents" % WIKI_DOCS)
        self.assertNotEqual(current(ix), gen)
        st = self.stats(ix)
        self.assertEqual((st["shards"], st["documents"]), ("4", str(WIKI_DOCS)))
        self.digest(ix)
        self.assertSameRanking(before, self.batch(ix), "resharded to 4")
        for i in ids:
            self.assertEqual(self.run_ok("get", ix, i).out, docs_before[i], i)
        self.assertNoLeftovers(ix)
        # and from 4 shards to 3
        r = self.run_ok("reshard", ix, "--shards", 3, "--workers", 3)
        self.assertEqual(self.stats(ix)["shards"], "3")
        self.assertSameRanking(before, self.batch(ix), "resharded 4 -> 3")
        self.assertNoLeftovers(ix)
        print("reshard 1 -> 4 -> 3: same rankings, totals and stored documents")

    def test_reshard_needs_stored_text(self):
        cases = {"title_only": ('{"fields":{"title":{},"body":{}},"store":["title"]}', "body"),
                 "none": ('{"fields":{"title":{},"body":{}},"store":"none"}', "title")}
        for name, (schema, field) in cases.items():
            with self.subTest(store=name):
                ix = self.path(name)
                sf = self.path(name + ".json")
                with open(sf, "w") as f:
                    f.write(schema)
                self.run_ok("index", ix, SMALL, "--schema", sf, "--progress", "none")
                gen, dig = current(ix), self.digest(ix)
                gens = sorted(os.listdir(ix))
                r = self.run_fails(EX_CONFIG, "reshard", ix, "--shards", 2)
                self.assertIn('text field "%s" is not stored' % field, r.err)
                self.assertIn("nothing was published", r.err)
                self.assertEqual(current(ix), gen)
                self.assertEqual(self.digest(ix), dig)
                self.assertEqual(sorted(os.listdir(ix)), gens)  # no build/ left behind
                print("reshard with store %s: %s" % (name, r.err.splitlines()[0]))


# ---------------------------------------------------------------------------
# 8: bad lines and _bulk input cut into items
# ---------------------------------------------------------------------------

class TestBadOptions(BuildCase):
    def test_listen_with_a_bad_schema(self):
        """A builder that fails to open after --listen was given freed the
        caller's URL string: exit 139, a crash."""
        r = self.run_fails(EX_NOINPUT, "index", self.path("ix"), SMALL, "--listen",
                           "tcp://127.0.0.1:%d" % free_port(), "--schema", self.path("none.json"))
        self.assertIn("none.json", r.err)

    def test_certificates_need_tls(self):
        """TLS options go with a tls+tcp:// URL, and a TLS listener needs both
        a certificate and its key."""
        for opts in ((), ("--listen", "tcp://127.0.0.1:%d" % free_port())):
            r = self.run_fails(EX_USAGE, "index", self.path("ix"), SMALL, *opts, "--ca", "ca.pem")
            self.assertIn("tls+tcp://", r.err)
        r = self.run_fails(EX_USAGE, "index", self.path("ix"), SMALL, "--listen",
                           "tls+tcp://127.0.0.1:%d" % free_port(), "--cert", "c.pem")
        self.assertIn("needs a certificate and its key", r.err)
        r = self.run_fails(EX_USAGE, "build-worker", "--connect", "tcp://127.0.0.1:1", "--ca",
                           "ca.pem")
        self.assertIn("tls+tcp://", r.err)


class TestBadInput(BuildCase):
    # (kind, where in the third item, compressed): the bad line replaces a good
    # one by as many bytes, so that the items are cut where they were
    BAD = (("syntax", "middle", False), ("id_type", "first", False),
           ("no_id", "last", False), ("syntax", "last", True))

    def bad_file(self, kind, where, gz):
        """wiki lines with one bad line in the third work item (64 KiB items);
        returns (path, its 1-based line number, the number of lines)."""
        with open(WIKI, "rb") as f:
            lines = [next(f) for _ in range(900)]
        starts = split_items(lines, 64)
        at = {"first": starts[2], "middle": (starts[2] + starts[3]) // 2,
              "last": starts[3] - 1}[where]
        good = lines[at]
        n = len(good) - 1
        if kind == "syntax":
            bad = good[:-2] + b","  # '..."body": "...",': the input ends in the object
        else:
            head = b'{"id": 5, "title": "' if kind == "id_type" else b'{"title": "'
            bad = head + b"x" * (n - len(head) - 2) + b'"}'
        self.assertEqual(len(bad), n)
        lines[at] = bad + b"\n"
        self.assertEqual(split_items(lines, 64)[:5], starts[:5])
        path = self.path("bad-%s-%s.jsonl%s" % (kind, where, ".gz" if gz else ""))
        with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
            f.writelines(lines)
        return path, at + 1, len(lines)

    def test_bad_line_deep_inside(self):
        for kind, where, gz in self.BAD:
            with self.subTest(kind=kind, where=where, gz=gz):
                path, lineno, n = self.bad_file(kind, where, gz)
                name = os.path.basename(path)
                ix = self.path("ix-" + name)
                self.run_ok("index", ix, SMALL, "--progress", "none")
                gen = current(ix)
                r = self.run_fails(EX_DATAERR, "index", ix, path, "--item-kb", 64,
                                   "--workers", 2, "--progress", "none")
                first = r.err.splitlines()[0]
                self.assertRegex(first, r"^trawl: %s:%d:" % (re.escape(path), lineno), r)
                self.assertEqual(re.findall(r"%s:(\d+)" % re.escape(name), r.err), [str(lineno)])
                self.assertIn("nothing was published", r.err)
                self.assertEqual(current(ix), gen)
                self.assertEqual(tmp_gens(ix), [])
                # --skip-bad: published, the line reported with its number
                r = self.run_ok("index", ix, path, "--item-kb", 64, "--workers", 2,
                                "--skip-bad", "--progress", "none")
                self.assertRegex(r.err, r"(?m)^trawl: skipped: %s:%d:" % (re.escape(path), lineno))
                self.assertEqual(len(re.findall(r"skipped:", r.err)), 1, r.err)
                self.assertIn("lines: %d read, 1 rejected" % n, r.out)
                self.assertEqual(self.stats(ix)["documents"], str(n - 1))
                self.assertNotEqual(current(ix), gen)
                self.digest(ix)
                self.assertNoLeftovers(ix)
                print("bad line (%s, %s of item 3%s) at %d: %s" % (
                    kind, where, ", gzip" if gz else "", lineno, first))

    def test_bulk_pairs_never_split(self):
        rng = random.Random(SEED + 8)
        bodies = [d["body"] for d in SHARED["docs"][:400]]
        live, deleted_existing, deletes = {}, 0, []
        out = []
        n = 1500
        for i in range(n):
            doc_id = "bulk-%04d" % i
            action = "create" if i % 7 == 3 else "index"
            meta = {"_index": "x", "_id": doc_id}
            if i % 11 == 0:
                meta["routing"] = "r" * rng.randint(1, 300)  # long action lines too
            out.append(json.dumps({action: meta}))
            if i % 37 == 5:
                out.append("")  # a blank line between an action and its document
            body = "bulktok%04d %s" % (i, rng.choice(bodies)[: rng.randint(20, 1500)])
            out.append(json.dumps({"title": "Bulk %d" % i, "body": body}))
            live[doc_id] = i
            if i % 50 == 49:
                victim = "bulk-%04d" % rng.randrange(i + 1)
                out.append(json.dumps({"delete": {"_id": victim}}))
                deletes.append(victim)
                if victim in live:
                    deleted_existing += 1
                    del live[victim]
        bulk = self.path("bulk.ndjson")
        with open(bulk, "w") as f:
            f.write("\n".join(out) + "\n")
        self.assertGreater(os.path.getsize(bulk), 10 * 64 * 1024)
        ix = self.path("ix")
        r = self.run_ok("index", ix, bulk, "--item-kb", 64, "--workers", 2, "--shards", 3,
                        "--progress", "none")
        self.run_ok("index", self.path("one"), bulk, "--item-kb", 64, "--workers", 1,
                    "--shards", 3, "--progress", "none")
        self.assertEqual(self.digest(ix), self.digest(self.path("one")))
        m = re.search(r"\((\d+) workers?, (\d+) items", r.out)
        self.assertGreaterEqual(int(m.group(2)), 10, r)
        self.assertIn("%d deleted" % deleted_existing, r.out)
        self.assertEqual(self.stats(ix)["documents"], str(len(live)))
        # every document: its own token finds it, and only it
        qf = self.path("bulk.tsv")
        with open(qf, "w") as f:
            for i in range(n):
                f.write("b%04d\tbulktok%04d\n" % (i, i))
        r = self.run_ok("search", ix, "--queries", qf, "--run", "-", "-k", 5)
        hits = {}
        for ln in r.out.splitlines():
            qid, _, doc, *_ = ln.split(" ")
            hits.setdefault(qid, []).append(doc)
        want = {"b" + d[5:]: [d] for d in live}
        self.assertEqual(hits, want)
        for victim in sorted(set(deletes) - set(live)):
            g = trawl("get", ix, victim)
            self.assertEqual(g.rc, EX_NOINPUT, repr(g))
        for doc_id in rng.sample(sorted(live), 15):
            g = self.run_ok("get", ix, doc_id)  # the _bulk source: no "id" in it
            stored = json.loads(g.out)
            self.assertEqual(stored["title"], "Bulk %d" % int(doc_id[5:]))
            self.assertTrue(stored["body"].startswith("bulktok%s " % doc_id[5:]))
        print("_bulk: %d pairs, %d deletes, %d items; all %d documents found" % (
            n, len(deletes), int(m.group(2)), len(live)))


# ---------------------------------------------------------------------------
# 9: a full disk
# ---------------------------------------------------------------------------

def fsize_limit(nbytes):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death
    return pre


class TestDiskFull(BuildCase):
    def test_file_size_limit(self):
        ix = self.path("ix")
        opts = ("--item-kb", 64, "--workers", 2, "--progress", "none")
        self.run_ok("index", ix, SMALL, "--progress", "none")
        gen, dig = current(ix), self.digest(ix)
        self.run_ok("index", self.path("plain"), WIKI, *opts)
        want = self.digest(self.path("plain"))
        # 20 KB: a run file cannot be written (the work stage);
        # 1 MB: the runs can, the shard file cannot (the merge)
        for limit, stage in ((20000, "work"), (1 << 20, "merge")):
            with self.subTest(stage=stage):
                r = self.run_fails(EX_IOERR, "index", ix, WIKI, *opts,
                                   preexec_fn=fsize_limit(limit))
                self.assertRegex(r.err.splitlines()[0], r"^trawl: \S.*\S")
                self.assertIn("nothing was published", r.err)
                self.assertEqual(current(ix), gen)
                self.assertEqual(self.digest(ix), dig)
                self.assertEqual(tmp_gens(ix), [])
                self.assertEqual(glob.glob(os.path.join(ix, "build", "*.tmp")), [])
                print("file size limit %d (%s): %s" % (limit, stage, r.err.splitlines()[0]))
        # room again: the same command finishes, with the runs the merge left
        r = self.run_ok("index", ix, WIKI, *opts)
        self.assertRegex(r.out, r"\(2 workers, (\d+) items, \1 reused")
        self.assertEqual(self.digest(ix), want)
        self.assertNoLeftovers(ix)


# ---------------------------------------------------------------------------
# 10: --progress json
# ---------------------------------------------------------------------------

class TestProgressJson(BuildCase):
    def test_every_line_json(self):
        bad = self.path("bad.jsonl")  # a rejected line goes to stderr, not stdout
        with open(WIKI, "rb") as f, open(bad, "wb") as g:
            for i, ln in zip(range(300), f):
                g.write(b"not json\n" if i == 149 else ln)
        for cmd, src, opts, docs, lines, rejected in (
                ("index", WIKI, (), WIKI_DOCS, WIKI_DOCS, 0),
                ("build", SMALL, (), 28, 31, 0),
                ("index", bad, ("--skip-bad",), 299, 300, 1)):
            with self.subTest(cmd=cmd, src=os.path.basename(src)):
                ix = self.path(cmd + "-" + os.path.basename(src))
                r = self.run_ok(cmd, ix, src, "--item-kb", 64, "--progress", "json", *opts)
                if rejected:
                    self.assertRegex(r.err, r"^trawl: skipped: %s:150:" % re.escape(bad))
                else:
                    self.assertEqual(r.err, "")
                evs = [json.loads(ln) for ln in r.out.splitlines()]  # every line parses
                self.assertTrue(evs)
                done = evs[-1]
                self.assertEqual(done["event"], "done")
                self.assertEqual((done["docs"], done["lines"], done["rejected"]),
                                 (docs, lines, rejected))
                self.assertEqual(done["items_reused"], 0)
                self.assertEqual(done["generation"], int(current(ix)[4:]))
                last_docs = 0
                for ev in evs[:-1]:
                    self.assertEqual(ev["event"], "progress", ev)
                    self.assertIn(ev["stage"], ("reading", "merging", "publishing"), ev)
                    self.assertLessEqual(ev["items_done"], ev["items"], ev)
                    self.assertLessEqual(ev["items"], done["items"], ev)
                    self.assertGreaterEqual(ev["docs"], last_docs, ev)
                    last_docs = ev["docs"]
                print("--progress json (%s %s): %d lines, done: %d docs in %d items" % (
                    cmd, os.path.basename(src), len(evs), done["docs"], done["items"]))


def main():
    global TRAWL, SLOW
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        TRAWL = argv.pop(1)
    else:
        TRAWL = os.environ.get("TRAWL_BIN")
    if not TRAWL:
        sys.exit("usage: build_test.py TRAWL_BINARY [unittest options] (or set TRAWL_BIN)")
    TRAWL = os.path.abspath(TRAWL)
    if not os.access(TRAWL, os.X_OK):
        sys.exit("build_test.py: %s is not an executable" % TRAWL)
    slow = os.environ.get("TRAWL_SLOW", "")
    if not slow:
        with open(TRAWL, "rb") as f:
            slow = "1" if b"__asan_init" in f.read() else ""
    SLOW = 3.0 if slow not in ("", "0") else 1.0
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False)
    unittest.main(argv=argv, testRunner=runner)


if __name__ == "__main__":
    main()
