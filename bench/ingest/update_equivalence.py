#!/usr/bin/env python3
"""update_equivalence.py - issue #12's equivalence acceptance point at the
issue's scale: on enwiki-passages and on the two structured corpora
(debian-packages, curl-commits), a base build followed by 50 random update
batches (adds of unseen documents, replacements, partial updates, deletes,
re-adds of deleted ids) answers every query and aggregation of the
benchmark files exactly like a full build of the final document set, on 1
and 4 shards and through a 4-shard x 2-replica cluster whose leaves pull
each generation from `trawl indexer` into directories of their own.

Configurations (each compared with a full build of the final documents):
  local1   1-shard base, each batch applied with `trawl index DIR --update F`
  local4   the same on 4 shards
  cluster  4-shard base under `trawl indexer`, 4 leaves (2 shards each, so
           every shard has 2 replicas) pulling into their own directories,
           `trawl root`; each batch one POST _bulk?refresh=wait_for to the root
  cluster-whole  the same with 2 leaves pulling every shard (4 shards x 2
           replicas too; a leaf of part of the shards of an updated
           generation cannot sort by a keyword yet, index/sort.c)
Every index, updated or full, is asked over HTTP with the same request
(`trawl serve DIR --read-only` for the local ones, the root for the
cluster), through both APIs (the OpenSearch API's _search and the native
/search): enwiki's game queries (queries-sbg.jsonl, trawl syntax in `q=`,
top 10 as bench/build/equivalence.py asks them), and the structured
protocol's 600 requests per corpus (../shared/peers/structured/queries)
and its hand-written conformance requests (tests/conformance-*.jsonl
there), by tests/peer_requests_test.py's translation (do_query.c's
meaning: q's words OR-ed over the one text field, the filter clauses, a
sort with the id's keyword last, the aggregations). Compared:
status, total, the hits' ids in order, scores to 1e-6 relative, sort
values, stored documents, and every aggregation (integers exactly, other
numbers to 1e-6 relative). No tolerance for ties: two hits of one score in
another order count as a difference (counted as such).

The structured documents are converted as bench/structured/build_index.c
converts them (peer_requests_test.py's trawl_doc: the protocol's text
fields analysed and joined into "_text", dates to epoch milliseconds,
values of a wrong type dropped, the id copied into the keyword "_idk"),
with every field stored: replacing or deleting a document needs its
indexed fields stored. Partial updates set 1-4 fields to another
document's values (null where it has none) and sometimes extend "_text".

usage: bench/ingest/update_equivalence.py [--corpora enwiki,debian,curl]
          [--configs local1,local4,cluster,cluster-whole] [--batches 50] [--limit N]
          [--base-frac 0.75] [--seed 12] [--k 10] [--work DIR] [--keep]
          [--trawl build/cli/trawl] [--show 5] [--no-id-tiebreak] [--json F]
Prints one line per corpus x configuration; exits 1 if any answer differs.
Standard library only (and zstdcat for the .zst corpora).
"""
import argparse
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
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from netlib import free_port, http_json  # noqa: E402
import peer_requests_test as prt  # noqa: E402  (the protocol's translation)

DATA = os.path.join(ROOT, "..", "shared", "data")
PEERS = os.path.join(ROOT, "..", "shared", "peers", "structured")
CORPORA = {
    "enwiki": {"name": "enwiki-passages",
               "docs": os.path.join(DATA, "enwiki-passages", "docs.jsonl"),
               "queries": os.path.join(DATA, "enwiki-passages", "queries-sbg.jsonl")},
    "debian": {"name": "debian-packages",
               "docs": os.path.join(DATA, "debian-packages", "docs.jsonl.zst"),
               "schema": os.path.join(PEERS, "schemas", "debian-packages.json"),
               "queries": os.path.join(PEERS, "queries", "debian-packages.jsonl"),
               "conformance": os.path.join(PEERS, "tests", "conformance-debian-packages.jsonl")},
    "curl": {"name": "curl-commits",
             "docs": os.path.join(DATA, "curl-commits", "docs.jsonl.zst"),
             "schema": os.path.join(PEERS, "schemas", "curl-commits.json"),
             "queries": os.path.join(PEERS, "queries", "curl-commits.jsonl"),
             "conformance": os.path.join(PEERS, "tests", "conformance-curl-commits.jsonl")},
}
TEXT, IDK = prt.TEXT_FIELD, prt.ID_FIELD  # bench/structured/proto.h's names
TRAWL = None
ID_TIEBREAK = True  # a sort's last key the id's keyword, as the protocol asks


def run(args, **kw):
    return subprocess.run([TRAWL] + args, capture_output=True, text=True, **kw)


# ---- the structured protocol's documents and requests, as trawl's -----------

class Protocol:
    """One structured corpus's schema: its documents and requests as trawl's,
    by tests/peer_requests_test.py's translation (build_index.c's documents,
    do_query.c's meaning written as the query DSL), with every field stored
    (replacing or deleting a document needs its indexed fields stored) and
    the hits' scores and stored documents shown, to be compared too."""

    def __init__(self, path):
        with open(path) as f:
            self.schema = json.load(f)

    def trawl_schema(self):
        return dict(prt.trawl_schema(self.schema["fields"]), store="all")

    def convert(self, d):
        return prt.trawl_doc(self.schema, d)

    def bodies(self, rid, tag, req):
        """(the OpenSearch API's body, the native API's body) of request req."""
        r = prt.Request(self.schema["fields"], rid, tag, req)
        if not ID_TIEBREAK:
            r.sort = [k for k in r.sort if IDK not in k]
        b = r.opensearch()
        del b["_source"], b["timeout"]
        if "sort" in b:
            b["track_scores"] = True
        n = r.native()
        del n["timeout_ms"]
        return b, n


# ---- corpora, batches, the model ---------------------------------------------

def load_docs(c, limit):
    if c["docs"].endswith(".zst"):
        p = subprocess.Popen(["zstdcat", c["docs"]], stdout=subprocess.PIPE, text=True)
        f = p.stdout
    else:
        p, f = None, open(c["docs"])
    docs = []
    for line in f:
        if line.strip():
            docs.append(json.loads(line))
            if limit and len(docs) >= limit:
                break
    if p:
        p.kill()
        p.wait()
    f.close()
    return docs


class Batches:
    """Random batches of writes (adds, replacements, partial updates,
    deletes, re-adds of deleted ids, deletes of missing ids) over a model of
    what the index holds (id -> document)."""

    def __init__(self, rnd, docs, base_n, structured):
        self.rnd = rnd
        self.docs = docs
        self.model = {d["id"]: d for d in docs[:base_n]}
        self.pool = docs[base_n:][::-1]  # unseen documents, popped from the end
        self.deleted = []
        self.structured = structured
        self.scale = max(4, base_n // 400)
        self.partial_fields = None
        if structured:
            self.partial_fields = sorted({k for d in docs[:2000] for k in d
                                          if k not in ("id", IDK, TEXT)})

    def other(self, doc_id):
        """Another document's content under doc_id."""
        d = dict(self.rnd.choice(self.docs))
        d["id"] = doc_id
        if IDK in d:
            d[IDK] = doc_id
        return d

    def live(self):
        return self.rnd.choice(self.live_ids)

    def batch(self, n):
        """One batch: a list of (action, id, body)."""
        r, ops = self.rnd, []
        s = self.scale
        self.live_ids = sorted(self.model)
        for _ in range(r.randint(s // 2, s * 3 // 2)):
            if self.deleted and r.random() < 0.05:  # a deleted id comes back
                i = self.deleted.pop(r.randrange(len(self.deleted)))
                ops.append(("index", i, self.other(i)))
            elif self.pool:
                d = self.pool.pop()
                ops.append(("create" if r.random() < 0.3 else "index", d["id"], d))
        for _ in range(r.randint(s // 4, s * 3 // 4)):
            i = self.live()
            ops.append(("index", i, self.other(i)))
        for _ in range(r.randint(s // 8, s * 3 // 8)):
            i = self.live()
            src = r.choice(self.docs)
            if self.structured:  # another document's keywords, numbers, dates
                fields = r.sample(self.partial_fields, r.randint(1, 4))
                part = {f: src.get(f) for f in fields}
                if r.random() < 0.3:
                    part[TEXT] = src.get(TEXT, "") + " updated"
            else:
                part = {"title": src["title"] + " updated"}
            ops.append(("update", i, {"doc": part}))
        for _ in range(r.randint(s // 8, s * 3 // 8)):
            ops.append(("delete", self.live(), None))
        r.shuffle(ops)
        if r.random() < 0.3:
            ops.append(("delete", "missing-%d" % n, None))
        # applied in order to the model (an id may be written twice, or
        # written after it was deleted in the same batch)
        out = []
        for act, i, body in ops:
            if act == "create" and i in self.model:
                act = "index"
            if act == "update":
                if i not in self.model:
                    continue  # deleted earlier in the batch: would be a 404
                d = dict(self.model[i])
                for k, v in body["doc"].items():
                    d[k] = v
                self.model[i] = d
            elif act == "delete":
                if self.model.pop(i, None) is not None:
                    self.deleted.append(i)
            else:
                self.model[i] = body
            out.append((act, i, body))
        return out


def bulk_text(ops):
    lines = []
    for act, i, body in ops:
        lines.append(json.dumps({act: {"_id": i}}))
        if body is not None:
            lines.append(json.dumps(body, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write_jsonl(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


# ---- processes ---------------------------------------------------------------

class Proc:
    """A trawl process; its stderr kept in a file."""

    def __init__(self, args, log):
        self.log = log
        self.err = open(log, "ab")
        self.p = subprocess.Popen([TRAWL] + args, stdout=subprocess.DEVNULL, stderr=self.err)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()

    def tail(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-2000:]


def wait_ready(port, proc, what, check=None):
    end = time.time() + 120
    while True:
        try:
            if http_json(port, "GET", "/readyz", timeout=2)[0] == 200 and (not check or check()):
                return
        except OSError:
            pass
        if proc.p.poll() is not None or time.time() > end:
            raise RuntimeError("%s never became ready: %s" % (what, proc.tail()))
        time.sleep(0.05)


class Server:
    """`trawl serve DIR --read-only`: the index under DIR's base name."""

    def __init__(self, d):
        self.port = free_port()
        self.name = os.path.basename(d)
        self.proc = Proc(["serve", d, "--http", "127.0.0.1:%d" % self.port, "--read-only",
                          "--cache-mb", "0"], d + ".serve.log")
        wait_ready(self.port, self.proc, "trawl serve " + d)

    def stop(self):
        self.proc.stop()


class Cluster:
    """An indexer over DIR (already built), leaves pulling from it into
    directories of their own, and a root: cluster_writes_test.py's
    Cluster(pull=True), over a given base. Every shard has 2 replicas: with
    whole=False on 4 leaves of 2 shards each, with whole=True on 2 leaves of
    every shard."""

    def __init__(self, tmp, ix, shards=4, whole=False):
        self.ixport, self.port = free_port(), free_port()
        if whole:
            sets = [list(range(shards)), list(range(shards))]
        else:
            sets = [[i, (i + 1) % shards] for i in range(shards)]
        self.leafports = [free_port() for _ in sets]
        cluster = os.path.join(tmp, "cluster.json")
        with open(cluster, "w") as f:
            json.dump({"shards": shards, "indexer": "tcp://127.0.0.1:%d" % self.ixport,
                       "leaves": [{"url": "tcp://127.0.0.1:%d" % p, "shards": sh}
                                  for p, sh in zip(self.leafports, sets)]}, f)
        self.procs = [Proc(["indexer", ix, "--listen", "tcp://127.0.0.1:%d" % self.ixport,
                            "--refresh-ms", "200"], os.path.join(tmp, "indexer.log"))]
        self.leafdirs = []
        for p, sh in zip(self.leafports, sets):
            d = os.path.join(tmp, "leaf-%d" % p)
            self.leafdirs.append(d)
            self.procs.append(Proc(["leaf", "--listen", "tcp://127.0.0.1:%d" % p, "--index", d,
                                    "--pull", "tcp://127.0.0.1:%d" % self.ixport, "--shards",
                                    ",".join(str(x) for x in sh)],
                                   os.path.join(tmp, "leaf-%d.log" % p)))
        root = Proc(["root", "--cluster", cluster, "--http", "127.0.0.1:%d" % self.port,
                     "--name", "ix"], os.path.join(tmp, "root.log"))
        self.procs.append(root)
        self.name = "ix"
        wait_ready(self.port, root, "the cluster",
                   lambda: http_json(self.port, "GET", "/ix/_doc/nothing-here")[0] == 404)

    def settle(self, count):
        """Until the root counts count documents and every replica is on one
        generation (as cluster_writes_test.py waits)."""
        end = time.time() + 120
        while True:
            st, b = http_json(self.port, "GET", "/ix/_count")
            st2, info = http_json(self.port, "GET", "/_trawl/cluster")
            gens = {r["generation"] for r in info["replicas"]} if st2 == 200 else set()
            if st == 200 and b["count"] == count and len(gens) == 1:
                return
            if time.time() > end:
                raise RuntimeError("the cluster never settled: count %r, generations %r"
                                   % (b, gens))
            time.sleep(0.2)

    def stop(self):
        for p in reversed(self.procs):
            p.stop()


# ---- answers and their comparison --------------------------------------------

def ask(port, name, api, req):
    """(what to compare) of one request through api ("os": the OpenSearch
    API, "native": /search): a dict, or {"error": status, "reason": ...}."""
    if api == "native":
        if isinstance(req, str):
            st, b = http_json(port, "GET", "/search?k=%d&source=false&q=%s"
                              % (ASK_K, urllib.parse.quote(req)), timeout=120)
        else:
            st, b = http_json(port, "POST", "/search", req, timeout=120)
    elif isinstance(req, str):  # a trawl query, as bench/build/equivalence.py asks it
        st, b = http_json(port, "GET", "/%s/_search?size=%d&track_total_hits=true&q=%s"
                          % (name, ASK_K, urllib.parse.quote(req)), timeout=120)
    else:
        st, b = http_json(port, "POST", "/%s/_search" % name, req, timeout=120)
    if st != 200:
        e = b.get("error") if isinstance(b, dict) else None
        if isinstance(e, dict):
            e = "%s: %s" % (e.get("type"), e.get("reason"))
        return {"error": st, "reason": str(e if e is not None else b)[:300]}
    if api == "native":
        if b["coverage"].get("partial"):
            return {"error": "partial", "reason": json.dumps(b["coverage"])}
        return {"total": b["total"],
                "hits": [{"id": x["id"], "score": x["score"], "sort": x.get("sort"),
                          "source": x.get("source")} for x in b["hits"]],
                "aggs": b.get("aggregations")}
    h = b["hits"]
    return {"total": h["total"],
            "hits": [{"id": x["_id"], "score": x["_score"], "sort": x.get("sort"),
                      "source": x.get("_source")} for x in h["hits"]],
            "aggs": b.get("aggregations")}


def diff(a, e, path=""):
    """The first place where answer a differs from expected e, or None."""
    if isinstance(a, bool) or isinstance(e, bool) or a is None or e is None:
        return None if a is e or a == e else "%s: %r, expected %r" % (path, a, e)
    if isinstance(a, int) and isinstance(e, int):
        return None if a == e else "%s: %r, expected %r" % (path, a, e)
    if isinstance(a, (int, float)) and isinstance(e, (int, float)):
        ok = abs(a - e) <= 1e-6 * max(abs(a), abs(e)) or a == e
        return None if ok else "%s: %r, expected %r" % (path, a, e)
    if isinstance(a, dict) and isinstance(e, dict):
        if "error" in a or "error" in e:
            if a == e:
                return None
            return "%s: %s, expected %s" % (path, json.dumps(a)[:300], json.dumps(e)[:300])
        if a.keys() != e.keys():
            return "%s: keys %s, expected %s" % (path, sorted(a), sorted(e))
        for k in e:
            d = diff(a[k], e[k], path + "." + str(k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(e, list):
        for n, (x, y) in enumerate(zip(a, e)):
            d = diff(x, y, "%s[%d]" % (path, n))
            if d:
                return d
        if len(a) != len(e):
            return "%s: %d items, expected %d" % (path, len(a), len(e))
        return None
    return None if a == e else "%s: %r, expected %r" % (path, a, e)


def tie_only(a, e):
    """The hits differ only in the order of hits of equal score."""
    ha, he = a.get("hits"), e.get("hits")
    if not ha or not he or len(ha) != len(he) or a["total"] != e["total"]:
        return False
    if [h["score"] for h in ha] != [h["score"] for h in he]:
        return False
    if [h["id"] for h in ha] == [h["id"] for h in he]:
        return False  # the same order: the difference is elsewhere
    groups = {}
    for x, y in zip(ha, he):
        g = groups.setdefault(y["score"], [set(), set()])
        g[0].add(x["id"])
        g[1].add(y["id"])
    last = he[-1]["score"]  # a tie at the cut may take other members
    return all(g[0] == g[1] or s == last for s, g in groups.items())


def kind(x, y, d):
    """What sort of difference d is, to count them by cause."""
    if "error" in x and "error" not in y:
        return "an error where the full build answers: " + re.sub(r'"[^"]*"', '"F"', x["reason"])
    if "error" in y:
        return "the full build refuses: " + y["reason"]
    if tie_only(x, y):
        return "hits of equal score in another order"
    return "differs at " + re.sub(r"\[\d+\]", "[]", d.split(":", 1)[0])


def compare(reqs, a, e, show):
    """(compared, differing, both refused, lines describing the first few,
    differences counted by kind)."""
    bad, refused, lines, kinds = 0, 0, [], {}
    for (label, api, req) in reqs:
        x, y = ask(a[0], a[1], api, req), ask(e[0], e[1], api, req)
        if "error" in y and x == y:
            refused += 1
            continue
        d = diff(x, y)
        if d:
            bad += 1
            k = kind(x, y, d)
            kinds[k] = kinds.get(k, 0) + 1
            if len(lines) < show:
                lines.append("    %s: %s" % (label, d[:600]))
    return len(reqs), bad, refused, lines, kinds


def field_stats(ix):
    """`trawl stats`' documents and, per field, (type, documents, values, a
    keyword's distinct values or a number's range): what must be the full
    build's (its terms and bytes count what segments hold, deleted or not)."""
    r = run(["stats", ix])
    if r.returncode:
        return "trawl stats %s: %s" % (ix, r.stderr[-500:])
    docs = re.search(r"^documents: (\d+)$", r.stdout, re.M).group(1)
    out = {"documents": docs}
    for line in r.stdout.split("fields:\n", 1)[1].splitlines()[1:]:
        p = line.split(None, 6)
        out[p[0]] = (p[1], p[2], p[3], p[6] if len(p) > 6 else "")
    return out


# ---- one corpus ----------------------------------------------------------------

def build(ix, src, shards, schema):
    shutil.rmtree(ix, ignore_errors=True)
    args = ["index", ix, src, "--shards", str(shards), "--progress", "none"]
    if schema:
        args += ["--schema", schema]
    t0 = time.time()
    r = run(args)
    if r.returncode:
        raise RuntimeError("trawl %s: %s" % (" ".join(args), r.stderr[-2000:]))
    return time.time() - t0


def run_corpus(key, a, out):
    c = CORPORA[key]
    work = os.path.join(a.work, key)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    raw = load_docs(c, a.limit)
    proto = schema = None
    if "schema" in c:
        proto = Protocol(c["schema"])
        docs = [d for d in (proto.convert(x) for x in raw) if d]
        schema = os.path.join(work, "schema.json")
        with open(schema, "w") as f:
            json.dump(proto.trawl_schema(), f)
        reqs = []
        for path in (c["queries"], c["conformance"]):
            with open(path) as f:
                for line in f:
                    if line.strip():
                        q = json.loads(line)
                        os_body, native = proto.bodies(q["id"], q["tag"], q["request"])
                        reqs.append((q["id"], "os", os_body))
                        reqs.append((q["id"] + " (native)", "native", native))
    else:
        docs = raw
        reqs = []
        with open(c["queries"]) as f:
            for line in f:
                if line.strip():
                    q = json.loads(line)["query"]
                    reqs.append((repr(q), "os", q))
                    reqs.append((repr(q) + " (native)", "native", q))
    del raw
    seen, uniq = set(), []
    for d in docs:  # one document per id (a later one would replace it)
        if d["id"] not in seen:
            seen.add(d["id"])
            uniq.append(d)
    docs = uniq
    rnd = random.Random("%s-%d" % (key, a.seed))
    base_n = int(len(docs) * a.base_frac)
    b = Batches(rnd, docs, base_n, proto is not None)
    base = os.path.join(work, "base.jsonl")
    write_jsonl(base, docs[:base_n])
    batches, nops = [], 0
    for n in range(a.batches):
        ops = b.batch(n)
        nops += len(ops)
        p = os.path.join(work, "batch-%02d.ndjson" % n)
        with open(p, "w") as f:
            f.write(bulk_text(ops))
        batches.append(p)
    final = os.path.join(work, "final.jsonl")
    write_jsonl(final, sorted(b.model.values(), key=lambda d: d["id"]))
    print("%s: %d documents, base %d, %d batches of %d writes in all, final %d; %d requests, "
          "each through both APIs" % (c["name"], len(docs), base_n, a.batches, nops,
                                      len(b.model), len(reqs) // 2),
          flush=True)
    full, tfull = {}, {}
    bad = 0
    for cfg in a.configs:
        shards = 1 if cfg == "local1" else 4
        if shards not in full:
            full[shards] = os.path.join(work, "full%d" % shards)
            tfull[shards] = build(full[shards], final, shards, schema)
        clustered = cfg.startswith("cluster")
        upd = os.path.join(work, cfg if clustered else "upd%d" % shards)
        ix = os.path.join(upd, "ix") if clustered else upd
        if clustered:
            shutil.rmtree(upd, ignore_errors=True)
            os.makedirs(upd)
        tbase = build(ix, base, shards, schema)
        cl = None
        t0 = time.time()
        if clustered:
            cl = Cluster(upd, ix, shards, whole=cfg == "cluster-whole")
            t0 = time.time()
            for p in batches:
                with open(p, "rb") as f:
                    st, r = http_json(cl.port, "POST", "/ix/_bulk?refresh=wait_for", f.read(),
                                      timeout=600)
                if st != 200:
                    raise RuntimeError("%s: _bulk answered %d: %s" % (p, st, str(r)[:500]))
                wrong = [i for i in r["items"]
                         if list(i.values())[0]["status"] not in (200, 201, 404)]
                if wrong:
                    raise RuntimeError("%s: %s" % (p, wrong[:3]))
            tupd = time.time() - t0
            cl.settle(len(b.model))
            target = (cl.port, cl.name)
        else:
            for p in batches:
                r = run(["index", ix, "--update", p])
                if r.returncode:
                    raise RuntimeError("trawl index %s --update %s: %d %s%s"
                                       % (ix, p, r.returncode, r.stdout[-1000:], r.stderr[-2000:]))
            tupd = time.time() - t0
            m = re.search(r"generation (\d+), (\d+) documents", r.stdout)
            if not m or int(m.group(2)) != len(b.model):
                raise RuntimeError("the last update left %r, the model has %d"
                                   % (r.stdout[-500:], len(b.model)))
            srv = Server(ix)
            target = (srv.port, srv.name)
        fsrv = Server(full[shards])
        t0 = time.time()
        try:
            n, nbad, refused, lines, kinds = compare(reqs, target, (fsrv.port, fsrv.name), a.show)
        finally:
            fsrv.stop()
            (cl or srv).stop()
        tcmp = time.time() - t0
        d = diff(field_stats(ix), field_stats(full[shards]))
        if d:  # the indexer's directory for a cluster
            nbad += 1
            kinds["trawl stats differs"] = 1
            lines.insert(0, "    trawl stats%s" % d)
        bad += nbad
        row = {"corpus": c["name"], "config": cfg, "compared": n, "differ": nbad,
               "refused_by_both": refused, "base_docs": base_n, "writes": nops,
               "final_docs": len(b.model), "base_s": round(tbase, 1),
               "updates_s": round(tupd, 1), "full_s": round(tfull[shards], 1),
               "compare_s": round(tcmp, 1), "kinds": kinds}
        out.append(row)
        print("  %-8s %d answers compared, %d differ, %d refused by both; base build %.1f s, "
              "%d updates %.1f s, full build %.1f s (compare %.1f s)"
              % (cfg, n, nbad, refused, tbase, a.batches, tupd, tfull[shards], tcmp), flush=True)
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print("    %d: %s" % (v, k[:300]), flush=True)
        for line in lines:
            print(line, flush=True)
        if not a.keep:
            shutil.rmtree(upd, ignore_errors=True)
    return bad


ASK_K = 10


def main():
    global TRAWL, ASK_K, ID_TIEBREAK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", default="enwiki,debian,curl")
    ap.add_argument("--configs", default="local1,local4,cluster,cluster-whole")
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--limit", type=int, default=0, help="documents read per corpus (0: all)")
    ap.add_argument("--base-frac", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--k", type=int, default=10, help="hits asked of enwiki's queries")
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the indexes")
    ap.add_argument("--show", type=int, default=5, help="differences printed per line")
    ap.add_argument("--no-id-tiebreak", action="store_true",
                    help="sorts without the id's keyword as the last key (ties by the id's "
                    "hash): to tell keyword sorts from others")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--trawl", default=os.path.join(ROOT, "build", "cli", "trawl"))
    a = ap.parse_args()
    TRAWL = os.path.abspath(a.trawl)
    ASK_K = a.k
    ID_TIEBREAK = not a.no_id_tiebreak
    a.configs = [x for x in a.configs.split(",") if x]
    for x in a.configs:
        if x not in ("local1", "local4", "cluster", "cluster-whole"):
            ap.error("unknown configuration %r" % x)
    own = a.work is None
    a.work = a.work or tempfile.mkdtemp(prefix="trawl-update-equiv-")
    rows, bad = [], 0
    try:
        for key in a.corpora.split(","):
            if key not in CORPORA:
                ap.error("unknown corpus %r" % key)
            bad += run_corpus(key, a, rows)
    finally:
        if own and not a.keep:
            shutil.rmtree(a.work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("%d answers differ" % bad if bad else "every answer alike")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
