#!/usr/bin/env python3
"""
ui_test.py - the search page (/_ui/, ui/ and root/ui.c) in a real browser:
Debian's chromium, headless, driven over the DevTools protocol, against
`trawl serve` on the structured corpora and the wiki demo.

    python3 tests/ui_test.py build/cli/trawl [unittest options]

What it does, as a user would (typing with key events, clicking with mouse
events at the element's place on the screen), and what it checks against
the HTTP API itself (POST /search with the request the page made):

- debian-packages: the facets are the keyword fields with the fewest
  distinct values (counted field by field when the one probe of them all
  is refused); a typed query gives the total and the hits the API
  gives, with the snippets' marked words in <em>; a click on a facet's
  value puts the filter in the URL, the total becomes that value's count and
  every facet's counts are the API's for the narrowed search; the next page
  shows other hits with the offset in the URL; back and back again restore
  both earlier states; the range control's filter; an API error shown.
- curl-commits: the range control and the date histogram exist; a click on
  a bar narrows to the bar's count, and the histogram goes to months.
- wiki-demo (text only): hits and paging, no facets, range or histogram.
- untrusted text: documents holding markup show it as text; no element,
  script or request comes of it.
- Throughout: no script error, no Content-Security-Policy violation, no
  request beyond the page's own server, no failed request.

The browser runs with a throw-away profile and talks over
--remote-debugging-pipe (fd 3 to it, fd 4 from it; messages are JSON
ended by a NUL byte). Without chromium (TRAWL_CHROMIUM names another
binary) every test is skipped with the reason, unless TRAWL_REQUIRE_TOOLS
is set (scripts/test.sh sets it; scripts/deps.sh installs chromium): then
they fail. No process is left behind: trawl and chromium stay in the test's
process group (meson kills it on a timeout), die with the test (the
parent-death signal), and are stopped (chromium with every process it
started, which come to this process when their parent dies: it is their
subreaper) when a test ends, pass or fail; the module checks at the end
that none is left. Standard library only.
"""
import base64
import ctypes
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "data")
sys.path.insert(0, HERE)
from netlib import free_port  # noqa: E402

TRAWL = None  # set in main()
SLOW = 1.0  # waits are multiplied by this in a sanitizer build (main())
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def chromium_binary():
    """TRAWL_CHROMIUM, or chromium on PATH; None if it cannot be run."""
    path = os.environ.get("TRAWL_CHROMIUM") or shutil.which("chromium")
    return path if path and os.access(path, os.X_OK) else None


def die_with_parent():
    """In a child before exec: SIGKILL when the test process dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def descendants(pid):
    """Every live process below pid (from /proc), deepest last."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                parent[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def file_text(path):
    """A log file's text, "" when there is none."""
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def kill_tree(pid):
    """SIGKILL to pid and everything it started (by their ids)."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reap_strays(keep=()):
    """Kills and reaps this process's children but those in keep, and
    their descendants: a browser's helpers whose parent has gone come here
    (main() makes this process their subreaper). The pids reaped."""
    kept = set(keep)
    for k in keep:
        kept.update(descendants(k))
    strays = [p for p in descendants(os.getpid()) if p not in kept]
    for p in strays:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 10
    for p in strays:
        while time.monotonic() < end:
            try:
                if os.waitpid(p, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break  # not our child (a grandchild: its parent reaps it), or reaped
            time.sleep(0.01)
    return strays


# ---------------------------------------------------------------------------
# the browser
# ---------------------------------------------------------------------------

class Browser:
    """Headless chromium over --remote-debugging-pipe, one page attached."""

    def __init__(self, binary, tmp):
        self.profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
        self.err_path = os.path.join(tmp, "chromium.stderr")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # fds 3 and 4 are open here (these pipes take the lowest free fds),
        # so the child may be told to keep them; the copies above 4 are what
        # it puts there before exec
        keep_in, keep_out = os.dup(to_r), os.dup(from_w)

        def setup():
            os.dup2(keep_in, 3)
            os.dup2(keep_out, 4)
            die_with_parent()
        args = [binary, "--headless=new", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--mute-audio", "--window-size=1280,1000"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # chromium's sandbox refuses to run as root
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args + ["about:blank"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         pass_fds=(3, 4, keep_in, keep_out),
                                         preexec_fn=setup)
        for fd in (to_r, from_w, keep_in, keep_out):
            os.close(fd)
        self.w, self.r = to_w, from_r
        self.buf = b""
        self.last_id = 0
        self.events = []
        self.session = None

    def call(self, method, params=None, session=True, timeout=30):
        """One command; its result, or RuntimeError with the protocol's error."""
        self.last_id += 1
        msg = {"id": self.last_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.w, data):]
        want, end = self.last_id, time.monotonic() + timeout * SLOW
        while True:
            m = self._next(end, method)
            if m.get("id") == want:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def _next(self, end, what):
        while b"\0" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer %s in time" % what)
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed its pipe: %s" % self.stderr()[-2000:])
                self.buf += chunk
        one, self.buf = self.buf.split(b"\0", 1)
        return json.loads(one)

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")

    def stderr(self):
        return file_text(self.err_path)

    def close(self):
        """Browser.close, then SIGKILL to whatever of it is left."""
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10 * SLOW)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(self.proc.pid)
        self.proc.wait(10)
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass


# ---------------------------------------------------------------------------
# trawl serve
# ---------------------------------------------------------------------------

def run_trawl(*args, timeout=600):
    p = subprocess.run([TRAWL] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, preexec_fn=die_with_parent)
    if p.returncode != 0:
        raise AssertionError("trawl %s -> %d\n%s" % (" ".join(map(str, args)), p.returncode,
                                                    p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode()


class Server:
    def __init__(self, ix, tmp):
        self.port = free_port()
        self.err_path = os.path.join(tmp, "serve-%d.stderr" % self.port)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([TRAWL, "serve", ix, "--http",
                                          "127.0.0.1:%d" % self.port],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, preexec_fn=die_with_parent)
        self.origin = "http://127.0.0.1:%d" % self.port
        t0 = time.monotonic()
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > 30 * SLOW:
                raise AssertionError("trawl serve %s did not get ready: %s" % (ix, self.stderr()))
            time.sleep(0.1)

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30 * SLOW)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"} if body is not None else {})
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None
        finally:
            c.close()

    def search(self, body):
        status, j = self.request("POST", "/search", body)
        if status != 200:
            raise AssertionError("POST /search %s -> %d %s" % (json.dumps(body), status, j))
        return j

    def stderr(self):
        return file_text(self.err_path)

    def stop(self):
        """SIGTERM: exit 0 within the bound, no sanitizer report; else SIGKILL.
        Returns what went wrong, or None."""
        if self.proc.poll() is not None:
            return "trawl serve died (rc %s): %s" % (self.proc.returncode, self.stderr()[-2000:])
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(20 * SLOW)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            self.proc.wait(10)
            return "trawl serve did not exit within %.0f s of SIGTERM" % (20 * SLOW)
        err = self.stderr()
        if rc != 0 or any(m in err for m in SANITIZER_MARKS):
            return "trawl serve: exit %d: %s" % (rc, err[-3000:])
        return None


# ---------------------------------------------------------------------------
# indexes, built once
# ---------------------------------------------------------------------------

_MOD = {}


def setUpModule():
    if not chromium_binary():
        why = ("chromium is not installed: the search page test needs a real browser "
               "(apt-get install chromium; scripts/deps.sh installs it; TRAWL_CHROMIUM may "
               "name another binary)")
        if os.environ.get("TRAWL_REQUIRE_TOOLS"):
            raise AssertionError(why + ", and TRAWL_REQUIRE_TOOLS is set")
        raise unittest.SkipTest(why)
    _MOD["tmp"] = tempfile.TemporaryDirectory(prefix="trawl-ui-")
    base = _MOD["tmp"].name
    for name, src, schema in (
            ("debian", "debian-packages/docs.jsonl.zst", "debian-packages/schema.json"),
            ("curl", "curl-commits/docs.jsonl.zst", "curl-commits/schema.json"),
            ("wiki", "wiki-demo/docs.jsonl", None)):
        ix = os.path.join(base, name)
        extra = ["--schema", os.path.join(DATA, schema)] if schema else []
        run_trawl("index", ix, os.path.join(DATA, src), *extra)
        _MOD[name] = ix
    # documents holding markup, in their ids, titles and bodies
    docs = os.path.join(base, "untrusted.jsonl")
    bad = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    with open(docs, "w") as f:
        for i in range(3):
            f.write(json.dumps({"id": "<b>id%d</b>" % i, "title": "<i>solar</i> %s" % bad,
                                "body": "solar </em><em>wind %s </em> solar" % bad}) + "\n")
    _MOD["untrusted"] = os.path.join(base, "untrusted")
    run_trawl("index", _MOD["untrusted"], docs)


def tearDownModule():
    left = reap_strays()
    if "tmp" in _MOD:
        _MOD["tmp"].cleanup()
    if left:
        raise AssertionError("processes left behind (now killed): %s" % left)


# ---------------------------------------------------------------------------
# the page, driven
# ---------------------------------------------------------------------------

class PageCase(unittest.TestCase):
    """A trawl serve on one index and a browser on its /_ui/, per test."""
    INDEX = None
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="trawl-ui-case-")
        self.addCleanup(self._tmp.cleanup)
        self.server = Server(_MOD[self.INDEX], self._tmp.name)
        self.addCleanup(self._stop_server)
        # cleanups run last first: the browser, what is left of it, the server
        self.addCleanup(reap_strays, (self.server.proc.pid,))
        self.b = Browser(chromium_binary(), self._tmp.name)
        self.addCleanup(self.b.close)
        self.b.open_page()
        self.goto("/_ui/")

    def _stop_server(self):
        problem = self.server.stop()
        if problem:
            self.fail(problem)

    # ---- reading the page ----

    def js(self, expr):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def url(self):
        return self.js("location.pathname + location.search")

    def params(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url()).query)

    def seq(self):
        return int(self.js("document.body.dataset.seq || '0'"))

    def wait_search(self, after, what):
        """Until the page has shown a search later than `after` (seq)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 * SLOW:
            st = self.js("document.body && document.getElementById('error') ? "
                         "[document.body.dataset.state, document.body.dataset.seq || '0', "
                         "document.getElementById('error').textContent] : ['', '0', '']")
            if st[0] == "error":
                raise AssertionError("%s: the page shows an error: %s" % (what, st[2]))
            if st[0] == "ready" and int(st[1]) > after:
                return
            time.sleep(0.05)
        raise AssertionError("%s: no search shown within %.0f s (state %s)" % (
            what, 30 * SLOW, self.js("document.body.dataset.state")))

    def wait_error(self):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 * SLOW:
            if self.js("document.body.dataset.state") == "error":
                return self.js("document.getElementById('error').textContent")
            time.sleep(0.05)
        raise AssertionError("no error shown")

    def goto(self, path):
        """Load path; wait for the new page's first search (the old page
        is marked, so that it cannot be mistaken for the new one)."""
        self.js("window.oldPage = true")
        self.b.call("Page.navigate", {"url": self.server.origin + path})
        t0 = time.monotonic()
        while self.js("window.oldPage === true"):
            self.assertLess(time.monotonic() - t0, 30 * SLOW, "%s did not load" % path)
            time.sleep(0.05)
        self.wait_search(0, "load " + path)

    def request(self):
        """The body of the page's last search."""
        return json.loads(self.js("document.body.dataset.request"))

    def total(self):
        return self.js("[Number(document.getElementById('total').dataset.total), "
                       "document.getElementById('total').dataset.relation, "
                       "document.getElementById('total').textContent]")

    def hit_ids(self):
        return self.js("[...document.querySelectorAll('#hits .hit')].map(h => h.dataset.id)")

    def facets(self):
        """{field: [(value, count), ...]} as shown."""
        return {f: [tuple(b) for b in bs] for f, bs in self.js(
            "Object.fromEntries([...document.querySelectorAll('.facet')].map(s => [s.dataset.field, "
            "[...s.querySelectorAll('.bucket')].map(b => [b.dataset.value, "
            "Number(b.dataset.count)])]))").items()}

    # ---- acting on it ----

    def type_query(self, text):
        """Focus the box, empty it, type text (key events), press Enter."""
        before = self.seq()
        self.js("(q => { q.focus(); q.select(); })(document.getElementById('q'))")
        self.b.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace",
                                               "code": "Backspace",
                                               "windowsVirtualKeyCode": 8})
        self.b.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace",
                                               "code": "Backspace",
                                               "windowsVirtualKeyCode": 8})
        self.b.call("Input.insertText", {"text": text})
        self.b.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Enter", "code": "Enter",
                                               "windowsVirtualKeyCode": 13, "text": "\r"})
        self.b.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Enter", "code": "Enter",
                                               "windowsVirtualKeyCode": 13})
        return before

    def click(self, selector, wait=True):
        """A mouse click in the middle of the element (scrolled into view)."""
        before = self.seq()
        box = self.js("(e => { if (!e) return null; e.scrollIntoView({block: 'center'}); "
                      "const r = e.getBoundingClientRect(); "
                      "return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; })"
                      "(document.querySelector(%s))" % json.dumps(selector))
        self.assertIsNotNone(box, "no element %s" % selector)
        self.assertTrue(box[2] > 0 and box[3] > 0, "%s is not shown: %r" % (selector, box))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.b.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                     "button": "left", "clickCount": 1})
        if wait:
            self.wait_search(before, "click on " + selector)

    def back(self):
        before = self.seq()
        h = self.b.call("Page.getNavigationHistory")
        self.b.call("Page.navigateToHistoryEntry",
                    {"entryId": h["entries"][h["currentIndex"] - 1]["id"]})
        self.wait_search(before, "back")

    # ---- checks ----

    def assertSameAsAPI(self, what):
        """The page's last search, asked of the API: the same total, hits,
        snippets and facet counts as the page shows. Returns the answer."""
        body = self.request()
        api = self.server.search(body)
        value, relation, text = self.total()
        self.assertEqual((value, relation), (api["total"]["value"], api["total"]["relation"]),
                         what)
        self.assertIn("{:,}".format(api["total"]["value"]), text, what)
        self.assertEqual(self.hit_ids(), [h["id"] for h in api["hits"]], what)
        shown = self.js("[...document.querySelectorAll('#hits .hit')].map(h => { "
                        "const s = h.querySelector('.snippet'); return s ? [s.textContent, "
                        "[...s.querySelectorAll('em')].map(e => e.textContent), "
                        "s.querySelectorAll('*').length] : null; })")
        for hit, got in zip(api["hits"], shown):
            if "snippet" not in hit:
                self.assertIsNone(got, what)
                continue
            plain = hit["snippet"].replace("<em>", "").replace("</em>", "")
            marked = [p.split("</em>")[0] for p in hit["snippet"].split("<em>")[1:]]
            self.assertEqual(got, [plain, marked, len(marked)], what)
        aggs = api.get("aggregations", {})
        want = {k[len("facet:"):]: [(b["key"], b["doc_count"]) for b in v["buckets"]]
                for k, v in aggs.items() if k.startswith("facet:")}
        self.assertEqual(self.facets(), want, what)
        return api

    def assertClean(self, api_errors=0):
        """No script error, no CSP violation, no request elsewhere or failed
        (but for api_errors answers of 400 to POST /search, the browser's
        log of each included)."""
        problems = []
        search = self.server.origin + "/search"
        for e in self.b.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                problems.append("exception: %s" % json.dumps(p["exceptionDetails"])[:500])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning"):
                problems.append("console %s: %s" % (p["type"], json.dumps(p["args"])[:500]))
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                if p["entry"].get("url") == search and "status of 400" in p["entry"]["text"] \
                        and api_errors:
                    api_errors -= 1
                    continue
                problems.append("log: %s %s" % (p["entry"]["text"], p["entry"].get("url", "")))
            elif m == "Network.requestWillBeSent":
                u = p["request"]["url"]
                if not u.startswith(self.server.origin + "/"):
                    problems.append("request elsewhere: %s" % u)
            elif m == "Network.loadingFailed":
                problems.append("request failed: %s" % json.dumps(p)[:300])
            elif m == "Network.responseReceived" and p["response"]["status"] >= 400 and \
                    p["response"]["url"] != search:
                problems.append("HTTP %d: %s" % (p["response"]["status"], p["response"]["url"]))
        self.assertEqual(problems, [])

    def screenshot(self, name):
        """For a person looking into a failure: TRAWL_UI_SHOTS=DIR keeps PNGs."""
        d = os.environ.get("TRAWL_UI_SHOTS")
        if d:
            png = self.b.call("Page.captureScreenshot", {"format": "png"})["data"]
            with open(os.path.join(d, name + ".png"), "wb") as f:
                f.write(base64.b64decode(png))


class TestDebianPackages(PageCase):
    INDEX = "debian"

    def test_query_facet_paging_back(self):
        # the facets: the keyword fields with the fewest distinct values
        card = self.server.search({"q": "*:*", "k": 0, "aggs": {
            f: {"cardinality": {"field": f}} for f in (
                "version", "source", "section", "priority", "architecture", "maintainer",
                "maintainer_email", "multi_arch", "homepage", "tags", "depends",
                "recommends")}})["aggregations"]
        fewest = sorted((v["value"], f) for f, v in card.items() if v["value"] >= 2)[:4]
        order = ["section", "priority", "architecture", "multi_arch"]
        self.assertEqual(sorted(f for _, f in fewest), sorted(order))
        self.assertEqual(list(self.facets()), order)
        self.assertSameAsAPI("the page as it opens (every document)")
        self.assertEqual(self.js("document.getElementById('histogram').hidden"), True)
        self.assertEqual(self.js("document.getElementById('range-title').textContent"),
                         "installed_size_kb")

        # a query, typed
        before = self.type_query("web server")
        self.wait_search(before, "typed query")
        self.assertEqual(self.params(), {"q": ["web server"]})
        body = self.request()
        self.assertEqual({k: body[k] for k in ("q", "k", "offset", "snippet")},
                         {"q": "web server", "k": 10, "offset": 0, "snippet": "body"})
        self.assertNotIn("filter", body)
        self.assertEqual(set(body["aggs"]), {"facet:" + f for f in order} | {"range"})
        first = self.assertSameAsAPI("web server")
        self.assertGreater(first["total"]["value"], 10)
        self.assertTrue(any("<em>" in h.get("snippet", "") for h in first["hits"]))
        self.screenshot("debian-query")

        # a facet's value, clicked: its filter in the URL, its count the total
        field = "section"
        value, count = self.facets()[field][0]
        self.click('.facet[data-field="%s"] .bucket' % field)
        self.assertEqual(self.params(), {"q": ["web server"],
                                         "filter": ['%s:"%s"' % (field, value)]})
        self.assertEqual(self.total()[0], count)
        narrowed = self.assertSameAsAPI("web server, %s %s" % (field, value))
        self.assertEqual(narrowed["total"]["value"], count)
        self.assertEqual(self.request()["filter"], ['%s:"%s"' % (field, value)])
        self.assertEqual(self.js("[...document.querySelectorAll('#filter-list .filter')]"
                                 ".map(f => f.dataset.filter)"), ['%s:"%s"' % (field, value)])
        self.assertEqual(self.js("document.querySelector('.facet[data-field=\"%s\"] .bucket')"
                                 ".getAttribute('aria-pressed')" % field), "true")
        self.assertGreater(count, 10, "the test wants a second page")
        page1 = self.hit_ids()

        # the next page
        self.click("#next")
        self.assertEqual(self.params()["offset"], ["10"])
        self.assertEqual(self.request()["offset"], 10)
        page2 = self.assertSameAsAPI("page 2")
        self.assertNotEqual(self.hit_ids()[0], page1[0])
        self.assertEqual(self.js("document.getElementById('hits').start"), 11)
        self.assertEqual(page2["total"]["value"], count)

        # back: page 1 of the narrowed search; back again: the query alone
        self.back()
        self.assertNotIn("offset", self.params())
        self.assertEqual(self.hit_ids(), page1)
        self.assertEqual(self.total()[0], count)
        self.back()
        self.assertEqual(self.params(), {"q": ["web server"]})
        self.assertEqual(self.total()[0], first["total"]["value"])
        self.assertEqual(self.js("document.getElementById('q').value"), "web server")
        self.assertEqual(self.js("document.getElementById('filters').hidden"), True)
        # forward: the filter again
        before = self.seq()
        self.js("history.forward()")
        self.wait_search(before, "forward")
        self.assertEqual(self.total()[0], count)

        # the range control: its inputs give a range filter
        before = self.seq()
        self.js("document.getElementById('range-min').focus()")
        self.b.call("Input.insertText", {"text": "100"})
        self.js("document.getElementById('range-max').focus()")
        self.b.call("Input.insertText", {"text": "1000"})
        self.click("#range-apply", wait=False)
        self.wait_search(before, "range")
        self.assertEqual(self.params()["min"], ["100"])
        self.assertEqual(self.params()["max"], ["1000"])
        self.assertEqual(self.request()["filter"],
                         ['%s:"%s"' % (field, value), "installed_size_kb:[100 TO 1000]"])
        ranged = self.assertSameAsAPI("range")
        lo, hi = self.js("[Number(document.getElementById('range').dataset.min), "
                         "Number(document.getElementById('range').dataset.max)]")
        self.assertEqual((lo, hi), (ranged["aggregations"]["range"]["min"],
                                    ranged["aggregations"]["range"]["max"]))
        self.assertTrue(100 <= lo <= hi <= 1000, (lo, hi))
        # removing the facet's filter keeps the range
        self.click('#filter-list .filter[data-filter="%s:\\"%s\\""] .remove' % (field, value))
        self.assertEqual(self.request()["filter"], ["installed_size_kb:[100 TO 1000]"])
        self.assertSameAsAPI("range alone")
        self.screenshot("debian-range")

        # an API error is shown, with the server's reason
        self.type_query("title:(web")
        msg = self.wait_error()
        status, err = self.server.request("POST", "/search", self.request())
        self.assertEqual(status, 400)
        self.assertIn(err["error"]["reason"], msg)
        self.assertIn("400", msg)
        self.assertClean(api_errors=1)


    def test_probe_refused(self):
        """The load's probe of every keyword field refused (as on an index
        with a field beyond LIMIT_AGG_VALUES): one probe per field, and a
        field refused alone is no facet. A field's probe answered 429
        twice (the server's load, not the field) is asked again: a page
        that sent every field's probe at once lost facets to its own 429s
        (CI of 02f585d..d201173 on a loaded machine)."""
        refuse = ("window.fetch = (orig => { let busy = 2; return (url, init) => { "
                  "const b = init && init.body ? JSON.parse(init.body) : null; "
                  "const n = b && b.aggs ? Object.keys(b.aggs).filter(k => "
                  "k.startsWith('n:')) : []; "
                  "if (n.length > 1 || n[0] === 'n:section') return Promise.resolve("
                  "new Response(JSON.stringify({error: {type: 'x', reason: 'refused'}, "
                  "status: 400}), {status: 400})); "
                  "if (n[0] === 'n:multi_arch' && busy-- > 0) return Promise.resolve("
                  "new Response(JSON.stringify({error: {type: 'rejected_execution_exception', "
                  "reason: 'overloaded'}, status: 429}), {status: 429})); "
                  "return orig(url, init); }; })(window.fetch);")
        self.b.call("Page.addScriptToEvaluateOnNewDocument", {"source": refuse})
        self.goto("/_ui/")
        self.assertEqual(list(self.facets()), ["priority", "architecture", "multi_arch", "tags"])
        self.assertEqual(self.js("document.getElementById('error').hidden"), True)
        self.assertSameAsAPI("facets from one probe per field")
        self.assertClean()


class TestCurlCommits(PageCase):
    INDEX = "curl"

    def test_histogram_and_range(self):
        self.assertSameAsAPI("every commit")
        self.assertEqual(self.js("document.getElementById('range').hidden"), False)
        self.assertEqual(self.js("document.getElementById('range-title').textContent"),
                         "files_changed")
        self.assertEqual(self.js("document.getElementById('histogram').hidden"), False)
        self.assertEqual(self.js("document.getElementById('histogram-title').textContent"),
                         "date by year")
        before = self.type_query("http2")
        self.wait_search(before, "typed query")
        api = self.assertSameAsAPI("http2")
        buckets = api["aggregations"]["histogram"]["buckets"]
        bars = self.js("[...document.querySelectorAll('#bars .bar')].map(b => "
                       "[Number(b.dataset.from), Number(b.dataset.count)])")
        self.assertEqual(bars, [[b["key"], b["doc_count"]] for b in buckets])
        # the fullest bar, clicked: narrowed to its count, shown by month
        i = max(range(len(bars)), key=lambda j: bars[j][1])
        year = buckets[i]["key_as_string"][:4]
        self.click("#bars .bar:nth-child(%d)" % (i + 1))
        self.assertEqual(self.total()[0], bars[i][1])
        f = '%s:["%s-01-01T00:00:00.000Z" TO "%d-01-01T00:00:00.000Z"}' % ("date", year,
                                                                           int(year) + 1)
        self.assertEqual(self.params()["filter"], [f])
        api = self.assertSameAsAPI("http2 in %s" % year)
        self.assertEqual(api["total"]["value"], bars[i][1])
        self.assertEqual(self.js("document.getElementById('histogram-title').textContent"),
                         "date by month")
        months = api["aggregations"]["histogram"]["buckets"]
        self.assertTrue(all(b["key_as_string"].startswith(year) for b in months), months)
        self.assertEqual(sum(b["doc_count"] for b in months), bars[i][1])
        # the range control reads this search's values
        stats = api["aggregations"]["range"]
        self.assertEqual(self.js("[Number(document.getElementById('range').dataset.min), "
                                 "Number(document.getElementById('range').dataset.max)]"),
                         [stats["min"], stats["max"]])
        self.screenshot("curl-histogram")
        self.assertClean()


class TestWikiDemo(PageCase):
    INDEX = "wiki"

    def test_text_only(self):
        self.assertEqual(self.js("document.querySelectorAll('.facet').length"), 0)
        self.assertEqual(self.js("[document.getElementById('range').hidden, "
                                 "document.getElementById('histogram').hidden]"), [True, True])
        before = self.type_query("solar eclipse")
        self.wait_search(before, "typed query")
        body = self.request()
        self.assertNotIn("aggs", body)
        api = self.assertSameAsAPI("solar eclipse")
        self.assertGreater(api["total"]["value"], 10)
        self.assertGreater(self.js("document.querySelectorAll('.snippet em').length"), 0)
        self.assertEqual(self.js("document.querySelector('.hit .hit-title').textContent"),
                         api["hits"][0]["source"]["title"])
        self.click("#next")
        self.assertEqual(self.params(), {"q": ["solar eclipse"], "offset": ["10"]})
        self.assertSameAsAPI("page 2")
        # a URL typed by hand: the state it names
        self.goto("/_ui/?q=%22new+york%22&offset=10")
        self.assertEqual(self.js("document.getElementById('q').value"), '"new york"')
        self.assertEqual(self.request()["offset"], 10)
        self.assertSameAsAPI("from the URL")
        self.screenshot("wiki")
        self.assertClean()


class TestUntrustedText(PageCase):
    """Documents holding markup: shown as text; nothing runs or loads."""
    INDEX = "untrusted"

    def test_markup_is_text(self):
        self.goto("/_ui/?q=solar")
        api = self.assertSameAsAPI("solar")
        self.assertEqual(api["total"]["value"], 3)
        self.assertEqual(self.js("document.querySelectorAll('#hits img, #hits script, "
                                 "#hits b, #hits i').length"), 0)
        self.assertEqual(self.js("typeof window.pwned"), "undefined")
        titles = self.js("[...document.querySelectorAll('.hit-title')].map(t => t.textContent)")
        self.assertEqual(titles, [h["source"]["title"] for h in api["hits"]])
        self.assertEqual(sorted(self.hit_ids()), ["<b>id0</b>", "<b>id1</b>", "<b>id2</b>"])
        # the snippets hold <em> elements of text and nothing else
        self.assertEqual(self.js("[...document.querySelectorAll('.snippet *')]"
                                 ".filter(e => e.tagName !== 'EM' || e.children.length)"
                                 ".length"), 0)
        self.assertGreater(self.js("document.querySelectorAll('.snippet em').length"), 0)
        self.screenshot("untrusted")
        self.assertClean()


def main():
    global TRAWL, SLOW
    argv = list(sys.argv)
    given = argv.pop(1) if len(argv) > 1 and not argv[1].startswith("-") else None
    TRAWL = given or os.environ.get("TRAWL_BIN") or sys.exit(
        "usage: ui_test.py TRAWL_BINARY [unittest options] (or set TRAWL_BIN)")
    TRAWL = os.path.abspath(TRAWL)
    with open(TRAWL, "rb") as f:  # a sanitizer build is slower: waits stretch
        SLOW = 3.0 if b"__asan_init" in f.read() or os.environ.get("TRAWL_SLOW") else 1.0
    # meson stops a test that runs out of time with SIGTERM to its process
    # group: let the cleanups run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("ui_test.py: SIGTERM"))
    # the browser's helpers whose parent dies come to this process, which
    # kills and reaps them (reap_strays)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, descriptions=False)
    unittest.main(argv=argv, testRunner=runner)


if __name__ == "__main__":
    main()
