#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_trace.py FILE - a uhmm Chrome trace parses and holds every kind of event.

Spans (B/E, balanced and properly nested per thread) for CPU faults,
migrate_vma setup/pages/finalize, hmm_range_fault and device faults; instant
events for invalidations, the driver's ones saying whether they were skipped;
counters for device memory in use.
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
events = doc["traceEvents"]
assert isinstance(events, list) and events, "no events"

stacks = {}
names = {"B": set(), "i": set(), "C": set()}
skipped = set()
for e in events:
    ph = e["ph"]
    assert ph in ("B", "E", "i", "C", "M"), e
    if ph == "M":
        continue
    assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
    assert isinstance(e["pid"], int), e
    if ph in ("B", "E"):
        st = stacks.setdefault(e["tid"], [])
        if ph == "B":
            st.append(e["name"])
        else:
            assert st, "E without B: %r" % e
            top = st.pop()
            assert top == e["name"], "E %r closes B %r" % (e["name"], top)
    if ph in names:
        names[ph].add(e["name"].split(" ")[0])
    if ph == "i" and "skipped" in e.get("args", {}):
        skipped.add(e["args"]["skipped"])
        assert e["args"]["event"] and "start" in e["args"], e
for tid, st in stacks.items():
    assert not st, "unclosed spans on thread %s: %r" % (tid, st)

want_spans = {"cpu_fault", "migrate_vma_setup", "migrate_vma_pages", "migrate_vma_finalize",
              "hmm_range_fault", "dmirror_fault"}
missing = want_spans - names["B"]
assert not missing, "missing spans: %r (have %r)" % (missing, names["B"])
assert {"invalidate", "dmirror_invalidate"} <= names["i"], names["i"]
assert skipped == {True, False}, "driver instants should show skipped and not: %r" % skipped
assert any(n.startswith("device_pages_in_use") for n in names["C"]), names["C"]
# issue 13: a simulated device-time counter track per device, in nanoseconds
assert any(n.startswith("dmirror_device_ns") for n in names["C"]), names["C"]
assert all("ns" in e["args"] for e in events if e.get("ph") == "C" and e["name"].startswith("dmirror_device_ns"))
print("trace ok: %d events; spans %s; instants %s; counters %s" %
      (len(events), sorted(names["B"]), sorted(names["i"]), sorted(names["C"])))
