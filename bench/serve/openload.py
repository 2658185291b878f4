#!/usr/bin/env python3
"""openload.py - latency against offered load: `trawl serve` on data/wiki-demo
(default schema, --cache-mb 0, so every request searches and fetches its
ten documents) under an open-loop load at fixed rates. Run through
bench/serve/openload.sh.

The other serving benchmarks are closed loops (a client sends its next
request when the previous one is answered), so they cannot show what
happens past capacity: the clients slow down with the server. Here the
send times are fixed in advance, and a request's latency counts from the
time it was due, not from when it could be sent (no coordinated omission).

Client: one Python thread, an epoll loop over a pool of POOL keep-alive
connections (HTTP/1.1, no pipelining), all opened before each step.
Queries: the wiki-demo queries (data/wiki-demo/queries.tsv, query syntax
characters removed, as cached.py does), GET /search?q=..&k=K (10; SNIPPET adds snippets), in a fixed
shuffled cycle.

Capacity: a closed loop, CAP_CONNS connections each sending its next
request as soon as the previous one is answered, CAP_SECS s (the first
second not counted): answered requests per second, measured 3 times
before the repetitions (their median is the capacity the offered rates
are fractions of, the same rates in every repetition) and once after each
repetition (how the machine drifted). It is measured with this client,
which shares the 2 vCPUs with trawl.

A repetition: for each fraction f in LOADS, in increasing order, rate =
f x capacity for STEP_SECS s: request i is due at t0 + i / rate (evenly
spaced, as wrk2 would). A due request goes out on an idle connection, or
waits in a FIFO in the client when all POOL connections are busy (that
wait is part of its latency: past capacity the queue is in the client, as
behind a proxy with POOL connections; POOL stays under trawl's 256
connections per client address). A queued request not sent within
DEADLINE s of its due time is dropped unsent; a request sent is always
waited for (nothing is abandoned, so trawl never works for nothing).
After the last request is due the step drains, at most DEADLINE + 5 s.
Per request: answered (HTTP 200), refused (another status, or the
connection closed or reset), or failed (dropped unsent, or no answer by
the end of the drain). Per step: p50 / p90 / p99 / p99.9 of the answered
requests' latency from their due time, the shares refused and failed, the
answered rate (answered requests over the time from the first due time to
the last answer, the drain included), and the client's own lag (how late
requests that found an idle connection were sent: when it grows, the
client is the limit, not trawl). REPS repetitions; result.json has every
step of every repetition and the median over repetitions per rate.

Environment: BUILD=build REPS=3 CAP_CONNS=16 CAP_SECS=5 STEP_SECS=5 POOL=128
DEADLINE=2 LOADS=0.25,0.5,0.75,0.9,1.0,1.1,1.25,1.5,2.0 WORKERS=2 (trawl serve
--workers) QUEUE= (trawl serve --queue; empty: its default) K=10 (hits per
request) SNIPPET= (a field to make snippets of: heavier requests) SEED=4 RUN=name
(results in bench/serve/results/RUN/)

Overload (issue #13): a request answered 429 counts as refused; the
report gives their share and how fast they were answered (from the time
sent: the p99 and the slowest of every repetition), and compares the p99
of the admitted requests at the highest rate with the p99 at the lowest.
"""
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib as L  # noqa: E402
from cached import demo_queries  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(L.REPO, "build")))
REPS = int(os.environ.get("REPS", "3"))
CAP_CONNS = int(os.environ.get("CAP_CONNS", "16"))
CAP_SECS = float(os.environ.get("CAP_SECS", "5"))
STEP_SECS = float(os.environ.get("STEP_SECS", "5"))
POOL = int(os.environ.get("POOL", "128"))
DEADLINE = float(os.environ.get("DEADLINE", "2"))
LOADS = [float(x) for x in os.environ.get("LOADS", "0.25,0.5,0.75,0.9,1.0,1.1,1.25,1.5,2.0")
         .split(",")]
WORKERS = os.environ.get("WORKERS", "2")
QUEUE = os.environ.get("QUEUE", "")  # trawl serve --queue (empty: its default)
K = int(os.environ.get("K", "10"))
SNIPPET = os.environ.get("SNIPPET", "")  # a field to make snippets of (empty: none)
SEED = int(os.environ.get("SEED", "4"))
RUN = os.environ.get("RUN", "openload-" + time.strftime("%Y%m%d-%H%M%S"))
OUT = os.path.join(L.HERE, "results", RUN)


class Conn:
    """One keep-alive connection carrying at most one request at a time."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.req = None  # (due, sent) of the request in flight

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def response_end(buf):
    """(status, bytes of the whole response) once buf holds a complete
    response, else None. trawl answers with Content-Length."""
    h = buf.find(b"\r\n\r\n")
    if h < 0:
        return None
    head = buf[:h].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = 0
    for line in head[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "transfer-encoding":
            raise RuntimeError("openload: chunked responses are not handled")
    end = h + 4 + length
    return (status, end) if len(buf) >= end else None


class Loop:
    """The client: an epoll loop over a pool of connections."""

    def __init__(self, port, paths, nconn):
        self.port = port
        self.reqs = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for p in paths]
        self.next_req = 0
        self.sel = selectors.DefaultSelector()
        self.conns = [self.open() for _ in range(nconn)]
        self.idle = list(self.conns)

    def open(self):
        c = Conn(self.port)
        self.sel.register(c.sock, selectors.EVENT_READ, c)
        return c

    def replace(self, c):
        """Drops a connection (after an error) and
        opens a new one in its place."""
        self.sel.unregister(c.sock)
        c.close()
        self.conns.remove(c)
        n = self.open()
        self.conns.append(n)
        return n

    def send(self, c, due):
        data = self.reqs[self.next_req % len(self.reqs)]
        self.next_req += 1
        now = time.perf_counter()
        c.req = (due, now)
        try:
            c.sock.send(data)  # a few hundred bytes: fits the socket buffer
        except OSError:
            return False
        return True

    def close(self):
        for c in self.conns:
            self.sel.unregister(c.sock)
            c.close()
        self.sel.close()

    def poll(self, timeout, on_done):
        """Waits up to timeout s; on_done(conn, status or None, due, sent, now)
        for every request finished (None: the connection failed)."""
        for key, _ in self.sel.select(timeout):
            c = key.data
            try:
                chunk = c.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            now = time.perf_counter()
            if not chunk:
                req = c.req
                n = self.replace(c)
                if req:
                    on_done(n, None, req[0], req[1], now)
                elif n not in self.idle:
                    self.idle.append(n)
                if c in self.idle:
                    self.idle.remove(c)
                continue
            c.buf += chunk
            while c.req:
                r = response_end(c.buf)
                if not r:
                    break
                status, end = r
                c.buf = c.buf[end:]
                due, sent = c.req
                c.req = None
                on_done(c, status, due, sent, now)


def closed_loop(port, paths, nconn, secs, warm=1.0):
    """Answered requests per second with nconn connections in a closed loop."""
    loop = Loop(port, paths, nconn)
    t0 = time.perf_counter()
    t_end = t0 + secs
    counted = [0, 0]  # answered, other

    def done(c, status, due, sent, now):
        if now >= t0 + warm:
            counted[0 if status == 200 else 1] += 1
        if now < t_end:
            if not loop.send(c, now):
                loop.replace(c)
        elif c in loop.conns and c not in loop.idle:
            loop.idle.append(c)

    for c in list(loop.idle):
        loop.idle.remove(c)
        loop.send(c, time.perf_counter())
    while time.perf_counter() < t_end + DEADLINE and any(c.req for c in loop.conns):
        loop.poll(0.05, done)
    loop.close()
    return counted[0] / (secs - warm), counted[1]


def open_step(port, paths, rate, secs):
    """One open-loop step at `rate` requests/s for `secs` s."""
    loop = Loop(port, paths, POOL)
    n = max(1, int(round(rate * secs)))
    t0 = time.perf_counter() + 0.05
    due_of = [t0 + i / rate for i in range(n)]
    nxt = 0  # next request not yet due-dispatched
    queue = []  # due times waiting for a connection, FIFO
    qhead = 0
    lat, svc, lag = [], [], []
    shed_svc = []  # 429 answers: from the time sent
    st = {"answered": 0, "refused": 0, "failed_unanswered": 0, "failed_unsent": 0,
          "max_client_queue": 0, "max_in_flight": 0}
    last_answer = t0

    def done(c, status, due, sent, now):
        nonlocal last_answer
        if status == 200:
            st["answered"] += 1
            lat.append(now - due)
            svc.append(now - sent)
            last_answer = now
        else:
            st["refused"] += 1
            if status == 429:
                shed_svc.append(now - sent)
        give(c)

    def give(c):
        """c is free: send the oldest queued request still within its deadline."""
        nonlocal qhead
        now = time.perf_counter()
        while qhead < len(queue):
            due = queue[qhead]
            qhead += 1
            if now - due > DEADLINE:
                st["failed_unsent"] += 1
                continue
            if not loop.send(c, due):
                st["refused"] += 1
                c = loop.replace(c)
                continue
            return
        loop.idle.append(c)

    t_stop = due_of[-1] + DEADLINE + 5
    while True:
        now = time.perf_counter()
        while nxt < n and due_of[nxt] <= now:
            due = due_of[nxt]
            nxt += 1
            if loop.idle and qhead >= len(queue):
                c = loop.idle.pop()
                lag.append(now - due)
                if not loop.send(c, due):
                    st["refused"] += 1
                    loop.idle.append(loop.replace(c))
            else:
                queue.append(due)
        st["max_client_queue"] = max(st["max_client_queue"], len(queue) - qhead)
        st["max_in_flight"] = max(st["max_in_flight"], len(loop.conns) - len(loop.idle))
        if nxt >= n and qhead >= len(queue) and len(loop.idle) == len(loop.conns):
            break
        if now > t_stop:
            st["failed_unanswered"] += sum(1 for c in loop.conns if c.req)
            st["failed_unsent"] += len(queue) - qhead
            break
        wait = (due_of[nxt] - now) if nxt < n else 0.05
        loop.poll(max(0.0, min(wait, 0.05)), done)
    loop.close()
    ms = [x * 1000 for x in lat]
    out = {"offered_rps": rate, "seconds": secs, "requests": n,
           "answered_rps": st["answered"] / max(1e-9, last_answer - t0),
           "share_refused": st["refused"] / n,
           "share_failed": (st["failed_unanswered"] + st["failed_unsent"]) / n}
    out.update(st)
    for p in (50, 90, 99, 99.9):
        out[f"p{p:g}_ms"] = L.pct(ms, p) if ms else None
    out["max_ms"] = max(ms) if ms else None
    out["service_p50_ms"] = L.pct([x * 1000 for x in svc], 50) if svc else None
    out["service_p99_ms"] = L.pct([x * 1000 for x in svc], 99) if svc else None
    out["client_lag_p99_ms"] = L.pct([x * 1000 for x in lag], 99) if lag else None
    out["share_429"] = len(shed_svc) / n
    out["shed_p99_ms"] = L.pct([x * 1000 for x in shed_svc], 99) if shed_svc else None
    out["shed_max_ms"] = max(shed_svc) * 1000 if shed_svc else None
    out["shed_over_10ms"] = sum(1 for x in shed_svc if x > 0.010)
    out["shed_count"] = len(shed_svc)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="trawl-bench-openload-")
    L.log(f"work dir {work}; results in {OUT}")
    build = L.describe_build(BUILD)
    trawl = L.snapshot(BUILD, os.path.join(work, "bin"))
    idx = os.path.join(work, "wiki-demo")
    L.run([trawl, "index", idx, os.path.join(L.REPO, "data", "wiki-demo", "docs.jsonl")],
          timeout=600, check=True, stdout=subprocess.DEVNULL)
    port = L.free_port()
    cmd = [trawl, "serve", idx, "--http", f"127.0.0.1:{port}", "--cache-mb", "0",
           "--workers", WORKERS, "--quiet"] + (["--queue", QUEUE] if QUEUE else [])
    proc = L.start(cmd, os.path.join(work, "serve.log"))
    L.wait_http(port, "/readyz", timeout=60, proc=proc)
    machine_start = L.machine()

    qs = demo_queries(10 ** 6)
    paths = [L.search_path(q, K, **({"snippet": SNIPPET} if SNIPPET else {})) for q in qs]
    for p in paths:  # warm-up, and every query must answer
        st, body = L.http_get(port, p)
        assert st == 200, (p, st, body[:200])
        assert json.loads(body)["cached"] is False, "--cache-mb 0 answered from a cache"
    random.Random(SEED).shuffle(paths)

    caps = []
    for i in range(3):
        c, other = closed_loop(port, paths, CAP_CONNS, CAP_SECS)
        caps.append(c)
        L.log(f"closed-loop capacity {c:,.0f} req/s ({CAP_CONNS} connections, {other} not 200)")
    cap = L.median(caps)
    reps = []
    for rep in range(REPS):
        steps = []
        for f in LOADS:
            time.sleep(1)
            s = open_step(port, paths, f * cap, STEP_SECS)
            s["fraction"] = f
            steps.append(s)
            L.log(f"rep {rep}: {f:4.2f} x capacity = {s['offered_rps']:7,.0f} req/s offered: "
                  f"answered {s['answered_rps']:7,.0f}/s  p50 {s['p50_ms'] or 0:8.2f} ms  "
                  f"p99 {s['p99_ms'] or 0:8.2f} ms  refused {s['share_refused']:.1%}  "
                  f"failed {s['share_failed']:.1%}  client lag p99 "
                  f"{s['client_lag_p99_ms'] or 0:.2f} ms  max queue {s['max_client_queue']}")
        after, other = closed_loop(port, paths, CAP_CONNS, CAP_SECS)
        L.log(f"rep {rep}: closed-loop capacity after it {after:,.0f} req/s ({other} not 200)")
        reps.append({"capacity_after_rps": after, "capacity_after_not_200": other, "steps": steps})
        if proc.poll() is not None:
            raise RuntimeError(f"trawl serve exited with {proc.returncode}")

    med = []
    for i, f in enumerate(LOADS):
        row = {"fraction": f}
        for k in ("offered_rps", "answered_rps", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms",
                  "share_refused", "share_failed", "client_lag_p99_ms", "service_p50_ms",
                  "share_429", "shed_p99_ms"):
            v = [r["steps"][i][k] for r in reps if r["steps"][i][k] is not None]
            row[k] = L.median(v) if v else None
        v = [r["steps"][i]["shed_max_ms"] for r in reps if r["steps"][i]["shed_max_ms"] is not None]
        row["shed_max_ms"] = max(v) if v else None  # the worst of every repetition
        row["shed_count"] = sum(r["steps"][i].get("shed_count", 0) for r in reps)  # all repetitions
        row["shed_over_10ms"] = sum(r["steps"][i].get("shed_over_10ms", 0) for r in reps)
        med.append(row)
    result = {"run": RUN, "machine": machine_start, "machine_end": L.machine(), "build": build,
              "serve_cmd": f"trawl serve IDX --http 127.0.0.1:PORT --cache-mb 0 --workers {WORKERS}"
                           + (f" --queue {QUEUE}" if QUEUE else ""),
              "corpus": "data/wiki-demo/docs.jsonl (trawl index, default schema)",
              "queries": len(paths), "k": K, "snippet": SNIPPET, "reps": REPS, "cap_conns": CAP_CONNS, "cap_secs": CAP_SECS,
              "step_secs": STEP_SECS, "pool": POOL, "deadline_s": DEADLINE, "loads": LOADS,
              "capacity_rps": cap, "capacity_before_rps": caps,
              "repetitions": reps, "median": med}
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(OUT, "report.md"), "w") as f:
        f.write(report(result))
    print(report(result))
    L.stop(proc)
    subprocess.run(["rm", "-rf", work], timeout=120)


def report(res):
    def ms(v):
        return "-" if v is None else f"{v:,.2f}"
    before = " / ".join(f"{c:,.0f}" for c in res["capacity_before_rps"])
    after = " / ".join(f"{r['capacity_after_rps']:,.0f}" for r in res["repetitions"])
    lines = [f"# openload: run {res['run']} ({res['machine']['date']}, load "
             f"{res['machine']['loadavg']} at the start, {res['machine_end']['loadavg']} at the end)",
             f"build {res['build']['commit']} (dirty: {', '.join(res['build']['dirty_files']) or '-'})",
             f"`{res['serve_cmd']}` on {res['corpus']}; {res['queries']} queries, "
             f"k={res.get('k', 10)}" + (f", snippets of {res['snippet']}" if res.get("snippet") else ""),
             f"capacity (closed loop, {res['cap_conns']} connections, {res['cap_secs']:g} s): "
             f"{res['capacity_rps']:,.0f} req/s, median of [{before}] before the repetitions; "
             f"after each repetition [{after}]",
             f"open loop: {res['step_secs']:g} s per rate, {res['pool']} connections, deadline "
             f"{res['deadline_s']:g} s; medians of {res['reps']} repetitions", "",
             "| offered (x capacity) | offered req/s | answered req/s | p50 ms | p90 ms | p99 ms | "
             "p99.9 ms | refused | of which 429 | 429 answered in, p99 / max ms | failed | "
             "client lag p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["median"]:
        lines.append(f"| {r['fraction']:.2f} | {r['offered_rps']:,.0f} | {r['answered_rps']:,.0f} | "
                     f"{ms(r['p50_ms'])} | {ms(r['p90_ms'])} | {ms(r['p99_ms'])} | "
                     f"{ms(r['p99.9_ms'])} | {r['share_refused']:.1%} | "
                     f"{(r.get('share_429') or 0):.1%} | {ms(r.get('shed_p99_ms'))} / "
                     f"{ms(r.get('shed_max_ms'))} | {r['share_failed']:.1%} | "
                     f"{ms(r['client_lag_p99_ms'])} |")
    low, top = res["median"][0], res["median"][-1]
    if low["p99_ms"] and top["p99_ms"]:
        lines += ["", f"admitted requests' p99 at {top['fraction']:g} x capacity: "
                  f"{top['p99_ms']:,.2f} ms = {top['p99_ms'] / low['p99_ms']:.2f} x the p99 at "
                  f"{low['fraction']:g} x ({low['p99_ms']:,.2f} ms); 429 answers there: "
                  f"{(top.get('share_429') or 0):.1%} of the requests, the slowest in "
                  f"{ms(top.get('shed_max_ms'))} ms from sending; "
                  f"{top.get('shed_over_10ms', 0):,} of {top.get('shed_count', 0):,} (all "
                  f"repetitions) took over 10 ms"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
