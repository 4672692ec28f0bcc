#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-minihv-migrate (tests/fuzz/corpus/minihv-migrate/): the
streams real migrations of the counter guest send, in pv and full mode, recorded by a relay
between the source and a real target. Usage: make-minihv-migrate-corpus.py BUILD_DIR (needs
/dev/kvm). Run it again after changing the stream format."""
import pathlib
import select
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "minihv-migrate"


def record_stream(build, mode, tmp):
    vmm = build / "drivers/minihv/vmm/minihv"
    guest = build / f"drivers/minihv/guest/counter-{mode}.elf"
    ctl = tmp / f"{mode}.sock"
    src = subprocess.Popen([str(vmm), "run", "--mode", mode, "--memory", "16", "--control",
                            str(ctl), "--console", "/dev/null", str(guest)])
    for _ in range(200):
        if ctl.exists():
            break
        time.sleep(0.02)
    time.sleep(0.3)
    to_src, relay_a = socket.socketpair()
    relay_b, to_tgt = socket.socketpair()
    tgt = subprocess.Popen([str(vmm), "run", "--console", "/dev/null", "--incoming",
                            str(to_tgt.fileno())], pass_fds=(to_tgt.fileno(),))
    to_tgt.close()
    c = socket.socket(socket.AF_UNIX)
    c.connect(str(ctl))
    socket.send_fds(c, [b'{"cmd":"migrate-send"}\n'], [to_src.fileno()])
    to_src.close()
    stream = b""
    socks = [relay_a, relay_b]
    while socks:
        ready, _, _ = select.select(socks, [], [], 10)
        if not ready:
            break
        for s in ready:
            data = s.recv(1 << 20)
            if not data:
                socks = []
                break
            if s is relay_a:
                stream += data
                relay_b.sendall(data)
            else:
                relay_a.sendall(data)
    src.wait(timeout=10)
    tgt.terminate()
    tgt.wait(timeout=10)
    return stream


def main():
    build = pathlib.Path(sys.argv[1]).resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for mode in ("pv", "full"):
            (OUT / f"{mode}-counter").write_bytes(record_stream(build, mode, pathlib.Path(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
