#!/usr/bin/env python3
"""split.py - what splitting the index into shards costs the search itself,
with no transport: the game's 962 enwiki-passages queries answered by
bench/game/do_query (the bare engine, one process) on builds of the same
corpus with 1, 2 and 4 shards. Part of the explanation of the cluster's
latency over `trawl serve` (bench/RESULTS.md, issue #4 figure 2): a leaf
that holds one of four shards does the work of the 4-shard row's one
quarter, at the same time as three others.

Each pass sends every query once to every build, in a new random order
(the builds in random order too), and times the pipe round trip of one
`CMD<TAB>query` line. This script and the do_query processes run pinned
to one CPU (PIN=0 turns that off): on this VM a pipe round trip whose
wake-up crosses to the other vCPU costs 30-60 us more than one that stays
(bench/serve/rpc_floor shows the same for TCP), and where the scheduler
puts each process would otherwise decide the comparison. Per query the median of PASSES passes (after one
warm-up pass); p50 and mean over the 962 queries.

Environment: BUILD=build PASSES=5 CMD=TOP_10 SHARDS=1,2,4 SEED=5 PIN=1
"""
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib as L  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(L.REPO, "build")))
PASSES = int(os.environ.get("PASSES", "5"))
CMD = os.environ.get("CMD", "TOP_10")
SHARDS = [int(x) for x in os.environ.get("SHARDS", "1,2,4").split(",")]
SEED = int(os.environ.get("SEED", "5"))
PIN = os.environ.get("PIN", "1") == "1" and len(os.sched_getaffinity(0)) > 1


def main():
    work = tempfile.mkdtemp(prefix="trawl-bench-split-")
    build = L.describe_build(BUILD)
    trawl = L.snapshot(BUILD, os.path.join(work, "bin"))
    do_query = os.path.join(os.path.dirname(os.path.dirname(trawl)), "bench", "game", "do_query")
    corpus = L.protocol_corpus(work)
    queries = L.game_queries()
    idxs = [L.build_game_index(trawl, work, f"idx{n}", corpus, n) for n in SHARDS]
    if PIN:  # after the builds, which use every core; children inherit it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    engines = []
    for idx in idxs:
        engines.append(subprocess.Popen([do_query, idx], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE))
    samples = [[[] for _ in queries] for _ in engines]
    answers = [[None] * len(queries) for _ in engines]
    rng = random.Random(SEED)
    for ps in range(PASSES + 1):
        order = list(range(len(queries)))
        rng.shuffle(order)
        for i in order:
            which = list(range(len(engines)))
            rng.shuffle(which)
            for e in which:
                p = engines[e]
                t0 = time.perf_counter_ns()
                p.stdin.write(f"{CMD}\t{queries[i]}\n".encode())
                p.stdin.flush()
                ans = p.stdout.readline()
                us = (time.perf_counter_ns() - t0) / 1000.0
                if not ans:
                    raise SystemExit("split.py: do_query exited")
                answers[e][i] = ans
                if ps:
                    samples[e][i].append(us)
    for p in engines:
        p.stdin.close()
        p.wait(timeout=30)
    subprocess.run(["rm", "-rf", work], timeout=300)
    print(f"# split: {CMD}, {len(queries)} queries, {PASSES} passes, pinned: {PIN}, build {build['commit']} "
          f"(dirty: {', '.join(build['dirty_files']) or '-'}), {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print("\n| shards | p50 us | mean us | p50 / 1-shard p50 |\n|---|---|---|---|")
    base = None
    for n, s in zip(SHARDS, samples):
        med = [L.median(x) for x in s]
        p50 = L.pct(med, 50)
        base = base or p50
        print(f"| {n} | {p50:.1f} | {sum(med) / len(med):.1f} | {p50 / base:.2f} |")
    same = all(a == answers[0] for a in answers)
    print(f"\nanswers identical across shard counts: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
