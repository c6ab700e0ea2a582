#!/usr/bin/env python3
"""check_demo_json.py FILE - the JSON of `uhmm demo --json` parses and shows the seed's effect."""
import json
import sys

d = json.load(open(sys.argv[1]))
on, off = d["with_filter"], d["without_filter"]
assert d["pages"] == 512 and d["resident_pages"] == 256, d
assert on["owner_filter"] is True and off["owner_filter"] is False
# A skips its own MIGRATE invalidations only with the filter ...
assert on["skipped_by_A"] == on["migrate_invalidations_received_by_A"] > 0, on
assert off["skipped_by_A"] == 0, off
# ... and so keeps its mappings of the pages already in its memory.
assert on["entries_zapped_on_A"] == 0, on
assert off["entries_zapped_on_A"] == d["pages"], off
# B is invalidated either way; the same pages are copied either way.
assert on["entries_zapped_on_B"] == off["entries_zapped_on_B"] == d["pages"] - d["resident_pages"]
assert on["pages_copied"] == off["pages_copied"] == d["pages"] - d["resident_pages"]
assert on["refault_rounds"] == 0 and off["refault_rounds"] >= 1
print("demo JSON ok:", json.dumps(on), json.dumps(off), sep="\n")
