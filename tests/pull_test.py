#!/usr/bin/env python3
"""Leaves that pull generations over the network (`trawl leaf --pull URL`,
issue #12 item 7), as real processes on loopback.

A source leaf serves an index directory X; a pulling leaf starts on an
empty directory Y, pulls X's live generation from the source, and a root
over it answers searches exactly as `trawl search X` does (ids, scores,
totals). Then `trawl index X --update` publishes a new generation: the
pulling leaf must fetch only the files the update wrote (bytes received
counted against the sizes of the files X's generations do not share) and
link the others (the same inode in Y's two generations), and switch. A
generation whose new segment has a byte flipped on the source after its
manifest was written is refused (the log says which file, /metrics counts
it, Y's CURRENT keeps the last good one and the answers do not change),
and pulled once the file is right again. A pull killed with SIGKILL in the
middle of a file resumes from what it had written: the restarted leaf
receives exactly the rest, and the generation verifies (`trawl verify`).
A leaf serving one shard pulls that shard's files only. FILE_READ of
"../CURRENT", "CURRENT", or any name the manifest does not list is
refused, read as raw nng frames.

    python3 tests/pull_test.py build/cli/trawl [unittest options]
"""
import json
import os
import random
import re
import signal
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_test as st  # noqa: E402  (its processes, HTTP helpers, waits)
from netlib import free_port  # noqa: E402

QUERIES = ["griffith observatory", "solar eclipse", "\"new york\" city", "anarch*",
           "+music -rock", "title:observatory", "bowel obstruction", "vicenza italy",
           "philosophy", "war", "update marker"]
SHARDS = 2

REQ_HS = b"\x00SP\x00\x00\x30\x00\x00"


def wiki_docs(n):
    out = []
    with open(st.WIKI) as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def write_update(path, docs, rng, new, replace, tag):
    """new documents (fresh ids) and replacements of existing ids."""
    out = []
    for d in rng.sample(docs, new):
        d = dict(d)
        d["id"] = "%s-%s" % (tag, d["id"])
        d["body"] = "update marker %s %s" % (tag, d["body"][:200])
        out.append(d)
    for d in rng.sample(docs, replace):
        d = dict(d)
        d["body"] = "update marker replaced %s %s" % (tag, d["body"][:300])
        out.append(d)
    with open(path, "w") as f:
        for d in out:
            f.write(json.dumps(d) + "\n")


def gen_files(gendir):
    """{name: (inode, size)} of a generation's files but the manifest."""
    out = {}
    for name in os.listdir(gendir):
        if name.startswith("MANIFEST."):
            continue
        s = os.stat(os.path.join(gendir, name))
        out[name] = (s.st_ino, s.st_size)
    return out


def current(d):
    with open(os.path.join(d, "CURRENT")) as f:
        return f.read().strip()


def header(type_, gen, rid=7):
    return struct.pack("<HBBHH", 0x5754, 3, type_, 0, 0) + struct.pack("<QQQ", rid, 0, gen)


def rpc(port, body, timeout):
    """One nng request to a leaf; the reply's wire bytes."""
    hs, frames, closed = st.sp_exchange(
        port, REQ_HS + struct.pack(">Q", 4 + len(body)) + b"\x80\x00\x00\x01" + body, timeout)
    if not frames:
        raise AssertionError("no reply (handshake %r, closed %s)" % (hs, closed))
    return frames[0][4:]


def file_read(port, gen, name, offset=0, max_len=4096, timeout=5):
    """FILE_READ; returns (status, size, data, errmsg) of its FILE_READ_REPLY."""
    name = name.encode() if isinstance(name, str) else name
    r = rpc(port, header(21, gen) + struct.pack("<QIB", offset, max_len, len(name)) + name,
            timeout)
    assert r[3] == 22, "not a FILE_READ_REPLY: type %d" % r[3]
    status, res, size, dlen = struct.unpack("<HHQI", r[32:48])
    data = r[48:48 + dlen]
    (elen,) = struct.unpack("<I", r[48 + dlen:52 + dlen])
    return status, size, data, r[52 + dlen:52 + dlen + elen].decode("utf-8", "replace")


def files(port, gen, timeout=5):
    """FILES; returns (generation, status, manifest, sum, errmsg)."""
    r = rpc(port, header(19, gen), timeout)
    assert r[3] == 20, "not a FILES_REPLY: type %d" % r[3]
    (g,) = struct.unpack("<Q", r[24:32])
    status, res, mlen = struct.unpack("<HHI", r[32:40])
    man = r[40:40 + mlen]
    slen = r[40 + mlen]
    s = r[41 + mlen:41 + mlen + slen]
    (elen,) = struct.unpack("<I", r[41 + mlen + slen:45 + mlen + slen])
    err = r[45 + mlen + slen:45 + mlen + slen + elen]
    return g, status, man, s, err.decode("utf-8", "replace")


class PullCase(st.ServeCase):
    def setUp(self):
        super().setUp()
        self.x = self.path("X")
        st.build_index(self.x, st.WIKI, "--shards", SHARDS)
        self.rng = random.Random(20261207)
        self.docs = wiki_docs(2000)

    def update(self, path):
        rc, out, err = st.run_trawl("index", self.x, "--update", path)
        self.assertEqual(rc, 0, out + err)

    def start_source(self):
        port = free_port()
        p = self.start("source", "leaf", "--index", self.x, "--listen",
                       "tcp://127.0.0.1:%d" % port, "--quiet")
        return p, port

    def start_puller(self, d, src_port, *extra):
        lport, hport = free_port(), free_port()
        p = self.start("puller", "leaf", "--index", d, "--pull", "tcp://127.0.0.1:%d" % src_port,
                       "--listen", "tcp://127.0.0.1:%d" % lport, "--http",
                       "127.0.0.1:%d" % hport, *extra)
        return p, lport, hport

    def metrics(self, hport):
        try:
            body = self.get(hport, "/metrics", timeout=5).body.decode()
        except OSError:
            return {}
        out = {}
        for m in re.finditer(r'^(trawl_leaf_pull_\w+)(\{how="(\w+)"\})? (\d+)$', body, re.M):
            out[m.group(1) + ("." + m.group(3) if m.group(3) else "")] = int(m.group(4))
        return out

    def generation(self, hport):
        try:
            r = self.get(hport, "/readyz", timeout=2)
        except OSError:
            return None
        return r.json.get("generation") if r.json else None

    def wait_generation(self, hport, gen, procs, timeout):
        def check():
            for p in procs:
                if not p.alive():
                    raise AssertionError("died: " + p.describe())
            return self.generation(hport) == gen
        ok, secs = st.wait_until(check, timeout * st.SLOW, 0.1)
        self.assertTrue(ok, "generation %d not served within %.0f s (serving %r):\n%s" % (
            gen, timeout * st.SLOW, self.generation(hport),
            "\n".join(p.describe() for p in procs)))
        return secs

    def root_over(self, lport):
        cluster = self.path("cluster-%d.json" % lport)
        with open(cluster, "w") as f:
            json.dump({"shards": SHARDS, "leaves": [{"url": "tcp://127.0.0.1:%d" % lport,
                                                     "shards": list(range(SHARDS))}]}, f)
        port = free_port()
        root = self.start("root", "root", "--cluster", cluster, "--http", "127.0.0.1:%d" % port,
                          "--quiet", "--cache-mb", "0")
        return root, port

    def answers(self, port, gen):
        """The root's answers to QUERIES, for generation gen."""
        out = {}
        for q in QUERIES:
            def asked(q=q):
                got = self.search(port, q, k=10)
                return got if got["generation"] == gen else None
            got, _ = st.wait_until(asked, 5 * st.SLOW, 0.1)
            self.assertIsNotNone(got, "%r: generation %d not answered" % (q, gen))
            out[q] = got
        return out

    def assertSameAsCli(self, answers):
        nonempty = 0
        for q, got in answers.items():
            want = st.cli_search(self.x, q, k=10)
            st.assert_same_results(self, got, want, repr(q))
            nonempty += bool(want["hits"])
        self.assertGreater(nonempty, len(QUERIES) // 2)


class TestPull(PullCase):
    def test_pull_update_refuse_and_recover(self):
        src, sport = self.start_source()
        y = self.path("Y")
        puller, lport, hport = self.start_puller(y, sport)
        root, port = self.root_over(lport)
        # an empty directory is a valid start: ready after the first pull
        self.wait_generation(hport, 1, [src, puller, root], 15)
        self.wait_ready(port, self.procs)
        self.assertEqual(current(y), "gen-000001")
        gen1 = self.answers(port, 1)
        self.assertSameAsCli(gen1)
        m1 = self.metrics(hport)
        whole1 = sum(s for _, s in gen_files(os.path.join(self.x, "gen-000001")).values())
        self.assertEqual(m1["trawl_leaf_pull_bytes_total"], whole1)
        self.assertEqual(m1["trawl_leaf_pull_generations_total"], 1)

        # an update: only the files it wrote travel
        upd = self.path("u2.jsonl")
        write_update(upd, self.docs, self.rng, 30, 10, "g2")
        self.update(upd)
        self.assertEqual(current(self.x), "gen-000002")
        self.wait_generation(hport, 2, [src, puller, root], 15)
        x1 = gen_files(os.path.join(self.x, "gen-000001"))
        x2 = gen_files(os.path.join(self.x, "gen-000002"))
        shared = {n for n, (ino, _) in x2.items() if x1.get(n, (None,))[0] == ino}
        new_bytes = sum(s for n, (_, s) in x2.items() if n not in shared)
        whole2 = sum(s for _, s in x2.values())
        m2 = self.metrics(hport)
        got = m2["trawl_leaf_pull_bytes_total"] - m1["trawl_leaf_pull_bytes_total"]
        print("\npull_test: the update's generation: %d bytes received of %d in all "
              "(%d files fetched, %d linked; the whole first generation was %d bytes)" % (
                  got, whole2, m2["trawl_leaf_pull_files_total.fetched"] -
                  m1["trawl_leaf_pull_files_total.fetched"],
                  m2["trawl_leaf_pull_files_total.linked"], whole1))
        self.assertTrue(shared, "the update shared no file with the build")
        self.assertEqual(got, new_bytes)
        self.assertLess(got, whole2 // 3)
        y1 = gen_files(os.path.join(y, "gen-000001"))
        y2 = gen_files(os.path.join(y, "gen-000002"))
        self.assertEqual(set(y2), set(x2))
        for n in shared:
            self.assertEqual(y2[n][0], y1[n][0], "%s is not a link in Y" % n)
        gen2 = self.answers(port, 2)
        self.assertSameAsCli(gen2)
        self.assertTrue(any(h["id"].startswith("g2-") for a in gen2.values()
                            for h in a["hits"]), "the update's documents are not found")

        # a damaged file on the source: the generation is refused
        puller.signal(signal.SIGSTOP)
        upd = self.path("u3.jsonl")
        write_update(upd, self.docs, self.rng, 20, 5, "g3")
        self.update(upd)
        self.assertEqual(current(self.x), "gen-000003")
        g3 = os.path.join(self.x, "gen-000003")
        seg = sorted(n for n in os.listdir(g3) if re.match(r"s\d{3}-g000003\.mdb$", n))[0]
        with open(os.path.join(g3, seg), "r+b") as f:
            f.seek(5000)
            good = f.read(1)
            f.seek(5000)
            f.write(bytes([good[0] ^ 0x20]))
        puller.signal(signal.SIGCONT)
        ok, _ = st.wait_until(
            lambda: self.metrics(hport).get("trawl_leaf_pull_refused_total", 0) >= 1, 15 * st.SLOW,
            0.1)
        self.assertTrue(ok, puller.describe())
        self.assertRegex(puller.stderr(), r"not pulling: generation 3 from .*: %s: checksum "
                         r"mismatch" % re.escape(seg))
        self.assertEqual(self.generation(hport), 2)
        self.assertEqual(current(y), "gen-000002")
        self.assertFalse(os.path.exists(os.path.join(y, "gen-000003")))
        self.assertFalse(os.path.exists(os.path.join(y, "gen-000003.tmp", seg)),
                         "the damaged file was kept")
        again = self.answers(port, 2)
        for q in QUERIES:
            self.assertEqual([(h["id"], h["score"]) for h in again[q]["hits"]],
                             [(h["id"], h["score"]) for h in gen2[q]["hits"]], q)

        # the file right again: pulled at the next retry
        with open(os.path.join(g3, seg), "r+b") as f:
            f.seek(5000)
            f.write(good)
        self.wait_generation(hport, 3, [src, puller, root], 90)
        self.assertSameAsCli(self.answers(port, 3))
        rc, out, err = st.run_trawl("verify", y)
        self.assertEqual(rc, 0, out + err)
        self.shutdown_and_check()

    def test_one_shard_pulls_its_files(self):
        upd = self.path("u2.jsonl")
        write_update(upd, self.docs, self.rng, 40, 10, "g2")
        self.update(upd)
        src, sport = self.start_source()
        w = self.path("W")
        puller, lport, hport = self.start_puller(w, sport, "--shards", "1")
        self.wait_generation(hport, 2, [src, puller], 15)
        names = set(gen_files(os.path.join(w, "gen-000002")))
        everything = set(gen_files(os.path.join(self.x, "gen-000002")))
        want = {n for n in everything if not re.match(r"(shard-000|s000-)", n)}
        self.assertEqual(names, want)
        self.assertTrue(any(n.startswith("stats-") for n in names), names)
        self.shutdown_and_check()


class TestResume(PullCase):
    def test_kill9_mid_file_then_resume(self):
        src, sport = self.start_source()
        z = self.path("Z")
        # 256 KiB/s: the first generation's 4 MB take about 16 s
        puller, lport, hport = self.start_puller(z, sport, "--pull-rate", "256")
        ok, _ = st.wait_until(
            lambda: self.metrics(hport).get("trawl_leaf_pull_bytes_total", 0) >= 1 << 20,
            20 * st.SLOW, 0.05)
        self.assertTrue(ok, puller.describe())
        puller.kill9()
        tmp = os.path.join(z, "gen-000001.tmp")
        want = {n: s for n, (_, s) in gen_files(os.path.join(self.x, "gen-000001")).items()}
        have = {n: s for n, (_, s) in gen_files(tmp).items()}
        self.assertTrue(have, "nothing written before the kill")
        self.assertTrue(any(s < want[n] for n, s in have.items()),
                        "no file was cut in the middle: %r of %r" % (have, want))
        self.assertFalse(os.path.exists(os.path.join(z, "CURRENT")))
        puller2, lport2, hport2 = self.start_puller(z, sport)
        self.wait_generation(hport2, 1, [src, puller2], 15)
        got = self.metrics(hport2)["trawl_leaf_pull_bytes_total"]
        print("\npull_test: resumed: %d bytes on disk at the kill, %d received after the "
              "restart, %d in all" % (sum(have.values()), got, sum(want.values())))
        self.assertEqual(got, sum(want.values()) - sum(have.values()))
        self.assertFalse([n for n in os.listdir(z) if n.endswith(".tmp")])
        rc, out, err = st.run_trawl("verify", z)
        self.assertEqual(rc, 0, out + err)
        self.shutdown_and_check()


class TestFileServe(PullCase):
    def test_files_and_refused_names(self):
        src, sport = self.start_source()
        def up():
            try:
                return files(sport, 0, 1)[1] == 0
            except (OSError, AssertionError):
                return False
        self.assertTrue(st.wait_until(up, 10 * st.SLOW, 0.1)[0], src.describe())
        g1 = os.path.join(self.x, "gen-000001")
        gen, status, man, sm, err = files(sport, 0)
        self.assertEqual((gen, status, err), (1, 0, ""))
        with open(os.path.join(g1, "MANIFEST.json"), "rb") as f:
            self.assertEqual(man, f.read())
        with open(os.path.join(g1, "MANIFEST.xxh3"), "rb") as f:
            self.assertEqual(sm, f.read())
        self.assertEqual(files(sport, 1)[:2], (1, 0))
        gen, status, man, sm, err = files(sport, 9)
        self.assertEqual((status, man), (5, b""))
        self.assertIn("generation 9 is not in", err)

        with open(os.path.join(g1, "shard-000.mdb"), "rb") as f:
            f.seek(4096)
            want = f.read(100)
        size = os.path.getsize(os.path.join(g1, "shard-000.mdb"))
        self.assertEqual(file_read(sport, 1, "shard-000.mdb", 4096, 100), (0, size, want, ""))
        status, got_size, data, err = file_read(sport, 1, "shard-000.mdb", size + 10, 100)
        self.assertEqual((status, got_size, data), (0, size, b""))
        with open(os.path.join(self.x, "wlog.mdb"), "wb") as f:
            f.write(b"not for you")
        os.symlink("../CURRENT", os.path.join(g1, "sneaky"))
        refused = [
            ("../CURRENT", 1, 3, "name starts with '.'"),
            ("..", 1, 3, "name starts with '.'"),
            ("gen-000001/shard-000.mdb", 1, 3, "name has a '/'"),
            ("a\0b", 1, 3, "name has a NUL"),
            ("CURRENT", 1, 5, "CURRENT is not a file of generation 1"),
            ("wlog.mdb", 1, 5, "not a file of generation 1"),
            ("sneaky", 1, 5, "not a file of generation 1"),
            ("MANIFEST.json", 1, 5, "not a file of generation 1"),
            ("shard-000.mdb", 0, 3, "FILE_READ needs a generation"),
            ("shard-000.mdb", 7, 5, "generation 7 is not in"),
        ]
        for name, gen, status, why in refused:
            with self.subTest(name=name, gen=gen):
                got = file_read(sport, gen, name)
                self.assertEqual(got[0], status, got)
                self.assertEqual(got[2], b"")
                self.assertIn(why, got[3])
        self.shutdown_and_check()


if __name__ == "__main__":
    st.main()  # the binary from argv, SLOW; runs this module's tests
