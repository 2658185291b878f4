#!/usr/bin/env python3
"""
haproxy_test.py - Debian's haproxy in front of two trawl roots, configured by
deploy/haproxy/haproxy.cfg, as docs/OPERATIONS.md describes.

    python3 tests/haproxy_test.py build/cli/trawl

Builds a 2-shard index of data/wiki-demo, starts a cluster with
deploy/cluster-up.sh (2 leaves, one per shard, and 2 roots on free loopback
ports), runs haproxy in the foreground with the shipped configuration (the
ports given through its environment variables), then checks:

  routing   the same query, sent 20 times, lands on one root every time (the
            X-Trawl-Root header, and the roots' trawl_searches_total
            counters: +20 on one root, +0 on the other); its variants (case,
            spaces, '+' or %20, other k/offset, POST {"q": ...}, the
            OpenSearch-style /{index}/_search?q=) go to the same root; a
            repeated DSL body goes to one root; different queries spread
            over both roots.
  failover  kill -9 the root that owns a query, under a steady stream of
            requests: haproxy's checks must mark it DOWN within 3 s; from
            then on every request must be answered 200 by the other root
            (failures before that are reported; the config's retries with
            redispatch should make them zero too); then the killed root is
            restarted and, once haproxy sees it UP again, its queries come
            back to it and no other query has moved (consistent hashing).

Installs nothing: without haproxy on PATH (or curl and wget) it prints a skip
line and exits 77 (meson counts it as skipped), or fails when
TRAWL_REQUIRE_TOOLS is set (scripts/test.sh sets it: scripts/deps.sh has
installed them). Standard library only.
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
DOCS = os.path.join(SRC, "data", "wiki-demo", "docs.jsonl")
QUERIES = os.path.join(SRC, "data", "wiki-demo", "queries.tsv")
CFG = os.path.join(SRC, "deploy", "haproxy", "haproxy.cfg")
CLUSTER_UP = os.path.join(SRC, "deploy", "cluster-up.sh")
CLUSTER_DOWN = os.path.join(SRC, "deploy", "cluster-down.sh")

HAPROXY = None  # its path, set in main()
DETECT_LIMIT_S = 3.0  # inter 1s fall 2, plus slack
SKIP = 77


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def log(msg):
    print(msg, flush=True)


def ephemeral_low():
    """The lowest port the kernel hands out on its own (to port-0 listeners
    and to outgoing connections), 32768 unless configured otherwise."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_block(n):
    """A base port such that base..base+n-1 are free on 127.0.0.1. The block
    lies below the ephemeral range: a port that is free when checked could
    otherwise be taken by another test's client connection or port-0
    listener before haproxy or a leaf binds it (it happened to the stats
    port in a CI run)."""
    rnd = random.Random(os.getpid() ^ int(time.time()))
    hi = min(ephemeral_low(), 60000)
    lo = 10000 if hi > 10000 + 4 * n else 1024
    for _ in range(200):
        base = rnd.randrange(lo, hi - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise Failure("no block of %d free ports found" % n)


def request(port, method, path, body=None, timeout=5.0):
    """(status, headers (lower-case names), body bytes); raises OSError."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {}
        if body is not None:
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def search_path(q, **params):
    return "/search?" + urllib.parse.urlencode(dict(q=q, k=3, **params))


def metric(port, name, required=True):
    """A counter of a root's /metrics; None if absent and not required."""
    st, _, body = request(port, "GET", "/metrics")
    check(st == 200, "GET /metrics on root :%d: %d" % (port, st))
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    check(not required, "no %s in /metrics of root :%d" % (name, port))
    return None


def searches_total(port):
    return metric(port, "trawl_searches_total")


def cache_hits(port):
    return metric(port, "trawl_cache_hits_total", required=False)


def stats(stats_port):
    """{server name: row dict} of backend 'roots' from haproxy's CSV."""
    st, _, body = request(stats_port, "GET", "/stats;csv")
    check(st == 200, "haproxy stats CSV: %d" % st)
    lines = body.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(cols, line.split(",")))
        if row.get("pxname") == "roots" and row.get("svname") not in ("FRONTEND", "BACKEND"):
            out[row["svname"]] = row
    return out


def wait_status(stats_port, want, timeout, haproxy=None):
    """Waits until every server named in want has its status; returns the time."""
    end = time.monotonic() + timeout
    while True:
        check(haproxy is None or haproxy.poll() is None,
              "haproxy exited with status %s" % (haproxy and haproxy.returncode))
        try:
            s = stats(stats_port)
            if all(s.get(n, {}).get("status", "").startswith(v) for n, v in want.items()):
                return time.monotonic()
        except OSError:
            pass
        if time.monotonic() > end:
            raise Failure("haproxy servers not %s after %.0f s" % (want, timeout))
        time.sleep(0.1)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(%s)\n" % e


class Cluster:
    def __init__(self, trawl, tmp):
        self.trawl, self.tmp = trawl, tmp
        self.base = free_block(8)
        self.leaf_port = self.base          # 2 leaves (nng)
        self.leaf_http_port = self.base + 2  # their health ports
        self.root_ports = [self.base + 4, self.base + 5]
        self.lb_port = self.base + 6
        self.stats_port = self.base + 7
        self.run = os.path.join(tmp, "run")
        self.haproxy = None
        self.hap_log = os.path.join(tmp, "haproxy.log")
        self.extra = []  # roots this test restarted

    def env(self):
        e = dict(os.environ)
        e.update(TRAWL=self.trawl, TRAWL_RUN_DIR=self.run, TRAWL_LEAF_PORT=str(self.leaf_port),
                 TRAWL_LEAF_HTTP_PORT=str(self.leaf_http_port),
                 TRAWL_HTTP_PORT=str(self.root_ports[0]), TRAWL_READY_TIMEOUT="30")
        return e

    def start(self):
        ix = os.path.join(self.tmp, "idx")
        p = subprocess.run([self.trawl, "index", ix, DOCS, "--shards", "2"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "trawl index failed: %s" % p.stderr)
        p = subprocess.run(["sh", CLUSTER_UP, ix, "2", "1", "2"], env=self.env(),
                           capture_output=True, text=True, timeout=90)
        log("# cluster-up.sh:\n" + "".join("#   " + l + "\n" for l in p.stdout.splitlines()))
        check(p.returncode == 0, "cluster-up.sh exited %d: %s" % (p.returncode, p.stderr))
        self.root_pids = {}
        with open(os.path.join(self.run, "pids")) as f:
            for line in f:
                pid, what, url = line.split()[:3]
                if what == "root":
                    self.root_pids[int(url.rstrip("/").rsplit(":", 1)[1])] = int(pid)
        check(sorted(self.root_pids) == self.root_ports, "pids file: %s" % self.root_pids)
        # haproxy with the shipped file, ports through its environment variables
        henv = dict(os.environ)
        henv.update(TRAWL_LB_BIND="127.0.0.1:%d" % self.lb_port,
                    TRAWL_LB_STATS="127.0.0.1:%d" % self.stats_port,
                    TRAWL_ROOT1="127.0.0.1:%d" % self.root_ports[0],
                    TRAWL_ROOT2="127.0.0.1:%d" % self.root_ports[1])
        p = subprocess.run([HAPROXY, "-c", "-f", CFG], env=henv, capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, "haproxy -c rejects %s: %s%s" % (CFG, p.stdout, p.stderr))
        self.hap_out = open(self.hap_log, "w")
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", CFG], env=henv,
                                        stdout=self.hap_out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        wait_status(self.stats_port, {"root1": "UP", "root2": "UP"}, 15, self.haproxy)

    def server_port(self, name):
        return self.root_ports[{"root1": 0, "root2": 1}[name]]

    def restart_root(self, port):
        i = self.root_ports.index(port)
        path = os.path.join(self.run, "root-%d-restarted.log" % i)
        logf = open(path, "w")
        p = subprocess.Popen([self.trawl, "root", "--cluster", os.path.join(self.run, "cluster.json"),
                              "--http", "127.0.0.1:%d" % port], stdout=logf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.extra.append(p)
        p.log_path = path
        return p

    def stop(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait()
        for p in self.extra:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.path.exists(os.path.join(self.run, "pids")):
            subprocess.run(["sh", CLUSTER_DOWN, self.run], env=self.env(), capture_output=True,
                           timeout=60)

    def dump_logs(self):
        log("# haproxy log (end):\n" + tail(self.hap_log, 30))
        if os.path.isdir(self.run):
            for name in sorted(os.listdir(self.run)):
                if name.endswith(".log"):
                    log("# %s (end):\n%s" % (name, tail(os.path.join(self.run, name))))


def via_lb(c, method, path, body=None):
    st, h, data = request(c.lb_port, method, path, body)
    return st, h.get("x-trawl-root"), data


def test_routing(c, queries):
    q = "solar eclipse"
    before = {p: searches_total(p) for p in c.root_ports}
    hits_before = {p: cache_hits(p) for p in c.root_ports}
    roots = set()
    for _ in range(20):
        st, root, body = via_lb(c, "GET", search_path(q))
        check(st == 200, "GET %r through haproxy: %d %s" % (q, st, body[:200]))
        roots.add(root)
    check(len(roots) == 1 and None not in roots, "20 x %r went to %s" % (q, roots))
    owner = roots.pop()
    after = {p: searches_total(p) for p in c.root_ports}
    delta = {p: after[p] - before[p] for p in c.root_ports}
    want = {p: 20 if p == c.server_port(owner) else 0 for p in c.root_ports}
    check(delta == want, "trawl_searches_total deltas %s, expected %s" % (delta, want))
    log("ok routing: %r 20/20 times on %s (trawl_searches_total +20 there, +0 on the other)"
        % (q, owner))
    if None not in hits_before.values():
        hits = {p: cache_hits(p) - hits_before[p] for p in c.root_ports}
        want = {p: 19 if p == c.server_port(owner) else 0 for p in c.root_ports}
        check(hits == want, "trawl_cache_hits_total deltas %s, expected %s (one miss, then hits, "
              "all on %s)" % (hits, want, owner))
        log("ok routing: the 20 searches made 1 cache miss and 19 hits, all on %s" % owner)
    else:
        log("# the roots have no trawl_cache_hits_total: cache locality not checked")

    variants = [
        ("GET", search_path("Solar  ECLIPSE"), None),
        ("GET", "/search?q=solar%20eclipse&k=5&offset=5", None),
        ("GET", "/search?k=1&q=+solar+eclipse+", None),
        ("POST", "/search", {"q": "solar eclipse", "k": 2}),
        ("POST", "/search", {"k": 7, "q": " Solar\teclipse"}),
        ("GET", "/trawl/_search?q=solar+eclipse", None),
        ("GET", "/trawl/_count?q=solar%20eclipse", None),
    ]
    for method, path, body in variants:
        st, root, data = via_lb(c, method, path, body)
        check(root == owner, "%s %s %s went to %s, not %s (status %d)"
              % (method, path, body or "", root, owner, st))
    log("ok routing: %d variants of %r (case, spaces, k/offset, POST body, OpenSearch paths) "
        "on %s too" % (len(variants), q, owner))

    dsl = {"query": {"match": {"body": "solar eclipse"}}, "size": 3}
    dsl_roots = {via_lb(c, "POST", "/trawl/_search", dsl)[1] for _ in range(5)}
    check(len(dsl_roots) == 1, "one DSL body went to %s" % dsl_roots)
    log("ok routing: a repeated OpenSearch DSL body went to %s 5/5 times" % dsl_roots.pop())

    before = {p: searches_total(p) for p in c.root_ports}
    placement = {}
    for qq in queries:
        st, root, body = via_lb(c, "GET", search_path(qq))
        check(st == 200, "GET %r: %d %s" % (qq, st, body[:200]))
        placement[qq] = root
    after = {p: searches_total(p) for p in c.root_ports}
    count = {n: sum(1 for r in placement.values() if r == n) for n in ("root1", "root2")}
    delta = {n: after[c.server_port(n)] - before[c.server_port(n)] for n in ("root1", "root2")}
    check(delta == count, "X-Trawl-Root counts %s but trawl_searches_total deltas %s"
          % (count, delta))
    check(min(count.values()) >= len(queries) // 5,
          "%d different queries spread %s: not over both roots" % (len(queries), count))
    for qq in queries:
        st, root, _ = via_lb(c, "GET", search_path(qq, offset=3))
        check(root == placement[qq], "%r went to %s, then %s" % (qq, placement[qq], root))
    log("ok routing: %d different queries spread over the roots %s, each one on the same root "
        "when repeated" % (len(queries), count))
    return owner, placement


def test_failover(c, owner, placement, queries):
    q = "solar eclipse"
    other = "root2" if owner == "root1" else "root1"
    port = c.server_port(owner)
    pid = c.root_pids[port]
    others = [qq for qq in queries if placement[qq] == owner][:10] + [q]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    t_down = None
    results = []  # (seconds after the kill, query, status or error, root)
    i = 0
    next_poll = t0
    while True:
        now = time.monotonic()
        if t_down is None and now >= next_poll:
            next_poll = now + 0.1
            try:
                if stats(c.stats_port)[owner]["status"].startswith("DOWN"):
                    t_down = time.monotonic()
            except OSError:
                pass
        if t_down is None and now - t0 > DETECT_LIMIT_S + 2:
            break
        if t_down is not None and now - t_down > 2.0:
            break
        qq = others[i % len(others)]
        i += 1
        try:
            st, root, _ = via_lb(c, "GET", search_path(qq))
        except OSError as e:
            st, root = "%s" % e, None
        results.append((time.monotonic() - t0, qq, st, root))
        time.sleep(0.01)
    check(t_down is not None, "haproxy did not mark %s DOWN within %.1f s of kill -9"
          % (owner, DETECT_LIMIT_S + 2))
    detect = t_down - t0
    inside = [r for r in results if r[0] <= detect]
    after = [r for r in results if r[0] > detect]
    bad_inside = [r for r in inside if r[2] != 200]
    bad_after = [r for r in after if r[2] != 200 or r[3] != other]
    log("# failover: kill -9 %s (pid %d); haproxy marked it DOWN after %.2f s; %d requests "
        "before that, %d failed%s; %d after, %d failed"
        % (owner, pid, detect, len(inside), len(bad_inside),
           (" (%s)" % bad_inside[:5]) if bad_inside else "", len(after), len(bad_after)))
    check(detect <= DETECT_LIMIT_S, "detection took %.2f s (limit %.1f s)" % (detect, DETECT_LIMIT_S))
    check(len(after) >= 20, "only %d requests after the detection" % len(after))
    check(not bad_after, "requests after the detection failed or went elsewhere than %s: %s"
          % (other, bad_after[:10]))
    st, root, _ = via_lb(c, "GET", search_path(q))
    check(st == 200 and root == other, "%r after failover: %s from %s" % (q, st, root))
    log("ok failover: %s DOWN after %.2f s (<= %.0f s); %r and %s's other queries answered "
        "200 by %s; %d of %d requests inside the detection window failed"
        % (owner, detect, DETECT_LIMIT_S, q, owner, other, len(bad_inside), len(inside)))

    # recovery: the same root comes back, and so do its queries
    p = c.restart_root(port)
    end = time.monotonic() + 20
    while True:
        check(p.poll() is None, "the restarted root exited (%s): %s" % (p.returncode, tail(p.log_path)))
        try:
            if stats(c.stats_port)[owner]["status"].startswith("UP"):
                break
        except OSError:
            pass
        check(time.monotonic() < end, "the restarted %s is not UP in haproxy after 20 s" % owner)
        time.sleep(0.1)
    moved = []
    for qq in queries + [q]:
        want = owner if qq == q else placement[qq]
        st, root, _ = via_lb(c, "GET", search_path(qq))
        check(st == 200, "%r after recovery: %d" % (qq, st))
        if root != want:
            moved.append((qq, want, root))
    check(not moved, "after %s came back, queries are not where they were: %s"
          % (owner, moved[:10]))
    log("ok recovery: %s restarted and UP again; all %d queries back on the root they had "
        "before the kill" % (owner, len(queries) + 1))


def main():
    if len(sys.argv) != 2:
        print("usage: haproxy_test.py TRAWL_BINARY", file=sys.stderr)
        return 64
    trawl = os.path.abspath(sys.argv[1])
    global HAPROXY
    # Debian installs it in /usr/sbin, which a user's PATH may not have.
    HAPROXY = shutil.which("haproxy", path=os.environ.get("PATH", "") +
                           ":/usr/sbin:/usr/local/sbin:/sbin")
    missing = ("haproxy is not installed (Debian: apt-get install haproxy)" if not HAPROXY else
               "deploy/cluster-up.sh needs curl or wget"
               if not (shutil.which("curl") or shutil.which("wget")) else None)
    if missing:
        if os.environ.get("TRAWL_REQUIRE_TOOLS"):
            print("FAIL: %s" % missing)
            return 1
        print("SKIP: %s" % missing)
        return SKIP
    with open(QUERIES) as f:
        queries = []
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1].strip() and parts[1] not in queries:
                queries.append(parts[1].strip())
    queries = [q for q in queries if q.lower() != "solar eclipse"][:60]
    tmp = tempfile.mkdtemp(prefix="trawl-haproxy-test-")
    c = Cluster(trawl, tmp)
    ok = False
    try:
        c.start()
        log("# haproxy on 127.0.0.1:%d (stats :%d) in front of roots :%d :%d"
            % (c.lb_port, c.stats_port, *c.root_ports))
        owner, placement = test_routing(c, queries)
        test_failover(c, owner, placement, queries)
        ok = True
    except Failure as e:
        log("FAIL: %s" % e)
    except Exception as e:  # an unexpected error is a failure too, with its logs
        log("FAIL: %s: %s" % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
    finally:
        if not ok:
            c.dump_logs()
        c.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("# files kept in %s" % tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
