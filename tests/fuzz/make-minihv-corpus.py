#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-minihv (tests/fuzz/corpus/minihv/): one input per entry
point, in the script format of fuzz-minihv.c. Run it again after changing that format; pass
a meson build directory to also seed the loaders with stripped guest images."""
import pathlib
import struct
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "minihv"

POKE, OUT_, IN_, STRING, HYPERCALL, DOORBELL, MMIO, INPUT, EXIT, LOAD, NET_FRAME, NET_RUN = range(12)
PV, FULL, DISK, STRICT, NET = 0, 1, 2, 4, 8


def poke(gpa, data):
    assert len(data) < 256
    return bytes([POKE]) + struct.pack("<IB", gpa, len(data)) + data


def out(port, size_log2, value):
    return bytes([OUT_]) + struct.pack("<HBI", port, size_log2, value)


def inp(port, size_log2):
    return bytes([IN_]) + struct.pack("<HB", port, size_log2)


def string(port, size_log2, count, write):
    return bytes([STRING]) + struct.pack("<HBHB", port, size_log2, count, write)


def hypercall(nr, gpa, cpu=0):
    return bytes([HYPERCALL]) + struct.pack("<BQ", nr + 32 * cpu, gpa)


def frame(length, data=b""):
    return bytes([NET_FRAME]) + struct.pack("<H", length) + data


def eth_frame(dst=b"\xff" * 6):
    return dst + b"\x02\x00\x00\x00\x00\x09\x88\xb5" + bytes(range(46))


def net_seeds():
    s = {}
    # pv: ring set-up, good and bad TX descriptors, RX buffers, host frames, garbage indexes
    desc = lambda buf, length: struct.pack("<QIi", buf, length, 0)
    s["pv-net"] = bytes([PV | NET]) + \
        poke(0x200000, struct.pack("<QQII", 0x210000, 0x211000, 8, 0)) + \
        hypercall(12, 0x200000) + hypercall(11, 0x200100) + \
        poke(0x220000, eth_frame()) + \
        poke(0x210040, desc(0x220000, 60) + desc(0x220000, 0) + desc(0x3FFFF0, 60) +
             desc(0x220000, 0xFFFFFFFF)) + poke(0x210000, struct.pack("<I", 4)) + \
        poke(0x211040, desc(0x230000, 2048) + desc(0x230800, 10) + desc(0x1000, 2048)) + \
        poke(0x211000, struct.pack("<I", 3)) + \
        frame(60, eth_frame()) + frame(3000, eth_frame()) + bytes([NET_RUN]) + \
        frame(60, eth_frame()) + bytes([NET_RUN]) + \
        poke(0x210000, struct.pack("<I", 1000)) + poke(0x211000, struct.pack("<I", 1000)) + \
        bytes([NET_RUN]) + hypercall(12, 0x200000) + bytes([NET_RUN])
    # full: an NE2000 driver's set-up, a remote read of the PROM, a transmit, received frames
    mac = b"\x02\x00\x00\x00\x00\x01"
    ne = [inp(0x31F, 0), out(0x31F, 0, 0), inp(0x307, 0), out(0x307, 0, 0xFF),
          out(0x300, 0, 0x21), out(0x30E, 0, 0x49), out(0x30A, 0, 32), out(0x30B, 0, 0),
          out(0x308, 0, 0), out(0x309, 0, 0), out(0x300, 0, 0x0A), string(0x310, 1, 16, 0),
          out(0x304, 0, 0x40), out(0x301, 0, 0x46), out(0x303, 0, 0x46), out(0x302, 0, 0x80),
          out(0x300, 0, 0x61)] + [out(0x301 + i, 0, b) for i, b in enumerate(mac)] + \
         [out(0x307, 0, 0x47), out(0x300, 0, 0x22), out(0x30D, 0, 0), out(0x30C, 0, 0x04),
          out(0x30A, 0, 60), out(0x30B, 0, 0), out(0x308, 0, 0), out(0x309, 0, 0x40),
          out(0x300, 0, 0x12), string(0x310, 1, 30, 1), inp(0x307, 0),
          out(0x305, 0, 60), out(0x306, 0, 0), out(0x300, 0, 0x26), inp(0x307, 0),
          out(0x30D, 0, 0x02), out(0x300, 0, 0x26)]
    rx = [frame(60, eth_frame()), frame(60, eth_frame(mac)), bytes([NET_RUN]),
          out(0x300, 0, 0x62), inp(0x307, 0), out(0x300, 0, 0x22),
          out(0x30A, 0, 4), out(0x30B, 0, 0), out(0x308, 0, 0), out(0x309, 0, 0x47),
          out(0x300, 0, 0x0A), inp(0x310, 1), inp(0x310, 1), out(0x303, 0, 0x47),
          out(0x300, 0, 0x1A), inp(0x310, 2), out(0x300, 0, 0xA2), inp(0x30C, 0),
          out(0x301, 0, 0x90), out(0x302, 0, 0x50), frame(60, eth_frame()), bytes([NET_RUN]),
          out(0x301, 0, 0xFF), out(0x300, 0, 0x01), frame(60, eth_frame()), bytes([NET_RUN])]
    s["full-ne2000"] = bytes([FULL | NET]) + b"".join(ne + rx)
    return s


def seeds(build):
    s = {}
    # pv: console write of a buffer, console read, poll, block info
    s["pv-console"] = bytes([PV]) + poke(0x200000, struct.pack("<QII", 0x200100, 5, 0)) + \
        poke(0x200100, b"hello") + hypercall(1, 0x200000) + \
        bytes([INPUT, 3]) + b"abc" + poke(0x200200, struct.pack("<QIIII", 0x200300, 64, 0, 0, 0)) + \
        hypercall(2, 0x200200) + poke(0x200400, struct.pack("<QII", 1000, 0, 0)) + \
        hypercall(6, 0x200400) + hypercall(3, 0x200500)
    # pv: block ring set-up, two descriptors, doorbell and kick
    desc = struct.pack("<IIQQQiI", 1, 8, 0, 0x220000, 1, 1, 0) + \
        struct.pack("<IIQQQiI", 2, 8, 16, 0x220000, 2, 1, 0)
    s["pv-ring"] = bytes([PV | DISK]) + poke(0x200000, struct.pack("<QII", 0x210000, 8, 0)) + \
        hypercall(4, 0x200000) + poke(0x210040, desc) + poke(0x210000, struct.pack("<I", 2)) + \
        bytes([DOORBELL]) + hypercall(5, 0) + poke(0x210000, struct.pack("<I", 1000)) + \
        bytes([DOORBELL])
    # pv: every hypercall number, odd addresses, a second vCPU, crash report
    body = b"".join(hypercall(nr, gpa) for nr in range(16)
                    for gpa in (0, 0x1000, 0x3ffff8, 0xffffffff, 1 << 63))
    body += poke(0x200000, struct.pack("<IIQQQ", 1, 0, 0x100000, 0x200000, 7)) + \
        hypercall(10, 0x200000)
    body += poke(0x200100, struct.pack("<QII", 0x200200, 300, 0)) + hypercall(9, 0x200100)
    s["pv-hypercalls"] = bytes([PV | DISK]) + body
    # pv: the exception port and forged exits
    s["pv-exits"] = bytes([PV]) + out(0x71F, 2, 0) + \
        bytes([EXIT]) + struct.pack("<IHBIQ", 2, 0x701, 0x82, 1, 64) + \
        bytes([EXIT]) + struct.pack("<IHBIQ", 2, 0x3F8, 0x80, 5000, 0xFF0) + \
        bytes([EXIT]) + struct.pack("<IHBIQ", 6, 0, 1, 4, 0x40000000) + \
        bytes([EXIT]) + struct.pack("<IHBIQ", 17, 0, 0, 0, 0) + \
        bytes([EXIT]) + struct.pack("<IHBIQ", 8, 0, 0, 0, 0)
    # full: UART set-up, output, loopback, status registers
    uart = [out(0x3F9, 0, 0), out(0x3FB, 0, 0x80), out(0x3F8, 0, 1), out(0x3FB, 0, 3),
            out(0x3FA, 0, 0xC7), out(0x3FC, 0, 0x0B)] + \
        [out(0x3F8, 0, c) for c in b"hi\n"] + [inp(0x3F8 + i, 0) for i in range(8)] + \
        [out(0x3FC, 0, 0x1F), out(0x3F8, 0, 0x41), inp(0x3F8, 0), out(0x3F9, 0, 0x0F),
         inp(0x3FA, 0), inp(0x3FE, 0), out(0x3FF, 1, 0x1234), inp(0x3F8, 2)]
    s["full-uart"] = bytes([FULL]) + bytes([INPUT, 2]) + b"ok" + b"".join(uart)
    # full: ATA IDENTIFY, READ, WRITE, FLUSH, reset
    ata = [out(0x1F6, 0, 0xA0), out(0x1F7, 0, 0xEC), inp(0x1F7, 0), string(0x1F0, 1, 256, 0),
           out(0x1F6, 0, 0xE0), out(0x1F2, 0, 2), out(0x1F3, 0, 5), out(0x1F4, 0, 0),
           out(0x1F5, 0, 0), out(0x1F7, 0, 0x20), string(0x1F0, 1, 512, 0),
           out(0x1F2, 0, 1), out(0x1F7, 0, 0x30), string(0x1F0, 1, 256, 1),
           out(0x1F7, 0, 0xE7), out(0x3F6, 0, 4), out(0x3F6, 0, 0), inp(0x1F1, 0),
           out(0x1F6, 0, 0x00), out(0x1F3, 0, 1), out(0x1F7, 0, 0x20), string(0x1F0, 2, 128, 0)]
    s["full-ata"] = bytes([FULL | DISK]) + b"".join(ata)
    # full: CMOS RTC time, status registers, setting the clock
    rtc = []
    for reg in (0, 2, 4, 6, 7, 8, 9, 0x32, 0x0A, 0x0B, 0x0C, 0x0D, 0x7F):
        rtc += [out(0x70, 0, reg), inp(0x71, 0)]
    rtc += [out(0x70, 0, 0x0B), out(0x71, 0, 0x86), out(0x70, 0, 9), out(0x71, 0, 0x99),
            out(0x70, 0, 0x0B), out(0x71, 0, 0x02), out(0x70, 0, 4), inp(0x71, 0)]
    s["full-rtc"] = bytes([FULL]) + b"".join(rtc)
    # full: power button status, unassigned ports and MMIO, soft-off
    s["full-power"] = bytes([FULL | STRICT]) + inp(0x600, 1) + out(0x600, 1, 0x100) + \
        bytes([MMIO]) + struct.pack("<QBB", 0x20000000, 4, 0) + out(0xCF9, 0, 2) + \
        out(0x604, 1, 0x2000)
    s["full-unassigned"] = bytes([FULL]) + out(0x80, 0, 1) + inp(0x1F7, 0) + \
        bytes([MMIO]) + struct.pack("<QBB", 0xFEE00000, 8, 1) + out(0x701, 2, 0x200000)
    # loaders: a Multiboot header with address fields, and a broken ELF header
    mb = struct.pack("<IIIIIIII", 0x1BADB002, 0x00010002, (-(0x1BADB002 + 0x00010002)) & 0xFFFFFFFF,
                     0x100000, 0x100000, 0x100040, 0x101000, 0x100020)
    s["full-load-multiboot"] = bytes([FULL, LOAD]) + mb + b"\x90" * 32
    s["pv-load-elf"] = bytes([PV, LOAD]) + b"\x7fELF\x02\x01\x01" + b"\0" * 9 + \
        struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x100000, 64, 0, 0, 64, 56, 1, 64, 0, 0) + \
        struct.pack("<IIQQQQQQ", 1, 5, 0, 0x100000, 0x100000, 0x100, 0x100, 0x1000)
    s.update(net_seeds())
    if build:
        for mode, flag in (("pv", PV), ("full", FULL)):
            elf = pathlib.Path(build) / "drivers/minihv/guest" / f"hello-{mode}.elf"
            with tempfile.NamedTemporaryFile() as tmp:
                subprocess.run(["objcopy", "--strip-all", str(elf), tmp.name], check=True)
                stripped = pathlib.Path(tmp.name).read_bytes()
            s[f"{mode}-load-hello"] = bytes([flag, LOAD]) + stripped
    return s


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(sys.argv[1] if len(sys.argv) > 1 else None).items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(list(OUT.iterdir()))} seeds to {OUT}")


if __name__ == "__main__":
    main()
