"""What a round's run checks before it records anything: where the ledger and its archive are, the roster
against the last run's, the template; and the roster as the ledger keeps it.

A roster whose units were added or removed, or whose prefilled values changed, changes what the round
counts and what each return is compared with: it is refused (:class:`RosterChangedError`, exit 2)
unless the clerk says it is meant. Contact details that changed only are told.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, overload

from ..errors import LedgerError, OutputPathError, RosterChangedError
from ..identify import RunContext
from ..ledger import Ledger, RosterSnapshot, RosterUnit
from ..ledger import model
from ..outputs import within
from ..pathtext import shown
from ..roster import PackedRows, Roster, RosterRow, csv_source, packed_text, read_roster, roster_of_text
from ..spec import Spec
from ..text import cell_text


def roster_snapshot(roster: Roster, spec: Spec) -> RosterSnapshot:
    """The roster as the ledger keeps it: prefilled values by field label, contacts, the unit's and project's names."""
    labels = {f.id: f.label for f in spec.all_fields}
    unit, project = spec.summary.get("unit"), spec.summary.get("project")

    def name(fid: str | None, values: dict[str, object]) -> str:
        return (cell_text(values.get(fid)) or "") if fid else ""

    def made(row: RosterRow) -> RosterUnit:
        return RosterUnit(row.key, {labels.get(fid, fid): cell_text(v) or "" for fid, v in row.prefill.items()},
                          dict(row.contact), name(unit, row.prefill), name(project, row.prefill))

    if model.STREAM_SNAPSHOT:
        return RosterSnapshot(_Units(roster.rows, made))
    return RosterSnapshot(tuple(made(row) for row in roster.rows))


#: A roster snapshot's hash is kept in the ledger (``memo roster hash``) with a digest of what it is made from: the
#: roster's rows as packed (roster.PackedRows.digest: every byte), the template's hash, xltemplate's source
#: (rollup.reuse.writer_digest) and Python's version; a run given a roster whose digest is the kept one takes the kept
#: hash rather than making every unit's canonical JSON to hash it (0.22 s of a second run's CPU at 10,000 units, issue
#: 15). False: made every run (the tests compare).
SNAPSHOT_HASH_KEPT = True


def recall_hash(led: Ledger, roster: Roster, spec: Spec, snapshot: RosterSnapshot) -> None:
    """Give ``snapshot`` (made by :func:`roster_snapshot` from ``roster`` as ``spec``'s) the hash the ledger kept for the
    same rows, or keep its hash for the next run (see :data:`SNAPSHOT_HASH_KEPT`)."""
    if not (SNAPSHOT_HASH_KEPT and model.STREAM_SNAPSHOT and isinstance(roster.rows, PackedRows)):
        return
    import hashlib
    import sys

    from ..rollup.reuse import writer_digest

    of = hashlib.sha256(repr(("roster hash 1", writer_digest(), sys.version, spec.spec_hash, roster.rows.digest())
                             ).encode("utf-8", "surrogatepass")).hexdigest()
    kept = led.memo("roster hash")
    if kept is not None:
        was, _, hash_ = kept.partition(" ")
        if was == of and len(hash_) == 64:
            object.__setattr__(snapshot, "_hash", hash_)  # (where RosterSnapshot.hash keeps the hash it made)
            return
    if not led.readonly:
        led.remember("roster hash", f"{of} {snapshot.hash}")


#: A round's roster read from a CSV is kept in the ledger as packed (``memo packed roster``: roster.packed_text, ~140
#: bytes a unit in base64) beside a digest of what it is read from: a sha256 of the file's bytes, the template's hash,
#: xltemplate's source (rollup.reuse.writer_digest), Python's version and the roster's reading switches. A run given a
#: roster whose digest is the kept one (the file hashed in the pass that finds its encoding, which every reading makes)
#: takes the kept rows (roster.roster_of_text: every record checked, no class unpickled but a value's) rather than
#: parsing every cell and pickling every row again (0.19 s of a second run's CPU at 10,000 units, issue 15). The digest
#: says which file the memo is of, not that the memo is intact: the memo carries a sha256 of its text too, checked before
#: it is taken (a damaged value decodes as well as the right one: ~3 ms at 10,000 units), and kept anew where it fails.
#: A roster with problems is never kept (read_roster raised), nor one whose rows went to a file (past roster.DISK_FROM,
#: ~15,000 units: its text, made and read whole, would hold several times the rows at once). False: read every run (the
#: tests compare).
ROSTER_KEPT = True


def _roster_of(spec: Spec, source: str) -> str:
    import hashlib
    import sys

    from .. import roster as roster_mod
    from ..rollup.reuse import writer_digest

    return hashlib.sha256(repr(("packed roster 2", writer_digest(), sys.version, spec.spec_hash, source, roster_mod.PACKED,
                                roster_mod.DUPLICATES_FROM_INDEX, roster_mod.STREAM_CSV)).encode("utf-8", "surrogatepass")
                          ).hexdigest()


def recall_roster(ledger: Path, path: str | Path, spec: Spec) -> Roster:
    """``read_roster(path, spec)`` for a run of the round kept in ``ledger``: the rows the ledger kept for the same
    file's bytes and template when it has them (see :data:`ROSTER_KEPT`), else read."""
    if ROSTER_KEPT and ledger.exists():
        source = csv_source(path)
        kept = None
        if source is not None:
            try:
                with Ledger.open(ledger, readonly=True) as led:
                    kept = led.memo("packed roster")
            except (LedgerError, sqlite3.Error):
                kept = None  # (read it: the run says what is wrong with the ledger)
        text = _kept_text(kept, _roster_of(spec, source)) if kept is not None and source is not None else None
        if text is not None:
            roster = roster_of_text(path, text)
            if roster is not None:
                return replace(roster, source=source)
    return read_roster(path, spec)


def _kept_text(kept: str, of: str) -> str | None:
    """The packed text of the memo ``kept`` ("DIGEST CHECKSUM TEXT") when it is of ``of`` and its text is intact."""
    if not kept.startswith(of + " ") or kept[129:130] != " ":
        return None
    text = kept[130:]
    return text if _checksum(text) == kept[65:129] else None


def _checksum(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def keep_roster(led: Ledger, roster: Roster, spec: Spec) -> None:
    """Keep ``roster`` (read as ``spec``'s) in the ledger for :func:`recall_roster`, unless kept already."""
    if not ROSTER_KEPT or roster.source is None or led.readonly:
        return
    if not isinstance(roster.rows, PackedRows) or roster.rows.on_disk:
        return  # (a roster past roster.DISK_FROM, ~15,000 units: its text would be several times its rows, held at once)
    of = _roster_of(spec, roster.source)
    kept = led.memo("packed roster")
    if kept is not None and _kept_text(kept, of) is not None:
        return
    text = packed_text(roster)
    if text is not None:
        led.remember("packed roster", f"{of} {_checksum(text)} {text}")


class _Units(Sequence[RosterUnit]):
    """A roster's units as the ledger keeps them, each made from its roster row when asked for (see
    :data:`~xltemplate.ledger.model.STREAM_SNAPSHOT`): the roster holds its rows already (packed: roster.PACKED)."""

    def __init__(self, rows: Sequence[RosterRow], made: Callable[[RosterRow], RosterUnit]) -> None:
        self.rows, self.made = rows, made

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> RosterUnit: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[RosterUnit, ...]: ...
    def __getitem__(self, i: int | slice) -> RosterUnit | tuple[RosterUnit, ...]:
        if isinstance(i, slice):
            return tuple(self.made(row) for row in self.rows[i])
        return self.made(self.rows[i])

    def __iter__(self) -> Iterator[RosterUnit]:
        return map(self.made, self.rows)

    def __eq__(self, other: object) -> bool:  # (as the tuple it stands for: a snapshot compares by its units)
        return isinstance(other, (tuple, _Units)) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


def round_template(ledger: Path, run: RunContext) -> Spec | None:
    """The template of the round's last finished run, when the ledger exists and it is still a known template
    unchanged (same spec hash); None otherwise (the first run, or a template no longer known).

    ``collect --ledger`` without ``--template`` takes it: choosing by the returns, as ``collect`` does,
    would read every file before the ledger could say which need reading, on every run. The clerk
    changes the round's template with ``--template``. Reads without the lock (WAL).
    """
    if not ledger.exists():
        return None
    with Ledger.open(ledger, readonly=True) as led:
        last = led.last_finished_run()
    if last is None or not last.template_id or not last.template_version:
        return None
    spec = run.known.get((last.template_id, last.template_version))
    return spec if spec is not None and spec.spec_hash == last.spec_hash else None


def check_places(ledger: Path, archive: Path, inputs: Iterable[str | os.PathLike[str]], outputs: list[Path]) -> None:
    """The ledger and its archive never inside an input folder (the archive's copies would be read as returns);
    no output over the ledger or inside the archive."""
    real_ledger, real_archive = os.path.realpath(ledger), os.path.realpath(archive)
    for p in inputs:
        folder = os.path.realpath(p)
        if not os.path.isdir(folder):
            continue
        for what, real, given in (("台账", real_ledger, ledger), ("台账的归档文件夹", real_archive, archive)):
            if within(real, folder) or within(folder, real):
                raise OutputPathError(f"{what} {shown(given)} 与收件文件夹 {shown(p)} 重叠：归档的副本会被当作交回的文件读取。"
                                      "请把台账放在收件文件夹之外（例如与汇总表放在一起）")
    for out in outputs:
        real = os.path.realpath(out)
        if real in {real_ledger, real_ledger + "-wal", real_ledger + "-shm", real_ledger + ".lock"} or within(real, real_archive):
            raise OutputPathError(f"输出 {shown(out)} 会覆盖台账或写进它的归档文件夹；请换一个输出位置")


def recovery_notices(led: Ledger) -> list[str]:
    if not led.interrupted:
        return []
    runs = "、".join(f"第 {n} 次" for n in led.interrupted)
    kept = f"，已归档的 {len(led.recovered)} 个文件已补记" if led.recovered else ""
    return [f"提示：{runs}汇总没有完成（被中断）{kept}；已保存的核对结果本次直接沿用，本次完成其余的工作"]


def roster_notices(led: Ledger, snapshot: RosterSnapshot | None, ok: bool) -> list[str]:
    """Refuse a roster that changed what the round counts, unless ``ok``; contact changes are only told."""
    last = led.last_finished_run()
    if model.STREAM_SNAPSHOT:  # (its size, not the last run's whole roster: see STREAM_SNAPSHOT)
        before = led.roster_size(last) if last is not None else None
    else:
        units = led.roster(last) if last is not None else None
        before = len(units.units) if units is not None else None
    if before is None:
        return [f"提示：本次起使用名单（{len(snapshot.units)} 个单位）"] if snapshot is not None and last is not None else []
    if snapshot is None:
        if ok:
            return [f"提示：上次（第 {last.id} 次）汇总使用了名单，本次没有名单"]  # type: ignore[union-attr]
        raise RosterChangedError(
            f"上次汇总（第 {last.id} 次）使用了名单（{before} 个单位），本次没有给出名单。请加上 --roster；"  # type: ignore[union-attr]
            "如确实不再使用名单，请加 --roster-changed-ok 重新运行。")
    change = led.roster_change(snapshot)
    if change is None or not change:
        return []
    if change.matters and not ok:
        raise RosterChangedError(
            f"名单与上次汇总（第 {last.id} 次）所用的不同：{change.describe()}。"  # type: ignore[union-attr]
            "各单位的核对结果和计数会因此改变，不能不声不响地换用。请核对名单；确认使用新名单，请加 --roster-changed-ok 重新运行"
            "（台账会记下每次所用的名单）。")
    return [f"提示：名单与上次汇总不同：{change.describe()}" + ("（联系方式不影响核对结果）" if not change.matters else "，已按新名单核对")]


def template_notices(led: Ledger, spec: Spec) -> list[str]:
    last = led.last_finished_run()
    if last is None or last.spec_hash == spec.spec_hash:
        return []
    was = f"{last.template_id} {last.template_version}" if last.template_id else "另一个模板"
    return [f"提示：模板与上次汇总不同（上次：{was}；本次：{spec.id} {spec.version}），台账中的文件都按本次的模板重新核对"]
