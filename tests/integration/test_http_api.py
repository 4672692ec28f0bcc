"""The HTTP API: every endpoint, every error status provoked by a real malformed request,
authorization, the event stream and its resume, metrics, and the OpenAPI document."""
import http.client
import json
import os
import re
import socket
import time
import urllib.parse

import pytest

from clients import EventStream
from hvd_harness import SOURCE_ROOT, outside_address, wait_for


def create(hvd, name, **settings):
    status, headers, body = hvd.request("POST", "/api/v1/domains", {"name": name, **settings})
    assert status == 201, body
    return headers, body


def test_create_get_list_patch_delete(hvd):
    headers, body = create(hvd, "web1", vcpus=2, memory_mib=96, mode="full", cmdline="quiet")
    assert headers["Location"] == "/api/v1/domains/web1"
    assert body["name"] == "web1" and body["state"] == "shutoff" and body["reason"] == "defined"
    assert body["vcpus"] == 2 and body["memory_mib"] == 96 and body["kernel"] is None
    # Same field names as hvctl --json.
    assert set(hvd.hvctl_json("info", "web1")) <= set(hvd.request("GET", "/api/v1/domains/web1")[2])

    status, _, listed = hvd.request("GET", "/api/v1/domains", token=False)
    assert status == 200 and [d["name"] for d in listed] == ["web1"]

    status, _, body = hvd.request("PATCH", "/api/v1/domains/web1", {"vcpus": 3, "autostart": True})
    assert status == 200 and body["vcpus"] == 3 and body["autostart"] is True
    assert hvd.hvctl_json("info", "web1")["vcpus"] == 3

    status, _, _ = hvd.request("DELETE", "/api/v1/domains/web1")
    assert status == 204
    status, _, body = hvd.request("GET", "/api/v1/domains/web1")
    assert status == 404 and body["status"] == 404 and "no domain named 'web1'" in body["detail"]


def test_filters(hvd):
    create(hvd, "a")
    create(hvd, "b")
    assert hvd.request("POST", "/api/v1/domains/b/actions/start")[0] == 200
    _, _, running = hvd.request("GET", "/api/v1/domains?state=running")
    assert [d["name"] for d in running] == ["b"]
    _, _, kvm = hvd.request("GET", "/api/v1/domains?driver=kvm&state=shutoff")
    assert [d["name"] for d in kvm] == ["a"]
    assert hvd.request("GET", "/api/v1/domains?driver=minihv")[2] == []
    status, _, body = hvd.request("GET", "/api/v1/domains?state=asleep")
    assert status == 400 and "'state' must be one of" in body["detail"]
    status, _, body = hvd.request("GET", "/api/v1/domains?driver=xen")
    assert status == 400 and "'driver' must be kvm or minihv" in body["detail"]


def test_actions_and_illegal_transitions(hvd):
    create(hvd, "d")
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/start")
    assert status == 200 and body["state"] == "running"
    for action, state in [("pause", "paused"), ("resume", "running"), ("reboot", "running")]:
        status, _, body = hvd.request("POST", f"/api/v1/domains/d/actions/{action}")
        assert status == 200 and body["state"] == state, (action, body)
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/start")
    assert status == 409 and body["title"] == "Conflict"
    assert "only a shutoff domain can be started" in body["detail"]
    status, _, body = hvd.request("PATCH", "/api/v1/domains/d", {"memory_mib": 128})
    assert status == 409 and "can only be changed while the domain is shut off" in body["detail"]
    status, _, body = hvd.request("DELETE", "/api/v1/domains/d")
    assert status == 409
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/shutdown", {"timeout_s": 5})
    # 202 while the guest is still shutting down; libvirt's test driver is off at once.
    assert (status, body["state"]) in [(202, "stopping"), (200, "shutoff")]
    wait_for(lambda: hvd.hvctl_json("info", "d")["state"] == "shutoff", what="shutoff")
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/shutdown", {"timeout_s": -1})
    assert status == 400 and "'timeout_s' must be an integer" in body["detail"]
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/start", {"fast": True})
    assert status == 400 and "unknown field 'fast'" in body["detail"]
    status, _, body = hvd.request("POST", "/api/v1/domains/d/actions/explode")
    assert status == 404 and "unknown action 'explode'" in body["detail"]


def test_stats_host_and_console(hvd):
    create(hvd, "s")
    status, _, body = hvd.request("GET", "/api/v1/domains/s/stats")
    assert status == 409 and "it has no statistics" in body["detail"]
    hvd.request("POST", "/api/v1/domains/s/actions/start")
    status, _, body = hvd.request("GET", "/api/v1/domains/s/stats")
    assert status == 200 and body["state"] == "running" and "cpu_time_ns" in body["stats"]
    status, _, host = hvd.request("GET", "/api/v1/host")
    assert status == 200 and host["vcpus_allocated"] == 1 and host["drivers"]["kvm"]["available"]
    status, _, body = hvd.request("GET", "/api/v1/domains/s/console?bytes=0")
    assert status == 400 and "'bytes' must be 1.." in body["detail"]
    status, _, body = hvd.request("POST", "/api/v1/domains/s/console", {"data": "x", "colour": 1})
    assert status == 400 and body["detail"] == "unknown field 'colour'"


BAD_BODIES = [
    (b'{"name": "x",', "application/json", 400, "not valid JSON"),
    (b'["name"]', "application/json", 400, "must be a JSON object"),
    (b'{"name": "x", "name": "y"}', "application/json", 400, "not valid JSON"),
    (b'{"name": "x", "colour": "red"}', "application/json", 400, "unknown setting 'colour'"),
    (b'{"name": "x", "vcpus": "two"}', "application/json", 400, "'vcpus' must be an integer"),
    (b'{"name": "x", "vcpus": 0}', "application/json", 400, "'vcpus' must be 1..256, got 0"),
    (b'{"name": "bad name"}', "application/json", 400, "'name' must be 1..64 characters"),
    (b'{"name": "x"}', "text/plain", 415, "must be sent as application/json"),
    (b'{"name": "x"}', None, 415, "without a Content-Type"),
    (b"", "application/json", 400, "needs a JSON object"),
]


@pytest.mark.parametrize("raw,ctype,status,detail", BAD_BODIES)
def test_malformed_requests(hvd, raw, ctype, status, detail):
    got, headers, body = hvd.request("POST", "/api/v1/domains", raw=raw, content_type=ctype)
    assert got == status, body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["status"] == status and detail in body["detail"]
    assert hvd.request("GET", "/api/v1/domains")[2] == []


def test_body_over_the_limit_is_413(make_hvd):
    h = make_hvd(config="[http]\nmax-body-kib = 1\n").start()
    big = {"name": "x", "cmdline": "a" * 2000}
    status, _, body = h.request("POST", "/api/v1/domains", big)
    assert status == 413 and "larger than the limit of 1024 bytes" in body["detail"]
    # Chunked, without Content-Length.
    u = urllib.parse.urlparse(h.url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.putrequest("POST", "/api/v1/domains")
    conn.putheader("Authorization", f"Bearer {h.token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    data = json.dumps(big).encode()
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    assert conn.getresponse().status == 413


def test_wrong_method_is_405_with_allow(hvd):
    create(hvd, "m")
    for method, path, allow in [("PUT", "/api/v1/domains", "GET, POST"),
                                ("POST", "/api/v1/domains/m", "GET, PATCH, DELETE"),
                                ("GET", "/api/v1/domains/m/actions/start", "POST"),
                                ("DELETE", "/api/v1/host", "GET"),
                                ("POST", "/metrics", "GET")]:
        status, headers, body = hvd.request(method, path)
        assert status == 405, (method, path)
        assert headers["Allow"] == allow and body["title"] == "Method Not Allowed"


def test_unknown_routes_are_404(hvd):
    for path in ["/api/v1/nothing", "/api/v2/domains", "/api/v1/domains/x/y", "/nothing.html"]:
        status, _, body = hvd.request("GET", path)
        assert status == 404, path
        assert body["status"] == 404


def test_authorization(hvd):
    status, headers, body = hvd.request("POST", "/api/v1/domains", {"name": "x"}, token=False)
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer TOKEN" in body["detail"]
    # A wrong token is RFC 6750's invalid_token: 401 as well, and the header says why.
    status, headers, body = hvd.request("POST", "/api/v1/domains", {"name": "x"}, token="0" * 64)
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert body["status"] == 401 and "not valid" in body["detail"]
    assert hvd.request("GET", "/api/v1/domains/x")[0] == 404
    create(hvd, "t")
    for method, path in [("POST", "/api/v1/domains/t/actions/start"), ("PATCH", "/api/v1/domains/t"),
                         ("DELETE", "/api/v1/domains/t")]:
        status, headers, _ = hvd.request(method, path, {}, token=False)
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer"), path
        status, headers, _ = hvd.request(method, path, {}, token="wrong")
        assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer error="invalid_token"'), path
    assert hvd.request("GET", "/api/v1/domains/t")[2]["state"] == "shutoff"
    # Reads are open on loopback.
    assert hvd.request("GET", "/api/v1/domains/t", token=False)[0] == 200
    assert hvd.request("GET", "/metrics", token=False)[0] == 200
    # The token file is private.
    mode = (hvd.state_dir / "http-token").stat().st_mode & 0o777
    assert mode == 0o600
    # No CORS: nothing allows another origin to read answers.
    _, headers, _ = hvd.request("GET", "/api/v1/host", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_token_survives_restart_and_is_created_once(hvd):
    token = hvd.token
    hvd.restart()
    assert hvd.token == token
    assert hvd.request("GET", "/api/v1/host", token=token)[0] == 200


def test_reads_from_beyond_loopback_need_the_token(make_hvd):
    addr = outside_address()  # any non-loopback address of this machine will do
    if not addr:
        pytest.skip("this machine has no non-loopback IPv4 address")
    h = make_hvd(http=f"{addr}:0").start()
    status, _, body = h.request("GET", "/api/v1/host", token=False)
    assert status == 401 and "reading from beyond loopback" in body["detail"]
    assert h.request("GET", "/api/v1/host")[0] == 200
    # A browser's event stream cannot send headers: reads take the token in the query too ...
    assert h.request("GET", f"/api/v1/host?access_token={h.token}", token=False)[0] == 200
    status, headers, body = h.request("GET", "/api/v1/host?access_token=0123abcd", token=False)
    assert status == 401 and "not valid" in body["detail"]
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # ... but changes only in the header.
    status, _, body = h.request("POST", f"/api/v1/domains?access_token={h.token}", token=False,
                                body={"name": "far", "vcpus": 1, "memory_mib": 16})
    assert status == 401 and "changing anything" in body["detail"]
    assert h.request("GET", "/api/v1/domains/far")[0] == 404


def test_ipv6_and_unix_socket_listeners(make_hvd, workdir):
    sock = workdir / "http.sock"
    h = make_hvd(http=f"[::1]:0,unix:{sock}").start()
    urls = (h.runtime_dir / "http-url").read_text().split()
    assert urls[0].startswith("http://[::1]:") and urls[1] == f"unix:{sock}"
    u = urllib.parse.urlparse(urls[0])
    conn = http.client.HTTPConnection("::1", u.port)
    conn.request("GET", "/api/v1/host")
    assert conn.getresponse().status == 200
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sock))
    s.sendall(b"GET /api/v1/host HTTP/1.0\r\nHost: localhost\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")


def test_bad_listen_address_is_refused(make_hvd):
    h = make_hvd(http="localhost:80")
    h.start(wait=False)
    assert h.proc.wait(timeout=10) == 1
    assert "'localhost:80': 'localhost' is not an IPv4 address" in h.read_log()


def test_event_stream_delivery_and_resume(hvd):
    stream = EventStream(hvd)
    assert stream.resp.status == 200
    assert stream.resp.getheader("Content-Type") == "text/event-stream"
    create(hvd, "ev")
    hvd.request("POST", "/api/v1/domains/ev/actions/start")
    hvd.request("POST", "/api/v1/domains/ev/actions/pause")
    wait_for(lambda: len(stream.of("lifecycle")) >= 4, what="lifecycle events")
    life = stream.of("lifecycle")
    assert [e["data"]["event"] for e in life[:4]] == ["created", "state-changed",
                                                      "state-changed", "state-changed"]
    assert [e["data"].get("state") for e in life[1:4]] == ["starting", "running", "paused"]
    ids = [int(e["id"]) for e in life]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # A state change says what the domain now shows: a client need not read it again.
    dom = hvd.request("GET", "/api/v1/domains/ev")[2]
    assert life[3]["data"]["state_changed_us"] == dom["state_changed_us"]
    assert life[3]["data"]["pid"] == dom["pid"]
    assert life[1]["data"]["old_state"] == "shutoff"
    # Stats arrive every couple of seconds for running domains.
    wait_for(lambda: stream.of("stats"), timeout=6, what="a stats event")
    assert stream.of("stats")[0]["data"]["domain"] == "ev"
    stream.close()

    # A client that missed events resumes with Last-Event-ID and gets exactly those.
    hvd.request("POST", "/api/v1/domains/ev/actions/resume")
    hvd.request("POST", "/api/v1/domains/ev/actions/destroy")
    resumed = EventStream(hvd, headers={"Last-Event-ID": str(ids[-1])})
    wait_for(lambda: len(resumed.of("lifecycle")) >= 2, what="replayed events")
    replay = resumed.of("lifecycle")
    assert [e["data"]["state"] for e in replay[:2]] == ["running", "shutoff"]
    assert int(replay[0]["id"]) == ids[-1] + 1
    resumed.close()

    # A filtered stream sees only its domain.
    only = EventStream(hvd, path="/api/v1/events?domain=other")
    create(hvd, "other")
    create(hvd, "third")
    wait_for(lambda: only.of("lifecycle"), what="filtered event")
    time.sleep(0.3)
    assert {e["data"]["domain"] for e in only.of("lifecycle")} == {"other"}
    only.close()
    status, _, body = hvd.request("GET", "/api/v1/events", headers={"Last-Event-ID": "x"})
    assert status == 400 and "Last-Event-ID must be an event id" in body["detail"]


def test_metrics(hvd):
    create(hvd, "m1", vcpus=2, memory_mib=32)
    hvd.request("POST", "/api/v1/domains/m1/actions/start")
    status, headers, text = hvd.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'hvd_domain_state{domain="m1",driver="kvm",mode="pv",state="running"} 1' in text
    assert 'hvd_domain_vcpus{domain="m1"} 2' in text
    assert f'hvd_domain_memory_bytes{{domain="m1"}} {32 * 1048576}' in text
    assert 'hvd_domains{state="running"} 1' in text
    assert "hvd_host_vcpus_allocated 2" in text
    assert re.search(r'^hvd_domain_cpu_seconds_total\{domain="m1"\} [0-9.]+$', text, re.M)
    assert 'hvd_driver_available{driver="kvm"} 1' in text
    # Every sample line is "name{labels} value" and every family is declared.
    for line in text.splitlines():
        if not line.startswith("#"):
            assert re.match(r'^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$', line), line


def route_table():
    """The routes hvd serves, read from its router table."""
    src = (SOURCE_ROOT / "hvd" / "http-api.c").read_text()
    table = src[src.index("static const Route routes[]"):]
    table = table[:table.index("};")]
    return {(p, m) for p, m in re.findall(r'\{"([^"]+)", "([A-Z]+)"', table)}


def test_every_route_is_documented_and_served(hvd):
    status, _, served = hvd.request("GET", "/api/v1/openapi.json")
    doc = json.loads((SOURCE_ROOT / "docs" / "openapi.json").read_text())
    assert status == 200 and served == doc
    documented = {(path, method.upper()) for path, item in doc["paths"].items()
                  for method in item if method in ("get", "post", "patch", "delete", "put")}
    documented.discard(("/", "GET"))
    assert route_table() == documented
    # And each documented route answers (not with "no such resource").
    create(hvd, "doc")
    for path, method in sorted(documented):
        concrete = path.replace("{name}", "doc").replace("{action}", "pause")
        if path.endswith("/events"):
            continue
        status, _, body = hvd.request(method, concrete, {} if method != "GET" else None)
        assert status != 405, (method, path)
        assert not (status == 404 and "no such resource" in str(body)), (method, path)


def test_tls(make_hvd, workdir):
    import ssl
    import subprocess
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate here: {p.stderr.strip()}")
    h = make_hvd(config=f"[http]\ntls-cert = {cert}\ntls-key = {key}\n").start()
    url = (h.runtime_dir / "http-url").read_text().split()[0]
    assert url.startswith("https://127.0.0.1:")
    u = urllib.parse.urlparse(url)
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    conn.request("GET", "/api/v1/host")
    assert conn.getresponse().status == 200
    # Plain HTTP on the TLS port gets nowhere.
    plain = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    with pytest.raises(Exception):
        plain.request("GET", "/api/v1/host")
        plain.getresponse()


def test_tls_needs_both_files(make_hvd, workdir):
    h = make_hvd(config=f"[http]\ntls-cert = {workdir}/cert.pem\n")
    h.start(wait=False)
    assert h.proc.wait(timeout=10) == 1
    assert "tls-cert and tls-key must be set together" in h.read_log()


def test_resource_settings_change_while_running(hvd):
    """kvm domains take cpu_weight, cpu_cap and memory_limit at creation and while running (hvd
    hands them to libvirt on a worker); a cap beyond the vCPUs is refused naming the field."""
    _, body = create(hvd, "res", vcpus=2, cpu_weight=250, cpu_cap=150, memory_limit=512)
    assert (body["cpu_weight"], body["cpu_cap"], body["memory_limit"]) == (250, 150, 512)
    status, _, body = hvd.request("POST", "/api/v1/domains/res/actions/start")
    assert status == 200 and body["state"] == "running"
    status, _, body = hvd.request("PATCH", "/api/v1/domains/res", {"cpu_cap": 50, "cpu_weight": 1})
    assert status == 200 and (body["cpu_cap"], body["cpu_weight"]) == (50, 1)
    status, _, body = hvd.request("PATCH", "/api/v1/domains/res", {"cpu_cap": 201})
    assert status == 400 and "cpu_cap" in body["detail"] and "vcpus x 100 = 200" in body["detail"]
    status, _, body = hvd.request("PATCH", "/api/v1/domains/res", {"vcpus": 4})
    assert status == 409 and "vcpus" in body["detail"]
    host = hvd.request("GET", "/api/v1/host")[2]
    assert {"name": "res", "driver": "kvm", "cpu_weight": 1, "cpu_cap": 50,
            "memory_limit": 512} in host["resources"]["domains"]


def test_event_log_filters_since_and_callers(hvd):
    create(hvd, "log-a")
    create(hvd, "log-b")
    assert hvd.request("POST", "/api/v1/domains/log-a/actions/start")[0] == 200
    assert hvd.request("PATCH", "/api/v1/domains/log-b", {"vcpus": 2})[0] == 200
    hvd.hvctl("start", "log-b", check=True)  # over D-Bus

    status, _, log = hvd.request("GET", "/api/v1/events/log?domain=log-a", token=False)
    assert status == 200 and log["more"] is False
    kinds = [(e["event"], e.get("state")) for e in log["events"]]
    assert kinds == [("created", None), ("state-changed", "starting"), ("state-changed", "running")]
    ids = [e["id"] for e in log["events"]]
    assert ids == sorted(ids) and log["last_id"] >= ids[-1]
    # Who asked: the HTTP client's address on what it asked for, and on its completion.
    created, starting, running = log["events"]
    assert created["caller"] == "127.0.0.1 over HTTP" and created["domain"] == "log-a"
    assert starting["caller"] == "127.0.0.1 over HTTP" and starting["reason"] == "booting"
    assert running["caller"] == "127.0.0.1 over HTTP" and running["reason"] == "booted"
    _, _, b = hvd.request("GET", "/api/v1/events/log?domain=log-b&kind=state-changed")
    assert b["events"][0]["caller"] == f"uid {os.getuid()} over D-Bus"
    _, _, upd = hvd.request("GET", "/api/v1/events/log?kind=updated")
    assert [(e["domain"], e["vcpus"]) for e in upd["events"]] == [("log-b", 2)]

    # Without since: the newest ones; with an id: the oldest after it, paging with "more".
    _, _, newest = hvd.request("GET", "/api/v1/events/log?limit=2")
    assert newest["more"] is True and [e["id"] for e in newest["events"]] == \
        [log["last_id"] - 1, log["last_id"]]
    _, _, page = hvd.request("GET", f"/api/v1/events/log?since={ids[0]}&limit=1")
    assert page["more"] is True and [e["id"] for e in page["events"]] == [ids[0] + 1]
    _, _, none = hvd.request("GET", f"/api/v1/events/log?since={log['last_id']}")
    assert none == {"events": [], "more": False, "last_id": log["last_id"]}
    # A time: absolute (UTC), Unix seconds, or ago.
    first = created["time_us"] // 1_000_000
    for since in [f"@{first}", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first)), "-1h"]:
        _, _, t = hvd.request("GET", f"/api/v1/events/log?domain=log-a&since={urllib.parse.quote(since)}")
        assert [e["id"] for e in t["events"]] == ids, since
    _, _, later = hvd.request("GET", f"/api/v1/events/log?since=@{first + 3600}")
    assert later["events"] == []
    # Deleted domains keep their history.
    hvd.request("POST", "/api/v1/domains/log-b/actions/destroy")
    assert hvd.request("DELETE", "/api/v1/domains/log-b")[0] == 204
    _, _, gone = hvd.request("GET", "/api/v1/events/log?domain=log-b&kind=deleted")
    assert len(gone["events"]) == 1 and gone["events"][0]["caller"] == "127.0.0.1 over HTTP"

    for query, detail in [("limit=0", "'limit' must be 1..1000"), ("limit=1001", "'limit' must be 1..1000"),
                          ("since=yesterday", "'since' must be an event id"),
                          ("since=-5y", "'since' must be"), ("kind=exploded", "'kind' must be one of"),
                          ("domain=bad%20name", "'domain' is not a valid")]:
        status, _, body = hvd.request("GET", f"/api/v1/events/log?{query}")
        assert status == 400 and detail in body["detail"], (query, body)


def test_history_of_a_domain_and_the_host(hvd):
    create(hvd, "hist-1", driver="minihv", kernel="echo", mode="full", memory_mib=16)
    status, _, empty = hvd.request("GET", "/api/v1/domains/hist-1/history")
    assert status == 200 and empty["range"] == "hour" and empty["step_s"] == 1
    assert empty["time"] == [] and empty["cpu_percent"] == []
    assert hvd.request("POST", "/api/v1/domains/hist-1/actions/start")[0] == 200

    def recorded():
        h = hvd.request("GET", "/api/v1/domains/hist-1/history?range=hour", token=False)[2]
        return h if sum(v is not None for v in h["exits_per_s"]) >= 3 else None
    h = wait_for(recorded, timeout=20, what="three points of history")
    keys = {"range", "step_s", "time", "cpu_percent", "memory_kib", "exits_per_s",
            "disk_read_bytes_per_s", "disk_write_bytes_per_s", "net_rx_bytes_per_s",
            "net_tx_bytes_per_s"}
    assert set(h) == keys and all(len(h[k]) == len(h["time"]) for k in keys - {"range", "step_s"})
    assert h["time"] == list(range(h["time"][0], h["time"][0] + len(h["time"])))  # 1 s apart
    assert abs(h["time"][-1] - time.time()) < 5
    got = [i for i, v in enumerate(h["exits_per_s"]) if v is not None]
    assert all(h["exits_per_s"][i] > 0 for i in got)  # a full-mode guest exits all the time
    assert all(h["memory_kib"][i] > 0 and h["cpu_percent"][i] >= 0 for i in got)

    _, _, day = hvd.request("GET", "/api/v1/domains/hist-1/history?range=day")
    assert day["step_s"] == 60 and 1 <= len(day["time"]) <= 2 and day["time"][-1] % 60 == 0
    _, _, month = hvd.request("GET", "/api/v1/domains/hist-1/history?range=month")
    # One ten-minute point, or two when the run crossed a multiple of ten minutes.
    assert month["step_s"] == 600 and 1 <= len(month["time"]) <= 2
    assert month["time"][-1] % 600 == 0 and month["exits_per_s"][-1] > 0
    # The host's: the domains' totals, sampled on the same seconds (asked for again until a
    # second both have recorded is there: they are sampled together, read one after the other).
    def host_covers():
        _, _, host = hvd.request("GET", "/api/v1/host/history?range=hour")
        _, _, dom = hvd.request("GET", "/api/v1/domains/hist-1/history?range=hour")
        at = dict(zip(host["time"], host["exits_per_s"]))
        return any(at.get(t) is not None and at[t] >= v
                   for t, v in zip(dom["time"], dom["exits_per_s"]) if v is not None)
    wait_for(host_covers, timeout=10, what="a second in both histories")
    # Over D-Bus the same, gaps as NaN.
    bus = hvd.domain("hist-1").GetHistory("day")
    assert bus["step_s"] == 60 and list(bus["time"])[:1] == day["time"][:1]
    status, _, body = hvd.request("GET", "/api/v1/domains/hist-1/history?range=week")
    assert status == 400 and "'range' must be hour, day or month" in body["detail"]
    assert hvd.request("GET", "/api/v1/host/history?range=year")[0] == 400

    # Stopped: the history stays, and shows the gap.
    hvd.request("POST", "/api/v1/domains/hist-1/actions/destroy")
    wait_for(lambda: hvd.request("GET", "/api/v1/domains/hist-1")[2]["state"] == "shutoff", what="off")
    time.sleep(2.5)
    _, _, after = hvd.request("GET", "/api/v1/domains/hist-1/history")
    assert after["time"][0] == h["time"][0] and after["exits_per_s"][-1] is None

    # A restart keeps the day's and the month's points (saved in the database), not the hour's.
    _, _, day = hvd.request("GET", "/api/v1/domains/hist-1/history?range=day")
    _, _, host_day = hvd.request("GET", "/api/v1/host/history?range=day")
    hvd.restart()
    _, _, day_after = hvd.request("GET", "/api/v1/domains/hist-1/history?range=day")
    assert day_after["time"][:len(day["time"])] == day["time"]
    assert day_after["exits_per_s"][0] == pytest.approx(day["exits_per_s"][0], rel=1e-6)
    _, _, host_after = hvd.request("GET", "/api/v1/host/history?range=day")
    assert host_after["time"][:len(host_day["time"])] == host_day["time"]
    _, _, month_after = hvd.request("GET", "/api/v1/domains/hist-1/history?range=month")
    assert month_after["time"][:len(month["time"])] == month["time"]
    assert month_after["exits_per_s"][len(month["time"]) - 1] > 0
    assert hvd.request("GET", "/api/v1/domains/hist-1/history?range=hour")[2]["time"] == []
    assert hvd.request("DELETE", "/api/v1/domains/hist-1")[0] == 204
    assert hvd.request("GET", "/api/v1/domains/hist-1/history")[0] == 404
