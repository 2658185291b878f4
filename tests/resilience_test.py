#!/usr/bin/env python3
"""
resilience_test.py - the attacks of issue #13 (a red team's findings),
each rerun against a loaded cluster of real processes on loopback, with
the promise it broke checked as a test: a client that does its worst must
not cost another client a query.

    python3 tests/resilience_test.py build/cli/trawl    (or TRAWL_BIN=...)

Every test runs a 2-shard x 2-replica cluster (4 leaves and a root, no
result cache, so every query reaches the leaves) under a steady loop of
ordinary searches, runs one attack beside it, and checks that every
ordinary search was answered 200 and whole, and that the cluster is still
healthy afterwards. docs/RESILIENCE.md lists each fault, the promise and
its test. The process and HTTP helpers are serve_test.py's.
"""
import json
import os
import random
import re
import resource
import shutil
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_test as st  # noqa: E402
from serve_test import ServeCase, QueryLoop, free_port, search_path  # noqa: E402

# nng's SP-over-TCP framing and common/wire.h, as docs/WIRE.md gives them
REQ_HANDSHAKE = b"\x00SP\x00\x00\x30\x00\x00"  # a REQ0 peer
WIRE_SEARCH = 1


def wire_search(rid, k, shards, query):
    """One framed SEARCH request (wire version 3; deadline 0, generation 0)."""
    tree = st.query_tree(query)
    body = (struct.pack("<HBBHH", 0x5754, 3, WIRE_SEARCH, 0, 0) +
            struct.pack("<QQQ", rid, 0, 0) + struct.pack("<IH", k, len(shards)) +
            b"".join(struct.pack("<H", s) for s in shards) +
            struct.pack("<I", len(tree)) + tree)
    payload = struct.pack(">I", 0x80000000 | (rid & 0x7FFFFFFF)) + body
    return struct.pack(">Q", len(payload)) + payload


_MOD = {}


def setUpModule():
    # the attacks hold over a thousand sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    _MOD["tmp"] = st.tempfile.TemporaryDirectory(prefix="trawl-resilience-ix-")
    _MOD["ix2"] = os.path.join(_MOD["tmp"].name, "wiki2")
    st.build_index(_MOD["ix2"], st.WIKI, "--shards", "2")


def tearDownModule():
    _MOD["tmp"].cleanup()


class Attacked(ServeCase):
    """A loaded 2 x 2 cluster and the checks every attack ends with."""

    def setUp(self):
        super().setUp()
        self.root, self.port, self.leaves = self.start_cluster(
            _MOD["ix2"], shards=2, replicas=2, root_args=("--cache-mb", "0"))
        self.queries = st.wiki_queries()

    def attack(self, target, args, stop, join):
        """Runs target(*a) for each a of args in threads for 8 s, then sets
        stop and waits up to join seconds for each."""
        threads = [threading.Thread(target=target, args=a, daemon=True) for a in args]
        for t in threads:
            t.start()
        time.sleep(8.0)
        stop.set()
        for t in threads:
            t.join(join)

    def report(self, what, loop, extra=""):
        recs = loop.snapshot()
        lat = sorted(r[1] - r[0] for r in recs) or [0]
        sys.stdout.write("\n    %s: %d searches beside it, %d failed, %d partial, p50 %.0f ms, "
                         "max %.0f ms%s" % (what, len(recs), len(loop.failures()),
                                            len(loop.partial()), 1000 * lat[len(lat) // 2],
                                            1000 * lat[-1], extra))
        sys.stdout.flush()

    def assertNoFailedQuery(self, loop, what):
        # the first line of a failure is all a CI summary shows: it names
        # the status, the reason and the time of the first failed search
        bad = loop.failures()
        if bad:
            t0, t1, status, doc, err, q = bad[0]
            reason = err or json.dumps((doc or {}).get("error", doc))[:300]
            self.fail("%s: %d of %d searches failed; the first: %s after %.0f ms, %s (query %r);"
                      " replicas now %r" % (what, len(bad), len(loop.snapshot()), status,
                                            1000 * (t1 - t0), reason, q, self.replica_states()))
        part = loop.partial()
        if part:
            self.fail("%s: %d of %d answers partial, e.g. %r; replicas now %r" % (
                what, len(part), len(loop.snapshot()), [p[3]["coverage"] for p in part[:3]],
                self.replica_states()))
        self.assertGreater(len(loop.snapshot()), 20, what)

    def replica_states(self):
        return {x["url"].rsplit(":", 1)[-1]: "%s, %d ejections" % (x["state"], x["ejections"])
                for x in self.replicas().values()}

    def replicas(self):
        return {x["url"]: x for x in self.cluster(self.port)["replicas"]}

    def assertAllHealthy(self, what, before=None):
        reps = self.replicas()
        for url, x in reps.items():
            self.assertEqual(x["state"], "healthy", "%s: %r" % (what, x))
            if before is not None:
                self.assertEqual(x["ejections"], before[url]["ejections"],
                                 "%s: %s was ejected: %r" % (what, url, x))
        self.assertEqual(self.get(self.port, "/readyz").status, 200, what)


class TestNonReadingPeer(Attacked):
    """Finding 1: one connection per leaf that sends requests and never
    reads its replies. It used to block both of a leaf's workers in their
    sends for as long as it stayed open (2,949 of 3,000 client searches
    failed); now the leaf's workers never wait for a send, and the peer is
    cut off once its unread replies pile up (common/rpc.c)."""

    def _non_reader(self, port, shard, stop, sent):
        # SEARCHes with big replies (k=1000), sent as fast as the leaf takes
        # them, never a byte read; reconnect when cut off, until stopped
        rid = 1
        while not stop.is_set():
            s = _connect(port, 2)
            if s is None:
                continue
            s.settimeout(1.0)
            try:
                s.sendall(REQ_HANDSHAKE)
                while not stop.is_set():
                    s.sendall(wire_search(rid, 1000, [shard], b"music history war state"))
                    rid += 1
                    sent[0] += 1
            except OSError:
                pass  # cut off (or the send stalled): connect again
            finally:
                # let the leaf read what was sent before the connection ends:
                # nng 1.5.2 can hang a connection's teardown when it ends in
                # the middle of a message being received (docs/RESILIENCE.md)
                time.sleep(0.3)
                s.close()

    def test_non_reading_peer_per_leaf(self):
        stop = threading.Event()
        sent = [0]
        with QueryLoop(self.port, self.queries) as loop:
            time.sleep(1.0)
            self.attack(self._non_reader, [(l["port"], l["shard"], stop, sent)
                                           for l in self.leaves], stop, join=10)
            time.sleep(0.5)
        self.report("non-reading peer on every leaf", loop,
                    ", %d requests sent by the attackers" % sent[0])
        self.assertNoFailedQuery(loop, "non-reading peers")
        self.assertGreater(sent[0], 4 * 64, "the attack did not get going")
        self.assertAllHealthy("after the non-reading peers")
        self.shutdown_and_check()


# words in most of the demo's documents (stop words would be refused)
HEAVY_QUERY = b"music history war state city world new year people life time first"


class TestHeavyRequests(Attacked):
    """Finding 4: requests sent straight to a leaf with no deadline (0 on
    the wire) ran for as long as they took; four clients asking for k
    10,000 of a broad query kept a leaf's workers busy and got it ejected.
    Now a leaf holds every request to a deadline (10 s when none was
    sent, at most 60 s: common/wire.h, wire_deadline), answers its roots'
    pings from a reserve worker, and serves connections in turn; a frame
    longer than any request closes its connection (serve_test.py,
    test_garbage_on_leaf_port).

    The attack is the finding's: four clients, all on one leaf, whose two
    workers they keep busy. Four on every leaf (16 Python threads and four
    ASan leaves on 2 cores) once stalled whole leaf processes for up to
    2.4 s on a loaded machine, pings included, and a replica so stalled
    is rightly ejected (tests/README.md)."""

    def _heavy(self, port, shard, stop, done):
        # SEARCHes of k 10,000, deadline 0, one at a time, each reply read
        rid = 1 << 20
        while not stop.is_set():
            s = _connect(port, 30)
            if s is None:
                continue
            try:
                s.sendall(REQ_HANDSHAKE)
                if len(_recv_exact(s, 8)) != 8:
                    continue
                while not stop.is_set():
                    s.sendall(wire_search(rid, 10000, [shard], HEAVY_QUERY))
                    rid += 1
                    (n,) = struct.unpack(">Q", _recv_exact(s, 8))
                    reply = _recv_exact(s, n)
                    if len(reply) != n:
                        break
                    # a SEARCH_REPLY's status (after the request id and
                    # the 32-byte header): count the answered ones
                    done[0] += reply[36:38] == b"\x00\x00"
            except (OSError, struct.error):
                pass
            finally:
                s.close()

    def test_heavy_requests_without_deadline(self):
        before = self.replicas()
        stop = threading.Event()
        done = [0]
        # the attacked leaf's two workers are busy all along: the loop's
        # searches get 10 s (timeout_ms), so that a slow answer is not
        # counted a failure; what must not happen is a failed or partial
        # answer, or a replica ejected
        target = self.leaves[0]
        with QueryLoop(self.port, self.queries, timeout_ms=10000) as loop:
            time.sleep(0.5)
            self.attack(self._heavy, [(target["port"], target["shard"], stop, done)
                                      for _ in range(4)], stop, join=40)
        self.report("4 clients on one leaf asking for k 10,000 without a deadline", loop,
                    ", %d of their searches answered" % done[0])
        self.assertGreater(done[0], 16, "the attack did not get going")
        self.assertNoFailedQuery(loop, "heavy requests")
        self.assertAllHealthy("after the heavy requests", before)
        self.shutdown_and_check()


def _connect(port, timeout):
    """A connection to a leaf's port, or None after a short pause."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        time.sleep(0.05)
        return None


def _recv_exact(s, n):
    """n bytes from socket s, or fewer if it closed."""
    got = b""
    while len(got) < n:
        chunk = s.recv(min(n - len(got), 1 << 20))
        if not chunk:
            break
        got += chunk
    return got


class TestClientDeadlines(Attacked):
    """Finding 2: searches with a deadline far too short to answer
    (timeout_ms=1) counted as failures of the replicas they missed, and a
    missed FETCH twice: four of them ejected all 6 replicas of a cluster,
    16 a second beside normal load failed up to 1,160 of 8,000 normal
    searches. A replica is now judged only by a deadline at least as long
    as a ping's (root/root.c, note_failure)."""

    def _short_deadlines(self, stop, counts):
        i = 0
        while not stop.is_set():
            q = self.queries[i % len(self.queries)]
            i += 1
            for params in ({"timeout_ms": 1}, {"timeout_ms": 1, "snippet": "body"},
                           {"timeout_ms": 2, "k": 100}):
                try:
                    r = self.get(self.port, search_path(q, **params), timeout=10)
                    counts[r.status] = counts.get(r.status, 0) + 1
                except OSError as e:
                    counts[repr(e)] = counts.get(repr(e), 0) + 1
            time.sleep(3 / 16)  # 16 a second

    def test_short_client_deadlines_eject_nothing(self):
        before = self.replicas()
        stop = threading.Event()
        counts = {}
        with QueryLoop(self.port, self.queries) as loop:
            time.sleep(0.5)
            t = threading.Thread(target=self._short_deadlines, args=(stop, counts),
                                 daemon=True)
            t.start()
            # 8 s of it, and at least 96 of its searches: on a loaded machine
            # they come slower than 16 a second (54 in 8 s, beside two other
            # ASan suites)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 8.0 or (sum(counts.values()) < 96 and
                                                  time.monotonic() - t0 < 60.0):
                time.sleep(0.2)
            stop.set()
            t.join(15)
        self.report("16 searches a second with timeout_ms 1-2", loop,
                    ", their answers: %s" % json.dumps(counts, sort_keys=True))
        self.assertGreater(sum(counts.values()), 60)
        self.assertNoFailedQuery(loop, "short client deadlines")
        self.assertAllHealthy("after the short deadlines", before)
        self.shutdown_and_check()


class TestAmbiguousFraming(Attacked):
    """Finding 8: with no HAProxy in front, a request whose body could be
    framed two ways smuggled a second request past whatever reads the first
    framing: two Content-Length headers (the first won, and the request
    hidden after the shorter body ran), "Transfer-Encoding : chunked" (a
    header nothing read). Each is now a 400 that closes the connection, and
    the hidden request never runs (common/http.c, bad_framing)."""

    HIDDEN = b"GET /search?q=smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

    def attacks(self):
        body = b'{"q": "music"}'
        hidden = self.HIDDEN
        chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return {
            "two Content-Length": b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s%s" % (
                len(body), len(body) + len(hidden), body, hidden),
            "Transfer-Encoding with a space": b"POST /search HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding : chunked\r\n\r\n" + chunk,
            "two Transfer-Encoding": b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n" + chunk + hidden,
        }

    def test_ambiguous_framing_is_refused(self):
        with QueryLoop(self.port, self.queries) as loop:
            time.sleep(0.5)
            for name, data in self.attacks().items():
                for _ in range(20):
                    got, closed = st.raw_exchange(self.port, data, timeout=5)
                    self.assertTrue(closed, name)
                    self.assertEqual(got.count(b"HTTP/1.1 "), 1, "%s: %r" % (name, got[:600]))
                    self.assertEqual(st.raw_status(got), 400, "%s: %r" % (name, got[:600]))
                    self.assertIn(b"Connection: close", got.split(b"\r\n\r\n")[0], name)
            time.sleep(0.5)
        self.report("60 ambiguous requests", loop)
        self.assertNoFailedQuery(loop, "ambiguous framing")
        self.assertAllHealthy("after the ambiguous requests")
        self.shutdown_and_check()


class TestSlowConnections(Attacked):
    """Finding 5: a root exposed directly could be starved by connections
    that trickle a byte every 3 s (never silent for the 10 s idle timeout,
    and no deadline for a whole request): 1,100 of them from 5 addresses,
    or 1,000 from the client's own address, left a normal client with no
    answer. Now a request must arrive whole within 10 s, and at either
    connection limit the connections waiting longest without a request make
    room for new ones (common/connguard.c). The attackers reopen every
    connection the root closes, at once."""

    def _trickle(self, addrs, per_addr, stop, opened):
        socks = []

        def connect(addr):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(1.0)
                s.bind((addr, 0))
                s.connect(("127.0.0.1", self.port))
                s.setblocking(False)
                s.send(b"GET /search?q=")
                opened[0] += 1
                return s
            except OSError:
                return None
        for addr in addrs:
            for _ in range(per_addr):
                socks.append([addr, connect(addr)])
        n = 0
        while not stop.is_set():
            for slot in socks:
                if stop.is_set():
                    break
                if slot[1] is None:
                    slot[1] = connect(slot[0])
                    continue
                try:
                    slot[1].send(b"a")  # a byte now and then: never idle long
                except OSError:
                    slot[1].close()
                    slot[1] = connect(slot[0])  # reopen at once
            n += 1
            stop.wait(3.0 / max(1, n % 3 + 1))
        for slot in socks:
            if slot[1] is not None:
                slot[1].close()

    def _attack(self, addrs, per_addr, what):
        stop = threading.Event()
        opened = [0]
        with QueryLoop(self.port, self.queries) as loop:
            time.sleep(0.5)
            t = threading.Thread(target=self._trickle, args=(addrs, per_addr, stop, opened),
                                 daemon=True)
            t.start()
            time.sleep(12.0)  # past the 10 s request deadline
            # a new client, on new connections, is answered too
            fresh = [self.get(self.port, search_path("music"), timeout=10).status
                     for _ in range(5)]
            stop.set()
            t.join(30)
        self.report(what, loop, ", %d slow connections opened; new connections: %s" % (
            opened[0], fresh))
        self.assertNoFailedQuery(loop, what)
        self.assertEqual(fresh, [200] * 5, what)
        self.assertGreater(opened[0], len(addrs) * per_addr, "the root never closed one")
        m = self.get(self.port, "/metrics").body.decode()
        self.assertRegex(m, r'trawl_http_connections_closed_total\{reason="(expired|evicted)"\} [1-9]')
        self.assertAllHealthy(what)
        self.shutdown_and_check()

    def test_slow_connections_from_five_addresses(self):
        self._attack(["127.0.0.%d" % i for i in range(2, 7)], 220,
                     "1,100 slow connections from 5 addresses")

    def test_slow_connections_from_the_clients_address(self):
        self._attack(["127.0.0.1"], 1000, "1,000 slow connections from the client's address")


class TestBadTargets(Attacked):
    """Finding 9: requests a handler could misread were not refused:
    GET /doc/%FF answered 500 "out of memory", q=abc%00def was searched as
    "abc", a parameter without a name passed, and so did offset=1&from=2
    (one of the two silently lost). Each is now a 400 naming the problem
    (common/http.c check_target; root/api.c one_name)."""

    CASES = [
        ("/doc/%FF", "not valid UTF-8"),
        ("/_doc/%FF", "not valid UTF-8"),
        ("/search?q=abc%00def", "NUL"),
        ("/search?q=music&=x", "no name"),
        ("/search?q=music&offset=1&from=2", "offset and from are one parameter"),
        ("/search?q=music&k=1&size=2", "k and size are one parameter"),
        ("/search?q=music&q=war", "given twice"),
        ("/search?q=%E0%80%80", "not valid UTF-8"),
        ("/wiki/_search?q=music&q=war", "given twice"),
    ]

    def test_bad_targets_are_refused(self):
        with QueryLoop(self.port, self.queries) as loop:
            time.sleep(0.5)
            for _ in range(10):
                for path, reason in self.CASES:
                    r = self.get(self.port, path)
                    self.assertError(r, 400, reason=reason)
            time.sleep(0.5)
        self.report("%d malformed targets" % (10 * len(self.CASES)), loop)
        self.assertNoFailedQuery(loop, "bad targets")
        self.shutdown_and_check()


class TestFrozenReplica(Attacked):
    """Finding 10: a replica frozen (SIGSTOP) under load cost 1-6 partial
    answers of 12,000, each 1.6 s late, before it was ejected: its searches
    in flight outran the hedge budget and waited for the deadline. Now a
    search still unanswered at half the SEARCH phase is hedged to a twin
    whatever the budget says (root/scatter.c, maybe_hedge)."""

    def test_frozen_replica_costs_no_partial_answer(self):
        victim = self.leaves[0]
        with QueryLoop(self.port, self.queries, threads=4) as loop:
            time.sleep(1.0)
            victim["proc"].signal(st.signal.SIGSTOP)
            try:
                self.wait_state(self.port, victim["url"], "ejected", 6 * st.SLOW)
                time.sleep(1.0)
            finally:
                victim["proc"].signal(st.signal.SIGCONT)
            self.wait_state(self.port, victim["url"], "healthy", 10 * st.SLOW)
            time.sleep(0.5)
        self.report("one replica frozen until ejected", loop)
        self.assertNoFailedQuery(loop, "frozen replica")
        self.shutdown_and_check()


def leases_work():
    """Whether the kernel grants read leases here (fcntl F_SETLEASE)."""
    import fcntl
    import tempfile
    wfd, path = tempfile.mkstemp(prefix="trawl-lease-")
    os.close(wfd)  # a lease is refused while anyone has the file open for writing
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETLEASE", 1024), fcntl.F_RDLCK)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(path)


needs_leases = unittest.skipUnless(
    leases_work(), "this kernel or file system grants no read leases: a leaf then relies on "
    "its scrub alone (docs/OPERATIONS.md)")


class DamagedCopies(ServeCase):
    """A 2 x 2 cluster whose replicas serve copies of their own (so that a
    damaged file damages one replica, as on separate machines), each leaf
    with a --http port, under the steady loop of the other attacks."""

    scrub_rate = "64"

    def setUp(self):
        super().setUp()
        self.copies = [self.path("copy%d" % r) for r in range(2)]
        for c in self.copies:
            shutil.copytree(_MOD["ix2"], c)
        self.before_leaves()
        self.leaves = []
        for s in range(2):
            for r in range(2):
                port, hport = free_port(), free_port()
                self.leaves.append({
                    "shard": s, "replica": r, "url": "tcp://127.0.0.1:%d" % port, "http": hport,
                    "proc": self.start_leaf(self.copies[r], s, port, "s%dr%d" % (s, r), "--http",
                                            "127.0.0.1:%d" % hport, "--scrub-rate",
                                            self.scrub_rate, "--scrub-period", "1")})
        cluster = self.path("cluster.json")
        with open(cluster, "w") as f:
            json.dump({"shards": 2, "leaves": [{"url": x["url"], "shards": [x["shard"]]}
                                               for x in self.leaves]}, f)
        self.port = free_port()
        self.root = self.start("root", "root", "--cluster", cluster, "--http",
                               "127.0.0.1:%d" % self.port, "--quiet", "--cache-mb", "0")
        self.wait_ready(self.port, [self.root] + [x["proc"] for x in self.leaves])
        ok, _ = st.wait_until(lambda: all(x["state"] == "healthy"
                                          for x in self.cluster(self.port)["replicas"]),
                              5 * st.SLOW)
        self.assertTrue(ok, "not every replica healthy: %r" % self.cluster(self.port))
        self.queries = st.wiki_queries()

    def before_leaves(self):
        pass

    def shard_file(self, replica, shard):
        gen = open(os.path.join(self.copies[replica], "CURRENT")).read().strip()
        return os.path.join(self.copies[replica], gen, "shard-%03d.mdb" % shard)

    def leaf_metrics(self, leaf):
        r = self.get(leaf["http"], "/metrics", timeout=5)
        self.assertEqual(r.status, 200, repr(r))
        return r.body.decode()

    def in_service(self, leaf):
        m = re.search(r'^trawl_leaf_shard_in_service\{shard="%d"\} (\d)$' % leaf["shard"],
                      self.leaf_metrics(leaf), re.M)
        self.assertIsNotNone(m, self.leaf_metrics(leaf)[-800:])
        return m.group(1) == "1"

    def prepare(self, i):
        """The loop's queries, their reference answers, leaf i, the file it
        serves and its size."""
        queries = self.queries[:60]
        victim = self.leaves[i]
        path = self.shard_file(victim["replica"], victim["shard"])
        return queries, self.reference(queries), victim, path, os.path.getsize(path)

    def reference(self, queries):
        """Each query's answer (total, ids, scores) on the undamaged cluster."""
        ref = {}
        for q in queries:
            ref[q] = self.answer(self.search(self.port, q))
        return ref

    @staticmethod
    def answer(doc):
        return (doc["total"], [(h["id"], h["score"]) for h in doc["hits"]])

    def assertOutOfServiceEverywhere(self, victim, what):
        """The victim leaf says so (metrics, /readyz), the root routes
        around it (/_trawl/cluster), and the root is still ready."""
        self.assertFalse(self.in_service(victim), what)
        body = self.leaf_metrics(victim)
        self.assertRegex(body, r"(?m)^trawl_leaf_shard_files_damaged_total 1$", what)
        r = self.get(victim["http"], "/readyz", timeout=5)
        self.assertEqual(r.status, 503, "%s: the leaf's only shard is out: %r" % (what, r))
        self.assertEqual(r.json["shards_out_of_service"], 1, what)
        ok, _ = st.wait_until(
            lambda: self.replicas()[victim["url"]]["shards_out_of_service"] == [victim["shard"]],
            5 * st.SLOW)
        self.assertTrue(ok, "%s: the root does not show it: %r" % (what, self.replicas()))
        self.assertEqual(self.get(self.port, "/readyz").status, 200, what)
        self.assertTrue(victim["proc"].alive(), what)
        for x in self.leaves:
            if x is not victim:
                self.assertTrue(self.in_service(x), "%s: %s" % (what, x["url"]))

    def replicas(self):
        return {x["url"]: x for x in self.cluster(self.port)["replicas"]}

    def assertRightAnswers(self, loop, ref, what):
        """Every search of the loop answered 200, whole, and as before."""
        recs = loop.snapshot()
        bad = [r for r in recs if r[2] != 200 or r[3] is None]
        self.assertFalse(bad, "%s: %d of %d searches failed, the first: %r" %
                         (what, len(bad), len(recs), bad[:1]))
        part = loop.partial()
        self.assertFalse(part, "%s: %d partial answers" % (what, len(part)))
        wrong = 0
        for r in recs:
            q = r[5] if len(r) > 5 else None
            if q in ref and self.answer(r[3]) != ref[q]:
                wrong += 1
        self.assertEqual(wrong, 0, "%s: %d of %d answers differ from the undamaged "
                                   "cluster's" % (what, wrong, len(recs)))
        self.assertGreater(len(recs), 20, what)
        return len(recs)


@needs_leases
class TestTruncatedShardFile(DamagedCopies):
    """Finding 6: truncating a shard file under a running leaf killed it
    with SIGBUS (mdb_get read a page past the new end), 3 of 3. Now the
    leaf holds a read lease on every file it serves (leaf/shardguard.c):
    the truncation waits until the leaf has taken the shard out of service
    and no request reads it, the leaf lives on, its twin answers."""

    def test_truncation_under_load(self):
        queries, ref, victim, path, size = self.prepare(0)  # shard 0, replica 0
        with QueryLoop(self.port, queries, threads=2) as loop:
            time.sleep(1.0)
            done = threading.Event()
            t0 = time.monotonic()
            th = threading.Thread(target=lambda: (os.truncate(path, size // 2), done.set()),
                                  daemon=True)
            th.start()
            th.join(10 * st.SLOW)
            took = time.monotonic() - t0
            self.assertTrue(done.is_set(), "the truncation never finished")
            time.sleep(2.0)
        n = self.assertRightAnswers(loop, ref, "a shard file truncated under load")
        sys.stdout.write("\n    truncated under load: %d searches, 0 failed, 0 wrong; the "
                         "truncation waited %.0f ms for the leaf" % (n, 1000 * took))
        self.assertEqual(os.path.getsize(path), size // 2)
        self.assertOutOfServiceEverywhere(victim, "truncated")
        # and the cluster still answers, now from the twin alone
        for q in queries[:10]:
            self.assertEqual(self.answer(self.search(self.port, q)), ref[q], q)
        self.shutdown_and_check()


@needs_leases
class TestFlippedBytes(DamagedCopies):
    """Finding 7: 200 byte flips into files a leaf was serving gave 71
    wrong answers of 3,568 (hits without their source, totals marked exact
    but wrong, other hits and scores). Now a process that opens a served
    file for writing breaks the leaf's lease: the leaf takes the shard out
    of service before the first byte changes, finds the file changed once
    the writer has closed it, and its twin answers: no wrong answer."""

    def test_flips_under_load(self):
        queries, ref, victim, path, size = self.prepare(2)  # shard 1, replica 0
        rnd = random.Random(7)
        with QueryLoop(self.port, queries, threads=2) as loop:
            time.sleep(1.0)
            t0 = time.monotonic()
            for i in range(200):
                at = rnd.randrange(size)
                with open(path, "r+b") as f:
                    f.seek(at)
                    b = f.read(1)
                    f.seek(at)
                    f.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))
                if i == 0:
                    ok, secs = st.wait_until(lambda: not self.in_service(victim),
                                             5 * st.SLOW, 0.01)
                    self.assertTrue(ok, "the first flip was not noticed")
                    found = time.monotonic() - t0
                time.sleep(0.01)
            time.sleep(1.0)
        n = self.assertRightAnswers(loop, ref, "200 bytes flipped under load")
        sys.stdout.write("\n    200 bytes flipped under load: %d searches, 0 failed, 0 wrong; "
                         "out of service %.0f ms after the first write began" %
                         (n, 1000 * found))
        self.assertOutOfServiceEverywhere(victim, "flipped")
        self.shutdown_and_check()


class TestScrub(DamagedCopies):
    """Finding 7's other half: a change no lease sees (written through a
    descriptor opened before the leaf started) is found by the scrub within
    two passes over the leaf's files at --scrub-rate. Measured here at
    1 MiB/s with no load (a damaged page may be read before the scrub
    finds it: that is the window the scrub period bounds)."""

    scrub_rate = "1"

    def before_leaves(self):
        self.fd = os.open(self.shard_file(1, 0), os.O_RDWR)  # shard 0, replica 1

    def tearDown(self):
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
        super().tearDown()

    def test_scrub_finds_a_change_without_lease(self):
        victim = self.leaves[1]  # shard 0, replica 1
        self.assertRegex(self.leaf_metrics(victim), r"(?m)^trawl_leaf_shard_files_unleased 1$")
        size = os.path.getsize(self.shard_file(1, 0))
        pass_s = size / float(1 << 20)
        at = size // 3
        b = os.pread(self.fd, 1, at)
        t0 = time.monotonic()
        os.pwrite(self.fd, bytes([b[0] ^ 0x10]), at)
        ok, secs = st.wait_until(lambda: not self.in_service(victim), 2 * pass_s + 5 * st.SLOW,
                                 0.05)
        self.assertTrue(ok, "not found within two passes of %.1f s" % pass_s)
        sys.stdout.write("\n    a byte flipped without a lease: found by the scrub after %.2f s "
                         "(one pass over the %d-byte file: %.2f s at 1 MiB/s)" %
                         (secs, size, pass_s))
        self.assertOutOfServiceEverywhere(victim, "scrubbed")
        for q in self.queries[:10]:
            self.search(self.port, q)
        self.shutdown_and_check()


def main():
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        trawl = argv.pop(1)
    else:
        trawl = os.environ.get("TRAWL_BIN")
    if not trawl:
        sys.exit("usage: resilience_test.py TRAWL_BINARY [unittest options] (or TRAWL_BIN)")
    sys.argv = [argv[0], trawl] + argv[1:]
    st.main()


if __name__ == "__main__":
    main()
