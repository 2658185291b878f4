#!/usr/bin/env python3
"""
cluster_writes_test.py - writes through a cluster's root to the index's
indexer (`trawl indexer DIR --listen URL`, issue #12 item 5), as real
processes on loopback:

    python3 tests/cluster_writes_test.py build/cli/trawl

A cluster here is an indexer, two leaves replicating both shards of its
directory, and a root whose cluster file names the indexer. Covered:
every kind of write through the root (index, create, update, delete,
_bulk, refresh=wait_for, realtime and non-realtime GET) answered as by
`trawl serve`, and the indexer's figures in the root's /metrics; with the
indexer stopped, writes answer 503 at once and searches go on; random
writes while the root is killed (SIGKILL) and restarted, then the
indexer, then a leaf, three times each: afterwards the index holds every
acknowledged write, and a write whose answer was lost whole or not at
all; and 20 random _bulk batches through a root over 4 shards x 2
replicas whose leaves pull each generation from the indexer into
directories of their own answer wiki-demo's queries as a full build of
the documents left. Standard library only.
"""
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netlib import free_port, http_json as call, same_answers, random_bulk  # noqa: E402

TRAWL = None
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


class Proc:
    """A trawl process; its stderr kept in a file."""

    def __init__(self, args, log):
        self.log = log
        self.err = open(log, "ab")
        self.p = subprocess.Popen([TRAWL] + args, stdout=subprocess.DEVNULL, stderr=self.err)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=60)
        self.err.close()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        self.err.close()
        with open(self.log, errors="replace") as f:
            text = f.read()
        assert rc == 0, "%s exited %d: %s" % (self.p.args, rc, text[-2000:])
        for m in SANITIZER_MARKS:
            assert m not in text, text[-4000:]


def build(ix, docs, shards, schema=None):
    src = ix + ".jsonl"
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    extra = []
    if schema:
        extra = ["--schema", ix + ".schema.json"]
        with open(extra[1], "w") as f:
            json.dump(schema, f)
    subprocess.run([TRAWL, "index", ix, src, "--shards", str(shards)] + extra, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port, what):
    """Until the HTTP server on port answers /readyz with 200 (60 s)."""
    end = time.time() + 60
    while True:
        try:
            if call(port, "GET", "/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if time.time() > end:
            raise AssertionError(what + " never became ready")
        time.sleep(0.05)


class Cluster:
    """An indexer, its leaves and a root. shards x 2 replicas: with pull,
    each leaf serves two shards from a directory of its own, pulled from
    the indexer; without, two leaves serve every shard from its directory."""

    def __init__(self, tmp, docs, shards=2, pull=False, schema=None):
        self.tmp = tmp
        self.ix = os.path.join(tmp, "ix")
        build(self.ix, docs, shards, schema)
        self.ixport = free_port()
        self.port = free_port()
        if pull:
            sets = [[i, (i + 1) % shards] for i in range(shards)]
        else:
            sets = [list(range(shards)), list(range(shards))]
        self.leafports = [free_port() for _ in sets]
        self.cluster = os.path.join(tmp, "cluster.json")
        with open(self.cluster, "w") as f:
            json.dump({"shards": shards, "indexer": "tcp://127.0.0.1:%d" % self.ixport,
                       "leaves": [{"url": "tcp://127.0.0.1:%d" % p, "shards": sh}
                                  for p, sh in zip(self.leafports, sets)]}, f)
        self.indexer = self.root = None
        self.leaves, self.leafargs = [], []
        self.start_indexer()
        for p, sh in zip(self.leafports, sets):
            args = ["leaf", "--listen", "tcp://127.0.0.1:%d" % p]
            if pull:  # a directory of its own, empty at first
                args += ["--index", os.path.join(tmp, "leaf-%d" % p), "--pull",
                         "tcp://127.0.0.1:%d" % self.ixport, "--shards",
                         ",".join(str(x) for x in sh)]
            else:
                args += ["--index", self.ix]
            self.leafargs.append(args)
            self.leaves.append(Proc(args, os.path.join(tmp, "leaf-%d.log" % p)))
        self.start_root()

    def restart_leaf(self, i):
        self.leaves[i].kill()
        self.leaves[i] = Proc(self.leafargs[i], os.path.join(self.tmp, "leaf-%d.log" %
                                                             self.leafports[i]))

    def start_indexer(self):
        self.indexer = Proc(["indexer", self.ix, "--listen", "tcp://127.0.0.1:%d" % self.ixport,
                             "--refresh-ms", "200"], os.path.join(self.tmp, "indexer.log"))

    def start_root(self):
        self.root = Proc(["root", "--cluster", self.cluster, "--http",
                          "127.0.0.1:%d" % self.port, "--name", "ix"],
                         os.path.join(self.tmp, "root.log"))
        end = time.time() + 60
        while True:
            try:
                if call(self.port, "GET", "/readyz", timeout=2)[0] == 200:
                    # and the indexer is connected: a realtime get answers
                    if call(self.port, "GET", "/ix/_doc/nothing-here")[0] == 404:
                        return
            except OSError:
                pass
            if time.time() > end:
                raise AssertionError("the cluster never became ready")
            time.sleep(0.05)

    def close(self, graceful=True):
        for p in [self.root, self.indexer] + self.leaves:
            if p is None or p.err.closed:
                continue
            if graceful:
                p.stop()
            else:
                p.kill()


class ClusterWritesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trawl-cluster-writes-")
        self.c = None

    def tearDown(self):
        if self.c:
            self.c.close(graceful=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # Every kind of write through the root, read back through it.
    def test_writes_through_root(self):
        self.c = c = Cluster(self.tmp, [{"id": "b%d" % i, "title": "base %d" % i,
                                         "body": "fox %d" % i} for i in range(50)])
        p = c.port
        st, b = call(p, "PUT", "/ix/_doc/n1?refresh=wait_for", {"title": "new", "body": "red fox"})
        self.assertEqual((st, b["result"], b["_version"]), (201, "created", 1), b)
        st, b = call(p, "GET", "/ix/_search?q=body:red")
        self.assertEqual([h["_id"] for h in b["hits"]["hits"]], ["n1"], b)
        st, b = call(p, "PUT", "/ix/_create/n1", {"title": "again"})
        self.assertEqual((st, b["error"]["type"]), (409, "version_conflict_engine_exception"), b)
        st, b = call(p, "POST", "/ix/_update/b3", {"doc": {"title": "changed"}})
        self.assertEqual((st, b["result"], b["_version"]), (200, "updated", 2), b)
        st, b = call(p, "GET", "/ix/_doc/b3")  # realtime: from the indexer
        self.assertEqual((st, b["_source"]["title"], b["_version"]), (200, "changed", 2), b)
        st, b = call(p, "PUT", "/ix/_doc/b4?if_seq_no=999&if_primary_term=1", {"title": "x"})
        self.assertEqual(st, 409, b)
        bulk = "".join('{"index":{"_id":"k%d"}}\n{"title":"bulk %d","body":"fox"}\n' % (i, i)
                       for i in range(30)) + '{"delete":{"_id":"b0"}}\n'
        st, b = call(p, "POST", "/ix/_bulk?refresh=wait_for", bulk)
        self.assertEqual((st, b["errors"], len(b["items"])), (200, False, 31), b)
        st, b = call(p, "DELETE", "/ix/_doc/b1?refresh=true")
        self.assertEqual((st, b["result"]), (200, "deleted"), b)
        st, b = call(p, "GET", "/ix/_count")
        self.assertEqual(b["count"], 50 + 1 + 30 - 2, b)
        st, b = call(p, "GET", "/ix/_doc/b3?realtime=false")  # from the leaves
        self.assertEqual((st, b["_source"]["title"]), (200, "changed"), b)
        st, b = call(p, "POST", "/ix/_refresh")
        self.assertEqual(st, 200, b)
        c_ = http.client.HTTPConnection("127.0.0.1", p, timeout=10)
        c_.request("GET", "/metrics")
        text = c_.getresponse().read().decode()
        c_.close()
        m = {}
        for line in text.splitlines():
            if line.startswith("trawl_indexer_writes_total"):
                m["writes"] = float(line.rsplit(" ", 1)[1])
        self.assertEqual(m.get("writes", 0), 34, text[-3000:])  # 1 + 1 + 31 + 1
        # the indexer stopped: writes 503 at once, searches and reads go on
        c.indexer.stop()
        t0 = time.time()
        st, b = call(p, "PUT", "/ix/_doc/z", {"title": "z"})
        self.assertEqual(st, 503, b)
        self.assertLess(time.time() - t0, 5)
        st, b = call(p, "GET", "/ix/_count")
        self.assertEqual((st, b["count"]), (200, 79), b)
        # back: the root reconnects by itself
        c.start_indexer()
        end = time.time() + 30
        while call(p, "PUT", "/ix/_doc/z?refresh=wait_for", {"title": "z"})[0] != 201:
            self.assertLess(time.time(), end, "the root never reconnected to the indexer")
            time.sleep(0.1)
        self.assertEqual(call(p, "GET", "/ix/_count")[1]["count"], 80)
        c.close()
        self.c = None

    # Random writes while the root, then the indexer, is killed with
    # SIGKILL and restarted: every acknowledged write is there, a write
    # whose answer was lost is there whole or not at all.
    def test_durable_under_kills(self):
        base = [{"id": "b%d" % i, "title": "base %d" % i, "body": "w"} for i in range(100)]
        self.c = c = Cluster(self.tmp, base)
        rnd = random.Random(int(os.environ.get("TRAWL_SEED", "21")))
        model = {d["id"]: {"title": d["title"], "body": d["body"]} for d in base}
        uncertain = {}
        acked = [0]
        stop = threading.Event()
        up = threading.Event()
        up.set()
        errors = []

        def writer():
            n = 0
            while not stop.is_set():
                if not up.wait(0.05):
                    continue
                n += 1
                i = rnd.randrange(200)
                doc_id = "b%d" % i if i < 100 else "n%d" % i
                before = model.get(doc_id)
                if rnd.random() < 0.25:
                    method, path, body, after = "DELETE", "/ix/_doc/" + doc_id, None, None
                else:
                    after = {"title": "w%d" % n, "body": "written %d" % n}
                    method, path, body = "PUT", "/ix/_doc/" + doc_id, after
                try:
                    st, b = call(c.port, method, path, body, timeout=40)
                except OSError:
                    uncertain.setdefault(doc_id, set()).update(
                        [json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)])
                    time.sleep(0.05)
                    continue
                if st in (200, 201) or (st == 404 and method == "DELETE"):
                    model[doc_id] = after
                    uncertain.pop(doc_id, None)
                    acked[0] += 1
                elif st == 503:  # the indexer out of reach: in doubt only if sent
                    if "may or may not" in json.dumps(b):
                        uncertain.setdefault(doc_id, set()).update(
                            [json.dumps(before, sort_keys=True),
                             json.dumps(after, sort_keys=True)])
                    time.sleep(0.02)
                else:
                    errors.append((st, b))

        t = threading.Thread(target=writer)
        t.start()
        try:
            for k in range(9):
                time.sleep(rnd.uniform(0.8, 1.6))
                if k % 3 == 0:
                    c.root.kill()  # the root: its in-flight writes lost in answer only
                    c.start_root()
                elif k % 3 == 1:
                    c.indexer.kill()  # the indexer: the log keeps what it acknowledged
                    time.sleep(0.1)
                    c.start_indexer()
                else:
                    c.restart_leaf(k % 2)  # a leaf: its replica answers meanwhile
        finally:
            stop.set()
            t.join(timeout=120)
        self.assertEqual(errors, [])
        self.assertGreater(acked[0], 50, "too few writes acknowledged to mean anything")
        end = time.time() + 30  # the root redials the indexer restarted last
        while True:
            st, b = call(c.port, "POST", "/ix/_refresh", timeout=60)
            if st != 503 or time.time() > end:
                break
            time.sleep(0.1)
        self.assertEqual(st, 200, b)
        live = 0
        for doc_id in sorted(set(model) | set(uncertain)):
            st, b = call(c.port, "GET", "/ix/_doc/%s?realtime=false" % doc_id)
            got = None
            if st == 200:
                got = {k: v for k, v in b["_source"].items() if k != "id"}
                live += 1
            else:
                self.assertEqual(st, 404, b)
            if doc_id in uncertain:
                self.assertIn(json.dumps(got, sort_keys=True), uncertain[doc_id] |
                              {json.dumps(model.get(doc_id), sort_keys=True)}, doc_id)
            else:
                self.assertEqual(got, model[doc_id], doc_id)
        st, b = call(c.port, "GET", "/ix/_count")
        self.assertEqual(b["count"], live, b)
        print("cluster durability: %d writes acknowledged across 3 SIGKILLs each of the root, "
              "the indexer and a leaf, "
              "%d in doubt, %d live documents" % (acked[0], len(uncertain), live))
        c.close()
        self.c = None


# wiki-demo's fields and two to sort by
SORT_SCHEMA = {"fields": {"title": {"type": "text"}, "body": {"type": "text"},
                          "tag": {"type": "keyword"}, "n": {"type": "long"}}}
WIKI = os.path.join(os.path.dirname(HERE), "data", "wiki-demo", "docs.jsonl")
WIKI_QUERIES = os.path.join(os.path.dirname(HERE), "data", "wiki-demo", "queries.tsv")


class ClusterEquivalenceTest(unittest.TestCase):
    """Writes through a root to an indexer whose 4 shards are served, 2
    replicas each, by leaves that pull them into directories of their own
    answer every query as a full build of the documents they leave does."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trawl-cluster-equiv-")
        self.c = None
        self.full = None
        self.root2 = None

    def tearDown(self):
        if self.c:
            self.c.close(graceful=False)
        if self.root2 and not self.root2.err.closed:
            self.root2.kill()
        if self.full and not self.full.err.closed:
            self.full.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def same_sorted_pages(self, port, fport, ndocs):
        """Every document in pages of 97 sorted by the keyword tag (then n),
        each page after the last one's sort values, through the cluster
        and from the full build: the same ids and sort values."""
        compared = 0
        for order in ("asc", "desc"):
            after, seen = None, 0
            while True:
                body = {"query": {"match_all": {}}, "size": 97, "track_total_hits": True,
                        "sort": [{"tag": order}, {"n": "desc"}], "_source": False}
                if after:
                    body["search_after"] = after
                st, a = call(port, "POST", "/ix/_search", body)
                sf, b = call(fport, "POST", "/full/_search", body)
                self.assertEqual((st, sf), (200, 200), (a, b))
                ha = [(h["_id"], h["sort"]) for h in a["hits"]["hits"]]
                hb = [(h["_id"], h["sort"]) for h in b["hits"]["hits"]]
                self.assertEqual(ha, hb, (order, after))
                if not ha:
                    break
                seen += len(ha)
                compared += len(ha)
                after = ha[-1][1]
            self.assertEqual(seen, ndocs, order)
        return compared

    def test_pulled_leaves_equal_a_full_build(self):
        with open(WIKI) as f:
            docs = [json.loads(line) for line in f][:3000]
        rnd = random.Random(int(os.environ.get("TRAWL_SEED", "5")))
        model = {d["id"]: dict({k: v for k, v in d.items() if k != "id"},
                               tag="t%03d" % rnd.randrange(300), n=rnd.randrange(50))
                 for d in docs[:2000]}
        self.c = c = Cluster(self.tmp, [dict(v, id=k) for k, v in model.items()], shards=4,
                             pull=True, schema=SORT_SCHEMA)
        # a second root on the same cluster file, which takes no write: its
        # pings (every second) see each new generation up to a second
        # late, and a search pinned to the one before meets leaves that
        # serve the new one (WIRE_F_NEWER): it must search again
        port2 = free_port()
        self.root2 = Proc(["root", "--cluster", c.cluster, "--http", "127.0.0.1:%d" % port2,
                           "--name", "ix"], os.path.join(self.tmp, "root2.log"))
        wait_ready(port2, "the second root")
        words = ["zqxj%d" % i for i in range(8)]
        for batch in range(20):  # adds, replacements with new words, deletes
            st, r = call(c.port, "POST", "/ix/_bulk?refresh=wait_for",
                         random_bulk(rnd, docs, model, words, batch), timeout=90)
            self.assertEqual(st, 200, r)
            bad = [i for i in r["items"] if list(i.values())[0]["status"] not in (200, 201, 404)]
            self.assertEqual(bad, [], r)
            # what the refresh promised, at once, whichever replica answers
            # (a pulling twin a generation behind is not believed: the
            # root's floor) and through either root; three counts each, so
            # that both replicas are asked; the second root's answers not
            # from its result cache (a cached answer there is up to one ping
            # interval old: docs/HTTP.md, refresh)
            for _ in range(3):
                st, b = call(c.port, "GET", "/ix/_count")
                self.assertEqual((st, b.get("count")), (200, len(model)), (b, "batch", batch))
                st, b = call(port2, "GET", "/ix/_search?size=0&track_total_hits=true"
                             "&request_cache=false")
                self.assertEqual((st, b.get("hits", {}).get("total", {}).get("value")),
                                 (200, len(model)), (b, "batch", batch, "second root"))
        # keyword values the base build's dictionary lacks: every leaf, which
        # holds 2 of the 4 shards, numbers them by the union of its own
        # segments' dictionaries (the root merges them by their bytes)
        for batch in range(3):
            lines = []
            for i in range(60):
                doc_id = rnd.choice(sorted(model)) if i % 2 else "kw-%d-%d" % (batch, i)
                doc = dict(title="keyword %d" % i, body="sorted by tag",
                           tag=rnd.choice(["u%03d" % rnd.randrange(900), "t%03d" % i, "a"]),
                           n=rnd.randrange(50))
                lines += [{"index": {"_id": doc_id}}, doc]
                model[doc_id] = doc
            st, r = call(c.port, "POST", "/ix/_bulk?refresh=wait_for",
                         "\n".join(json.dumps(x) for x in lines) + "\n", timeout=90)
            self.assertEqual((st, r.get("errors")), (200, False), r)
        # and one value first of all, in one shard: the leaves without it
        # number every other value one lower than the leaves with it
        model["kw-first"] = dict(title="first", body="sorted first", tag="0000", n=1)
        st, r = call(c.port, "PUT", "/ix/_doc/kw-first?refresh=wait_for", model["kw-first"])
        self.assertEqual(st, 201, r)
        full = os.path.join(self.tmp, "full")
        build(full, [dict(v, id=k) for k, v in model.items()], 4, SORT_SCHEMA)
        fport = free_port()
        self.full = Proc(["serve", full, "--http", "127.0.0.1:%d" % fport, "--read-only"],
                         os.path.join(self.tmp, "full.log"))
        wait_ready(fport, "the full build's server")
        with open(WIKI_QUERIES) as fq:
            queries = [line.rstrip("\n").split("\t")[1] for line in fq][:60] + words
        compared = same_answers(self, c.port, "ix", fport, "full", queries)
        compared += self.same_sorted_pages(c.port, fport, len(model))
        # the leaves' directories are their own: files pulled, not shared
        for p in c.leafports:
            d = os.path.join(self.tmp, "leaf-%d" % p)
            with open(os.path.join(d, "CURRENT")) as f:
                self.assertTrue(f.read().startswith("gen-"))
        print("cluster equivalence: %d hits compared over %d queries, %d documents, 4 shards "
              "x 2 replicas on pulling leaves" % (compared, len(queries), len(model)))
        self.assertGreater(compared, 1000)
        self.full.stop()
        c.close()
        self.c = None


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cluster_writes_test.py TRAWL")
    TRAWL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
