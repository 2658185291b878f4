#!/usr/bin/env python3
"""hedge.py - hedged requests against a slow replica (issue #4's third
serving figure). Run through bench/serve/hedge.sh.

Index: enwiki-passages, game schema (see cluster.py), 4 shards.
Cluster: 4 shards x 2 replicas = 8 `trawl leaf --shards i --workers W`
processes on tcp 127.0.0.1 (W = LEAF_WORKERS, default 2, the leaf's
default), one `trawl root --cache-mb 0` (hedging is always on in the root).
Fault: replica 1 of shard 0 runs with `--delay 0.1:50` (every 10th SEARCH
it answers waits 50 ms first). Fault-free: the same cluster without --delay.

A run starts one cluster, makes a warm-up pass over the game's 962 queries
and PASSES timed passes (new random order each), one query at a time over a
keep-alive http.client connection, for each of three request kinds:
  top10       GET /search?q=..&k=10&count=false
  top10count  GET /search?q=..&k=10   (the API's default: exact count)
  top10pref   as top10, with a fresh &preference=uN on every request: the
              session key pins each request to a replica by hash, so the slow
              replica gets about half of shard 0's searches whatever its
              latency (without it the balancer mostly steers around the slow
              replica, and hedging is hardly exercised)
Latency = client round trip (the root's took_ms is kept too); p50/p99/p99.9
over all timed requests of a run. Hedge rate = delta of trawl_hedges_total /
delta of trawl_leaf_searches_total over the timed passes (from the root's
/metrics); also hedges per HTTP query and hedge wins.
RUNS runs of each cluster, alternating faulty / fault-free; medians of runs.

Environment: BUILD=build RUNS=3 PASSES=5 LEAF_WORKERS=2 DELAY=0.1:50 RUN=name
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib as L  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(L.REPO, "build")))
RUNS = int(os.environ.get("RUNS", "3"))
PASSES = int(os.environ.get("PASSES", "5"))
LEAF_WORKERS = os.environ.get("LEAF_WORKERS", "2")
DELAY = os.environ.get("DELAY", "0.1:50")
RUN = os.environ.get("RUN", "hedge-" + time.strftime("%Y%m%d-%H%M%S"))
OUT = os.path.join(L.HERE, "results", RUN)
SEED = int(os.environ.get("SEED", "4"))
# kind -> (extra parameters, a fresh preference per request?)
MODES = {"top10": ({"count": "false"}, False), "top10count": ({}, False),
         "top10pref": ({"count": "false"}, True)}


def start_cluster(trawl, idx, work, faulty, tag):
    leaves, procs, hports = [], [], []
    for s in range(4):
        for rep in range(2):
            port, hport = L.free_port(), L.free_port()
            url = f"tcp://127.0.0.1:{port}"
            cmd = [trawl, "leaf", "--index", idx, "--shards", str(s), "--listen", url,
                   "--workers", LEAF_WORKERS, "--http", f"127.0.0.1:{hport}", "--quiet"]
            if faulty and s == 0 and rep == 1:
                cmd += ["--delay", DELAY]
            procs.append(L.start(cmd, os.path.join(work, f"{tag}-leaf{s}.{rep}.log")))
            leaves.append((url, [s]))
            hports.append(hport)
    for p, h in zip(procs, hports):
        L.wait_http(h, "/readyz", timeout=120, proc=p)
    cfile = os.path.join(work, f"{tag}-cluster.json")
    L.write_cluster(cfile, 4, leaves)
    rport = L.free_port()
    rp = L.start([trawl, "root", "--cluster", cfile, "--http", f"127.0.0.1:{rport}",
                  "--cache-mb", "0", "--quiet"], os.path.join(work, f"{tag}-root.log"))
    procs.append(rp)
    L.wait_http(rport, "/readyz", timeout=60, proc=rp)
    # every replica healthy (not only one per shard) before measuring
    t_end = time.time() + 30
    while time.time() < t_end:
        st, body = L.http_get(rport, "/_trawl/cluster")
        reps = json.loads(body)["replicas"]
        if all(r["state"] == "healthy" for r in reps):
            break
        time.sleep(0.2)
    return rport, procs, hports, [l[0] for l in leaves]


def one_run(trawl, idx, work, queries, faulty, run):
    tag = f"{'fault' if faulty else 'clean'}{run}"
    rport, procs, hports, urls = start_cluster(trawl, idx, work, faulty, tag)
    cli = L.Client(rport)
    rng = random.Random(SEED + run)
    res = {}
    seq = 0
    for m, (extra, pref) in MODES.items():
        paths = [L.search_path(q, 10, **extra) for q in queries]

        def path_of(i):
            nonlocal seq
            if not pref:
                return paths[i]
            seq += 1
            return paths[i] + f"&preference=u{seq}"
        order = list(range(len(queries)))
        rng.shuffle(order)
        for i in order:  # warm-up pass
            cli.get(path_of(i))
        before = L.metrics(rport)
        lat, took, bad = [], [], 0
        for ps in range(PASSES):
            rng.shuffle(order)
            for i in order:
                st, body, us = cli.get(path_of(i))
                j = json.loads(body) if st == 200 else None
                if st != 200 or j["coverage"]["shards"]["answered"] != 4 or j["cached"]:
                    bad += 1
                lat.append(us)
                if j:
                    took.append(j["took_ms"] * 1000.0)
        after = L.metrics(rport)
        d = {k: after.get(k, 0) - before.get(k, 0)
             for k in ("trawl_hedges_total", "trawl_leaf_searches_total", "trawl_hedge_wins_total",
                       "trawl_searches_total", "trawl_search_partial_total",
                       "trawl_search_errors_total")}
        res[m] = {"n": len(lat), "bad": bad,
                  "p50": L.pct(lat, 50), "p99": L.pct(lat, 99), "p999": L.pct(lat, 99.9),
                  "max": max(lat), "over_10ms": sum(1 for x in lat if x > 10000),
                  "over_40ms": sum(1 for x in lat if x > 40000),
                  "took_p50": L.pct(took, 50), "took_p99": L.pct(took, 99),
                  "hedges": d["trawl_hedges_total"], "leaf_searches": d["trawl_leaf_searches_total"],
                  "hedge_wins": d["trawl_hedge_wins_total"], "queries": d["trawl_searches_total"],
                  "partial": d["trawl_search_partial_total"],
                  "errors": d["trawl_search_errors_total"]}
        r = res[m]
        r["hedge_rate"] = r["hedges"] / r["leaf_searches"] if r["leaf_searches"] else float("nan")
        r["hedges_per_query"] = r["hedges"] / r["queries"] if r["queries"] else float("nan")
        L.log(f"{tag} {m}: p50 {r['p50']:.0f} us p99 {r['p99']:.0f} us p99.9 {r['p999']:.0f} us "
              f"max {r['max']:.0f} us; >40ms {r['over_40ms']}; hedges {r['hedges']:.0f}/"
              f"{r['leaf_searches']:.0f} leaf searches ({100 * r['hedge_rate']:.2f} %), wins "
              f"{r['hedge_wins']:.0f}; bad {bad}")
    st, body = L.http_get(rport, "/_trawl/cluster")
    res["replicas"] = [{k: x[k] for k in ("url", "state", "latency_ewma_ms", "requests",
                                           "failures", "ejections")}
                       for x in json.loads(body)["replicas"]]
    leafm = []
    for h in hports:
        mm = L.metrics(h)
        leafm.append(mm.get('trawl_leaf_requests_total{type="search"}', 0))
    res["leaf_searches_by_replica"] = leafm
    cli.close()
    for p in procs:
        L.stop(p)
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="trawl-bench-hedge-")
    L.log(f"work dir {work}; results in {OUT}")
    build = L.describe_build(BUILD)
    trawl = L.snapshot(BUILD, os.path.join(work, "bin"))
    corpus = L.protocol_corpus(work)
    queries = L.game_queries()
    idx = L.build_game_index(trawl, work, "idx4", corpus, 4)
    runs = {"fault": [], "clean": []}
    for run in range(RUNS):
        for faulty in ((True, False) if run % 2 == 0 else (False, True)):
            runs["fault" if faulty else "clean"].append(one_run(trawl, idx, work, queries, faulty, run))
    result = {"run": RUN, "machine": L.machine(), "build": build, "runs": RUNS,
              "passes": PASSES, "leaf_workers": LEAF_WORKERS, "delay": DELAY,
              "queries": len(queries), "results": runs}
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    report(result)
    L.stop_all()
    subprocess.run(["rm", "-rf", work], timeout=300)


def report(res):
    R = res["results"]
    print(f"\n# hedge: run {res['run']} ({res['machine']['date']}, load {res['machine']['loadavg']})")
    print(f"build {res['build']['commit']} (dirty: {', '.join(res['build']['dirty_files']) or '-'})"
          f"; 4 shards x 2 replicas, leaf workers {res['leaf_workers']}, fault --delay "
          f"{res['delay']} on one replica of shard 0; {res['runs']} runs x {res['passes']} passes "
          f"x {res['queries']} queries\n")
    print("| kind | cluster | p50 us | p99 us | p99.9 us | max us | requests > 40 ms | hedges / leaf searches | hedges per query | hedge wins |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in MODES:
        for c in ("clean", "fault"):
            rs = [r[m] for r in R[c]]

            def cell(k, fmt="{:,.0f}"):
                xs = [r[k] for r in rs]
                return fmt.format(L.median(xs)) + " [" + " / ".join(fmt.format(x) for x in xs) + "]"
            print(f"| {m} | {c} | {cell('p50')} | {cell('p99')} | {cell('p999')} | {cell('max')} | "
                  f"{cell('over_40ms')} | {cell('hedge_rate', '{:.2%}')} | "
                  f"{cell('hedges_per_query', '{:.3f}')} | {cell('hedge_wins')} |")
    print()
    for m in MODES:
        f = L.median([r[m]["p99"] for r in R["fault"]])
        c = L.median([r[m]["p99"] for r in R["clean"]])
        hr = L.median([r[m]["hedge_rate"] for r in R["fault"]])
        print(f"{m}: p99 fault / fault-free = {f:,.0f} / {c:,.0f} us = {f / c:.2f} (target <= 3); "
              f"hedge rate with the fault {hr:.2%} (target < 5 %)")
    print("\nsearches per replica (leaf counters; replica order s0r0 s0r1* s1r0 s1r1 ...; * = "
          "the faulty one in fault runs):")
    for c in ("clean", "fault"):
        for r in R[c]:
            print(f"  {c}: {[int(x) for x in r['leaf_searches_by_replica']]}")


if __name__ == "__main__":
    main()
