#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fuzz/gen_corpus.py - write the seed corpus of fuzz_uhmm into fuzz/corpus/.

Each seed is a small, meaningful scenario in fuzz_uhmm's input format:
byte 0 = configuration (bit 0: device 1 is coherent; bit 1: two files per
device, bit 4 of d picks the second), then 6 bytes per
operation: opcode, a, b, c, d, e (see decode() in fuzz_uhmm.c):
  a   which live address space (mod their number); seed of CPU/device writes
  b   first page of the range (mod 128); MMAP: slot b%4, offset (b/4)%16
  c   number of pages - 1 (mod 16)
  d   bit 0 device, (d>>1)%3 protection NONE/R/RW, bit 3 shared, bit 4 second file
  e   variant (MREMAP: 0 = in place, else FIXED; PIN/RANGE_FAULT: bit 0 write)
Run it again after changing the format; the files are committed.
"""
import os

OPS = ["NEWMM", "FORK", "EXIT", "MMAP", "MUNMAP", "MPROTECT", "MADVISE", "MREMAP", "CPU_READ",
       "CPU_WRITE", "DEV_READ", "DEV_WRITE", "MIGRATE_TO_DEV", "MIGRATE_TO_SYS", "SNAPSHOT", "EXCLUSIVE",
       "CHECK_EXCLUSIVE", "RELEASE", "FAIL_ALLOC", "PIN", "UNPIN", "NOTIFIER", "RANGE_FAULT",
       "SOFT_DIRTY", "CHECK", "BADCALL"]
NONE, R, RW = 0 << 1, 1 << 1, 2 << 1
SHARED = 8


def op(name, a=0, b=0, c=0, d=0, e=0):
    return bytes([OPS.index(name), a & 255, b & 255, c & 255, d & 255, e & 255])


def seed(config, *ops):
    return bytes([config]) + b"".join(ops)


def mmap(slot, npages, prot=RW, shared=False, off=0, mm=0):
    return op("MMAP", mm, slot + 4 * off, npages - 1, prot | (SHARED if shared else 0))


def rng(name, p0, n, mm=0, dev=0, e=0, a=None):
    return op(name, mm if a is None else a, p0, n - 1, dev, e)


def cpu(name, page, npages, mm=0, seed_=0x11, off=0):
    length = npages * 4096 - 1
    return op(name, mm if name == "CPU_READ" else seed_, page, length >> 8, length & 255, off)


SEEDS = {
    "basic_rw": seed(0,
        mmap(0, 16), cpu("CPU_WRITE", 0, 8, seed_=0x21), cpu("CPU_READ", 0, 16),
        rng("DEV_READ", 0, 16), rng("DEV_WRITE", 4, 8, dev=1, a=0x33), cpu("CPU_READ", 0, 16),
        rng("SNAPSHOT", 0, 16), op("CHECK")),
    "migrate_both_ways": seed(0,
        mmap(0, 16), cpu("CPU_WRITE", 0, 16, seed_=0x42), rng("MIGRATE_TO_DEV", 0, 16),
        rng("SNAPSHOT", 0, 16), rng("DEV_READ", 2, 4, dev=1), cpu("CPU_READ", 3, 2),
        rng("MIGRATE_TO_DEV", 0, 8, dev=1), rng("SNAPSHOT", 0, 16, dev=1), rng("MIGRATE_TO_SYS", 0, 16, dev=1),
        rng("DEV_WRITE", 0, 16, a=7), rng("MIGRATE_TO_SYS", 0, 16), op("CHECK")),
    "fork_cow_device": seed(0,
        mmap(0, 12), cpu("CPU_WRITE", 0, 12, seed_=3), rng("MIGRATE_TO_DEV", 0, 6),
        op("FORK", 0), cpu("CPU_WRITE", 2, 2, mm=1, seed_=9), rng("DEV_WRITE", 4, 4, mm=0, a=0x55),
        rng("DEV_WRITE", 0, 3, a=1, dev=1), cpu("CPU_READ", 0, 12, mm=0), cpu("CPU_READ", 0, 12, mm=1),
        rng("SNAPSHOT", 0, 12, mm=1), op("EXIT", 1, d=1), op("CHECK")),
    "mprotect_errors": seed(0,
        mmap(1, 16), cpu("CPU_WRITE", 32, 16, seed_=5), rng("MIGRATE_TO_DEV", 36, 4),
        op("MPROTECT", 0, 40, 3, R), rng("DEV_WRITE", 38, 6), cpu("CPU_WRITE", 41, 1),
        op("MPROTECT", 0, 44, 1, NONE), rng("SNAPSHOT", 32, 16), rng("DEV_READ", 40, 8),
        rng("MIGRATE_TO_DEV", 43, 3), op("MPROTECT", 0, 30, 5, RW), op("MPROTECT", 0, 32, 15, RW),
        rng("DEV_WRITE", 32, 16), op("CHECK")),
    "shared_fork": seed(0,
        mmap(0, 8, shared=True), cpu("CPU_WRITE", 0, 8, seed_=0x77), op("FORK", 0),
        cpu("CPU_WRITE", 2, 1, mm=1, seed_=0x78), cpu("CPU_READ", 0, 8, mm=0), rng("MIGRATE_TO_DEV", 0, 8),
        rng("DEV_WRITE", 0, 4, dev=1, a=0x79), op("MADVISE", 1, 0, 7, 0, 0), cpu("CPU_READ", 0, 8, mm=1),
        op("MREMAP", 0, 0, 7, 11, 0), cpu("CPU_READ", 0, 12, mm=0), op("CHECK", 1)),
    "exclusive": seed(0,
        mmap(0, 8), cpu("CPU_WRITE", 0, 8, seed_=0x13), rng("EXCLUSIVE", 0, 4),
        rng("CHECK_EXCLUSIVE", 0, 8), cpu("CPU_READ", 1, 1), rng("CHECK_EXCLUSIVE", 0, 8),
        rng("EXCLUSIVE", 4, 4, dev=1), op("FORK", 0), rng("CHECK_EXCLUSIVE", 0, 8, dev=1),
        rng("EXCLUSIVE", 0, 8, mm=1), op("MPROTECT", 1, 0, 7, R), cpu("CPU_READ", 0, 8, mm=1), op("CHECK", 1)),
    "mremap_moves": seed(0,
        mmap(0, 16), cpu("CPU_WRITE", 0, 16, seed_=0x31), rng("MIGRATE_TO_DEV", 0, 8),
        rng("EXCLUSIVE", 8, 2), op("MREMAP", 0, 4, 7, 9, 1), op("MREMAP", 0, 0, 3, 1, 0),
        op("MREMAP", 0, 0, 1, 5, 0), rng("DEV_READ", 0, 6), rng("SNAPSHOT", 0, 32), op("CHECK")),
    "coherent_device": seed(1,
        mmap(0, 16), cpu("CPU_WRITE", 0, 16, seed_=0x61), rng("MIGRATE_TO_DEV", 0, 8, dev=1),
        rng("SNAPSHOT", 0, 16, dev=1), rng("SNAPSHOT", 0, 16, dev=0), rng("EXCLUSIVE", 0, 2, dev=0),
        op("PIN", 0, 4, 3, 0, 1), rng("DEV_WRITE", 0, 8, dev=0, a=0x62), op("FORK", 0),
        cpu("CPU_WRITE", 5, 1, mm=1, seed_=0x63), op("RELEASE", 0, 0, 0, 1), rng("MIGRATE_TO_SYS", 0, 16, dev=1),
        op("CHECK")),
    "notifier_range_fault": seed(0,
        op("NOTIFIER", 0, 0, 15), mmap(0, 16), cpu("CPU_WRITE", 0, 4, seed_=0x44),
        op("RANGE_FAULT", 0, 0, 15, 0, 0), op("RANGE_FAULT", 0, 0, 7, 0, 1), rng("MIGRATE_TO_DEV", 0, 16),
        op("RANGE_FAULT", 0, 2, 3, 0, 1), op("MUNMAP", 0, 6, 1), op("RANGE_FAULT", 0, 4, 4, 0, 0),
        op("SOFT_DIRTY", 0), op("MADVISE", 0, 0, 3, 0, 0), op("NOTIFIER", 0), op("CHECK")),
    "pins_fork": seed(0,
        mmap(0, 8), cpu("CPU_WRITE", 0, 8, seed_=0x51), op("PIN", 0, 0, 3, 0, 1), rng("MIGRATE_TO_DEV", 0, 8),
        op("FORK", 0), cpu("CPU_WRITE", 0, 8, mm=0, seed_=0x52), cpu("CPU_READ", 0, 8, mm=1),
        op("UNPIN"), rng("MIGRATE_TO_DEV", 0, 8, mm=1), op("PIN", 1, 0, 7, 0, 0), op("EXIT", 0, d=0),
        op("CHECK")),
    "bad_calls": seed(0,
        mmap(0, 4), cpu("CPU_WRITE", 0, 4, seed_=1), *[op("BADCALL", 0, 1, 0, 0, e) for e in range(10)],
        op("MMAP", 0, 0, 3, RW, 1), op("MPROTECT", 0, 2, 5, R), op("MADVISE", 0, 3, 2, 0, 0),
        op("MREMAP", 0, 2, 3, 3, 0), op("CHECK")),
    "release_fail_alloc": seed(0,
        mmap(0, 16), mmap(1, 16, prot=R), cpu("CPU_WRITE", 0, 16, seed_=0x23), op("FAIL_ALLOC", 0, 0, 0, 0),
        rng("MIGRATE_TO_DEV", 0, 16), rng("MIGRATE_TO_DEV", 32, 16), op("FAIL_ALLOC", 0, 0, 0, 0),
        rng("MIGRATE_TO_SYS", 0, 16), op("RELEASE", 0, 0, 0, 0), rng("SNAPSHOT", 0, 16),
        op("NEWMM"), op("EXIT", 0, d=1), op("CHECK")),
    "dontneed_exit": seed(0,
        mmap(0, 16), cpu("CPU_WRITE", 0, 16, seed_=0x71), rng("MIGRATE_TO_DEV", 0, 16), op("FORK", 0),
        op("MADVISE", 0, 0, 15, 0, 0), cpu("CPU_READ", 0, 16, mm=0), cpu("CPU_READ", 0, 16, mm=1),
        op("EXIT", 0, d=0), op("NEWMM"), mmap(2, 16, mm=1), rng("DEV_WRITE", 64, 16, mm=1, a=2),
        op("CHECK", 1)),
    "sibling_files": seed(2,
        mmap(0, 16), cpu("CPU_WRITE", 0, 16, seed_=0x37), rng("DEV_READ", 0, 16, dev=0),
        rng("DEV_READ", 0, 16, dev=16), rng("MIGRATE_TO_DEV", 0, 8, dev=16), rng("DEV_WRITE", 0, 16, dev=0, a=4),
        rng("SNAPSHOT", 0, 16, dev=0), rng("MIGRATE_TO_DEV", 0, 16, dev=0), rng("DEV_WRITE", 4, 8, dev=16, a=6),
        rng("MIGRATE_TO_SYS", 0, 16, dev=16), rng("EXCLUSIVE", 2, 2, dev=16), rng("CHECK_EXCLUSIVE", 0, 4, dev=0),
        op("FORK", 0), rng("DEV_WRITE", 0, 8, dev=17, a=1), op("CHECK")),
    # Found by the fuzzer, a model bug: a read-only device-private page of the
    # writing device does not stop hmm_range_fault (as in Linux), so the
    # PROT_NONE page after it decides: -EFAULT, after a partial write.
    "owned_readonly_device_write": bytes.fromhex(
        "000300010f0400090520ffff000c00240300000500280302000b002604f7000911290fff00"
        "05002c0100000e00200f00000a00280700000c00200f04000b00200f0000180000000000"),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")
