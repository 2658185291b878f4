#!/usr/bin/env python3
"""
serve_test.py - integration tests of trawl's serving commands: `trawl serve`,
`trawl leaf` and `trawl root`, as real processes on real loopback sockets.

    python3 tests/serve_test.py build/cli/trawl    (or TRAWL_BIN=... python3 ...)

Covered: the HTTP API's endpoints and response shape against `trawl search`
(one process and an 8-leaf cluster of 4 shards x 2 replicas), replica
failover (kill -9, SIGSTOP, a whole shard down), a generation switch under
load, bad HTTP input and garbage on a leaf's nng port, GET /_mapping (the
schema asked of a leaf, per generation), the search page's files at /_ui/. Every port is picked
by binding port 0 first; every wait is bounded; every process is stopped in
a cleanup even when a test fails, and at the end of a test that expects its
processes to live they are stopped with SIGTERM and must exit 0 with no
sanitizer report on stderr. Standard library only.

Set TRAWL_SLOW=1 (or run a sanitizer build: detected from the binary) to
stretch the timeouts that only depend on CPU speed; the behavioural bounds
(readmitted within 5 s, a new generation served within 5 s, answers within
timeout_ms ...) do not stretch, except for small allowances for scheduling
(EJECT_BOUND on top of "ejected within 3 s").

Tests of known bugs carry a "KNOWN BUG" comment (where, why, the proposed
fix) and are expected failures; TRAWL_KNOWN_BUGS=fail runs them as ordinary
tests. When one starts to pass, unittest reports an unexpected success and
the run fails: remove its decorator.
"""
import collections
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WIKI = os.path.join(ROOT, "data", "wiki-demo", "docs.jsonl")
WIKI_QUERIES = os.path.join(ROOT, "data", "wiki-demo", "queries.tsv")
SMALL = os.path.join(ROOT, "data", "fixtures", "small.jsonl")

TRAWL = None  # set in main()
SLOW = 1.0    # CPU-bound timeouts are multiplied by this (set in main())

# Tests of known bugs are skipped, with the bug named, because their outcome
# depends on timing (an expected failure that sometimes passes would make the
# run flaky); TRAWL_KNOWN_BUGS=fail runs them as ordinary tests, to see their
# failures (or check a fix).
known_bug = (unittest.skip("KNOWN BUG: see the comment above the test")
             if os.environ.get("TRAWL_KNOWN_BUGS") != "fail" else (lambda fn: fn))

# Ejection: the requirement is 3 s; the main failover test (under a query
# loop, on a shared machine) allows 0.5 s of scheduling on top, times SLOW.
# TestFailover.test_eject_within_3s measures the worst case. Set in main().
EJECT_BOUND = 3.5

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "ThreadSanitizer", "runtime error:", "Segmentation fault")

QUERY_SPECIALS = set('\\()"+-:*')


def escape_query(text):
    """Backslash-escapes trawl query syntax (docs/QUERY.md) so text is plain words."""
    words = []
    for w in text.split(" "):
        if w in ("AND", "OR", "NOT"):
            w = "\\" + w
        words.append("".join("\\" + c if c in QUERY_SPECIALS else c for c in w))
    return " ".join(words)


def wiki_queries(n=None):
    out = []
    with open(WIKI_QUERIES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" in line:
                out.append(escape_query(line.split("\t", 1)[1]))
    return out[:n] if n else out


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import free_port  # noqa: E402


def run_trawl(*args, timeout=120):
    p = subprocess.run([TRAWL] + [str(a) for a in args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def build_index(ix, src, *opts):
    rc, out, err = run_trawl("index", ix, src, *opts)
    if rc != 0:
        raise AssertionError("trawl index %s %s -> %d\n%s%s" % (ix, src, rc, out, err))


def cli_search(ix, q, k=10, offset=0):
    rc, out, err = run_trawl("search", ix, "--json", "-k", k, "--offset", offset, "--", q)
    if rc != 0:
        raise AssertionError("trawl search %s %r -> %d: %s" % (ix, q, rc, err))
    return json.loads(out)


def wait_until(fn, timeout, interval=0.05):
    """Polls fn until it returns a true value; (value, seconds) or (None, timeout)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None, time.monotonic() - t0
        time.sleep(interval)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body, secs):
        self.status, self.headers, self.body, self.secs = status, headers, body, secs
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "HTTP %s (%.3f s): %s" % (self.status, self.secs, self.body[:600])


def request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection; raises on a transport error."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Reply(r.status, dict((k.lower(), v) for k, v in r.getheaders()), data,
                     time.monotonic() - t0)
    finally:
        c.close()


def search_path(q, **params):
    params = dict(params)
    params["q"] = q
    return "/search?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def raw_exchange(port, data, timeout=5, shut=False):
    """Sends raw bytes, reads until EOF or timeout; returns (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before reading everything
        out = b""
        closed = False
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
        return out, closed
    finally:
        s.close()


def raw_status(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def raw_body(data):
    i = data.find(b"\r\n\r\n")
    return data[i + 4:] if i >= 0 else b""


def query_tree(words):
    """The query tree (docs/WIRE.md, "Query trees") that the parser makes of
    words separated by single spaces: a root from column 1 holding each word
    as an optional TERM from its column. SEARCH and FETCH carry it."""
    kids, col = b"", 1
    for w in words.split(b" "):
        kids += struct.pack("<BBHHH", 0, 0, col, 0, len(w)) + w
        col += len(w) + 1
    return b"\x02\x00" + struct.pack("<BBHHH", 3, 1, 1, 0, len(words.split(b" "))) + kids


def sp_exchange(port, data, timeout):
    """Speaks raw nng SP-over-TCP: sends data, then reads the peer's 8-byte
    header and reply frames until one whole frame came, the peer closed, or
    timeout. Returns (header, [frame payloads], closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf, closed = b"", False
    t0 = time.monotonic()
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        while time.monotonic() - t0 < timeout:
            if len(buf) >= 16:
                (n,) = struct.unpack(">Q", buf[8:16])
                if len(buf) >= 16 + n:
                    break
            try:
                s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
                chunk = s.recv(1 << 20)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        s.close()
    frames = []
    if len(buf) >= 16:
        (n,) = struct.unpack(">Q", buf[8:16])
        if len(buf) >= 16 + n:
            frames.append(buf[16:16 + n])
    return buf[:8], frames, closed


class QueryLoop:
    """Threads sending GET /search in a loop on keep-alive connections,
    recording (sent, received, status, json, error) for every request."""

    def __init__(self, port, queries, threads=2, timeout=15, host="127.0.0.1", **params):
        self.port, self.queries, self.params, self.timeout = port, queries, params, timeout
        self.host = host
        self.records = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, threads), daemon=True)
                        for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def _run(self, i, step):
        conn = None
        n = i
        while not self.stop_ev.is_set():
            q = self.queries[n % len(self.queries)]
            n += step
            t0 = time.monotonic()
            status, doc, err = None, None, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port,
                                                      timeout=self.timeout)
                conn.request("GET", search_path(q, **self.params))
                r = conn.getresponse()
                body = r.read()
                status = r.status
                try:
                    doc = json.loads(body)
                except ValueError:
                    err = "not JSON: %r" % body[:200]
                if (r.getheader("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # a transport failure is a failed request
                err = repr(e)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.records.append((t0, time.monotonic(), status, doc, err, q))
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def failures(self):
        return [r for r in self.snapshot() if r[2] != 200 or r[3] is None]

    def partial(self):
        return [r for r in self.snapshot()
                if r[2] == 200 and r[3] and r[3]["coverage"]["partial"]]


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------


def thread_stacks(pid):
    """Every thread's stack in process pid, by gdb (installed by
    scripts/deps.sh), for the failure message of a process that did not
    stop: where it waits says which lock or library call hung."""
    if not shutil.which("gdb"):
        return ""
    try:
        p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 25"],
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "gdb: %s" % e
    lines = [l for l in p.stdout.decode(errors="replace").splitlines()
             if l.startswith("#") or l.startswith("Thread ")]
    return "\n".join(lines)[-12000:]


class Proc:
    def __init__(self, name, args, tmp):
        self.name, self.args = name, [str(a) for a in args]
        self.err_path = os.path.join(tmp, "%s.%d.stderr" % (name, id(self)))
        self.out_path = os.path.join(tmp, "%s.%d.stdout" % (name, id(self)))
        with open(self.err_path, "wb") as e, open(self.out_path, "wb") as o:
            self.p = subprocess.Popen([TRAWL] + self.args, stdin=subprocess.DEVNULL, stdout=o,
                                      stderr=e, start_new_session=True)
        self.killed = False  # deliberately killed by the test: not checked at the end
        self.stopped = False

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped = True
            self.wait_stopped()
        elif sig == signal.SIGCONT:
            self.stopped = False

    def wait_stopped(self):
        """Until every thread of the process is stopped (at most 2 s): a
        SIGSTOP takes effect asynchronously, and a fresh-clone CI run once
        saw a frozen leaf answer a search sent right after it (7 ms)."""
        end = time.time() + 2
        task = "/proc/%d/task" % self.p.pid
        while time.time() < end and self.alive():
            try:
                states = []
                for t in os.listdir(task):
                    with open(os.path.join(task, t, "stat")) as f:
                        states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                states = ["?"]
            if states and all(st in ("T", "t") for st in states):
                return
            time.sleep(0.001)

    def kill9(self):
        self.killed = True
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def terminate(self, timeout):
        """SIGCONT + SIGTERM, then SIGKILL after timeout; returns (rc, hung)."""
        if not self.alive():
            return self.p.returncode, False
        try:
            os.kill(self.p.pid, signal.SIGCONT)
            os.kill(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.p.wait(timeout), False
        except subprocess.TimeoutExpired:
            self.stacks = thread_stacks(self.p.pid)
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait(10)
            return self.p.returncode, True

    def describe(self):
        return "%s (pid %d): trawl %s\nstderr: %s%s" % (
            self.name, self.p.pid, " ".join(self.args), self.stderr()[-3000:],
            "\nthreads when it hung:\n" + self.stacks if getattr(self, "stacks", "") else "")


class ServeCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="trawl-serve-")
        self.tmp = self._tmp.name
        self.procs = []
        self.addCleanup(self._tmp.cleanup)
        self.addCleanup(self._kill_all)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def _kill_all(self):
        # the root first, so that it does not log the leaves going away
        for p in reversed(self.procs):
            if p.alive():
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.p.wait(10)

    def start(self, name, *args):
        p = Proc(name, args, self.tmp)
        self.procs.append(p)
        return p

    def assertAlive(self, procs=None):
        for p in procs or self.procs:
            if p.killed:
                continue
            self.assertTrue(p.alive(), "died: rc %s: %s" % (p.p.returncode, p.describe()))
            self.assertNoSanitizer(p)

    def assertNoSanitizer(self, p):
        err = p.stderr()
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, err, p.describe())

    def shutdown_and_check(self):
        """Every process still alive, then SIGTERM: each exits 0 within the
        bound, without a sanitizer report (LeakSanitizer runs at exit)."""
        self.assertAlive()
        problems = []
        for p in reversed(self.procs):
            if p.killed:
                self.assertNoSanitizer(p)
                continue
            rc, hung = p.terminate(15 * SLOW)
            if hung:
                problems.append("did not exit within %.0f s of SIGTERM: %s" %
                                (15 * SLOW, p.describe()))
            elif rc != 0:
                problems.append("exit status %d after SIGTERM: %s" % (rc, p.describe()))
            for mark in SANITIZER_MARKS:
                if mark in p.stderr():
                    problems.append("sanitizer report: %s" % p.describe())
                    break
        self.assertEqual(problems, [], "\n\n".join(problems))

    # ---- HTTP helpers ----

    def get(self, port, path, **kw):
        return request(port, "GET", path, **kw)

    def search(self, port, q, **params):
        r = self.get(port, search_path(q, **params))
        self.assertEqual(r.status, 200, "%s -> %r" % (q, r))
        self.assertIsNotNone(r.json, repr(r))
        return r.json

    def assertError(self, r, status, type_=None, reason=None):
        """An OpenSearch-shaped JSON error: {"error":{"type","reason"},"status"}."""
        self.assertEqual(r.status, status, repr(r))
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"),
                        repr(r.headers))
        self.assertIsNotNone(r.json, repr(r))
        self.assertEqual(r.json.get("status"), status, repr(r))
        err = r.json.get("error")
        self.assertIsInstance(err, dict, repr(r))
        self.assertIsInstance(err.get("type"), str, repr(r))
        self.assertTrue(err["type"], repr(r))
        self.assertIsInstance(err.get("reason"), str, repr(r))
        self.assertTrue(err["reason"], repr(r))
        if type_:
            self.assertEqual(err["type"], type_, repr(r))
        if reason:
            self.assertRegex(err["reason"], reason, repr(r))

    def wait_ready(self, port, proc_list, timeout=15.0):
        def ready():
            for p in proc_list:
                if not p.alive():
                    raise AssertionError("died while starting: " + p.describe())
            try:
                return self.get(port, "/readyz", timeout=2).status == 200
            except OSError:
                return False
        ok, secs = wait_until(ready, timeout * SLOW)
        self.assertTrue(ok, "/readyz not 200 within %.1f s:\n%s" % (
            timeout * SLOW, "\n".join(p.describe() for p in proc_list)))
        return secs

    def start_serve(self, ix, *extra):
        port = free_port()
        p = self.start("serve", "serve", ix, "--http", "127.0.0.1:%d" % port, *extra)
        return p, port

    # ---- cluster ----

    def start_leaf(self, ix, shard, port, tag, *extra):
        return self.start("leaf-%s" % tag, "leaf", "--index", ix, "--shards", shard,
                          "--listen", "tcp://127.0.0.1:%d" % port, "--quiet", *extra)

    def leaf_counter(self, hport, type_):
        """A leaf's trawl_leaf_requests_total{type=...} from its --http /metrics."""
        r = self.get(hport, "/metrics", timeout=2)
        m = re.search(r'^trawl_leaf_requests_total\{type="%s"\} (\d+)$' % type_,
                      r.body.decode(), re.M)
        self.assertIsNotNone(m, r.body[:500])
        for gauge in ("trawl_leaf_busy", "trawl_leaf_queued", "trawl_leaf_peers_cut_total"):
            self.assertRegex(r.body.decode(), r"(?m)^%s \d+$" % gauge)
        return int(m.group(1))

    def slow_leaf_cluster(self, leaf_args, root_args=()):
        """One leaf of _MOD["ix1"] with leaf_args (a --delay, say) and a root
        over it; returns (leaf proc, the root's HTTP port) once it is ready."""
        lport = free_port()
        leaf = self.start_leaf(_MOD["ix1"], "0", lport, "slow", *leaf_args)
        cluster = self.path("cluster-slow.json")
        with open(cluster, "w") as f:
            json.dump({"shards": 1, "leaves": [{"url": "tcp://127.0.0.1:%d" % lport,
                                                "shards": [0]}]}, f)
        port = free_port()
        self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                   "--quiet", *root_args)
        self.wait_ready(port, self.procs)
        return leaf, port

    def small_cluster(self, ix, replicas, shard=0, shards=1, root_args=()):
        """One shard's replicas, each with a --http port, and a root."""
        leaves = []
        for i in range(replicas):
            lport, hport = free_port(), free_port()
            leaves.append({"url": "tcp://127.0.0.1:%d" % lport, "port": lport, "http": hport,
                           "proc": self.start_leaf(ix, shard, lport, "r%d" % i, "--http",
                                                   "127.0.0.1:%d" % hport)})
        cluster = self.path("cluster-small.json")
        with open(cluster, "w") as f:
            json.dump({"shards": shards, "leaves": [{"url": l["url"], "shards": [shard]}
                                                    for l in leaves]}, f)
        port = free_port()
        root = self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                          "--quiet", *root_args)
        self.wait_ready(port, self.procs)
        ok, _ = wait_until(lambda: all(v == "healthy" for v in self.states(port).values()),
                           5 * SLOW)
        self.assertTrue(ok, self.cluster(port))
        return root, port, leaves

    def start_cluster(self, ix, shards=4, replicas=2, root_args=()):
        """Leaves (shards x replicas), a cluster file and a root; waits until
        every replica is healthy. Returns (root proc, http port, leaves) with
        leaves a list of dicts {shard, replica, port, url, proc}."""
        leaves = []
        for s in range(shards):
            for r in range(replicas):
                port = free_port()
                leaves.append({"shard": s, "replica": r, "port": port,
                               "url": "tcp://127.0.0.1:%d" % port,
                               "proc": self.start_leaf(ix, s, port, "s%dr%d" % (s, r))})
        cluster = self.path("cluster.json")
        with open(cluster, "w") as f:
            json.dump({"shards": shards,
                       "leaves": [{"url": l["url"], "shards": [l["shard"]]} for l in leaves]},
                      f)
        hport = free_port()
        root = self.start("root", "root", "--cluster", cluster, "--http",
                          "127.0.0.1:%d" % hport, "--quiet", *root_args)
        self.wait_ready(hport, [root] + [l["proc"] for l in leaves])
        states, secs = wait_until(
            lambda: all(v == "healthy" for v in self.states(hport).values()), 5 * SLOW)
        self.assertTrue(states, "not every replica healthy: %r" % self.cluster(hport))
        return root, hport, leaves

    def leaf_per_shard(self, ix, shards):
        """One leaf per shard (no twin), each with a --http port, and a root
        without a result cache; returns (root's port, leaves)."""
        leaves = []
        for s in range(shards):
            lport, hport = free_port(), free_port()
            leaves.append({"url": "tcp://127.0.0.1:%d" % lport, "http": hport,
                           "proc": self.start_leaf(ix, s, lport, "s%d" % s, "--http",
                                                   "127.0.0.1:%d" % hport)})
        cluster = self.path("cluster-per-shard.json")
        with open(cluster, "w") as f:
            json.dump({"shards": shards, "leaves": [{"url": l["url"], "shards": [s]}
                                                    for s, l in enumerate(leaves)]}, f)
        port = free_port()
        self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                   "--quiet", "--cache-mb", "0")
        self.wait_ready(port, self.procs)
        return port, leaves

    def cluster(self, port):
        r = self.get(port, "/_trawl/cluster", timeout=5)
        self.assertEqual(r.status, 200, repr(r))
        return r.json

    def replica(self, port, url):
        return [x for x in self.cluster(port)["replicas"] if x["url"] == url][0]

    def states(self, port):
        return {x["url"]: x["state"] for x in self.cluster(port)["replicas"]}

    def wait_state(self, port, url, want, timeout):
        """Seconds until replica url shows state want; fails after timeout."""
        seen = []

        def check():
            st = self.states(port).get(url)
            if not seen or seen[-1] != st:
                seen.append(st)
            return st == want
        ok, secs = wait_until(check, timeout, 0.05)
        self.assertTrue(ok, "%s not %s within %.1f s (states seen: %s); cluster: %r" %
                        (url, want, timeout, seen, self.cluster(port)))
        return secs


# ---------------------------------------------------------------------------
# indexes built once for the module
# ---------------------------------------------------------------------------

_MOD = {}


def setUpModule():
    _MOD["tmp"] = tempfile.TemporaryDirectory(prefix="trawl-serve-ix-")
    base = _MOD["tmp"].name
    _MOD["ix1"] = os.path.join(base, "wiki1")
    _MOD["ix4"] = os.path.join(base, "wiki4")
    build_index(_MOD["ix1"], WIKI)
    build_index(_MOD["ix4"], WIKI, "--shards", "4")


def tearDownModule():
    _MOD["tmp"].cleanup()


def assert_same_results(tc, got, want, what):
    """got: an HTTP /search reply; want: `trawl search --json` output. Same
    ids in the same order, scores within 1e-4 relative, the same total."""
    gids = [h["id"] for h in got["hits"]]
    wids = [h["id"] for h in want["hits"]]
    tc.assertEqual(gids, wids, "%s: ids differ\nhttp: %r\ncli:  %r" % (
        what, [(h["id"], h["score"]) for h in got["hits"]],
        [(h["id"], h["score"]) for h in want["hits"]]))
    for g, w in zip(got["hits"], want["hits"]):
        tc.assertLessEqual(abs(g["score"] - w["score"]), 1e-4 * max(abs(w["score"]), 1e-9),
                           "%s: score of %s: %r vs %r" % (what, g["id"], g["score"], w["score"]))
    tc.assertEqual(got["total"], {"value": want["total"], "relation": "eq"}, what)


# ---------------------------------------------------------------------------
# 1. trawl serve: endpoints, shape, paging, parity with trawl search
# ---------------------------------------------------------------------------

class TestServe(ServeCase):
    QUERIES = ["griffith observatory", "solar eclipse", "\"new york\" city", "anarch*",
               "+music -rock", "title:observatory", "bowel obstruction", "vicenza italy",
               "plus size clothing", "(solar OR lunar) AND eclipse", "zzzznothingmatches",
               "history of europe", "digital scanning", "body:volcano", "music history"]

    def setUp(self):
        super().setUp()
        self.ix = self.path("ix")
        build_index(self.ix, WIKI)
        self.proc, self.port = self.start_serve(self.ix)

    def test_livez_readyz(self):
        r, secs = wait_until(lambda: self._try(lambda: self.get(self.port, "/livez")),
                             5 * SLOW)
        self.assertIsNotNone(r, "/livez never answered: " + self.proc.describe())
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"status": "ok"})
        self.wait_ready(self.port, [self.proc], 5)  # the requirement: ready within 5 s
        r = self.get(self.port, "/readyz")
        self.assertEqual((r.status, r.json), (200, {"status": "ok"}))
        r = self.get(self.port, "/healthz")
        self.assertEqual((r.status, r.json), (200, {"status": "green"}))
        r = request(self.port, "HEAD", "/livez")
        self.assertEqual((r.status, r.body), (200, b""))
        self.shutdown_and_check()

    def _try(self, fn):
        try:
            return fn()
        except OSError:
            return None

    def check_shape(self, doc, k, snippet=False, source=True):
        self.assertEqual(set(doc), {"took_ms", "cached", "generation", "total", "coverage",
                                    "hits"}, doc)
        self.assertIsInstance(doc["took_ms"], (int, float))
        self.assertGreaterEqual(doc["took_ms"], 0)
        self.assertIsInstance(doc["cached"], bool)
        self.assertIsInstance(doc["generation"], int)
        self.assertGreaterEqual(doc["generation"], 1)
        self.assertEqual(set(doc["total"]), {"value", "relation"})
        self.assertIsInstance(doc["total"]["value"], int)
        self.assertIn(doc["total"]["relation"], ("eq", "gte"))
        sh = doc["coverage"]["shards"]
        self.assertEqual(set(sh), {"total", "answered", "timed_out", "failed"})
        self.assertEqual(sh["total"], sh["answered"] + sh["timed_out"] + sh["failed"])
        self.assertIsInstance(doc["coverage"]["partial"], bool)
        self.assertLessEqual(len(doc["hits"]), k)
        scores = [h["score"] for h in doc["hits"]]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for h in doc["hits"]:
            self.assertLessEqual({"id", "score"}, set(h), h)
            self.assertLessEqual(set(h), {"id", "score", "source", "snippet"}, h)
            self.assertIsInstance(h["id"], str)
            self.assertTrue(h["id"], "empty id: %r" % h)
            self.assertIsInstance(h["score"], (int, float))
            if source:
                self.assertIsInstance(h["source"], dict)
                self.assertEqual(h["source"]["id"], h["id"])
            else:
                self.assertNotIn("source", h)
            if snippet:
                self.assertIsInstance(h["snippet"], str)

    def test_search_shape_get_and_post(self):
        self.wait_ready(self.port, [self.proc])
        doc = self.search(self.port, "griffith observatory", k=3)
        self.check_shape(doc, 3)
        self.assertEqual(len(doc["hits"]), 3)
        self.assertEqual(doc["total"]["relation"], "eq")
        self.assertEqual(doc["generation"], 1)
        self.assertEqual(doc["coverage"]["shards"],
                         {"total": 1, "answered": 1, "timed_out": 0, "failed": 0})
        self.assertFalse(doc["coverage"]["partial"])
        self.assertEqual(doc["hits"][0]["id"], "58968-0")
        # POST: the same search from a JSON body, with the aliases size/from
        for body in ({"q": "griffith observatory", "k": 3},
                     {"q": "griffith observatory", "size": 3, "from": 0, "count": True},
                     {"q": "griffith observatory", "k": "3"}):
            with self.subTest(body=body):
                r = request(self.port, "POST", "/search", body=json.dumps(body),
                            headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 200, repr(r))
                self.check_shape(r.json, 3)
                self.assertEqual([h["id"] for h in r.json["hits"]],
                                 [h["id"] for h in doc["hits"]])
                self.assertEqual(r.json["total"], doc["total"])
        # snippets from a named field, highlighted
        doc = self.search(self.port, "griffith observatory", k=2, snippet="body")
        self.check_shape(doc, 2, snippet=True)
        self.assertIn("<em>", doc["hits"][0]["snippet"])
        # count=false: the total is a lower bound
        doc = self.search(self.port, "griffith observatory", k=2, count="false")
        self.check_shape(doc, 2)
        self.assertEqual(doc["total"]["relation"], "gte")
        # and=true: every word required
        d_or = self.search(self.port, "griffith observatory", k=50)
        d_and = self.search(self.port, "griffith observatory", k=50, **{"and": "true"})
        self.assertLess(d_and["total"]["value"], d_or["total"]["value"])
        self.assertLessEqual({h["id"] for h in d_and["hits"]}, {h["id"] for h in d_or["hits"]})
        # no match
        doc = self.search(self.port, "zzzznothingmatches")
        self.check_shape(doc, 10)
        self.assertEqual((doc["hits"], doc["total"]["value"]), ([], 0))
        self.shutdown_and_check()

    # Ids come from the FETCH phase; source=false must keep them. (Every id
    # was "" until 4f34837.)
    def test_search_without_source_keeps_ids(self):
        self.wait_ready(self.port, [self.proc])
        doc = self.search(self.port, "griffith observatory", k=3, source="false")
        self.check_shape(doc, 3, source=False)
        self.assertEqual(doc["hits"][0]["id"], "58968-0")
        self.shutdown_and_check()

    def test_doc_found_and_missing(self):
        self.wait_ready(self.port, [self.proc])
        r = self.get(self.port, "/doc/58968-0")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json["id"], "58968-0")
        self.assertIs(r.json["found"], True)
        self.assertEqual(r.json["source"]["title"], "Observatory")
        rc, out, err = run_trawl("get", self.ix, "58968-0")
        self.assertEqual(rc, 0, err)
        self.assertEqual(r.json["source"], json.loads(out))
        for missing in ("no-such-doc", "58968-00", "x" * 600, "%E2%82%AC"):
            with self.subTest(id=missing):
                r = self.get(self.port, "/doc/" + missing)
                self.assertEqual(r.status, 404, repr(r))
                self.assertIs(r.json["found"], False)
        self.assertError(self.get(self.port, "/doc/"), 404)
        self.shutdown_and_check()

    def test_paging(self):
        self.wait_ready(self.port, [self.proc])
        for q in ("history of europe", "solar eclipse", "music hist*"):
            with self.subTest(q=q):
                full = self.search(self.port, q, k=20)
                self.assertEqual(len(full["hits"]), 20)
                ids = [h["id"] for h in full["hits"]]
                self.assertEqual(len(set(ids)), 20)
                paged = []
                for off, k in ((0, 3), (3, 3), (6, 5), (11, 9)):
                    d = self.search(self.port, q, k=k, offset=off)
                    self.assertEqual(d["total"], full["total"])
                    self.assertEqual([h["score"] for h in d["hits"]],
                                     [h["score"] for h in full["hits"][off:off + k]])
                    paged += [h["id"] for h in d["hits"]]
                self.assertEqual(paged, ids)
                # from/size are aliases of offset/k
                d = self.search(self.port, q, size=4, **{"from": 5})
                self.assertEqual([h["id"] for h in d["hits"]], ids[5:9])
                # past the end: no hits, same total
                tot = full["total"]["value"]
                d = self.search(self.port, q, k=10, offset=min(tot, 10000 - 10))
                self.assertEqual(d["hits"], [])
                self.assertEqual(d["total"], full["total"])
        self.shutdown_and_check()

    def test_same_as_cli(self):
        self.wait_ready(self.port, [self.proc])
        for q in self.QUERIES:
            for k, off in ((10, 0), (3, 0), (5, 7)):
                with self.subTest(q=q, k=k, offset=off):
                    got = self.search(self.port, q, k=k, offset=off)
                    want = cli_search(self.ix, q, k=k, offset=off)
                    assert_same_results(self, got, want, "%r k=%d offset=%d" % (q, k, off))
        self.shutdown_and_check()


# ---------------------------------------------------------------------------
# 2. a cluster of 8 leaves (4 shards x 2 replicas) behind a root
# ---------------------------------------------------------------------------

class TestCluster(ServeCase):
    def test_same_as_one_shard(self):
        root, port, leaves = self.start_cluster(_MOD["ix4"])
        queries = wiki_queries(100)
        self.assertEqual(len(queries), 100)
        nonempty = 0
        for q in queries:
            with self.subTest(q=q):
                got = self.search(port, q, k=10)
                self.assertFalse(got["coverage"]["partial"], got["coverage"])
                self.assertEqual(got["coverage"]["shards"],
                                 {"total": 4, "answered": 4, "timed_out": 0, "failed": 0})
                self.assertEqual(got["generation"], 1)
                want = cli_search(_MOD["ix1"], q, k=10)
                assert_same_results(self, got, want, repr(q))
                nonempty += bool(want["hits"])
                # the same query again: from the root's result cache, same answer
                again = self.search(port, q, k=10)
                self.assertIs(again["cached"], True)
                assert_same_results(self, again, want, repr(q) + " (cached)")
                self.assertEqual(again["coverage"], got["coverage"])
        self.assertGreater(nonempty, 80)
        self.shutdown_and_check()

    # Ids come back with the hits (WIRE_F_IDS) when they spare the FETCH:
    # a search that wants no stored documents and no snippets, or whose
    # shards store nothing but ids, is one round trip.
    def test_fetch_only_for_documents_and_snippets(self):
        q = "griffith observatory"
        want = cli_search(_MOD["ix1"], q, k=10)
        root, port, leaves = self.small_cluster(_MOD["ix1"], 1, root_args=("--cache-mb", "0"))
        fetches_during = self._fetch_counter(port, leaves[0]["http"], q, want)
        n, doc = fetches_during(source="false")
        self.assertEqual(n, 0, "no FETCH for ids alone")
        self.assertTrue(all("source" not in h and "snippet" not in h for h in doc["hits"]))
        n, doc = fetches_during()
        self.assertEqual(n, 1, "the stored documents need a FETCH")
        self.assertTrue(all(h["source"]["id"] == h["id"] for h in doc["hits"]), doc["hits"])
        n, doc = fetches_during(source="false", snippet="body")
        self.assertEqual(n, 1, "snippets need a FETCH")
        self.assertIn("<em>", doc["hits"][0]["snippet"])
        self.shutdown_and_check()

    def _fetch_counter(self, port, hport, q, want):
        """fetches_during(**params): the leaf's FETCHes during one search of q,
        whose answer must be want's, and the answer."""
        def fetches_during(**params):
            f0 = self.leaf_counter(hport, "fetch")
            r = self.get(port, search_path(q, k=10, **params))
            self.assertEqual(r.status, 200, repr(r))
            assert_same_results(self, r.json, want, "%r %r" % (q, params))
            return self.leaf_counter(hport, "fetch") - f0, r.json
        return fetches_during

    def test_no_fetch_from_ids_only_shards(self):
        q = "griffith observatory"
        schema = self.path("ids-only.json")
        with open(schema, "w") as f:
            json.dump({"fields": {"title": {"analyzer": "english", "boost": 0.5},
                                  "body": {"analyzer": "english", "k1": 0.9, "b": 0.4}},
                       "store": "none"}, f)
        ix = self.path("ids-only")
        build_index(ix, WIKI, "--schema", schema)
        want = cli_search(ix, q, k=10)
        self.assertEqual([h["id"] for h in want["hits"]][:1], ["58968-0"])
        root, port, leaves = self.small_cluster(ix, 1, root_args=("--cache-mb", "0"))
        fetches_during = self._fetch_counter(port, leaves[0]["http"], q, want)
        # the root learns from a leaf's replies that it stores only ids
        # (WIRE_F_NO_STORE); before that, a search wanting documents FETCHes
        n, doc = fetches_during()
        self.assertLessEqual(n, 1)
        for params in ({}, {"snippet": "body"}, {"source": "false"}):
            n, doc = fetches_during(**params)
            self.assertEqual(n, 0, "ids-only shards: no FETCH for %r" % params)
            self.assertTrue(all("source" not in h and "snippet" not in h for h in doc["hits"]))
        self.shutdown_and_check()

    # A winner whose stored document fails its checksum at the leaf (a file
    # damaged after the leaf verified it) is an error naming the document,
    # not a hit that silently lacks its source. The leaf here is a fake that
    # speaks nng's SP framing and common/wire.h, so that it can say so.
    def test_damaged_document_is_reported(self):
        REP_HS = b"\x00SP\x00\x00\x31\x00\x00"
        GEN, DOC_ID = 1, b"doc-7"

        def header(type_, rid, generation=GEN):
            return (struct.pack("<HBBHH", 0x5754, 3, type_, 0, 0) +
                    struct.pack("<QQQ", rid, 0, generation))

        def doc_record():  # shard 0, status TRAWL_ECORRUPT (4), doc 0, the id, no json/snippet
            return (struct.pack("<HHII", 0, 4, 0, len(DOC_ID)) + DOC_ID +
                    struct.pack("<II", 0, 0))

        def answer(req):
            type_, rid = req[3], struct.unpack_from("<Q", req, 8)[0]
            if type_ == 5:  # PING -> PONG: generation, queue depth, shard 0, ready
                return header(6, rid) + struct.pack("<QIHHB", GEN, 0, 1, 0, 1)
            if type_ == 1:  # SEARCH -> one hit, shard 0 doc 0
                return (header(2, rid) + struct.pack("<HBBQQIHHI", 0, 0, 0, 1, 1, 0, 1, 0, 1) +
                        struct.pack("<fHHIQ", 1.0, 0, 0, 0, 12345) + struct.pack("<I", 0))
            if type_ in (3, 8):  # FETCH, GET -> FETCH_REPLY with the damaged document
                return (header(4, rid) + struct.pack("<HHI", 0, 0, 1) + doc_record() +
                        struct.pack("<I", 0))
            return None

        def recv_exact(c, n):
            b = b""
            while len(b) < n:
                k = c.recv(n - len(b))
                if not k:
                    raise EOFError
                b += k
            return b

        def serve_conn(c):
            try:
                c.sendall(REP_HS)
                recv_exact(c, 8)
                while True:
                    n = struct.unpack(">Q", recv_exact(c, 8))[0]
                    body = recv_exact(c, n)
                    backtrace, req = body[:4], body[4:]
                    rep = answer(req)
                    if rep is not None:
                        c.sendall(struct.pack(">Q", 4 + len(rep)) + backtrace + rep)
            except (EOFError, OSError):
                pass
            finally:
                c.close()

        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        lport = lsock.getsockname()[1]

        def accept_loop():
            while True:
                try:
                    c, _ = lsock.accept()
                except OSError:
                    return
                threading.Thread(target=serve_conn, args=(c,), daemon=True).start()
        threading.Thread(target=accept_loop, daemon=True).start()
        try:
            cluster = self.path("cluster-fake.json")
            with open(cluster, "w") as f:
                json.dump({"shards": 1, "leaves": [{"url": "tcp://127.0.0.1:%d" % lport,
                                                    "shards": [0]}]}, f)
            port = free_port()
            root = self.start("root", "root", "--cluster", cluster, "--http",
                              "127.0.0.1:%d" % port, "--quiet", "--cache-mb", "0")
            self.wait_ready(port, [root])
            r = self.get(port, search_path("anything", k=1))
            self.assertEqual(r.status, 500, repr(r))
            self.assertIn('stored document "doc-7" (shard 0, doc 0) fails its checksum',
                          r.json["error"]["reason"], repr(r))
            r = self.get(port, "/doc/doc-7")
            self.assertEqual(r.status, 500, repr(r))
            self.assertIn('stored document "doc-7" (shard 0) fails its checksum',
                          r.json["error"]["reason"], repr(r))
            for path in ("/trawl/_doc/doc-7", "/trawl/_search?q=anything"):
                r = self.get(port, path)
                self.assertEqual(r.status, 500, "%s: %r" % (path, r))
                self.assertIn('"doc-7"', r.json["error"]["reason"], repr(r))
            self.shutdown_and_check()
        finally:
            lsock.close()

    def test_cluster_info_and_metrics(self):
        root, port, leaves = self.start_cluster(_MOD["ix4"])
        info = self.cluster(port)
        self.assertIs(info["ready"], True)
        self.assertEqual(len(info["replicas"]), 8)
        self.assertEqual(sorted(x["url"] for x in info["replicas"]),
                         sorted(l["url"] for l in leaves))
        for x in info["replicas"]:
            self.assertEqual(x["state"], "healthy", x)
            self.assertEqual(x["generation"], 1, x)
            self.assertLessEqual({"url", "state", "latency_ewma_ms", "outstanding",
                                  "generation", "requests", "failures", "ejections",
                                  "last_failure", "connected", "connections_made",
                                  "redials", "dead_connections_closed",
                                  "shards_out_of_service"}, set(x))
            if x["failures"]:  # only a ping missed on a loaded machine (ASan beside ASan)
                self.assertRegex(x["last_failure"], r"^no answer within \d+ ms$", x)
            else:
                self.assertEqual(x["last_failure"], "", x)
            self.assertIs(x["connected"], True, x)
            self.assertEqual(x["connections_made"], 1, x)
            # a live connection is never taken for one nng missed the end of
            self.assertEqual(x["dead_connections_closed"], 0, x)
        secret = "xyzzyplugh%d" % random.randrange(10 ** 6)
        queries = wiki_queries(20) + [secret + " observatory", "griffith " + secret]
        for q in queries:
            self.search(port, q)
        r = self.get(port, "/metrics")
        self.assertEqual(r.status, 200, repr(r))
        self.assertTrue(r.headers["content-type"].startswith("text/plain"), r.headers)
        text = r.body.decode("utf-8")
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\n]*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\n]*")*\})? '
                            r'(-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$')
        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+")
            else:
                self.assertRegex(line, sample)
        # every replica's state, latency and ejections
        for name in ("trawl_replica_state", "trawl_replica_latency_ewma_seconds",
                     "trawl_replica_ejections_total"):
            got = re.findall(r'^%s\{index="[^"]+",replica="([^"]+)"\} ' % name, text, re.M)
            self.assertEqual(sorted(got), sorted(l["url"] for l in leaves), name)
        buckets = re.findall(r'^trawl_search_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$',
                             text, re.M)
        self.assertGreaterEqual(len(buckets), 2, text)
        self.assertEqual(buckets[-1][0], "+Inf")
        counts = [int(c) for _, c in buckets]
        self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        self.assertGreaterEqual(counts[-1], len(queries))
        m = re.search(r"^trawl_search_latency_seconds_count (\d+)$", text, re.M)
        self.assertEqual(int(m.group(1)), counts[-1])
        self.assertIn("# TYPE trawl_search_latency_seconds histogram", text)
        self.assertNotIn(secret, text)
        self.assertNotIn("griffith", text)
        for q in queries:
            if len(q) >= 6:
                self.assertNotIn(q, text)
        self.shutdown_and_check()

    def test_garbage_on_leaf_port(self):
        root, port, leaves = self.start_cluster(_MOD["ix4"])
        victim = leaves[0]
        lport = victim["port"]
        REQ_HS = b"\x00SP\x00\x00\x30\x00\x00"  # SP header: a REQ0 peer (0x30) ...
        REP_HS = b"\x00SP\x00\x00\x31\x00\x00"  # ... and the leaf's REP0 (0x31) answer
        RID = b"\x80\x00\x00\x01"  # REQ's request id (the high bit ends the backtrace)

        def frame(payload):  # nng's TCP framing: u64 big-endian length, then the bytes
            return struct.pack(">Q", len(payload)) + payload

        def header(type_, flags=0, reserved=0, version=3, generation=0):  # common/wire.h
            return (struct.pack("<HBBHH", 0x5754, version, type_, flags, reserved) +
                    struct.pack("<QQQ", 7, 0, generation))

        def msg(body):
            return REQ_HS + frame(RID + body)

        def search(k, shards, query, tree=None, **kw):  # query: words; or the tree's bytes
            tree = query_tree(query) if tree is None else tree
            return msg(header(1, **kw) + struct.pack("<IH", k, len(shards)) +
                       b"".join(struct.pack("<H", s) for s in shards) +
                       struct.pack("<I", len(tree)) + tree)

        def fetch(refs, query=b"", field=b""):
            tree = query_tree(query) if query else b""
            return msg(header(3) + struct.pack("<I", len(refs)) +
                       b"".join(struct.pack("<HHI", s, 0, d) for s, d in refs) +
                       struct.pack("<I", len(tree)) + tree + struct.pack("<I", len(field)) +
                       field + struct.pack("<HHI", 0, 0, 100))

        def search_v1(k, shards, query):  # wire version 1: the query as a string
            return msg(header(1, version=1) + struct.pack("<IH", k, len(shards)) +
                       b"".join(struct.pack("<H", s) for s in shards) +
                       struct.pack("<I", len(query)) + query)
        bad_tree = bytearray(query_tree(b"music"))
        bad_tree[10] = 9  # the word's kind: none such
        rnd = random.Random(1234)
        junk = bytes(rnd.getrandbits(8) for _ in range(4096))
        # (name, bytes, the reply expected: None (any, or none), or (type, status is OK))
        SR_ERR, SR_ANY, FR, PONG = (2, False), (2, None), (4, None), (6, True)
        cases = [
            ("random bytes", junk, None),
            ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
            ("wrong protocol", b"\x00SP\x00\x00\x20\x00\x00" + frame(RID + b"hi"), None),
            ("bad SP version", b"\x00SP\x01\x00\x30\x00\x00", None),
            ("huge length", REQ_HS + struct.pack(">Q", 1 << 62), None),
            ("length over the limit", REQ_HS + struct.pack(">Q", (128 << 20) + 1) + b"x" * 99,
             None),
            ("truncated frame", REQ_HS + struct.pack(">Q", 1000) + RID + b"abc", None),
            ("no request id", REQ_HS + frame(b"\x00\x01"), None),
            ("empty message", msg(b""), SR_ERR),
            ("random message", msg(junk[:300]), SR_ERR),
            ("bad magic", msg(b"XX" + header(1)[2:]), SR_ERR),
            ("bad version", msg(header(1, version=99)), SR_ERR),
            ("unknown type", msg(header(200)), SR_ERR),
            ("a reply's type", msg(header(2)), SR_ERR),
            ("reserved bits", msg(header(5, reserved=1)), SR_ERR),
            ("SEARCH without a body", msg(header(1)), SR_ERR),
            ("SEARCH k=0", search(0, [0], b"x"), SR_ERR),
            ("SEARCH k huge", search(1 << 31, [0], b"x"), SR_ERR),
            ("SEARCH nshards past the end", msg(header(1) + struct.pack("<IH", 10, 200)),
             SR_ERR),
            ("SEARCH duplicate shards", search(10, [0, 0], b"x"), SR_ERR),
            # see test_leaf_opens_only_its_shards
            ("SEARCH a shard not served", search(10, [3], b"music"), SR_ANY),
            ("SEARCH shard 255", search(10, [255], b"music"), SR_ERR),
            ("SEARCH tree length lies", msg(header(1) + struct.pack("<IHHI", 10, 1, 0, 1 << 30)
                                            + query_tree(b"music")), SR_ERR),
            ("SEARCH bad UTF-8", search(10, [0], b"\xff\xfe music"), SR_ERR),
            ("SEARCH bad tree", search(10, [0], None, tree=bytes(bad_tree)), SR_ERR),
            ("SEARCH of wire version 1", search_v1(10, [0], b"music"), SR_ERR),
            ("SEARCH trailing bytes", msg(header(1) + struct.pack("<IHHI", 10, 1, 0, 23) +
                                          query_tree(b"music") + b"zz"), SR_ERR),
            ("SEARCH a generation not served", search(10, [0], b"music", generation=99),
             SR_ERR),
            ("FETCH past the last document", fetch([(0, 0xFFFFFFFF), (0, 10 ** 7)]), FR),
            ("FETCH a shard not served", fetch([(3, 0), (200, 1)], b"music", b"body"), FR),
            ("FETCH a field that is not one", fetch([(0, 0)], b"music", b"nosuch"), FR),
            ("FETCH no documents", fetch([]), None),
            ("GET an empty id", msg(header(8) + struct.pack("<HHI", 0, 0, 0)), None),
            ("GET id length lies", msg(header(8) + struct.pack("<HHI", 0, 0, 5000) + b"abc"),
             None),
            ("GET a missing id", msg(header(8) + struct.pack("<HHI", 0, 0, 3) + b"abc"), FR),
            ("PING with a body", msg(header(5) + b"extra"), SR_ERR),
            ("PING", msg(header(5)), PONG),
        ]
        for name, data, want in cases:
            with self.subTest(case=name):
                hs, frames, closed = sp_exchange(lport, data, 0.3 * SLOW if want is None
                                                 else 5 * SLOW)
                self.assertTrue(victim["proc"].alive(), "leaf died on %s: %s" %
                                (name, victim["proc"].describe()))
                if want is None:
                    continue
                self.assertEqual(hs, REP_HS)
                self.assertEqual(len(frames), 1, "no reply (closed: %s)" % closed)
                f = frames[0]
                self.assertEqual(f[:4], RID)
                self.assertEqual(f[4:8], b"TW\x03" + bytes([want[0]]), f[:40])
                if want[0] == 2 and want[1] is not None:  # SEARCH_REPLY: status first
                    (status,) = struct.unpack("<H", f[36:38])
                    self.assertEqual(status == 0, want[1], "status %d" % status)
                if name == "SEARCH of wire version 1":  # the root of an older build
                    self.assertIn(b"version 1 is not supported; this build speaks version 3", f)
        # a frame longer than any request a leaf takes (LIMIT_LEAF_REQUEST_BYTES,
        # about 4.3 MiB): the leaf closes the connection when it reads the
        # length, rather than buffer it (it used to take 128 MiB)
        c = socket.create_connection(("127.0.0.1", lport), timeout=5 * SLOW)
        try:
            c.sendall(REQ_HS + struct.pack(">Q", 8 << 20) + RID + b"x" * 4096)
            got = b""
            try:
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("a frame of 8 MiB: the leaf kept the connection open")
            self.assertEqual(got[8:], b"", "a frame of 8 MiB was answered")
        finally:
            c.close()
        # many connections at once, abandoned half-way through a frame
        socks = []
        try:
            for i in range(50):
                c = socket.create_connection(("127.0.0.1", lport), timeout=2)
                c.sendall(REQ_HS + struct.pack(">Q", 64) + RID)
                socks.append(c)
            doc = self.search(port, "music history", timeout_ms=2000)
            self.assertEqual(doc["coverage"]["shards"]["answered"], 4)
        finally:
            for c in socks:
                c.close()
        # the leaf is alive, still healthy at the root, and answers queries
        self.assertTrue(victim["proc"].alive(), victim["proc"].describe())
        self.assertEqual(self.states(port)[victim["url"]], "healthy", self.cluster(port))
        # send shard 0's queries to the abused leaf only: its sibling is stopped
        sibling = [l for l in leaves if l["shard"] == 0 and l is not victim][0]
        sibling["proc"].signal(signal.SIGSTOP)
        try:
            self.wait_state(port, sibling["url"], "ejected", 10 * SLOW)
            for q in wiki_queries(10):
                d = self.search(port, q)
                self.assertEqual(d["coverage"]["shards"]["answered"], 4, d["coverage"])
                assert_same_results(self, d, cli_search(_MOD["ix1"], q), repr(q))
        finally:
            sibling["proc"].signal(signal.SIGCONT)
        self.wait_state(port, sibling["url"], "healthy", 10 * SLOW)
        self.shutdown_and_check()


    # Was a bug, fixed in this session (leaf/leaf.c, leaf_start): the first generation is opened by
    # open_gen before l->shards / l->nshards are filled in from cfg->shards,
    # so `trawl leaf --shards 0` verifies and opens every shard of it: it
    # cannot start on a machine that holds only its own shard files ("shard-
    # 001.mdb: missing"), and it answers SEARCHes for shards it was not given.
    # (Later generations are opened with the right list.) Proposed fix: copy
    # cfg->shards into l->shards before the first open_gen; confirmed on a
    # scratch copy: the leaf starts and answers "shard 3 is not open here".
    def test_leaf_opens_only_its_shards(self):
        part = self.path("only-shard-0")
        shutil.copytree(_MOD["ix4"], part)
        for f in glob.glob(os.path.join(part, "gen-*", "shard-00[123].mdb")):
            os.unlink(f)
        lport = free_port()
        leaf = self.start_leaf(part, 0, lport, "only0")
        REQ_HS, RID = b"\x00SP\x00\x00\x30\x00\x00", b"\x80\x00\x00\x01"

        def search(shards):
            tree = query_tree(b"music")
            body = (struct.pack("<HBBHH", 0x5754, 3, 1, 2, 0) + struct.pack("<QQQ", 7, 0, 0) +
                    struct.pack("<IH", 10, len(shards)) +
                    b"".join(struct.pack("<H", s) for s in shards) +
                    struct.pack("<I", len(tree)) + tree)
            hs, frames, closed = sp_exchange(lport, REQ_HS + struct.pack(">Q", 4 + len(body)) +
                                             RID + body, 5 * SLOW)
            self.assertEqual(len(frames), 1, leaf.describe())
            return struct.unpack("<H", frames[0][36:38])[0]
        ok, _ = wait_until(lambda: not leaf.alive() or self._connects(lport), 5 * SLOW)
        self.assertTrue(leaf.alive(), leaf.describe())
        self.assertEqual(search([0]), 0)
        self.assertNotEqual(search([3]), 0, "a leaf of shard 0 answered for shard 3")
        self.shutdown_and_check()

    @staticmethod
    def _connects(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False


# ---------------------------------------------------------------------------
# 3. failover
# ---------------------------------------------------------------------------

class TestFailover(ServeCase):
    def report(self, what, loop):
        recs = loop.snapshot()
        part = loop.partial()
        lat = sorted(r[1] - r[0] for r in recs) or [0]
        sys.stdout.write("\n    %s: %d requests, %d failed, %d partial, p50 %.0f ms, max %.0f ms"
                         % (what, len(recs), len(loop.failures()), len(part),
                            1000 * lat[len(lat) // 2], 1000 * lat[-1]))
        sys.stdout.flush()

    def assertNoFailures(self, loop, what):
        bad = loop.failures()
        self.assertEqual(len(bad), 0, "%s: %d of %d requests failed, e.g. %r" % (
            what, len(bad), len(loop.snapshot()), bad[:3]))
        self.assertGreater(len(loop.snapshot()), 5, what)
        for r in loop.snapshot():
            if r[2] != 200:
                continue
            cov = r[3]["coverage"]
            self.assertEqual(cov["shards"]["total"], 4)
            if not cov["partial"]:
                self.assertEqual(cov["shards"]["answered"], 4, r)

    def test_failover(self):
        # no result cache: every query of the loop goes to the leaves
        root, port, leaves = self.start_cluster(_MOD["ix4"], root_args=("--cache-mb", "0"))
        queries = wiki_queries()

        # (a) kill -9 one replica of shard 0 under load
        a = [l for l in leaves if l["shard"] == 0][0]
        with QueryLoop(port, queries) as loop:
            time.sleep(1.0)
            t_kill = time.monotonic()
            a["proc"].kill9()
            self.wait_state(port, a["url"], "ejected", EJECT_BOUND - (time.monotonic() - t_kill))
            sys.stdout.write("\n    kill -9: ejected after %.2f s" % (time.monotonic() - t_kill))
            # and /_trawl/cluster says why
            why = self.cluster(port)["replicas"]
            why = [r["last_failure"] for r in why if r["url"] == a["url"]][0]
            # (a search that was under way may time out before nng reports
            # the connection lost, on a loaded machine)
            self.assertRegex(why, r"^(connection lost|call failed: input/output error|"
                                  r"no answer within \d+ ms)$")
            ok, _ = wait_until(lambda: not self.replica(port, a["url"])["connected"], 5.0, 0.05)
            self.assertTrue(ok, self.replica(port, a["url"]))
            time.sleep(max(0, 6.0 - (time.monotonic() - t_kill)))
        self.report("kill -9", loop)
        self.assertNoFailures(loop, "kill -9")
        # restart it on the same port: healthy again within 5 s
        t0 = time.monotonic()
        for attempt in range(20):
            a["proc"] = self.start_leaf(_MOD["ix4"], 0, a["port"], "s0r0-restarted")
            time.sleep(0.2)
            if a["proc"].alive():
                break
            a["proc"].killed = True  # the port was not free yet: try again
        self.assertTrue(a["proc"].alive(), a["proc"].describe())
        secs = self.wait_state(port, a["url"], "healthy", 5.0 - (time.monotonic() - t0))
        sys.stdout.write("\n    restarted: healthy after %.2f s" % (time.monotonic() - t0))
        x = self.replica(port, a["url"])
        self.assertIs(x["connected"], True, x)
        self.assertGreaterEqual(x["connections_made"], 2, x)

        # (b) SIGSTOP one replica of shard 1 for ~4 s under load
        b = [l for l in leaves if l["shard"] == 1][1]
        with QueryLoop(port, queries) as loop:
            time.sleep(1.0)
            t_stop = time.monotonic()
            b["proc"].signal(signal.SIGSTOP)
            secs = self.wait_state(port, b["url"], "ejected", EJECT_BOUND)
            sys.stdout.write("\n    SIGSTOP: ejected after %.2f s" % secs)
            why = [r["last_failure"] for r in self.cluster(port)["replicas"]
                   if r["url"] == b["url"]][0]
            self.assertRegex(why, r"^no answer within \d+ ms$")
            time.sleep(max(0, 4.0 - (time.monotonic() - t_stop)))
            b["proc"].signal(signal.SIGCONT)
            secs = self.wait_state(port, b["url"], "healthy", 5.0)
            sys.stdout.write("\n    SIGCONT: healthy after %.2f s" % secs)
            time.sleep(0.5)
        self.report("SIGSTOP", loop)
        self.assertNoFailures(loop, "SIGSTOP")
        self.assertAlive()

        # (c) both replicas of shard 2 stopped: partial answers within the deadline
        both = [l for l in leaves if l["shard"] == 2]
        for l in both:
            l["proc"].signal(signal.SIGSTOP)
        try:
            # Until they are ejected, shard 2 times out, which leaves the FETCH
            # no time: a known bug with its own test (test_partial_answer_within
            # _deadline). Here: the answers once the shard has no replica left.
            for l in both:
                self.wait_state(port, l["url"], "ejected", 10 * SLOW)
            for i, q in enumerate(queries[:12]):
                t0 = time.monotonic()
                r = self.get(port, search_path(q, timeout_ms=500))
                secs = time.monotonic() - t0
                self.assertEqual(r.status, 200, repr(r))
                self.assertLess(secs, 0.5 + 0.5 * SLOW, "took %.3f s with timeout_ms=500" % secs)
                cov = r.json["coverage"]
                self.assertIs(cov["partial"], True, cov)
                self.assertEqual(cov["shards"]["total"], 4, cov)
                self.assertEqual(cov["shards"]["answered"], 3, cov)
                self.assertEqual(cov["shards"]["failed"] + cov["shards"]["timed_out"], 1, cov)
                self.assertEqual(r.json["total"]["relation"], "gte", r.json)
                if i == 0:
                    # the other shards' hits are all there
                    want = cli_search(_MOD["ix1"], q, k=10000)
                    ids = [h["id"] for h in want["hits"]]
                    for h in r.json["hits"]:
                        self.assertIn(h["id"], ids)
            for params in ({"allow_partial": "false"}, {"min_coverage": "1"},
                           {"min_coverage": "0.9"}):
                with self.subTest(params=params):
                    r = self.get(port, search_path("music", timeout_ms=500, **params))
                    self.assertError(r, 503)
                    self.assertRegex(r.json["error"]["reason"], r"3 of 4 shards")
                    self.assertLess(r.secs, 0.5 + 0.5 * SLOW)
            r = request(port, "POST", "/search", body=json.dumps(
                {"q": "music", "timeout_ms": 500, "allow_partial": False}))
            self.assertError(r, 503)
            d = self.search(port, "music", timeout_ms=500, min_coverage="0.75")
            self.assertTrue(d["coverage"]["partial"])
            ok, _ = wait_until(lambda: self.get(port, "/readyz").status == 503, EJECT_BOUND)
            self.assertTrue(ok, "/readyz still 200 with shard 2 down: %r" % self.cluster(port))
        finally:
            for l in both:
                l["proc"].signal(signal.SIGCONT)
        for l in both:
            self.wait_state(port, l["url"], "healthy", 5.0)
        self.wait_ready(port, [root])
        d = self.search(port, "music")
        self.assertFalse(d["coverage"]["partial"], d["coverage"])
        self.shutdown_and_check()

    # The worst case: a replica fails just after a ping reached it. kill -9
    # is seen at once (nng pipe removal, since 1eb4851). A frozen one (its
    # connection still open) is ejected after eject_after (2) failed pings,
    # and a ping round lasts ping_ms (1000, slept after the round) plus
    # ping_timeout_ms (500) when a replica does not answer: 1.0 + 0.5 + 1.0 +
    # 0.5 = 3.0 s, exactly the requirement, with no margin (measured 2.99 to
    # 3.05 s; more under CPU load). The test allows 0.2 s for its own polling.
    # Suggested: ping on a fixed period, start to start (2.5 s worst case).
    def test_eject_within_3s(self):
        root, port, leaves = self.small_cluster(_MOD["ix1"], 3)
        a, b = leaves[0], leaves[1]
        # just after a ping round reached the leaves: the worst moment
        n0 = self.leaf_counter(a["http"], "ping")
        ok, _ = wait_until(lambda: self.leaf_counter(a["http"], "ping") > n0, 3, 0.002)
        self.assertTrue(ok, "no ping reached the leaf")
        a["proc"].kill9()
        b["proc"].signal(signal.SIGSTOP)
        t0 = time.monotonic()
        took = {}

        def both():
            st = self.states(port)
            for l in (a, b):
                if st[l["url"]] == "ejected" and l["url"] not in took:
                    took[l["url"]] = time.monotonic() - t0
            return len(took) == 2
        try:
            wait_until(both, 6.0, 0.02)
        finally:
            b["proc"].signal(signal.SIGCONT)
        sys.stdout.write("\n    ejected after: kill -9 %s s, SIGSTOP %s s" % (
            "%.2f" % took[a["url"]] if a["url"] in took else "> 6",
            "%.2f" % took[b["url"]] if b["url"] in took else "> 6"))
        self.assertLessEqual(took.get(a["url"], 99), 3.0 + 0.2 * SLOW, "kill -9")
        self.assertLessEqual(took.get(b["url"], 99), 3.0 + 0.2 * SLOW, "SIGSTOP")
        self.wait_state(port, b["url"], "healthy", 5)
        self.shutdown_and_check()

    def test_unconnected_replica_dialled_anew(self):
        """A replica that answers none of 5 pings in a row and has no
        connection gets a new dialer (root/replica.c, ROOT_REDIAL_AFTER), in
        case nng's is what is stuck; one that is connected keeps its
        connection however long it is silent (closing a connection with a
        message half through can hang nng 1.5.2)."""
        root, port, leaves = self.small_cluster(_MOD["ix1"], 2)
        a, b = leaves
        for l in leaves:
            x = self.replica(port, l["url"])
            self.assertEqual((x["connected"], x["connections_made"], x["redials"]),
                             (True, 1, 0), x)
        # a frozen for 6.5 s: 6 pings unanswered, its connection kept
        a["proc"].signal(signal.SIGSTOP)
        try:
            self.wait_state(port, a["url"], "ejected", 3 + SLOW)
            time.sleep(6.5)
            x = self.replica(port, a["url"])
            self.assertEqual((x["connected"], x["redials"]), (True, 0), x)
        finally:
            a["proc"].signal(signal.SIGCONT)
        self.wait_state(port, a["url"], "healthy", 5)
        x = self.replica(port, a["url"])
        self.assertEqual((x["connected"], x["connections_made"], x["redials"]), (True, 1, 0), x)
        # b killed: no connection, and after 5 pings a new dialer
        b["proc"].kill9()
        ok, secs = wait_until(lambda: self.replica(port, b["url"])["redials"] >= 1,
                              8 + 2 * SLOW, 0.05)
        x = self.replica(port, b["url"])
        self.assertTrue(ok, x)
        self.assertIs(x["connected"], False, x)
        sys.stdout.write("\n    killed: dialled anew after %.2f s" % secs)
        for attempt in range(20):
            b["proc"] = self.start_leaf(_MOD["ix1"], 0, b["port"], "r1-restarted", "--http",
                                        "127.0.0.1:%d" % b["http"])
            time.sleep(0.2)
            if b["proc"].alive():
                break
            b["proc"].killed = True  # the port was not free yet: try again
        self.wait_state(port, b["url"], "healthy", 5)
        x = self.replica(port, b["url"])
        self.assertEqual((x["connected"], x["connections_made"]), (True, 2), x)
        self.shutdown_and_check()

    # Was a bug, fixed in this session (root/root.c, search_uncached): a shard that times out holds
    # the SEARCH phase until the query's deadline, and the FETCH of the other
    # shards' winners is then given what is left: remaining_ms() = 1 ms. It
    # fails ("fetching from tcp://... failed (deadline)") and the query is a
    # 503 instead of the partial answer allow_partial (the default) promises;
    # only a FETCH that takes under a millisecond gets through. Proposed fix:
    # end the SEARCH phase early enough to leave the FETCH a reserve (say 20%
    # of the timeout, or a few times the FETCH latency EWMA), and give the
    # FETCH at least that reserve.
    def test_partial_answer_within_deadline(self):
        ix = self.path("ix2")
        build_index(ix, WIKI, "--shards", "2")
        port, leaves = self.leaf_per_shard(ix, 2)
        q = "history of europe music war state new"
        self.search(port, q, k=1000, snippet="body")
        want = {h["id"] for h in cli_search(ix, q, k=10000)["hits"]}
        leaves[1]["proc"].signal(signal.SIGSTOP)  # shard 1 stops answering
        # The root gives the SEARCH phase 4/5 of the deadline, so fetching
        # the winners has the last fifth: 500 ms at 2.5 s, for 150 snippets.
        # The deadline scales like the other CPU-bound timeouts. History: at
        # 1.5 s under ASan, 300 ms was too little on a loaded machine; at 1 s
        # in the normal build, 200 ms was too little once in a fresh-clone
        # run; at 6 s under ASan, 1.2 s for 300 snippets (70 ms on a quiet
        # machine) was too little once in a fresh-clone CI run. The page is
        # now half as large and the budget a quarter larger.
        timeout_ms = int(2500 * SLOW)
        try:
            r = self.get(port, search_path(q, k=150, snippet="body", timeout_ms=timeout_ms))
        finally:
            leaves[1]["proc"].signal(signal.SIGCONT)
        sys.stdout.write("\n    shard 1 frozen: HTTP %d after %.3f s" % (r.status, r.secs))
        self.assertEqual(r.status, 200, repr(r))
        self.assertLess(r.secs, timeout_ms / 1000 + 0.5 * SLOW)
        cov = r.json["coverage"]
        self.assertEqual((cov["partial"], cov["shards"]["answered"], cov["shards"]["timed_out"]),
                         (True, 1, 1), cov)
        self.assertGreater(len(r.json["hits"]), 100)
        self.assertLessEqual({h["id"] for h in r.json["hits"]}, want)
        self.shutdown_and_check()

    # Searches block their thread until the leaves answer. When they ran
    # inside libmicrohttpd's few event-loop threads, 16 searches on a frozen
    # shard held /livez for 2.7 s: a liveness probe would have restarted a
    # healthy root during a leaf incident. They now run on the HTTP
    # module's workers (http_response_defer), and the loops stay free.
    def test_slow_searches_do_not_block_health(self):
        root, port, leaves = self.small_cluster(_MOD["ix1"], 1, root_args=("--cache-mb", "0"))
        leaves[0]["proc"].signal(signal.SIGSTOP)
        results = []

        def slow(i):
            try:
                results.append(self.get(port, search_path("music %d" % i, timeout_ms=3000),
                                        timeout=20).status)
            except OSError as e:
                results.append(repr(e))
        ts = [threading.Thread(target=slow, args=(i,)) for i in range(16)]
        try:
            for t in ts:
                t.start()
            time.sleep(1.0)  # the searches wait for the frozen leaf until 3 s
            live = self.get(port, "/livez", timeout=20)
            ready = self.get(port, "/readyz", timeout=20)
        finally:
            for t in ts:
                t.join(30)
            leaves[0]["proc"].signal(signal.SIGCONT)
        sys.stdout.write("\n    during 16 slow searches: /livez %.2f s, /readyz %.2f s" %
                         (live.secs, ready.secs))
        self.assertEqual(sorted(set(results)), [503])  # no replica answered: an error
        self.assertEqual(live.status, 200)
        self.assertLess(live.secs, 0.5 * SLOW)
        self.assertLess(ready.secs, 0.5 * SLOW)
        self.shutdown_and_check()

    # A replica that freezes between a query's SEARCH and its FETCH: the FETCH
    # is retried on another replica of the same generation. (Until dc429a9
    # the query failed with a 503 after the whole deadline; seen under load
    # in test_failover too.)
    def freeze_during_fetch(self, port, leaves, path, froze_in_time):
        """Sends path and freezes (SIGSTOP) the first leaf whose FETCH
        counter moves, until the answer comes; then thaws it. Tries again
        until froze_in_time(reply, t_stop, t_answer) says the FETCH was
        still running when its leaf froze; skips the test after 8 tries."""
        for attempt in range(8):
            base = [self.leaf_counter(l["http"], "fetch") for l in leaves]
            res = {}

            def query():
                res["r"] = self.get(port, path, timeout=30)
                res["t"] = time.monotonic()
            th = threading.Thread(target=query)
            th.start()
            victim = None
            while victim is None and th.is_alive():
                for l, b0 in zip(leaves, base):
                    if self.leaf_counter(l["http"], "fetch") > b0:
                        l["proc"].signal(signal.SIGSTOP)  # a FETCH is being answered
                        victim = l
                        break
            t_stop = time.monotonic()
            th.join(30)
            if victim:
                victim["proc"].signal(signal.SIGCONT)
                self.wait_state(port, victim["url"], "healthy", 10 * SLOW)
                if froze_in_time(res["r"], t_stop, res["t"]):
                    return res["r"]
        self.skipTest("could not freeze a leaf during a FETCH")

    def test_fetch_fails_over(self):
        root, port, leaves = self.small_cluster(_MOD["ix1"], 2, root_args=("--cache-mb", "0"))
        q = "history of europe music war state new"
        want = cli_search(_MOD["ix1"], q, k=5000)
        # 5000 snippets, fetched twice when the first leaf freezes, the
        # second time in half the time left: the deadline scales like the
        # other CPU-bound timeouts (2 s once left the twin too little on a
        # loaded machine: 503 after 2.28 s, CI of 58a315d)
        r = self.freeze_during_fetch(port, leaves, search_path(
            q, k=5000, snippet="body", timeout_ms=int(5000 * SLOW)),
            lambda r, t_stop, t_end: t_end - t_stop > 0.02)
        sys.stdout.write("\n    FETCH leaf frozen: HTTP %d after %.2f s" % (r.status, r.secs))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual([h["id"] for h in r.json["hits"]], [h["id"] for h in want["hits"]])
        self.shutdown_and_check()

    def test_lost_fetch_answers_partial(self):
        """A shard's only replica freezes while it answers a FETCH: the
        search answers 200 at its deadline, partial, without that shard's
        hits (allow_partial, the default), or 503 when the client asked
        allow_partial=false; never a 503 for a search that may be partial
        (the multi-host suite saw it when a link was cut mid-search)."""
        port, leaves = self.leaf_per_shard(_MOD["ix4"], 4)
        q = "history of europe music war state new"
        whole = self.search(port, q, k=5000, snippet="body", timeout_ms=int(2000 * SLOW))
        want = [h["id"] for h in whole["hits"]]
        for partial_ok in ("true", "false"):
            # the search waited for its deadline: the FETCH was still
            # running when its leaf froze (else it was answered first)
            r = self.freeze_during_fetch(port, leaves, search_path(
                q, k=5000, snippet="body", timeout_ms=int(2000 * SLOW),
                allow_partial=partial_ok), lambda r, t_stop, t_end: r.secs > 1.0 * SLOW)
            sys.stdout.write("\n    FETCH leaf frozen, no twin, allow_partial=%s: HTTP %d after "
                             "%.2f s" % (partial_ok, r.status, r.secs))
            if partial_ok == "false":
                self.assertError(r, 503)
                continue
            self.assertEqual(r.status, 200, repr(r))
            got = [h["id"] for h in r.json["hits"]]
            self.assertTrue(0 < len(got) < len(want), (len(got), len(want)))
            it = iter(want)
            self.assertTrue(all(i in it for i in got), "not the whole answer's order")
            self.assertTrue(all(h.get("snippet") is not None for h in r.json["hits"]))
            cov = r.json["coverage"]
            self.assertTrue(cov["partial"], cov)
            self.assertEqual((cov["shards"]["answered"], cov["shards"]["failed"]), (3, 1), cov)
            self.assertEqual(r.json["total"]["relation"], "gte")
        self.shutdown_and_check()


# ---------------------------------------------------------------------------
# 4. a new generation under load
# ---------------------------------------------------------------------------

class TestOverload(ServeCase):
    """Issue #13, deliverable 4: overload answered early. A leaf lets at
    most --queue searches wait for its workers and refuses one more at once
    (TRAWL_EBUSY on the wire); the root asks another replica, and answers
    429 with Retry-After when none has room. The root itself lets at most
    LIMIT_ROOT_QUEUE (64) searches wait for its 64 workers. The latencies
    under an open-loop load at 2x capacity are measured by
    bench/serve/openload.sh, not here."""

    Q = "history of europe music war state new"

    def burst(self, port, path, threads, per):
        """`threads` clients at once, each sending `per` requests one after
        another; every Reply (or the exception a request raised)."""
        out, lock = [], threading.Lock()

        def client():
            for _ in range(per):
                try:
                    r = request(port, "GET", path, timeout=30 * SLOW)
                except Exception as e:  # noqa: BLE001 - reported by the test
                    r = e
                with lock:
                    out.append(r)
        ts = [threading.Thread(target=client) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out

    def metric(self, port, name):
        r = self.get(port, "/metrics", timeout=5)
        m = re.search(r"(?m)^%s (\d+)$" % re.escape(name), r.body.decode())
        self.assertIsNotNone(m, "%s not in /metrics" % name)
        return int(m.group(1))

    def assert_429(self, r, reason):
        self.assertEqual(r.status, 429, repr(r))
        self.assertEqual(r.headers.get("retry-after"), "1", repr(r))
        self.assertEqual(r.json["status"], 429, repr(r))
        self.assertEqual(r.json["error"]["type"], "rejected_execution_exception", repr(r))
        self.assertIn(reason, r.json["error"]["reason"])

    def twin_cluster(self, name, *extras):
        """One shard, a replica per tuple of leaf options in extras (each
        with --http for its /metrics), a root without a cache; once every
        replica is healthy: (root port, leaves)."""
        ix = _MOD["ix1"]
        leaves = []
        for i, extra in enumerate(extras):
            lport, hport = free_port(), free_port()
            leaves.append({"url": "tcp://127.0.0.1:%d" % lport, "http": hport,
                           "proc": self.start_leaf(ix, "0", lport, "r%d" % i, "--http",
                                                   "127.0.0.1:%d" % hport, *extra)})
        cluster = self.path(name)
        with open(cluster, "w") as f:
            json.dump({"shards": 1, "leaves": [{"url": l["url"], "shards": [0]}
                                               for l in leaves]}, f)
        port = free_port()
        self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                   "--quiet", "--cache-mb", "0")
        self.wait_ready(port, self.procs)
        ok, _ = wait_until(lambda: all(v == "healthy" for v in self.states(port).values()),
                           5 * SLOW)
        self.assertTrue(ok, self.cluster(port))
        return port, leaves

    def test_full_leaf_queue_answers_429(self):
        proc, port = self.start_serve(_MOD["ix1"], "--workers", "1", "--queue", "1",
                                      "--cache-mb", "0", "--quiet")
        self.wait_ready(port, [proc])
        replies = self.burst(port, search_path(self.Q, k=100, snippet="body"), 16, 5)
        self.assertEqual([r for r in replies if not isinstance(r, Reply)], [])
        statuses = collections.Counter(r.status for r in replies)
        sys.stdout.write("\n    16 clients x 5 on 1 worker, queue 1: %s" % dict(statuses))
        self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
        self.assertGreater(statuses[429], 0, statuses)
        self.assertGreater(statuses[200], 0, statuses)
        for r in replies:
            if r.status == 429:
                self.assert_429(r, "overloaded")
            else:
                self.assertGreater(len(r.json["hits"]), 0, repr(r))
        # every 429 was a leaf's refusal, or the root's at once when the
        # leaf had just refused one (counted apart); none held against the
        # replica
        self.assertEqual(self.metric(port, "trawl_leaf_overloaded_total") +
                         self.metric(port, "trawl_searches_shed_total"), statuses[429])
        self.assertEqual(self.get(port, "/readyz").status, 200)
        # the OpenSearch API answers in its own shape
        name = os.path.basename(_MOD["ix1"])
        os_path = "/%s/_search?q=%s&size=100" % (name, urllib.parse.quote(self.Q))
        replies = self.burst(port, os_path, 16, 3)
        self.assertEqual([r for r in replies if not isinstance(r, Reply)], [])
        statuses = collections.Counter(r.status for r in replies)
        self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
        for r in replies:
            if r.status == 429:
                self.assert_429(r, "overloaded")
        self.shutdown_and_check()

    def test_overloaded_replica_sends_to_its_twin(self):
        # replica 0 lets one search wait, replica 1 more than there are
        # clients: what 0 refuses goes to 1, and every search is answered
        port, leaves = self.twin_cluster("cluster-twin.json", ("--workers", "1", "--queue", "1"),
                                         ("--queue", "32"))
        # a session preference that sends the searches to replica 0 (left
        # to itself the root's balancing would spare the slower replica)
        pref = None
        for i in range(64):
            before = self.leaf_counter(leaves[0]["http"], "search")
            self.search(port, self.Q, preference="s%d" % i)
            if self.leaf_counter(leaves[0]["http"], "search") > before:
                pref = "s%d" % i
                break
        self.assertIsNotNone(pref)
        replies = self.burst(port, search_path(self.Q, k=100, preference=pref), 12, 10)
        self.assertEqual([r for r in replies if not isinstance(r, Reply)], [])
        statuses = collections.Counter(r.status for r in replies)
        shed = self.metric(leaves[0]["http"], "trawl_leaf_searches_shed_total")
        sys.stdout.write("\n    12 clients x 10: %s; replica 0 refused %d searches" %
                         (dict(statuses), shed))
        self.assertEqual(dict(statuses), {200: 120})
        self.assertGreater(shed, 0)
        self.assertEqual(self.metric(leaves[1]["http"], "trawl_leaf_searches_shed_total"), 0)
        # the root saw the refusals it waited for (not those of a call it had
        # cancelled, its twin having answered first)
        seen = self.metric(port, "trawl_leaf_overloaded_total")
        self.assertTrue(0 < seen <= shed, (seen, shed))
        self.assertEqual(self.states(port), {l["url"]: "healthy" for l in leaves})
        # the refusals are not held against replica 0: at most a failure or
        # two of another kind (a ping or a deadline missed on a starved
        # machine: a fresh-clone ASan run beside `yes` saw one, and its
        # ejection, while replica 0 refused 44 searches)
        for x in self.cluster(port)["replicas"]:
            self.assertLessEqual(x["failures"], 2, x)
            self.assertLess(x["failures"], shed, x)
        self.shutdown_and_check()

    def test_short_shard_waits_for_room(self):
        """A shard with one of its two replicas frozen and ejected: what the
        other (1 worker, --queue 1) refuses as overloaded is asked again
        after about one search's time, not answered 429, since the refusal
        comes from capacity the shard has just lost (resilience_test.py
        TestFrozenReplica saw such a 429 under ASan on a loaded machine).
        Bursts of three searches at once: more than the replica takes, not
        more than it serves in a moment. (Three clients without a pause
        would overload it for good: they get 429s, as they should.)"""
        port, leaves = self.twin_cluster("cluster-short.json", (),
                                         ("--workers", "1", "--queue", "1"))
        leaves[0]["proc"].signal(signal.SIGSTOP)
        try:
            self.wait_state(port, leaves[0]["url"], "ejected", 6 * SLOW)
            replies = []
            for _ in range(15):
                replies += self.burst(port, search_path(self.Q, k=100, snippet="body"), 3, 1)
        finally:
            leaves[0]["proc"].signal(signal.SIGCONT)
        self.assertEqual([r for r in replies if not isinstance(r, Reply)], [])
        statuses = collections.Counter(r.status for r in replies)
        shed = self.metric(leaves[1]["http"], "trawl_leaf_searches_shed_total")
        sys.stdout.write("\n    15 bursts of 3, one replica frozen, the other 1 worker and "
                         "queue 1: %s; it refused %d searches" % (dict(statuses), shed))
        self.assertGreater(shed, 0)  # else nothing here was tested
        self.assertEqual(dict(statuses), {200: 45})
        self.wait_state(port, leaves[0]["url"], "healthy", 10 * SLOW)
        self.shutdown_and_check()

    def test_full_root_queue_answers_429(self):
        # a leaf that holds every search 3 s (past the root's 2 s deadline)
        # with room for all of them: the root's 64 workers each hold one
        # search, 64 more wait, and the rest are answered 429 at once
        leaf, port = self.slow_leaf_cluster(
            ("--workers", "200", "--queue", "64", "--delay", "1:3000"), ("--cache-mb", "0"))
        replies = self.burst(port, search_path("music"), 160, 1)
        self.assertEqual([r for r in replies if not isinstance(r, Reply)], [])
        statuses = collections.Counter(r.status for r in replies)
        shed = [r for r in replies if r.status == 429]
        sys.stdout.write("\n    160 searches at once, each held 3 s by the leaf: %s; the "
                         "429s answered in %.3f s at most" %
                         (dict(statuses), max((r.secs for r in shed), default=0)))
        self.assertEqual(set(statuses) - {503, 429}, set(), statuses)
        self.assertGreaterEqual(len(shed), 1, statuses)
        self.assertLessEqual(len(shed), 160 - 128, statuses)
        for r in shed:
            self.assert_429(r, "waiting for the server's 64 workers")
            self.assertLess(r.secs, 1.0 * SLOW, repr(r))  # not after a worker's turn
        self.assertEqual(self.metric(port, "trawl_http_queue_full_total"), len(shed))
        self.assertTrue(leaf.alive())
        self.shutdown_and_check()


class TestGeneration(ServeCase):
    def test_switch_under_load(self):
        ix = self.path("ix")
        build_index(ix, WIKI)
        proc, port = self.start_serve(ix, "--quiet")
        self.wait_ready(port, [proc])
        queries = ["zeppelin observatory", "volcano glaciers", "griffith", "apple"]
        with QueryLoop(port, queries) as loop:
            time.sleep(1.0)
            build_index(ix, SMALL)          # publishes generation 2 with other documents
            t_pub = time.monotonic()

            def new_seen():
                return [r for r in loop.snapshot() if r[3] and r[3].get("generation") == 2]
            seen, secs = wait_until(new_seen, 5.0)
            self.assertTrue(seen, "no response with generation 2 within 5 s of publishing")
            first_new = min(r[1] for r in seen)
            sys.stdout.write("\n    generation 2 served %.2f s after publishing" %
                             (first_new - t_pub))
            self.assertLess(first_new - t_pub, 5.0)
            time.sleep(1.5)
        recs = loop.snapshot()
        bad = [r for r in recs if r[2] != 200 or r[3] is None]
        self.assertEqual(bad, [], "failed requests during the switch")
        self.assertEqual({r[3]["generation"] for r in recs}, {1, 2})
        # a request sent after the first generation-2 answer arrived never gets 1
        late_old = [r for r in recs if r[0] > first_new and r[3]["generation"] == 1]
        self.assertEqual(late_old, [], "old generation after the new one was served")
        for r in recs:
            self.assertFalse(r[3]["coverage"]["partial"], r)
            ids = [h["id"] for h in r[3]["hits"]]
            if r[3]["generation"] == 2:
                self.assertTrue(all(re.match(r"^[a-zа-яü-]+-\d\d$", i) for i in ids), r)
            else:
                self.assertTrue(all(re.match(r"^\d+-\d+$", i) for i in ids), r)
        d = self.search(port, "zeppelin")
        self.assertEqual(([h["id"] for h in d["hits"]], d["generation"]), (["air-01"], 2))
        self.assertEqual(self.get(port, "/doc/air-01").status, 200)
        self.assertEqual(self.get(port, "/doc/58968-0").status, 404)
        self.shutdown_and_check()


    # Was a bug, fixed in this session (root/root.c, root_search / cache_key; still there after
    # b2b98fa): the cache key holds the generation the leaves reported (known
    # _gen: the newest of the last ping round), not the generation(s) the
    # answer came from. While a new generation rolls out leaf by leaf, a
    # query keyed with generation 2 that is answered (wholly or partly) by a
    # leaf still on generation 1 is cached under the generation-2 key, and is
    # served from the cache after every leaf has switched: old documents,
    # labelled generation 2, until evicted. Proposed fix: in search_uncached
    # keep the smallest generation of the replies too, and in root_search put
    # the result only if min == max == the generation the key was built with.
    def test_two_publishes_within_a_ping(self):
        # The root pins each query to the generation its last pong named
        # (every answer from one generation); two publishes within one ping
        # (1 s) leave the leaf without it (it keeps the one before its
        # current only): the search is asked again for any generation
        # instead of failing. Before that fallback: 503s.
        ix = self.path("ix")
        build_index(ix, SMALL)
        proc, port = self.start_serve(ix, "--quiet", "--cache-mb", "0")
        self.wait_ready(port, [proc])
        with QueryLoop(port, ["zeppelin", "apple", "music"], threads=2) as loop:
            time.sleep(0.5)
            for _ in range(6):           # generations 2 to 7, 0.3 s apart: each
                build_index(ix, SMALL)   # one switched to (the leaf polls every
                time.sleep(0.3)          # 250 ms), two within most pings
            time.sleep(2.0)
        recs = loop.snapshot()
        bad = [r for r in recs if r[2] != 200 or r[3] is None]
        self.assertEqual(bad[:3], [], "%d of %d failed" % (len(bad), len(recs)))
        self.assertEqual(recs[-1][3]["generation"], 7)
        self.shutdown_and_check()

    def test_rolling_publish_does_not_pin_old_results(self):
        # two leaves with their own copies of a 2-shard index, as on two machines
        dirs = [self.path("a"), self.path("b")]
        for d in dirs:
            build_index(d, WIKI, "--shards", "2")
        leaves = []
        for s, d in enumerate(dirs):
            lport = free_port()
            leaves.append({"url": "tcp://127.0.0.1:%d" % lport,
                           "proc": self.start_leaf(d, s, lport, "s%d" % s)})
        cluster = self.path("cluster.json")
        with open(cluster, "w") as f:
            json.dump({"shards": 2, "leaves": [{"url": l["url"], "shards": [s]}
                                               for s, l in enumerate(leaves)]}, f)
        port = free_port()
        self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                   "--quiet")
        self.wait_ready(port, self.procs)
        small = self.path("small")
        build_index(small, SMALL, "--shards", "2")
        q = "zeppelin observatory"
        want = cli_search(small, q)

        def gens():
            return [x["generation"] for x in self.cluster(port)["replicas"]]
        # machine a publishes generation 2 first; b is still on 1
        build_index(dirs[0], SMALL, "--shards", "2")
        ok, _ = wait_until(lambda: gens() == [2, 1], 10 * SLOW)
        self.assertTrue(ok, gens())
        mixed = self.search(port, q)         # half old, half new: fine during a rollout
        # then machine b: every leaf serves generation 2
        build_index(dirs[1], SMALL, "--shards", "2")
        ok, _ = wait_until(lambda: gens() == [2, 2], 10 * SLOW)
        self.assertTrue(ok, gens())
        d = self.search(port, q)
        self.assertEqual(d["generation"], 2)
        assert_same_results(self, d, want, "%r after the rollout (cached: %s; during: %r)" %
                            (q, d["cached"], [h["id"] for h in mixed["hits"]]))
        self.shutdown_and_check()


    # Was a bug, fixed in this session (leaf/leaf.c, open_gen / watch_main; cli/serve.c): a leaf
    # serving "all shards" (trawl serve) fixes its shard list at start
    # (l->shards = [0] for a 1-shard index) and opens every later generation
    # with that list. Rebuilt with --shards 4, the index is served from shard
    # 0 alone: a quarter of the documents, with coverage saying 1 of 1 shards
    # answered and total.relation "eq". (The root of trawl serve was also told
    # there is one shard.) Proposed fix: in all-shards mode open generations
    # with no shard list, and refuse to switch to one whose shard count
    # differs ("restart to serve it"), remembering the refusal; confirmed on a
    # scratch copy (the old generation stays live, with a log line).
    def test_reshard_is_not_served_silently(self):
        ix = self.path("ix")
        build_index(ix, WIKI)
        proc, port = self.start_serve(ix, "--quiet", "--cache-mb", "0")
        self.wait_ready(port, [proc])
        q = "music history"
        want = cli_search(ix, q)
        assert_same_results(self, self.search(port, q), want, "before")
        build_index(ix, WIKI, "--shards", "4")  # the same documents, in 4 shards
        self.assertEqual(cli_search(ix, q)["total"], want["total"])
        t0 = time.monotonic()
        gens = set()
        while time.monotonic() - t0 < 3.0:
            d = self.search(port, q)
            gens.add(d["generation"])
            # the old generation, or the new one whole: never a part of it
            assert_same_results(self, d, want, "generation %d (docs_searched %d)" % (
                d["generation"], d["coverage"]["docs_searched"]))
            time.sleep(0.1)
        sys.stdout.write("\n    generations served: %s" % sorted(gens))
        self.shutdown_and_check()


# ---------------------------------------------------------------------------
# 5. bad HTTP input
# ---------------------------------------------------------------------------

class TestTokens(ServeCase):
    """Bearer tokens on the HTTP API (issue #13, root/auth.c): with token
    files, every request but the probes needs one; a search token searches
    and reads, an admin token does everything; 401 and 403 in OpenSearch's
    error shape. The same rules hold for `trawl root` (one code path)."""

    SEARCH = "search-token-0123456789abcdef"
    ADMIN = "admin-token-fedcba9876543210"

    def serve_with_tokens(self):
        st_file, ad_file = self.path("search.tokens"), self.path("admin.tokens")
        with open(st_file, "w") as f:
            f.write("# searchers\n\n%s\nsearch-token-number-two-0000\n" % self.SEARCH)
        with open(ad_file, "w") as f:
            f.write("%s\n" % self.ADMIN)
        port = free_port()
        p = self.start("serve", "serve", _MOD["ix1"], "--http", "127.0.0.1:%d" % port, "--quiet",
                       "--search-tokens", st_file, "--admin-tokens", ad_file)
        self.wait_ready(port, [p])
        return port

    def call(self, port, method, path, token=None, body=None, raw=None):
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if raw is not None:
            headers["Authorization"] = raw
        if body is not None:
            headers["Content-Type"] = "application/json"
        return request(port, method, path, body=body, headers=headers)

    def test_tokens(self):
        port = self.serve_with_tokens()
        search = search_path("solar eclipse", k=3)
        # the probes stay open, and so do the search page's own files
        for path in ("/livez", "/readyz", "/healthz", "/_ui/"):
            self.assertEqual(self.call(port, "GET", path).status, 200, path)
        # no token, a malformed header, an unknown token: 401, OpenSearch's shape
        for raw in (None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer wrong-token-0000000000000",
                    "Bearer " + self.SEARCH + "x"):
            r = self.call(port, "GET", search, raw=raw)
            self.assertEqual(r.status, 401, "%r: %r" % (raw, r))
            self.assertEqual(r.json["error"]["type"], "security_exception", repr(r))
            self.assertEqual(r.json["status"], 401, repr(r))
            self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), repr(r))
        # a search token: searches, documents, the OpenSearch reads
        for method, path, body in (("GET", search, None),
                                   ("POST", "/search", b'{"q": "solar eclipse"}'),
                                   ("GET", "/_search?q=solar", None),
                                   ("POST", "/wiki1/_search", b'{"query": {"match_all": {}}}'),
                                   ("POST", "/_count", b'{"query": {"match_all": {}}}'),
                                   ("GET", "/_mapping", None), ("GET", "/", None)):
            r = self.call(port, method, path, token=self.SEARCH, body=body)
            self.assertEqual(r.status, 200, "%s %s: %r" % (method, path, r))
        r = self.call(port, "GET", search, token="search-token-number-two-0000")
        self.assertEqual(r.status, 200, "the second token of the file: %r" % r)
        # ... but not the operators' endpoints nor a write: 403
        for method, path in (("GET", "/metrics"), ("GET", "/_trawl/cluster"),
                             ("PUT", "/trawl/_doc/1"), ("DELETE", "/trawl"),
                             ("POST", "/_bulk")):
            r = self.call(port, method, path, token=self.SEARCH, body=b"{}")
            self.assertEqual(r.status, 403, "%s %s: %r" % (method, path, r))
            self.assertEqual(r.json["error"]["type"], "security_exception", repr(r))
        # an admin token does everything (a write is still refused, by its handler)
        for method, path in (("GET", search), ("GET", "/metrics"), ("GET", "/_trawl/cluster")):
            r = self.call(port, method, path, token=self.ADMIN)
            self.assertEqual(r.status, 200, "%s %s: %r" % (method, path, r))
        r = self.call(port, "PUT", "/trawl/_doc/1", token=self.ADMIN, body=b"{}")
        self.assertNotIn(r.status, (401, 403), repr(r))
        # the scheme's case does not matter; spaces around the token do not either
        r = self.call(port, "GET", search, raw="bearer   %s  " % self.SEARCH)
        self.assertEqual(r.status, 200, repr(r))
        self.shutdown_and_check()

    def test_bad_token_files(self):
        cases = [("", "no token in the file"),
                 ("short\n", ":1: a token has 16 to 256 bytes; this one has 5"),
                 ("# c\nok-token-0123456789\nwith space 0123456789\n", ":3, column 5: a token"),
                 ("x" * 300 + "\n", ":1: a token is at most 256 bytes")]
        for i, (text, want) in enumerate(cases):
            path = self.path("bad%d.tokens" % i)
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = run_trawl("serve", _MOD["ix1"], "--http", "127.0.0.1:%d" % free_port(),
                                     "--search-tokens", path)
            self.assertNotEqual(rc, 0, text)
            self.assertIn(path, err, err)
            self.assertIn(want, err, err)
        rc, out, err = run_trawl("serve", _MOD["ix1"], "--admin-tokens", self.path("missing"))
        self.assertNotEqual(rc, 0)
        self.assertIn(self.path("missing"), err)


class TestBadInput(ServeCase):
    def setUp(self):
        super().setUp()
        self.ix = self.path("ix")
        build_index(self.ix, SMALL)
        self.proc, self.port = self.start_serve(self.ix, "--quiet")
        self.wait_ready(self.port, [self.proc])

    def post(self, body, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return request(self.port, "POST", "/search", body=body, headers={"Content-Type": ctype})

    def test_bad_json_body(self):
        A = "illegal_argument_exception"
        cases = [
            ('{"q": "zeppelin",', 400, "parse_exception", r"column"),
            ("", 400, "parse_exception", None),
            ("not json", 400, "parse_exception", r"column"),
            ('["zeppelin"]', 400, "parse_exception", r"object"),
            ('"zeppelin"', 400, "parse_exception", None),
            ('{"q": "zeppelin", "q": "fox"}', 400, "parse_exception", r"duplicate"),
            ('{"q": "zeppelin", "frobnicate": 1}', 400, A, r"frobnicate"),
            ('{"q": "zeppelin", "K": 3}', 400, A, r'"K"'),
            ('{"q": ["zeppelin"]}', 400, A, r"wrong type"),
            ('{"q": "zeppelin", "k": null}', 400, A, r"wrong type"),
            ('{"q": "zeppelin", "k": {"n": 1}}', 400, A, r"wrong type"),
            ('{"q": "zeppelin", "k": 0}', 400, A, r"\bk\b"),
            ('{"q": "zeppelin", "k": 100000}', 400, A, r"\bk\b"),
            ('{"q": "zeppelin", "k": -1}', 400, A, r"\bk\b"),
            ('{"q": "zeppelin", "k": 2.5}', 400, A, r"\bk\b"),
            ('{"q": "zeppelin", "offset": -1}', 400, A, r"offset"),
            ('{"q": "zeppelin", "timeout_ms": 0}', 400, A, r"timeout_ms"),
            ('{"q": "zeppelin", "min_coverage": 1.5}', 400, A, r"min_coverage"),
            ('{"q": "zeppelin", "allow_partial": "maybe"}', 400, A, r"allow_partial"),
            ('{"q": ""}', 400, "parse_exception", r"\bq\b"),
            ('{"k": 3}', 400, "parse_exception", r"\bq\b"),
            ('{"q": "zeppelin \\u0000 x"}', None, None, None),
            ('{"q": "zeppelin", "k": 10000, "offset": 1}', 400, None, r"10001"),
            ("{" * 100000 + "}" * 100000, 400, "parse_exception", None),
            ('{"q": "zeppelin"}' + " " * 1000 + "x", 400, "parse_exception", None),
            (b'{"q": "\xff\xfe"}', 400, None, None),
        ]
        for body, status, type_, reason in cases:
            with self.subTest(body=body[:60]):
                r = self.post(body)
                if status is None:  # anything but a crash or a 5xx
                    self.assertLess(r.status, 500, repr(r))
                    continue
                self.assertError(r, status, type_, reason)
        # a good body still works, also with another Content-Type
        r = self.post('{"q": "zeppelin", "k": 1}', ctype="text/plain")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual([h["id"] for h in r.json["hits"]], ["air-01"])
        self.shutdown_and_check()

    def test_bad_get_parameters(self):
        A = "illegal_argument_exception"
        cases = [
            ("/search?q=zeppelin&frobnicate=1", 400, A, r"frobnicate"),
            ("/search?q=zeppelin&frobnicate", 400, A, r"frobnicate"),
            ("/search?q=zeppelin&K=3", 400, A, r'"K"'),
            ("/search?q=zeppelin&k=0", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&k=100000", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&k=-3", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&k=3x", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&k=", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&k=99999999999999999999", 400, A, r"\bk\b"),
            ("/search?q=zeppelin&offset=-1", 400, A, r"offset"),
            ("/search?q=zeppelin&from=x", 400, A, r"from"),
            ("/search?q=zeppelin&size=0", 400, A, r"size"),
            ("/search?q=zeppelin&timeout_ms=0", 400, A, r"timeout_ms"),
            ("/search?q=zeppelin&timeout_ms=60001", 400, A, r"timeout_ms"),
            ("/search?q=zeppelin&min_coverage=-0.1", 400, A, r"min_coverage"),
            ("/search?q=zeppelin&min_coverage=nan", 400, A, r"min_coverage"),
            ("/search?q=zeppelin&min_coverage=1x", 400, A, r"min_coverage"),
            ("/search?q=zeppelin&allow_partial=yes", 400, A, r"allow_partial"),
            ("/search?q=zeppelin&count=2", 400, A, r"count"),
            ("/search?q=zeppelin&snippet=" + "x" * 65, 400, A, r"snippet"),
            ("/search?q=zeppelin&preference=" + "p" * 257, 400, A, r"preference"),
            ("/search?q=zeppelin&k=10000&offset=1", 400, None, r"10001"),
            ("/search", 400, "parse_exception", r"\bq\b.*no filter"),
            ("/search?q=", 400, "parse_exception", r"\bq\b"),
            ("/search?k=3", 400, "parse_exception", r"\bq\b"),
            # a filter's syntax, checked at the root; q may be left out beside one
            ("/search?q=zeppelin&filter=%5Ba%20TO%20b%5D", 400, "query_parsing_exception",
             r"^filter: column 1: a range needs a field"),
            ("/search?filter=n%3A%5B1%20TO", 400, "query_parsing_exception",
             r"^filter: column 3: unclosed range"),
            ("/search?q=&filter=a%20OR%20b%20c", 400, "query_parsing_exception",
             r"^filter: column 1: an optional clause beside required ones"),
            ("/search?filter=", 400, "query_parsing_exception", r"^filter: empty query"),
            ("/search?q=zeppelin&filter=x&filter=y", 400, A, r"filter"),
            ("/search?q=" + "w%20" * 1000 + "&filter=" + "v%20" * 30, 400,
             "query_parsing_exception",
             r"^q and filter together: the query has 1030 terms; the limit is 1024"),
            # refused by the root before any leaf sees it
            ("/search?q=" + "x" * 8193, 400, "query_parsing_exception", None),
            # other endpoints and methods
            # one segment is an index's path (GET /{index}), as in OpenSearch
            ("/nope", 404, "index_not_found_exception", r"no such index \[nope\]"),
            ("/nope/nothing/here", 404, "not_found", None),
            ("/doc/", 404, None, None),
            ("/search/", 404, None, None),
        ]
        for path, status, type_, reason in cases:
            with self.subTest(path=path[:80]):
                self.assertError(self.get(self.port, path), status, type_, reason)
        for method, path, status in (("PUT", "/search", 405), ("DELETE", "/search", 405),
                                     ("DELETE", "/doc/air-01", 405), ("PUT", "/doc/air-01", 405),
                                     ("POST", "/livez", 405), ("POST", "/doc/air-01", 405)):
            with self.subTest(method=method, path=path):
                self.assertError(request(self.port, method, path, body=b"{}"), status)
        # repeated and odd-but-valid parameters
        for path in ("/search?q=zeppelin&k=1&k=2", "/search?q=zeppelin&&k=1",
                     "/search?q=zeppelin&source=", "/search?q=zeppelin%00fox",
                     "/search?q=zeppelin&preference=abc", "/search?q=zeppelin&snippet="):
            with self.subTest(path=path):
                r = self.get(self.port, path)
                self.assertIn(r.status, (200, 400), repr(r))
                self.assertIsNotNone(r.json, repr(r))
        self.shutdown_and_check()

    # A leaf refusing a bad query is a healthy answer: three (or thirty) bad
    # queries in a row must not eject it. (Ejected it until 1eb4851.)
    def test_query_errors_do_not_eject(self):
        Q = "query_parsing_exception"
        cases = [
            ("%22zeppelin", r"column 1: unterminated quote"),
            ("zeppelin%20%28fox", r"column \d+"),
            ("zeppelin%5C", r"column 9: trailing backslash"),
            ("nosuch%3Ared", r"column 1: .*nosuch"),
            ("-zeppelin", r"column \d+"),
            ("%2A", r"column 1"),
            ("%22%22", r"column 1: empty phrase"),
            ("the", r"column 1: .*stop words"),
            ("%28" * 40 + "red" + "%29" * 40, r"column \d+"),
        ]
        for q, reason in cases:
            with self.subTest(q=q[:40]):
                self.assertError(self.get(self.port, "/search?q=" + q), 400, Q, reason)
        r = request(self.port, "POST", "/search", body=b'{"q": "\\"zeppelin"}')
        self.assertError(r, 400, Q, r"column 1")
        # filters in a body: a string, or a list whose entries are named
        r = request(self.port, "POST", "/search", body=b'{"filter": "_id:"}')
        self.assertError(r, 400, Q, r"^filter: column 1: expected an id after '_id:'")
        r = request(self.port, "POST", "/search",
                    body=b'{"q": "zeppelin", "filter": ["tags:x", "#"]}')
        self.assertError(r, 400, Q, r"^filter\[2\]: column 1: expected a term after '#'")
        r = request(self.port, "POST", "/search", body=b'{"q": "zeppelin", "filter": [1]}')
        self.assertError(r, 400, "illegal_argument_exception", r'"filter" is a string or an array')
        r = request(self.port, "POST", "/search",
                    body=json.dumps({"q": "zeppelin", "filter": ["a"] * 33}).encode())
        self.assertError(r, 400, "illegal_argument_exception", r"at most 32 filters")
        # the leaf is as healthy as before: good queries work at once
        d = self.search(self.port, "zeppelin")
        self.assertEqual([h["id"] for h in d["hits"]], ["air-01"])
        self.assertEqual(self.get(self.port, "/readyz").status, 200)
        self.assertEqual([x["state"] for x in self.cluster(self.port)["replicas"]], ["healthy"])
        self.shutdown_and_check()

    def test_size_limits(self):
        # a body of exactly 1 MiB is accepted (JSON with padding) ...
        body = b'{"q": "zeppelin", "k": 1}'
        body += b" " * ((1 << 20) - len(body))
        r = self.post(body)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual([h["id"] for h in r.json["hits"]], ["air-01"])
        # ... one byte more is 413, answered from Content-Length alone
        req = (b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % ((1 << 20) + 1))
        out, closed = raw_exchange(self.port, req, timeout=5)
        self.assertEqual(raw_status(out), 413, out[:300])
        err = json.loads(raw_body(out))
        self.assertEqual(err["status"], 413)
        self.assertTrue(err["error"]["type"] and err["error"]["reason"], err)
        # the whole oversized body sent anyway: 413 (or closed), never a crash
        r = None
        try:
            r = self.post(b"{" + b" " * (2 << 20) + b"}")
        except OSError:
            pass
        if r is not None:
            self.assertEqual(r.status, 413, repr(r))
        # a chunked body growing past the limit: 413 or the connection closed
        chunk = b"%x\r\n%s\r\n" % (64 << 10, b" " * (64 << 10))
        req = (b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               b"1\r\n{\r\n" + chunk * 20 + b"1\r\n}\r\n0\r\n\r\n")
        out, closed = raw_exchange(self.port, req, timeout=5)
        self.assertIn(raw_status(out), (413, None), out[:300])
        self.assertTrue(raw_status(out) == 413 or closed, out[:300])
        # headers over 16 KiB: 431 (or the connection closed)
        for size in (17 << 10, 40 << 10, 200 << 10):
            with self.subTest(header_bytes=size):
                req = (b"GET /search?q=zeppelin HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size +
                       b"\r\n\r\n")
                out, closed = raw_exchange(self.port, req, timeout=5)
                self.assertTrue(raw_status(out) == 431 or (not out and closed), out[:300])
        # many small headers adding up to more than 16 KiB
        req = (b"GET /search?q=zeppelin HTTP/1.1\r\nHost: x\r\n" +
               b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 20) for i in range(800)) + b"\r\n")
        out, closed = raw_exchange(self.port, req, timeout=5)
        self.assertTrue(raw_status(out) == 431 or (not out and closed), out[:300])
        # a request line over the limit
        out, closed = raw_exchange(
            self.port, b"GET /search?q=" + b"a" * (40 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(raw_status(out) in (414, 431) or (not out and closed), out[:300])
        # garbage instead of HTTP
        for junk in (b"\x00\x01\x02\x03" * 100, b"GET\r\n\r\n", b"FROB / HTTP/1.1\r\n\r\n",
                     b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                     b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                     b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999"
                     b"\r\n\r\n",
                     b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\n"):
            with self.subTest(junk=junk[:40]):
                out, closed = raw_exchange(self.port, junk, timeout=2 * SLOW, shut=True)
                st = raw_status(out)
                self.assertTrue(st is None or 400 <= st < 500 or st == 505, out[:300])
        # still serving
        d = self.search(self.port, "zeppelin")
        self.assertEqual([h["id"] for h in d["hits"]], ["air-01"])
        self.shutdown_and_check()

    def test_slow_clients_do_not_block(self):
        slow = []
        try:
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                s.sendall(b"GET /search?q=zeppelin HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(s)
            # a body promised but never sent
            for i in range(5):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"q\"")
                slow.append(s)
            time.sleep(0.2)
            worst = 0
            for i in range(30):
                t0 = time.monotonic()
                d = self.search(self.port, "zeppelin", k=1)
                worst = max(worst, time.monotonic() - t0)
                self.assertEqual([h["id"] for h in d["hits"]], ["air-01"])
            self.assertLess(worst, 1.0 * SLOW, "a request took %.3f s" % worst)
            # concurrent clients too
            errs = []

            def client():
                try:
                    for _ in range(10):
                        r = self.get(self.port, search_path("volcano", k=3))
                        if r.status != 200:
                            errs.append(r)
                except Exception as e:
                    errs.append(e)
            ts = [threading.Thread(target=client) for _ in range(8)]
            t0 = time.monotonic()
            for t in ts:
                t.start()
            for t in ts:
                t.join(30 * SLOW)
            self.assertEqual(errs, [])
            self.assertLess(time.monotonic() - t0, 10 * SLOW)
            # the slow connections are still open (the idle timeout is 10 s)
            # and finishing one of them now gets its answer
            slow[0].sendall(b"1\r\n\r\n")
            slow[0].settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = slow[0].recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(raw_status(data), 200, data[:300])
        finally:
            for s in slow:
                s.close()
        self.shutdown_and_check()

# ---------------------------------------------------------------------------
# 6. Sorting by fields and aggregations over HTTP: trawl serve on a 1-shard
#    typed index and a 2-shard cluster, against trawl search on the same
#    index
# ---------------------------------------------------------------------------

CURL = os.path.join(ROOT, "data", "curl-commits")


AGGS = {"by_author": {"terms": {"field": "author", "size": 5},
                      "aggs": {"added": {"stats": {"field": "lines_added"}}}},
        "per_year": {"date_histogram": {"field": "date", "calendar_interval": "year"}},
        "files": {"histogram": {"field": "files_changed", "interval": 10}},
        "merges": {"filter": {"term": {"merge": True}},
                   "aggs": {"who": {"cardinality": {"field": "author"}}}},
        "exts": {"terms": {"field": "extensions", "size": 3}}}

def cli_json(ix, q, *opts):
    rc, out, err = run_trawl("search", ix, "--json", *[str(o) for o in opts], "--", q)
    if rc != 0:
        raise AssertionError("trawl search %s %r %r -> %d: %s" % (ix, q, opts, rc, err))
    return json.loads(out)


class TestSortAggs(ServeCase):
    """Sorted search, search_after and aggregations through trawl serve (1
    shard) and a root over two leaves (2 shards): each equals trawl search
    on the index it serves."""

    SORTS = ["date:desc", "files_changed:desc,date", "author,_score", "lines_added:asc:first"]
    QUERIES = ["fix", "tls OR ssl", "+test -windows"]

    @classmethod
    def setUpClass(cls):
        cls._ixtmp = tempfile.TemporaryDirectory(prefix="trawl-serve-typed-")
        cls.ix1 = os.path.join(cls._ixtmp.name, "cc1")
        cls.ix2 = os.path.join(cls._ixtmp.name, "cc2")
        schema = os.path.join(CURL, "schema.json")
        build_index(cls.ix1, os.path.join(CURL, "docs.jsonl.zst"), "--schema", schema)
        build_index(cls.ix2, os.path.join(CURL, "docs.jsonl.zst"), "--schema", schema,
                    "--shards", "2")

    @classmethod
    def tearDownClass(cls):
        cls._ixtmp.cleanup()

    def servers(self):
        """(port, index) of trawl serve on the 1-shard index and of a root
        over one leaf per shard of the 2-shard index."""
        proc, port = self.start_serve(self.ix1)
        self.wait_ready(port, [proc])
        _, cport, _ = self.start_cluster(self.ix2, shards=2, replicas=1)
        return [(port, self.ix1), (cport, self.ix2)]

    def post(self, port, body, path="/search"):
        return request(port, "POST", path, body=json.dumps(body),
                       headers={"Content-Type": "application/json"})

    def test_sort_and_search_after(self):
        for port, ix in self.servers():
            for q in self.QUERIES:
                for sort in self.SORTS:
                    what = "%s %r sort=%s" % (ix, q, sort)
                    want = cli_json(ix, q, "-k", 10, "--sort", sort)
                    got = self.search(port, q, k=10, sort=sort, source="false")
                    self.assertEqual([(h["id"], h["sort"]) for h in got["hits"]],
                                     [(h["id"], h["sort"]) for h in want["hits"]], what)
                    self.assertEqual(got["total"]["value"], want["total"], what)
                    # the next page, after the fifth hit: GET, and POST with
                    # the list form of sort and search_after as an array
                    after = got["hits"][4]["sort"]
                    want2 = cli_json(ix, q, "-k", 5, "--sort", sort, "--after",
                                     json.dumps(after))
                    self.assertEqual([h["id"] for h in want2["hits"]],
                                     [h["id"] for h in want["hits"][5:]], what)
                    got2 = self.search(port, q, k=5, sort=sort, source="false",
                                       search_after=json.dumps(after))
                    self.assertEqual([(h["id"], h["sort"]) for h in got2["hits"]],
                                     [(h["id"], h["sort"]) for h in want2["hits"]], what)
                    keys = []
                    for key in sort.split(","):
                        f, *opts = key.split(":")
                        o = {}
                        for x in opts:
                            o["order" if x in ("asc", "desc") else "missing"] = (
                                x if x in ("asc", "desc") else "_" + x)
                        keys.append({f: o} if o else f)
                    r = self.post(port, {"q": q, "k": 5, "source": False, "sort": keys,
                                         "search_after": after})
                    self.assertEqual(r.status, 200, repr(r))
                    self.assertEqual([(h["id"], h["sort"]) for h in r.json["hits"]],
                                     [(h["id"], h["sort"]) for h in want2["hits"]], what)
            # bad sorts are 400s that name the parameter and the field
            r = self.get(port, search_path("fix", sort="nofield:desc"))
            self.assertError(r, 400, "illegal_argument_exception", r'^sort: .*"nofield"')
            r = self.get(port, search_path("fix", sort="title"))
            self.assertError(r, 400, "illegal_argument_exception", r'^sort: .*"title"')
            r = self.get(port, search_path("fix", sort="date:sideways"))
            self.assertError(r, 400, "illegal_argument_exception", r'^sort: .*sideways')
            r = self.get(port, search_path("fix", sort="a,b,c,d,e"))
            self.assertError(r, 400, "illegal_argument_exception", r'^sort: .*at most 4')
            r = self.get(port, search_path("fix", sort="x" * 2000))
            self.assertError(r, 400, "illegal_argument_exception", r'^sort is at most')
            r = self.post(port, {"q": "fix", "sort": [{"nofield": {"order": "up"}}]})
            self.assertError(r, 400, "illegal_argument_exception", r'^sort: .*nofield')
            r = self.post(port, {"q": "fix", "sort": [{"date": "desc"}], "search_after": 3})
            self.assertError(r, 400, "illegal_argument_exception", r'search_after')
            r = self.get(port, search_path("fix", search_after="[1]"))
            self.assertError(r, 400, "illegal_argument_exception", r'search_after needs a sort')
            r = self.get(port, search_path("fix", sort="date", search_after="{"))
            self.assertError(r, 400, "illegal_argument_exception", r'^search_after')
            r = self.get(port, search_path("fix", sort="date", search_after='["x", "1"]'))
            self.assertEqual(r.status, 400, repr(r))
            self.assertIn("search_after", r.json["error"]["reason"])
            # unsorted answers carry no sort values
            self.assertNotIn("sort", self.search(port, "fix", k=1)["hits"][0])
            # OpenSearch: sorted by fields without _score, the scores are
            # null (as OpenSearch answers) unless track_scores asks
            for body, scored in (({"sort": [{"date": "desc"}]}, False),
                                 ({"sort": [{"date": "desc"}], "track_scores": True}, True),
                                 ({"sort": ["author", "_score"]}, True), ({}, True)):
                body = dict(body, query={"match": {"title": "fix"}}, size=3)
                r = self.post(port, body, path="/_search")
                self.assertEqual(r.status, 200, repr(r))
                hits = r.json["hits"]
                self.assertEqual(len(hits["hits"]), 3, body)
                for h in hits["hits"]:
                    self.assertEqual(isinstance(h["_score"], float), scored, (body, h))
                self.assertEqual(hits["max_score"] is not None, scored, body)
            r = self.post(port, {"sort": ["date"], "track_scores": "yes"}, path="/_search")
            self.assertError(r, 400, "parsing_exception", r"track_scores")
        self.shutdown_and_check()

    def test_aggregations(self):
        afile = self.path("aggs.json")
        with open(afile, "w") as f:
            json.dump(AGGS, f)
        for port, ix in self.servers():
            for q in self.QUERIES:
                # exact: the 2-shard cluster's equal the 1-shard index's
                want = cli_json(self.ix1, q, "-k", 3, "--aggs", afile)
                what = "%s %r" % (ix, q)
                got = self.search(port, q, k=3, source="false", aggs=json.dumps(AGGS))
                self.assertEqual(got["aggregations"], want["aggregations"], what)
                self.assertEqual([h["id"] for h in got["hits"]],
                                 [h["id"] for h in want["hits"]], what)
                # size 0: only the total and the aggregations; POST; the cache
                for _ in range(2):
                    r = request(port, "POST", "/search", body=json.dumps(
                        {"q": q, "size": 0, "aggregations": AGGS}))
                    self.assertEqual(r.status, 200, repr(r))
                    self.assertEqual(r.json["hits"], [])
                    self.assertEqual(r.json["total"]["value"], want["total"], what)
                    self.assertEqual(r.json["aggregations"], want["aggregations"], what)
                # another spec, same query: not the cached answer
                r = self.search(port, q, k=0, aggs=json.dumps({"n": {"value_count": {"field": "date"}}}))
                self.assertEqual(list(r["aggregations"]), ["n"])
            r = self.get(port, search_path("fix", k=0))
            self.assertError(r, 400, "illegal_argument_exception", r"0 only with aggs")
            r = self.get(port, search_path("fix", aggs="{"))
            self.assertError(r, 400, "illegal_argument_exception", r"^aggs: ")
            r = self.get(port, search_path("fix", aggs='{"a": {"terms": {"field": "author", "size": -1}}}'))
            self.assertError(r, 400, "illegal_argument_exception", r"aggs\.a\.terms\.size")
            r = self.get(port, search_path("fix", aggs='{"a": {"terms": {"field": "nofield"}}}'))
            self.assertEqual(r.status, 400, repr(r))
            self.assertIn("nofield", r.json["error"]["reason"])
            r = request(port, "POST", "/search", body=json.dumps(
                {"q": "fix", "aggs": AGGS, "aggregations": AGGS}))
            self.assertError(r, 400, "illegal_argument_exception", r"one parameter")
        self.shutdown_and_check()


class TestMapping(ServeCase):
    """GET /_mapping and /{index}/_mapping: the schema of the generation
    served, asked of a leaf (SCHEMA, docs/WIRE.md), as OpenSearch's
    mapping; `trawl schema --from-mappings` reads it back into the same
    fields."""

    def want_properties(self, schema_path):
        """The properties the mapping should hold for a schema file of the
        data folder (its settings written as the canonical form has them)."""
        with open(schema_path) as f:
            fields = json.load(f)["fields"]
        props = {}
        for name, spec in fields.items():
            t = spec.get("type", "text")
            m = {"type": t}
            if t == "text":
                if spec.get("analyzer", "english") == "english":
                    m["analyzer"] = "english"
                if "fields" in spec:
                    m["fields"] = {k: dict(v) for k, v in spec["fields"].items()}
            else:
                for k in ("normalizer", "ignore_above", "index", "doc_values"):
                    if k in spec and spec[k] is not True:
                        m[k] = spec[k]
            props[name] = m
        return props

    def check_mapping(self, port, name, schema_path):
        want = self.want_properties(schema_path)
        for path in ("/_mapping", "/%s/_mapping" % name, "/_all/_mapping",
                     "/%s*/_mapping" % name[:1]):
            r = self.get(port, path)
            self.assertEqual(r.status, 200, "%s: %r" % (path, r))
            self.assertTrue(r.headers["content-type"].startswith("application/json"))
            self.assertEqual(list(r.json), [name], path)
            self.assertEqual(list(r.json[name]), ["mappings"], path)
            props = r.json[name]["mappings"]["properties"]
            self.assertEqual(props, want, path)
            # in the schema's order: text fields first, then the typed ones
            with open(schema_path) as f:
                order = list(json.load(f, object_pairs_hook=dict)["fields"])
            texts = [k for k in order if want[k]["type"] == "text"]
            self.assertEqual(list(props), texts + [k for k in order if k not in texts])
        # the inverse: the same fields and types, and nothing to warn about
        mp = self.path("mapping-%d.json" % port)
        with open(mp, "wb") as f:
            f.write(self.get(port, "/%s/_mapping" % name).body)
        rc, out, err = run_trawl("schema", "--from-mappings", mp)
        self.assertEqual((rc, err), (0, ""), out)
        back = json.loads(out)["fields"]
        self.assertEqual({k: v.get("type") for k, v in back.items()},
                         {k: v["type"] for k, v in want.items()})
        # patterns that match nothing: an empty answer; another name: 404
        r = self.get(port, "/zzz*/_mapping")
        self.assertEqual((r.status, r.json), (200, {}))
        self.assertError(self.get(port, "/nope/_mapping"), 404, "index_not_found_exception")
        self.assertError(self.get(port, "/_mapping?nope=1"), 400,
                         "illegal_argument_exception", r"nope")
        self.assertError(request(port, "PUT", "/%s/_mapping" % name, body="{}"), 405)
        self.assertError(request(port, "POST", "/_mapping", body="{}"), 405)

    def test_serve_and_cluster(self):
        schema = os.path.join(CURL, "schema.json")
        base = self.path("ix")
        os.mkdir(base)
        ix1, ix2 = os.path.join(base, "cc"), os.path.join(base, "cc2")
        build_index(ix1, os.path.join(CURL, "docs.jsonl.zst"), "--schema", schema)
        build_index(ix2, os.path.join(CURL, "docs.jsonl.zst"), "--schema", schema,
                    "--shards", "2")
        proc, port = self.start_serve(ix1)
        self.wait_ready(port, [proc])
        self.check_mapping(port, "cc", schema)
        # a root over 2 shards x 2 replicas: any replica answers, and one
        # down leaves the other
        _, cport, leaves = self.start_cluster(ix2, shards=2, replicas=2)
        self.check_mapping(cport, "trawl", schema)
        for l in leaves:
            if l["shard"] == 0 and l["replica"] == 0:
                l["proc"].kill9()
        # the root has the schema already; a new root has to ask a leaf
        cluster = self.path("cluster.json")
        nport = free_port()
        self.start("root2", "root", "--cluster", cluster, "--http",
                   "127.0.0.1:%d" % nport, "--quiet", "--name", "cc2")

        def answers():
            try:
                return self.get(nport, "/_mapping", timeout=5).status == 200
            except OSError:
                return False  # not listening yet
        ok, _ = wait_until(answers, 10 * SLOW)
        self.assertTrue(ok, repr(self.get(nport, "/_mapping")))
        self.check_mapping(nport, "cc2", schema)
        self.shutdown_and_check()

    def test_new_generation_new_mapping(self):
        """The root keeps the schema per generation: a build with another
        schema is seen once the leaf serves it."""
        ix = self.path("small")
        s1, s2 = self.path("s1.json"), self.path("s2.json")
        with open(s1, "w") as f:
            json.dump({"fields": {"title": {}, "body": {"analyzer": "plain"}}}, f)
        with open(s2, "w") as f:
            json.dump({"fields": {"title": {}, "body": {}, "id2": {"type": "keyword"}},
                       "store": "none"}, f)
        build_index(ix, SMALL, "--schema", s1)
        proc, port = self.start_serve(ix)
        self.wait_ready(port, [proc])
        first = self.get(port, "/_mapping").json["small"]["mappings"]
        self.assertEqual(first, {"properties": {"title": {"type": "text", "analyzer": "english"},
                                                "body": {"type": "text"}}})
        build_index(ix, SMALL, "--schema", s2)

        def switched():
            m = self.get(port, "/_mapping").json["small"]["mappings"]
            return m if "id2" in m["properties"] else None
        m, secs = wait_until(switched, 10 * SLOW, 0.1)
        self.assertIsNotNone(m, "the mapping did not change within %.0f s" % secs)
        self.assertEqual(m, {"properties": {"title": {"type": "text", "analyzer": "english"},
                                            "body": {"type": "text", "analyzer": "english"},
                                            "id2": {"type": "keyword"}},
                             "_source": {"enabled": False}})
        self.shutdown_and_check()


class TestDrain(ServeCase):
    """--drain-ms: SIGTERM turns /readyz to 503 "draining" while searches
    are still answered (each closing its connection), then the process
    stops and exits 0; SIGINT stops at once. tests/multihost_test.py
    checks that HAProxy moves away from a draining root without a failed
    query."""

    def test_sigterm_drains_then_stops(self):
        drain = 2.0 * SLOW
        proc, port = self.start_serve(_MOD["ix1"], "--drain-ms", str(int(drain * 1000)))
        self.wait_ready(port, [proc])
        r = self.get(port, search_path("observatory"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertNotEqual(r.headers.get("connection", "").lower(), "close")
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)

        def draining():
            r = self.get(port, "/readyz", timeout=2)
            return r if r.status == 503 else None
        r, _ = wait_until(draining, 1.0 * SLOW, 0.02)
        self.assertIsNotNone(r, "/readyz still 200 after SIGTERM")
        self.assertEqual(r.json, {"status": "draining"})
        n = 0
        while time.monotonic() - t0 < drain * 0.6:
            r = self.get(port, search_path("solar eclipse"))
            self.assertEqual(r.status, 200, "a search while draining: %r" % r)
            self.assertEqual(r.headers.get("connection", "").lower(), "close", r.headers)
            n += 1
        self.assertGreater(n, 0)
        rc = proc.p.wait(drain + 10 * SLOW)
        took = time.monotonic() - t0
        sys.stdout.write("\n    %d searches answered while draining; stopped %.2f s after "
                         "SIGTERM (--drain-ms %d)" % (n, took, drain * 1000))
        self.assertEqual(rc, 0, proc.describe())
        self.assertGreaterEqual(took, drain - 0.05)
        self.assertIn("draining for", proc.stderr())
        self.assertNoSanitizer(proc)

    def test_sigint_and_second_signal_stop_at_once(self):
        proc, port = self.start_serve(_MOD["ix1"], "--drain-ms", "600000", "--quiet")
        self.wait_ready(port, [proc])
        t0 = time.monotonic()
        proc.signal(signal.SIGINT)
        self.assertEqual(proc.p.wait(10 * SLOW), 0, proc.describe())
        self.assertLess(time.monotonic() - t0, 10 * SLOW)
        proc, port = self.start_serve(_MOD["ix1"], "--drain-ms", "600000", "--quiet")
        self.wait_ready(port, [proc])
        proc.signal(signal.SIGTERM)
        ok, _ = wait_until(lambda: self.get(port, "/readyz", timeout=2).status == 503, 2 * SLOW)
        self.assertTrue(ok, "SIGTERM did not start the drain")
        self.assertTrue(proc.alive(), "stopped at once despite --drain-ms")
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.p.wait(10 * SLOW), 0, proc.describe())
        self.assertLess(time.monotonic() - t0, 10 * SLOW)
        self.assertNoSanitizer(proc)
        rc, _, err = run_trawl("root", "--cluster", "x.json", "--drain-ms", "600001")
        self.assertEqual(rc, 64, err)
        self.assertIn("--drain-ms takes 0 to 600000", err)


    def test_stop_bounded(self):
        """A stop that cannot finish exits 0 within LIMIT_STOP_MS (5 s) of
        the signal, saying so: here a leaf's worker holds a search that
        --delay keeps for 60 s (a worker finishes the request in hand);
        nng 1.5.2 can leave a connection's teardown waiting forever, and a
        root of the multi-host suite once did not stop within 15 s
        (docs/RESILIENCE.md)."""
        hport = free_port()
        leaf, port = self.slow_leaf_cluster(("--http", "127.0.0.1:%d" % hport, "--delay",
                                             "1:60000"))
        r = self.get(port, search_path("observatory", timeout_ms=300))
        self.assertNotEqual(r.status, 200, repr(r))  # the leaf holds it
        ok, _ = wait_until(lambda: self.leaf_counter(hport, "search") >= 1, 5 * SLOW)
        self.assertTrue(ok, leaf.describe())
        t0 = time.monotonic()
        leaf.signal(signal.SIGTERM)
        rc = leaf.p.wait(5 + 10 * SLOW)
        took = time.monotonic() - t0
        leaf.killed = True  # stopped here
        sys.stdout.write("\n    a leaf with a search in hand for 60 s stopped %.2f s after "
                         "SIGTERM" % took)
        self.assertEqual(rc, 0, leaf.describe())
        self.assertGreaterEqual(took, 5.0 - 0.1)
        self.assertIn("still stopping 5000 ms after the signal", leaf.stderr())


class TestSearchPage(ServeCase):
    """/_ui/: the page's files, embedded in the binary, with their headers,
    from trawl serve and trawl root alike (tests/ui_test.py drives the page
    itself in a browser)."""

    FILES = {"": ("index.html", "text/html; charset=utf-8"),
             "index.html": ("index.html", "text/html; charset=utf-8"),
             "app.js": ("app.js", "text/javascript; charset=utf-8"),
             "style.css": ("style.css", "text/css; charset=utf-8"),
             "icon.svg": ("icon.svg", "image/svg+xml")}

    def check_page(self, port):
        for path, (name, ctype) in self.FILES.items():
            with open(os.path.join(ROOT, "ui", name), "rb") as f:
                want = f.read()
            for method in ("GET", "HEAD"):
                r = request(port, method, "/_ui/" + path)
                self.assertEqual(r.status, 200, "%s /_ui/%s: %r" % (method, path, r))
                self.assertEqual(r.headers["content-type"], ctype)
                self.assertEqual(r.headers["cache-control"], "no-cache")
                self.assertIn("default-src 'self'", r.headers["content-security-policy"])
                self.assertEqual(r.headers["x-content-type-options"], "nosniff")
                self.assertEqual(int(r.headers["content-length"]), len(want))
                self.assertEqual(r.body, want if method == "GET" else b"")
        # /_ui: to /_ui/, the query string kept
        for path, to in (("/_ui", "/_ui/"), ("/_ui?q=a%20b&filter=x", "/_ui/?q=a%20b&filter=x")):
            r = self.get(port, path)
            self.assertEqual((r.status, r.headers.get("location")), (308, to), path)
        for path in ("/_ui/nope.js", "/_ui/ui/app.js", "/_ui/..", "/_ui/app.js/"):
            self.assertError(self.get(port, path), 404, "not_found")
        self.assertError(request(port, "POST", "/_ui/", body="x"), 405)
        self.assertError(self.get(port, "/_uix"), 404)

    def test_serve_and_root(self):
        proc, port = self.start_serve(_MOD["ix1"])
        self.wait_ready(port, [proc])
        self.check_page(port)
        _, cport, _ = self.small_cluster(_MOD["ix1"], 1)
        self.check_page(cport)
        self.shutdown_and_check()


def main():
    global TRAWL, SLOW, EJECT_BOUND
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        TRAWL = argv.pop(1)
    else:
        TRAWL = os.environ.get("TRAWL_BIN")
    if not TRAWL:
        sys.exit("usage: serve_test.py TRAWL_BINARY [unittest options] (or set TRAWL_BIN)")
    TRAWL = os.path.abspath(TRAWL)
    if not os.access(TRAWL, os.X_OK):
        sys.exit("serve_test.py: %s is not an executable" % TRAWL)
    slow = os.environ.get("TRAWL_SLOW", "")
    if not slow:
        with open(TRAWL, "rb") as f:
            slow = "1" if b"__asan_init" in f.read() else ""
    SLOW = 3.0 if slow not in ("", "0") else 1.0
    EJECT_BOUND = 3.0 + 0.5 * SLOW
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False)
    unittest.main(argv=argv, testRunner=runner)


if __name__ == "__main__":
    main()
