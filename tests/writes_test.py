#!/usr/bin/env python3
"""
writes_test.py - writes over HTTP to `trawl serve` (issue #12), as real
processes on loopback:

    python3 tests/writes_test.py build/cli/trawl

Covered: every write endpoint's answers against a model of the index
(index, create, update, delete, _bulk with per-item errors and line
numbers, if_seq_no conflicts, generated ids, refresh=wait_for making a
write searchable through the same root, the realtime get and its
versions); durability: a writer sends random writes while `trawl serve`
is killed with SIGKILL every few seconds and restarted, and afterwards
the index holds exactly the acknowledged writes (a write whose answer
was lost with the process may be there or not, but whole: its document is
the old one or the new one, never anything else); a second `trawl serve`
of the same directory serves reads and refuses writes. Every port is
picked by binding port 0 first; every wait is bounded; processes are
stopped in a cleanup even when a test fails. Standard library only.
"""
import http.client
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
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from netlib import Serve, http_json as request, same_answers, random_bulk  # noqa: E402

TRAWL = None


def Server(d, *extra):
    """`trawl serve DIR` on a free port (netlib.Serve), until stop()."""
    return Serve(TRAWL, d, *extra, refresh_ms=200)


def base_docs(n):
    return [{"id": "base-%d" % i, "title": "base %d" % i, "body": "common words w%d" % (i % 7)}
            for i in range(n)]


def build(ix, docs, shards=2):
    src = ix + ".jsonl"
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    subprocess.run([TRAWL, "index", ix, src, "--shards", str(shards)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class WritesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="trawl-writes-")
        self.ix = os.path.join(self.dir, "idx")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if not s.err.closed:
                s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def serve(self, *extra):
        s = Server(self.ix, *extra)
        self.servers.append(s)
        return s

    def test_endpoints(self):
        build(self.ix, base_docs(50))
        s = self.serve()
        p = s.port
        st, b = request(p, "PUT", "/idx/_doc/a1", {"title": "alpha", "body": "quokka one"})
        self.assertEqual((st, b["result"], b["_version"], b["_primary_term"]),
                         (201, "created", 1, 1), b)
        seq_a1 = b["_seq_no"]
        st, b = request(p, "PUT", "/idx/_doc/a1", {"title": "alpha", "body": "quokka two"})
        self.assertEqual((st, b["result"], b["_version"]), (200, "updated", 2), b)
        self.assertGreater(b["_seq_no"], seq_a1)
        # compare-and-set on the old number: 409
        st, b = request(p, "PUT", "/idx/_doc/a1?if_seq_no=%d&if_primary_term=1" % seq_a1,
                        {"title": "stale"})
        self.assertEqual((st, b["error"]["type"]), (409, "version_conflict_engine_exception"), b)
        st, b = request(p, "PUT", "/idx/_create/a1", {"title": "dup"})
        self.assertEqual(st, 409, b)
        st, b = request(p, "POST", "/idx/_doc", {"title": "generated", "body": "quokka three"})
        self.assertEqual(st, 201, b)
        gen_id = b["_id"]
        self.assertEqual(len(gen_id), 20)
        st, b = request(p, "POST", "/idx/_update/a1", {"doc": {"extra": "x"}})
        self.assertEqual((st, b["result"], b["_version"]), (200, "updated", 3), b)
        st, b = request(p, "POST", "/idx/_update/a1", {"doc": {"extra": "x"}})
        self.assertEqual((st, b["result"]), (200, "noop"), b)
        st, b = request(p, "POST", "/idx/_update/nope", {"doc": {"x": 1}})
        self.assertEqual((st, b["error"]["type"]), (404, "document_missing_exception"), b)
        st, b = request(p, "DELETE", "/idx/_doc/base-3")
        self.assertEqual((st, b["result"]), (200, "deleted"), b)
        st, b = request(p, "DELETE", "/idx/_doc/base-3")
        self.assertEqual((st, b["result"]), (404, "not_found"), b)
        # a document the schema refuses: 400 naming it, nothing logged
        st, b = request(p, "PUT", "/idx/_doc/bad", {"title": 42})
        self.assertEqual((st, b["error"]["type"]), (400, "mapper_parsing_exception"), b)
        st, b = request(p, "PUT", "/idx/_doc/bad", "not json")
        self.assertEqual(st, 400, b)
        st, b = request(p, "PUT", "/idx/_doc/x?refresh=sometimes", {"title": "x"})
        self.assertEqual(st, 400, b)
        st, b = request(p, "PUT", "/other/_doc/x", {"title": "x"})
        self.assertEqual((st, b["error"]["type"]), (404, "index_not_found_exception"), b)
        # the realtime get sees the write before any refresh, with its numbers
        st, b = request(p, "GET", "/idx/_doc/a1")
        self.assertEqual((st, b["_version"], b["_source"]["extra"]), (200, 3, "x"), b)
        # _bulk: per-item outcomes, a bad action line's item fails by its line
        bulk = "\n".join(json.dumps(x) for x in [
            {"index": {"_id": "b1"}}, {"title": "bulk", "body": "quokka four"},
            {"create": {"_id": "a1"}}, {"title": "dup"},
            {"delete": {"_id": gen_id}},
            {"index": {"_id": "b2", "routing": "r"}}, {"title": "x"},
            {"update": {"_id": "b1"}}, {"doc": {"more": 1}},
        ]) + "\n"
        st, b = request(p, "POST", "/idx/_bulk?refresh=wait_for", bulk)
        self.assertEqual(st, 200, b)
        self.assertTrue(b["errors"])
        items = b["items"]
        self.assertEqual([list(i)[0] for i in items], ["index", "create", "delete", "index", "update"])
        self.assertEqual([list(i.values())[0]["status"] for i in items], [201, 409, 200, 400, 200])
        self.assertIn("line 6", items[3]["index"]["error"]["reason"])
        # refresh=wait_for: the same root's next search sees every write before it
        st, b = request(p, "GET", "/idx/_search?q=quokka&size=20")
        ids = sorted(h["_id"] for h in b["hits"]["hits"])
        self.assertEqual(ids, ["a1", "b1"], b)
        st, b = request(p, "GET", "/idx/_count")
        self.assertEqual(b["count"], 50 - 1 + 2, b)
        # a second server of the directory serves reads, refuses writes
        s2 = Server(self.ix)
        self.servers.append(s2)
        st, b = request(s2.port, "PUT", "/idx/_doc/z", {"title": "z"})
        self.assertEqual(st, 405, b)
        self.assertIn("wlog.mdb", s2.stderr())
        st, b = request(s2.port, "GET", "/idx/_count")
        self.assertEqual((st, b["count"]), (200, 51), b)
        s2.stop()
        st, b = request(p, "POST", "/idx/_refresh")
        self.assertEqual(st, 200, b)
        # the indexer's metrics: what was written and when it became searchable
        c = http.client.HTTPConnection("127.0.0.1", p, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        m = {}
        for line in text.splitlines():
            if line.startswith("trawl_indexer"):
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
        # each index's lines carry its name
        ix = '{index="idx"}'
        self.assertGreaterEqual(m["trawl_indexer_writes_total" + ix], 8, text)
        self.assertGreaterEqual(m["trawl_indexer_generations_total" + ix], 2, text)
        self.assertGreaterEqual(m["trawl_indexer_refresh_seconds_count" + ix], 2, text)
        self.assertEqual(m['trawl_indexer_refresh_seconds_bucket{index="idx",le="+Inf"}'],
                         m["trawl_indexer_refresh_seconds_count" + ix])
        self.assertEqual(m["trawl_indexer_unapplied_operations" + ix], 0, text)
        self.assertGreaterEqual(m["trawl_indexer_segments" + ix], 2, text)
        s.stop()

    # A delete's version outlives its publish, as OpenSearch's tombstones do
    # for index.gc_deletes (60 s): a write of the id after a refresh
    # continues the version (delete at N, then N + 1), for a document
    # written here, one of the build, and a delete of a missing id. A
    # restart forgets them (they are kept in memory only).
    def test_version_continues_after_published_delete(self):
        build(self.ix, base_docs(10))
        s = self.serve()
        p = s.port
        for body in ({"title": "one"}, {"title": "two"}):
            st, b = request(p, "PUT", "/idx/_doc/t1", body)
        self.assertEqual((st, b["_version"]), (200, 2), b)
        st, b = request(p, "DELETE", "/idx/_doc/t1")
        self.assertEqual((st, b["result"], b["_version"]), (200, "deleted", 3), b)
        st, b = request(p, "DELETE", "/idx/_doc/base-4")
        self.assertEqual((st, b["result"], b["_version"]), (200, "deleted", 2), b)
        st, b = request(p, "DELETE", "/idx/_doc/never")
        self.assertEqual((st, b["result"], b["_version"]), (404, "not_found", 1), b)
        st, b = request(p, "POST", "/idx/_refresh")
        self.assertEqual(st, 200, b)
        st, b = request(p, "GET", "/idx/_count")
        self.assertEqual(b["count"], 9, b)  # published: base-4 is gone
        st, b = request(p, "GET", "/idx/_doc/t1")
        self.assertEqual((st, b["found"]), (404, False), b)
        st, b = request(p, "PUT", "/idx/_create/t1", {"title": "three"})
        self.assertEqual((st, b["result"], b["_version"]), (201, "created", 4), b)
        st, b = request(p, "PUT", "/idx/_doc/base-4?refresh=wait_for", {"title": "back"})
        self.assertEqual((st, b["result"], b["_version"]), (201, "created", 3), b)
        st, b = request(p, "POST", "/idx/_update/never", {"doc": {"x": 1},
                                                          "doc_as_upsert": True})
        self.assertEqual((st, b["result"], b["_version"]), (201, "created", 2), b)
        # published again: the versions are the segments' now
        st, b = request(p, "POST", "/idx/_refresh")
        st, b = request(p, "GET", "/idx/_doc/base-4")
        self.assertEqual((st, b["_version"]), (200, 3), b)
        # a delete published, then a restart: forgotten, the id starts again
        st, b = request(p, "DELETE", "/idx/_doc/t1?refresh=wait_for")
        self.assertEqual((st, b["_version"]), (200, 5), b)
        s.stop()
        s = self.serve()
        st, b = request(s.port, "PUT", "/idx/_doc/t1", {"title": "anew"})
        self.assertEqual((st, b["result"], b["_version"]), (201, "created", 1), b)
        s.stop()

    # The Location of a 201 is OpenSearch's: the index and the id each as
    # Java's URLEncoder writes them (DocWriteResponse.getLocation), so an id
    # with a space, '/', '?', '#', '%', '+' or non-ASCII text names the
    # document it created when read back through that Location.
    def test_location_encoded(self):
        build(self.ix, base_docs(5))
        s = self.serve()

        def put(path, body):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            try:
                c.request("PUT" if "/_doc/" in path or "/_create/" in path else "POST", path,
                          body=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                return r.status, json.loads(r.read()), r.getheader("Location")
            finally:
                c.close()

        cases = [("plain-id_1.x*", "/idx/_doc/plain-id_1.x*"),
                 ("a b/c?d#e%f+g", "/idx/_doc/a+b%2Fc%3Fd%23e%25f%2Bg"),
                 ("caf\u00e9 \u20ac", "/idx/_doc/caf%C3%A9+%E2%82%AC"),
                 ("~!'()&=:;,@$", "/idx/_doc/%7E%21%27%28%29%26%3D%3A%3B%2C%40%24")]
        for i, (doc_id, want) in enumerate(cases):
            doc_id = json.loads('"%s"' % doc_id)
            path = "/idx/_doc/" + urllib.parse.quote(doc_id, safe="")
            st, b, loc = put(path, {"title": "loc %d" % i})
            self.assertEqual((st, b["_id"]), (201, doc_id), b)
            self.assertEqual(loc, want)
            # the Location read back (Java's '+' is a space in a form) names it
            back = urllib.parse.unquote_plus(loc[len("/idx/_doc/"):])
            self.assertEqual(back, doc_id)
            st, b = request(s.port, "GET", "/idx/_doc/" + urllib.parse.quote(back, safe=""))
            self.assertEqual((st, b["_id"]), (200, doc_id), b)
        # an update that creates, and a generated id (base64url: kept as it is)
        st, b, loc = put("/idx/_create/" + urllib.parse.quote("new one", safe=""), {"t": 1})
        self.assertEqual((st, loc), (201, "/idx/_doc/new+one"), b)
        st, b, loc = put("/idx/_doc", {"title": "generated"})
        self.assertEqual(st, 201, b)
        self.assertEqual(loc, "/idx/_doc/" + b["_id"])
        self.assertNotIn("%", loc)
        s.stop()

    # A segment an update wrote is leased and watched like the first:
    # truncating it takes its shard out of service; the process lives, and
    # the indexer's own reads of it (a realtime get, writes) answer errors.
    # (Comments, not docstrings: unittest would print a docstring's first
    # line in place of the case's "... ok", which scripts/testcount.py reads.)
    def test_update_segment_guarded(self):
        build(self.ix, base_docs(30), shards=1)
        s = self.serve()
        st, b = request(s.port, "PUT", "/idx/_doc/g1?refresh=wait_for", {"title": "guarded"})
        self.assertEqual(st, 201, b)
        with open(os.path.join(self.ix, "CURRENT")) as f:
            gen = os.path.join(self.ix, f.read().strip())
        seg = [n for n in os.listdir(gen) if n.startswith("s000-") and n.endswith(".mdb")]
        self.assertEqual(len(seg), 1, os.listdir(gen))
        with open(os.path.join(gen, seg[0]), "r+b") as f:
            f.truncate(4096)
        end = time.time() + 10
        while time.time() < end and "out of service" not in s.stderr():
            time.sleep(0.1)
        self.assertIn("out of service", s.stderr())
        st, b = request(s.port, "GET", "/idx/_search?q=guarded")
        self.assertIsNone(s.proc.poll(), "the server died: " + s.stderr())
        self.assertNotEqual(st, 200, b)  # its only shard is out of service
        # the indexer's own reads of the live generation: a realtime get and
        # writes (a replacement, a new id, an update) of the truncated
        # shard answer an error naming the file; the process lives
        for method, path, body, want in [
                ("GET", "/idx/_doc/g1", None, 503),
                ("PUT", "/idx/_doc/g1", {"title": "again"}, 500),
                ("PUT", "/idx/_doc/new1", {"title": "new"}, 500),
                ("POST", "/idx/_update/base-1", {"doc": {"x": 1}}, 500)]:
            st, b = request(s.port, method, path, body)
            self.assertIsNone(s.proc.poll(), "the server died on %s %s: %s" % (
                method, path, s.stderr()))
            self.assertEqual(st, want, b)
            self.assertIn(seg[0], b["error"]["reason"], b)
            self.assertIn("manifest says", b["error"]["reason"], b)
        st, b = request(s.port, "GET", "/readyz")
        self.assertIsNone(s.proc.poll(), "the server died: " + s.stderr())
        s.kill()

    # Every document of a shard deleted: the indexer does not spin on the
    # empty segment it keeps, and a compaction returns.
    def test_all_deleted_then_compact(self):
        build(self.ix, base_docs(3), shards=1)
        bulk = os.path.join(self.dir, "del.nd")
        with open(bulk, "w") as f:
            for i in range(3):
                f.write(json.dumps({"delete": {"_id": "base-%d" % i}}) + "\n")
        r = subprocess.run([TRAWL, "index", self.ix, "--update", bulk], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([TRAWL, "compact", self.ix], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = self.serve()
        t0 = time.process_time()
        time.sleep(1.5)
        with open("/proc/%d/stat" % s.proc.pid) as f:
            ticks = sum(int(x) for x in f.read().split()[13:15])
        self.assertLess(ticks, 100, "the idle server spins: %d ticks" % ticks)
        st, b = request(s.port, "GET", "/idx/_count")
        self.assertEqual((st, b["count"]), (200, 0), b)
        s.stop()

    # Backpressure: past --max-backlog writes not yet searchable, a write is
    # 429 es_rejected_execution_exception with Retry-After (a _bulk refused
    # whole), nothing of it logged; once the indexer catches up writes go on.
    def test_backpressure(self):
        build(self.ix, base_docs(10), shards=2)
        s = self.serve("--refresh-ms", "3600000", "--max-backlog", "50")
        p = s.port

        def bulk(first, n):
            lines = []
            for i in range(first, first + n):
                lines.append(json.dumps({"index": {"_id": "bp-%d" % i}}))
                lines.append(json.dumps({"title": "pressure %d" % i, "body": "backlog"}))
            return request(p, "POST", "/idx/_bulk", "\n".join(lines) + "\n")

        st, b = bulk(0, 60)  # 0 behind when it came: taken
        self.assertEqual((st, b["errors"]), (200, False), b)
        c = http.client.HTTPConnection("127.0.0.1", p, timeout=30)
        c.request("PUT", "/idx/_doc/refused", body=json.dumps({"title": "no"}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        b = json.loads(r.read())
        c.close()
        self.assertEqual((r.status, b["error"]["type"], b["status"]),
                         (429, "es_rejected_execution_exception", 429), b)
        self.assertEqual(r.getheader("Retry-After"), "1")
        # the refusal asks for a generation at once: the backlog empties
        end = time.time() + 30
        while True:
            st, b = bulk(100, 20)
            if st == 200 or time.time() > end:
                break
            self.assertEqual((st, b["error"]["type"]), (429, "es_rejected_execution_exception"),
                             b)
            time.sleep(0.1)
        self.assertEqual((st, b["errors"]), (200, False), b)
        st, b = bulk(200, 40)  # 20 behind: taken, then 60 behind
        self.assertEqual(st, 200, b)
        st, b = bulk(300, 5)  # refused whole
        self.assertEqual((st, b["error"]["type"]), (429, "es_rejected_execution_exception"), b)
        st, _ = request(p, "POST", "/idx/_refresh")
        self.assertEqual(st, 200)
        st, b = request(p, "GET", "/idx/_count")
        self.assertEqual((st, b["count"]), (200, 10 + 60 + 20 + 40), b)
        for gone in ("refused", "bp-300"):
            st, b = request(p, "GET", "/idx/_doc/" + gone)
            self.assertEqual(st, 404, b)
        st, m = request(p, "GET", "/metrics")
        text = m.decode() if isinstance(m, bytes) else str(m)
        line = [x for x in text.splitlines()
                if x.startswith('trawl_indexer_rejected_total{index="idx"} ')]
        self.assertTrue(line and float(line[0].split()[1]) >= 2, line)
        s.stop()

    # --write-priority: by default the indexer's thread and the HTTP
    # workers answering writes run at nice 19 (LIMIT_WRITE_NICE), the
    # search workers at the process's own; "normal" keeps every thread at
    # the process's own and has no background workers.
    def test_write_priority(self):
        build(self.ix, base_docs(10))

        def threads(pid):
            out = {}
            for t in os.listdir("/proc/%d/task" % pid):
                try:
                    st = open("/proc/%d/task/%s/stat" % (pid, t)).read()
                except OSError:
                    continue
                name = st[st.index("(") + 1:st.rindex(")")]
                out.setdefault(name, set()).add(int(st.rsplit(")", 1)[1].split()[16]))
            return out

        for extra, low in (((), True), (("--write-priority", "normal"), False)):
            s = self.serve(*extra)
            lines = []
            for i in range(200):
                lines.append(json.dumps({"index": {"_id": "np-%d" % i}}))
                lines.append(json.dumps({"title": "nice %d" % i, "body": "priority"}))
            st, b = request(s.port, "POST", "/idx/_bulk?refresh=wait_for", "\n".join(lines) + "\n")
            self.assertEqual((st, b["errors"]), (200, False), b)
            st, b = request(s.port, "GET", "/idx/_search?q=priority&size=0")
            self.assertEqual((st, b["hits"]["total"]["value"]), (200, 200), b)
            own = os.getpriority(os.PRIO_PROCESS, s.proc.pid)
            t = threads(s.proc.pid)
            self.assertEqual(t.get("trawl-indexer"), {19 if low else own}, t)
            self.assertEqual(t.get("http-worker"), {own}, t)
            self.assertEqual(t.get("http-background"), {19} if low else None, t)
            s.stop()

    # A schema storing only some fields: new ids are written, an existing
    # document is read (realtime) but not replaced or deleted (400, before
    # anything is logged).
    def test_partial_store(self):
        schema = os.path.join(self.dir, "schema.json")
        with open(schema, "w") as f:
            json.dump({"fields": {"title": {}, "body": {}}, "store": ["title"]}, f)
        src = os.path.join(self.dir, "docs.jsonl")
        with open(src, "w") as f:
            for d in base_docs(5):
                f.write(json.dumps(d) + "\n")
        subprocess.run([TRAWL, "index", self.ix, src, "--schema", schema], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s = self.serve()
        st, b = request(s.port, "GET", "/idx/_doc/base-1")
        self.assertEqual((st, b.get("found")), (200, True), b)
        st, b = request(s.port, "PUT", "/idx/_doc/base-1", {"title": "x", "body": "y"})
        self.assertEqual((st, b["error"]["type"]), (400, "illegal_argument_exception"), b)
        self.assertIn("not stored", b["error"]["reason"])
        st, b = request(s.port, "PUT", "/idx/_doc/new-1?refresh=wait_for",
                        {"title": "x", "body": "y"})
        self.assertEqual(st, 201, b)
        s.stop()

    # Random writes while the server is killed (SIGKILL) and restarted; the
    # final index holds every acknowledged write, and an unanswered one
    # whole or not at all.
    def test_durable_under_kill(self):
        build(self.ix, base_docs(200))
        rnd = random.Random(int(os.environ.get("TRAWL_SEED", "12")))
        # the model: id -> document (None: deleted) of every acknowledged write
        model = {d["id"]: {"title": d["title"], "body": d["body"]} for d in base_docs(200)}
        uncertain = {}  # id -> (before, after) of a write whose answer was lost
        acked = [0]
        stop = threading.Event()
        holder = {"port": None}
        errors = []

        def writer():
            n = 0
            while not stop.is_set():
                port = holder["port"]
                if port is None:
                    time.sleep(0.01)
                    continue
                n += 1
                i = rnd.randrange(400)
                doc_id = "base-%d" % i if i < 200 else "new-%d" % i
                before = model.get(doc_id)
                if rnd.random() < 0.25:
                    method, path, body, after = "DELETE", "/idx/_doc/" + doc_id, None, None
                else:
                    after = {"title": "w%d" % n, "body": "written %d %s" % (n, doc_id)}
                    method, path, body = "PUT", "/idx/_doc/" + doc_id, after
                try:
                    st, b = request(port, method, path, body, timeout=10)
                except OSError:
                    uncertain[doc_id] = (before, after)
                    holder["port"] = None  # the server is gone: wait for the next
                    continue
                if st in (200, 201) or (st == 404 and method == "DELETE"):
                    model[doc_id] = after
                    uncertain.pop(doc_id, None)
                    acked[0] += 1
                elif st in (503, 429):
                    uncertain[doc_id] = (before, after)  # refused before deciding? be safe
                else:
                    errors.append((st, b))

        t = threading.Thread(target=writer)
        t.start()
        try:
            for _ in range(4):
                s = self.serve()
                holder["port"] = s.port
                time.sleep(rnd.uniform(1.0, 2.5))
                holder["port"] = None
                s.kill()
                time.sleep(0.05)
        finally:
            stop.set()
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertGreater(acked[0], 50, "too few writes acknowledged to mean anything")
        s = self.serve()
        st, _ = request(s.port, "POST", "/idx/_refresh")
        self.assertEqual(st, 200)
        live = 0
        for doc_id in sorted(set(model) | set(uncertain)):
            st, b = request(s.port, "GET", "/idx/_doc/%s?realtime=false" % doc_id)
            got = None
            if st == 200:
                got = {k: v for k, v in b["_source"].items() if k != "id"}
                live += 1
            else:
                self.assertEqual(st, 404, b)
            if doc_id in uncertain:
                self.assertIn(got, uncertain[doc_id], doc_id)
            else:
                self.assertEqual(got, model[doc_id], doc_id)
        st, b = request(s.port, "GET", "/idx/_count")
        self.assertEqual(b["count"], live, b)
        print("durability: %d writes acknowledged across 4 kills, %d in doubt, %d live documents"
              % (acked[0], len(uncertain), live))
        s.stop()


WIKI = os.path.join(ROOT, "data", "wiki-demo", "docs.jsonl")
WIKI_QUERIES = os.path.join(ROOT, "data", "wiki-demo", "queries.tsv")


class EquivalenceTest(unittest.TestCase):
    """Writes over HTTP, merged by the indexer's policy, answer every
    query as a whole build of the documents they leave does."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="trawl-equiv-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if not s.err.closed:
                s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_writes_then_merges_equal_a_full_build(self):
        with open(WIKI) as f:
            docs = [json.loads(line) for line in f][:3000]
        rnd = random.Random(int(os.environ.get("TRAWL_SEED", "7")))
        model = {d["id"]: {k: v for k, v in d.items() if k != "id"} for d in docs[:2000]}
        ix = os.path.join(self.dir, "ix")
        build(ix, [dict(v, id=k) for k, v in model.items()], shards=3)
        s = Server(ix)
        self.servers.append(s)
        words = ["zqxj%d" % i for i in range(8)]
        # 40 batches: adds (from the rest of the corpus), replacements with
        # new words, deletes; each made searchable, so that segments pile up
        # and the policy merges them
        for b in range(40):
            st, r = request(s.port, "POST", "/ix/_bulk?refresh=wait_for",
                         random_bulk(rnd, docs, model, words, b))
            self.assertEqual(st, 200, r)
            bad = [i for i in r["items"] if list(i.values())[0]["status"] not in (200, 201, 404)]
            self.assertEqual(bad, [], r)
        # let the policy finish its merges (it runs when no write waits)
        time.sleep(3)
        full = os.path.join(self.dir, "full")
        build(full, [dict(v, id=k) for k, v in model.items()], shards=3)
        f = Server(full, "--read-only")
        self.servers.append(f)
        with open(WIKI_QUERIES) as fq:
            queries = [line.rstrip("\n").split("\t")[1] for line in fq][:60] + words
        compared = same_answers(self, s.port, "ix", f.port, "full", queries)
        st, a = request(s.port, "GET", "/ix/_count")
        self.assertEqual(a["count"], len(model))
        log = s.stderr()
        self.assertIn("merged", log, "the policy made no merge: the test misses its point")
        # the merges in /metrics: steps, documents and the bytes they wrote
        st, m = request(s.port, "GET", "/metrics", raw=True)
        figures = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
                   if line.startswith("trawl_indexer_merge")}
        for name in ("trawl_indexer_merges_total", "trawl_indexer_merged_documents_total",
                     "trawl_indexer_merged_bytes_total", "trawl_indexer_merge_seconds_total"):
            self.assertGreater(figures.get(name, 0), 0, (name, figures))
        s.stop()
        # old generations are pruned: the live one and the 8 below it stay
        gens = [n for n in os.listdir(ix) if n.startswith("gen-")]
        self.assertLessEqual(len(gens), 9, sorted(gens))
        # a compaction: one segment per shard, the same answers
        r = subprocess.run([TRAWL, "compact", ix], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 segments", r.stdout)
        with open(os.path.join(ix, "CURRENT")) as fc:
            gen = os.path.join(ix, fc.read().strip())
        self.assertEqual(len([n for n in os.listdir(gen) if n.endswith(".mdb")]), 3)
        s = Server(ix)
        self.servers.append(s)
        compared += same_answers(self, s.port, "ix", f.port, "full", queries)
        s.stop()
        f.stop()
        print("equivalence: %d hits compared over %d queries, %d documents, before and after "
              "a compaction" % (compared, len(queries), len(model)))
        self.assertGreater(compared, 1000)



def main():
    global TRAWL
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    TRAWL = os.path.abspath(sys.argv.pop(1))
    return 0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
