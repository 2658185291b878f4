#!/usr/bin/env python3
"""equivalence.py - a 4-shard x 2-replica cluster answers every query of
enwiki-passages/queries-sbg.jsonl exactly as `trawl search` on a 1-shard
build: same top-10 ids in the same order, scores equal to 1e-6 relative, and
the same total, through the native API (/search) and, when it is there, the
OpenSearch-compatible one (/{index}/_search with query_string).

usage: bench/serve/equivalence.py [--docs FILE] [--queries FILE] [--work DIR]
Everything runs on loopback; processes are stopped at the end."""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
import http.client, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAWL = os.path.join(ROOT, "build", "cli", "trawl")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(port, secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("root on port %d never became ready" % port)


def escape(q):
    return "".join("\\" + c if c in '+-"():*\\' else c for c in q)


def main():
    global TRAWL
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", default=os.path.join(ROOT, "..", "shared", "data", "enwiki-passages", "docs.jsonl"))
    ap.add_argument("--queries", default=os.path.join(ROOT, "..", "shared", "data", "enwiki-passages", "queries-sbg.jsonl"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--trawl", default=TRAWL, help="the trawl binary (default: build/cli/trawl)")
    a = ap.parse_args()
    TRAWL = a.trawl
    work = a.work or tempfile.mkdtemp(prefix="trawl-eq-")
    one, four = os.path.join(work, "one"), os.path.join(work, "four")
    procs = []
    try:
        for d, n in ((one, 1), (four, 4)):
            if not os.path.exists(os.path.join(d, "CURRENT")):
                subprocess.run([TRAWL, "index", d, a.docs, "--shards", str(n)], check=True,
                               stdout=subprocess.DEVNULL)
        leaves = []
        for s in range(4):
            for r in range(2):
                port = free_port()
                url = "tcp://127.0.0.1:%d" % port
                procs.append(subprocess.Popen([TRAWL, "leaf", "--index", four, "--shards", str(s),
                                               "--listen", url, "--quiet"]))
                leaves.append({"url": url, "shards": [s]})
        cluster = os.path.join(work, "cluster.json")
        with open(cluster, "w") as f:
            json.dump({"shards": 4, "leaves": leaves}, f)
        hport = free_port()
        procs.append(subprocess.Popen([TRAWL, "root", "--cluster", cluster, "--http",
                                       "127.0.0.1:%d" % hport, "--quiet", "--name", "enwiki"]))
        wait_ready(hport)
        queries = []
        with open(a.queries) as f:
            for line in f:
                line = line.strip()
                if line:
                    queries.append(json.loads(line)["query"])
        # the reference: one batch run of the CLI on the 1-shard build
        conn = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
        checked = diffs = os_checked = os_diffs = 0
        has_os = None
        for q in queries:
            r = subprocess.run([TRAWL, "search", one, q, "--json", "-k", "10"], capture_output=True,
                               text=True)
            if r.returncode != 0:
                continue  # e.g. a query the syntax refuses; the cluster must refuse it too
            ref = json.loads(r.stdout)
            conn.request("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 10, "source": "false"}))
            resp = conn.getresponse()
            got = json.loads(resp.read())
            checked += 1
            if not same(ref, [(h["id"], h["score"]) for h in got.get("hits", [])],
                        got.get("total", {}).get("value")):
                diffs += 1
                if diffs <= 5:
                    print("native differs:", q, file=sys.stderr)
            if has_os is not False:
                body = json.dumps({"query": {"query_string": {"query": q}}, "size": 10,
                                   "_source": False, "track_total_hits": True})
                conn.request("POST", "/enwiki/_search", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 404 and has_os is None:
                    has_os = False
                    continue
                has_os = True
                got = json.loads(data)
                hits = got.get("hits", {})
                os_checked += 1
                if not same(ref, [(h["_id"], h["_score"]) for h in hits.get("hits", [])],
                            hits.get("total", {}).get("value")):
                    os_diffs += 1
                    if os_diffs <= 5:
                        print("opensearch differs:", q, file=sys.stderr)
        print("native API: %d queries compared, %d differ" % (checked, diffs))
        if has_os:
            print("OpenSearch API: %d queries compared, %d differ" % (os_checked, os_diffs))
        else:
            print("OpenSearch API: not available")
        return 1 if diffs or os_diffs else 0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


def same(ref, hits, total):
    ids = [h["id"] for h in ref["hits"]]
    if ids != [h[0] for h in hits] or ref["total"] != total:
        return False
    for h, (_, s) in zip(ref["hits"], hits):
        if abs(h["score"] - s) > 1e-6 * max(1.0, abs(h["score"])):
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
