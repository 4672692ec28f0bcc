"""The console of kvm domains through hvd, on a real libvirtd with QEMU (TCG): a minihv SDK
guest (echo, full mode) boots under QEMU too; its console is followed live on the event
stream, driven interactively with hvctl console through a pty, and typed into over HTTP."""
from clients import EventStream, PtyConsole, PtyProcess
from hvd_harness import build_dir, wait_for
from kvm_fixtures import (console, create, kvm_hvd, libvirt_cache,  # noqa: F401
                          libvirtd, state, wait_console, wait_state)
from libvirtd_harness import daemon_env

ECHO = build_dir() / "drivers" / "minihv" / "guest" / "echo-full.elf"


def live_output(stream, name):
    return "".join(e["data"]["data"] for e in stream.of("console") if e["data"]["domain"] == name)


def test_console_live_interactive_and_over_http(kvm_hvd, libvirtd):
    hvd = kvm_hvd
    create(hvd, "kecho", "--mode", "full", kernel=ECHO, cmdline="mode=full")
    stream = EventStream(hvd)
    hvd.hvctl("start", "kecho", check=True)
    wait_console(hvd, "kecho", "echo: ready (full mode)")

    term = PtyConsole(hvd, "kecho")
    assert b"escape character is ^]" in term.read_until(b"^]")
    term.type(b"ping through libvirt\r")
    assert b"ping through libvirt" in term.read_until(b"libvirt", timeout=15)
    shown, status = term.detach()
    assert b"Detached." in shown and status == 0
    assert state(hvd, "kecho") == ("running", "booted")  # detaching leaves it running

    # What the guest printed reached the event stream as it happened (the dashboard's console).
    wait_for(lambda: "ping through libvirt" in live_output(stream, "kecho"), timeout=10,
             what="the echo on the event stream")

    # Typed over HTTP: the guest powers off when told to.
    status, _, body = hvd.request("POST", "/api/v1/domains/kecho/console", {"data": "quit\r"})
    assert status == 204, body
    wait_state(hvd, "kecho", ("shutoff", "shutdown"))
    assert "echo: bye" in console(hvd, "kecho")
    stream.close()

    # A domain that is off has no console to attach to.
    p = hvd.hvctl("console", "kecho")
    assert p.returncode == 1 and "it has no console" in p.stderr


def test_console_taken_by_another_session_is_taken_back(kvm_hvd, libvirtd):
    """`virsh console --force` takes the console from hvd; hvctl console takes it back."""
    hvd = kvm_hvd
    create(hvd, "ksteal", "--mode", "full", kernel=ECHO, cmdline="mode=full")
    hvd.hvctl("start", "ksteal", check=True)
    wait_console(hvd, "ksteal", "echo: ready (full mode)")
    other = PtyProcess(["virsh", "-c", libvirtd.uri, "console", "--force", "ksteal"],
                       daemon_env())
    try:
        assert b"Connected to domain" in other.read_until(b"Connected to domain", timeout=10)
        term = PtyConsole(hvd, "ksteal")
        assert b"escape character is ^]" in term.read_until(b"^]")
        term.type(b"back with hvd\r")
        assert b"back with hvd" in term.read_until(b"hvd", timeout=15)
        shown, status = term.detach()
        assert status == 0
    finally:
        other.kill()
    hvd.hvctl("destroy", "ksteal", check=True)
