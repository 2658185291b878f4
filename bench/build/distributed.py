#!/usr/bin/env python3
"""distributed.py - wall time of a distributed build: `trawl index
--workers 0 --listen` with W `trawl build-worker` processes (1 thread
each), all on this machine, for one or more trawl binaries in turn (e.g.
before and after a change), REPS times each, the order rotated every
repetition. Prints each binary's median and every time, and, for a binary
that reports it, the builder's time checking runs (check_s).

usage: bench/build/distributed.py FILE [--trawl BIN]... [--workers W]
           [--reps N] [--item-kb KB] [--shards S]
(default: build/cli/trawl, 2 workers, 3 reps, 8192 KB items, 1 shard)"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(trawl, src, work, a):
    ix = os.path.join(work, "ix")
    shutil.rmtree(ix, ignore_errors=True)
    url = "tcp://127.0.0.1:%d" % free_port()
    t0 = time.monotonic()
    coord = subprocess.Popen([trawl, "index", ix, src, "--workers", "0", "--listen", url,
                              "--item-kb", str(a.item_kb), "--shards", str(a.shards),
                              "--progress", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([trawl, "build-worker", "--connect", url, "--threads", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(a.workers)]
    out = coord.communicate()[0].decode().strip().splitlines()
    dt = time.monotonic() - t0
    for w in workers:
        w.wait()
    if coord.returncode:
        raise SystemExit("%s: the build failed (%d)" % (trawl, coord.returncode))
    done = json.loads(out[-1])
    return dt, done.get("check_s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--trawl", action="append")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--item-kb", type=int, default=8192)
    ap.add_argument("--shards", type=int, default=1)
    a = ap.parse_args()
    bins = a.trawl or [os.path.join(ROOT, "build", "cli", "trawl")]
    work = tempfile.mkdtemp(prefix="trawl-dist-")
    times = {b: [] for b in bins}
    checks = {b: [] for b in bins}
    try:
        for r in range(a.reps):
            for b in bins[r % len(bins):] + bins[:r % len(bins)]:
                dt, check = build(b, a.file, work, a)
                times[b].append(dt)
                if check is not None:
                    checks[b].append(check)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%s, %d build-workers x 1 thread, items of %d KB, %d shard(s), %d reps; load %s" % (
        os.path.basename(a.file), a.workers, a.item_kb, a.shards, a.reps,
        " ".join("%.2f" % x for x in os.getloadavg())))
    for b in bins:
        line = "  %-40s median %.2f s (%s)" % (b, statistics.median(times[b]),
                                               ", ".join("%.2f" % t for t in times[b]))
        if checks[b]:
            line += "; checking runs %.2f s" % statistics.median(checks[b])
        print(line)


if __name__ == "__main__":
    main()
