"""netlib.py - loopback ports for the integration tests (imported by
serve_test.py, build_test.py, tls_test.py and opensearch_client_run.py),
and http_json, the JSON request the tests of writes and indexes send
(writes_test.py, indexes_test.py, cluster_writes_test.py), Serve, the
`trawl serve` process they start, and what their equivalence tests share:
random_bulk, one batch of random writes, and same_answers, the comparison
of two servers' answers to queries; and what the tests of several indexes
share (indexes_test.py, cluster_indexes_test.py): bulk_body, a _bulk body
of documents, and same_as_merged, a search over several indexes against a
brute-force merge of each one's answers.

free_port returns a port on 127.0.0.1 that was free a moment ago, for a
server the test is about to start. Two things can take it in between:

- an outgoing connection. The kernel gives every connect() a local port
  from net.ipv4.ip_local_port_range (32768-60999 by default), and the
  tests open thousands of client connections; a port picked by binding
  port 0 comes from that same range, and a fresh-clone CI run once lost
  one to a client a moment before the server bound it ("Address already
  in use"). So ports are picked at random below the ephemeral range,
  where connect() never looks.
- another server of this process: a port already returned is never
  returned again (a leaf's HTTP port once came back as another leaf's nng
  port).

Suites running side by side pick at random from about 12,000 ports and
each checks its pick by binding it, so they meet only if two pick the same
port within the same moment.
"""
import http.client
import json
import os
import urllib.parse
import random
import signal
import socket
import subprocess
import tempfile
import time

_given = set()
_rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))


def _ephemeral():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _pool():
    lo, hi = _ephemeral()
    if lo > 20000 + 4096:            # the usual case: below the range
        return 20000, lo - 1
    return max(hi + 1, 1024), 65535  # a machine that moved the range down


def free_port():
    lo, hi = _pool()
    for _ in range(10000):
        p = _rng.randint(lo, hi)
        if p in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _given.add(p)
        return p
    raise RuntimeError("no free port on 127.0.0.1 in %d-%d" % (lo, hi))


def http_json(port, method, path, body=None, timeout=30, raw=False):
    """(status, the answer's JSON; its text when it is not JSON or raw is
    set; None when empty). body: a dict or list (sent as JSON), text or
    bytes; a path with _bulk is sent as NDJSON. Raises OSError when the
    connection fails."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        if isinstance(data, str):
            data = data.encode()
        ctype = "application/x-ndjson" if "_bulk" in path else "application/json"
        c.request(method, path, body=data, headers={"Content-Type": ctype})
        r = c.getresponse()
        text = r.read()
        if not text:
            return r.status, None if not raw else ""
        if raw:
            return r.status, text.decode(errors="replace")
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text.decode(errors="replace")
    finally:
        c.close()


def same_answers(tc, port_a, index_a, port_b, index_b, queries):
    """Asserts (tc: a unittest case) that two servers answer each query
    alike, at two page sizes: totals, ids, scores within 1e-5 (relative;
    two hits of one score may swap); returns the hits compared."""
    compared = 0
    for q in queries:
        for size in (3, 20):
            tail = "/_search?size=%d&track_total_hits=true&q=%s" % (size, urllib.parse.quote(q))
            sa, a = http_json(port_a, "GET", "/" + index_a + tail)
            sb, b = http_json(port_b, "GET", "/" + index_b + tail)
            tc.assertEqual((sa, sb), (200, 200), (a, b))
            tc.assertEqual(a["hits"]["total"], b["hits"]["total"], q)
            ha, hb = a["hits"]["hits"], b["hits"]["hits"]
            tc.assertEqual(len(ha), len(hb), q)
            for x, y in zip(ha, hb):
                tc.assertAlmostEqual(x["_score"], y["_score"], delta=1e-5 * max(1, y["_score"]),
                                     msg=q)
                if x["_id"] != y["_id"]:  # only a tie may swap
                    tc.assertTrue(any(abs(z["_score"] - x["_score"]) < 1e-5 * max(1, x["_score"])
                                      for z in hb if z["_id"] == x["_id"]) or
                                  abs(x["_score"] - hb[-1]["_score"]) < 1e-5, (q, x, y))
                compared += 1
    return compared


def random_bulk(rnd, docs, model, words, batch):
    """One _bulk body of 5 to 39 random writes (deletes of documents model
    holds, replacements and adds from docs, each body cut and given one of
    words), applied to model (id -> document) as OpenSearch would."""
    lines = []
    for _ in range(rnd.randrange(5, 40)):
        r = rnd.random()
        if r < 0.25 and model:
            doc_id = rnd.choice(sorted(model))
            lines.append({"delete": {"_id": doc_id}})
            model.pop(doc_id)
            continue
        src = rnd.choice(docs)
        doc_id = src["id"] if r < 0.7 else "new-%d-%d" % (batch, len(lines))
        body = src["body"][:rnd.randrange(20, 400)] + " " + rnd.choice(words)
        doc = {"title": src["title"], "body": body}
        lines += [{"index": {"_id": doc_id}}, doc]
        model[doc_id] = doc
    return "\n".join(json.dumps(x) for x in lines) + "\n"


def bulk_body(index, docs):
    """A _bulk body indexing docs (each with its "id") into index."""
    lines = []
    for d in docs:
        lines.append(json.dumps({"index": {"_index": index, "_id": d["id"]}}))
        lines.append(json.dumps({k: v for k, v in d.items() if k != "id"}))
    return "\n".join(lines) + "\n"


def same_as_merged(tc, port, expr, members, body):
    """Asserts (tc: a unittest case) that a search (body, with a terms
    aggregation "t") over the index expression expr answers as a
    brute-force merge of each of members' own answers: the hits (index,
    id, score) by score, the total, the buckets summed. Returns the hits
    the members gave."""
    st, got = http_json(port, "POST", "/%s/_search" % expr, body)
    tc.assertEqual(st, 200, got)
    want_hits, total, buckets = [], 0, {}
    for ix in members:
        st, one = http_json(port, "POST", "/%s/_search" % ix, body)
        tc.assertEqual(st, 200, one)
        total += one["hits"]["total"]["value"]
        want_hits += [(h["_index"], h["_id"], h["_score"]) for h in one["hits"]["hits"]]
        for bk in one["aggregations"]["t"]["buckets"]:
            buckets[bk["key"]] = buckets.get(bk["key"], 0) + bk["doc_count"]
    got_hits = [(h["_index"], h["_id"], h["_score"]) for h in got["hits"]["hits"]]
    tc.assertEqual(got["hits"]["total"]["value"], total, (expr, body))
    tc.assertEqual(sorted(got_hits), sorted(want_hits), (expr, body))
    scores = [h[2] for h in got_hits]
    tc.assertEqual(scores, sorted(scores, reverse=True), (expr, body))
    tc.assertEqual({b["key"]: b["doc_count"] for b in got["aggregations"]["t"]["buckets"]},
                   buckets, (expr, body))
    return want_hits


SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


class Serve:
    """`trawl serve DIR` (the trawl binary at trawl) on a free port, ready
    when made; stop() checks that it exits 0 without a sanitizer's
    report."""

    def __init__(self, trawl, d, *extra, refresh_ms=200):
        self.port = free_port()
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([trawl, "serve", d, "--http", "127.0.0.1:%d" % self.port,
                                      "--refresh-ms", str(refresh_ms)] + list(extra),
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        end = time.time() + 60
        while True:
            try:
                if http_json(self.port, "GET", "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > end:
                self.kill()
                raise AssertionError("trawl serve %s never became ready: %s" % (d, self.stderr()))
            time.sleep(0.05)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        self.err.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        err = self.stderr()
        self.err.close()
        assert rc == 0, "trawl serve exited %d: %s" % (rc, err)
        for m in SANITIZER_MARKS:
            assert m not in err, err
