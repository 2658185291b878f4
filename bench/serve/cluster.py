#!/usr/bin/env python3
"""cluster.py - uncached enwiki-passages queries through a 4-shard trawl
cluster on loopback, against the in-process latency of the same queries, and
the cluster's throughput against Sphinx's distributed index over two local
agents (issue #4's second serving figure). Run through bench/serve/cluster.sh.

Index: enwiki-passages in the game's {"id","text"} form (the file the peers
index), with the game's schema (bench/game/build_index.c: one `text` field,
plain analyzer, BM25 k1 1.2 b 0.75, only ids stored), built twice with
`trawl index`: 4 shards for the cluster, 1 shard for the in-process side.
Queries: the game's 962 (queries-sbg.jsonl), in trawl/game syntax as they are.

Cluster: 4 x `trawl leaf --shards i --workers 1 --queue CONC` (one shard
each, tcp on 127.0.0.1; the queue lets every client's search wait, where
the default, 2 per worker, refuses the rest as overloaded), one `trawl
root --cache-mb 0`.

Latency (sequential, one query at a time): RUNS runs; each is a warm-up pass
and PASSES timed passes in a new random order. For every query, in a random
order of the three:
  in-process  one `TOP_10<TAB>q` line written to build/bench/game/do_query on
              the 1-shard build and its answer read back (pipe round trip,
              timed in this script; nothing subtracted): the bare engine;
  serve       the same GET as below to `trawl serve` on the 1-shard build
              (--cache-mb 0, --workers LEAF_WORKERS): root and leaf in one
              process, the root calling its leaf on its own thread, the
              issue's single-node mode, with the same HTTP and root code as
              the cluster;
  cluster     GET /search?q=..&k=10&count=false over one keep-alive
              http.client connection (the HTTP client round trip included),
              and the root's own took_ms from the body.
The schema stores only ids, so neither serve nor the cluster FETCHes: the
ids come with the SEARCH replies (WIRE_F_IDS).
Both do the same work: top 10, no exact count. A second pair does top 10
with the exact count (TOP_10_COUNT vs the API's default count=true).
Per query the median of its PASSES samples; p50/p99 over the 962 queries.

Throughput (CONC concurrent closed-loop clients, DURATION s each, REPS
repetitions, engines alternating):
  trawl   wrk -t2 -cCONC with a Lua script cycling over the 962 query URLs
          (k=10&count=false; and the default count=true);
  sphinx  the peers' sphinx_dist cluster (2 searchd agents + a master with a
          distributed index, agent_persistent, as engines/sphinx_dist/do_query
          starts it), CONC processes of its client bin/sphinx_query (SphinxQL,
          one connection each), each fed the 962 queries (TOP_10, and
          TOP_10_COUNT) in its own random order, repeated; answers counted
          between WARM s and DURATION s.
Both report answered queries per second; the report gives trawl's
answers that were not 200 and calls the run INVALID when there are any.

Environment: BUILD=build RUNS=3 PASSES=5 REPS=3 DURATION=15 WARM=2 CONC=8
PEERS=/tmp/peers RUN=name SKIP_SPHINX=0 SKIP_LATENCY=0
SKIP_THROUGHPUT=0 LEAVES=4 (a leaf process per shard; 2: two leaves of two shards,
as many as the machine has cores and as sphinx_dist has agents; 1: one leaf
serving shards 0-3) LEAF_WORKERS=1
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib as L  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(L.REPO, "build")))
RUNS = int(os.environ.get("RUNS", "3"))
PASSES = int(os.environ.get("PASSES", "5"))
REPS = int(os.environ.get("REPS", "3"))
DURATION = int(os.environ.get("DURATION", "15"))
WARM = float(os.environ.get("WARM", "2"))
CONC = int(os.environ.get("CONC", "8"))
PEERS = os.environ.get("PEERS", "/tmp/peers")
SKIP_SPHINX = os.environ.get("SKIP_SPHINX", "0") == "1"
SKIP_LAT = os.environ.get("SKIP_LATENCY", "0") == "1"
SKIP_TPUT = os.environ.get("SKIP_THROUGHPUT", "0") == "1"
RUN = os.environ.get("RUN", "cluster-" + time.strftime("%Y%m%d-%H%M%S"))
OUT = os.path.join(L.HERE, "results", RUN)
SEED = int(os.environ.get("SEED", "4"))
LEAVES = int(os.environ.get("LEAVES", "4"))  # 4: a leaf per shard; 2: shards 0-1, 2-3; 1: all
LEAF_WORKERS = os.environ.get("LEAF_WORKERS", "1")
# every client's search may wait at a leaf: the default queue (2 per worker)
# refuses the rest as overloaded, and the throughput run would count refusals
LEAF_QUEUE = max(CONC, 2 * int(LEAF_WORKERS))


class Pipe:
    """A protocol engine (COMMAND<TAB>QUERY lines), timed per round trip."""

    def __init__(self, cmd, logpath, env=None):
        lf = open(logpath, "ab")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=lf, env=env)
        lf.close()
        L._procs.append(self.p)

    def ask(self, line):
        t0 = time.perf_counter_ns()
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        ans = self.p.stdout.readline()
        t1 = time.perf_counter_ns()
        if not ans:
            raise RuntimeError("engine exited")
        return ans.decode().strip(), (t1 - t0) / 1000.0

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        L.stop(self.p)


def start_cluster(trawl, idx4, work):
    leaves = []
    procs = []
    if LEAVES not in (1, 2, 4):
        raise SystemExit("LEAVES must be 1, 2 or 4")
    groups = [list(range(i * (4 // LEAVES), (i + 1) * (4 // LEAVES))) for i in range(LEAVES)]
    for g in groups:
        port, hport = L.free_port(), L.free_port()
        url = f"tcp://127.0.0.1:{port}"
        p = L.start([trawl, "leaf", "--index", idx4, "--shards", ",".join(map(str, g)),
                     "--listen", url, "--workers", LEAF_WORKERS, "--queue", str(LEAF_QUEUE),
                     "--http", f"127.0.0.1:{hport}",
                     "--quiet"], os.path.join(work, f"leaf{g[0]}.log"))
        procs.append(p)
        leaves.append((url, g))
        L.wait_http(hport, "/readyz", timeout=120, proc=p)
    cfile = os.path.join(work, "cluster.json")
    L.write_cluster(cfile, 4, leaves)
    rport = L.free_port()
    rp = L.start([trawl, "root", "--cluster", cfile, "--http", f"127.0.0.1:{rport}",
                  "--cache-mb", "0", "--quiet"],
                 os.path.join(work, "root.log"))
    procs.append(rp)
    L.wait_http(rport, "/readyz", timeout=60, proc=rp)
    return rport, procs


def start_serve(trawl, idx1, work):
    """`trawl serve` on the 1-shard build: root and leaf in one process over
    nng inproc://, the same HTTP and root code as the cluster, no cache."""
    port = L.free_port()
    p = L.start([trawl, "serve", idx1, "--http", f"127.0.0.1:{port}", "--cache-mb", "0",
                 "--workers", LEAF_WORKERS], os.path.join(work, "serve.log"))
    L.wait_http(port, "/readyz", timeout=120, proc=p)
    return port, p


def latency(trawl, idx1, rport, queries, work):
    dq = Pipe([os.path.join(os.path.dirname(os.path.dirname(trawl)), "bench", "game", "do_query"),
               idx1], os.path.join(work, "do_query.log"))
    sport, sproc = start_serve(trawl, idx1, work)
    cli = L.Client(rport)
    scli = L.Client(sport)
    modes = {"top10": ("TOP_10", {"count": "false"}), "top10count": ("TOP_10_COUNT", {})}
    paths = {m: [L.search_path(q, 10, **extra) for q in queries] for m, (_, extra) in modes.items()}
    rng = random.Random(SEED)
    runs = []
    mismatches = {}
    for run in range(RUNS):
        samples = {m: {"inproc": [[] for _ in queries], "serve": [[] for _ in queries],
                       "cluster": [[] for _ in queries], "took": [[] for _ in queries]}
                   for m in modes}
        floor = []
        for ps in range(PASSES + 1):  # pass 0: warm-up, not kept
            order = list(range(len(queries)))
            rng.shuffle(order)
            for i in order:
                for m, (cmd, _) in modes.items():
                    sides = ["inproc", "serve", "cluster"]
                    rng.shuffle(sides)
                    for side in sides:
                        if side == "inproc":
                            ans, us = dq.ask(f"{cmd}\t{queries[i]}")
                            if ps:
                                samples[m]["inproc"][i].append(us)
                            inproc_ans = ans
                        elif side == "serve":
                            st, body, us = scli.get(paths[m][i])
                            if st != 200:
                                raise RuntimeError(f"serve {paths[m][i]}: HTTP {st}: {body[:300]}")
                            if json.loads(body)["cached"]:
                                raise RuntimeError(f"serve {paths[m][i]}: cached: {body[:300]}")
                            if ps:
                                samples[m]["serve"][i].append(us)
                        else:
                            st, body, us = cli.get(paths[m][i])
                            if st != 200:
                                raise RuntimeError(f"{paths[m][i]}: HTTP {st}: {body[:300]}")
                            j = json.loads(body)
                            if j["coverage"]["shards"]["answered"] != 4 or j["cached"]:
                                raise RuntimeError(f"{paths[m][i]}: partial or cached: {body[:300]}")
                            if ps:
                                samples[m]["cluster"][i].append(us)
                                samples[m]["took"][i].append(j["took_ms"] * 1000.0)
                            http_ans = str(j["total"]["value"] if cmd.endswith("COUNT")
                                           else len(j["hits"]))
                    if ps == 0 and run == 0 and inproc_ans != http_ans:
                        mismatches.setdefault(m, []).append((queries[i], inproc_ans, http_ans))
            # the HTTP floor of this client: GET /livez on the same connection
            for _ in range(200):
                st, body, us = cli.get("/livez")
                if ps:
                    floor.append(us)
            L.log(f"latency run {run} pass {ps} done")
        r = {"floor_livez_p50_us": L.pct(floor, 50)}
        for m in modes:
            med = {side: [L.median(x) for x in samples[m][side]]
                   for side in ("inproc", "serve", "cluster", "took")}
            r[m] = {side: {"p50": L.pct(v, 50), "p99": L.pct(v, 99), "mean": sum(v) / len(v)}
                    for side, v in med.items()}
            r[m]["diff_p50"] = r[m]["cluster"]["p50"] - r[m]["inproc"]["p50"]
            r[m]["diff_serve_p50"] = r[m]["cluster"]["p50"] - r[m]["serve"]["p50"]
            # per query: cluster minus in-process
            dif = [c - p for c, p in zip(med["cluster"], med["inproc"])]
            r[m]["per_query_diff_p50"] = L.pct(dif, 50)
            r[m]["per_query_medians"] = med
        runs.append(r)
        L.log(f"latency run {run}: " + "; ".join(
            f"{m}: inproc p50 {r[m]['inproc']['p50']:.0f} us, serve p50 "
            f"{r[m]['serve']['p50']:.0f} us, cluster p50 "
            f"{r[m]['cluster']['p50']:.0f} p99 {r[m]['cluster']['p99']:.0f} us, root took p50 "
            f"{r[m]['took']['p50']:.0f} us" for m in modes) + f"; livez floor {r['floor_livez_p50_us']:.0f} us")
    cli.close()
    scli.close()
    dq.close()
    L.stop(sproc)
    return runs, mismatches


# ---- throughput ----

def trawl_tput(rport, queries, work, mode):
    extra = {"count": "false"} if mode == "top10" else {}
    lua = L.wrk_lua_paths([L.search_path(q, 10, **extra) for q in queries],
                          os.path.join(work, f"cluster-{mode}.lua"))
    before = L.metrics(rport)
    r = L.wrk(f"http://127.0.0.1:{rport}/", DURATION, CONC, 2, lua, timeout_s=10)
    after = L.metrics(rport)
    r["searches"] = after["trawl_searches_total"] - before["trawl_searches_total"]
    r["errors"] = after["trawl_search_errors_total"] - before["trawl_search_errors_total"]
    r["partial"] = after["trawl_search_partial_total"] - before["trawl_search_partial_total"]
    r["qps"] = r["rps"]
    return r


def start_sphinx(idx, work):
    sys.path.insert(0, os.path.join(PEERS, "engines", "sphinx"))
    import sphinx_ctl as S  # the peers' own config templates and starter
    agents = []
    for i in range(2):
        p = L.free_port()
        proc = S.start_searchd(idx, f"agent{i}", S.INDEX_TMPL.format(i=i, d=idx), p, "")
        L._procs.append(proc)
        agents.append((p, i))
    port = L.free_port()
    body = "index dist\n{\n    type = distributed\n"
    for p, i in agents:
        body += f"    agent_persistent = 127.0.0.1:{p}:shard{i}\n"
    body += "    agent_connect_timeout = 1000\n    agent_query_timeout = 60000\n}\n"
    proc = S.start_searchd(idx, "master", body, port, ":mysql41")
    L._procs.append(proc)
    return port


def sphinx_tput(port, queries, work, mode, rep):
    client = os.path.join(PEERS, "engines", "sphinx", "bin", "sphinx_query")
    cmd = "TOP_10" if mode == "top10" else "TOP_10_COUNT"
    procs, counts, stamps = [], [], []
    rng = random.Random(SEED * 1000 + rep)
    for c in range(CONC):
        f = os.path.join(work, f"sphinx-{mode}-{c}.txt")
        with open(f, "w") as fh:
            for _ in range(40):  # far more than DURATION s can answer
                order = list(queries)
                rng.shuffle(order)
                fh.writelines(f"{cmd}\t{q}\n" for q in order)
        procs.append(subprocess.Popen([client, str(port), "dist"], stdin=open(f),
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        L._procs.append(procs[-1])
    t0 = time.perf_counter()
    cnt = [[0, 0, 0] for _ in procs]  # answered before WARM, before DURATION, UNSUPPORTED

    def reader(i, p):
        for line in p.stdout:
            t = time.perf_counter() - t0
            if t < WARM:
                cnt[i][0] += 1
            elif t < DURATION:
                cnt[i][1] += 1
            else:
                break
            if line.startswith(b"UNSUPPORTED") or line.startswith(b"-1"):
                cnt[i][2] += 1

    ths = [threading.Thread(target=reader, args=(i, p), daemon=True) for i, p in enumerate(procs)]
    for t in ths:
        t.start()
    time.sleep(DURATION + 0.2)
    for p in procs:
        L.stop(p, timeout=5)
    for t in ths:
        t.join(timeout=5)
    n = sum(c[1] for c in cnt)
    return {"qps": n / (DURATION - WARM), "answered": n, "bad": sum(c[2] for c in cnt),
            "cmd": f"{CONC} x {client} {port} dist < ({cmd} lines, 962 queries x 40 shuffled)"}


def sphinx_seq(port, queries, work):
    """One sequential pass (TOP_10) through the master, for context."""
    client = os.path.join(PEERS, "engines", "sphinx", "bin", "sphinx_query")
    p = Pipe([client, str(port), "dist"], os.path.join(work, "sphinx-seq.log"))
    for q in queries[:50]:
        p.ask(f"TOP_10\t{q}")
    us = []
    order = list(queries)
    random.Random(SEED).shuffle(order)
    for q in order:
        us.append(p.ask(f"TOP_10\t{q}")[1])
    p.close()
    return {"p50": L.pct(us, 50), "p99": L.pct(us, 99), "mean": sum(us) / len(us)}


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="trawl-bench-cluster-")
    os.chmod(work, 0o755)
    L.log(f"work dir {work}; results in {OUT}")
    build = L.describe_build(BUILD)
    trawl = L.snapshot(BUILD, os.path.join(work, "bin"))
    corpus = L.protocol_corpus(work)
    queries = L.game_queries()
    idx4 = L.build_game_index(trawl, work, "idx4", corpus, 4)
    idx1 = L.build_game_index(trawl, work, "idx1", corpus, 1)
    rport, cprocs = start_cluster(trawl, idx4, work)
    result = {"run": RUN, "machine": L.machine(), "build": build, "corpus": corpus,
              "queries": len(queries), "runs": RUNS, "passes": PASSES, "conc": CONC,
              "duration": DURATION, "warm": WARM, "reps": REPS,
              "leaves": LEAVES, "leaf_workers": LEAF_WORKERS}
    if not SKIP_LAT:
        lat, mism = latency(trawl, idx1, rport, queries, work)
        result["latency_runs"] = [{k: (v if not isinstance(v, dict) else
                                       {a: b for a, b in v.items() if a != "per_query_medians"})
                                   for k, v in r.items()} for r in lat]
        result["answer_mismatches"] = mism
        with open(os.path.join(OUT, "per_query.json"), "w") as f:
            json.dump({"queries": queries,
                       "runs": [{m: r[m]["per_query_medians"] for m in ("top10", "top10count")}
                                for r in lat]}, f)
    if not SKIP_TPUT:
        sport = None
        if not SKIP_SPHINX:
            sidx = os.path.join(work, "sphinx_dist")
            t0 = time.time()
            with open(corpus, "rb") as fin:
                L.run([os.path.join(PEERS, "engines", "sphinx_dist", "build_index"), sidx],
                      timeout=1800, check=True, stdin=fin, stdout=subprocess.DEVNULL)
            L.log(f"sphinx_dist index built in {time.time() - t0:.1f} s")
            sport = start_sphinx(sidx, work)
            result["sphinx_seq_top10"] = sphinx_seq(sport, queries, work)
            L.log(f"sphinx_dist sequential TOP_10: {result['sphinx_seq_top10']}")
        tp = {f"{e}-{m}": [] for m in ("top10", "top10count") for e in ("trawl", "sphinx")}
        raw = open(os.path.join(OUT, "throughput.txt"), "w")
        for rep in range(REPS):
            for m in ("top10", "top10count"):
                engines = ["trawl", "sphinx"] if rep % 2 == 0 else ["sphinx", "trawl"]
                for e in engines:
                    if e == "sphinx" and sport is None:
                        continue
                    r = trawl_tput(rport, queries, work, m) if e == "trawl" else \
                        sphinx_tput(sport, queries, work, m, rep)
                    tp[f"{e}-{m}"].append(r)
                    raw.write(f"### rep {rep} {e}-{m}\n$ {r['cmd']}\n{r.get('raw', json.dumps(r))}\n")
                    raw.flush()
                    L.log(f"throughput rep {rep} {e}-{m}: {r['qps']:.0f} q/s"
                          + (f" (p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms, non2xx "
                             f"{r['non2xx']}, errors {r['errors']:.0f}, partial {r['partial']:.0f})"
                             if e == "trawl" else f" (bad answers {r['bad']})"))
        raw.close()
        result["throughput"] = {k: {"qps": [r["qps"] for r in v],
                                    "qps_median": L.median([r["qps"] for r in v]),
                                    "cmd": v[0]["cmd"] if v else None,
                                    **({"p99_ms": [r["p99_ms"] for r in v],
                                        "p50_ms": [r["p50_ms"] for r in v],
                                        "non2xx": sum(r["non2xx"] for r in v),
                                        "errors": sum(r["errors"] for r in v),
                                        "partial": sum(r["partial"] for r in v)}
                                       if k.startswith("trawl") and v else {})}
                                for k, v in tp.items() if v}
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    report(result)
    L.stop_all()
    subprocess.run(["rm", "-rf", work], timeout=300)


def report(res):
    print(f"\n# cluster: run {res['run']} ({res['machine']['date']}, load {res['machine']['loadavg']})")
    print(f"build {res['build']['commit']} (dirty: {', '.join(res['build']['dirty_files']) or '-'})")
    print(f"cluster: {res['leaves']} leaf process(es) x --workers {res['leaf_workers']} over 4 "
          f"shards; root --cache-mb 0")
    if "latency_runs" in res:
        lr = res["latency_runs"]
        print(f"\n## latency, {res['queries']} queries, {res['runs']} runs x {res['passes']} passes "
              "(per-query median over passes; p50/p99 over queries; median of runs [each run])\n")
        print("| work | in-process p50 (do_query) | trawl serve p50 | cluster p50 | cluster p99 | root took_ms p50 | cluster p50 - do_query p50 | cluster p50 - serve p50 | per-query (cluster - do_query) p50 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for m in ("top10", "top10count"):
            def cell(f):
                xs = [f(r[m]) for r in lr]
                return f"{L.median(xs):,.0f} [{' / '.join(f'{x:,.0f}' for x in xs)}]"
            print(f"| {m} | {cell(lambda r: r['inproc']['p50'])} | {cell(lambda r: r['serve']['p50'])} | "
                  f"{cell(lambda r: r['cluster']['p50'])} | "
                  f"{cell(lambda r: r['cluster']['p99'])} | {cell(lambda r: r['took']['p50'])} | "
                  f"{cell(lambda r: r['diff_p50'])} | {cell(lambda r: r['diff_serve_p50'])} | "
                  f"{cell(lambda r: r['per_query_diff_p50'])} |")
        fl = [r["floor_livez_p50_us"] for r in lr]
        print(f"\nHTTP floor (GET /livez, same client) p50: {L.median(fl):.0f} us "
              f"[{' / '.join(f'{x:.0f}' for x in fl)}]")
        print(f"answer mismatches (hits / totals, first pass): "
              f"{ {k: len(v) for k, v in res['answer_mismatches'].items()} or 0}")
    if "throughput" in res:
        print(f"\n## throughput, {res['conc']} concurrent clients, {res['reps']} reps x "
              f"{res['duration']} s\n")
        print("| engine-work | q/s median | q/s per rep | p50 / p99 ms per rep | not answered 200 |")
        print("|---|---|---|---|---|")
        for k, v in res["throughput"].items():
            lat = " / ".join(f"{a:.2f}, {b:.2f}" for a, b in zip(v.get("p50_ms", []),
                                                                 v.get("p99_ms", [])))
            print(f"| {k} | {v['qps_median']:,.0f} | {' / '.join(f'{x:,.0f}' for x in v['qps'])} "
                  f"| {lat or '-'} | {v.get('non2xx', '-')} |")
        bad = sum(v.get("non2xx", 0) for v in res["throughput"].values())
        if bad:
            print(f"\n**INVALID**: {bad} requests were not answered 200: these rates count "
                  "refusals, not answers.")
        for m in ("top10", "top10count"):
            t, s = res["throughput"].get(f"trawl-{m}"), res["throughput"].get(f"sphinx-{m}")
            if t and s:
                print(f"trawl/sphinx_dist {m}: {t['qps_median'] / s['qps_median']:.2f}")
        if "sphinx_seq_top10" in res:
            s = res["sphinx_seq_top10"]
            print(f"sphinx_dist sequential TOP_10 (1 pass, pipe round trip): p50 {s['p50']:.0f} us, "
                  f"p99 {s['p99']:.0f} us")


if __name__ == "__main__":
    main()
