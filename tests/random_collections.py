"""Random inputs of a collection for the differential tests of matching (test_flat3, test_store): a packed roster
whose keys are in natural order or not, and returns with repeated keys, copies, keys not on the roster, no key,
unproven signatures and saved times or none."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Sequence

from xltemplate.findings import finding
from xltemplate.identify import SIGNATURE_INVALID, SIGNATURE_MISSING, SIGNATURE_VALID
from xltemplate.report import FileReport
from xltemplate.rollup import collect as collect_mod
from xltemplate.roster import PackedRows, Roster, RosterRow
from xltemplate.words import INVALID, UNREADABLE, VALID


def random_inputs(rng: random.Random, seed: int, prefixes: Sequence[str], folders: Sequence[str]
                  ) -> tuple[list[str], Roster, list[FileReport], list[float]]:
    """The roster's keys (in its order), the roster, the reports and their files' modification times."""
    names = [f"{rng.choice(prefixes)}{rng.randrange(30)}" for _ in range(40)]
    keys = list(dict.fromkeys(names))
    if seed % 2:
        rng.shuffle(keys)
    else:
        keys.sort(key=collect_mod.natural_key)
    packed = PackedRows((RosterRow(key=k, line=n + 2, prefill={"unit": f"单位{n}"}) for n, k in enumerate(keys)),
                        ["unit"], ())
    roster = Roster(path=Path("r.csv"), rows=packed, columns={"预算单位": "unit"})
    reports = []
    shas = [f"{n:064x}" for n in range(25)]
    for n in range(rng.randrange(1, 60)):
        pick = rng.random()
        key = None if pick < 0.08 else f"X{rng.randrange(5)}" if pick < 0.2 else rng.choice(names)
        status = rng.choice([VALID, VALID, VALID, INVALID, UNREADABLE])
        saved = dt.datetime(2024, 1, 1) + dt.timedelta(hours=rng.randrange(6)) if rng.random() < 0.7 else None
        reports.append(FileReport(path=f"/in/{rng.choice(folders)}/f{n:03d}.xlsx", status=status,
                                  findings=[finding("key-missing")] if key is None and rng.random() < 0.5 else [],
                                  key=key, sha256=rng.choice(shas), saved_at=saved,
                                  signature=rng.choice([SIGNATURE_VALID, SIGNATURE_VALID, SIGNATURE_INVALID,
                                                        SIGNATURE_MISSING])))
    return keys, roster, reports, [float(rng.randrange(3)) for _ in reports]
