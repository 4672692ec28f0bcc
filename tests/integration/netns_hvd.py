"""hvd run inside a network namespace of the test's own (so the bridges and taps it makes live
there), with its HTTP API on a unix socket the test reaches from outside the namespace."""
import http.client
import json
import socket

from hvd_harness import Hvd


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class NetnsHvd(Hvd):
    """An Hvd whose process runs under `ip netns exec NS` (ip execs hvd, so proc is hvd)."""

    def __init__(self, build, bus, directory, ns, **kwargs):
        kwargs.setdefault("http", f"unix:{directory}/http.sock")
        super().__init__(build, bus, directory, **kwargs)
        self.ns = ns

    def command(self):
        return ["ip", "netns", "exec", self.ns.name, *super().command()]

    @property
    def socket_path(self):
        return str(self.dir / "http.sock")

    def request(self, method, path, body=None, token=True, headers=None, raw=None,
                content_type="application/json", timeout=30):
        """One HTTP request over the unix socket; returns (status, headers, JSON or text)."""
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else raw
        if data is not None and content_type:
            h["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
        ctype = resp.getheader("Content-Type", "")
        value = json.loads(text) if "json" in ctype and text else text
        conn.close()
        return resp.status, dict(resp.getheaders()), value

    def hvctl_http(self, *args, check=False):
        return self.hvctl("--url", f"unix:{self.socket_path}", "--token-file",
                          str(self.state_dir / "http-token"), *args, check=check)
