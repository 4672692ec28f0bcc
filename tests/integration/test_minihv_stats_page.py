"""minihv's statistics page: hvd samples a running domain's counters from the memory page its
VMM publishes (no request to the VMM), they count what a guest prints, they come back after hvd
is killed with -9 and re-attaches, a domain started from a warm-pool VMM, restored from a
managed save or migrated in has them, a page made garbage is refused with one clear log line
(hvd goes on with stats requests), and a stopped VMM is still reported stale. hvd keeps no descriptor of any page: it maps it and closes it."""
import os
import signal
import time

import pytest

from clients import EventStream
from hvd_harness import Bus, Hvd, wait_for
from scale_helpers import DENSE, create_echo

pytestmark = pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                                reason="/dev/kvm is not usable here")

PAGE_LINK = "/memfd:minihv-stats"
MAGIC = b"MMVTSPG1"


def create_and_start(h, name, memory="4"):
    h.hvctl("create", name, "--driver", "minihv", "--kernel", "echo", "--memory", memory,
            check=True)
    h.hvctl("start", name, check=True)
    wait_for(lambda: "echo: ready" in h.hvctl("console", name, "--tail", "200").stdout,
             what=f"{name}'s greeting")


def page_fd(pid):
    """The path of pid's descriptor of a statistics page, or None."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(PAGE_LINK):
                return f"/proc/{pid}/fd/{fd}"
        except OSError:
            continue
    return None


def page_mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return sum(1 for line in f if "memfd:minihv-stats" in line)


def latest(stream, name, pred=lambda s: True):
    """The latest sample of name on the event stream that pred accepts, or None."""
    for e in reversed(stream.of("stats")):
        if e["data"]["domain"] == name and pred(e["data"]["stats"]):
            return e["data"]["stats"]
    return None


def from_page(s):
    return s.get("sampled_from") == "page" and s.get("stale") is False


def type_line(h, name, text):
    status, _, body = h.request("POST", f"/api/v1/domains/{name}/console", {"data": text + "\r"})
    assert status == 204, body


def counts_after_typing(h, stream, name, text):
    """Types text into name's console; returns the page sample that counted its echo."""
    before = wait_for(lambda: latest(stream, name, from_page), timeout=10,
                      what=f"a sample of {name} from its page")
    type_line(h, name, text)
    wait_for(lambda: text in h.hvctl("console", name, "--tail", "400").stdout,
             what="the guest's echo")
    after = wait_for(lambda: latest(stream, name, lambda s: from_page(s) and
                                    s["console"]["out_bytes"] >= before["console"]["out_bytes"]
                                    + len(text)), timeout=10, what="the echo counted")
    assert after["console"]["in_bytes"] >= before["console"]["in_bytes"] + len(text)
    assert after["exits_by_reason"]["total"] > before["exits_by_reason"]["total"]
    assert after["exits_by_device"]["hypercall:console"] > \
        before["exits_by_device"]["hypercall:console"]
    assert after["cpu_time_ns"] > 0 and after["uptime_ns"] > before["uptime_ns"]
    assert after["memory"]["guest_bytes"] == 4 << 20
    return after


def test_counts_come_from_the_page_after_the_guest_prints(hvd):
    create_and_start(hvd, "p")
    pid = hvd.hvctl_json("info", "p")["pid"]
    path = page_fd(pid)
    assert path, "the VMM holds its statistics page"
    with open(path, "rb") as f:
        assert f.read(8) == MAGIC
    stream = EventStream(hvd)
    try:
        counts_after_typing(hvd, stream, "p", "hello from the page")
    finally:
        stream.close()
    # mapped once, and no descriptor of it kept
    assert page_mapped(hvd.proc.pid) == 1
    assert page_fd(hvd.proc.pid) is None
    # /metrics carries the page's counters
    status, _, text = hvd.request("GET", "/metrics")
    assert status == 200 and 'domain="p"' in text
    # hvctl stats of one domain asks the VMM for fresh memory figures
    one = hvd.hvctl_json("stats", "p")
    assert one["stats"]["memory"]["guest_resident_bytes"] > 0
    hvd.hvctl("destroy", "p", check=True)
    wait_for(lambda: page_mapped(hvd.proc.pid) == 0, timeout=5, what="the page unmapped")


def test_page_comes_back_after_kill9_of_hvd(make_hvd):
    h = make_hvd().start()
    create_and_start(h, "k")
    stream = EventStream(h)
    try:
        first = counts_after_typing(h, stream, "k", "before the kill")
    finally:
        stream.close()
    h.kill9()
    h.start()
    assert h.hvctl_json("info", "k")["state"] == "running"
    stream = EventStream(h)
    try:
        again = wait_for(lambda: latest(stream, "k", from_page), timeout=10,
                         what="a sample from the page after the re-attach")
        assert again["console"]["out_bytes"] >= first["console"]["out_bytes"]
        counts_after_typing(h, stream, "k", "after the re-attach")
    finally:
        stream.close()
    assert page_mapped(h.proc.pid) == 1 and page_fd(h.proc.pid) is None
    h.hvctl("destroy", "k", check=True)


def test_a_warm_pool_domain_has_its_page(make_hvd, bus):
    h = make_hvd(config=DENSE + "[minihv]\nwarm-pool = 1\nwarm-pool-memory = 4\n").start()
    pool = lambda: h.hvctl_json("host")["drivers"]["minihv"]["warm_pool"]  # noqa: E731
    wait_for(lambda: pool()["waiting"] == 1, timeout=10, what="the warm pool to fill")
    conn = bus.connect()
    create_echo(h, conn, ["warm"], 4)
    h.domain("warm", conn).Start(timeout=20)
    assert pool()["taken"] == 1
    wait_for(lambda: "echo: ready" in h.hvctl("console", "warm", "--tail", "200").stdout,
             what="the greeting")
    stream = EventStream(h)
    try:
        counts_after_typing(h, stream, "warm", "typed into a pooled VMM")
    finally:
        stream.close()
    h.hvctl("destroy", "warm", check=True)


def test_a_restored_domain_has_the_page_of_its_new_vmm(hvd):
    create_and_start(hvd, "r")
    old = hvd.hvctl_json("info", "r")["pid"]
    hvd.hvctl("save", "r", check=True)
    hvd.hvctl("start", "r", check=True)  # restores the saved image, in a new VMM
    new = hvd.hvctl_json("info", "r")["pid"]
    assert new != old
    stream = EventStream(hvd)
    try:
        counts_after_typing(hvd, stream, "r", "typed after the restore")
    finally:
        stream.close()
    assert page_mapped(hvd.proc.pid) == 1  # the old VMM's page went with it
    hvd.hvctl("destroy", "r", check=True)


def test_a_corrupt_page_is_refused_once_and_requests_take_over(hvd):
    create_and_start(hvd, "bad")
    pid = hvd.hvctl_json("info", "bad")["pid"]
    stream = EventStream(hvd)
    try:
        wait_for(lambda: latest(stream, "bad", from_page), timeout=10, what="a page sample")
        with open(page_fd(pid), "r+b") as f:
            f.write(b"\xff" * 64)  # magic, version, sizes, vCPU count
        wait_for(lambda: "went bad" in hvd.read_log(), timeout=10, what="the refusal logged")
        line = next(x for x in hvd.read_log().splitlines() if "went bad" in x)
        assert "bad: its VMM's statistics page went bad (bad magic 0xffffffffffffffff)" in line
        assert "stats requests" in line
        # the numbers go on, from requests now, and the guest still counts
        s = wait_for(lambda: latest(stream, "bad", lambda s: s.get("sampled_from") == "request"
                                    and s.get("stale") is False), timeout=10,
                     what="samples from stats requests")
        type_line(hvd, "bad", "still counted")
        wait_for(lambda: latest(stream, "bad", lambda t: t.get("sampled_from") == "request" and
                                t["console"]["out_bytes"] > s["console"]["out_bytes"]),
                 timeout=10, what="the echo counted by a request")
        time.sleep(2.5)  # more sampler ticks: logged once, not each second
        assert hvd.read_log().count("went bad") == 1
    finally:
        stream.close()
    assert page_mapped(hvd.proc.pid) == 0
    assert hvd.hvctl_json("info", "bad")["state"] == "running"
    hvd.hvctl("destroy", "bad", check=True)


def test_a_stopped_vmm_is_stale_from_its_page(hvd):
    create_and_start(hvd, "st")
    pid = hvd.hvctl_json("info", "st")["pid"]
    stream = EventStream(hvd)
    try:
        wait_for(lambda: latest(stream, "st", from_page), timeout=10, what="a page sample")
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            stale = wait_for(lambda: latest(stream, "st", lambda s: s.get("stale") is True),
                             timeout=10, what="stale statistics of a stopped VMM")
            assert stale["stats_age_ms"] >= 1000 and time.monotonic() - t0 < 8
        finally:
            os.kill(pid, signal.SIGCONT)
        n = len(stream.of("stats"))
        wait_for(lambda: any(e["data"]["domain"] == "st" and from_page(e["data"]["stats"])
                             for e in stream.of("stats")[n:]), timeout=10,
                 what="fresh statistics from the page after SIGCONT")
    finally:
        stream.close()
    hvd.hvctl("destroy", "st", check=True)


def test_a_migrated_domain_has_the_page_of_its_target_vmm(build, workdir):
    made = []
    try:
        for name in ("src", "dst"):
            bus = Bus(workdir / f"bus-{name}")
            bus.start()
            made.append((Hvd(build, bus, workdir / name), bus))
            made[-1][0].start()
        src, dst = made[0][0], made[1][0]
        p = src.hvctl("create", "mig", "--driver", "minihv", "--kernel", "counter", "--memory",
                      "16", "--cmdline", "period_ms=50")
        assert p.returncode == 0, p.stderr
        src.hvctl("start", "mig", check=True)
        status, _, body = src.request("POST", "/api/v1/domains/mig/actions/migrate",
                                      {"to": dst.url, "token": dst.token}, timeout=120)
        assert status == 200, body
        assert dst.hvctl_json("info", "mig")["state"] == "running"
        stream = EventStream(dst)
        try:
            first = wait_for(lambda: latest(stream, "mig", from_page), timeout=10,
                             what="a sample from the target VMM's page")
            # the counter guest prints every 50 ms: its output is counted on the target
            wait_for(lambda: latest(stream, "mig", lambda s: from_page(s) and
                                    s["console"]["out_bytes"] > first["console"]["out_bytes"]),
                     timeout=10, what="the target's console output counted")
        finally:
            stream.close()
        assert page_mapped(dst.proc.pid) == 1 and page_fd(dst.proc.pid) is None
        assert page_mapped(src.proc.pid) == 0
        dst.hvctl("destroy", "mig", check=True)
    finally:
        for h, bus in made:
            try:
                h.stop()
            finally:
                bus.stop()
