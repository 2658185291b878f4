#!/usr/bin/env python3
"""ratios.py RESULTS.json [MORE.json...] - trawl against Lucene (and the
other engines) from one bench_driver.py run: latency mean and p99 per
command and query tag, the mean ratio trawl/Lucene, and the build figures.
Prints markdown. Given several runs' results.json, it prints each run's
tables, then the median over the runs of every ratio (trawl/Lucene mean
and p99 per cell; build docs/s against Lucene and FTS5) and, when the runs
measured another peer too (Xapian), every engine's median mean latency per
cell with trawl's ratio to each peer, and the builds."""
import json
import statistics
import sys


def main(path):
    d = json.load(open(path))
    lat = {(r["engine"], r["command"], r["tag"]): r for r in d["latency"]}
    engines = [e for e in d["meta"]["engines"] if e != "null"]
    print(f"run `{d['meta']['run_name']}`: {d['meta']['corpus_docs']} docs, "
          f"{d['meta']['n_queries']} queries\n")
    print("| command | tag | n | " + " | ".join(f"{e} mean / p99 µs" for e in engines)
          + " | trawl/lucene mean | trawl/lucene p99 |")
    print("|---|---|---|" + "---|" * len(engines) + "---|---|")
    tags = ["term", "union", "intersection", "phrase", "intersection_union", "negated",
            "two-phase-critic", "ALL"]
    for cmd in d["meta"]["commands"]:
        for tag in tags:
            row = [lat.get((e, cmd, tag)) for e in engines]
            if not row[0]:
                continue
            cells = [f"{r['mean_us']:,.0f} / {r['p99_us']:,.0f}" if r else "-" for r in row]
            t, l = lat.get(("trawl", cmd, tag)), lat.get(("lucene", cmd, tag))
            rm = f"{t['mean_us'] / l['mean_us']:.2f}" if t and l else "-"
            rp = f"{t['p99_us'] / l['p99_us']:.2f}" if t and l else "-"
            print(f"| {cmd} | {tag} | {row[0]['n_queries']} | " + " | ".join(cells)
                  + f" | {rm} | {rp} |")
    print("\n| engine | build wall s (median) | docs/s | index MB |")
    print("|---|---|---|---|")
    for e in engines:
        b = d["builds"].get(e)
        if b:
            print(f"| {e} | {b['wall_s']:.2f} | {b['docs_per_s']:,.0f} | {b['index_mb']:.2f} |")
    c = d["checks"]["count_disagreement"]
    print(f"\nCOUNT disagreements between engines: {c['n_disagree']} of {c['n_queries']} queries.")
    for pair, o in d["top10_overlap"].items():
        if "trawl" in pair:
            print(f"TOP_10 overlap {pair}: {o['mean_overlap_at_10']:.3f}")


def ratios_of(path):
    """{(command, tag): (mean ratio, p99 ratio)} and build ratios of one run."""
    d = json.load(open(path))
    lat = {(r["engine"], r["command"], r["tag"]): r for r in d["latency"]}
    out = {}
    for (e, cmd, tag), t in lat.items():
        lu = lat.get(("lucene", cmd, tag))
        if e == "trawl" and lu:
            out[(cmd, tag)] = (t["mean_us"] / lu["mean_us"], t["p99_us"] / lu["p99_us"])
    b = d["builds"]
    build = {}
    for peer in ("lucene", "fts5"):
        if "trawl" in b and peer in b:
            build[peer] = b["trawl"]["docs_per_s"] / b[peer]["docs_per_s"]
    return d["meta"]["run_name"], d["meta"]["commands"], out, build


def medians(paths):
    runs = [ratios_of(p) for p in paths]
    names = [r[0] for r in runs]
    print(f"\n## median over runs {', '.join(names)}\n")
    print("| command | tag | trawl/lucene mean: median [per run] | p99: median [per run] |")
    print("|---|---|---|---|")
    tags = ["term", "union", "intersection", "phrase", "intersection_union", "negated",
            "two-phase-critic", "ALL"]
    for cmd in runs[0][1]:
        for tag in tags:
            vals = [r[2].get((cmd, tag)) for r in runs]
            if any(v is None for v in vals):
                continue
            m = [v[0] for v in vals]
            p = [v[1] for v in vals]
            print(f"| {cmd} | {tag} | {statistics.median(m):.2f} [{' / '.join(f'{x:.2f}' for x in m)}]"
                  f" | {statistics.median(p):.2f} [{' / '.join(f'{x:.2f}' for x in p)}] |")
    for peer in ("lucene", "fts5"):
        v = [r[3].get(peer) for r in runs]
        if all(x is not None for x in v):
            print(f"\nbuild docs/s trawl/{peer}: median {statistics.median(v):.2f} "
                  f"[{' / '.join(f'{x:.2f}' for x in v)}]")
    all_peers(paths)


def all_peers(paths):
    """Every engine of the runs: the median over runs of its mean latency per
    cell, and trawl/peer as the median over runs of each run's ratio of
    means; then the builds. Printed only when the runs have a peer besides
    Lucene and FTS5 (the tables above cover those two)."""
    ds = [json.load(open(p)) for p in paths]
    engines = [e for e in ds[0]["meta"]["engines"] if e != "null"]
    if not set(engines) - {"lucene", "fts5", "trawl"} or "trawl" not in engines:
        return
    peers = [e for e in engines if e != "trawl"]
    lats = [{(r["engine"], r["command"], r["tag"]): r for r in d["latency"]} for d in ds]
    print(f"\n## every engine, median over runs {', '.join(d['meta']['run_name'] for d in ds)}\n")
    print("| command | tag | n | " + " | ".join(f"{e} mean µs" for e in engines) + " | "
          + " | ".join(f"trawl/{e} mean" for e in peers) + " |")
    print("|---|---|---|" + "---|" * (len(engines) + len(peers)))
    tags = ["term", "union", "intersection", "phrase", "intersection_union", "negated",
            "two-phase-critic", "ALL"]
    for cmd in ds[0]["meta"]["commands"]:
        for tag in tags:
            rows = [[lat.get((e, cmd, tag)) for e in engines] for lat in lats]
            if any(r is None for row in rows for r in row):
                continue
            n = rows[0][0]["n_queries"]
            means = [statistics.median(row[i]["mean_us"] for row in rows)
                     for i in range(len(engines))]
            t = engines.index("trawl")
            rat = [statistics.median(row[t]["mean_us"] / row[engines.index(e)]["mean_us"]
                                     for row in rows) for e in peers]
            print(f"| {cmd} | {tag} | {n} | " + " | ".join(f"{m:,.0f}" for m in means) + " | "
                  + " | ".join(f"{x:.2f}" for x in rat) + " |")
    print("\n| engine | build wall s: median [per run] | docs/s (median) | index MB |")
    print("|---|---|---|---|")
    for e in engines:
        bs = [d["builds"].get(e) for d in ds]
        if all(bs):
            walls = " / ".join(f"{b['wall_s']:.2f}" for b in bs)
            print(f"| {e} | {statistics.median(b['wall_s'] for b in bs):.2f} [{walls}] | "
                  f"{statistics.median(b['docs_per_s'] for b in bs):,.0f} | "
                  f"{statistics.median(b['index_mb'] for b in bs):.2f} |")


if __name__ == "__main__":
    for path in sys.argv[1:]:
        main(path)
    if len(sys.argv) > 2:
        medians(sys.argv[1:])
