#!/usr/bin/env python3
"""
cluster_indexes_test.py - a cluster's root serving several indexes
(issue #12, "many indexes", item 6), as real processes on loopback:

    python3 tests/cluster_indexes_test.py build/cli/trawl

The cluster: two indexes of different schemas and shard counts ("books",
3 shards, and "logs", 2), each with its own indexer and its own two
leaves, and one root whose cluster file names both and two aliases
("library": books, its write index; "everything": both, no write
index). Covered: writes to each index through the root, through the
alias's write index, refused through the alias of two; searches over
"books,logs", an alias, "_all" and an exclusion against a brute-force
merge of each index's own answers (ids, scores, totals, terms buckets
summed), counts alike; each index's mapping, _cat/indices and
_cat/aliases, /metrics labelled per index; creating, deleting and
aliasing refused with 405 naming the cluster file; bad cluster files
refused at start naming the file and the key. Standard library only.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster_writes_test as cw  # noqa: E402  (Proc, build)
from netlib import bulk_body, free_port, http_json as call, same_as_merged  # noqa: E402

TRAWL = None
WORDS = ["fox", "red", "blue", "dog", "moon", "sun", "sea", "sky"]
SCHEMAS = {
    "books": {"fields": {"title": {}, "year": {"type": "long"}, "tag": {"type": "keyword"}}},
    "logs": {"fields": {"msg": {}, "n": {"type": "long"}, "tag": {"type": "keyword"}}},
}
SHARDS = {"books": 3, "logs": 2}
TEXT = {"books": "title", "logs": "msg"}
NUM = {"books": "year", "logs": "n"}


def random_docs(rnd, ix, count, prefix):
    return [{"id": "%s%d" % (prefix, i),
             TEXT[ix]: " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 6))),
             NUM[ix]: rnd.randrange(1000), "tag": rnd.choice(["x", "y", "z", "w"])}
            for i in range(count)]


class MultiCluster:
    """Per index an indexer and two leaves over its directory; one root."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        rnd = random.Random(5)
        spec = {}
        for ix in ("books", "logs"):
            d = os.path.join(tmp, ix)
            schema = os.path.join(tmp, ix + ".schema.json")
            with open(schema, "w") as f:
                json.dump(SCHEMAS[ix], f)
            src = d + ".jsonl"
            with open(src, "w") as f:
                for doc in random_docs(rnd, ix, 40, ix[0]):
                    f.write(json.dumps(doc) + "\n")
            subprocess.run([TRAWL, "index", d, src, "--shards", str(SHARDS[ix]), "--schema",
                            schema], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            ixport = free_port()
            self.procs.append(cw.Proc(["indexer", d, "--listen", "tcp://127.0.0.1:%d" % ixport,
                                       "--refresh-ms", "100"],
                                      os.path.join(tmp, ix + "-indexer.log")))
            leaves = []
            for k in range(2):
                lp = free_port()
                self.procs.append(cw.Proc(["leaf", "--index", d, "--listen",
                                           "tcp://127.0.0.1:%d" % lp],
                                          os.path.join(tmp, "%s-leaf-%d.log" % (ix, k))))
                leaves.append({"url": "tcp://127.0.0.1:%d" % lp,
                               "shards": list(range(SHARDS[ix]))})
            spec[ix] = {"shards": SHARDS[ix], "leaves": leaves,
                        "indexer": "tcp://127.0.0.1:%d" % ixport}
        self.cluster = os.path.join(tmp, "cluster.json")
        with open(self.cluster, "w") as f:
            json.dump({"indexes": spec,
                       "aliases": {"library": {"indexes": ["books"], "write_index": "books"},
                                   "everything": {"indexes": ["books", "logs"]}}}, f)
        self.port = free_port()
        self.root = cw.Proc(["root", "--cluster", self.cluster, "--http",
                             "127.0.0.1:%d" % self.port, "--name", "north"],
                            os.path.join(tmp, "root.log"))
        self.procs.append(self.root)
        end = time.time() + 60
        while not self.ready():
            if self.root.p.poll() is not None or time.time() > end:
                with open(self.root.log, errors="replace") as f:
                    raise AssertionError("the cluster never became ready: " + f.read())
            time.sleep(0.05)

    def ready(self):
        try:
            if call(self.port, "GET", "/readyz", timeout=2)[0] != 200:
                return False
            # and each indexer is connected: a realtime get answers
            return all(call(self.port, "GET", "/%s/_doc/nothing-here" % ix)[0] == 404
                       for ix in ("books", "logs"))
        except OSError:
            return False

    def close(self, graceful=True):
        for p in reversed(self.procs):
            if p.err.closed:
                continue
            if graceful:
                p.stop()
            else:
                p.kill()


class ClusterIndexesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trawl-cluster-indexes-")
        self.c = None

    def tearDown(self):
        if self.c:
            self.c.close(graceful=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # Writes to each index and through the aliases; searches over several
    # against each index's own answers; metadata; management refused.
    def test_indexes_of_a_cluster(self):
        self.c = c = MultiCluster(self.tmp)
        p = c.port
        rnd = random.Random(9)
        # writes: each index through its own indexer
        for ix in ("books", "logs"):
            docs = random_docs(rnd, ix, 80, ix[0] + "w")
            st, b = call(p, "POST", "/%s/_bulk?refresh=wait_for" % ix, bulk_body(ix, docs))
            self.assertEqual((st, b["errors"]), (200, False), b)
            self.assertEqual({it["index"]["_index"] for it in b["items"]}, {ix})
        # through the alias: its write index
        st, b = call(p, "PUT", "/library/_doc/via-alias?refresh=wait_for",
                     {"title": "fox moon", "year": 1999, "tag": "x"})
        self.assertEqual((st, b["result"], b["_index"]), (201, "created", "books"), b)
        st, b = call(p, "GET", "/books/_doc/via-alias")
        self.assertEqual((st, b["_source"]["year"]), (200, 1999), b)
        st, b = call(p, "GET", "/logs/_doc/via-alias")
        self.assertEqual(st, 404, b)
        # an alias of two without a write index: 400
        st, b = call(p, "PUT", "/everything/_doc/nowhere", {"msg": "x"})
        self.assertEqual(st, 400, b)
        self.assertIn("no write index", b["error"]["reason"])
        st, b = call(p, "POST", "/_bulk?refresh=wait_for",
                     bulk_body("logs", [{"id": "lb", "msg": "sky sea", "n": 7, "tag": "z"}]) +
                     bulk_body("books", [{"id": "bb", "title": "sky", "year": 7, "tag": "z"}]))
        self.assertEqual((st, b["errors"]), (200, False), b)
        counts = {ix: call(p, "GET", "/%s/_count" % ix)[1]["count"] for ix in ("books", "logs")}
        self.assertEqual(counts, {"books": 40 + 80 + 2, "logs": 40 + 80 + 1})

        # searches over several against each index's own answers
        exprs = {"books,logs": ["books", "logs"], "everything": ["books", "logs"],
                 "_all": ["books", "logs"], "library": ["books"], "*,-books": ["logs"],
                 "library,logs": ["books", "logs"]}
        for expr, members in exprs.items():
            for q in WORDS[:4] + ["fox OR sky", "red AND blue"]:
                body = {"query": {"query_string": {"query": q}}, "size": 500,
                        "aggs": {"t": {"terms": {"field": "tag", "size": 10}}}}
                want_hits = same_as_merged(self, p, expr, members, body)
                if " " not in q:
                    self.assertTrue(want_hits, (expr, q))  # 120 documents a word
            st, n = call(p, "GET", "/%s/_count" % expr)
            self.assertEqual((st, n["count"]), (200, sum(counts[m] for m in members)), expr)
        # the native API's default: every index
        st, b = call(p, "GET", "/_search?q=fox&size=0")
        self.assertEqual(st, 200, b)

        # metadata through the catalog: each index its own schema and shards
        st, m = call(p, "GET", "/_mapping")
        self.assertEqual(st, 200, m)
        self.assertEqual(set(m), {"books", "logs"})
        self.assertIn("year", m["books"]["mappings"]["properties"])
        self.assertIn("msg", m["logs"]["mappings"]["properties"])
        self.assertNotIn("msg", m["books"]["mappings"]["properties"])
        st, m = call(p, "GET", "/library/_mapping")
        self.assertEqual((st, set(m)), (200, {"books"}), m)
        st, g = call(p, "GET", "/books")
        self.assertEqual(g["books"]["settings"]["index"]["number_of_shards"], "3", g)
        self.assertEqual(set(g["books"]["aliases"]), {"library", "everything"}, g)
        st, rows = call(p, "GET", "/_cat/indices?format=json")
        self.assertEqual(st, 200, rows)
        self.assertEqual({r["index"]: (r["pri"], r["health"]) for r in rows},
                         {"books": ("3", "green"), "logs": ("2", "green")}, rows)
        # the live documents, counted by the leaves (deleted ones and bytes
        # unknown to a cluster's root)
        for r in rows:
            st, n = call(p, "GET", "/%s/_count" % r["index"])
            self.assertEqual((st, r["docs.count"]), (200, str(n["count"])), (r, n))
            self.assertGreater(n["count"], 0, r)
        st, rows = call(p, "GET", "/_cat/aliases?format=json")
        self.assertEqual(sorted((r["alias"], r["index"], r["is_write_index"]) for r in rows),
                         [("everything", "books", "-"), ("everything", "logs", "-"),
                          ("library", "books", "true")], rows)
        st, h = call(p, "GET", "/_cluster/health")
        self.assertEqual((st, h["status"], h["active_primary_shards"]), (200, "green", 5), h)
        st, text = call(p, "GET", "/metrics", raw=True)
        self.assertEqual(st, 200)
        for ix in ("books", "logs"):
            self.assertIn('trawl_replica_state{index="%s"' % ix, text)
            self.assertIn('index="%s"' % ix, "\n".join(
                ln for ln in text.splitlines() if ln.startswith("trawl_indexer_writes_total")))

        # management: the cluster file's to define
        refusals = [("PUT", "/newix", {"mappings": {"properties": {"a": {"type": "text"}}}}),
                    ("DELETE", "/books", None),
                    ("DELETE", "/_all", None),
                    ("POST", "/_aliases", {"actions": [{"add": {"index": "logs",
                                                                "alias": "more"}}]}),
                    ("POST", "/_aliases", {"actions": [{"remove_index": {"index": "logs"}}]}),
                    ("PUT", "/logs/_alias/more", None),
                    ("DELETE", "/books/_alias/library", None)]
        for method, path, body in refusals:
            st, b = call(p, method, path, body)
            self.assertEqual(st, 405, (method, path, b))
            self.assertIn("defined by its cluster file", b["error"]["reason"], (method, path))
        st, rows = call(p, "GET", "/_cat/indices?format=json")
        self.assertEqual(sorted(r["index"] for r in rows), ["books", "logs"])
        st, rows = call(p, "GET", "/_cat/aliases?format=json")
        self.assertEqual(len(rows), 3, rows)
        c.close()
        self.c = None

    # Bad cluster files: the root refuses to start, naming the file and
    # the key.
    def test_bad_cluster_files(self):
        leaf = {"url": "tcp://127.0.0.1:9", "shards": [0]}
        one = {"shards": 1, "leaves": [leaf]}
        other = {"shards": 1, "leaves": [{"url": "tcp://127.0.0.1:10", "shards": [0]}]}
        cases = [
            ({"indexes": {"books": {"shards": 2, "leaves": [leaf, {"url": "tcp://x:1",
                                                                   "shards": [2]}]}}},
             "indexes.books.leaves[1].shards[0]: not a shard of 0..1"),
            ({"indexes": {"books": {"shards": 2, "leaves": [leaf]}}},
             "indexes.books: no leaf serves shard 1"),
            ({"indexes": {"books": {"shards": 1, "leaves": [{"url": "tcp://x:1"}]}}},
             "indexes.books.leaves[0]: needs"),
            ({"indexes": {"Books": one}}, "indexes.Books: invalid index name"),
            ({"indexes": {}}, "indexes: must be an object of 1 to 64"),
            ({"indexes": {"books": dict(one, replicas=2)}}, "indexes.books.replicas: unknown key"),
            ({"indexes": {"books": one}, "shards": 1}, "shards: unknown key"),
            ({"indexes": {"books": one}, "aliases": {"lib": {"indexes": ["nope"]}}},
             "aliases.lib.indexes[0]: not an index"),
            ({"indexes": {"books": one}, "aliases": {"books": {"indexes": ["books"]}}},
             "aliases.books: an index has that name"),
            ({"indexes": {"books": one, "logs": other},
              "aliases": {"lib": {"indexes": ["books"], "write_index": "logs"}}},
             "aliases.lib.write_index: [logs] is not one of"),
            ({"indexes": {"books": one}, "aliases": {"lib": {"indexes": []}}},
             "aliases.lib.indexes: must be an array of 1 to 64"),
            (dict(one, aliases={"lib": {"indexes": ["trawl"]}}), "aliases: go with"),
            ({"shards": 1}, "leaves: must be an array"),
            ({"indexes": {"books": one, "logs": one}},
             "indexes.logs.leaves[0]: tcp://127.0.0.1:9 is a leaf of index [books] too"),
        ]
        for i, (doc, want) in enumerate(cases):
            path = os.path.join(self.tmp, "bad-%d.json" % i)
            with open(path, "w") as f:
                json.dump(doc, f)
            r = subprocess.run([TRAWL, "root", "--cluster", path, "--http", "127.0.0.1:0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            err = r.stderr.decode(errors="replace")
            self.assertNotEqual(r.returncode, 0, (doc, err))
            self.assertIn("%s: %s" % (path, want), err, doc)
            for m in cw.SANITIZER_MARKS:
                self.assertNotIn(m, err)
        # a file that reads but an index that does not open: named, nothing leaked
        path = os.path.join(self.tmp, "unopened.json")
        with open(path, "w") as f:
            json.dump({"indexes": {"books": {"shards": 1, "leaves": [leaf]},
                                   "logs": {"shards": 1, "leaves": [{"url": "bogus://x",
                                                                     "shards": [0]}]}}}, f)
        r = subprocess.run([TRAWL, "root", "--cluster", path, "--http", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        err = r.stderr.decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, err)
        self.assertIn("index [logs]: ", err)
        for m in cw.SANITIZER_MARKS:
            self.assertNotIn(m, err)
        with open(os.path.join(self.tmp, "dup.json"), "w") as f:
            f.write('{"indexes": {"a": {"shards": 1, "leaves": []}, "a": {}}}')
        r = subprocess.run([TRAWL, "root", "--cluster", os.path.join(self.tmp, "dup.json")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("duplicate object key", r.stderr.decode())


if __name__ == "__main__":
    TRAWL = cw.TRAWL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
