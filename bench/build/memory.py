#!/usr/bin/env python3
"""memory.py - the build's memory stays bounded as the input grows: builds
enwiki-passages repeated 1, 2 and 4 times (ids made unique per copy) with
`trawl index --memory MB`, sampling the process's anonymous resident memory
(RssAnon: heap and stacks, not the page cache of mapped run files) every
20 ms, and reports its peak in the work stage and over the whole build.

usage: bench/build/memory.py [--memory MB] [--copies 1,2,4] [--shards S]"""
import argparse, json, os, shutil, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "..", "shared", "data", "enwiki-passages", "docs.jsonl")


def rss_anon(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", type=int, default=256)
    ap.add_argument("--copies", default="1,2,4")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--trawl", default=os.path.join(ROOT, "build", "cli", "trawl"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trawl-mem-")
    rows = []
    for n in [int(x) for x in a.copies.split(",")]:
        inp = os.path.join(work, "in-%d.jsonl" % n)
        with open(inp, "w") as out:
            for c in range(n):
                with open(DOCS) as f:
                    for line in f:
                        d = json.loads(line)
                        d["id"] = "%s-c%d" % (d["id"], c)
                        out.write(json.dumps(d) + "\n")
        size = os.path.getsize(inp)
        ix = os.path.join(work, "ix")
        shutil.rmtree(ix, ignore_errors=True)
        p = subprocess.Popen([a.trawl, "index", ix, inp, "--shards", str(a.shards), "--memory",
                              str(a.memory), "--progress", "json"], stdout=subprocess.PIPE,
                             text=True)
        peak = {"work": 0, "all": 0}
        stage = {"s": "reading"}

        def reader():
            for line in p.stdout:
                ev = json.loads(line)
                if ev.get("event") == "progress":
                    stage["s"] = ev["stage"]
                else:
                    stage["done"] = ev
        th = threading.Thread(target=reader)
        th.start()
        while p.poll() is None:
            m = rss_anon(p.pid)
            peak["all"] = max(peak["all"], m)
            if stage["s"] == "reading":
                peak["work"] = max(peak["work"], m)
            time.sleep(0.02)
        th.join()
        done = stage.get("done", {})
        rows.append((n, size, peak["work"], peak["all"], done.get("docs"), done.get("seconds")))
        print("%dx input %.0f MB: peak RssAnon %.0f MB in the work stage, %.0f MB in all; "
              "%s docs in %.1f s" % (n, size / 1e6, peak["work"] / 1e6, peak["all"] / 1e6,
                                     done.get("docs"), done.get("seconds") or 0), flush=True)
        os.unlink(inp)
        shutil.rmtree(ix, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
