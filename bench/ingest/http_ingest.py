#!/usr/bin/env python3
"""http_ingest.py - issue #12's ingest figures, over HTTP, end to end.

    python3 bench/ingest/http_ingest.py [--trawl build/cli/trawl] [--reps 3]
        [--writers 2] [--batch 1000] [--base 4000] [--shards 4] [--qps 20]
        [--probe-ms 100] [--rate DOCS_PER_S] [--split] [--out FILE]

A `trawl serve` (default refresh, 1 s) of a base index of the first BASE
enwiki passages takes the other passages (164,440 in all) as _bulk requests
of BATCH documents from WRITERS connections, as fast as it acknowledges
them (or paced at --rate documents a second), while:

- a query client, a process of its own (the writers' threads would hold
  its interpreter lock), sends the corpus's queries at QPS per second (one
  at a time, paced) and times each answer;
- a probe writes a marker document every PROBE_MS (100 ms) on a fixed
  schedule (refresh=false, so it waits for the ordinary refresh like any
  write), each with the run's word, and one search for the word every 20 ms
  sees which markers have become searchable: each marker's
  write-to-searchable time, from its write's sending (hundreds of samples,
  where one probe at a time gave a few dozen).

After the load, the same query client runs as long again on the final
index with no writes: the idle latencies. Each figure is the median over
REPS runs (a fresh base each time); write-to-searchable and the query
latencies also pooled over every run's samples (a p99 of one run's 150
queries is its second worst). The serve process's CPU per document
acknowledged. Printed as a Markdown table (and to --out). Standard library
only.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

LISTS = ("vis", "lat", "idle")  # a run's samples, pooled over the runs
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "..", "shared", "data", "enwiki-passages")


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = None

    def req(self, method, path, body=None, ctype="application/json"):
        for attempt in range(3):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.c.request(method, path, body=body, headers={"Content-Type": ctype})
                r = self.c.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.c = None
                if attempt == 2:
                    raise
        return None


def proc_cpu(pid):
    """User and system CPU seconds of process pid so far (its threads')."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def querier(port, queries, qps, stop, out):
    """The query client, in a process of its own (so that the writers'
    threads, holding this script's interpreter lock for their JSON, never
    delay the timing of an answer): one query at a time, paced at qps, until
    stop is set; its latencies (seconds) sent through out."""
    c = Conn(port)
    lat = []
    i = 0
    t_next = time.time()
    while not stop.is_set():
        q = queries[i % len(queries)]
        i += 1
        t0 = time.time()
        c.req("GET", "/enwiki/_search?size=10&q=" + urllib.parse.quote(q))
        lat.append(time.time() - t0)
        t_next += 1.0 / qps
        time.sleep(max(0.0, t_next - time.time()))
    out.send(lat)
    out.close()


def start_querier(port, queries, qps):
    """Starts the query client's process: (process, stop event, receiving end)."""
    stop = multiprocessing.Event()
    rx, tx = multiprocessing.Pipe(duplex=False)
    p = multiprocessing.Process(target=querier, args=(port, queries, qps, stop, tx))
    p.start()
    tx.close()
    return p, stop, rx


def stop_querier(q):
    """Stops the query client: its latencies."""
    p, stop, rx = q
    stop.set()
    lat = rx.recv()
    p.join()
    return lat


def run_writers(a, writer, t_start):
    """Runs WRITERS threads of writer to the end: their seconds."""
    t0 = t_start[0] = time.time()
    ws = [threading.Thread(target=writer) for _ in range(a.writers)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    return time.time() - t0


def split_run(a, port, proc, writer, acked, failures, t_start):
    """--split: the writes acknowledged with no refresh (1 h), then one
    _refresh applies them all: the CPU of each half per document."""
    cpu0 = proc_cpu(proc.pid)
    ack_s = run_writers(a, writer, t_start)
    cpu1 = proc_cpu(proc.pid)
    t1 = time.time()
    st, _ = Conn(port).req("POST", "/enwiki/_refresh")
    apply_s = time.time() - t1
    cpu2 = proc_cpu(proc.pid)
    st2, body = Conn(port).req("GET", "/enwiki/_count")
    if failures or st != 200:
        sys.exit("failures: %r (refresh %d)" % (failures[:3], st))
    n = max(1, acked[0])
    return {"ack_us_per_doc": (cpu1 - cpu0) / n * 1e6, "apply_us_per_doc": (cpu2 - cpu1) / n * 1e6,
            "ack_s": ack_s, "apply_s": apply_s, "docs": json.loads(body)["count"]}


def one_run(a, docs, queries, rep):
    work = tempfile.mkdtemp(prefix="trawl-http-ingest-")
    base = os.path.join(work, "base.jsonl")
    with open(base, "w") as f:
        for d in docs[:a.base]:
            f.write(json.dumps(d) + "\n")
    ix = os.path.join(work, "enwiki")
    subprocess.run([a.trawl, "index", ix, base, "--shards", str(a.shards)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    err = open(os.path.join(work, "serve.log"), "w")
    extra = ["--refresh-ms", "3600000"] if a.split else []
    proc = subprocess.Popen([a.trawl, "serve", ix, "--http", "127.0.0.1:%d" % port] + extra,
                            stdout=subprocess.DEVNULL, stderr=err)
    try:
        end = time.time() + 30
        while time.time() < end:
            try:
                if Conn(port).req("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        rest = docs[a.base:]
        bodies = []
        for i in range(0, len(rest), a.batch):
            lines = []
            for d in rest[i:i + a.batch]:
                lines.append(json.dumps({"index": {"_id": d["id"]}}))
                lines.append(json.dumps({k: v for k, v in d.items() if k != "id"}))
            bodies.append(("\n".join(lines) + "\n").encode())
        nxt = [0]
        lock = threading.Lock()
        done = threading.Event()
        acked = [0]
        rejected = [0]
        t_start = [time.time()]
        failures = []

        def writer():
            c = Conn(port)
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(bodies):
                    return
                if a.rate:  # paced: body i goes at its time, rate documents a second
                    time.sleep(max(0.0, t_start[0] + i * a.batch / a.rate - time.time()))
                st, body = c.req("POST", "/enwiki/_bulk", bodies[i], "application/x-ndjson")
                while st == 429:  # the backlog's bound: back off, as a client must
                    with lock:
                        rejected[0] += 1
                    time.sleep(0.1)
                    st, body = c.req("POST", "/enwiki/_bulk", bodies[i],
                                     "application/x-ndjson")
                r = json.loads(body)
                if st != 200 or r.get("errors"):
                    failures.append((st, body[:300]))
                    return
                with lock:
                    acked[0] += len(r["items"])

        # write-to-searchable: a marker document every PROBE_MS on a fixed
        # schedule (not waiting for the last to show), each with the run's
        # word and its own number; one search for the word every 20 ms
        # sees which markers are searchable, each timed from the moment its
        # write was sent (so a slow acknowledgement counts too)
        vis = []
        sent = {}  # marker id -> time its write was sent
        seen = set()
        slock = threading.Lock()
        word = "zprobe%dx%d" % (rep, os.getpid())

        def marker_writer(stop):
            c = Conn(port)
            n = 0
            t_next = time.time()
            while not stop.is_set():
                n += 1
                mid = "probe-%d" % n
                t0 = time.time()
                with slock:
                    sent[mid] = t0
                st, _ = c.req("PUT", "/enwiki/_doc/" + mid,
                              json.dumps({"title": "probe %d" % n, "body": word}))
                if st not in (200, 201):
                    failures.append(("probe", st))
                    return
                t_next += a.probe_ms / 1000.0
                time.sleep(max(0.0, t_next - time.time()))

        def marker_poller(stop):
            c = Conn(port)
            while True:
                with slock:
                    waiting = len(sent) - len(seen)
                if stop.is_set() and waiting == 0:
                    return
                st, body = c.req("GET", "/enwiki/_search?size=%d&_source=false&q=%s" % (
                    min(10000, len(sent) + 10), word))
                now = time.time()
                if st == 200:
                    for h in json.loads(body)["hits"]["hits"]:
                        with slock:
                            if h["_id"] in sent and h["_id"] not in seen:
                                seen.add(h["_id"])
                                vis.append(now - sent[h["_id"]])
                if stop.is_set() and now > stop_at[0] + 30:
                    failures.append(("probe", "%d markers not searchable 30 s after the load" %
                                     waiting))
                    return
                time.sleep(0.02)

        stop_at = [0.0]
        if a.split:
            return split_run(a, port, proc, writer, acked, failures, t_start)
        stop = threading.Event()
        pstop = threading.Event()
        pw = threading.Thread(target=marker_writer, args=(stop,))
        pp = threading.Thread(target=marker_poller, args=(pstop,))
        cpu0 = proc_cpu(proc.pid)
        qt = start_querier(port, queries, a.qps)
        pw.start()
        pp.start()
        t0 = time.time()
        load_s = run_writers(a, writer, t_start)
        # until every write is searchable
        Conn(port).req("POST", "/enwiki/_refresh")
        searchable_s = time.time() - t0
        cpu = proc_cpu(proc.pid) - cpu0
        lat = stop_querier(qt)
        stop.set()
        pw.join()
        stop_at[0] = time.time()
        pstop.set()
        pp.join()
        done.set()
        qt2 = start_querier(port, queries, a.qps)
        time.sleep(min(max(load_s, 10.0), 60.0))
        idle = stop_querier(qt2)
        st, body = Conn(port).req("GET", "/enwiki/_count")
        count = json.loads(body)["count"]
        proc.terminate()
        proc.wait(timeout=60)
        err.close()
        merges = open(os.path.join(work, "serve.log")).read().count("merged")
        if failures:
            sys.exit("failures: %r" % failures[:3])
        return {
            "docs_per_s": acked[0] / load_s,
            "searchable_docs_per_s": acked[0] / searchable_s,
            "docs": count,
            "vis_p50": pct(vis, 50), "vis_p99": pct(vis, 99), "vis_max": max(vis) if vis else 0,
            "probes": len(vis), "vis": vis, "lat": lat, "idle": idle,
            "cpu_us_per_doc": cpu / max(1, acked[0]) * 1e6,
            "q_p50": pct(lat, 50) * 1000, "q_p99": pct(lat, 99) * 1000, "queries": len(lat),
            "idle_p50": pct(idle, 50) * 1000, "idle_p99": pct(idle, 99) * 1000,
            "merges": merges, "rejected": rejected[0],
        }
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["rm", "-rf", work])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trawl", default=os.path.join(REPO, "build", "cli", "trawl"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--base", type=int, default=4000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--qps", type=float, default=20)
    ap.add_argument("--rate", type=float, default=0,
                    help="documents a second the writers offer, paced (default 0: as fast "
                    "as they are acknowledged)")
    ap.add_argument("--probe-ms", type=float, default=100,
                    help="a marker document is written every PROBE_MS (default 100)")
    ap.add_argument("--split", action="store_true",
                    help="no queries, no probe, no refresh while writing (1 h), then one "
                    "_refresh: the serve process's CPU per document acknowledging, then "
                    "applying (what the apply step costs, without a steady stream)")
    ap.add_argument("--out")
    a = ap.parse_args()
    with open(os.path.join(DATA, "docs.jsonl")) as f:
        docs = [json.loads(line) for line in f]
    with open(os.path.join(DATA, "queries.tsv")) as f:
        queries = [line.rstrip("\n").split("\t")[-1] for line in f if line.strip()]
    runs = []
    for rep in range(a.reps):
        r = one_run(a, docs, queries, rep)
        print("run %d: %s" % (rep + 1, json.dumps(
            {k: round(v, 3) for k, v in r.items() if k not in LISTS})),
              file=sys.stderr, flush=True)
        runs.append(r)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in LISTS}
    # the commit of the trawl measured (its tree's), not of this script's
    commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(a.trawl)),
                             "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    if a.split:
        text = ("http_ingest --split at %s, %s, load %s: %d documents acknowledged in %.1f s "
                "(%.1f us CPU each), then applied by one _refresh in %.1f s (%.1f us CPU "
                "each); %d runs, medians\n" % (
                    commit, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    open("/proc/loadavg").read().split()[0], med["docs"], med["ack_s"],
                    med["ack_us_per_doc"], med["apply_s"], med["apply_us_per_doc"], a.reps))
        sys.stdout.write(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
        return
    pooled = [v for r in runs for v in r["vis"]]
    qpool = [v * 1000 for r in runs for v in r["lat"]]
    ipool = [v * 1000 for r in runs for v in r["idle"]]
    lines = [
        "http_ingest at %s, %s, load %s, %d cores; %d writers x _bulk of %d%s, base %d, %d "
        "shards, queries at %g/s; %d runs, medians" % (
            commit, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            open("/proc/loadavg").read().split()[0], os.cpu_count(), a.writers, a.batch,
            " offered at %g docs/s" % a.rate if a.rate else "", a.base, a.shards, a.qps,
            a.reps), "",
        "| acknowledged docs/s | searchable docs/s | write-to-searchable p50 / p99 / max s "
        "(markers) | the same, all runs' markers pooled | query p50 / p99 ms, writing | idle "
        "| query p99 writing / idle, all runs' queries pooled | serve CPU us/doc | merges | _bulk refused (429) | documents |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| {:,.0f} | {:,.0f} | {:.2f} / {:.2f} / {:.2f} ({:.0f}) | {:.2f} / {:.2f} / {:.2f} ({}) "
        "| {:.1f} / {:.1f} | {:.1f} / {:.1f} | {:.1f} / {:.1f} = {:.1f}x ({} / {}) | {:.0f} | {:.0f} | {:.0f} | {:,.0f} |".format(
            med["docs_per_s"], med["searchable_docs_per_s"], med["vis_p50"], med["vis_p99"],
            med["vis_max"], med["probes"], pct(pooled, 50), pct(pooled, 99),
            max(pooled) if pooled else 0, len(pooled), med["q_p50"], med["q_p99"],
            med["idle_p50"], med["idle_p99"], pct(qpool, 99), pct(ipool, 99),
            pct(qpool, 99) / pct(ipool, 99), len(qpool), len(ipool), med["cpu_us_per_doc"], med["merges"],
            med["rejected"], med["docs"]),
        "",
        "Write-to-searchable: a marker document written every %g ms (refresh=false) and "
        "timed from its write's sending until a search finds it (searched every 20 ms). "
        "Serve CPU: the trawl serve process's user + system CPU from the load's start to "
        "the final _refresh, over the documents acknowledged (acknowledging, applying, "
        "merging, and the queries and probes beside)." % a.probe_ms,
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
