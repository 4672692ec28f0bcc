"""What the dashboard relies on from hvd, checked over plain HTTP: its files are served whole,
fast and under the Content-Security-Policy (no inline script, no eval), and the domain fields it
shows (started_us for the uptime) are right."""
import html.parser
import re
import time
import urllib.parse
import urllib.request

from hvd_harness import wait_for


def fetch(hvd, path):
    with urllib.request.urlopen(hvd.url + path, timeout=30) as resp:
        return resp.status, resp.headers, resp.read()


class Refs(html.parser.HTMLParser):
    """The files a page loads, and whether it has inline script or event handlers."""

    def __init__(self):
        super().__init__()
        self.refs, self.inline = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if "src" not in a:
                self.inline.append("inline <script>")
            else:
                self.refs.append(a["src"])
        if tag == "link" and a.get("href"):
            self.refs.append(a["href"])
        self.inline += [f"{tag} {k}=" for k in a if k.startswith("on")]


def module_imports(text):
    return re.findall(r"""^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]""", text, re.M)


def test_page_and_every_module_it_loads(hvd):
    status, headers, body = fetch(hvd, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-eval" not in csp
    refs = Refs()
    refs.feed(body.decode())
    assert refs.inline == [], "inline script would be blocked by the Content-Security-Policy"
    assert "js/app.js" in refs.refs and "vendor/xterm.css" in refs.refs

    # Follow the ES module graph from the page: every import must be served as JavaScript.
    seen, todo = set(), [urllib.parse.urljoin("/", r) for r in refs.refs]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, headers, body = fetch(hvd, path)
        assert status == 200, path
        ctype = headers["Content-Type"]
        if path.endswith((".js", ".mjs")):
            assert ctype.startswith("text/javascript"), (path, ctype)
            text = body.decode()
            assert not re.search(r"\beval\(|\bnew Function\(", text), f"{path} uses eval"
            for imp in module_imports(text):
                assert imp.startswith("."), f"{path} imports '{imp}': only relative paths load"
                todo.append(urllib.parse.urljoin(path, imp))
        elif path.endswith(".css"):
            assert ctype.startswith("text/css"), (path, ctype)
    for lib in ("/vendor/xterm.mjs", "/vendor/uPlot.esm.js", "/vendor/addon-fit.mjs"):
        assert lib in seen, f"{lib} is not loaded by the page"
    for licence in ("xterm-LICENSE.txt", "uPlot-LICENSE.txt", "addon-fit-LICENSE.txt"):
        status, _, body = fetch(hvd, f"/vendor/{licence}")
        assert status == 200 and b"Permission is hereby granted" in body


def test_large_files_arrive_at_once(hvd, build):
    # xterm.js is ~340 KiB: hvd once sent one socket buffer per 250 ms timer tick (~20 KiB/s).
    expected = (build / "web" / "vendor" / "xterm.mjs").read_bytes()
    assert len(expected) > 200_000
    start = time.monotonic()
    _, _, body = fetch(hvd, "/vendor/xterm.mjs")
    elapsed = time.monotonic() - start
    assert body == expected
    assert elapsed < 1.5, f"{len(body)} bytes took {elapsed:.2f} s"


def test_started_us_is_when_the_domain_started(hvd):
    # minihv reports the process it started, which once replaced the recorded start time
    status, _, _ = hvd.request("POST", "/api/v1/domains", {"name": "up", "driver": "minihv",
                                                           "kernel": "echo", "memory_mib": 16})
    assert status == 201
    first = []
    for _ in range(2):
        before = time.time_ns() // 1000
        status, _, body = hvd.request("POST", "/api/v1/domains/up/actions/start")
        after = time.time_ns() // 1000
        assert status == 200 and body["state"] == "running"
        assert before <= body["started_us"] <= after, (before, body["started_us"], after)
        listed = {d["name"]: d for d in hvd.request("GET", "/api/v1/domains")[2]}
        assert listed["up"]["started_us"] == body["started_us"]
        first.append(body["started_us"])
        assert hvd.request("POST", "/api/v1/domains/up/actions/destroy")[0] == 200
        wait_for(lambda: hvd.request("GET", "/api/v1/domains/up")[2]["state"] == "shutoff",
                 what="shutoff")
        time.sleep(0.01)
    assert first[1] > first[0], "a second start keeps the first start's time"
