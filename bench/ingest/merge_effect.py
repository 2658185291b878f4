#!/usr/bin/env python3
"""merge_effect.py - issue #12: the cost and effect of merging.

    python3 bench/ingest/merge_effect.py [--trawl build/cli/trawl]
        [--do-query build/bench/game/do_query] [--docs 164440] [--shards 1]
        [--batches 30] [--replace 2000] [--delete 500] [--passes 3] [--seed 12]
        [--work DIR] [--out FILE]

An index of enwiki passages (the first --docs; 90% in the base build, the
rest added by the updates) takes --batches updates through `trawl index
DIR --update` (each --replace replacements, a passage's text under another
passage's id, and --delete deletes, and as many adds while the pool
lasts), so that its shards hold segments and deleted documents, merged
by the indexer's own policy as they come (ARCHITECTURE.md: tiered, at
most 10 segments a shard). Then the same final documents three ways:

  updated    the index as the updates left it
  compacted  a copy of it after `trawl compact` (one segment a shard, the
             replaced and deleted documents dropped): its time and bytes
             are the cost of a full merge
  full       a build of the final documents from scratch

Each answers the game's 962 queries (TOP_10, TOP_10_COUNT, COUNT) with
bench/game/do_query, one warm-up pass and --passes timed ones (single
thread, each query timed round trip through its pipe); the medians over
passes of the mean and p99 per command are the effect of merging. The
three must answer alike (ids and scores of TOP_10, counts): a difference
is printed and makes the exit status 1. Markdown on standard output.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "..", "shared", "data", "enwiki-passages")
SEGMENT = re.compile(r"^(shard-\d+|s\d+-g\d+)\.mdb$")


def live_files(ix):
    """The live generation's directory, its segment files and its bytes."""
    with open(os.path.join(ix, "CURRENT")) as f:
        gen = os.path.join(ix, f.read().strip())
    names = os.listdir(gen)
    size = sum(os.path.getsize(os.path.join(gen, n)) for n in names)
    return gen, sum(1 for n in names if SEGMENT.match(n)), size


def run(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr[-2000:]))
    return time.monotonic() - t0, r.stdout + r.stderr


def write_jsonl(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")


def ask(proc, line):
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().rstrip("\n")


def measure(do_query, ix, queries, passes):
    """{command: (mean us, p99 us)} medians over the timed passes, and the
    answers of the last pass ({(command, query): answer})."""
    proc = subprocess.Popen([do_query, "--dump", ix], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    cmds = ["TOP_10", "TOP_10_COUNT", "COUNT"]
    answers = {}
    per = {c: {"mean": [], "p99": []} for c in cmds}
    rnd = random.Random(7)
    for p in range(passes + 1):
        order = [(c, q) for c in cmds for q in queries]
        rnd.shuffle(order)
        times = {c: [] for c in cmds}
        for c, q in order:
            t0 = time.perf_counter_ns()
            a = ask(proc, "%s\t%s" % (c, q))
            times[c].append((time.perf_counter_ns() - t0) / 1000.0)
            answers[(c, q)] = a
        if p == 0:
            continue  # the warm-up pass
        for c in cmds:
            ts = sorted(times[c])
            per[c]["mean"].append(statistics.fmean(ts))
            per[c]["p99"].append(ts[int(len(ts) * 0.99) - 1])
    proc.stdin.close()
    proc.wait()
    return {c: (statistics.median(per[c]["mean"]), statistics.median(per[c]["p99"]))
            for c in cmds}, answers


def same(a, b):
    """Answers equal: counts exactly, TOP_10 ids and scores to 1e-6."""
    if a == b:
        return True
    x, y = a.split("\t"), b.split("\t")
    if len(x) != len(y) or x[0] != y[0]:
        return False
    for i in range(1, len(x), 2):
        if x[i] != y[i]:
            return False
        fx, fy = float(x[i + 1]), float(y[i + 1])
        if abs(fx - fy) > 1e-6 * max(1.0, abs(fy)):
            return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trawl", default=os.path.join(REPO, "build", "cli", "trawl"))
    ap.add_argument("--do-query", default=os.path.join(REPO, "build", "bench", "game",
                                                       "do_query"))
    ap.add_argument("--docs", type=int, default=164440)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--replace", type=int, default=2000)
    ap.add_argument("--delete", type=int, default=500)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--work")
    ap.add_argument("--out")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="trawl-merge-effect-")
    os.makedirs(work, exist_ok=True)
    rnd = random.Random(a.seed)
    with open(os.path.join(DATA, "docs.jsonl")) as f:
        docs = [json.loads(line) for _, line in zip(range(a.docs), f)]
    with open(os.path.join(DATA, "queries-sbg.jsonl")) as f:
        queries = [json.loads(line)["query"] for line in f]
    nbase = len(docs) * 9 // 10
    model = {d["id"]: d for d in docs[:nbase]}
    pool = docs[nbase:]
    upd = os.path.join(work, "updated")
    write_jsonl(os.path.join(work, "base.jsonl"), docs[:nbase])
    t_base, _ = run([a.trawl, "index", upd, os.path.join(work, "base.jsonl"), "--shards",
                     str(a.shards), "--progress", "none"])
    # the updates: replacements (another passage's text under the id),
    # deletes and adds, one _bulk file each
    t_upd, segs = [], []
    for b in range(a.batches):
        ids = sorted(model)
        lines = []
        for doc_id in rnd.sample(ids, min(a.replace + a.delete, len(ids))):
            if len(lines) < 2 * a.replace:
                src = docs[rnd.randrange(len(docs))]
                d = {"title": src["title"], "body": src["body"]}
                lines += [{"index": {"_id": doc_id}}, d]
                model[doc_id] = dict(d, id=doc_id)
            else:
                lines.append({"delete": {"_id": doc_id}})
                del model[doc_id]
        for _ in range(min(a.delete, len(pool))):  # adds, as many as the deletes
            d = pool.pop()
            lines += [{"index": {"_id": d["id"]}}, {"title": d["title"], "body": d["body"]}]
            model[d["id"]] = d
        path = os.path.join(work, "batch-%03d.ndjson" % b)
        with open(path, "w") as f:
            f.write("".join(json.dumps(x) + "\n" for x in lines))
        t, _ = run([a.trawl, "index", upd, "--update", path])
        t_upd.append(t)
        segs.append(live_files(upd)[1])
        os.unlink(path)
    _, nseg_upd, bytes_upd = live_files(upd)
    comp = os.path.join(work, "compacted")
    shutil.copytree(upd, comp, symlinks=True)
    t_comp, out_comp = run([a.trawl, "compact", comp])
    _, nseg_comp, bytes_comp = live_files(comp)
    full = os.path.join(work, "full")
    write_jsonl(os.path.join(work, "final.jsonl"), model.values())
    t_full, _ = run([a.trawl, "index", full, os.path.join(work, "final.jsonl"), "--shards",
                     str(a.shards), "--progress", "none"])
    _, nseg_full, bytes_full = live_files(full)
    results, answers = {}, {}
    for name, ix in (("updated", upd), ("compacted", comp), ("full", full)):
        results[name], answers[name] = measure(a.do_query, ix, queries, a.passes)
    bad = []
    for name in ("updated", "compacted"):
        for key, want in answers["full"].items():
            if not same(answers[name][key], want):
                bad.append((name, key, answers[name][key][:200], want[:200]))
    lines = [
        "%d passages at the end (%d in the base build), %d shard(s); %d updates of %d replacements, "
        "%d deletes and %d adds each; seed %d; %d timed passes over %d queries (medians)."
        % (len(model), nbase, a.shards, a.batches, a.replace, a.delete, a.delete, a.seed,
           a.passes, len(queries)),
        "",
        "| | updated (merged by policy) | compacted | full build |",
        "|---|---|---|---|",
        "| segments (all shards) | %d | %d | %d |" % (nseg_upd, nseg_comp, nseg_full),
        "| live generation MB | %.1f | %.1f | %.1f |"
        % (bytes_upd / 1e6, bytes_comp / 1e6, bytes_full / 1e6),
        "| time s | base %.1f + updates %.1f (median %.2f each) | compact %.1f | build %.1f |"
        % (t_base, sum(t_upd), statistics.median(t_upd), t_comp, t_full),
    ]
    for c in ("TOP_10", "TOP_10_COUNT", "COUNT"):
        u, m, f = results["updated"][c], results["compacted"][c], results["full"][c]
        lines.append("| %s mean / p99 us | %.0f / %.0f (%.2fx full) | %.0f / %.0f (%.2fx) | "
                     "%.0f / %.0f |" % (c, u[0], u[1], u[0] / f[0], m[0], m[1], m[0] / f[0],
                                        f[0], f[1]))
    lines += ["", "segments after each update: " + " ".join(str(s) for s in segs),
              "answers compared: %d per index, %d differing" % (len(answers["full"]), len(bad))]
    for b in bad[:10]:
        lines.append("DIFF %s %s: %r != %r" % b)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
