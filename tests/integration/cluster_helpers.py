"""The cluster tests' pieces: a real etcd cluster on loopback, hvd hosts joined to it (each with
its own state dir, bus and HTTP port), a TCP relay that can cut one host off from etcd, and a
checker that polls every host for domains running on two hosts at once."""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from hvd_harness import Bus, Hvd, wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(directory: pathlib.Path):
    """A CA, a server certificate for 127.0.0.1 (also usable as a client: etcd's gateway dials
    etcd with it) and a client certificate, as PEM files in directory; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ext.cnf").write_text(
        "[server]\nsubjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n"
        "[client]\nextendedKeyUsage = clientAuth\n")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    for n in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={n}", "-keyout",
                f"{n}.key", "-out", f"{n}.csr")
        openssl("x509", "-req", "-in", f"{n}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-extensions", n,
                "-out", f"{n}.pem")
    return {k: directory / k for k in ("ca.pem", "server.pem", "server.key", "client.pem",
                                       "client.key")}


class EtcdMember:
    def __init__(self, name, directory, client_port, peer_port, tls=None):
        self.name = name
        self.dir = directory
        self.client_port = client_port
        self.peer_port = peer_port
        self.tls = tls
        self.proc = None

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """n etcd members on loopback, data under directory, with short election timeouts."""

    def __init__(self, directory: pathlib.Path, n=3, tls=None):
        self.dir = directory
        self.tls = tls  # make_certificates(): clients must then show a certificate
        self.members = [EtcdMember(f"e{i}", directory / f"e{i}", free_port(), free_port(), tls)
                        for i in range(n)]

    @property
    def endpoints(self):
        return ",".join(m.url for m in self.members)

    def start_member(self, m, state="new"):
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.members)
        m.dir.mkdir(parents=True, exist_ok=True)
        m.log = open(self.dir / f"{m.name}.log", "a")
        tls = []
        if self.tls:
            tls = ["--cert-file", str(self.tls["server.pem"]), "--key-file",
                   str(self.tls["server.key"]), "--trusted-ca-file", str(self.tls["ca.pem"]),
                   "--client-cert-auth"]
        m.proc = subprocess.Popen(
            [ETCD, *tls, "--name", m.name, "--data-dir", str(m.dir),
             "--listen-client-urls", m.url, "--advertise-client-urls", m.url,
             "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
             "--initial-cluster", initial, "--initial-cluster-state", state,
             "--initial-cluster-token", f"hvd-test-{os.getpid()}",
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--log-level", "warn"],
            stdout=m.log, stderr=subprocess.STDOUT)

    def start(self):
        for m in self.members:
            self.start_member(m)
        wait_for(self.healthy, timeout=20, interval=0.1, what="etcd to elect a leader")
        return self

    def post(self, member, path, body, timeout=2):
        req = urllib.request.Request(member.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        context = None
        if self.tls:
            import ssl
            context = ssl.create_default_context(cafile=str(self.tls["ca.pem"]))
            context.load_cert_chain(str(self.tls["client.pem"]), str(self.tls["client.key"]))
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return json.loads(r.read())

    def healthy(self):
        try:
            return all(self.post(m, "/v3/kv/range", {"key": "AA=="}) is not None
                       for m in self.members if m.proc and m.proc.poll() is None)
        except (OSError, urllib.error.URLError):
            return False

    def stop_member(self, m):
        if m.proc and m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait(timeout=10)
        if getattr(m, "log", None):
            m.log.close()
            m.log = None

    def stop(self):
        for m in self.members:
            self.stop_member(m)


class Relay:
    """A TCP relay on loopback in front of an etcd member, for one hvd: cut() black-holes it
    (connections stay open, nothing passes, new ones are accepted and starved), as a network
    partition does; heal() lets traffic through again."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(client)
            if self.cut_off.is_set():
                continue  # accepted, never served
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            self.conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.cut_off.is_set() and not self.closed:
                    time.sleep(0.05)  # held, as a partition holds it
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.cut_off.set()

    def heal(self):
        self.cut_off.clear()

    def close(self):
        self.closed = True
        self.cut_off.clear()
        self.listener.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def meminfo_total_mib():
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal")


class ClusterHost(Hvd):
    """An hvd joined to the cluster as name, with memory_mib of memory for domains."""

    def __init__(self, build, directory, name, etcd_endpoints, memory_mib=64, lease_ttl=4,
                 fence_time=2, timeout_ms=1000, extra="", cpu_overcommit=4):
        self.name = name
        bus = Bus(directory / "bus")
        reserved = meminfo_total_mib() - memory_mib
        config = (f"[allocation]\nreserved-memory-mib = {reserved}\n"
                  f"cpu-overcommit = {cpu_overcommit}\n"
                  f"[cluster]\netcd = {etcd_endpoints}\nhost = {name}\n"
                  f"lease-ttl = {lease_ttl}\nfence-time = {fence_time}\n"
                  f"request-timeout-ms = {timeout_ms}\n{extra}")
        super().__init__(build, bus, directory, config=config)

    def start(self, wait=True, notify=True):
        if not (self.bus.proc and self.bus.proc.poll() is None):
            self.bus.start()
        return super().start(wait=wait, notify=notify)

    def get(self, path, timeout=10):
        return self.request("GET", path, timeout=timeout)

    def local_states(self, timeout=2):
        """{name: state} of the domains this hvd runs locally, or None if it does not answer."""
        try:
            status, _, body = self.request("GET", "/api/v1/domains", timeout=timeout)
        except OSError:
            return None
        if status != 200:
            return None
        self.names_by_uuid = {**getattr(self, "names_by_uuid", {}),
                              **{d["uuid"]: d["name"] for d in body}}
        return {d["name"]: d["state"] for d in body}

    def vmm_domains(self):
        """{name: "running"} of the domains whose minihv process is alive here (not a zombie),
        for a host whose hvd does not answer; names as last seen by local_states()."""
        found = {}
        for pid in self.vmm_pids():
            try:
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"--control" not in cmdline:
                continue  # ended meanwhile
            control = cmdline[cmdline.index(b"--control") + 1].decode()
            uuid = pathlib.Path(control).name.split(".")[0]
            if state != "Z" and uuid in getattr(self, "names_by_uuid", {}):
                found[self.names_by_uuid[uuid]] = "running"
        return found

    def vmm_pids(self):
        """The minihv processes this hvd started (they outlive hvd by design)."""
        p = subprocess.run(["pgrep", "-f", f"control {self.runtime_dir}/minihv/"],
                           capture_output=True, text=True)
        return [int(x) for x in p.stdout.split()]

    def kill_all(self):
        """kill -9 of hvd and of its VMMs: the host dies."""
        self.proc.kill()
        for pid in self.vmm_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)

    def shutdown(self):
        try:
            self.stop()
        finally:
            self.bus.stop()


class DoubleRunChecker:
    """Polls every host's local domains (the live minihv processes of a host whose hvd does not
    answer); remembers any moment a domain ran on two hosts."""

    ACTIVE = ("starting", "running", "paused", "stopping")

    def __init__(self, hosts, interval=0.1):
        self.hosts = hosts
        self.interval = interval
        self.violations = []
        self.polls = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            where = {}
            for h in self.hosts:
                states = h.local_states(timeout=0.5)
                if states is None:
                    states = h.vmm_domains()
                for name, state in states.items():
                    if state in self.ACTIVE:
                        where.setdefault(name, []).append(h.name)
            for name, hosts in where.items():
                if len(hosts) > 1:
                    self.violations.append((time.monotonic(), name, hosts))
            self.polls += 1
            self.stopped.wait(self.interval)

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        return self.violations


def cluster_create(host, name, memory_mib=16, ha=True, pinned=None, timeout=30):
    body = {"name": name, "driver": "minihv", "kernel": "echo", "memory_mib": memory_mib,
            "ha": ha}
    if pinned:
        body["host"] = pinned
    return host.request("POST", "/api/v1/cluster/domains", body, timeout=timeout)


def cluster_domains(host):
    status, _, body = host.get("/api/v1/cluster/domains")
    assert status == 200, body
    return {d["name"]: d for d in body}


def running_on(hosts, name):
    """The names of the hosts where domain name runs now."""
    return [h.name for h in hosts
            if (h.local_states() or {}).get(name) == "running"]
