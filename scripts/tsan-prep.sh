#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ThreadSanitizer in gcc 12 / clang 14 aborts ("unexpected memory mapping")
# when the kernel's mmap randomisation exceeds 28 bits.
#   - bits <= 28 (or unknown): print nothing
#   - root: lower vm.mmap_rnd_bits to 28, print nothing
#   - otherwise (or if that fails): print a command prefix that runs a
#     program with ASLR disabled: `setarch <arch> -R`
# Messages go to stderr; stdout is only the prefix.
set -u

bits=$(sysctl -n vm.mmap_rnd_bits 2>/dev/null || cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
case $bits in ''|*[!0-9]*) bits=0 ;; esac
[ "$bits" -gt 28 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    if sysctl -q -w vm.mmap_rnd_bits=28 >/dev/null 2>&1; then
        echo "==> tsan: lowered vm.mmap_rnd_bits from $bits to 28" >&2
        exit 0
    fi
    echo "==> tsan: could not lower vm.mmap_rnd_bits ($bits)" >&2
fi

if command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null; then
    echo "==> tsan: vm.mmap_rnd_bits=$bits, running under setarch -R" >&2
    echo "setarch $(uname -m) -R"
else
    echo "==> tsan: vm.mmap_rnd_bits=$bits and setarch -R unavailable; TSan may fail to start" >&2
fi
