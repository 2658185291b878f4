"""netlib.py - loopback ports for the integration tests (imported by
serve_test.py, build_test.py, tls_test.py and opensearch_client_run.py).

free_port returns a port on 127.0.0.1 that was free a moment ago, for a
server the test is about to start. Two things can take it in between:

- an outgoing connection. The kernel gives every connect() a local port
  from net.ipv4.ip_local_port_range (32768-60999 by default), and the
  tests open thousands of client connections; a port picked by binding
  port 0 comes from that same range, and a fresh-clone CI run once lost
  one to a client a moment before the server bound it ("Address already
  in use"). So ports are picked at random below the ephemeral range,
  where connect() never looks.
- another server of this process: a port already returned is never
  returned again (a leaf's HTTP port once came back as another leaf's nng
  port).

Suites running side by side pick at random from about 12,000 ports and
each checks its pick by binding it, so they meet only if two pick the same
port within the same moment.
"""
import os
import random
import socket

_given = set()
_rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))


def _ephemeral():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _pool():
    lo, hi = _ephemeral()
    if lo > 20000 + 4096:            # the usual case: below the range
        return 20000, lo - 1
    return max(hi + 1, 1024), 65535  # a machine that moved the range down


def free_port():
    lo, hi = _pool()
    for _ in range(10000):
        p = _rng.randint(lo, hi)
        if p in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _given.add(p)
        return p
    raise RuntimeError("no free port on 127.0.0.1 in %d-%d" % (lo, hi))
