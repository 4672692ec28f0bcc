"""Starts the real pieces the integration tests talk to: dbus-daemon, hvd, hvctl."""
import json
import os
import pathlib
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import dbus

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    """The meson build directory under test (HVD_BUILD_DIR, default <source>/build)."""
    return pathlib.Path(os.environ.get("HVD_BUILD_DIR", SOURCE_ROOT / "build")).resolve()


def sanitizer_env(log_prefix):
    """AddressSanitizer, UBSan and LeakSanitizer settings for the instrumented programs of a
    -Db_sanitize=address,undefined build (inert for any other): the first report aborts the
    program and goes to log_prefix.<pid>, leaks are checked at exit. GCC's UBSan ignores
    log_path and writes to stderr: see ubsan_reports()."""
    # intercept_tls_get_addr=0: up to GCC 13 and LLVM 16 the runtime's __tls_get_addr hook can
    # take a dynamic TLS block (libvirt's) for a glibc 2.19 header, and LeakSanitizer's tracer
    # then dies of SIGSEGV at exit instead of checking for leaks.
    common = (f"log_path={log_prefix}:abort_on_error=1:halt_on_error=1:color=never:"
              "intercept_tls_get_addr=0")
    return {
        "ASAN_OPTIONS": f"{common}:detect_leaks=1",
        "UBSAN_OPTIONS": f"{common}:print_stacktrace=1",
    }


def ubsan_reports(text):
    """Each UBSan report in a program's output: its "file:line:col: runtime error:" line and
    the stack lines that follow."""
    lines = text.splitlines()
    return ["\n".join(lines[i:i + 12]) for i, line in enumerate(lines)
            if ": runtime error: " in line]


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Polls predicate until it returns a true value; raises with what on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Bus:
    """A dbus-daemon with a system-bus-like policy plus systemd/org.hvd1.conf."""

    def __init__(self, directory: pathlib.Path, extra_policies=()):
        self.dir = directory
        self.extra_policies = list(extra_policies)
        self.socket = directory / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.proc = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        conf = self.dir / "bus.conf"
        template = (SOURCE_ROOT / "scripts" / "private-bus.conf.in").read_text()
        text = template.replace("@SOCKET@", str(self.socket)).replace(
            "@POLICY@", str(SOURCE_ROOT / "systemd" / "org.hvd1.conf"))
        for policy in self.extra_policies:
            text = text.replace("</busconfig>", f"  <include>{policy}</include>\n</busconfig>")
        conf.write_text(text)
        self.proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork",
                                      "--nopidfile"], stdout=subprocess.DEVNULL)
        wait_for(self.socket.exists, what="dbus-daemon socket")

    def connect(self):
        """A python-dbus connection to this bus."""
        return dbus.bus.BusConnection(self.address)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)


POLKITD = pathlib.Path("/usr/lib/polkit-1/polkitd")
POLKIT_BUS_POLICY = pathlib.Path("/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf")


class Polkitd:
    """A real polkitd on a test bus, reading hvd's actions and rules (and extra rules files the
    test gives) instead of the host's: it runs in a mount namespace of its own where its action
    and rules directories are bind mounts of directories under directory. The bus needs
    POLKIT_BUS_POLICY among its extra_policies. polkitd starts as root and becomes the polkitd
    user itself."""

    def __init__(self, bus, directory: pathlib.Path, extra_rules=None):
        self.bus = bus
        self.dir = directory
        self.extra_rules = dict(extra_rules or {})
        self.proc = None
        self.log_path = directory / "polkitd.log"

    def start(self):
        actions = self.dir / "actions"
        rules = self.dir / "rules.d"
        for d in (self.dir, actions, rules):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        (actions / "org.hvd1.policy").write_text(
            (SOURCE_ROOT / "polkit" / "org.hvd1.policy").read_text())
        (rules / "50-hvd.rules").write_text((SOURCE_ROOT / "polkit" / "hvd.rules").read_text())
        for name, text in self.extra_rules.items():
            (rules / name).write_text(text)
        for f in [*actions.iterdir(), *rules.iterdir()]:
            f.chmod(0o644)
        script = (f"mount --bind {actions} /usr/share/polkit-1/actions && "
                  f"mount --bind {rules} /usr/share/polkit-1/rules.d && "
                  f"mount --bind {rules} /etc/polkit-1/rules.d && exec {POLKITD}")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                      "sh", "-c", script], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

        def owned():
            if self.proc.poll() is not None:
                raise RuntimeError(f"polkitd exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text()}")
            conn = self.bus.connect()
            try:
                return bool(conn.name_has_owner("org.freedesktop.PolicyKit1"))
            finally:
                conn.close()
        wait_for(owned, what="polkitd to own org.freedesktop.PolicyKit1")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        if getattr(self, "log", None):
            self.log.close()
            self.log = None


def outside_address():
    """An IPv4 address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


class NotifySocket:
    """Receives sd_notify datagrams, as systemd would, on a thread so the sender never blocks."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        if path.exists():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.received = []
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                for line in data.decode().splitlines():
                    if "=" in line:
                        self.received.append(tuple(line.split("=", 1)))

    def fields(self):
        """All (KEY, VALUE) assignments received so far, in order."""
        with self.lock:
            return list(self.received)

    def close(self):
        self.closed = True
        self.thread.join(timeout=2)
        self.sock.close()


class Hvd:
    """One hvd process with its own state and runtime directories."""

    def __init__(self, build, bus, directory, config="", kvm_uri="test:///default",
                 env=None, args=(), http="127.0.0.1:0", minihv_paths=True, cgroup_root=None,
                 runtime_dir=None):
        self.build = pathlib.Path(build)
        self.bus = bus
        self.dir = pathlib.Path(directory)
        self.state_dir = self.dir / "state"
        # under directory unless given (a benchmark puts it on tmpfs, as /run is under systemd)
        self.runtime_dir = pathlib.Path(runtime_dir) if runtime_dir else self.dir / "run"
        self.config_path = self.dir / "hvd.conf"
        self.config = config
        self.kvm_uri = kvm_uri
        self.extra_env = env or {}
        self.args = list(args)
        self.http = http
        self.minihv_paths = minihv_paths
        # Resource control is off unless a test names a cgroup subtree of its own: hvd removes
        # the groups it does not claim under its subtree, so hvds must not share one.
        self.cgroup_root = cgroup_root
        self.proc = None
        self.log_path = self.dir / "hvd.log"
        # hvd, the minihv processes it starts and hvctl write sanitizer reports here
        self.sanitizer_dir = self.dir / "sanitizer"
        self.reported = set()
        self.notify = None
        self.tls_context = None  # an ssl.SSLContext for request() to an https:// API

    @property
    def binary(self):
        return self.build / "hvd" / "hvd"

    @property
    def hvctl_binary(self):
        return self.build / "hvctl" / "hvctl"

    @property
    def db_path(self):
        return self.state_dir / "hvd.db"

    def env(self):
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
        env.pop("NOTIFY_SOCKET", None)
        self.sanitizer_dir.mkdir(parents=True, exist_ok=True)
        self.sanitizer_dir.chmod(0o1777)  # hvctl may run as nobody
        env.update(sanitizer_env(self.sanitizer_dir / "report"))
        env.update(self.extra_env)
        return env

    def command(self):
        cmd = [str(self.binary), "--config", str(self.config_path),
               "--state-dir", str(self.state_dir), "--runtime-dir", str(self.runtime_dir)]
        if self.kvm_uri:
            cmd += ["--kvm-uri", self.kvm_uri]
        if self.http:
            cmd += ["--http", self.http]
        return cmd + self.args

    def start(self, wait=True, notify=True):
        """Starts hvd and waits for READY=1 (it fails fast if hvd exits)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        # The minihv binary and guests come from the build tree (appended, so line numbers in
        # a test's config stay as written; a test that sets them passes minihv_paths=False).
        text = self.config
        if self.minihv_paths:
            text += (f"\n[minihv]\nbinary = {self.build}/drivers/minihv/vmm/minihv\n"
                     f"guest-dir = {self.build}/drivers/minihv/guest\n")
            if self.cgroup_root:
                text += f"resource-control = yes\ncgroup-root = {self.cgroup_root}\n"
            else:
                text += "resource-control = no\n"
        self.config_path.write_text(text)
        env = self.env()
        if notify:
            self.notify = NotifySocket(self.dir / "notify.sock")
            env["NOTIFY_SOCKET"] = str(self.notify.path)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"hvd exited with {self.proc.returncode}:\n{self.read_log()}")
            if self.notify:
                return ("READY", "1") in self.notifications()
            return self.bus_has_owner()
        wait_for(ready, timeout=timeout, what="hvd to be ready")

    def notifications(self):
        """Every sd_notify (KEY, VALUE) hvd sent since it was started, in order."""
        return self.notify.fields() if self.notify else []

    @property
    def url(self):
        """Base URL of the HTTP API (the first address hvd listens on)."""
        return (self.runtime_dir / "http-url").read_text().split()[0]

    @property
    def token(self):
        return (self.state_dir / "http-token").read_text().strip()

    def request(self, method, path, body=None, token=True, headers=None, raw=None,
                content_type="application/json", timeout=30):
        """One HTTP request to hvd; returns (status, headers, parsed JSON or text)."""
        import http.client
        import urllib.parse
        u = urllib.parse.urlparse(self.url)
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                               context=self.tls_context)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        h = dict(headers or {})
        if token is True:
            h["Authorization"] = f"Bearer {self.token}"
        elif token:
            h["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            h["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
        ctype = resp.getheader("Content-Type", "")
        value = json.loads(text) if "json" in ctype and text else text
        conn.close()
        return resp.status, dict(resp.getheaders()), value

    def bus_has_owner(self):
        conn = self.bus.connect()
        try:
            return bool(conn.name_has_owner("org.hvd1"))
        finally:
            conn.close()

    def read_log(self):
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def hvctl(self, *args, user=None, check=False, timeout=60, env=None):
        """Runs hvctl against this hvd; returns the CompletedProcess (text)."""
        e = self.env()
        e.update(env or {})
        preexec = None
        if user == "nobody":
            def preexec():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
        p = subprocess.run([str(self.hvctl_binary), *args], env=e, capture_output=True,
                           text=True, timeout=timeout, preexec_fn=preexec)
        reports = ubsan_reports(p.stderr)
        if reports:
            raise AssertionError(f"hvctl {' '.join(args)}: sanitizer report:\n{reports[0]}")
        if check and p.returncode != 0:
            raise AssertionError(f"hvctl {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def hvctl_json(self, *args):
        p = self.hvctl(*args, "--json", check=True)
        return json.loads(p.stdout)

    def manager(self, conn=None):
        conn = conn or self.bus.connect()
        return dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1"), "org.hvd1.Manager")

    def domain(self, name, conn=None):
        conn = conn or self.bus.connect()
        path = self.manager(conn).GetDomain(name)
        return dbus.Interface(conn.get_object("org.hvd1", path), "org.hvd1.Domain")

    def domain_props(self, name, conn=None):
        conn = conn or self.bus.connect()
        path = self.manager(conn).GetDomain(name)
        return dbus.Interface(conn.get_object("org.hvd1", path),
                              "org.freedesktop.DBus.Properties").GetAll("org.hvd1.Domain")

    def db(self):
        """A read-only connection to hvd's SQLite database."""
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)

    def db_query(self, sql, *params):
        with self.db() as c:
            return c.execute(sql, params).fetchall()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout=10, kill_domains=True):
        """Stops hvd; unless kill_domains is false, also ends the minihv processes it started
        (they outlive hvd by design, so a test must end them itself). Raises AssertionError,
        once everything is stopped, when hvd did not exit 0 on SIGTERM, had died of a signal
        the test does not send (SIGKILL, SIGTERM), or a sanitizer report was written."""
        problems = []
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                if self.proc.wait(timeout=timeout) != 0:
                    problems.append(f"hvd exited with {self.proc.returncode} on SIGTERM")
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append(f"hvd did not exit within {timeout} s of SIGTERM")
        elif self.proc and self.proc.returncode < 0 and \
                -self.proc.returncode not in (signal.SIGKILL, signal.SIGTERM):
            problems.append(f"hvd died of {signal.Signals(-self.proc.returncode).name}")
        if self.notify:
            self.notify.close()
            self.notify = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        if kill_domains:
            subprocess.run(["pkill", "-KILL", "-f", f"control {self.runtime_dir}/minihv/"],
                           capture_output=True)
        reports = [f"{f.name}:\n{f.read_text(errors='replace')}"
                   for f in sorted(self.sanitizer_dir.glob("report.*")) if f.stat().st_size > 0]
        for f in [self.log_path, *sorted(self.runtime_dir.glob("minihv/*.vmm.log"))]:
            if f.exists():
                reports += [f"{f.name}:\n{r}" for r in ubsan_reports(f.read_text(errors="replace"))]
        for r in reports:
            if r not in self.reported:
                self.reported.add(r)
                problems.append(f"sanitizer report in {r}")
        if problems:
            log = "\n".join(self.read_log().splitlines()[-40:])
            raise AssertionError("\n".join(problems) + f"\nhvd's log, last lines:\n{log}")
        return self.proc.returncode if self.proc else None

    def restart(self):
        """Stops and starts hvd; running domains carry on and are re-attached."""
        self.stop(kill_domains=False)
        return self.start()
