#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A real program as a checkpoint target (tests/criu.sh): CPython itself.

    py-target.py SEED MIB VERIFY

Writes 64-byte slots of a MIB MiB bytearray at random, and keeps the last
value of every slot it wrote in a dict as well: the interpreter's heap
grows, its arenas come and go (mmap, munmap, brk) and its objects move
while vmtrack copies. Prints "ready" once set up. On SIGUSR1 it checks the
buffer against the dict, slot by slot, and appends "verified N" (N slots
checked) or "MISMATCH at OFFSET" to VERIFY; then it goes on writing.
"""
import random
import signal
import sys
import time

SLOT = 64


def verify(data, last, path):
    """Compare every slot written with its last value; report to @path."""
    for off, val in last.items():
        if data[off:off + SLOT] != val:
            line = "MISMATCH at %#x" % off
            break
    else:
        line = "verified %d" % len(last)
    with open(path, "a") as f:
        f.write(line + "\n")


def main():
    seed, mib, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    data = bytearray(mib << 20)
    slots = len(data) // SLOT
    last = {}
    asked = []

    signal.signal(signal.SIGUSR1, lambda sig, frame: asked.append(sig))
    print("ready", flush=True)
    while True:
        for _ in range(256):
            off = rng.randrange(slots) * SLOT
            val = rng.randbytes(SLOT)
            data[off:off + SLOT] = val
            last[off] = val
        if asked:
            asked.clear()
            verify(data, last, path)
        time.sleep(0.002)


if __name__ == "__main__":
    main()
