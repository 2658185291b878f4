#!/usr/bin/env python3
"""
indexes_test.py - many indexes in one `trawl serve DATA_DIR` (issue #12,
"many indexes"), as real processes on loopback:

    python3 tests/indexes_test.py build/cli/trawl

Covered: a missing data directory is a valid start; PUT /{index} with
settings, mappings and aliases, and its refusals (an existing name, a
bad name, an unknown setting, a bad mapping); GET and HEAD /{index},
/_mapping over several, /_cat/indices and /_cat/aliases (text and JSON);
writes through an alias's write index, refused through an alias of two;
POST /_aliases applied all or none; DELETE /{index} (the directory goes,
the aliases lose it); everything kept across a restart, and what an
interrupted create left removed; searches over a list, a wildcard and an
alias compared with a brute-force merge of each index's own answers
(ids, scores, totals, a numeric sort, terms buckets summed); searches and
writes racing a DELETE of their index answer 200 or 404, never anything
else; `trawl serve INDEX_DIR` still serves one index and refuses to
create others. Standard library only.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netlib import Serve, bulk_body, http_json as call, same_as_merged  # noqa: E402

TRAWL = None
MAPPING = {"properties": {"title": {"type": "text"}, "n": {"type": "long"},
                          "tag": {"type": "keyword"}}}


def Server(d, *extra):
    """`trawl serve DIR` on a free port (netlib.Serve), until stop()."""
    return Serve(TRAWL, d, *extra, refresh_ms=100)


class IndexesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trawl-indexes-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if not s.err.closed:
                s.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, d, *extra):
        s = Server(d, *extra)
        self.servers.append(s)
        return s

    def create(self, port, name, shards=2, aliases=None):
        body = {"settings": {"number_of_shards": shards}, "mappings": MAPPING}
        if aliases:
            body["aliases"] = aliases
        st, b = call(port, "PUT", "/" + name, body)
        self.assertEqual((st, b), (200, {"acknowledged": True, "shards_acknowledged": True,
                                         "index": name}))

    # Creating, reading, writing through aliases, deleting; the refusals.
    def test_lifecycle(self):
        d = os.path.join(self.tmp, "data")  # missing: a valid start
        s = self.serve(d)
        p = s.port
        st, text = call(p, "GET", "/_cat/indices", raw=True)
        self.assertEqual((st, text), (200, ""))
        self.create(p, "books", 2, {"lib": {"is_write_index": True}, "all": {}})
        self.create(p, "news", 1, {"all": {}})
        # refusals, each with OpenSearch's type
        st, b = call(p, "PUT", "/books", {})
        self.assertEqual((st, b["error"]["type"]), (400, "resource_already_exists_exception"))
        st, b = call(p, "PUT", "/Bad", {})
        self.assertEqual((st, b["error"]["type"]), (400, "invalid_index_name_exception"))
        st, b = call(p, "PUT", "/x", {"settings": {"refresh_interval": "5s"}})
        self.assertEqual(st, 400, b)
        self.assertIn("refresh_interval", b["error"]["reason"])
        st, b = call(p, "PUT", "/x", {"mappings": {"properties": {"t": {"type": "nonesuch"}}}})
        self.assertEqual((st, b["error"]["type"]), (400, "mapper_parsing_exception"), b)
        st, b = call(p, "PUT", "/x", {"settings": {"number_of_shards": 0}})
        self.assertEqual(st, 400, b)
        st, b = call(p, "PUT", "/lib", {})  # an alias's name
        self.assertEqual(st, 400, b)
        self.assertEqual(call(p, "HEAD", "/x")[0], 404)
        # what exists
        self.assertEqual(call(p, "HEAD", "/books")[0], 200)
        st, b = call(p, "GET", "/books")
        self.assertEqual(st, 200, b)
        self.assertEqual(b["books"]["settings"]["index"]["number_of_shards"], "2")
        self.assertEqual(b["books"]["aliases"], {"all": {}, "lib": {"is_write_index": True}})
        self.assertEqual(b["books"]["mappings"]["properties"]["tag"], {"type": "keyword"})
        st, b = call(p, "GET", "/_mapping")
        self.assertEqual(sorted(b), ["books", "news"])
        # writes: through the write index of an alias; not through one of two
        st, b = call(p, "PUT", "/lib/_doc/1?refresh=wait_for", {"title": "red fox", "n": 1})
        self.assertEqual((st, b["_index"]), (201, "books"), b)
        st, b = call(p, "PUT", "/all/_doc/2", {"title": "x"})
        self.assertEqual(st, 400, b)
        self.assertIn("no write index", b["error"]["reason"])
        st, b = call(p, "PUT", "/nowhere/_doc/2", {"title": "x"})
        self.assertEqual((st, b["error"]["type"]), (404, "index_not_found_exception"), b)
        st, b = call(p, "POST", "/news/_doc?refresh=true", {"title": "fox news", "n": 2})
        self.assertEqual(st, 201, b)
        # _cat
        st, b = call(p, "GET", "/_cat/indices?format=json")
        rows = {r["index"]: r for r in b}
        self.assertEqual(sorted(rows), ["books", "news"])
        self.assertEqual((rows["books"]["docs.count"], rows["books"]["pri"]), ("1", "2"))
        self.assertEqual(rows["news"]["health"], "green")
        st, text = call(p, "GET", "/_cat/indices/b*?v&h=index,docs.count", raw=True)
        self.assertEqual(text.split(), ["index", "docs.count", "books", "1"])
        st, text = call(p, "GET", "/_cat/aliases?h=alias,index,is_write_index", raw=True)
        self.assertEqual(sorted(tuple(line.split()) for line in text.splitlines()),
                         [("all", "books", "-"), ("all", "news", "-"),
                          ("lib", "books", "true")])
        # a search over the alias of two, and the native API on one
        st, b = call(p, "GET", "/all/_search?q=fox")
        self.assertEqual(sorted(h["_index"] for h in b["hits"]["hits"]), ["books", "news"], b)
        st, b = call(p, "GET", "/news/search?q=fox")
        self.assertEqual((st, b["total"]["value"]), (200, 1), b)
        st, b = call(p, "GET", "/search?q=fox")  # two indexes: name one
        self.assertEqual(st, 400, b)
        # aliases: all or none
        st, b = call(p, "POST", "/_aliases", {"actions": [
            {"add": {"index": "news", "alias": "lib2"}},
            {"remove": {"index": "news", "alias": "nothere", "must_exist": True}}]})
        self.assertEqual((st, b["error"]["type"]), (404, "aliases_not_found_exception"), b)
        self.assertEqual(call(p, "GET", "/_alias/lib2")[0], 404)
        st, b = call(p, "POST", "/_aliases", {"actions": [
            {"add": {"index": "news", "alias": "lib", "is_write_index": True}},
            {"add": {"index": "books", "alias": "lib", "is_write_index": False}}]})
        self.assertEqual(st, 200, b)
        st, b = call(p, "PUT", "/lib/_doc/9?refresh=true", {"title": "moved"})
        self.assertEqual((st, b["_index"]), (201, "news"), b)
        st, b = call(p, "GET", "/_alias/lib")
        self.assertEqual(b, {"books": {"aliases": {"lib": {"is_write_index": False}}},
                             "news": {"aliases": {"lib": {"is_write_index": True}}}})
        # delete: the index, its directory and its place in aliases go
        st, b = call(p, "DELETE", "/news")
        self.assertEqual((st, b), (200, {"acknowledged": True}))
        self.assertFalse(os.path.exists(os.path.join(d, "news")))
        self.assertEqual(call(p, "GET", "/news/_search")[0], 404)
        st, b = call(p, "GET", "/_alias/lib")
        self.assertEqual(sorted(b), ["books"])
        self.assertEqual(call(p, "DELETE", "/news")[0], 404)
        st, b = call(p, "GET", "/_cluster/health")
        self.assertEqual((st, b["status"]), (200, "green"))
        s.stop()

    # Indexes, their documents and aliases outlive a restart; what an
    # interrupted create or delete left is removed.
    def test_restart(self):
        d = os.path.join(self.tmp, "data")
        s = self.serve(d)
        self.create(s.port, "a", 1, {"al": {}})
        self.create(s.port, "b", 3)
        # one _bulk to several indexes: by name, through an alias, and to
        # none (that item alone fails)
        st, b = call(s.port, "POST", "/_bulk?refresh=wait_for",
                     bulk_body("a", [{"id": "1", "title": "one"}]) +
                     bulk_body("b", [{"id": "2", "title": "two"}]) +
                     bulk_body("al", [{"id": "3", "title": "three"}]) +
                     bulk_body("nope", [{"id": "4", "title": "four"}]) +
                     bulk_body("a*", [{"id": "5", "title": "five"}]))
        self.assertEqual((st, b["errors"]), (200, True), b)
        got = [(list(i.values())[0]["_index"], list(i.values())[0]["status"]) for i in b["items"]]
        self.assertEqual(got, [("a", 201), ("b", 201), ("a", 201), ("nope", 404), ("a*", 400)], b)
        st, b = call(s.port, "POST", "/b/_bulk?refresh=true", bulk_body("b", [{"id": "6", "title": "six"}])
                     + '{"delete": {"_id": "6"}}\n')
        self.assertEqual((st, b["errors"]), (200, False), b)
        s.stop()
        self.servers.remove(s)
        os.makedirs(os.path.join(d, "_trawl", "new-1-0", "gen-000001"))
        os.makedirs(os.path.join(d, "_trawl", "old-1-3"))
        # an index whose directory name no request could address: not served
        shutil.copytree(os.path.join(d, "b"), os.path.join(d, "B,c"))
        s = self.serve(d)
        st, b = call(s.port, "GET", "/_cat/indices?format=json&h=index,docs.count,pri")
        self.assertEqual(sorted((r["index"], r["docs.count"], r["pri"]) for r in b),
                         [("a", "2", "1"), ("b", "1", "3")])
        st, b = call(s.port, "GET", "/al/_search")
        self.assertEqual(sorted(h["_id"] for h in b["hits"]["hits"]), ["1", "3"], b)
        self.assertEqual(sorted(os.listdir(d)), ["B,c", "_trawl", "a", "b"])
        self.assertEqual(sorted(os.listdir(os.path.join(d, "_trawl"))), ["aliases.json", "lock"])
        self.assertIn('"B,c" in %s is not served' % d, s.stderr())
        s.stop()

    # Searches over several indexes answer as each index's own answers
    # merged by hand: ids, scores, totals, a numeric sort, terms buckets.
    def test_search_many_against_brute_force(self):
        d = os.path.join(self.tmp, "data")
        s = self.serve(d)
        p = s.port
        rnd = random.Random(11)
        words = ["fox", "red", "blue", "dog", "moon", "sun", "sea", "sky"]
        names = ["i1", "i2", "i3"]
        # each index its own keyword values: their numbers in each index's
        # dictionary disagree, their bytes do not
        tags = [["x", "y", "z", "w"], ["a", "m", "y"], ["b", "x", "zz", "c"]]
        for i, ix in enumerate(names):
            self.create(p, ix, 1 + i, {"both": {}} if ix != "i3" else None)
            docs = [{"id": "d%d" % rnd.randrange(200),
                     "title": " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6))),
                     "n": rnd.randrange(1000), "tag": rnd.choice(tags[i])}
                    for _ in range(120)]
            st, b = call(p, "POST", "/%s/_bulk?refresh=wait_for" % ix, bulk_body(ix, docs))
            self.assertEqual((st, b["errors"]), (200, False))
        exprs = {"i1,i2": ["i1", "i2"], "both": ["i1", "i2"], "i*": names, "_all": names,
                 "*,-i2": ["i1", "i3"]}
        for expr, members in exprs.items():
            for q in words[:5] + ["fox OR sky", "red AND blue"]:
                body = {"query": {"query_string": {"query": q}}, "size": 500,
                        "aggs": {"t": {"terms": {"field": "tag", "size": 10}}}}
                want_hits = same_as_merged(self, p, expr, members, body)
                if " " not in q:
                    self.assertTrue(want_hits, q)  # 120 documents a word: never none
                st, c = call(p, "GET", "/%s/_count?q=%s" % (expr, q.split()[0]))
                self.assertEqual(st, 200, c)
            # a numeric sort: the merge of each index's sorted documents
            body = {"query": {"match_all": {}}, "size": 1000, "sort": [{"n": "desc"}]}
            st, got = call(p, "POST", "/%s/_search" % expr, body)
            self.assertEqual(st, 200, got)
            ns = [h["sort"][0] for h in got["hits"]["hits"]]
            self.assertEqual(ns, sorted(ns, reverse=True))
            self.assertEqual(len(ns), got["hits"]["total"]["value"])
            # a keyword sort: the merge of each index's sorted documents by
            # the values' bytes (ties of tag and n go by the id's hash)
            for order in ("asc", "desc"):
                body = {"query": {"match_all": {}}, "size": 1000,
                        "sort": [{"tag": order}, {"n": "desc"}]}
                st, got = call(p, "POST", "/%s/_search" % expr, body)
                self.assertEqual(st, 200, got)
                want = []
                for ix in members:
                    st, one = call(p, "POST", "/%s/_search" % ix, body)
                    want += [(h["_index"], h["_id"], tuple(h["sort"][:2]))
                             for h in one["hits"]["hits"]]
                hits = got["hits"]["hits"]
                keys = [tuple(h["sort"][:2]) for h in hits]
                if order == "asc":
                    expect = sorted((w[2] for w in want), key=lambda k: (k[0].encode(), -k[1]))
                else:
                    expect = sorted((w[2] for w in want), key=lambda k: (k[0].encode(), k[1]),
                                    reverse=True)
                self.assertEqual(keys, expect, (expr, order))
                self.assertEqual(sorted((h["_index"], h["_id"]) for h in hits),
                                 sorted(w[:2] for w in want), (expr, order))
        s.stop()

    # Searches and writes racing a DELETE of their index: 200 or 404.
    def test_delete_under_load(self):
        d = os.path.join(self.tmp, "data")
        s = self.serve(d)
        p = s.port
        for rnd in range(3):
            self.create(p, "hot", 2)
            stop = threading.Event()
            seen = []

            def hammer(kind):
                i = 0
                while not stop.is_set():
                    i += 1
                    if kind == "search":
                        st, _ = call(p, "GET", "/hot/_search?q=fox")
                    else:
                        st, _ = call(p, "PUT", "/hot/_doc/%d" % i, {"title": "fox %d" % i})
                    seen.append(st)

            ts = [threading.Thread(target=hammer, args=(k,)) for k in ("search", "write", "search")]
            for t in ts:
                t.start()
            time.sleep(0.5)
            st, b = call(p, "DELETE", "/hot")
            self.assertEqual(st, 200, b)
            time.sleep(0.2)
            stop.set()
            for t in ts:
                t.join(timeout=60)
            self.assertTrue(seen)
            self.assertTrue(set(seen) <= {200, 201, 404}, sorted(set(seen)))
            self.assertFalse(os.path.exists(os.path.join(d, "hot")))
        s.stop()

    # Edges a review found: bulk items naming no index or the same index
    # twice, aliases' bodies, searches over several indexes whose mappings
    # differ, names that are awkward on a file system, a second server.
    def test_edges(self):
        d = os.path.join(self.tmp, "data")
        s = self.serve(d)
        p = s.port
        # _bulk items naming an exclusion or _all on an empty server: refused
        st, b = call(p, "POST", "/_bulk", '{"index":{"_index":"-a","_id":"1"}}\n{"t":"x"}\n'
                     '{"index":{"_index":"_all","_id":"1"}}\n{"t":"x"}\n')
        self.assertEqual((st, [list(i.values())[0]["status"] for i in b["items"]]),
                         (200, [400, 400]), b)
        self.assertEqual(call(p, "POST", "/-a/_bulk", '{"index":{"_id":"1"}}\n{"t":"x"}\n')[0], 200)
        self.create(p, "logs", 1, {"lw": {}})
        self.create(p, "meta", 1)
        # an alias and its index in one _bulk: one index, the items in order
        st, b = call(p, "POST", "/_bulk?refresh=true",
                     '{"index":{"_index":"lw","_id":"1"}}\n{"title":"one"}\n'
                     '{"delete":{"_index":"logs","_id":"1"}}\n'
                     '{"index":{"_index":"lw","_id":"1"}}\n{"title":"three"}\n')
        self.assertEqual(st, 200, b)
        st, b = call(p, "GET", "/logs/_doc/1")
        self.assertEqual((st, b["_source"]), (200, {"title": "three"}), b)
        # aliases: a body that is not a boolean, a missing alias's 404
        st, b = call(p, "PUT", "/logs/_alias/x", {"is_write_index": "yes"})
        self.assertEqual(st, 400, b)
        st, b = call(p, "GET", "/_alias/nope")
        self.assertEqual((st, b), (404, {"error": "alias [nope] missing", "status": 404}))
        # a list: 404 naming what is missing, beside what was found; a
        # pattern that matches nothing is no error
        st, b = call(p, "GET", "/_alias/lw,nope,nix")
        self.assertEqual((st, b), (404, {"error": "aliases [nope,nix] missing", "status": 404,
                                         "logs": {"aliases": {"lw": {}}}}))
        self.assertEqual(call(p, "GET", "/_alias/nope*"), (200, {}))
        # DELETE of an alias: OpenSearch's 400, and the index stays
        st, b = call(p, "DELETE", "/lw")
        self.assertEqual((st, b["error"]["type"]), (400, "illegal_argument_exception"), b)
        self.assertIn("matches an alias", b["error"]["reason"])
        self.assertEqual(call(p, "HEAD", "/logs")[0], 200)
        # a leading -name is a name, not an exclusion (only after a wildcard)
        self.assertEqual(call(p, "GET", "/-logs/_search")[0], 404)
        st, b = call(p, "GET", "/*,-logs/_search")
        self.assertEqual((st, b["hits"]["total"]["value"]), (200, 0), b)
        # several indexes of different mappings: a field one lacks matches
        # nothing there; search_after is refused over several
        st, b = call(p, "POST", "/meta/_doc?refresh=true", {"title": "m", "n": 5})
        self.assertEqual(st, 201, b)
        st, b = call(p, "POST", "/logs,meta/_search", {"query": {"term": {"n": 5}}})
        self.assertEqual((st, b["hits"]["total"]["value"]), (200, 1), b)
        st, b = call(p, "POST", "/logs,meta/_search",
                     {"sort": [{"n": "asc"}], "search_after": [1, "0"]})
        self.assertEqual(st, 400, b)
        st, b = call(p, "GET", "/logs,nope/_search?ignore_unavailable=true")
        self.assertEqual((st, b["hits"]["total"]["value"]), (200, 1), b)
        self.assertEqual(call(p, "GET", "/nope*/_search?allow_no_indices=false")[0], 404)
        # names: "search" (the native route's), 255 bytes, a leading dot
        long_name = "x" * 255
        for name in ("search", long_name, ".hidden"):
            st, b = call(p, "PUT", "/" + name, {})
            self.assertEqual(st, 200, (name[:20], b))
        st, text = call(p, "GET", "/_cat/indices?h=index&health=green", raw=True)
        self.assertIn(".hidden", text.split())
        self.assertEqual(call(p, "GET", "/_cat/indices?bytes=zb")[0], 400)
        # a second server of the directory serves it and manages nothing
        s2 = self.serve(d)
        self.assertEqual(call(s2.port, "GET", "/logs/_count")[1]["count"], 1)
        self.assertEqual(call(s2.port, "DELETE", "/meta")[0], 405)
        self.assertEqual(call(s2.port, "PUT", "/other", {})[0], 405)
        self.assertEqual(call(s2.port, "POST", "/_aliases",
                              {"actions": [{"add": {"index": "meta", "alias": "m2"}}]})[0], 405)
        s2.stop()
        self.servers.remove(s2)
        self.assertEqual(call(p, "DELETE", "/search")[0], 200)
        s.stop()
        self.servers.remove(s)
        # after a restart: every index, the dotted and the long one too
        s = self.serve(d)
        st, b = call(s.port, "GET", "/_cat/indices?format=json&h=index")
        self.assertEqual(sorted(r["index"] for r in b), [".hidden", "logs", "meta", long_name])
        s.stop()

    # An index directory is served alone, under its name; it does not
    # create or delete indexes.
    def test_index_dir(self):
        src = os.path.join(self.tmp, "docs.jsonl")
        with open(src, "w") as f:
            f.write(json.dumps({"id": "1", "title": "fox"}) + "\n")
        ix = os.path.join(self.tmp, "wiki")
        subprocess.run([TRAWL, "index", ix, src], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        s = self.serve(ix)
        st, b = call(s.port, "GET", "/wiki/_search?q=fox")
        self.assertEqual((st, b["hits"]["total"]["value"]), (200, 1))
        st, b = call(s.port, "GET", "/search?q=fox")
        self.assertEqual(st, 200, b)
        st, b = call(s.port, "PUT", "/other", {})
        self.assertEqual(st, 405, b)
        st, b = call(s.port, "DELETE", "/wiki")
        self.assertEqual(st, 405, b)
        s.stop()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: indexes_test.py TRAWL")
    TRAWL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
