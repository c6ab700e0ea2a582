#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_demo_json.py F0.json F05.json F1.json - `uhmm demo --json` at f = 0, 0.5 and 1.

The counts show the seed's effect, both columns do the same work in the end
(like for like), and the sentences follow the numbers: "faster" or "slower"
only beyond the run-to-run spread, f = 0 says equal, f = 1 does not
contradict itself.
"""
import json
import sys


def load(path):
    d = json.load(open(path))
    return d, d["with_filter"], d["without_filter"], " ".join(d["sentences"])


def common(d, on, off, text):
    n, res = d["pages"], d["resident_pages"]
    assert on["owner_filter"] is True and off["owner_filter"] is False
    assert "MIGRATE" in d["owner_filter_means"] and "owner" in d["owner_filter_means"]
    # A skips its own MIGRATE invalidations only with the filter.
    assert on["skipped_by_A"] == on["migrate_invalidations_received_by_A"] > 0, on
    assert off["skipped_by_A"] == 0, off
    assert on["entries_zapped_on_A"] == 0, on
    assert off["entries_zapped_on_A"] == n, off
    # B is invalidated either way, for the pages that move.
    assert on["entries_zapped_on_B"] == off["entries_zapped_on_B"] == n - res
    # Like for like: the same pages moved and read, nothing left to fault at the end.
    assert on["pages_copied"] == off["pages_copied"] == n - res
    assert on["pages_read"] == off["pages_read"] == 2 * n, (on, off)
    assert on["refault_rounds"] == off["refault_rounds"] == 0
    assert on["device_copy_ms"] == off["device_copy_ms"]
    for r in (on, off):
        parts = r["device_copy_ms"] + r["device_fault_ms"] + r["device_flush_ms"] + r["device_pte_ms"]
        assert abs(parts - r["device_ms"]) < 1e-5, r
        assert abs(r["host_ms"] + r["device_ms"] - r["total_ms"]) < 1e-5, r
    # The verdict follows the numbers.
    diff = off["total_ms"] - on["total_ms"]
    v = d["verdict"]
    if v == "filter_faster":
        assert diff > d["noise_ms"] and not d["same_work"], d
        assert "faster" in text and "slower" not in text, text
    elif v == "filter_slower":
        assert -diff > d["noise_ms"] and not d["same_work"], d
        assert "slower" in text and "faster" not in text, text
    else:
        assert v == "equal", v
        assert d["same_work"] or abs(diff) <= d["noise_ms"], d
        assert "faster" not in text and "slower" not in text, text
        assert "equal" in text, text
    return n, res


f0 = load(sys.argv[1])
d, on, off, text = f0
n, res = common(*f0)
assert res == 0
# f = 0: the same work in both modes, and the text says so.
assert d["same_work"] is True and d["verdict"] == "equal", d
assert on["device_ms"] == off["device_ms"], (on, off)
assert on["migrate_result"] == off["migrate_result"] == 0
assert "no mapping for the filter to keep alive" in text, text

f05 = load(sys.argv[2])
d, on, off, text = f05
n, res = common(*f05)
assert 0 < res < n
assert d["same_work"] is False
assert on["migrate_result"] == 0 and off["migrate_result"] == -2      # -ENOENT, as the kernel
assert on["finish_fault_rounds"] == 0 and off["finish_fault_rounds"] >= 1
assert off["finish_pages"] == res
# the device work the filter saves: fewer entries written, fewer flushes, less device time
assert on["entries_written"] < off["entries_written"], (on, off)
assert on["tlb_flushes"] < off["tlb_flushes"], (on, off)
assert on["device_ms"] < off["device_ms"], (on, off)
assert "-ENOENT" in text and "re-faulting" in text, text

f1 = load(sys.argv[3])
d, on, off, text = f1
n, res = common(*f1)
assert res == n
# f = 1: nothing moves; the text must not claim otherwise.
assert on["pages_copied"] == off["pages_copied"] == 0
assert on["device_ms"] < off["device_ms"], (on, off)
assert "copying" not in text and "dominates" not in text, text
assert "migrated 0 pages" in text and "no mapping left to lose" in text, text
print("demo JSON ok at f = 0, 0.5, 1; verdicts:", f0[0]["verdict"], f05[0]["verdict"], f1[0]["verdict"])
