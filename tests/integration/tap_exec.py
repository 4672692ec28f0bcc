#!/usr/bin/env python3
"""Run inside a network namespace (`ip netns exec NS tap_exec.py ...`): creates a tap with
TUNSETIFF (IFF_TAP|IFF_NO_PI), gives it an address, brings it up, and execs the command with
the tap's descriptor in place of "{fd}". The tap lives as long as that descriptor: it vanishes
when the command ends.

Usage: tap_exec.py --name TAP --address A.B.C.D/N [--mtu N] -- COMMAND..."""
import argparse
import fcntl
import os
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--address", required=True)
    ap.add_argument("--mtu", type=int)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    fd = open_tap(args.name)
    subprocess.run(["ip", "addr", "add", args.address, "dev", args.name], check=True)
    if args.mtu:
        subprocess.run(["ip", "link", "set", args.name, "mtu", str(args.mtu)], check=True)
    subprocess.run(["ip", "link", "set", args.name, "up"], check=True)
    os.set_inheritable(fd, True)
    cmd = [c.replace("{fd}", str(fd)) for c in cmd]
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
