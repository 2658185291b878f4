#!/usr/bin/env python3
"""
build_trust_test.py - the red team's attacks on a distributed build (issue
#13, finding 3: "the build coordinator trusts everyone"), each rerun against
a real coordinator (`trawl index --listen`) with stock `trawl build-worker`
processes on loopback:

  a. an anonymous client connects to a coordinator listening on tls+tcp://
     with a CA (plain TCP, TLS without a certificate, a certificate of
     another CA, a stock worker without --cert): it gets nothing, not a
     byte of input; a worker with a certificate of the CA finishes the
     build. Without TLS, a coordinator listening beyond loopback warns.

docs/RESILIENCE.md lists each with its promise and figures.

    python3 tests/build_trust_test.py build/cli/trawl    (or TRAWL_BIN=...)

Needs openssl (scripts/make-certs.sh). Standard library only.
"""
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
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

    def finish(self, p):
        rc = p.wait(240)
        self.assertClean(p.stderr(), p.describe())
        self.assertEqual(rc, 0, p.describe())
        ev = p.events()
        self.assertTrue(ev and ev[-1]["event"] == "done", p.describe())
        return ev[-1]

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
        done = self.finish(p)
        self.assertEqual(good.wait(60), 0, good.describe())
        self.assertPublishedOriginal(ix, done, p)
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
