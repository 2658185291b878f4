#!/usr/bin/env python3
"""throughput.py - index build throughput on enwiki-passages, in one run
beside Lucene 8.8.1's single-threaded build (../shared/peers):

  lucene        engines/lucene/build_index  (1 thread + forceMerge(1))
  trawl game/W  bench/game/build_index with TRAWL_WORKERS=W: the same
                protocol corpus, one plain-analyzed field, ids stored only,
                as the Lucene peer
  trawl index/W `trawl index --workers W`: the original docs.jsonl, the
                default schema (title + body, English stemming, every field
                stored)

for W = 1 and 2. Each build runs REPS times, the order rotated every
repetition; medians are reported with docs/s, MB/s of input, and the
ratios: trawl 1 worker / Lucene, and 2 workers / 1 worker (the scaling).

usage: bench/build/throughput.py --peers WORK [--reps N] [--out FILE]
WORK is a set-up copy of ../shared/peers (bench/speed makes one)."""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "..", "shared", "data", "enwiki-passages", "docs.jsonl")


def timed(cmd, stdin=None, env=None):
    t0 = time.monotonic()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as f:
        subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, env=env)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    corpus = os.path.join(a.peers, "data", "enwiki_passages.jsonl")
    ndocs = sum(1 for _ in open(corpus, "rb"))
    work = tempfile.mkdtemp(prefix="trawl-tput-")
    trawl = os.path.join(ROOT, "build", "cli", "trawl")
    game = os.path.join(ROOT, "build", "bench", "game", "build_index")
    lucene = os.path.join(a.peers, "engines", "lucene", "build_index")

    def run(name):
        d = os.path.join(work, name.replace("/", "-").replace(" ", "-"))
        shutil.rmtree(d, ignore_errors=True)
        if name == "lucene":
            t = timed([lucene, d], stdin=corpus)
        elif name.startswith("trawl game/"):
            env = dict(os.environ, TRAWL_WORKERS=name.split("/")[1])
            t = timed([game, d], stdin=corpus, env=env)
        else:
            t = timed([trawl, "index", d, DOCS, "--workers", name.split("/")[1],
                       "--progress", "none"])
        shutil.rmtree(d, ignore_errors=True)
        return t

    names = ["lucene", "trawl game/1", "trawl game/2", "trawl index/1", "trawl index/2"]
    times = {n: [] for n in names}
    for rep in range(a.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for n in order:
            times[n].append(run(n))
            print("rep %d %-14s %.2f s" % (rep + 1, n, times[n][-1]), file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    med = {n: statistics.median(v) for n, v in times.items()}
    size = {n: os.path.getsize(DOCS if n.startswith("trawl index") else corpus) for n in names}
    lines = ["| build | median s (min-max) | docs/s | MB/s of input |", "|---|---|---|---|"]
    for n in names:
        lines.append("| %s | %.2f (%.2f-%.2f) | %.0f | %.1f |" % (
            n, med[n], min(times[n]), max(times[n]), ndocs / med[n], size[n] / 1e6 / med[n]))
    lines.append("")
    lines.append("- trawl game, 1 worker / Lucene (1 thread): **%.2fx** the docs/s" %
                 (med["lucene"] / med["trawl game/1"]))
    lines.append("- trawl game, 2 workers / 1 worker: **%.2fx**" %
                 (med["trawl game/1"] / med["trawl game/2"]))
    lines.append("- trawl index (default schema), 2 workers / 1 worker: **%.2fx**" %
                 (med["trawl index/1"] / med["trawl index/2"]))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write("# build throughput, %d repetitions, %s\n\n" % (a.reps, time.strftime("%Y-%m-%d %H:%M")))
            f.write("raw seconds: %r\n\n" % times)
            f.write(text)


if __name__ == "__main__":
    main()
