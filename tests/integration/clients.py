"""Clients the tests watch hvd through: the HTTP event stream, read on a thread, and `hvctl
console` driven through a pseudo-terminal as a person would."""
import http.client
import json
import os
import pty
import select
import signal
import socket
import threading
import time
import urllib.parse


class EventStream:
    """Reads Server-Sent Events from hvd on a thread."""

    def __init__(self, hvd, path="/api/v1/events", headers=None):
        u = urllib.parse.urlparse(hvd.url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.events = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        current = {}
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in current:
                        with self.lock:
                            self.events.append(current)
                    current = {}
                elif not line.startswith(":") and ":" in line:
                    key, value = line.split(":", 1)
                    current[key] = value.strip()
        except Exception:
            pass

    def of(self, kind):
        with self.lock:
            return [dict(e, data=json.loads(e["data"])) for e in self.events
                    if e.get("event") == kind]

    def close(self):
        self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


class PtyProcess:
    """A program on a pseudo-terminal: what it prints, what is typed into it."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)

    def read_until(self, needle, timeout=5):
        """What the terminal shows until needle appears (or the time is up)."""
        out = b""
        deadline = time.monotonic() + timeout
        while needle not in out and time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    out += os.read(self.fd, 4096)
                except OSError:
                    break
        return out

    def type(self, data):
        os.write(self.fd, data)

    def wait(self):
        """Waits for the program to end; returns its exit status (-1 when killed)."""
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.wait()


class PtyConsole(PtyProcess):
    """`hvctl console NAME` on a pseudo-terminal, as a person would use it."""

    def __init__(self, hvd, name):
        super().__init__([str(hvd.hvctl_binary), "console", name], hvd.env())

    def detach(self):
        """Presses Ctrl-]; returns what was shown and hvctl's exit status."""
        self.type(b"\x1d")
        shown = self.read_until(b"Detached.")
        return shown, self.wait()
