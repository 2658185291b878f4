#!/usr/bin/env python3
"""equivalence.py - the shard count changes nothing a user sees: builds of
enwiki-passages with S = 2, 4 and 8 shards answer every query of
queries-sbg.jsonl with the same top-10 ids, in the same order, scores equal
to 1e-6 relative (as printed: 6 decimals), and the same total, as the
S = 1 build. Also a 2-worker and a 1-worker build of S = 4 have equal content
digests (the pipeline is deterministic whatever the parallelism).

usage: bench/build/equivalence.py [--docs FILE] [--queries FILE] [--work DIR]
Prints one line per shard count and exits 1 if any query differs."""
import argparse, json, os, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data", "enwiki-passages")


def answer(trawl, ix, q):
    r = subprocess.run([trawl, "search", ix, q, "--json", "-k", "10"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return ("error", r.returncode)
    j = json.loads(r.stdout)
    return (j["total"], [(h["id"], h["score"]) for h in j["hits"]])


def same(a, b):
    if a[0] == "error" or b[0] == "error":
        return a == b
    if a[0] != b[0] or len(a[1]) != len(b[1]):
        return False
    for (ia, sa), (ib, sb) in zip(a[1], b[1]):
        if ia != ib or abs(sa - sb) > 1e-6 * max(abs(sa), abs(sb)) + 1e-6:
            return False
    return True


def digest(trawl, ix):
    out = subprocess.run([trawl, "verify", ix], capture_output=True, text=True, check=True).stdout
    return out.split("content digest: ")[1].strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", default=os.path.join(SHARED, "docs.jsonl"))
    ap.add_argument("--queries", default=os.path.join(SHARED, "queries-sbg.jsonl"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--trawl", default=os.path.join(ROOT, "build", "cli", "trawl"))
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="trawl-equiv-")
    queries = []
    with open(a.queries) as f:
        for line in f:
            if line.strip():
                queries.append(json.loads(line)["query"])
    ix = {}
    for s in (1, 2, 4, 8):
        ix[s] = os.path.join(work, "s%d" % s)
        shutil.rmtree(ix[s], ignore_errors=True)
        subprocess.run([a.trawl, "index", ix[s], a.docs, "--shards", str(s), "--progress", "none"],
                       check=True, stdout=subprocess.DEVNULL)
    base = {q: answer(a.trawl, ix[1], q) for q in queries}
    refused = sum(1 for v in base.values() if v[0] == "error")
    bad = 0
    for s in (2, 4, 8):
        diffs = [q for q in queries if not same(base[q], answer(a.trawl, ix[s], q))]
        bad += len(diffs)
        print("S=%d: %d queries, %d answered (%d refused by both), %d differ from S=1%s"
              % (s, len(queries), len(queries) - refused, refused, len(diffs),
                 (": " + ", ".join(repr(q) for q in diffs[:5])) if diffs else ""))
    w1 = os.path.join(work, "s4-w1")
    shutil.rmtree(w1, ignore_errors=True)
    subprocess.run([a.trawl, "index", w1, a.docs, "--shards", "4", "--workers", "1",
                    "--progress", "none"], check=True, stdout=subprocess.DEVNULL)
    d1, d2 = digest(a.trawl, w1), digest(a.trawl, ix[4])
    print("S=4 content digest: 1 worker %s, %d workers %s: %s"
          % (d1, os.cpu_count(), d2, "equal" if d1 == d2 else "DIFFERENT"))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad or d1 != d2 else 0)


if __name__ == "__main__":
    main()
