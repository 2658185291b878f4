"""servelib.py - helpers shared by the serving benchmarks of bench/serve/
(python3 stdlib only): a snapshot of the binaries, processes that are always
stopped (by pid) on exit, free loopback ports, readiness waits, wrk output
parsing, percentiles, a sequential keep-alive HTTP client, /metrics parsing.

Every loop here is bounded by a count or a deadline; every address is
127.0.0.1.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(REPO), "shared"))

# The Search Benchmark Game schema of bench/game/build_index.c: one `text`
# field, plain analyzer, Lucene's BM25 k1/b, only ids stored.
GAME_SCHEMA = {"fields": {"text": {"type": "text", "analyzer": "plain", "k1": 1.2, "b": 0.75}},
               "store": "none"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- binaries ----

def snapshot(build, dest):
    """Copies trawl, libtrawl and the game adapter out of BUILD into DEST
    (same relative layout, so their $ORIGIN runpaths still work): other
    people rebuild BUILD while we measure."""
    os.makedirs(os.path.join(dest, "cli"), exist_ok=True)
    os.makedirs(os.path.join(dest, "bench", "game"), exist_ok=True)
    real = os.path.realpath(os.path.join(build, "libtrawl.so.0"))
    shutil.copy2(real, os.path.join(dest, "libtrawl.so.0"))
    shutil.copy2(os.path.join(build, "cli", "trawl"), os.path.join(dest, "cli", "trawl"))
    for b in ("do_query", "build_index"):
        src = os.path.join(build, "bench", "game", b)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(dest, "bench", "game", b))
    return os.path.join(dest, "cli", "trawl")


def describe_build(build):
    """git commit, dirty flag and the binary's mtime, for the record: of the
    source tree the build directory sits in (a worktree of another commit,
    for a before-and-after run), else of this repository."""
    src = os.path.dirname(os.path.abspath(build))
    if not os.path.exists(os.path.join(src, ".git")):
        src = REPO

    def git(*a):
        try:
            return subprocess.run(["git", "-C", src] + list(a), capture_output=True, text=True,
                                  timeout=30).stdout.rstrip()
        except Exception:
            return "?"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    mt = time.strftime("%Y-%m-%d %H:%M:%S",
                       time.localtime(os.path.getmtime(os.path.join(build, "cli", "trawl"))))
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "dirty_files": [l[3:] for l in dirty.splitlines()],
            "binary_mtime": mt}


# ---- processes ----

_procs = []


def start(cmd, logpath, **kw):
    """Starts a process (stdout+stderr to logpath); it is stopped at exit."""
    lf = open(logpath, "ab")
    p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    lf.close()
    _procs.append(p)
    return p


def stop(p, timeout=10):
    """SIGTERM to this one pid, then SIGKILL after timeout seconds."""
    if p.poll() is not None and p.returncode != 0 and not getattr(p, "_reported", False):
        p._reported = True
        log(f"NOTE: pid {p.pid} ({' '.join(map(str, p.args[:4]))}) had exited by itself with "
            f"{'signal ' + str(-p.returncode) if p.returncode < 0 else 'status ' + str(p.returncode)}")
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        except ProcessLookupError:
            pass
    if p in _procs:
        _procs.remove(p)


def stop_all():
    for p in list(reversed(_procs)):
        stop(p)


atexit.register(stop_all)


def _on_signal(sig, frame):
    stop_all()
    sys.exit(128 + sig)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def run(cmd, timeout, **kw):
    """Runs a command to completion (bounded), returns CompletedProcess."""
    return subprocess.run(cmd, timeout=timeout, **kw)


# free_port: the tests' (a loopback port never handed out twice per process)
sys.path.insert(0, os.path.join(REPO, "tests"))
from netlib import free_port  # noqa: E402,F401


def wait_http(port, path="/readyz", timeout=60, proc=None):
    """Waits until GET path answers 200; raises after timeout seconds."""
    t_end = time.time() + timeout
    last = None
    while time.time() < t_end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[:3]} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return
            last = r.status
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"127.0.0.1:{port}{path} not ready after {timeout}s ({last})")


def wait_tcp(port, timeout=60):
    t_end = time.time() + timeout
    while time.time() < t_end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def http_get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def metrics(port):
    """/metrics as {name_with_labels: float}."""
    st, body = http_get(port, "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def search_path(q, k=10, **params):
    p = {"q": q, "k": str(k)}
    p.update({a: str(b) for a, b in params.items()})
    return "/search?" + urllib.parse.urlencode(p, quote_via=urllib.parse.quote)


class Client:
    """One keep-alive HTTP connection, timed per request (perf_counter_ns
    around request + getresponse + read)."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.reconnects = 0

    def get(self, path):
        for attempt in range(2):
            t0 = time.perf_counter_ns()
            try:
                self.c.request("GET", path)
                r = self.c.getresponse()
                body = r.read()
                t1 = time.perf_counter_ns()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.reconnects += 1
                return r.status, body, (t1 - t0) / 1000.0
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.reconnects += 1
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def close(self):
        self.c.close()


# ---- statistics ----

def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    if not s:
        return float("nan")
    i = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[i]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---- wrk ----

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")


def parse_wrk(text):
    """requests/s, latency percentiles (ms), errors from `wrk --latency` output."""
    out = {"rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"),
           "requests": 0, "non2xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    for q, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % q, text, re.M)
        if m:
            out[key] = _ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
    return out


def wrk(url, seconds, conns, threads=2, script=None, timeout_s=10, extra=()):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency",
           f"--timeout", f"{timeout_s}s"] + list(extra)
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    r = run(cmd, timeout=seconds + 60, capture_output=True, text=True)
    res = parse_wrk(r.stdout)
    res["cmd"] = " ".join(cmd)
    res["raw"] = r.stdout + r.stderr
    return res


def wrk_lua_paths(path_list, dest):
    """A wrk script whose connections cycle through path_list (each wrk
    thread starts at a different offset)."""
    with open(dest, "w") as f:
        f.write("-- generated by bench/serve: cycles through %d paths\n" % len(path_list))
        f.write("local paths = {\n")
        for p in path_list:
            f.write("  %s,\n" % json.dumps(p))
        f.write("}\n")
        f.write("local n = #paths\nlocal i = 0\nlocal counter = 0\n"
                "function setup(thread)\n  thread:set('wid', counter)\n"
                "  counter = counter + 1\nend\n"
                "function init(args)\n  i = ((wid or 0) * 7919) % n\nend\n"
                "function request()\n  i = i % n + 1\n"
                "  return wrk.format('GET', paths[i])\nend\n")
    return dest


# ---- data ----

def game_queries(path=None):
    """The game's queries (queries-sbg.jsonl), in trawl/game syntax."""
    path = path or os.path.join(SHARED, "data", "enwiki-passages", "queries-sbg.jsonl")
    qs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                qs.append(json.loads(line)["query"])
    return qs


def protocol_corpus(work):
    """enwiki-passages in the game's {"id","text"} form (lowercase ASCII
    words), as the peers index it: /tmp/peers/data/enwiki_passages.jsonl if
    present, else converted with the peers' to_protocol.py."""
    for p in (os.environ.get("PROTOCOL_CORPUS", ""), "/tmp/peers/data/enwiki_passages.jsonl"):
        if p and os.path.exists(p):
            return p
    out = os.path.join(work, "enwiki_passages.jsonl")
    if not os.path.exists(out):
        conv = os.path.join(SHARED, "peers", "tools", "to_protocol.py")
        run([sys.executable, conv, os.path.join(SHARED, "data", "enwiki-passages", "docs.jsonl"),
             out], timeout=900, check=True)
    return out


def build_game_index(trawl, work, name, corpus, shards):
    d = os.path.join(work, name)
    schema = os.path.join(work, "game-schema.json")
    with open(schema, "w") as f:
        json.dump(GAME_SCHEMA, f)
    t0 = time.time()
    run([trawl, "index", d, corpus, "--shards", str(shards), "--schema", schema], timeout=1800,
        check=True, stdout=subprocess.DEVNULL)
    log(f"indexed {corpus} into {d} ({shards} shards) in {time.time() - t0:.1f} s")
    return d


def write_cluster(path, shards, leaves):
    """leaves: [(url, [shard,...]), ...]"""
    with open(path, "w") as f:
        json.dump({"shards": shards, "leaves": [{"url": u, "shards": s} for u, s in leaves]}, f)


def machine():
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    return {"nproc": os.cpu_count(), "loadavg": " ".join(load),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
