"""collect.StoredReturns: the CPU of adding N returns to the store, counted once at the end (now) or after every 256
added (before review storerev: SQLite's count(*) visits every page of the table). In-process, alternating rounds.

    python bench/store_flush.py [N] [ROUNDS]
"""

from __future__ import annotations

import sys
import time

import xltemplate.rollup.collect  # noqa: F401 - the module (the package's name is also a function)
from xltemplate.report import FileReport
from xltemplate.rollup import spill as spill_mod
from xltemplate.rollup import units as units_mod
from xltemplate.words import VALID

collect_mod = sys.modules["xltemplate.rollup.collect"]


def one(briefs: list[spill_mod.Brief], every: bool) -> float:
    spill = spill_mod.Spill()
    spill.units = units_mod.Units()
    try:
        returns = collect_mod.StoredReturns(spill.units, spill)
        start = time.process_time()
        for n, brief in enumerate(briefs):
            returns.add(n, brief, 1.0, n)
            if every and n % 256 == 255:
                returns.flush()  # (as before: written and counted every 256)
        returns.flush()
        assert len(returns) == len(briefs)
        return time.process_time() - start
    finally:
        spill.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    briefs = [spill_mod.Brief(FileReport(path=f"/srv/inbox/returns/B{i:06d} 单位 自评表.xlsx", status=VALID, findings=[],
                                         key=f"B{i:06d}", sha256=f"{i:064x}")) for i in range(n)]
    got: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for every in (True, False):
            got[every].append(one(briefs, every))
    for every in (True, False):
        print(f"{'counted every 256' if every else 'counted once     '}: CPU s {' '.join(f'{t:.2f}' for t in got[every])}")


if __name__ == "__main__":
    main()
