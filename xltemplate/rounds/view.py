"""What a round's run shows in its roll-up: 提交记录 (every file received, in arrival order, with what became of
it and why) and the "since the last run" columns of 汇总, built from the ledger's files and the run's matching."""

from __future__ import annotations

from collections import Counter

from ..ledger import FileRow, Ledger, local_time
from ..pathtext import file_name, shown
from ..resubmission import ONLY
from ..rollup.collect import Collection, Return, Row
from ..rollup.record import Received, Since
from ..rollup.spill import Brief
from ..words import COUNTED, DUPLICATE, NOT_CHECKED, STATUS_ZH, SUPERSEDED, UNMATCHED, WITHDRAWN

#: How a file no longer in the inbox is told (文件清单 and 提交记录).
GONE = "已不在收件文件夹"


_PRIORITY = (COUNTED, WITHDRAWN, SUPERSEDED, UNMATCHED, NOT_CHECKED, DUPLICATE)


def received(c: Collection, every: list[Return], files: list[FileRow], reports: dict[str, Brief],
             shas: dict[int, str], led: Ledger) -> list[Received]:
    """Every file the round has received, in arrival order, with what became of it in this run."""
    rets: dict[str, list[Return]] = {}
    for r in every:
        if id(r) in shas:
            rets.setdefault(shas[id(r)], []).append(r)
    rows = {id(row.counted): row for row in c.rows if row.counted is not None}
    out = []
    for f in files:
        report = reports[f.sha256]
        mine = rets.get(f.sha256, [])
        if mine:
            best = min(mine, key=lambda r: _PRIORITY.index(r.fate) if r.fate in _PRIORITY else len(_PRIORITY))
            fate, note, in_inbox = best.fate, _why(best, rows.get(id(best))), not best.archived
            path = best.path
        else:  # not a candidate for any unit: no key, unreadable, not judged, or gone and withdrawn
            in_inbox, path = False, f.last_path or led.archive.text(f.archive_name)
            fate, note = _alone(report)
        if not in_inbox and f.last_seen_run is not None and not (note or "").startswith(GONE):
            note = f"{GONE}（最后一次见于第 {f.last_seen_run} 次汇总）" + (f"；{note}" if note else "")
        out.append(Received(
            arrival=f.arrival, first_run=f.first_seen_run, first_seen=local_time(f.first_seen_at), name=shown(file_name(path)),
            path=shown(path), in_inbox=in_inbox, key=report.key, status=None if report.transient else STATUS_ZH[report.status],
            saved_at=report.saved_at, fate=fate, note=note, copies=sum(1 for r in mine if not r.archived) or 1,
            sha256=f.sha256))
    return out


def _why(r: Return, row: Row | None) -> str | None:
    """提交记录's 说明: a counted file that replaced others says so with the rule (its note); the only one says that."""
    if r.fate == COUNTED:
        if row is None or row.rule in (None, ONLY):
            if r.note and r.note.startswith(GONE):  # where it stands from first, then why it counts
                head, _, rest = r.note.partition("；")
                return f"{head}；该单位唯一的文件" + (f"；{rest}" if rest else "")
            return "该单位唯一的文件" + (f"；{r.note}" if r.note else "")
    return r.note


def _alone(report: Brief) -> tuple[str, str]:
    """The fate of a file gone from the inbox that no unit could take: not judged, unreadable, without a key."""
    if report.transient:
        return NOT_CHECKED, "未能核对，下次汇总时会重新读取"
    if report.status == "unreadable":
        return UNMATCHED, "文件无法读取，读不出编号"
    return UNMATCHED, "文件中没有编号"


def since(c: Collection, files: list[FileRow], reports: dict[str, Brief], previous: int | None,
          changed: set[str], newly_valid: set[str]) -> dict[str, Since]:
    new = Counter(reports[f.sha256].key for f in files if (f.first_seen_run or 0) > (previous or 0) and reports[f.sha256].key)
    return {row.key: Since(new.get(row.key, 0), row.key in changed, row.key in newly_valid) for row in c.rows}
