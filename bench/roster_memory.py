"""read_roster alone, in a fresh process: its peak over the process, what it holds, its CPU (issue 15, seventh pass).

    python bench/roster_memory.py ROSTER [TEMPLATE] [SWITCH=0|1 ...]

TEMPLATE defaults to sh-project-self-eval; a SWITCH is one of xltemplate.roster's (STREAM_CSV, ON_DISK, XLSX_PACKED,
PACKED, DUPLICATES_FROM_INDEX) set before the read. Prints one JSON line: rows, the process's VmRSS/VmHWM before
(``base``, after the imports), VmHWM after (``peak_over`` = its rise), VmRSS after a gc.collect (``held_over``; RSS
keeps memory freed but not given back, so it is an upper bound), the read's CPU and wall seconds, the CPU of a
lookup by key (µs, 2,000 keys) and of a row decoded in order (µs), and the load average.
"""

import gc
import json
import os
import random
import sys
import time

import xltemplate.roster as roster
from xltemplate.catalog import as_spec


def status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith(key))


def main() -> None:
    path = sys.argv[1]
    args = sys.argv[2:]
    template = args.pop(0) if args and "=" not in args[0] else "sh-project-self-eval"
    for arg in args:
        name, value = arg.split("=")
        assert hasattr(roster, name), name
        setattr(roster, name, value == "1")
    spec = as_spec(template)
    gc.collect()
    base_rss, base_hwm = status("VmRSS"), status("VmHWM")
    cpu, wall = time.process_time(), time.perf_counter()
    got = roster.read_roster(path, spec)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = status("VmHWM")
    gc.collect()
    held = status("VmRSS")
    rows = got.rows
    keys = [rows[n].key for n in random.Random(1).sample(range(len(rows)), min(2000, len(rows)))]
    by_key = got.by_key()
    t = time.process_time()
    for key in keys:
        by_key[key]
    lookup = (time.process_time() - t) / len(keys) * 1e6
    t = time.process_time()
    for _row in rows:
        pass
    in_order = (time.process_time() - t) / len(rows) * 1e6
    print(json.dumps({"rows": len(rows), "base_mb": [base_rss, base_hwm], "peak_over_mb": peak - base_hwm,
                      "held_over_mb": held - base_rss, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                      "lookup_us": round(lookup, 1), "row_in_order_us": round(in_order, 2),
                      "on_disk": bool(getattr(rows, "on_disk", False)), "switches": args,
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
