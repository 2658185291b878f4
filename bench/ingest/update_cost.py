#!/usr/bin/env python3
"""update_cost.py - issue #12: the time of an update of 1,000 documents
against the index's size. It must not grow with the index.

    python3 bench/ingest/update_cost.py [--trawl build/cli/trawl] [--reps 3]
        [--sizes 10000,164440,1000000] [--shards 4] [--out FILE]

For each size an index of that many enwiki passages is built whole (past
the corpus's 164,440 the passages are repeated under new ids, "ID~k"), and
`trawl serve` takes REPS updates of 1,000 documents each (replacements of
existing passages, as one _bulk request with refresh=wait_for); each is
timed end to end (acknowledged and searchable through the same server),
and the indexer's own time for the generation is read from its log line.
Medians over the REPS updates. Markdown on standard output (and --out).
"""
import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "..", "shared", "data", "enwiki-passages", "docs.jsonl")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, body=body, headers={"Content-Type": "application/x-ndjson"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trawl", default=os.path.join(REPO, "build", "cli", "trawl"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="10000,164440,1000000")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--out")
    a = ap.parse_args()
    with open(DATA) as f:
        docs = [json.loads(line) for line in f]
    rows = []
    for size in [int(x) for x in a.sizes.split(",")]:
        work = tempfile.mkdtemp(prefix="trawl-update-cost-")
        src = os.path.join(work, "docs.jsonl")
        with open(src, "w") as f:
            for i in range(size):
                d = dict(docs[i % len(docs)])
                if i >= len(docs):
                    d["id"] = "%s~%d" % (d["id"], i // len(docs))
                f.write(json.dumps(d) + "\n")
        ix = os.path.join(work, "ix")
        t0 = time.time()
        subprocess.run([a.trawl, "index", ix, src, "--shards", str(a.shards)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        build_s = time.time() - t0
        os.unlink(src)
        port = free_port()
        log = os.path.join(work, "serve.log")
        errf = open(log, "w")
        proc = subprocess.Popen([a.trawl, "serve", ix, "--http", "127.0.0.1:%d" % port],
                                stdout=subprocess.DEVNULL, stderr=errf)
        try:
            end = time.time() + 120
            while time.time() < end:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/readyz")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            ends = []
            for rep in range(a.reps):
                lines = []
                for k in range(1000):
                    d = docs[(rep * 1000 + k) * 37 % min(size, len(docs))]
                    lines.append(json.dumps({"index": {"_id": d["id"]}}))
                    lines.append(json.dumps({"title": d["title"],
                                             "body": d["body"] + " rev%d" % rep}))
                body = ("\n".join(lines) + "\n").encode()
                t0 = time.time()
                st, data = post(port, "/ix/_bulk?refresh=wait_for", body)
                ends.append(time.time() - t0)
                r = json.loads(data)
                if st != 200 or r.get("errors"):
                    sys.exit("update failed: %d %s" % (st, data[:300]))
            proc.terminate()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            errf.close()
        applies = [float(m) for m in re.findall(r"generation \d+: 1000 operations .* ([0-9.]+) s",
                                                open(log).read())]
        rows.append((size, build_s, statistics.median(applies) if applies else float("nan"),
                     statistics.median(ends)))
        print("%d documents: build %.1f s, apply %s, end to end %s" % (
            size, build_s, applies, [round(x, 3) for x in ends]), file=sys.stderr, flush=True)
        subprocess.run(["rm", "-rf", work])
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    out = ["update_cost at %s, %s, load %s, %d cores; %d shards; an update of 1,000 "
           "replacements, %d each, medians" % (
               commit, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               open("/proc/loadavg").read().split()[0], os.cpu_count(), a.shards, a.reps), "",
           "| documents in the index | its whole build s | the generation's apply s "
           "| _bulk with refresh=wait_for, end to end s |", "|---|---|---|---|"]
    for size, b, ap_, e in rows:
        out.append("| {:,} | {:.1f} | {:.3f} | {:.3f} |".format(size, b, ap_, e))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
