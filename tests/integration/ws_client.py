"""A small WebSocket client (RFC 6455) over a plain socket for the tests of hvd's VNC endpoint,
and the first steps of RFB (RFC 6143) a VNC viewer takes over it."""
import base64
import hashlib
import os
import socket
import struct
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    """hvd answered the upgrade request with an HTTP error: status, headers and body."""

    def __init__(self, status, headers, body):
        super().__init__(f"{status}: {body}")
        self.status, self.headers, self.body = status, headers, body


class WebSocket:
    def __init__(self, base_url, path, token=None, protocol="binary", timeout=15,
                 headers=None, upgrade=True, ssl_context=None):
        u = urllib.parse.urlparse(base_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        if u.scheme == "https":
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=u.hostname)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        query = f"?access_token={token}" if token else ""
        lines = [f"GET {path}{query} HTTP/1.1", f"Host: {u.hostname}:{u.port}"]
        if upgrade:
            lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                      "Sec-WebSocket-Version: 13"]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode()
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split()[1])
        hdrs = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if status != 101:
            length = int(hdrs.get("content-length", "0"))
            body = self._read_exact(length).decode(errors="replace")
            self.sock.close()
            raise HandshakeRefused(status, hdrs, body)
        self.headers = hdrs
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert hdrs.get("sec-websocket-accept") == want, hdrs
        self.rfb = b""  # binary payload received, not consumed yet

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        self.buf += data

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True, mask=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        bit = 0x80 if mask else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + struct.pack(">H", n)
        else:
            head += bytes([bit | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def recv_frame(self):
        """(opcode, payload) of the next frame from hvd (never masked)."""
        b0, b1 = self._read_exact(2)
        assert not b1 & 0x80, "a server frame must not be masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read_exact(8))[0]
        return b0 & 0x0F, self._read_exact(n)

    def send(self, data):
        self.send_frame(0x2, data)

    def recv_bytes(self, n):
        """Exactly n bytes of the binary stream (frames joined)."""
        while len(self.rfb) < n:
            op, payload = self.recv_frame()
            if op == 0x8:
                raise ConnectionError(f"closed by hvd: {close_reason(payload)}")
            if op == 0x2:
                self.rfb += payload
        out, self.rfb = self.rfb[:n], self.rfb[n:]
        return out

    def close(self):
        try:
            self.send_frame(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


def close_reason(payload):
    if len(payload) < 2:
        return "(no code)"
    return f"{struct.unpack('>H', payload[:2])[0]} {payload[2:].decode(errors='replace')}"


def rfb_handshake(ws):
    """ProtocolVersion, security type None, ClientInit; returns the ServerInit as a dict."""
    version = ws.recv_bytes(12)
    assert version.startswith(b"RFB 003."), version
    ws.send(b"RFB 003.008\n")
    n = ws.recv_bytes(1)[0]
    assert n > 0, "the server refused the connection"
    types = ws.recv_bytes(n)
    assert 1 in types, f"security None is not offered: {list(types)}"
    ws.send(bytes([1]))
    result = struct.unpack(">I", ws.recv_bytes(4))[0]
    assert result == 0, f"SecurityResult {result}"
    ws.send(bytes([1]))  # ClientInit: shared
    width, height = struct.unpack(">HH", ws.recv_bytes(4))
    pixel_format = ws.recv_bytes(16)
    name_len = struct.unpack(">I", ws.recv_bytes(4))[0]
    name = ws.recv_bytes(name_len).decode(errors="replace")
    return {"version": version.decode().strip(), "security": list(types), "width": width,
            "height": height, "bits_per_pixel": pixel_format[0], "name": name}
