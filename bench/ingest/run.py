#!/usr/bin/env python3
"""run.py - the ingest benchmark's table: build/bench/ingest/ingest_bench
over enwiki-passages for writers x request sizes, REPS runs each, medians.

    python3 bench/ingest/run.py [--build build] [--reps 3] [--out FILE]

Requests of 1 document are run on the first 20,000 documents (one commit
can hold only as many as there are writers), the others on all 164,440.
Markdown on standard output (and in --out): per configuration the median
acknowledged documents per second, MB/s, documents per commit (fsync), and
the median p50 and p99 of a request's time to acknowledgement."""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(REPO, "..", "shared", "data", "enwiki-passages", "docs.jsonl")


def run(exe, threads, batch, docs):
    out = subprocess.run([exe, CORPUS, str(threads), str(batch), str(docs)], capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"ingest_bench failed: {out.stderr}")
    return dict(kv.split("=") for kv in out.stdout.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "ingest", "ingest_bench")
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = [f"ingest_bench at {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"load {open('/proc/loadavg').read().split()[0]}, {os.cpu_count()} cores, "
             f"{a.reps} runs each, medians", "",
             "| writers | documents per request | documents | docs/s | MB/s | docs per commit "
             "| ack p50 ms | ack p99 ms |", "|---|---|---|---|---|---|---|---|"]
    for threads in (1, 4, 16):
        for batch in (1, 10, 100, 1000):
            docs = 20000 if batch == 1 else 164440
            rs = [run(exe, threads, batch, docs) for _ in range(a.reps)]
            med = lambda k: statistics.median(float(r[k]) for r in rs)  # noqa: E731
            lines.append(f"| {threads} | {batch} | {docs:,} | {med('docs_per_s'):,.0f} | "
                         f"{med('mb_per_s'):.1f} | {med('docs_per_commit'):.1f} | "
                         f"{med('ack_ms_p50'):.2f} | {med('ack_ms_p99'):.2f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
