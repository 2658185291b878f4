#!/usr/bin/env python3
"""opensearch_client_run.py TRAWL - drives `trawl serve` with the real
@opensearch-project/opensearch client (tests/opensearch_client_test.js):
indexes the demo corpus and the curl commits, starts a server of each and
one of an empty data directory (where the client creates, bulk-loads,
aliases and deletes indexes) on free loopback ports, installs
the client from tests/package-lock.json when it is missing (npm ci), and runs
the client test. Exits 77 (skipped) only when node or npm is not installed,
and fails then instead when TRAWL_REQUIRE_TOOLS is set (scripts/test.sh sets
it: scripts/deps.sh has installed them)."""
import os, shutil, signal, subprocess, sys, tempfile, time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from netlib import free_port  # noqa: E402
TRAWL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cli", "trawl")


def main():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if os.environ.get("TRAWL_REQUIRE_TOOLS"):
            print("FAIL: node and npm are not installed (scripts/deps.sh installs them)")
            return 1
        print("skipped: node and npm are needed for the OpenSearch client test")
        return 77
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@opensearch-project", "opensearch")):
        r = subprocess.run([npm, "ci", "--prefix", HERE, "--no-audit", "--no-fund"],
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stdout, r.stderr)
            print("npm ci failed")
            return 1
    work = tempfile.mkdtemp(prefix="trawl-os-")
    procs = []
    try:
        idx = os.path.join(work, "wiki")
        subprocess.run([TRAWL, "index", idx, os.path.join(ROOT, "data", "wiki-demo", "docs.jsonl")],
                       check=True, stdout=subprocess.DEVNULL)
        # a second index with typed fields, for sort and aggregations
        typed = os.path.join(work, "curl")
        curl = os.path.join(ROOT, "data", "curl-commits")
        subprocess.run([TRAWL, "index", typed, os.path.join(curl, "docs.jsonl.zst"), "--schema",
                        os.path.join(curl, "schema.json")], check=True, stdout=subprocess.DEVNULL)
        # the typed index's server wants bearer tokens: the client sends one
        token = "search-" + os.urandom(12).hex()
        tokens = os.path.join(work, "search-tokens")
        with open(tokens, "w") as f:
            f.write("# the client test's search token\n%s\n" % token)
        admin = os.path.join(work, "admin-tokens")
        with open(admin, "w") as f:
            f.write("admin-" + os.urandom(12).hex() + "\n")
        ports = []
        data = os.path.join(work, "data")  # a data directory: created on start
        for ix in (idx, typed, data):
            port = free_port()
            extra = ["--search-tokens", tokens, "--admin-tokens", admin] if ix == typed else []
            procs.append(subprocess.Popen([TRAWL, "serve", ix, "--http", "127.0.0.1:%d" % port,
                                           "--quiet"] + extra))
            ports.append(port)
            end = time.time() + 20
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/readyz")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if time.time() > end:
                    print("trawl serve never became ready")
                    return 1
                time.sleep(0.2)
        env = dict(os.environ, TRAWL_URL="http://127.0.0.1:%d" % ports[0], TRAWL_INDEX="wiki",
                   TRAWL_TYPED_URL="http://127.0.0.1:%d" % ports[1], TRAWL_TYPED_INDEX="curl",
                   TRAWL_TYPED_TOKEN=token, TRAWL_DATA_URL="http://127.0.0.1:%d" % ports[2])
        return subprocess.run([node, os.path.join(HERE, "opensearch_client_test.js")],
                              env=env, cwd=HERE).returncode
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
