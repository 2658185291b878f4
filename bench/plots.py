#!/usr/bin/env python3
"""plots.py - the SVG plots that bench/RESULTS.md embeds, made with gnuplot
(apt-get install -y gnuplot-nox) from committed result files only:

  bench/speed-by-query-type.svg    mean latency per query type (TOP_10, COUNT,
                                   TOP_10_COUNT) of trawl and the peers, the
                                   median over the speed runs named below of
                                   each run's mean (the driver's summary.md
                                   files in bench/results/, log scale)
  bench/serve-latency-vs-load.svg  `trawl serve` under an open-loop load:
                                   p50 and p99 latency and the answered rate
                                   against the offered rate (result.json of a
                                   bench/serve/openload.sh run)

  python3 bench/plots.py [--speed RUN ...] [--load RUN]

The defaults are the newest runs, which RESULTS.md quotes; name others to
plot them. Python 3 standard library; this script writes the data and the
gnuplot program to a temporary directory and runs gnuplot on it.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
SPEED_RUNS = ["s6-a", "s6-b", "s6-c"]
LOAD_RUN = "s6-openload"
ENGINES = [("lucene", "Lucene 8.8.1"), ("xapian", "Xapian 1.4.22"), ("fts5", "SQLite FTS5 3.40.1"),
           ("trawl", "trawl")]
TAGS = ["union", "intersection", "phrase", "intersection_union", "negated", "term",
        "two-phase-critic"]
COMMANDS = ["TOP_10", "COUNT", "TOP_10_COUNT"]
SHORT = {"intersection_union": "intersect.+union", "two-phase-critic": "2-phase critic"}


def summary_latency(path):
    """{(engine, command, tag): (n, mean µs)} from the driver's summary.md
    (the table "Query latency", cells "mean / p50 / p99")."""
    out = {}
    engines = None
    for line in open(path):
        if line.startswith("| command | tag | n |"):
            engines = [c.strip().split(" ")[0] for c in line.strip().strip("|").split("|")[3:]]
            continue
        if engines and line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 3 + len(engines):
                engines = None
                continue
            cmd, tag, n = cells[0], cells[1], int(cells[2].replace(",", ""))
            for e, c in zip(engines, cells[3:]):
                out[(e, cmd, tag)] = (n, float(c.split("/")[0].replace(",", "")))
        elif engines and not line.strip():
            engines = None
    return out


def speed_data(runs, tmp):
    lat = [summary_latency(os.path.join(BENCH, "results", f"enwiki-{r}-summary.md")) for r in runs]
    have = [e for e, _ in ENGINES if all((e, "TOP_10", "union") in x for x in lat)]
    for cmd in COMMANDS:
        with open(os.path.join(tmp, f"speed-{cmd}.dat"), "w") as f:
            f.write("# tag n " + " ".join(have) + "   (median over runs of the mean, µs)\n")
            for tag in TAGS:
                if not all((e, cmd, tag) in x for e in have for x in lat):
                    continue
                n = lat[0][(have[0], cmd, tag)][0]
                vals = [statistics.median(x[(e, cmd, tag)][1] for x in lat) for e in have]
                label = f"{SHORT.get(tag, tag)} ({n})"
                f.write(f'"{label}" {n} ' + " ".join(f"{v:.1f}" for v in vals) + "\n")
    return have


def speed_plot(runs, tmp, out):
    have = speed_data(runs, tmp)
    names = dict(ENGINES)
    colors = {"lucene": "#e08214", "xapian": "#8073ac", "fts5": "#7f7f7f", "trawl": "#1b7837"}
    g = [f"set terminal svg size 1200,900 dynamic noenhanced font 'sans,11' background rgb 'white'",
         f"set output '{out}'",
         "set multiplot layout 3,1 title "
         f"\"Mean latency per query type, enwiki-passages (164,440 docs), one query at a time, "
         f"warm\\nmedian over runs {', '.join(runs)} of each run's mean; "
         f"(n) = queries of the type; the driver's pipe round trip is included\"",
         "set style data histogram", "set style histogram clustered gap 1",
         "set style fill solid 0.9 border -1", "set boxwidth 0.9",
         "set logscale y", "set yrange [5:1e6]", "set xrange [-0.6:*]",
         "set ytics ('10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 1e4, '100 ms' 1e5, "
         "'1 s' 1e6)", "set ylabel 'mean latency (log scale)'",
         "set grid ytics", "set key top right horizontal", "set xtics nomirror scale 0",
         "set tmargin 3"]
    for i, cmd in enumerate(COMMANDS):
        dat = os.path.join(tmp, f"speed-{cmd}.dat")
        g.append(f"set title '{cmd}'")
        g.append("unset key" if i else "set key")
        parts = []
        for j, e in enumerate(have):
            xt = ":xtic(1)" if j == 0 else ""
            parts.append(f"'{dat}' using {j + 3}{xt} title '{names[e]}' lc rgb '{colors[e]}'")
        g.append("plot " + ", ".join(parts))
    g.append("unset multiplot")
    return g


def load_plot(run, tmp, out):
    res = json.load(open(os.path.join(BENCH, "serve", "results", run, "result.json")))
    with open(os.path.join(tmp, "load-med.dat"), "w") as f:
        f.write("# fraction offered answered p50_ms p99_ms failed_pct refused_pct\n")
        for r in res["median"]:
            f.write(f"{r['fraction']} {r['offered_rps']:.1f} {r['answered_rps']:.1f} "
                    f"{r['p50_ms']} {r['p99_ms']} {100 * r['share_failed']:.3f} "
                    f"{100 * r['share_refused']:.3f}\n")
    with open(os.path.join(tmp, "load-reps.dat"), "w") as f:
        f.write("# offered p50_ms p99_ms (every repetition)\n")
        for rep in res["repetitions"]:
            for s in rep["steps"]:
                if s["p50_ms"] is not None:
                    f.write(f"{s['offered_rps']:.1f} {s['p50_ms']} {s['p99_ms']}\n")
    cap = res["capacity_rps"]
    med = os.path.join(tmp, "load-med.dat")
    reps = os.path.join(tmp, "load-reps.dat")
    b = res["build"]["commit"]
    date = res["machine"]["date"]
    g = [f"set terminal svg size 900,750 dynamic noenhanced font 'sans,11' background rgb 'white'",
         f"set output '{out}'",
         "set multiplot layout 2,1 title "
         f"\"trawl serve, data/wiki-demo, no cache, open-loop load at fixed rates\\n"
         f"run {run}, build {b}, {date}; medians of {res['reps']} repetitions (small "
         f"points: each one)\\ndashed line: capacity, closed loop with {res['cap_conns']} "
         f"connections, {cap:,.0f} req/s\"",
         "set grid", "set key top left", "set xlabel 'offered load, requests/s'",
         f"set arrow 1 from {cap:.1f}, graph 0 to {cap:.1f}, graph 1 nohead dt 2 lc rgb '#555555'",
         "set logscale y", "set ylabel 'latency from due time, ms (log scale)'",
         "set title 'latency of answered requests'",
         f"plot '{med}' using 2:5 with linespoints lw 2 pt 7 lc rgb '#b2182b' title 'p99', "
         f"'{med}' using 2:4 with linespoints lw 2 pt 7 lc rgb '#2166ac' title 'p50', "
         f"'{reps}' using 1:3 with points pt 6 ps 0.6 lc rgb '#b2182b' notitle, "
         f"'{reps}' using 1:2 with points pt 6 ps 0.6 lc rgb '#2166ac' notitle",
         "unset logscale y", "set ylabel 'answered requests/s'", "set y2label 'failed or refused, % of requests'",
         "set y2tics", "set ytics nomirror", "set yrange [0:*]", "set y2range [0:100]",
         f"set title 'answered rate; failed = not sent within {res['deadline_s']:g} s of its due time, "
         f"or never answered'",
         f"plot '{med}' using 2:3 with linespoints lw 2 pt 7 lc rgb '#1b7837' title 'answered/s', "
         f"'{med}' using 2:2 with lines dt 3 lc rgb '#555555' title 'offered/s', "
         f"'{med}' using 2:6 axes x1y2 with linespoints lw 2 pt 5 lc rgb '#b2182b' "
         f"title 'failed %', "
         f"'{med}' using 2:7 axes x1y2 with linespoints lw 1 pt 4 lc rgb '#e08214' "
         f"title 'refused %'",
         "unset multiplot"]
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speed", nargs="+", default=SPEED_RUNS, metavar="RUN",
                    help="speed runs (bench/results/enwiki-RUN-summary.md)")
    ap.add_argument("--load", default=LOAD_RUN, metavar="RUN",
                    help="openload run (bench/serve/results/RUN/result.json)")
    a = ap.parse_args()
    if not shutil.which("gnuplot"):
        sys.exit("plots.py: gnuplot is missing (apt-get install -y gnuplot-nox)")
    tmp = tempfile.mkdtemp(prefix="trawl-plots-")
    try:
        for name, make, arg in (("speed-by-query-type.svg", speed_plot, a.speed),
                                ("serve-latency-vs-load.svg", load_plot, a.load)):
            out = os.path.join(BENCH, name)
            prog = os.path.join(tmp, name + ".gp")
            with open(prog, "w") as f:
                f.write("\n".join(make(arg, tmp, out)) + "\n")
            subprocess.run(["gnuplot", prog], check=True, timeout=120)
            # the SVG names no temporary path: gnuplot writes only the data
            with open(out) as f:
                svg = f.read()
            with open(out, "w") as f:
                f.write(re.sub(re.escape(tmp) + "/", "", svg))
            print(f"wrote {os.path.relpath(out)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
