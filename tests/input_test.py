#!/usr/bin/env python3
"""input_test.py TRAWL - `trawl index` on compressed and _bulk input:
gzip and zstd files (recognised by their bytes, not their names) give the
same index as the plain file; Elasticsearch _bulk NDJSON with index, create
and delete actions; truncated compressed files and unsupported actions are
errors that name the file and line and publish nothing."""
import gzip, json, os, shutil, subprocess, sys, tempfile, unittest

TRAWL = os.environ.get("TRAWL_BIN") or (sys.argv.pop(1) if len(sys.argv) > 1 else None)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "data", "wiki-demo", "docs.jsonl")


def trawl(*args):
    return subprocess.run([TRAWL, *args], capture_output=True, text=True)


class Input(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="trawl-input-")
        with open(DOCS) as f:
            self.lines = [next(f) for _ in range(200)]
        self.plain = self.path("docs.jsonl")
        with open(self.plain, "w") as f:
            f.writelines(self.lines)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def search(self, ix, q="the history of", k="20"):
        r = trawl("search", ix, q, "--json", "-k", k)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [(h["id"], h["score"]) for h in json.loads(r.stdout)["hits"]]

    def build(self, ix, src, ok=True):
        r = trawl("index", self.path(ix), src)
        self.assertNotIn("Sanitizer", r.stderr)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_compressed_same_as_plain(self):
        self.build("plain", self.plain)
        want = self.search(self.path("plain"))
        gz = self.path("docs.data")  # the name says nothing
        with open(self.plain, "rb") as f, gzip.open(gz, "wb") as g:
            g.write(f.read())
        self.build("gz", gz)
        self.assertEqual(self.search(self.path("gz")), want)
        print("gzip: same hits as the plain file")
        if not shutil.which("zstd"):
            if os.environ.get("TRAWL_REQUIRE_TOOLS"):  # scripts/test.sh: deps.sh installed it
                self.fail("the zstd command is not installed")
            print("zstd: not checked (no zstd command)")
        else:
            zst = self.path("docs.zst")
            subprocess.run(["zstd", "-q", self.plain, "-o", zst], check=True)
            self.build("zst", zst)
            self.assertEqual(self.search(self.path("zst")), want)
            print("zstd: same hits as the plain file")

    def test_truncated_compressed(self):
        gz = self.path("t.gz")
        with open(self.plain, "rb") as f, gzip.open(gz, "wb") as g:
            g.write(f.read())
        data = open(gz, "rb").read()
        with open(gz, "wb") as f:
            f.write(data[: len(data) // 2])
        r = self.build("t", gz, ok=False)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("t.gz", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.path("t"), "CURRENT")))
        print("truncated gzip:", r.stderr.splitlines()[0])

    def test_bulk(self):
        docs = [json.loads(l) for l in self.lines[:30]]
        bulk = self.path("bulk.ndjson")
        with open(bulk, "w") as f:
            for d in docs:
                i = d.pop("id")
                f.write(json.dumps({"index": {"_index": "x", "_id": i}}) + "\n")
                f.write(json.dumps(d) + "\n")
            f.write(json.dumps({"delete": {"_id": "12-0"}}) + "\n")
            f.write(json.dumps({"create": {"_id": "zebra-1"}}) + "\n")
            f.write(json.dumps({"title": "Zebra", "body": "a striped zebra crossing"}) + "\n")
            f.write(json.dumps({"delete": {"_id": "not-there"}}) + "\n")
        r = self.build("b", bulk)
        self.assertIn("1 deleted", r.stdout)
        self.assertEqual(trawl("get", self.path("b"), "12-0").returncode, 66)
        got = trawl("get", self.path("b"), "zebra-1")
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn("striped", got.stdout)
        self.assertEqual(self.search(self.path("b"), "zebra")[0][0], "zebra-1")
        print("_bulk: index, create and delete applied")

    def test_bulk_errors(self):
        cases = {
            "update": ('{"update":{"_id":"x"}}\n{"doc":{}}\n', "not supported"),
            "no_source": ('{"index":{"_id":"x"}}\n', "ends after an index action"),
            "delete_no_id": ('{"delete":{}}\n', "needs an \"_id\""),
            "bad_id": ('{"index":{"_id":5}}\n{"title":"t"}\n', "_id"),
        }
        for name, (text, msg) in cases.items():
            with self.subTest(case=name):
                p = self.path(name + ".ndjson")
                with open(p, "w") as f:
                    f.write(text)
                r = self.build("e-" + name, p, ok=False)
                self.assertEqual(r.returncode, 65, r.stderr)
                self.assertIn(msg, r.stderr)
                self.assertIn(name + ".ndjson:", r.stderr)
                print("_bulk error (%s):" % name, r.stderr.splitlines()[0])


if __name__ == "__main__":
    unittest.main(testRunner=unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False))
