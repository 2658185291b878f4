#!/usr/bin/env python3
"""Updates (`trawl index DIR --update FILE...`, issue #12) against full builds.

A sample of data/debian-packages is built whole, on 1 shard and on 4; then
20 random batches of writes are applied with real `trawl` processes: JSON
Lines files (new documents and replacements) and _bulk files (index,
create, update with a partial document, delete, a delete of a missing id,
an id written twice in one file, a create that conflicts). A model kept
here says what the index must hold after each. At the end the model's
documents are built whole into another directory, and the two indexes must
answer alike: for terms, phrases, prefixes, filters on keywords, numbers
and booleans, sorts, aggregations and bare counts, the same ids in the same
order, the same scores (to 1e-6), the same totals and the same buckets;
`trawl get` gives each changed document's content and `trawl stats` the
count. Besides: the command's refusals and messages, and writes that an
apply could not publish (the index's lock held by another process) staying
in the write log until the next run applies them.

Until searchers read generations of segments (issue #12's read side, being
built), an updated generation cannot be opened: the two runs of 20 batches
then fail at their second batch, when the update must open the first one's
generation to decide its writes.

    python3 tests/update_test.py build/cli/trawl [unittest options]
"""
import fcntl
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_test  # noqa: E402  (its runner of trawl, its case and its main)
from cli_test import (EX_DATAERR, EX_NOINPUT, EX_USAGE, TrawlCase, trawl,  # noqa: E402
                      write_lines)

DATA = os.path.join(os.path.dirname(HERE), "data", "debian-packages")
SCHEMA = os.path.join(DATA, "schema.json")
SEED = int(os.environ.get("TRAWL_TEST_SEED", "20261207"))
BASE_DOCS = 1500
POOL_DOCS = 700
BATCHES = int(os.environ.get("TRAWL_UPDATE_BATCHES", "20"))

QUERIES = [
    # (query, options)
    ("game", []),
    ("library development files", []),
    ("python", ["-k", "50"]),
    ('"real-time strategy"', []),
    ('"shared library"', ["-k", "30"]),
    ("lib*", ["-k", "40"]),
    ("+game -strategy", []),
    ("title:server", []),
    ("data", ["--filter", "section:games"]),
    ("tool", ["--filter", "installed_size_kb:>=1000"]),
    ("file", ["--filter", "installed_size_kb:[100 TO 5000]", "--filter", "priority:optional"]),
    ("", ["--filter", "section:libs", "-k", "100"]),
    ("", ["--filter", "essential:true", "-k", "100"]),
    ("", ["--filter", "_exists_:multi_arch", "-k", "5"]),
    ("network", ["--sort", "installed_size_kb:desc", "-k", "30"]),
    ("", ["--filter", "section:games", "--sort", "size_bytes:asc,_score", "-k", "50"]),
    ("library", ["--sort", "section:asc,installed_size_kb:desc", "-k", "40"]),
    ("package", ["--aggs", "@section"]),
    ("", ["--aggs", "@stats", "--filter", "architecture:all"]),
    ("game games", ["--aggs", "@histogram", "-k", "20"]),
    ("", ["--filter", "_exists_:installed_size_kb", "-k", "1"]),
]

AGGS = {
    "section": {"by_section": {"terms": {"field": "section", "size": 10}}},
    "stats": {"size": {"stats": {"field": "installed_size_kb"}},
              "tags": {"terms": {"field": "tags", "size": 8}}},
    "histogram": {"h": {"histogram": {"field": "installed_size_kb", "interval": 5000}}},
}


def load_corpus():
    r = subprocess.run(["zstdcat", os.path.join(DATA, "docs.jsonl.zst")],
                       stdout=subprocess.PIPE, check=True)
    out = []
    for line in r.stdout.decode().splitlines():
        if line.strip():
            out.append(json.loads(line))
        if len(out) == BASE_DOCS + POOL_DOCS:
            break
    return out


def close(a, b):
    """JSON values alike, numbers to 1e-6 (relative for large ones)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


class Batches:
    """Random batches of writes and the model of what the index holds."""

    def __init__(self, rng, base, pool):
        self.rng = rng
        self.model = {d["id"]: d for d in base}
        self.pool = list(pool)  # documents not yet in the index
        self.changed = set()

    def fresh(self):
        return self.pool.pop() if self.pool else None

    def content_for(self, id_):
        """A new document for id_: another package's fields under this id."""
        src = self.rng.choice(self.pool) if self.pool else self.rng.choice(list(self.model.values()))
        d = dict(src)
        d["id"] = id_
        return d

    def live_id(self):
        return self.rng.choice(sorted(self.model)) if self.model else None

    def jsonl(self, path):
        """New documents and replacements, an id twice: JSON Lines."""
        docs = []
        for _ in range(self.rng.randint(5, 25)):
            d = self.fresh()
            if d is not None:
                docs.append(d)
        for _ in range(self.rng.randint(3, 15)):
            i = self.live_id()
            if i is not None:
                docs.append(self.content_for(i))
        self.rng.shuffle(docs)
        if docs:
            docs.append(self.content_for(docs[0]["id"]))  # written again: the later wins
        for d in docs:
            self.model[d["id"]] = d
            self.changed.add(d["id"])
        write_lines(path, docs)
        return []

    def bulk(self, path, conflict):
        """index, create, update, delete (of live and missing ids), as _bulk.
        Returns the line numbers of the items that must fail."""
        lines, failing = [], []

        def add(action, meta, body=None):
            lines.append(json.dumps({action: meta}))
            if body is not None:
                lines.append(json.dumps(body, ensure_ascii=False))

        for _ in range(self.rng.randint(10, 40)):
            k = self.rng.random()
            if k < 0.4:
                d = self.fresh()
                if d is None:
                    continue
                i = d["id"]
                add("index" if k < 0.25 else "create", {"_id": i}, d)
                self.model[i] = d
            elif k < 0.55:
                i = self.live_id()
                d = self.content_for(i)
                add("index", {"_id": i}, d)
                self.model[i] = d
            elif k < 0.75:
                i = self.live_id()
                part = {"section": self.rng.choice(["games", "libs", "net", "misc", "x11"]),
                        "installed_size_kb": self.rng.randint(1, 200000),
                        "title": self.model[i].get("title", "") + " updated edition"}
                if self.rng.random() < 0.5:
                    part["tags"] = self.rng.sample(["role::program", "use::gaming",
                                                    "interface::text", "devel::library"], 2)
                add("update", {"_id": i}, {"doc": part})
                d = dict(self.model[i])
                d.update(part)
                self.model[i] = d
            elif k < 0.95:
                i = self.live_id()
                add("delete", {"_id": i})
                del self.model[i]
            else:
                add("delete", {"_id": "missing-%d" % self.rng.randint(0, 10**9)})
                continue
            self.changed.add(i)
        if conflict and self.model:
            i = self.live_id()
            add("create", {"_id": i}, self.content_for(i))  # exists: 409, nothing changes
            failing.append(len(lines) - 1)
            add("update", {"_id": "missing-update"}, {"doc": {"title": "x"}})  # 404
            failing.append(len(lines) - 1)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return failing


def search(ix, query, opts, aggs_dir):
    args = ["search", ix, "--json"]
    for o in opts:
        if o.startswith("@"):
            p = os.path.join(aggs_dir, o[1:] + ".json")
            with open(p, "w") as f:
                json.dump(AGGS[o[1:]], f)
            o = p
        args.append(o)
    if query:
        args += ["--", query]
    return trawl(*args)


class TestUpdatesAsFullBuild(TrawlCase):
    """Updates and a full build of the same documents answer alike."""

    def run_layout(self, shards):
        rng = random.Random(SEED + shards)
        corpus = load_corpus()
        base, pool = corpus[:BASE_DOCS], corpus[BASE_DOCS:]
        upd, full = self.path("updated"), self.path("full")
        write_lines(self.path("base.jsonl"), base)
        self.ok("index", upd, self.path("base.jsonl"), "--schema", SCHEMA, "--shards",
                str(shards), "--progress", "none")
        b = Batches(rng, base, pool)
        for n in range(BATCHES):
            f = self.path("batch-%02d.%s" % (n, "ndjson" if n % 2 else "jsonl"))
            conflict = n == 5
            failing = b.bulk(f, conflict) if n % 2 else b.jsonl(f)
            r = trawl("index", upd, "--update", f)
            self.assertClean(r)
            if failing:
                self.assertEqual(r.rc, EX_DATAERR, repr(r))
                for line in failing:
                    self.assertRegex(r.err, r"batch-%02d\.ndjson:%d: " % (n, line), repr(r))
                self.assertRegex(r.err, r"409 version_conflict_engine_exception")
                self.assertRegex(r.err, r"404 document_missing_exception")
            else:
                self.assertEqual(r.rc, 0, "batch %d: %r" % (n, r))
            m = re.search(r"generation (\d+), (\d+) documents", r.out)
            self.assertIsNotNone(m, repr(r))
            self.assertEqual(int(m.group(2)), len(b.model), "batch %d: %r" % (n, r))
        # the same documents built whole
        write_lines(self.path("final.jsonl"), sorted(b.model.values(), key=lambda d: d["id"]))
        self.ok("index", full, self.path("final.jsonl"), "--schema", SCHEMA, "--shards",
                str(shards), "--progress", "none")
        st = self.ok("stats", upd)
        self.assertRegex(st.out, r"\b%d\b" % len(b.model))
        for q, opts in QUERIES:
            ru, rf = search(upd, q, opts, self.tmp), search(full, q, opts, self.tmp)
            self.assertClean(ru)
            self.assertEqual(ru.rc, 0, repr(ru))
            self.assertEqual(rf.rc, 0, repr(rf))
            a, e = json.loads(ru.out), json.loads(rf.out)
            what = "%d shards, %r %r" % (shards, q, opts)
            self.assertEqual(a["total"], e["total"], what)
            self.assertEqual([h["id"] for h in a["hits"]], [h["id"] for h in e["hits"]], what)
            for ha, he in zip(a["hits"], e["hits"]):
                self.assertAlmostEqual(ha["score"], he["score"], delta=1e-6, msg=what)
                if "sort" in he:
                    self.assertTrue(close(ha["sort"], he["sort"]), what)
            if "aggregations" in e:
                self.assertTrue(close(a.get("aggregations"), e["aggregations"]),
                                "%s: %s\n%s" % (what, a.get("aggregations"), e["aggregations"]))
        # the documents themselves
        for i in sorted(b.changed)[:60]:
            r = trawl("get", upd, i)
            if i in b.model:
                self.assertEqual(r.rc, 0, repr(r))
                self.assertEqual(json.loads(r.out), b.model[i], i)
            else:
                self.assertNotEqual(r.rc, 0, repr(r))

    def test_one_shard(self):
        self.run_layout(1)

    def test_four_shards(self):
        self.run_layout(4)


class TestUpdateCommand(TrawlCase):
    """The command's refusals, messages and the write log's durability."""

    def build(self, n=200, shards=2):
        docs = load_corpus()[:n]
        write_lines(self.path("base.jsonl"), docs)
        self.ok("index", self.path("ix"), self.path("base.jsonl"), "--schema", SCHEMA,
                "--shards", str(shards), "--progress", "none")
        return docs

    def test_refusals(self):
        write_lines(self.path("a.jsonl"), [{"id": "x", "title": "x"}])
        self.fails(EX_NOINPUT, "index", self.path("none"), "--update", self.path("a.jsonl"),
                   msg=[r"no index here to update"])
        self.assertFalse(os.path.exists(self.path("none")))
        self.fails(EX_USAGE, "index", self.path("none"), "--update", "--shards", "2",
                   msg=[r"--update takes no other option"])
        self.fails(EX_USAGE, "index", "--update", msg=[r"needs DIR"])

    def test_bad_lines_named(self):
        docs = self.build()
        with open(self.path("u.jsonl"), "w") as f:
            f.write(json.dumps({"id": "new-1", "title": "fresh"}) + "\n")
            f.write("{not json\n")
            f.write(json.dumps({"title": "no id"}) + "\n")
            f.write("\n")
            f.write(json.dumps({"id": "new-2", "installed_size_kb": "many"}) + "\n")
            f.write(json.dumps(dict(docs[0], title="replaced title")) + "\n")
        r = self.fails(EX_DATAERR, "index", self.path("ix"), "--update", self.path("u.jsonl"),
                       msg=[r"u\.jsonl:2:", r"u\.jsonl:3:.*id", r"u\.jsonl:5:.*installed_size_kb"])
        self.assertRegex(r.out, r"5 writes read, 3 refused")
        self.assertRegex(r.out, r"2 documents written \(1 replacing\)")

    def test_bad_bulk_lines_named(self):
        self.build()
        # a line that is no action: the items before it go in, the file stops
        with open(self.path("b.ndjson"), "w") as f:
            f.write('{"index":{"_id":"new-3"}}\n{"title":"three"}\n')
            f.write('{"delete":{}}\n')
            f.write('{"update":{"_id":"new-3"}}\n{"doc":{"title":"three"},"script":"x"}\n')
            f.write('{"title":"not an action"}\n')
            f.write('{"index":{"_id":"new-4"}}\n{"title":"four"}\n')
        r = self.fails(EX_DATAERR, "index", self.path("ix"), "--update", self.path("b.ndjson"),
                       msg=[r"b\.ndjson:3: ", r"b\.ndjson:4: 400 illegal_argument_exception.*script",
                            r"b\.ndjson:6: not a _bulk action line"])
        self.assertRegex(r.out, r"1 documents written")
        self.assertRegex(r.out, r"201 documents")

    def test_unstored_fields(self):
        # body is not stored: a document's text cannot be taken out of the
        # statistics, so only new ids can be written
        with open(SCHEMA) as f:
            schema = json.load(f)
        schema["store"] = ["title", "section"]
        with open(self.path("schema.json"), "w") as f:
            json.dump(schema, f)
        docs = load_corpus()[:50]
        write_lines(self.path("base.jsonl"), docs)
        self.ok("index", self.path("ix"), self.path("base.jsonl"), "--schema",
                self.path("schema.json"), "--progress", "none")
        write_lines(self.path("u.jsonl"), [{"id": "brand-new", "title": "new", "section": "x"},
                                           dict(docs[3], title="replaced")])
        r = self.fails(EX_DATAERR, "index", self.path("ix"), "--update", self.path("u.jsonl"),
                       msg=[r"u\.jsonl:2: \[%s\]: 400 illegal_argument_exception: .*text field \"body\" "
                            r"is not stored"
                            % re.escape(docs[3]["id"])])
        self.assertRegex(r.out, r"1 documents written \(0 replacing\)")
        self.assertRegex(r.out, r"51 documents")

    def test_log_keeps_writes_until_applied(self):
        self.build()
        write_lines(self.path("u.jsonl"), [{"id": "kept-%d" % i, "title": "kept %d" % i}
                                           for i in range(30)])
        # another process holds the index's lock: the writes are logged, the
        # apply fails, nothing is published
        with open(os.path.join(self.path("ix"), ".lock"), "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
            r = trawl("index", self.path("ix"), "--update", self.path("u.jsonl"))
            self.assertClean(r)
            self.assertNotEqual(r.rc, 0, repr(r))
            self.assertRegex(r.err, r"another build is running")
            self.assertRegex(r.err, r"stay in the log|stays in")
            fcntl.flock(lk, fcntl.LOCK_UN)
        with open(os.path.join(self.path("ix"), "CURRENT")) as f:
            self.assertEqual(f.read().strip(), "gen-000001")
        # the next run, without files, applies them
        r = self.ok("index", self.path("ix"), "--update")
        self.assertRegex(r.out, r"30 operations applied in 1 generation: 30 documents written")
        self.assertRegex(r.out, r"generation 2, 230 documents")
        # and the log is empty again
        r = self.ok("index", self.path("ix"), "--update")
        self.assertRegex(r.out, r"0 operations applied")

    def field_stats(self, ix):
        """`trawl stats`' fields: name -> (docs, values, distinct or range)."""
        out = self.ok("stats", ix).out
        rows = out.split("fields:\n", 1)[1].splitlines()[1:]
        got = {}
        for line in rows:
            parts = line.split(None, 6)
            got[parts[0]] = (int(parts[2]), int(parts[3]), parts[6] if len(parts) > 6 else "")
        return got

    def digest(self, ix):
        r = self.ok("verify", ix)
        m = re.search(r"content digest: ([0-9a-f]{32})", r.out)
        self.assertIsNotNone(m, repr(r))
        return m.group(1)

    # Deletes change what `trawl stats` counts of each field (documents,
    # values, a keyword's distinct values, a number's range) to a full
    # build's of the live documents, and the content digest (delete sets and
    # versions are content).
    def test_stats_and_digest_after_deletes(self):
        docs = self.build()
        before = self.digest(self.path("ix"))
        sections = {}
        for d in docs:
            sections.setdefault(d.get("section"), []).append(d["id"])
        rare = min((v for k, v in sections.items() if k), key=len)
        biggest = max(docs, key=lambda d: d.get("installed_size_kb", -1))["id"]
        gone = set(rare) | {biggest}
        with open(self.path("del.ndjson"), "w") as f:
            for i in sorted(gone):
                f.write(json.dumps({"delete": {"_id": i}}) + "\n")
        self.ok("index", self.path("ix"), "--update", self.path("del.ndjson"))
        self.assertNotEqual(self.digest(self.path("ix")), before)
        write_lines(self.path("live.jsonl"), [d for d in docs if d["id"] not in gone])
        self.ok("index", self.path("full"), self.path("live.jsonl"), "--schema", SCHEMA,
                "--shards", "2", "--progress", "none")
        a, e = self.field_stats(self.path("ix")), self.field_stats(self.path("full"))
        self.assertEqual(a, e)

    # trawl snapshot: the live generation of an updated index in a new
    # directory, hard-linked (or copied), checked, answering alike
    def test_snapshot(self):
        docs = self.build()
        write_lines(self.path("u.jsonl"), [dict(d, title="snapshot " + d["id"])
                                           for d in docs[:30]])
        self.ok("index", self.path("ix"), "--update", self.path("u.jsonl"))
        out = self.ok("snapshot", self.path("ix"), self.path("snap")).out
        self.assertRegex(out, r"generation 2 into .*: 200 documents, 2 shards, .* \(\d+ linked, 0 copied\), checked")
        # what an interrupted snapshot left in its destination is taken over
        os.makedirs(os.path.join(self.path("copy"), "gen-000002.tmp"))
        with open(os.path.join(self.path("copy"), "gen-000002.tmp", "junk"), "w") as f:
            f.write("x")
        out = self.ok("snapshot", self.path("ix"), self.path("copy"), "--copy").out
        self.assertRegex(out, r"\(0 linked, \d+ copied\)")
        self.fails(EX_USAGE, "snapshot", self.path("ix"), self.path("snap"),
                   msg=[r"already holds an index"])
        self.fails(EX_USAGE, "snapshot", self.path("nothing"), self.path("s3"),
                   msg=[r"no index"])
        gen = lambda d: os.path.join(d, open(os.path.join(d, "CURRENT")).read().strip())
        for name in os.listdir(gen(self.path("ix"))):
            a = os.stat(os.path.join(gen(self.path("ix")), name))
            self.assertEqual(a.st_ino, os.stat(os.path.join(gen(self.path("snap")), name)).st_ino)
            self.assertNotEqual(a.st_ino,
                                os.stat(os.path.join(gen(self.path("copy")), name)).st_ino)
        for d in ("snap", "copy"):
            self.ok("verify", self.path(d))
            for q in ("snapshot", "linux", "python library"):
                a = json.loads(search(self.path(d), q, [], self.path("")).out)
                b = json.loads(search(self.path("ix"), q, [], self.path("")).out)
                a.pop("took_ms")
                b.pop("took_ms")
                self.assertEqual(a, b, (d, q))


if __name__ == "__main__":
    cli_test.main()
