#!/usr/bin/env python3
"""tls_test.py TRAWL - a leaf on tls+tcp:// with a certificate signed by a
test CA (made here with openssl), a root that verifies it with that CA
(answers), one that verifies it with another CA (refused: 503, never a
result), and one without verification (answers). Real processes, loopback."""
import json, os, shutil, signal, subprocess, sys, tempfile, time, unittest
import http.client, urllib.parse

TRAWL = os.environ.get("TRAWL_BIN") or (sys.argv.pop(1) if len(sys.argv) > 1 else None)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import free_port  # noqa: E402


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TLS(unittest.TestCase):
    def setUp(self):
        if not shutil.which("openssl"):
            if os.environ.get("TRAWL_REQUIRE_TOOLS"):  # scripts/test.sh: deps.sh installed it
                self.fail("openssl is not installed")
            self.skipTest("no openssl")
        self.dir = tempfile.mkdtemp(prefix="trawl-tls-")
        self.procs = []
        d = self.dir
        run(TRAWL, "index", os.path.join(d, "idx"), os.path.join(ROOT, "data/wiki-demo/docs.jsonl"),
            "--shards", "2")
        for ca in ("ca", "other"):
            run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                os.path.join(d, ca + ".key"), "-out", os.path.join(d, ca + ".pem"), "-days", "2",
                "-subj", "/CN=trawl-test-" + ca)
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(d, "leaf.key"),
            "-out", os.path.join(d, "leaf.csr"), "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("openssl", "x509", "-req", "-in", os.path.join(d, "leaf.csr"), "-CA",
            os.path.join(d, "ca.pem"), "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial",
            "-out", os.path.join(d, "leaf.pem"), "-days", "2", "-extfile", os.path.join(d, "ext"))
        self.url = "tls+tcp://127.0.0.1:%d" % free_port()
        self.procs.append(subprocess.Popen(
            [TRAWL, "leaf", "--index", os.path.join(d, "idx"), "--listen", self.url, "--cert",
             os.path.join(d, "leaf.pem"), "--key", os.path.join(d, "leaf.key"), "--quiet"],
            stderr=subprocess.PIPE))
        with open(os.path.join(d, "cluster.json"), "w") as f:
            json.dump({"shards": 2, "leaves": [{"url": self.url, "shards": [0, 1]}]}, f)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
            self.assertNotIn("Sanitizer", err)
        shutil.rmtree(self.dir, ignore_errors=True)

    def root(self, *extra):
        port = free_port()
        self.procs.append(subprocess.Popen(
            [TRAWL, "root", "--cluster", os.path.join(self.dir, "cluster.json"), "--http",
             "127.0.0.1:%d" % port, "--quiet", "--timeout-ms", "1000", *extra],
            stderr=subprocess.PIPE))
        return port

    def search(self, port):
        """The status and body of a search, once the root has had time to connect."""
        end = time.time() + 8
        while True:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                c.request("GET", "/search?" + urllib.parse.urlencode({"q": "griffith observatory"}))
                r = c.getresponse()
                body = json.loads(r.read())
                if r.status == 200 or time.time() > end:
                    return r.status, body
            except OSError:
                if time.time() > end:
                    raise
            time.sleep(0.3)

    def test_verified(self):
        status, body = self.search(self.root("--ca", os.path.join(self.dir, "ca.pem")))
        print("verified with the right CA:", status)
        self.assertEqual(status, 200)
        self.assertGreater(body["total"]["value"], 0)

    def test_wrong_ca_refused(self):
        status, body = self.search(self.root("--ca", os.path.join(self.dir, "other.pem")))
        print("verified with another CA:", status)
        self.assertEqual(status, 503)
        self.assertEqual(body["error"]["type"], "search_phase_execution_exception")

    def test_wrong_name_refused(self):
        """A certificate from the right CA but for another host name."""
        d = self.dir
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(d, "o.key"),
            "-out", os.path.join(d, "o.csr"), "-subj", "/CN=other.example")
        with open(os.path.join(d, "ext2"), "w") as f:
            f.write("subjectAltName=DNS:other.example\n")
        run("openssl", "x509", "-req", "-in", os.path.join(d, "o.csr"), "-CA",
            os.path.join(d, "ca.pem"), "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial",
            "-out", os.path.join(d, "o.pem"), "-days", "2", "-extfile", os.path.join(d, "ext2"))
        port = free_port()
        url = "tls+tcp://localhost:%d" % port
        self.procs.append(subprocess.Popen(
            [TRAWL, "leaf", "--index", os.path.join(d, "idx"), "--listen",
             "tls+tcp://127.0.0.1:%d" % port, "--cert", os.path.join(d, "o.pem"), "--key",
             os.path.join(d, "o.key"), "--quiet"], stderr=subprocess.PIPE))
        with open(os.path.join(d, "cluster.json"), "w") as f:
            json.dump({"shards": 2, "leaves": [{"url": url, "shards": [0, 1]}]}, f)
        status, _ = self.search(self.root("--ca", os.path.join(d, "ca.pem")))
        print("right CA, wrong host name:", status)
        self.assertEqual(status, 503)

    def test_unverified(self):
        status, _ = self.search(self.root())
        print("without verification:", status)
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main(testRunner=unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False))
