"""The values the ledger takes and gives back: plain, immutable, typed."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping, Sequence

from ..clock import beijing
from ..resubmission import RULE_CODES, RULE_WORDS
from .archive import Stored, Unread

# A report's status, as :mod:`xltemplate.report` spells it (a test keeps the two equal).
VALID, INVALID, UNREADABLE = "valid", "invalid", "unreadable"
STATUSES = (VALID, INVALID, UNREADABLE)

# Run states: a run row is written "running" first; a run killed before it finished
# is found "running" by the next process that takes the lock and marked "interrupted".
RUNNING, FINISHED, INTERRUPTED = "running", "finished", "interrupted"

# Why a return counts for its unit: the rules of xltemplate.resubmission, which collect decides by
# (the ledger records what it decided; it does not decide itself). RULE_ZH gives each one's words.
ONLY, SAVED_AT, ARRIVAL, FILE_TIME, PATH = "only", "saved_at", "arrival", "file_time", "path"
RULES = (ONLY, SAVED_AT, ARRIVAL, FILE_TIME, PATH)
RULE_ZH = dict(RULE_WORDS)
assert set(RULES) == set(RULE_CODES.values())

# What became of a file in a run (提交记录). The first three are collect's fates (README: 计入,
# 被替代, 未匹配; the words live in collect.py, a layer above this one); withdrawn and not-checked
# are the ledger's own. A byte-identical copy is the same file here, seen at several paths.
COUNTED, SUPERSEDED, UNMATCHED, WITHDRAWN, NOT_CHECKED = "counted", "superseded", "unmatched", "withdrawn", "not-checked"
# Why a file is unmatched.
NOT_IN_ROSTER, NO_KEY, UNREADABLE_FILE = "not-in-roster", "no-key", "unreadable"


def utc_text(stamp: dt.datetime) -> str:
    """A time as the ledger stores it: ISO 8601 in UTC, to the microsecond, so text order is time order."""
    if stamp.tzinfo is None:
        raise ValueError("ledger times must carry a time zone")
    return stamp.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def local_time(text: str | None) -> dt.datetime | None:
    """A ledger time (ISO 8601, UTC) as the clerk reads it: Beijing time (:mod:`xltemplate.clock`, not the
    machine's own zone), to the second, without a zone (as a workbook shows it)."""
    if not text:
        return None
    return beijing(dt.datetime.fromisoformat(text))


def saved_text(stamp: dt.datetime | None) -> str | None:
    """A workbook's saved time as stored: naive ISO 8601 (UTC when the time carried a zone)."""
    if stamp is None:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return stamp.isoformat(timespec="microseconds")


#: A roster snapshot's hash and stored text made unit by unit (:meth:`RosterSnapshot.text`), the hash kept once made;
#: a run that finds the last run's roster unchanged by its hash neither loads it nor stores it again (see
#: ``Ledger.roster_change``); the roster's units made when asked for (``rounds.preflight.roster_snapshot``). Before, a run
#: made every unit's JSON and the whole canonical text at once, a few times: at 100,000 units +70 MB held through the
#: run and +175 MB for a moment, and a second run loaded the last run's 100,000 units again (issue 15). False: as
#: before (the tests compare).
STREAM_SNAPSHOT = True


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RosterUnit:
    """One roster row as the ledger keeps it: its key, its prefilled values and contact details as text,
    and the unit's and project's names (what the clerk's lists show)."""

    key: str
    values: Mapping[str, str] = field(default_factory=dict)  # prefilled values by field label
    contact: Mapping[str, str] = field(default_factory=dict)  # contact column → text (联系人, 电话, 邮箱 …)
    unit: str = ""
    project: str = ""

    def as_json(self) -> dict[str, Any]:
        # Contact columns as pairs: the canonical JSON sorts an object's keys, and their order is the roster's.
        return {"key": self.key, "values": dict(self.values), "contact": [[k, v] for k, v in self.contact.items()],
                "unit": self.unit, "project": self.project}


@dataclass(frozen=True)
class RosterSnapshot:
    """The roster a run was given, kept so the next run can say what changed in it."""

    units: Sequence[RosterUnit]  # a tuple, or a view that makes each unit when asked (rounds.preflight.roster_snapshot)

    def as_json(self) -> list[dict[str, Any]]:
        return [u.as_json() for u in self.units]

    @property
    def hash(self) -> str:
        """The sha256 of the snapshot's canonical JSON (:meth:`text`); with :data:`STREAM_SNAPSHOT` made unit by unit
        and kept once made (it is asked for a few times a run)."""
        if not STREAM_SNAPSHOT:
            return hashlib.sha256(canonical_json(self.as_json()).encode("utf-8")).hexdigest()
        got = self.__dict__.get("_hash")
        if got is None:
            sha = hashlib.sha256()
            for piece in self._pieces():
                sha.update(piece.encode("utf-8"))
            got = sha.hexdigest()
            object.__setattr__(self, "_hash", got)  # (frozen: not a field, so not compared)
        return str(got)

    def text(self) -> str:
        """``canonical_json(self.as_json())``, as the ledger stores it; with :data:`STREAM_SNAPSHOT` written unit by unit
        (no list of every unit's JSON beside it)."""
        if not STREAM_SNAPSHOT:
            return canonical_json(self.as_json())
        out = io.StringIO()
        for piece in self._pieces():
            out.write(piece)
        return out.getvalue()

    def pieces(self) -> Iterator[str]:
        """:meth:`text` in pieces, a unit's at a time (the ledger stores it so: ``store.ROSTER_IN_PIECES``)."""
        return self._pieces()

    def _pieces(self) -> Iterator[str]:
        # canonical_json of a list is "[" + ",".join(each item's canonical_json) + "]" (separators without spaces)
        yield "["
        for n, unit in enumerate(self.units):
            yield ("," if n else "") + canonical_json(unit.as_json())
        yield "]"

    def by_key(self) -> dict[str, RosterUnit]:
        return {u.key: u for u in self.units}

    @property
    def contact_columns(self) -> list[str]:
        """Every contact column some unit has, in the order they first appear."""
        return list(dict.fromkeys(c for u in self.units for c in u.contact))

    @classmethod
    def from_json(cls, rows: list[dict[str, Any]]) -> "RosterSnapshot":
        return cls(tuple(RosterUnit(str(r["key"]), dict(r.get("values") or {}), {str(k): str(v) for k, v in r.get("contact") or []},
                                    str(r.get("unit") or ""), str(r.get("project") or "")) for r in rows))


@dataclass(frozen=True)
class RosterChange:
    """Units added to, removed from, or changed in the roster since a previous run.

    ``changed``: a unit's prefilled values (or names) differ, which changes what its returns are
    compared with; ``contacts``: only its contact details differ, which changes no verdict.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    contacts: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.contacts)

    @property
    def matters(self) -> bool:
        """Units added or removed, or prefilled values changed: what the run counts and checks differs."""
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = []
        for label, keys in (("新增单位", self.added), ("删除单位", self.removed), ("预填内容变化的单位", self.changed),
                            ("联系方式变化的单位", self.contacts)):
            if keys:
                shown = "、".join(keys[:10]) + (f" 等 {len(keys)} 个" if len(keys) > 10 else "")
                parts.append(f"{label} {shown}")
        return "；".join(parts)


@dataclass(frozen=True)
class RunInfo:
    """What a run is: the versions and the template that decide which cached reports still hold."""

    validator_version: str
    spec_hash: str
    template_id: str | None = None
    template_version: str | None = None
    inputs: tuple[str, ...] = ()
    roster: RosterSnapshot | None = None
    xltemplate_version: str | None = None  # None: this installation's


@dataclass(frozen=True)
class Run:
    id: int
    state: str
    started_at: str
    finished_at: str | None
    xltemplate_version: str
    validator_version: str
    spec_hash: str
    template_id: str | None
    template_version: str | None
    inputs: tuple[str, ...]
    roster_hash: str | None


@dataclass(frozen=True, slots=True)  # (slots: one held for every file of the round: issue 15)
class FileRow:
    """One file the ledger holds (a ``files`` row), and where it was last seen."""

    sha256: str
    arrival: int  # 1 = the first file the round received
    size: int
    archive_name: str
    first_seen_run: int | None
    first_seen_at: str  # ISO 8601, UTC
    first_mtime: str | None  # its modification time when first received (UTC); None when recovered
    last_path: str | None  # the last path a run saw it at (None: recovered, never seen at a path)
    last_seen_run: int | None


@dataclass(frozen=True)
class Intake:
    """What :meth:`Ledger.ingest` made of a run's input files."""

    seen: Sequence[Stored]  # (a list; or read back from the ledger when walked: ledger.store.SEEN_IN_LEDGER)
    unread: list[Unread]
    first_seen: Collection[str] = frozenset()  # sha256 of the files this run recorded for the first time

    @property
    def new(self) -> list[Stored]:
        """Files the ledger had never recorded before this run (each content once, at its first path)."""
        out: dict[str, Stored] = {}
        for s in self.seen:
            if s.sha256 in self.first_seen:
                out.setdefault(s.sha256, s)
        return list(out.values())


@dataclass(frozen=True)
class ToRead:
    """A file the run must validate: no report for its template and validator yet."""

    sha256: str
    archive_path: Path  # read this copy: its bytes are exactly the sha256
    path: str | None  # where this run saw it in the inbox (None: only in the archive now)


@dataclass(frozen=True)
class StoredReport:
    """A validation result as the ledger keeps it: the facts it decides on, and the caller's JSON.

    ``payload`` is opaque to the ledger (the caller serialises the full report,
    findings included, and deserialises it again); the other fields are the few
    facts the ledger itself needs: whose return it is, how good, and when saved.
    """

    sha256: str
    status: str
    unit_key: str | None
    saved_at: dt.datetime | None
    errors: int
    warnings: int
    payload: str
    template_id: str | None = None
    template_version: str | None = None
    total: str | None = None  # a decimal number as text, exactly as computed
    grade: str | None = None
    # What the verdict depends on besides the bytes, the spec and the validator (the caller's
    # fingerprint of the roster row, the secrets …), and the days it holds for: the day taken as
    # today when it was made, and the first day it may no longer hold (None: no later day changes it).
    context: str = ""
    checked_on: dt.date | None = None
    valid_until: dt.date | None = None
    # The payload without what only some sheets read (the caller's choice; version 4): None: only the payload.
    slim: str | None = None
    # The caller's brief of the report (what it reads of every report on every run; version 4): None: none.
    brief: str | None = None


@dataclass(frozen=True, slots=True)  # (slots: one held for every stored report while deciding what to read)
class Cached:
    """What the ledger knows of a stored report without loading it: enough to tell whether it still holds."""

    sha256: str
    unit_key: str | None
    context: str
    checked_on: dt.date | None
    valid_until: dt.date | None


@dataclass(frozen=True)
class Choice:
    """The file a run counts for a unit, as the caller decided it (:func:`xltemplate.resubmission.newest`)."""

    unit_key: str
    sha256: str
    rule: str  # one of RULES
    candidates: int  # distinct files of the unit that were weighed
    status: str  # the counted file's status in this run
    errors: int


@dataclass(frozen=True)
class Decision:
    """Which file counts for a unit in a run, and why."""

    run_id: int
    unit_key: str
    sha256: str
    rule: str
    candidates: int
    status: str
    errors: int
    in_inbox: bool  # False: counted from the archive, the inbox no longer has it
    supersedes: str | None  # the file that counted in the previous finished run, when another

    @property
    def rule_zh(self) -> str:
        return RULE_ZH[self.rule]


@dataclass(frozen=True)
class Outcome:
    """What finishing a run decided."""

    run: Run
    decisions: list[Decision]
    unreported: list[str]  # files without a report for this run's template and validator: not decided on


@dataclass(frozen=True)
class Withdrawal:
    id: int
    unit_key: str
    sha256: str
    withdrawn_at: str
    reason: str
    reinstated_at: str | None = None
    reinstate_reason: str | None = None


@dataclass(frozen=True)
class Absence:
    """A file seen in an earlier run but at none of this run's paths."""

    sha256: str
    last_path: str
    last_seen_run: int
    how: str  # "deleted": its path is gone or empty now; "overwritten": its path now holds other bytes


@dataclass(frozen=True)
class Move:
    """A file seen again, but at paths other than where it was seen last (renamed or moved)."""

    sha256: str
    old_paths: tuple[str, ...]
    new_paths: tuple[str, ...]


@dataclass(frozen=True)
class UnitChange:
    key: str
    before_sha256: str | None
    after_sha256: str | None
    before_status: str | None
    after_status: str | None

    @property
    def newly_valid(self) -> bool:
        return self.after_status == VALID and self.before_status != VALID


@dataclass(frozen=True)
class Changes:
    """What changed between a run and the finished run before it."""

    run_id: int
    previous_run_id: int | None
    new_files: list[str]
    units: list[UnitChange]  # units whose counted file or status changed
    absent: list[Absence]  # files seen in the previous run and not in this one
    roster: RosterChange | None

    @property
    def newly_valid(self) -> list[str]:
        return [u.key for u in self.units if u.newly_valid]


@dataclass(frozen=True)
class HistoryEntry:
    """One return of a unit, as the ledger knows it."""

    sha256: str
    arrival: int  # position in the ledger's arrival order (1 = first file ever recorded)
    first_seen_run: int | None
    first_seen_at: str
    saved_at: str | None
    status: str | None
    errors: int | None
    paths: tuple[str, ...]  # every path it was ever seen at, in order of first sighting
    last_seen_run: int | None
    withdrawn: Withdrawal | None
    fate: str  # in the last finished run: counted, superseded, withdrawn (or not-checked before any decision)
    superseded_by: str | None


@dataclass(frozen=True)
class UnitHistory:
    key: str
    entries: list[HistoryEntry]  # in arrival order
    decisions: list[Decision]  # one per finished run that had a file for the unit, oldest first


@dataclass(frozen=True)
class FileFate:
    """One row of 提交记录: a file in arrival order and what became of it in a run."""

    sha256: str
    arrival: int
    first_seen_at: str
    size: int
    archive_name: str
    paths: tuple[str, ...]
    in_inbox: bool
    unit_key: str | None
    status: str | None
    saved_at: str | None
    fate: str
    why: str | None  # for an unmatched file: not-in-roster, no-key or unreadable
    counted_instead: str | None  # for a superseded file: the one that counts


@dataclass(frozen=True)
class Summary:
    """The round at a glance after a run (what ``round status`` prints)."""

    run: Run
    roster_units: int | None
    valid: list[str]
    invalid: list[tuple[str, int]]  # (key, errors in the counted file)
    missing: list[str]  # on the roster, no file counts
    not_in_roster: list[str]
    files: int
    changes: Changes
    interrupted_since: list[int]  # runs after this one that were killed before finishing

    def as_dict(self) -> dict[str, Any]:
        c = self.changes
        return {
            "run": {"id": self.run.id, "state": self.run.state, "started_at": self.run.started_at,
                    "finished_at": self.run.finished_at},
            "roster_units": self.roster_units, "files": self.files, "interrupted_since": self.interrupted_since,
            "valid": self.valid, "invalid": [{"key": k, "errors": e} for k, e in self.invalid],
            "missing": self.missing, "not_in_roster": self.not_in_roster,
            "since_previous_run": {
                "previous_run": c.previous_run_id, "new_files": c.new_files,
                "changed_units": [u.key for u in c.units], "newly_valid": c.newly_valid,
                "absent": [{"sha256": a.sha256, "path": a.last_path, "how": a.how} for a in c.absent],
                "roster": None if not c.roster else {"added": list(c.roster.added), "removed": list(c.roster.removed),
                                                     "changed": list(c.roster.changed),
                                                     "contacts": list(c.roster.contacts)},
            },
        }
