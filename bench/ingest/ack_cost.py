#!/usr/bin/env python3
"""ack_cost.py - the server's CPU time per document acknowledged over _bulk.

Acknowledging a write (parsing and checking each document, deciding it,
logging it, answering) is one of the two costs of issue #12's ingest goal;
this isolates it. A `trawl serve` of a fresh index of the wiki-demo corpus,
with a refresh interval of an hour (so that nothing is applied), takes DOCS
enwiki passages as _bulk requests of BATCH documents from WRITERS clients at
once; the server's CPU time (utime + stime in /proc/PID/stat) over the
posting, divided by the documents acknowledged, is the figure. Each run
starts from a fresh index; the median over REPS runs is printed.

    python3 bench/ingest/ack_cost.py --trawl build/cli/trawl --docs 100000
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", path, body=body, headers={"Content-Type": "application/x-ndjson"})
    r = c.getresponse()
    return r.status, r.read()


def bodies_of(passages, docs, batch):
    out = []
    with open(passages) as f:
        lines = []
        for n, line in enumerate(f):
            if n == docs:
                break
            d = json.loads(line)
            lines.append(json.dumps({"index": {"_id": d.pop("id")}}))
            lines.append(json.dumps(d))
            if len(lines) == 2 * batch:
                out.append(("\n".join(lines) + "\n").encode())
                lines = []
        if lines:
            out.append(("\n".join(lines) + "\n").encode())
    return out


def one_run(a, bodies):
    work = tempfile.mkdtemp(prefix="trawl-ack-cost-")
    ix = os.path.join(work, "ack")
    subprocess.run([a.trawl, "index", ix, os.path.join(a.base, "docs.jsonl")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([a.trawl, "serve", ix, "--http", "127.0.0.1:%d" % port,
                             "--refresh-ms", "3600000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        nxt, acked, failures = [0], [0], []
        lock = threading.Lock()

        def writer():
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(bodies):
                    return
                st, body = post(port, "/ack/_bulk", bodies[i])
                r = json.loads(body)
                if st != 200 or r.get("errors"):
                    failures.append((st, body[:300]))
                    return
                with lock:
                    acked[0] += len(r["items"])

        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        threads = [threading.Thread(target=writer) for _ in range(a.writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.time() - t0
        if failures:
            raise SystemExit("a _bulk failed: %r" % (failures[0],))
        return cpu / acked[0] * 1e6, acked[0] / wall, acked[0]
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trawl", default=os.path.join(ROOT, "build", "cli", "trawl"))
    p.add_argument("--passages", default="/work/shared/data/enwiki-passages/docs.jsonl")
    p.add_argument("--base", default=os.path.join(ROOT, "data", "wiki-demo"))
    p.add_argument("--docs", type=int, default=100000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    bodies = bodies_of(a.passages, a.docs, a.batch)
    us = []
    for rep in range(a.reps):
        per_doc, rate, n = one_run(a, bodies)
        us.append(per_doc)
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print("run %d: %d documents, %.1f us of server CPU each, %.0f acknowledged/s, load %s"
              % (rep + 1, n, per_doc, rate, load), flush=True)
    print("median: %.1f us per document (%s)" % (statistics.median(us),
                                                 ", ".join("%.1f" % u for u in us)))


if __name__ == "__main__":
    main()
