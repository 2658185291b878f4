#!/usr/bin/env python3
"""ratios.py RESULTS.json - trawl against Lucene (and the other engines) from
one bench_driver.py run: latency mean and p99 per command and query tag,
the mean ratio trawl/Lucene, and the build figures. Prints markdown."""
import json
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
    tags = ["term", "union", "intersection", "phrase", "intersection_union", "negated", "ALL"]
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


if __name__ == "__main__":
    main(sys.argv[1])
