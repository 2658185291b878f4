#!/usr/bin/env python3
"""overhead.py - where the cluster's per-query time goes (a diagnostic for
cluster.sh, not an acceptance figure). Run through bench/serve/overhead.sh.

On the 4-shard game-schema build of enwiki-passages (see cluster.py), for
three topologies:
  4 leaves   4 x `trawl leaf --shards i --workers 1` (tcp), root --cache-mb 0
  1 leaf     1 x `trawl leaf --shards 0-3 --workers 1` (tcp), root --cache-mb 0
  serve      `trawl serve --cache-mb 0` (root and leaf in one process, inproc)
and three queries sent one at a time over a keep-alive connection (k=10,
count=false), N times each after 100 warm-up requests:
  zzzqqqxx                 matches nothing
  +griffith +observatory   1 hit
  griffith observatory     10 hits
(one SEARCH round trip each since session 4: the game schema stores only
ids, and they come with the SEARCH replies, so nothing is FETCHed)
it reports the root's took_ms p50, the client round trip p50, and (when
perf is installed) context switches, CPU migrations and CPU time per query
over all processes of the topology (perf stat -p).

Environment: BUILD=build N=2000 RUN=name
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib as L  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(L.REPO, "build")))
N = int(os.environ.get("N", "2000"))
RUN = os.environ.get("RUN", "overhead-" + time.strftime("%Y%m%d-%H%M%S"))
OUT = os.path.join(L.HERE, "results", RUN)
QUERIES = ["zzzqqqxx", "+griffith +observatory", "griffith observatory"]
HAVE_PERF = subprocess.run(["sh", "-c", "command -v perf"], capture_output=True).returncode == 0


def leaves(trawl, idx, work, groups):
    procs, ls = [], []
    for g in groups:
        port, hport = L.free_port(), L.free_port()
        url = f"tcp://127.0.0.1:{port}"
        p = L.start([trawl, "leaf", "--index", idx, "--shards", ",".join(map(str, g)), "--listen",
                     url, "--workers", "1", "--http", f"127.0.0.1:{hport}", "--quiet"],
                    os.path.join(work, "leaf.log"))
        L.wait_http(hport, "/readyz", timeout=120, proc=p)
        procs.append(p)
        ls.append((url, g))
    cfile = os.path.join(work, "cluster.json")
    L.write_cluster(cfile, 4, ls)
    rport = L.free_port()
    rp = L.start([trawl, "root", "--cluster", cfile, "--http", f"127.0.0.1:{rport}", "--cache-mb",
                  "0", "--quiet"], os.path.join(work, "root.log"))
    L.wait_http(rport, "/readyz", timeout=60, proc=rp)
    return rport, procs + [rp]


def measure(port, procs):
    cli = L.Client(port)
    out = {}
    for q in QUERIES:
        path = L.search_path(q, 10, count="false")
        for _ in range(100):
            cli.get(path)
        st = None
        if HAVE_PERF:
            st = subprocess.Popen(["perf", "stat", "-x", ",", "-e",
                                   "context-switches,cpu-migrations,task-clock", "-p",
                                   ",".join(str(p.pid) for p in procs)],
                                  stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
        took, rt, hits = [], [], 0
        t0 = time.perf_counter()
        for _ in range(N):
            s, body, us = cli.get(path)
            j = json.loads(body)
            took.append(j["took_ms"] * 1000)
            rt.append(us)
            hits = len(j["hits"])
        el = time.perf_counter() - t0
        r = {"took_p50": L.pct(took, 50), "client_p50": L.pct(rt, 50), "hits": hits,
             "qps_sequential": N / el}
        if st:
            time.sleep(0.3)
            st.send_signal(2)
            err = st.communicate(timeout=30)[1]
            for line in err.splitlines():
                f = line.split(",")
                if len(f) > 3:
                    try:
                        r[f[2]] = float(f[0]) / N
                    except ValueError:
                        pass
        out[q] = r
        L.log(f"  {q!r}: {r}")
    cli.close()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="trawl-bench-overhead-")
    build = L.describe_build(BUILD)
    trawl = L.snapshot(BUILD, os.path.join(work, "bin"))
    idx = L.build_game_index(trawl, work, "idx4", L.protocol_corpus(work), 4)
    res = {}
    for name, groups in (("4 leaves x 1 worker", [[0], [1], [2], [3]]),
                         ("1 leaf (shards 0-3) x 1 worker", [[0, 1, 2, 3]])):
        L.log(name)
        port, procs = leaves(trawl, idx, work, groups)
        res[name] = measure(port, procs)
        for p in procs:
            L.stop(p)
    L.log("serve")
    sport = L.free_port()
    sp = L.start([trawl, "serve", idx, "--http", f"127.0.0.1:{sport}", "--cache-mb", "0",
                  "--quiet"], os.path.join(work, "serve.log"))
    L.wait_http(sport, "/readyz", timeout=120, proc=sp)
    res["trawl serve (inproc)"] = measure(sport, [sp])
    L.stop(sp)
    result = {"run": RUN, "machine": L.machine(), "build": build, "n": N, "results": res}
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n# overhead: run {RUN} ({result['machine']['date']}, load "
          f"{result['machine']['loadavg']}); build {build['commit']}; {N} requests per cell\n")
    print("| topology | query | hits | root took p50 us | client p50 us | context switches / query | CPU ms / query |")
    print("|---|---|---|---|---|---|---|")
    for t, rs in res.items():
        for q, r in rs.items():
            print(f"| {t} | `{q}` | {r['hits']} | {r['took_p50']:.0f} | {r['client_p50']:.0f} | "
                  f"{r.get('context-switches', float('nan')):.0f} | "
                  f"{r.get('task-clock', float('nan')):.2f} |")
    L.stop_all()
    subprocess.run(["rm", "-rf", work], timeout=300)


if __name__ == "__main__":
    main()
