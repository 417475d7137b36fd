"""Returns for the round tests, and an independent model of what a round must count.

Returns are generated as the bureau would (prefilled from the roster) and filled in from the
seed's figures, with a total the test chooses (points taken off one indicator) or a score above its
weight (invalid); their saved time is set (or removed) with tests/tamper.py and their file time by
hand, so every ordering the rule depends on is the test's choice. The model counts what the README
says a round counts, without asking xltemplate: the newest trusted saved time when every candidate
has one, else the latest day received; withdrawn files never; gone files still.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from xltemplate.form.generate import generate_workbook
from xltemplate.roster import read_roster

from .conftest import ROOT, SAMPLES
from .tamper import set_saved_time

TEMPLATE = "sh-project-self-eval"
GENERATED = dt.datetime(2021, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
SEED = yaml.safe_load((SAMPLES / "seed-values.yaml").read_text(encoding="utf-8"))
SEED_TOTAL = Decimal(96)
KEYS = [f"SH{n:03d}" for n in range(1, 13)]  # the round's roster: 12 units


def write_roster(path: Path, keys: list[str] = KEYS, *, contacts: bool = True, budget: dict[str, str] | None = None) -> Path:
    """The samples' roster rows for ``keys``, with 联系人, 电话 and 邮箱 columns (a phone number as digits)."""
    import csv

    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["编号"]: r for r in csv.DictReader(fh)}
    head = ["编号", "预算单位", "项目名称", "当年预算数（元）"] + (["联系人", "电话", "邮箱"] if contacts else [])
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for n, k in enumerate(keys):
            r = rows[k]
            line = [k, r["预算单位"], r["项目名称"], (budget or {}).get(k, r["当年预算数（元）"])]
            if contacts:
                line += [f"联系人{n + 1}", f"1380000{n:04d}", f"{k.lower()}@example.cn"]
            w.writerow(line)
    return path


@dataclass
class Entry:
    """One file put in the inbox: what the test knows about it without reading it back."""

    name: str
    key: str
    day: int
    saved: dt.datetime | None
    valid: bool
    total: Decimal | None  # the total the unit typed (None when invalid)
    sha256: str
    withdrawn: bool = False


@dataclass
class Round:
    """An inbox over several days, and the model of what each day must count."""

    root: Path
    roster: Path
    entries: list[Entry] = field(default_factory=list)
    day: int = 0

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def put(self, name: str, key: str, *, saved: dt.datetime | None, loss: int = 0, invalid: bool = False,
            tick: int = 0, eval_date: dt.date | None = None) -> Entry:
        """A return of ``key`` with ``loss`` points taken off 质量达标率 (or a score above its weight), saved at ``saved``."""
        spec_row = read_roster(self.roster, TEMPLATE).by_key()[key]
        values = {k: re.sub(r"</?p>", "", v) if isinstance(v, str) else v for k, v in SEED.items()
                  if k not in ("fld_unit", "fld_project_name", "fld_budget")}
        values["fld_executed"] = float(spec_row.prefill["budget"] * Decimal("0.95"))
        values["ind_quality_rate_score"] = SEED["ind_quality_rate_score"] - loss
        if invalid:
            values["ind_fund_compliance_score"] = 7  # its weight is 6: score-above-weight
        if eval_date is not None:
            values["fld_eval_date"] = eval_date
        tmp = self.root / "made" / name
        tmp.parent.mkdir(parents=True, exist_ok=True)
        generate_workbook(TEMPLATE, tmp, prefill=spec_row.prefill, values=values, roster_key=key, generated_at=GENERATED)
        dest = self.inbox / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        set_saved_time(tmp, dest, saved)
        self.touch(dest, tick)
        entry = Entry(name, key, self.day, saved, not invalid, None if invalid else SEED_TOTAL - loss,
                      hashlib.sha256(dest.read_bytes()).hexdigest())
        self.entries.append(entry)
        return entry

    def touch(self, path: Path, tick: int = 0) -> None:
        """The file time of day ``self.day`` (plus ``tick`` seconds): the order people download files in."""
        stamp = dt.datetime(2021, 5, self.day, 9, 0, tzinfo=dt.timezone.utc).timestamp() + tick
        os.utime(path, (stamp, stamp))

    # -- the model -------------------------------------------------------------------------------------

    def in_inbox(self) -> dict[str, str]:
        """name → sha256 of what is in the inbox now."""
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.inbox.iterdir())}

    def distinct(self) -> list[Entry]:
        """Every content received so far, once, in arrival order: by day, then by name (the inbox is read sorted)."""
        seen: dict[str, Entry] = {}
        for e in sorted(self.entries, key=lambda e: (e.day, e.name)):
            seen.setdefault(e.sha256, e)
        return list(seen.values())

    def counted(self) -> dict[str, Entry]:
        """Per unit, the file that counts: the README's rule, worked out here."""
        out: dict[str, Entry] = {}
        for key in sorted({e.key for e in self.entries}):
            mine = [e for e in self.distinct() if e.key == key and not e.withdrawn]
            if not mine:
                continue
            if all(e.saved is not None for e in mine):
                out[key] = max(mine, key=lambda e: e.saved)  # type: ignore[arg-type, return-value]
            else:
                out[key] = max(mine, key=lambda e: e.day)
        return out

    def rule(self, key: str) -> str:
        mine = [e for e in self.distinct() if e.key == key and not e.withdrawn]
        if len(mine) == 1:
            return "only"
        return "saved_at" if all(e.saved is not None for e in mine) else "arrival"

    def statuses(self) -> tuple[list[str], list[str], list[str]]:
        """(valid, invalid, missing) units, as the model sees them."""
        counted = self.counted()
        valid = [k for k in KEYS if k in counted and counted[k].valid]
        invalid = [k for k in KEYS if k in counted and not counted[k].valid]
        return valid, invalid, [k for k in KEYS if k not in counted]


def cli_env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT)}
