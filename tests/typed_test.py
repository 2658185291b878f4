#!/usr/bin/env python3
"""Typed fields searched on the two structured corpora (data/debian-packages,
data/curl-commits), against a brute-force evaluation written here.

Each corpus is indexed with its shipped schema into 1 shard and into 4;
then random queries of keyword values, prefixes, numbers, ranges (open,
closed, exclusive), dates, booleans and _exists_, combined with +, - and
groups, are asked of both indexes. For each query: the total and every
matching id equal what this file computes from the documents themselves,
each hit's score equals the sum of its matching scoring clauses (a
keyword's idf, 1 for the rest), and the 4-shard answer is the 1-shard
answer. Filters (--filter) narrow a text query's hits without changing one
score.

    python3 tests/typed_test.py build/cli/trawl [unittest options]
"""
import datetime
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")
TRAWL = None
SEED = int(os.environ.get("TRAWL_TEST_SEED", "20261205"))
QUERIES = int(os.environ.get("TRAWL_TYPED_QUERIES", "60"))


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def run(*args):
    r = subprocess.run([TRAWL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    return r


def load(corpus):
    with open(os.path.join(DATA, corpus, "schema.json")) as f:
        schema = json.load(f)["fields"]
    r = subprocess.run(["zstdcat", os.path.join(DATA, corpus, "docs.jsonl.zst")],
                       stdout=subprocess.PIPE, check=True)
    docs = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    return schema, docs


def date_ms(v):
    if isinstance(v, (int, float)):
        return int(v)
    s = v.replace("Z", "+00:00")
    d = datetime.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)


def flat(v):
    if v is None:
        return []
    if isinstance(v, list):
        out = []
        for x in v:
            out.extend(flat(x))
        return out
    return [v]


class Corpus:
    """A corpus's typed values per document, as the schema reads them."""

    def __init__(self, name):
        self.name = name
        schema, docs = load(name)
        self.docs = docs
        self.ids = [d["id"] for d in docs]
        self.fields = {}  # name -> (type, [values per doc])
        for fname, spec in schema.items():
            subs = spec.get("fields", {})
            for sub, sspec in subs.items():
                self.add(fname + "." + sub, sspec, [d.get(fname) for d in docs])
            if spec["type"] != "text":
                self.add(fname, spec, [d.get(fname) for d in docs])
        self.N = len(docs)

    def add(self, name, spec, raw):
        t = spec["type"]
        vals = []
        for v in raw:
            out = []
            for x in flat(v):
                if t == "keyword":
                    s = x if isinstance(x, str) else json.dumps(x)
                    if spec.get("normalizer") == "lowercase":
                        s = s.lower()
                    if spec.get("ignore_above") and len(s) > spec["ignore_above"]:
                        continue
                    out.append(s)
                elif t == "long":
                    out.append(int(x))
                elif t == "double":
                    out.append(float(x))
                elif t == "date":
                    out.append(date_ms(x))
                elif t == "boolean":
                    out.append(x is True or x == "true")
            vals.append(out)
        self.fields[name] = (t, vals)
        if t == "keyword":
            df = {}
            for out in vals:
                for s in set(out):
                    df[s] = df.get(s, 0) + 1
            self.df = getattr(self, "df", {})
            self.df[name] = df


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class Clause:
    """A query-language clause, its matching documents and their score."""

    def __init__(self, text, match, score):
        self.text, self.match, self.score = text, match, score


def gen_clause(c, r):
    name = r.choice(sorted(c.fields))
    t, vals = c.fields[name]
    present = [v for v in vals if v]
    kind = r.random()
    if kind < 0.08:
        m = [bool(v) for v in vals]
        return Clause("_exists_:" + name, m, 1.0)
    if t == "keyword":
        pick = r.choice(r.choice(present))
        if kind < 0.2 and len(pick) >= 2:
            p = pick[:r.randint(1, min(4, len(pick) - 1))]
            if all(ch.isalnum() or ch in "-_." for ch in p):
                return Clause("%s:%s*" % (name, p), [any(s.startswith(p) for s in v) for v in vals],
                              1.0)
        if r.random() < 0.1:
            pick = pick + "zz"  # no document has it
        df = c.df[name].get(pick, 0)
        idf = f32(math.log(1 + (c.N - df + 0.5) / (df + 0.5))) if df else 0
        return Clause("%s:%s" % (name, quote(pick)), [pick in v for v in vals], idf)
    if t == "boolean":
        b = r.random() < 0.5
        return Clause("%s:%s" % (name, "true" if b else "false"), [b in v for v in vals], 1.0)
    a, b = r.choice(r.choice(present)), r.choice(r.choice(present))
    lo, hi = min(a, b), max(a, b)
    fmt = (lambda x: quote(iso(x))) if t == "date" else str
    if kind < 0.3:
        return Clause("%s:%s" % (name, fmt(lo) if t != "date" else quote(iso(lo))),
                      [lo in v for v in vals], 1.0)
    if kind < 0.45:
        op = r.choice([">", ">=", "<", "<="])
        test = {">": lambda x: x > lo, ">=": lambda x: x >= lo, "<": lambda x: x < lo,
                "<=": lambda x: x <= lo}[op]
        return Clause("%s:%s%s" % (name, op, fmt(lo)), [any(test(x) for x in v) for v in vals],
                      1.0)
    li, hinc = r.random() < 0.6, r.random() < 0.6
    lopen, hopen = r.random() < 0.15, r.random() < 0.15
    ltxt = "*" if lopen else fmt(lo)
    htxt = "*" if hopen else fmt(hi)

    def ok(x):
        if not lopen and (x < lo or (x == lo and not li)):
            return False
        if not hopen and (x > hi or (x == hi and not hinc)):
            return False
        return True

    text = "%s:%s%s TO %s%s" % (name, "[" if li else "{", ltxt, htxt, "]" if hinc else "}")
    return Clause(text, [any(ok(x) for x in v) for v in vals], 1.0)


def gen_query(c, r):
    """A query of 1-4 clauses with +, - or nothing, maybe one group."""
    n = r.randint(1, 4)
    parts, must, should, nots = [], [], [], []
    for _ in range(n):
        if r.random() < 0.15:
            a, b = gen_clause(c, r), gen_clause(c, r)
            cl = Clause("(%s %s)" % (a.text, b.text),
                        [x or y for x, y in zip(a.match, b.match)], None)
            cl.kids = (a, b)
        else:
            cl = gen_clause(c, r)
        occ = r.choice(["+", "", "", "-"]) if n > 1 else r.choice(["+", ""])
        parts.append(occ + cl.text)
        (must if occ == "+" else nots if occ == "-" else should).append(cl)
    if not must and not should:
        should.append(gen_clause(c, r))
        parts.append(should[-1].text)
    return " ".join(parts), must, should, nots


def clause_score(cl, d):
    if getattr(cl, "kids", None):
        return sum(clause_score(k, d) for k in cl.kids if k.match[d])
    return cl.score


def brute(c, must, should, nots):
    out = {}
    for d in range(c.N):
        if any(not cl.match[d] for cl in must) or any(cl.match[d] for cl in nots):
            continue
        if not must and not any(cl.match[d] for cl in should):
            continue
        out[c.ids[d]] = sum(clause_score(cl, d) for cl in must + should if cl.match[d])
    return out


class TypedCase:
    """The tests, for a corpus (the classes below)."""
    corpus = None
    indexes = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trawl-typed-")
        cls.c = Corpus(cls.corpus)
        cls.ix = {}
        for shards in (1, 4):
            ix = os.path.join(cls.tmp, "ix%d" % shards)
            r = run("index", ix, os.path.join(DATA, cls.corpus, "docs.jsonl.zst"), "--schema",
                    os.path.join(DATA, cls.corpus, "schema.json"), "--shards", str(shards))
            assert r.returncode == 0, r.stderr
            cls.ix[shards] = ix

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def search(self, shards, q, k, *extra):
        r = run("search", self.ix[shards], "--json", "-k", str(k), *extra, "--", q)
        self.assertEqual(r.returncode, 0, "%s: %s" % (q, r.stderr))
        return json.loads(r.stdout)

    def check(self, q, want):
        k = max(1, min(len(want), 10000))
        got1 = self.search(1, q, k)
        self.assertEqual(got1["total"], len(want), q)
        if len(want) <= 10000:
            ids = {h["id"]: h["score"] for h in got1["hits"]}
            self.assertEqual(sorted(ids), sorted(want), q)
            for i, s in ids.items():
                self.assertAlmostEqual(s, want[i], delta=1e-4 * max(1, abs(want[i])),
                                       msg="%s: %s" % (q, i))
            scores = [h["score"] for h in got1["hits"]]
            self.assertEqual(scores, sorted(scores, reverse=True), q)
        # the top 3 alone: the same total, and no hit left out that scores
        # above one returned (a search may stop early: constant scores)
        top = self.search(1, q, 3)
        self.assertEqual(top["total"], len(want), q)
        self.assertEqual(len(top["hits"]), min(3, len(want)), q)
        for h in top["hits"]:
            self.assertIn(h["id"], want, q)
            self.assertAlmostEqual(h["score"], want[h["id"]], delta=1e-4 * max(1, abs(h["score"])),
                                   msg=q)
        if top["hits"]:
            low = top["hits"][-1]["score"]
            shown = {h["id"] for h in top["hits"]}
            above = [i for i, v in want.items() if i not in shown and v > low + 1e-4 * max(1, low)]
            self.assertEqual(above, [], q)
        got4 = self.search(4, q, k)
        strip = lambda r: [(h["id"], h["score"]) for h in r["hits"]]
        self.assertEqual(got4["total"], got1["total"], q)
        self.assertEqual(strip(got4), strip(got1), q)

    def test_random_queries_equal_brute_force(self):
        r = random.Random(SEED + len(self.corpus))
        for _ in range(QUERIES):
            q, must, should, nots = gen_query(self.c, r)
            if r.random() < 0.25:  # every document, narrowed (a filter alone)
                must.append(Clause("*:*", [True] * self.c.N, 1.0))
                q = "+*:* " + q
            self.check(q, brute(self.c, must, should, nots))

    def sort_key_of(self, d, keys):
        """Doc d's brute-force sort key under keys [(field, desc, first, mode)]."""
        out = []
        for name, desc, first, mode in keys:
            t, vals = self.c.fields[name]
            v = vals[d]
            if t == "keyword":
                v = [x.encode() for x in v]
            if t == "double":
                v = [struct.unpack("<q", struct.pack("<d", x))[0] for x in v]
                v = [x ^ 0x7fffffffffffffff if x < 0 else x for x in v]
            if not v:
                out.append((0 if first else 2, 0))
                continue
            use_max = mode == "max" or (mode is None and desc)
            x = max(v) if use_max else min(v)
            if t == "keyword":
                # bytes: descending by inverting each byte, shorter-first kept by a terminator
                x = tuple(x) + (-1,)
                x = tuple(-b for b in x) if desc else x
            elif desc:
                x = -x
            out.append((1, x))
        return out

    def test_sort_and_search_after(self):
        r = random.Random(SEED * 5 + len(self.corpus))
        sortable = sorted(n for n, (t, _) in self.c.fields.items())
        for _ in range(QUERIES // 4):
            keys = []
            for _k in range(r.randint(1, 2)):
                name = r.choice(sortable)
                keys.append((name, r.random() < 0.5, r.random() < 0.3,
                             r.choice([None, None, "min", "max"])))
            spec = ",".join(name + (":desc" if desc else ":asc") + (":first" if first else "") +
                            (":" + mode if mode else "") for name, desc, first, mode in keys)
            cl = gen_clause(self.c, r)
            if r.random() < 0.5:  # a union: its matches may come from a bitset
                a, b = cl, gen_clause(self.c, r)
                cl = Clause("%s %s" % (a.text, b.text),
                            [x or y for x, y in zip(a.match, b.match)], None)
                cl.kids = (a, b)
            want_docs = [d for d in range(self.c.N) if cl.match[d]]
            want = sorted(self.sort_key_of(d, keys) for d in want_docs)
            k = min(len(want_docs), 50) or 1
            got1 = self.search(1, cl.text, k, "--sort", spec)
            got4 = self.search(4, cl.text, k, "--sort", spec)
            msg = "%s --sort %s" % (cl.text, spec)
            self.assertEqual(got1["total"], len(want_docs), msg)
            self.assertEqual([(h["id"], h["sort"]) for h in got4["hits"]],
                             [(h["id"], h["sort"]) for h in got1["hits"]], msg)
            index = {i: d for d, i in enumerate(self.c.ids)}
            got_keys = [self.sort_key_of(index[h["id"]], keys) for h in got1["hits"]]
            self.assertEqual(got_keys, want[:len(got_keys)], msg)
            for h in got1["hits"]:  # each hit scored, though the sort is by fields
                want_score = clause_score(cl, index[h["id"]])
                self.assertAlmostEqual(h["score"], want_score,
                                       delta=1e-4 * max(1, abs(want_score)), msg=msg)
            for a, b in zip(got1["hits"], got1["hits"][1:]):
                if self.sort_key_of(index[a["id"]], keys) == self.sort_key_of(index[b["id"]], keys):
                    self.assertLess(int(a["sort"][-1]), int(b["sort"][-1]), msg)
            # the same hits page by page with search_after, on 4 shards
            pages, after = [], None
            while len(pages) < min(len(got1["hits"]), 21):
                extra = ["--after", json.dumps(after)] if after else []
                p = self.search(4, cl.text, 7, "--sort", spec, *extra)
                if not p["hits"]:
                    break
                self.assertEqual(p["total"], len(want_docs), msg)
                pages += [h["id"] for h in p["hits"]]
                after = p["hits"][-1]["sort"]
            self.assertEqual(pages[:21], [h["id"] for h in got1["hits"]][:21], msg)

    def brute_aggs(self, docs, name, kind):
        """The answer Elasticsearch would give for one aggregation over docs."""
        t, vals = self.c.fields[name]
        if kind == "terms":
            counts = {}
            for d in docs:
                for v in set(vals[d]):
                    counts[v] = counts.get(v, 0) + 1
            key = (lambda v: v.encode()) if t == "keyword" else (lambda v: v)
            top = sorted(counts.items(), key=lambda kv: (-kv[1], key(kv[0])))
            return {"total": sum(counts.values()), "buckets": top[:5]}
        if kind == "stats":
            xs = [v for d in docs for v in vals[d]]
            return {"count": len(xs), "min": min(xs) if xs else None,
                    "max": max(xs) if xs else None, "sum": sum(xs)}
        if kind == "cardinality":
            return {"value": len({v for d in docs for v in vals[d]})}
        if kind == "histogram":
            counts = {}
            for d in docs:
                for b in {v // 1000 * 1000 for v in vals[d]}:
                    counts[b] = counts.get(b, 0) + 1
            return sorted(counts.items())
        if kind == "month":
            counts = {}
            for d in docs:
                for b in {datetime.datetime.fromtimestamp(v / 1000, datetime.timezone.utc)
                          .strftime("%Y-%m") for v in vals[d]}:
                    counts[b] = counts.get(b, 0) + 1
            return sorted(counts.items())

    def test_aggregations_equal_brute_force(self):
        r = random.Random(SEED * 7 + len(self.corpus))
        names = sorted(self.c.fields)
        for _ in range(max(4, QUERIES // 6)):
            cl = gen_clause(self.c, r)
            if r.random() < 0.5:  # a union: its matches may come from a bitset
                a, b = cl, gen_clause(self.c, r)
                cl = Clause("%s %s" % (a.text, b.text),
                            [x or y for x, y in zip(a.match, b.match)], None)
            docs = [d for d in range(self.c.N) if cl.match[d]]
            aggs, want = {}, {}
            for i, name in enumerate(r.sample(names, min(4, len(names)))):
                t = self.c.fields[name][0]
                kinds = ["terms", "cardinality"] + (["stats", "histogram"] if t == "long" else []) \
                    + (["month", "stats"] if t == "date" else [])
                kind = r.choice(kinds)
                an = "a%d" % i
                if kind == "terms":
                    aggs[an] = {"terms": {"field": name, "size": 5}}
                elif kind == "month":
                    aggs[an] = {"date_histogram": {"field": name, "calendar_interval": "month"}}
                elif kind == "histogram":
                    aggs[an] = {"histogram": {"field": name, "interval": 1000, "min_doc_count": 1}}
                else:
                    aggs[an] = {kind: {"field": name}}
                want[an] = (name, kind, self.brute_aggs(docs, name, kind))
            path = os.path.join(self.tmp, "aggs.json")
            with open(path, "w") as f:
                json.dump(aggs, f)
            got = {s: self.search(s, cl.text, 1, "--aggs", path) for s in (1, 4)}
            msg = "%s aggs %s" % (cl.text, json.dumps(aggs))
            self.assertEqual(got[1]["aggregations"], got[4]["aggregations"], msg)
            for an, (name, kind, w) in want.items():
                g = got[1]["aggregations"][an]
                t = self.c.fields[name][0]
                if kind == "terms":
                    keys = [b.get("key_as_string", b["key"]) if t in ("boolean", "date")
                            else b["key"] for b in g["buckets"]]
                    conv = {"boolean": lambda v: "true" if v else "false",
                            "date": lambda v: v}.get(t, lambda v: v)
                    if t == "date":
                        keys = [b["key"] for b in g["buckets"]]
                    self.assertEqual([(k, b["doc_count"]) for k, b in zip(keys, g["buckets"])],
                                     [(conv(k), n) for k, n in w["buckets"]], msg)
                    self.assertEqual(g["doc_count_error_upper_bound"], 0, msg)
                    self.assertEqual(g["sum_other_doc_count"],
                                     w["total"] - sum(n for _, n in w["buckets"]), msg)
                elif kind == "stats":
                    self.assertEqual(g["count"], w["count"], msg)
                    if w["count"]:
                        self.assertEqual((g["min"], g["max"], g["sum"]),
                                         (float(w["min"]), float(w["max"]), float(w["sum"])), msg)
                elif kind == "cardinality":
                    self.assertEqual(g["value"], w["value"], msg)
                elif kind == "histogram":
                    self.assertEqual([(int(b["key"]), b["doc_count"]) for b in g["buckets"]], w, msg)
                elif kind == "month":
                    got_m = [(b["key_as_string"][:7], b["doc_count"]) for b in g["buckets"]
                             if b["doc_count"]]
                    self.assertEqual(got_m, w, msg)

    def test_bad_literals_name_the_field(self):
        for name, (t, _) in sorted(self.c.fields.items()):
            if t in ("long", "double", "date", "boolean"):
                r = run("search", self.ix[1], "--", "%s:notavalue" % name)
                self.assertEqual(r.returncode, 65, r.stderr)
                self.assertIn('field "%s" (%s)' % (name, t), r.stderr)
            if t == "keyword":
                r = run("search", self.ix[1], "--", "%s:[a TO b]" % name)
                self.assertEqual(r.returncode, 65, r.stderr)
                self.assertIn('a range on field "%s", a keyword' % name, r.stderr)


class TestDebianPackages(TypedCase, unittest.TestCase):
    corpus = "debian-packages"


class TestCurlCommits(TypedCase, unittest.TestCase):
    corpus = "curl-commits"


def main(argv):
    global TRAWL
    if len(argv) > 1 and not argv[1].startswith("-"):
        TRAWL = os.path.abspath(argv.pop(1))
    else:
        TRAWL = os.environ.get("TRAWL_BIN")
    if not TRAWL:
        sys.exit("usage: typed_test.py TRAWL_BINARY [unittest options] (or set TRAWL_BIN)")
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main(sys.argv)
