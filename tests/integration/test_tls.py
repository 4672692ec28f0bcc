"""TLS: hvd's HTTPS API with client certificates, hvctl over it (--ca, --cert, --key), a minihv
live migration between two hvds over TLS (the admission and the data connection), and the
checks of certificate files and secrets at start-up and in --check-config. The CAs and
certificates are made by each test with openssl."""
import os
import re
import subprocess

import pytest

from cluster_helpers import make_certificates
from hvd_harness import Bus, Hvd, wait_for

NEEDS_KVM = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                               reason="/dev/kvm is not usable here")


@pytest.fixture
def certs(workdir):
    """A CA with a server certificate for 127.0.0.1 and a client certificate, plus a second,
    unrelated CA with a certificate of its own."""
    c = make_certificates(workdir / "certs")
    other = workdir / "certs" / "other"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=other", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                    str(other / "other.key"), "-out", str(other / "other.pem")],
                   check=True, capture_output=True)
    c["other.pem"], c["other.key"] = other / "other.pem", other / "other.key"
    return c


def tls_config(certs, client_ca=True, migrate_ca=None):
    text = (f"[http]\ntls-cert = {certs['server.pem']}\ntls-key = {certs['server.key']}\n")
    if client_ca:
        text += f"tls-client-ca = {certs['ca.pem']}\n"
    text += (f"[migrate]\ntls-ca = {migrate_ca or certs['ca.pem']}\n"
             f"tls-cert = {certs['client.pem']}\ntls-key = {certs['client.key']}\n")
    return text


def check_config(build, workdir, text):
    conf = workdir / "check.conf"
    conf.write_text(text)
    return subprocess.run([str(build / "hvd" / "hvd"), "--config", str(conf), "--check-config"],
                          capture_output=True, text=True, timeout=10)


def test_check_config_masks_secrets_and_names_bad_files(build, workdir, certs):
    p = check_config(build, workdir, tls_config(certs) +
                     "[cluster]\netcd = http://root:etcdpass@127.0.0.1:1\nhost = a\n"
                     "migrate-token = s3cr3t-token\n")
    assert p.returncode == 0, p.stderr
    assert "s3cr3t-token" not in p.stdout and "etcdpass" not in p.stdout, p.stdout
    assert "migrate-token = (secret, not shown)" in p.stdout
    assert "etcd = http://root:****@127.0.0.1:1" in p.stdout
    assert f"tls-client-ca = {certs['ca.pem']}" in p.stdout

    # A key that is not the certificate's, a file that cannot be read, a CA file with no
    # certificate, half a pair: each named, and hvd does not start.
    bad = [
        (f"[http]\ntls-cert = {certs['server.pem']}\ntls-key = {certs['other.key']}\n",
         f"[http]: the certificate {certs['server.pem']} and key {certs['other.key']}: the key "
         "does not belong to the certificate"),
        (f"[http]\ntls-cert = {certs['server.pem']}\ntls-key = {workdir}/missing.key\n",
         f"[http]: cannot read the key {workdir}/missing.key: No such file or directory"),
        (tls_config(certs, migrate_ca=certs["server.key"]),
         f"[migrate]: the CA file {certs['server.key']}: it holds no PEM certificate"),
        (f"[migrate]\ntls-cert = {certs['client.pem']}\n",
         "[migrate] tls-cert and tls-key must be set together"),
        (f"[http]\ntls-client-ca = {certs['ca.pem']}\n",
         "[http] tls-client-ca needs tls-cert and tls-key"),
        (f"[cluster]\netcd = https://127.0.0.1:1\nhost = a\netcd-ca = {certs['ca.pem']}\n"
         f"etcd-cert = {certs['client.pem']}\netcd-key = {certs['server.key']}\n",
         "[cluster]: the certificate"),
    ]
    for text, message in bad:
        p = check_config(build, workdir, text)
        assert p.returncode == 1, (text, p.stdout)
        assert message in p.stderr, (text, p.stderr)


def test_hvctl_over_https_with_client_certificates(make_hvd, certs):
    h = make_hvd(config=tls_config(certs)).start()
    url = h.url
    assert url.startswith("https://127.0.0.1:"), url

    def hvctl(*args):
        return h.hvctl("--url", url, *args, "host", "--json", timeout=20)

    ok = hvctl("--ca", str(certs["ca.pem"]), "--cert", str(certs["client.pem"]), "--key",
               str(certs["client.key"]))
    assert ok.returncode == 0, ok.stderr
    assert '"cpus"' in ok.stdout or '"memory' in ok.stdout, ok.stdout

    # Without a client certificate: refused, saying what is missing.
    p = hvctl("--ca", str(certs["ca.pem"]))
    assert p.returncode != 0
    assert "client certificate" in p.stderr and "tls-client-ca" in p.stderr, p.stderr
    # A client certificate of another CA: refused too.
    p = hvctl("--ca", str(certs["ca.pem"]), "--cert", str(certs["other.pem"]), "--key",
              str(certs["other.key"]))
    assert p.returncode != 0 and "not trusted" in p.stderr, p.stderr
    # The wrong CA for hvd's certificate: hvctl says it could not verify it.
    p = hvctl("--ca", str(certs["other.pem"]), "--cert", str(certs["client.pem"]), "--key",
              str(certs["client.key"]))
    assert p.returncode == 4, p.stderr
    assert "certificate" in p.stderr and "--ca" in p.stderr, p.stderr
    # Plain HTTP to the HTTPS port gets nowhere, and hvctl says to try https://.
    p = h.hvctl("--url", url.replace("https://", "http://"), "host", timeout=20)
    assert p.returncode == 4, p.stderr
    assert "https://" in p.stderr, p.stderr
    # --cert without --key is a usage error.
    p = hvctl("--cert", str(certs["client.pem"]))
    assert p.returncode == 2 and "--cert and --key go together" in p.stderr, p.stderr


@pytest.fixture
def pair(build, workdir):
    made = []

    def start(name, config):
        bus = Bus(workdir / f"bus-{name}")
        bus.start()
        h = Hvd(build, bus, workdir / name, config=config)
        made.append((h, bus))
        h.start()
        return h

    yield start
    for h, bus in made:
        try:
            h.stop()
        finally:
            bus.stop()


def counts(hvd, name):
    text = hvd.hvctl("console", name, "--tail", "100000", check=True).stdout
    return [int(n) for n in re.findall(r"counter: (\d+) t=\d+\n", text)]


@NEEDS_KVM
def test_minihv_migration_over_tls(pair, workdir, certs):
    src = pair("src", tls_config(certs))
    dst = pair("dst", tls_config(certs))
    token = workdir / "dst-token"
    token.write_text(dst.token + "\n")
    assert dst.url.startswith("https://")
    p = src.hvctl("create", "mig", "--driver", "minihv", "--mode", "pv", "--kernel", "counter",
                  "--memory", "16", "--cmdline", "period_ms=50 dirty_pages=32")
    assert p.returncode == 0, p.stderr
    src.hvctl("start", "mig", check=True)
    wait_for(lambda: len(counts(src, "mig")) >= 3, timeout=20, what="the guest to count")

    p = src.hvctl("migrate", "mig", "--to", dst.url, "--token-file", str(token), timeout=60)
    assert p.returncode == 0, p.stderr + src.read_log()
    assert src.hvctl_json("info", "mig")["state"] == "shutoff"
    # The target records it running once its VMM says so, which may come just after.
    wait_for(lambda: (dst.hvctl_json("info", "mig")["state"],
                      dst.hvctl_json("info", "mig")["reason"]) == ("running", "migrated"),
             timeout=10, what="the target to run it")
    before = max(counts(dst, "mig"))
    wait_for(lambda: max(counts(dst, "mig")) > before, timeout=20,
             what="the guest to go on counting on the target")


@NEEDS_KVM
def test_migration_to_an_untrusted_target_fails_and_keeps_the_domain(pair, workdir, certs):
    # The source trusts another CA than the one that signed the target's certificate.
    src = pair("src", tls_config(certs, migrate_ca=certs["other.pem"]))
    dst = pair("dst", tls_config(certs))
    token = workdir / "dst-token"
    token.write_text(dst.token + "\n")
    p = src.hvctl("create", "mig", "--driver", "minihv", "--mode", "pv", "--kernel", "counter",
                  "--memory", "16")
    assert p.returncode == 0, p.stderr
    src.hvctl("start", "mig", check=True)
    p = src.hvctl("migrate", "mig", "--to", dst.url, "--token-file", str(token), timeout=60)
    assert p.returncode == 1
    assert "TLS handshake" in p.stderr and "not trusted" in p.stderr, p.stderr
    assert src.hvctl_json("info", "mig")["state"] == "running"
    assert dst.hvctl("info", "mig").returncode == 3
    # An http:// URL to the TLS target gets nowhere either, and says so.
    p = src.hvctl("migrate", "mig", "--to", dst.url.replace("https://", "http://"),
                  "--token-file", str(token), timeout=60)
    assert p.returncode == 1 and src.hvctl_json("info", "mig")["state"] == "running", p.stderr
    assert "closed the connection without an answer (if it serves HTTPS, use an https:// URL)" \
        in p.stderr, p.stderr


def test_data_connection_requires_the_client_certificate(make_hvd, workdir, certs):
    """The target's one-time data port speaks TLS with [http]'s certificate and requires a
    client certificate as its API does: a connection without one is refused in the handshake
    and the admitted domain goes again."""
    import http.client
    import json
    import socket
    import ssl

    dst = make_hvd(config=tls_config(certs)).start()
    port = int(dst.url.rsplit(":", 1)[1])
    with_cert = ssl.create_default_context(cafile=str(certs["ca.pem"]))
    with_cert.load_cert_chain(str(certs["client.pem"]), str(certs["client.key"]))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=with_cert, timeout=10)
    good = {"name": "inc", "uuid": "6a1c3c3e-5b1c-4f7e-9a51-2b3c4d5e6f70", "driver": "minihv",
            "mode": "pv", "kernel": "counter", "memory_mib": 16}
    conn.request("POST", "/api/v1/migrations", json.dumps({"domain": good}),
                 {"Authorization": f"Bearer {dst.token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    admitted = json.loads(resp.read())
    assert resp.status == 201, admitted
    assert dst.hvctl("info", "inc").returncode == 0

    without_cert = ssl.create_default_context(cafile=str(certs["ca.pem"]))
    with socket.create_connection(("127.0.0.1", admitted["port"]), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with without_cert.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(admitted["ticket"].encode() + b"\n")
                if s.recv(1) == b"":
                    raise ConnectionError("closed")
    wait_for(lambda: dst.hvctl("info", "inc").returncode == 3, timeout=15,
             what="the admitted domain to go")
    wait_for(lambda: "the TLS handshake with the source hvd of a migration failed" in
             dst.read_log(), timeout=5, what="the refusal in the log")


@NEEDS_KVM
def test_cluster_over_tls_moves_a_domain_live(workdir, build, certs):
    """Everything TLS with client certificates: etcd (--client-cert-auth), the hosts' HTTPS
    APIs (tls-client-ca) they advertise to each other, and the live migration of a cluster
    move between them."""
    import json
    import ssl

    from cluster_helpers import ClusterHost, EtcdCluster, free_port

    token = "ab" * 32
    etcd = EtcdCluster(workdir / "etcd", n=1, tls=certs).start()
    context = ssl.create_default_context(cafile=str(certs["ca.pem"]))
    context.load_cert_chain(str(certs["client.pem"]), str(certs["client.key"]))
    hosts = []
    for i in range(2):
        port = free_port()
        h = ClusterHost(build, workdir / f"h{i}", f"h{i}", etcd.endpoints,
                        extra=f"advertise = https://127.0.0.1:{port}\nmigrate-token = {token}\n"
                              f"etcd-ca = {certs['ca.pem']}\netcd-cert = {certs['client.pem']}\n"
                              f"etcd-key = {certs['client.key']}\n" + tls_config(certs))
        h.http = f"127.0.0.1:{port}"
        h.tls_context = context
        h.state_dir.mkdir(parents=True, exist_ok=True)
        (h.state_dir / "http-token").write_text(token + "\n")
        (h.state_dir / "http-token").chmod(0o600)
        hosts.append(h)
    try:
        for h in hosts:
            h.start()
        wait_for(lambda: len(hosts[0].get("/api/v1/cluster/hosts")[2]) == 2, timeout=10,
                 interval=0.1, what="two hosts registered")
        p = hosts[0].hvctl("--cluster", "create", "c", "--driver", "minihv", "--mode", "pv",
                           "--kernel", "counter", "--memory", "16", "--cmdline",
                           "period_ms=50 dirty_pages=32", "--json", timeout=40)
        assert p.returncode == 0, p.stderr
        src = next(h for h in hosts if h.name == json.loads(p.stdout)["host"])
        dst = next(h for h in hosts if h is not src)
        wait_for(lambda: len(counts(src, "c")) >= 3, timeout=10, interval=0.1,
                 what="the counter")
        p = src.hvctl("--cluster", "migrate", "c", "--to", dst.name, "--json", timeout=40)
        assert p.returncode == 0, p.stderr
        entry = json.loads(p.stdout)
        assert (entry["host"], entry["moved"]) == (dst.name, "live"), entry
        wait_for(lambda: len(counts(dst, "c")) >= 3, timeout=10, interval=0.1,
                 what="the counter continuing on the target")
        assert counts(dst, "c")[0] > 2, counts(dst, "c")  # a restarted guest counts from 0
        assert f"migrated to https://127.0.0.1:{dst.http.split(':')[1]}" in src.read_log()
    finally:
        for h in hosts:
            h.shutdown()
        etcd.stop()


@NEEDS_KVM
def test_target_hvd_killed_during_a_tls_migration_leaves_the_source_running(pair, workdir,
                                                                          certs):
    """With TLS, hvd relays the stream: the target's hvd killed with -9 cuts it. The source
    VMM sees its connection reset, never a hand-over, and resumes the guest; the restarted
    target has no half-made domain. The guest runs in one place only."""
    import subprocess

    src = pair("src", tls_config(certs))
    dst = pair("dst", tls_config(certs))
    token = workdir / "dst-token"
    token.write_text(dst.token + "\n")
    p = src.hvctl("create", "mig", "--driver", "minihv", "--mode", "pv", "--kernel", "counter",
                  "--memory", "16", "--cmdline", "period_ms=20 fill dirty_pages=64")
    assert p.returncode == 0, p.stderr
    src.hvctl("start", "mig", check=True)
    wait_for(lambda: len(counts(src, "mig")) >= 2, timeout=20, what="the guest to count")
    proc = subprocess.Popen([str(src.hvctl_binary), "migrate", "mig", "--to", dst.url,
                             "--token-file", str(token), "--bandwidth", "4", "--timeout", "6"],
                            env=src.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def receiving():
        p = dst.hvctl("info", "mig", "--json")
        return p.returncode == 0 and '"starting"' in p.stdout and '"pid": ' in p.stdout
    wait_for(receiving, timeout=20, what="the target's VMM to receive")
    vmm = dst.hvctl_json("info", "mig")["pid"]
    dst.kill9()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    wait_for(lambda: src.hvctl_json("info", "mig")["state"] == "running", timeout=30,
             what="the source to resume")
    before = max(counts(src, "mig"))
    wait_for(lambda: max(counts(src, "mig")) > before, timeout=20,
             what="the guest to count on at the source")
    # The target's VMM gave up on the reset stream instead of taking the guest over.
    wait_for(lambda: not os.path.exists(f"/proc/{vmm}") or
             open(f"/proc/{vmm}/stat").read().split()[2] == "Z", timeout=30,
             what="the target's VMM to give up")
    dst.start()
    assert dst.hvctl("info", "mig").returncode == 3
    assert not list((dst.state_dir / "incoming").glob("*"))
