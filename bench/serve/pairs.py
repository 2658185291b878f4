#!/usr/bin/env python3
"""pairs.py RUN_PREFIX [N] - a before-and-after comparison from cluster.sh
runs made in interleaved pairs: RUN_PREFIX-base1, RUN_PREFIX-new1, ...,
RUN_PREFIX-baseN, RUN_PREFIX-newN (each RUNS=1, SKIP_THROUGHPUT=1, the base
build given by BUILD=). For top-10 searches it prints, for the in-process
engine, `trawl serve` and the cluster, the median p50 of each side, the
median over pairs of new/base, and every pair's ratio: a load that moves
both sides of a pair moves the ratio little, where the sides' own medians
move with the hour. Markdown on standard output."""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(run):
    with open(os.path.join(HERE, "results", run, "result.json")) as f:
        d = json.load(f)
    return d["latency_runs"][0]["top10"], d["build"]["commit"]


def main(prefix, n):
    base = [load("%s-base%d" % (prefix, i)) for i in range(1, n + 1)]
    new = [load("%s-new%d" % (prefix, i)) for i in range(1, n + 1)]
    print("base build %s, new build %s; %d interleaved pairs; top 10, p50 µs\n" % (
        base[0][1], new[0][1], n))
    print("| side | base p50 (median) | new p50 (median) | new / base: median over pairs | each pair |")
    print("|---|---|---|---|---|")
    for side, what in (("inproc", "in-process (do_query)"), ("serve", "`trawl serve`"),
                       ("cluster", "cluster (4 leaves)"), ("took", "root took_ms")):
        b = [x[0][side]["p50"] for x in base]
        w = [x[0][side]["p50"] for x in new]
        r = [w[i] / b[i] for i in range(n)]
        print("| %s | %.0f | %.0f | **%.2f** | %s |" % (
            what, statistics.median(b), statistics.median(w), statistics.median(r),
            " / ".join("%.2f" % x for x in r)))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
