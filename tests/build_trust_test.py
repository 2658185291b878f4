#!/usr/bin/env python3
"""
build_trust_test.py - the red team's attacks on a distributed build (issue
#13, finding 3: "the build coordinator trusts everyone"), each rerun against
a real coordinator (`trawl index --listen`) with stock `trawl build-worker`
processes on loopback:

  a. an anonymous client connects to a coordinator listening on tls+tcp://
     with a CA (plain TCP, TLS without a certificate, a certificate of
     another CA, a stock worker without --cert): it gets nothing, not a
     byte of input, and the coordinator reads no message from it;
  b. malformed messages (random bytes, truncated frames, huge lengths,
     unknown types, failure reports, runs and heartbeats that are not what
     they claim) sent during a build: the build completes and publishes
     the same content digest as an undisturbed build (it used to exit 70);
  c. a tampering worker: a proxy between a stock worker and the coordinator
     that alters titles in the items it passes on (the worker's run then
     holds the altered text), or that returns another item's run relabelled
     as this one's: refused, the item redone, and the published index has
     the original text (the altered title is not found; the content digest
     equals an undisturbed build's).

docs/RESILIENCE.md lists each with its promise and figures.

    python3 tests/build_trust_test.py build/cli/trawl    (or TRAWL_BIN=...)

Needs openssl for (a) (scripts/make-certs.sh) and libxxhash (trawl's own
dependency) for (c)'s relabelled run. Standard library only.
"""
import ctypes
import json
import os
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_test as bt  # noqa: E402
from build_test import BuildCase, WIKI, WIKI_DOCS, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTS = ("--shards", 2, "--item-kb", 256)  # 18 work items of the demo corpus

# nng's SP protocol over TCP: an 8-byte handshake naming the protocol, then
# frames of a u64 big-endian length and the payload (a REQ's 4-byte request
# id, its high bit set, then the message)
REQ_HANDSHAKE = b"\x00SP\x00\x00\x30\x00\x00"


def frame(body, rid=1):
    payload = struct.pack(">I", 0x80000000 | rid) + body
    return struct.pack(">Q", len(payload)) + payload


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def read_frame(s):
    n = struct.unpack(">Q", recv_exact(s, 8))[0]
    if n > (256 << 20):
        raise EOFError("a frame of %d bytes" % n)
    return recv_exact(s, n)


def sp_call(port, body, timeout=5.0):
    """One request over a fresh connection; the reply's body, or None when the
    connection closed or stayed silent."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(REQ_HANDSHAKE)
            recv_exact(s, 8)
            s.sendall(frame(body))
            return read_frame(s)[4:]
    except (OSError, EOFError):
        return None


class Coordinator(BuildCase):
    """A coordinator with no worker threads of its own, and its checks."""

    def coordinator(self, ix, *opts, scheme="tcp"):
        self.port = free_port()
        url = "%s://127.0.0.1:%d" % (scheme, self.port)
        p = self.start("index", ix, WIKI, "--workers", 0, "--listen", url, "--progress",
                       "json", *OPTS, *opts)
        self.wait_listening(p)
        return p

    def wait_listening(self, p):
        end = time.monotonic() + 30 * bt.SLOW
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                self.assertIsNone(p.p.poll(), p.describe())
                time.sleep(0.05)
        self.fail("the coordinator never listened: " + p.describe())

    def worker(self, port, *opts, scheme="tcp"):
        return self.start("build-worker", "--connect", "%s://127.0.0.1:%d" % (scheme, port),
                          "--threads", 1, *opts)

    def local_digest(self):
        """The content digest of an undisturbed build of the same input (made once)."""
        if "digest" not in SHARED:
            ix = os.path.join(SHARED["tmp"], "local")
            self.build(ix, WIKI, *OPTS)
            SHARED["digest"] = self.digest(ix)
        return SHARED["digest"]

    def assertPublishedOriginal(self, ix, done, p):
        self.assertEqual(done["docs"], WIKI_DOCS, done)
        self.assertEqual(self.digest(ix), self.local_digest(), p.describe())


SHARED = {}


def setUpModule():
    import tempfile
    SHARED["tmp"] = tempfile.mkdtemp(prefix="trawl-build-trust-")


def tearDownModule():
    shutil.rmtree(SHARED.get("tmp", ""), ignore_errors=True)


# ---------------------------------------------------------------------------
# a: anonymous clients of a TLS coordinator
# ---------------------------------------------------------------------------

class TestAnonymous(Coordinator):
    def certs(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl")
        d = self.path("certs")
        for args in ((d, "127.0.0.1", "worker-1"), (self.path("other"), "intruder")):
            r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "make-certs.sh"), *args],
                               capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        return d, self.path("other")

    def anonymous_attempts(self, port, other):
        """Everything a client without the CA's certificate might try; what it
        received, joined."""
        got = []

        def ask(s):  # the SP handshake and a request for an item; all it gets
            s.sendall(REQ_HANDSHAKE + frame(b"N"))
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got.append(c)
        # plain TCP
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                ask(s)
        except OSError:
            pass
        # TLS without a certificate, then with a certificate of another CA
        for chain in (None, (os.path.join(other, "intruder.pem"),
                             os.path.join(other, "intruder.key"))):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if chain:
                ctx.load_cert_chain(*chain)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
                    with ctx.wrap_socket(raw) as s:
                        ask(s)
            except (OSError, ssl.SSLError):
                pass
        return b"".join(got)

    def test_tls_coordinator_refuses_strangers(self):
        certs, other = self.certs()
        ix = self.path("ix")
        p = self.coordinator(ix, "--cert", os.path.join(certs, "127.0.0.1.pem"), "--key",
                             os.path.join(certs, "127.0.0.1.key"), "--ca",
                             os.path.join(certs, "ca.pem"), scheme="tls+tcp")
        got = self.anonymous_attempts(self.port, other)
        # a stock worker without a certificate, and one with another CA's
        strangers = [self.worker(self.port, "--give-up", 3, scheme="tls+tcp"),
                     self.worker(self.port, "--give-up", 3, "--cert",
                                 os.path.join(other, "intruder.pem"), "--key",
                                 os.path.join(other, "intruder.key"), scheme="tls+tcp")]
        for w in strangers:
            rc = w.wait(60)
            self.assertEqual(rc, bt.EX_IOERR, w.describe())
            self.assertIn("the builder stopped answering", w.stderr())
        # nothing of the input reached them, and no work was done
        self.assertNotIn(b'"id"', got)
        self.assertNotIn(b"title", got)
        self.assertFalse(any(e.get("items_done") for e in p.events()), p.events()[-3:])
        # a worker with the CA's certificate finishes the build
        good = self.worker(self.port, "--cert", os.path.join(certs, "worker-1.pem"), "--key",
                           os.path.join(certs, "worker-1.key"), "--ca",
                           os.path.join(certs, "ca.pem"), scheme="tls+tcp")
        done = self.finish(p, 240)
        self.assertEqual(good.wait(60), 0, good.describe())
        self.assertPublishedOriginal(ix, done, p)
        # refused by the TLS handshake: the coordinator read no message of theirs
        self.assertEqual((done["bad_messages"], done["runs_refused"], done["runs_checked"]),
                         (0, 0, done["items"]), done)
        self.assertNotIn("WARNING", p.stderr())
        print("\n    anonymous clients (plain TCP, TLS without a certificate, another CA's "
              "certificate, 2 stock workers): %d bytes received, 0 items; then %d items by the "
              "authorised worker, digest equal to a local build" % (len(got), done["items"]))

    def test_warning_beyond_loopback(self):
        """Without TLS, a coordinator listening beyond loopback says so at start."""
        port = free_port()
        p = self.start("index", self.path("ix"), WIKI, "--workers", 0, "--listen",
                       "tcp://0.0.0.0:%d" % port, "--progress", "json")
        time.sleep(1.5 * bt.SLOW)
        p.close()
        err = p.stderr()
        self.assertIn("WARNING: this build listens on tcp://0.0.0.0:%d without TLS" % port, err)
        self.assertIn("take work items", err)


# ---------------------------------------------------------------------------
# b: malformed messages during a build
# ---------------------------------------------------------------------------

class TestMalformed(Coordinator):
    def attack(self, port, stop, counts):
        rng = random.Random(bt.SEED)
        u64 = lambda v: struct.pack("<Q", v)  # noqa: E731
        bodies = [
            b"", b"Z", b"Zjunk", b"N" + b"x" * 10, b"B", b"B" + u64(3) + b"!",
            b"F", b"F" + u64(0), b"F" + u64(1) + b"\xff\xff\xff\xff" + b"msg",
            b"F" + u64(2) + struct.pack("<i", 14) + b"EINTERNAL, says the attacker",
            b"F" + u64(5) + struct.pack("<i", 9) + b"docs.jsonl:1:1: lies",
            b"D" + u64(4), b"D" + u64(6) + b"TRAWLRUN" + bytes(200),
            b"D" + u64(1 << 60) + bytes(rng.getrandbits(8) for _ in range(400)),
        ]
        malformed = bodies[:8]
        bodies += [b"B" + u64(i) for i in range(18)]  # other workers' leases
        # beside the loop: one connection that keeps sending malformed
        # messages, until it is cut off
        threading.Thread(target=self.persistent, args=(port, malformed, counts),
                         daemon=True).start()
        # first, before any worker: a false failure report for each item (the
        # first of them used to end the build, exit 70)
        for i in range(18):
            reply = sp_call(port, b"F" + u64(i) + struct.pack("<i", 9) + b"docs.jsonl:1:1: lies")
            counts["sent"] += 1
            counts[(reply or b"?")[:1]] = counts.get((reply or b"?")[:1], 0) + 1
        while not stop.is_set():
            kind = rng.randrange(5)
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                time.sleep(0.05)  # the build is over
                continue
            try:
                if kind == 0:  # random bytes
                    s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 4096))))
                elif kind == 1:  # a frame that never ends
                    s.sendall(REQ_HANDSHAKE + struct.pack(">Q", 1000) + b"\x80\x00\x00\x01D")
                elif kind == 2:  # a huge length
                    s.sendall(REQ_HANDSHAKE + struct.pack(">Q", 1 << 62) + b"\x80\x00\x00\x01")
                elif kind == 3:  # another protocol
                    s.sendall(b"\x00SP\x00\x00\x20\x00\x00" + frame(b"N"))
                else:  # well framed, but malformed or lying messages
                    s.sendall(REQ_HANDSHAKE)
                    recv_exact(s, 8)
                    for _ in range(2):
                        s.sendall(frame(rng.choice(bodies), rng.randrange(1, 1 << 30)))
                        counts["sent"] += 1
                        reply = read_frame(s)[4:]
                        counts[reply[:1]] = counts.get(reply[:1], 0) + 1
                counts["raw" if kind < 4 else "framed"] += 1
            except (OSError, EOFError):
                counts["cut"] += 1  # no answer: the connection was cut off (or closed)
            finally:
                s.close()
            time.sleep(0.01)

    def persistent(self, port, malformed, counts):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(REQ_HANDSHAKE)
            recv_exact(s, 8)
            for i, body in enumerate(malformed):
                s.sendall(frame(body, i + 1))
                try:
                    read_frame(s)
                    counts["answered"] += 1
                except (OSError, EOFError):
                    break  # cut off: no answer any more

    def test_malformed_messages_do_not_stop_the_build(self):
        ix = self.path("ix")
        p = self.coordinator(ix)
        stop = threading.Event()
        counts = {"sent": 0, "raw": 0, "framed": 0, "cut": 0, "answered": 0}
        t = threading.Thread(target=self.attack, args=(self.port, stop, counts), daemon=True)
        t.start()
        end = time.monotonic() + 30 * bt.SLOW
        while counts["sent"] < 18 and time.monotonic() < end:
            time.sleep(0.05)  # the false failure reports first, alone
        workers = [self.worker(self.port), self.worker(self.port)]
        try:
            done = self.finish(p, 240)
        finally:
            stop.set()
            t.join(10)
        for w in workers:
            w.wait(60)
        self.assertPublishedOriginal(ix, done, p)
        self.assertGreater(counts["sent"], 10, counts)
        self.assertGreater(done["bad_messages"], 0, done)
        self.assertGreaterEqual(done["failures_refused"], 1, done)
        self.assertGreaterEqual(done["peers_cut"], 1, done)
        self.assertEqual(counts["answered"], 2, counts)  # the third refusal cuts it off
        self.assertIn("refused", p.stderr())
        self.assertIn("cut off after 3 refused requests", p.stderr())
        print("\n    %d connections of raw bytes, %d with %d malformed or lying messages "
              "(replies %s), %d left unanswered: build done, %d bad messages and %d failure "
              "reports refused, %d runs refused, %d connections cut; digest equal to a local "
              "build" % (counts["raw"], counts["framed"], counts["sent"],
                  {k.decode(): v for k, v in counts.items() if isinstance(k, bytes)},
                  counts["cut"], done["bad_messages"], done["failures_refused"],
                  done["runs_refused"], done["peers_cut"]))


# ---------------------------------------------------------------------------
# c: tampering workers
# ---------------------------------------------------------------------------

MARK = b"trawlpwned"

try:
    _xxh = ctypes.CDLL("libxxhash.so.0")
    _xxh.XXH3_64bits.restype = ctypes.c_uint64
    _xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
except OSError:
    _xxh = None


def reseal(run):
    """A run's checksum made right after a change (docs/FORMAT.md §13)."""
    return run[:-8] + struct.pack("<Q", _xxh.XXH3_64bits(run[:-8], len(run) - 8))


class TamperingProxy:
    """Between stock build workers and the coordinator, speaking SP over TCP.
    mode "alter": every title in the items passed to the worker gets MARK as
    its first word (the worker's run then holds altered text, stored and
    indexed). mode "swap": the run of each finished item goes back as the
    run of the next one, relabelled with its id and hash and resealed."""

    def __init__(self, upstream, mode):
        self.upstream, self.mode = upstream, mode
        self.port = free_port()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(8)
        self.altered = self.swapped = 0
        self.last_run = None
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                c.close()
                continue
            threading.Thread(target=self.pump, args=(c, u, self.to_builder), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, self.to_worker), daemon=True).start()

    def pump(self, a, b, change):
        try:
            b.sendall(recv_exact(a, 8))  # the SP handshake
            while True:
                payload = read_frame(a)
                body = change(payload[4:])
                b.sendall(struct.pack(">Q", 4 + len(body)) + payload[:4] + body)
        except (OSError, EOFError):
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def to_worker(self, body):
        if self.mode != "alter" or body[:1] != b"I":
            return body
        # the item's bytes come last, after the parameters (docs/WIRE.md)
        at = 1 + 27
        at += struct.unpack_from("<H", body, 26)[0]
        at += 4 + struct.unpack_from("<I", body, at)[0]
        at += 13 + struct.unpack_from("<I", body, at + 9)[0] + 8
        item = body[at:]
        if b'"title": "' not in item:
            return body
        with self.lock:
            self.altered += 1
        return body[:at] + item.replace(b'"title": "', b'"title": "' + MARK + b" ")

    def to_builder(self, body):
        if self.mode != "swap" or body[:1] != b"D":
            return body
        item, run = body[1:9], body[9:]
        with self.lock:
            prev, self.last_run = self.last_run, run
            if prev is None:
                return body
            self.swapped += 1
        fake = prev[:16] + run[16:32] + prev[32:]  # this item's id and hash
        return b"D" + item + reseal(fake)

    def close(self):
        self.lsock.close()


class TestTampering(Coordinator):
    def tampered_build(self, mode):
        """A build with a tampering worker alone until its first run is refused
        (or the build ends: the old code accepted every run), then an honest
        one. Returns the index, the done event, the proxy, the coordinator."""
        ix = self.path("ix")
        p = self.coordinator(ix)
        proxy = TamperingProxy(self.port, mode)
        self.addCleanup(proxy.close)
        bad = self.worker(proxy.port, "--give-up", 5)
        end = time.monotonic() + 60 * bt.SLOW
        while ("refused its run" not in p.stderr() and p.p.poll() is None and
               time.monotonic() < end):
            time.sleep(0.1)
        honest = self.worker(self.port)
        done = self.finish(p, 240)
        honest.wait(60)
        bad.wait(60)  # cut off, or told the build is over
        return ix, done, proxy, p

    def assertRefusedAndRedone(self, ix, done, p):
        self.assertEqual(self.digest(ix), self.local_digest(), p.describe())
        self.assertEqual(done["docs"], WIKI_DOCS, done)
        self.assertGreaterEqual(done.get("runs_refused", 0), 1, done)
        self.assertIn("refused its run of item", p.stderr())

    def test_altered_titles_are_refused(self):
        ix, done, proxy, p = self.tampered_build("alter")
        self.assertGreaterEqual(proxy.altered, 1)
        r = self.run_ok("search", ix, MARK.decode(), "--json")
        self.assertEqual(json.loads(r.out)["total"], 0, "altered text published: " + r.out[:300])
        r = self.run_ok("get", ix, "12-0")  # the first document of the first item
        self.assertNotIn(MARK.decode(), r.out)
        self.assertRefusedAndRedone(ix, done, p)
        print("\n    a proxy altered the titles of %d items: %d runs refused, %d connections "
              "cut, %s not found; digest equal to a local build" % (
                  proxy.altered, done["runs_refused"], done["peers_cut"], MARK.decode()))

    def test_another_items_run_is_refused(self):
        if _xxh is None:
            self.skipTest("no libxxhash")
        ix, done, proxy, p = self.tampered_build("swap")
        self.assertGreaterEqual(proxy.swapped, 1)
        self.assertRefusedAndRedone(ix, done, p)
        self.assertRegex(p.stderr(), r"refused its run of item \d+ \(.*\): (document|it holds|its)")
        print("\n    a proxy sent %d runs relabelled as other items': %d refused; digest equal "
              "to a local build" % (proxy.swapped, done["runs_refused"]))


def main():
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        bt.TRAWL = argv.pop(1)
    else:
        bt.TRAWL = os.environ.get("TRAWL_BIN")
    if not bt.TRAWL:
        sys.exit("usage: build_trust_test.py TRAWL_BINARY [unittest options]")
    bt.TRAWL = os.path.abspath(bt.TRAWL)
    slow = os.environ.get("TRAWL_SLOW", "")
    if not slow:
        with open(bt.TRAWL, "rb") as f:
            slow = "1" if b"__asan_init" in f.read() else ""
    bt.SLOW = 3.0 if slow not in ("", "0") else 1.0
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False)
    unittest.main(argv=argv, testRunner=runner)


if __name__ == "__main__":
    main()
