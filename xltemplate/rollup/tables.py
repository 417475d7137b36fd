"""The roll-up's tables, once: the one source of rows for the workbook, the CSV exports and pandas.

Every table is built here from a :class:`~xltemplate.rollup.collect.Collection`; the roll-up
workbook's sheets (statistics included), ``--export``'s CSV files and :func:`tables` all read the
same rows, so none of them can disagree with another. The tables are family-agnostic: columns
come from the family's groups and items (:meth:`FormFamily.groups`, :meth:`FormFamily.items`) and
figures from the typed :class:`~xltemplate.results.Results`. Rows that come one per unit and
indicator are generated, not kept: 10,000 units make 170,000 of them.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..clock import beijing
from ..form.family import GroupDef, ItemDef, family_of
from ..fsutil import scratch_told, write_atomic
from ..pathtext import shown
from ..text import cell_text, csv_cell, strip_markup
from ..words import NOT_GRADED, SKIPPED, STATUS_ZH

if TYPE_CHECKING:  # a Collection is what every table is made from; collect.py itself offers them as Collection.tables()
    from .collect import Collection, Row

#: The files ``--export`` writes (:func:`exports`: and, for a family whose items are the units' own, these;
#: in a round kept by a ledger, 提交记录 too).
EXPORTS = ("submissions.csv", "scores.csv", "findings.csv")
RESULT_EXPORTS = ("levels.csv", "gaps.csv")
ROUND_EXPORTS = ("received.csv",)
#: Decimal places of a CSV column, as the roll-up displays it (0.00% for the rate, #,##0.00 for money).
CSV_PLACES = {"execution_rate": 4, "budget": 2, "executed": 2, "met_rate": 4, "rate": 4, "lost_per_unit": 2}
#: The columns of scores.csv and findings.csv (submissions.csv has every column of its table).
SCORES_CSV = ["key", "unit", "category", "indicator_id", "indicator", "extra", "applicable", "weight", "score", "lost",
              "status", "valid"]
#: scores.csv of a family that scores by rules: what each indicator was measured against, and how it did.
RESULTS_CSV = ["key", "unit", "category", "subcategory", "indicator_id", "indicator", "rule", "measure", "target", "actual",
               "weight", "score", "lost", "met", "reason", "status", "valid"]
LEVELS_CSV = ["category", "subcategory", "indicators", "met", "met_rate", "weight", "score", "lost", "lost_per_unit", "rate"]
GAPS_CSV = ["rank", "key", "unit", "project", "total", "lost", "indicators_lost", "other_lost", "worst"]


FINDINGS_CSV = ["file", "key", "unit", "sheet", "cell", "code", "severity", "title", "message", "value", "path"]
#: The columns of received.csv (提交记录), in the sheet's order.
RECEIVED_CSV = ["arrival", "first_run", "first_seen", "key", "file", "status", "saved_at", "fate", "note", "in_inbox", "copies",
                "path", "sha256"]


def exports(c: "Collection") -> tuple[str, ...]:
    """The files ``--export`` writes for this collection's family (and in a round, received.csv)."""
    return export_names(c.spec, in_round=c.round is not None)


def export_names(spec: Any, *, in_round: bool = False) -> tuple[str, ...]:
    """:func:`exports` before anything is collected (the CLI checks every output path first)."""
    return (EXPORTS + (RESULT_EXPORTS if family_of(spec).rollup_sheets.item_results else ())
            + (ROUND_EXPORTS if in_round else ()))


def groups(c: "Collection") -> list[GroupDef]:
    """The spec's groups (一级指标), in order: a column each in 汇总, a row each in 统计."""
    return family_of(c.spec).groups(c.spec)


def items(c: "Collection") -> list[ItemDef]:
    """The spec's fixed items (indicators), in order: two columns each in 指标得分, a row each in 统计."""
    return family_of(c.spec).items(c.spec)


def submissions(c: "Collection") -> list[dict[str, Any]]:
    """One row per unit: figures recomputed from its counted return; ``valid`` says whether statistics use it."""
    ids = [g.id for g in groups(c)]
    return [submission(c, row, ids) for row in c.rows]


def submission(c: "Collection", row: "Row", group_ids: list[str]) -> dict[str, Any]:
    """:func:`submissions`' row of one unit (``group_ids``: the ids of :func:`groups`)."""
    spec = c.spec
    ret = row.counted
    res = ret.head() if ret else None  # (a round's stored report: its head, the report not loaded)
    grade = (res.grade if row.valid else NOT_GRADED) if res else None
    rec: dict[str, Any] = {
        "key": row.key, "unit": cell_text(row.field(spec, "unit")), "project": cell_text(row.field(spec, "project")),
        "budget": row.field(spec, "budget"), "executed": row.field(spec, "executed"),
        "execution_rate": row.execution_rate(spec),
    }
    for gid in group_ids:
        rec[f"score_{gid}"] = res.group(gid).score if res else None
    rec.update({
        "total": res.total if res else None, "grade": grade, "status": row.status, "valid": row.valid,
        "errors": ret.brief.errors if ret else None, "warnings": ret.brief.warnings if ret else None,
        "file": ret.name if ret else None,
        "saved_at": beijing(ret.brief.saved_at) if ret and ret.brief.saved_at else None,
        # every other file of the unit (superseded, duplicate, or unproven): 文件清单 says which is which
        "other_files": "；".join(o.name for o in row.others) or None,
    })
    if c.round is not None:  # since the last run: files received, counted file or status changed, newly valid
        since = c.round.since_of(row.key)
        rec.update({"new_files": since.new_files or None, "changed": since.changed, "newly_valid": since.newly_valid})
    return rec


def scores(c: "Collection") -> Iterator[dict[str, Any]]:
    """One row per unit and item (indicator) of a counted return, unit by unit.

    ``valid``: the unit's return is valid (statistics use only these); ``applicable``: the
    indicator has a weight above 0 (a blank weight means 不适用, and it loses no points:
    ``lost`` is blank). So ``query("valid and applicable")`` selects what 统计 averages.
    """
    names = {g.id: g.name for g in groups(c)}
    rules = family_of(c.spec).rollup_sheets.item_results
    for row in c.rows:
        yield from unit_scores(c, row, names, rules)


def unit_scores(c: "Collection", row: "Row", names: dict[str, str], rules: bool) -> Iterator[dict[str, Any]]:
    """:func:`scores`' rows of one unit (``names``: group id → name; ``rules``: the family's item_results)."""
    if row.counted is None or not row.counted.brief.has_results:
        return
    res = row.counted.report.results
    if res is None:
        return
    unit = cell_text(row.field(c.spec, "unit"))
    key, status, valid = row.key, row.status, row.valid
    for item in res.items:
        if item.extra and not item.name:
            continue
        rec = {"key": key, "unit": unit, "status": status, "valid": valid, "category": names[item.group],
               "category_id": item.group, "indicator_id": item.id, "indicator": _name_text(item.name), "extra": item.extra,
               "applicable": item.applicable, "weight": item.weight, "score": item.score, "lost": item.lost}
        if rules:  # what it was measured against and how it did
            rec.update({"subcategory": item.subgroup, "rule": item.rule, "measure": item.unit, "target": cell_text(item.target),
                        "actual": cell_text(item.actual), "met": item.met, "reason": item.reason})
        yield rec


#: An indicator's name as cell_text gives it, by the name: every unit repeats the spec's (at most _NAMES_KEPT kept).
_NAMES: dict[str, str | None] = {}
_NAMES_KEPT = 4096


def _name_text(name: Any) -> str | None:
    if type(name) is not str:
        return cell_text(name)
    got = _NAMES.get(name)
    if got is None:
        got = cell_text(name)
        if len(_NAMES) < _NAMES_KEPT:
            _NAMES[name] = got
    return got


def levels(c: "Collection", score_rows: Iterable[dict[str, Any]] | None = None,
           totals: "ScoreTotals | None" = None) -> list[dict[str, Any]]:
    """统计 by 一级 and 二级 over the units 已提交有效: how many indicators, the share met, the points lost
    (in all, and per unit) and the score rate. A 一级's row (``subcategory`` None) comes before its 二级.
    ``totals``: the score rows already summed (made with ``levels=True``)."""
    valid = sum(1 for r in c.rows if r.valid)
    if totals is None or totals.levels is None:
        totals = ScoreTotals.over(score_rows if score_rows is not None else scores(c), levels=True)
    acc = totals.levels
    assert acc is not None
    out = []
    for g in groups(c):
        for sub_name in [None] + [name for _id, name in g.subgroups]:
            got = acc.get((g.id, sub_name))
            if got is None:
                continue
            n, met, w, sc = got
            out.append({"category": g.name, "subcategory": sub_name, "indicators": int(n), "met": int(met),
                        "met_rate": met / n if n else None, "weight": w, "score": sc, "lost": w - sc,
                        "lost_per_unit": (w - sc) / valid if valid else None, "rate": sc / w if w else None})
    return out


def gaps(c: "Collection", units: list[dict[str, Any]] | None = None,
         score_rows: Iterable[dict[str, Any]] | None = None, totals: "ScoreTotals | None" = None) -> list[dict[str, Any]]:
    """The units 已提交有效 by points lost, most first: where each lost them (the indicators that lost most).
    ``totals``: the score rows already summed (made with ``gaps=True``)."""
    if totals is None or totals.worst is None:
        totals = ScoreTotals.over(score_rows if score_rows is not None else scores(c), gaps=True)
    worst = totals.worst
    assert worst is not None
    out = []
    for u in (units if units is not None else submissions(c)):
        if not u["valid"]:
            continue
        total = _dec(u["total"])
        lost = c.spec.total - total
        items = sorted(worst.get(u["key"], []), key=lambda x: (-x[0], x[1]))
        on_items = sum((x[0] for x in items), Decimal(0))
        out.append({"key": u["key"], "unit": u["unit"], "project": u["project"], "total": total, "lost": lost,
                    "other_lost": lost - on_items, "indicators_lost": on_items,
                    "worst": "；".join(f"{name}（-{_plain(x)}）" for x, name in items[:3]) or None})
    out.sort(key=lambda r: (-r["lost"], r["key"]))
    for n, r in enumerate(out, start=1):
        r["rank"] = n
    return out


def _plain(d: Decimal) -> str:
    from ..text import plain_number

    return plain_number(d)


def scores_by_unit(c: "Collection", totals: "ScoreTotals | None" = None) -> Iterator[
        tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]]]]:
    """The score rows grouped by unit (指标得分): (the unit's first row, its fixed items by id, its own items).
    ``totals``: also summed there as they go by (for :func:`stats`, without a pass of their own)."""
    rows_: Iterable[dict[str, Any]] = scores(c) if totals is None else totals.seen(scores(c))
    for _key, rows in groupby(rows_, key=lambda r: r["key"]):
        yield by_unit(list(rows))


def by_unit(unit: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """One unit's score rows (not none) as :func:`scores_by_unit` gives them."""
    fixed = {r["indicator_id"]: r for r in unit if not r["extra"]}
    return unit[0], fixed, [r for r in unit if r["extra"]]


def findings(c: "Collection") -> Iterator[dict[str, Any]]:
    # (the rows kept on disk: a row looked up there, not a dict of them all; see collect.STORE)
    by_key = getattr(c.rows, "by_key", None)
    if by_key is None:
        by_key = {row.key: row for row in c.rows}.get
    unit_of: dict[str, str | None] = {}  # made for the keys that have findings only: a unit's name is in its report

    def unit(key: str | None) -> str | None:
        if key not in unit_of:
            if len(unit_of) >= 4096:  # (the last few thousand: not one a unit, issue 15)
                unit_of.clear()
            row = by_key(key or "")
            unit_of[key or ""] = cell_text(row.field(c.spec, "unit")) if row is not None else None
        return unit_of[key or ""]

    # (Collection.all_findings' order, without its list: every finding of every return at once)
    for ret in c.returns:
        for f in (ret.findings if ret.brief.codes else ret.extra):
            key = ret.brief.key
            yield {"file": ret.name, "path": shown(ret.path), "key": key, "unit": unit(key),
                   "sheet": f.sheet, "cell": f.cell, "code": f.code, "severity": f.severity,
                   "title": f.title, "message": f.message, "value": cell_text(f.value)}


def missing(c: "Collection") -> list[dict[str, Any]]:
    """Units without a valid return (已提交有误 or 未提交) and why."""
    return [m for row in c.rows if (m := unit_missing(c, row)) is not None]


def unit_missing(c: "Collection", row: "Row") -> dict[str, Any] | None:
    """:func:`missing`'s row of one unit: None for a unit with a valid return."""
    if row.valid:
        return None
    files = [*([row.counted] if row.counted else []), *row.others]
    return {"key": row.key, "unit": cell_text(row.field(c.spec, "unit")), "project": cell_text(row.field(c.spec, "project")),
            "status": row.status, "reason": row.missing_reason(), "files": "；".join(r.name for r in files) or None}


def files(c: "Collection") -> list[dict[str, Any]]:
    """Every file found: its status (有效 / 有误 / 无法读取; none when skipped), its fate and why."""
    return list(iter_files(c))


def iter_files(c: "Collection") -> Iterator[dict[str, Any]]:
    """:func:`files`, one row at a time (the roll-up writes them as they come: no list of them)."""
    for name, path, key, status, fate, note, replaced_by, errors, warnings, saved_at, application, sha256 in file_facts(c):
        yield {"file": name if name is not None else shown(Path(path).name), "path": shown(path), "key": key,
               "status": STATUS_ZH[status] if status is not None else None, "fate": fate, "note": note,
               "replaced_by": shown(Path(replaced_by).name) if replaced_by else None,
               "errors": errors, "warnings": warnings,
               "saved_at": beijing(saved_at) if saved_at else None, "application": application, "sha256": sha256}


def file_facts(c: "Collection") -> Iterator[tuple[Any, ...]]:
    """What each row of :func:`iter_files` is made from, in its order, before it is put in words: the file's name (None
    for a skipped file), path, key, status, fate, note, what replaced it, counts of errors and warnings, saved time,
    application and sha256 (a kept 文件清单's key is made from these: rollup.reuse.DIGESTS_OF_FACTS)."""
    by_path = getattr(c.returns, "by_path", None)  # (kept on disk: in that order from there, collect.STORE)
    for ret in (by_path() if by_path is not None else sorted(c.returns, key=lambda r: r.path)):
        rep = ret.brief  # what the file's report says, without loading it
        errors, warnings = ret.counts()
        yield (ret.name, ret.path, rep.key, rep.status, ret.fate, ret.note, ret.replaced_by, errors, warnings,
               rep.saved_at, rep.application, rep.sha256)
    for path, why in c.skipped:
        yield (None, path, None, None, SKIPPED, why, None, 0, 0, None, None, None)


def received(c: "Collection") -> list[dict[str, Any]]:
    """提交记录: every file the round has received, in arrival order, with what became of it (a round only)."""
    return list(iter_received(c))


def iter_received(c: "Collection") -> Iterator[dict[str, Any]]:
    """:func:`received`, one row at a time."""
    for r in (c.round.received if c.round is not None else ()):
        yield {"arrival": r.arrival, "first_run": r.first_run, "first_seen": r.first_seen, "key": r.key, "file": r.name,
               "status": r.status, "saved_at": beijing(r.saved_at) if r.saved_at else None, "fate": r.fate, "note": r.note, "in_inbox": r.in_inbox,
               "copies": r.copies, "path": r.path, "sha256": r.sha256}


def texts(c: "Collection") -> list[dict[str, Any]]:
    ids = list(c.spec.summary.get("texts", ()))
    return [t for row in c.rows if (t := unit_texts(c, row, ids)) is not None]


def unit_texts(c: "Collection", row: "Row", ids: list[str]) -> dict[str, Any] | None:
    """:func:`texts`' row of one unit (``ids``: the spec's summary texts): None without a counted return's figures."""
    res = row.counted.report.results if row.counted else None
    if res is None:
        return None
    rec = {"key": row.key, "unit": cell_text(row.field(c.spec, "unit")), "project": cell_text(row.field(c.spec, "project"))}
    for fid in ids:
        rec[fid] = strip_markup(cell_text(res.fields.get(fid)))
    return rec


@dataclass
class Stats:
    valid: int
    grades: list[tuple[str, int]]  # in band order, highest first
    total_mean: Decimal | None
    total_median: Decimal | None
    total_min: Decimal | None
    total_max: Decimal | None
    categories: list[dict[str, Any]]  # name, points, mean score, rate
    indicators: list[dict[str, Any]]  # sorted by mean points lost, most first
    budget: Decimal
    executed: Decimal
    rate: Decimal | None


class ScoreTotals:
    """What :func:`stats` (and, when asked, :func:`levels` and :func:`gaps`) sum over the :func:`scores` rows,
    row by row: so that a sheet that passes over them anyway (指标得分, 指标结果) sums them as it goes, and
    those need no pass of their own."""

    def __init__(self, levels: bool = False, gaps: bool = False) -> None:
        self.weights: dict[str, Decimal] = defaultdict(Decimal)  # group id → the weights of every valid unit's items
        # item id → [units where it applies, their weights summed, their scores summed]: sums, not every unit's pair,
        # so that memory does not grow with the units (the same Decimal additions in the same order as summing a list)
        self.pairs: dict[str, list[Any]] = {}
        # (一级 id, 二级 or None) → n, met, weight, score over the valid units' applicable items
        self.levels: dict[tuple[str, str | None], list[Decimal]] | None = (
            defaultdict(lambda: [Decimal(0)] * 4) if levels else None)
        # unit key → (points lost, indicator) of its valid applicable items that lost points
        self.worst: dict[str, list[tuple[Decimal, str]]] | None = defaultdict(list) if gaps else None

    def add(self, r: dict[str, Any]) -> None:
        if not r["valid"]:
            return
        weight, cat = _dec(r["weight"]), r["category_id"]
        self.weights[cat] += weight
        if not r["applicable"]:
            return
        score = _dec(r["score"])
        if not r["extra"]:
            acc = self.pairs.setdefault(r["indicator_id"], [0, 0, 0])
            acc[0] += 1
            acc[1] += weight
            acc[2] += score
        if self.levels is not None:
            sub, met = r.get("subcategory"), 1 if r.get("met") else 0
            # its 一级's row, and its 二级's when it has one (a row without counts in its 一级's once)
            for key in ((cat, None),) if sub is None else ((cat, None), (cat, sub)):
                a = self.levels[key]
                a[0] += 1
                a[1] += met
                a[2] += weight
                a[3] += score
        if self.worst is not None:
            lost = _dec(r["lost"])
            if lost > 0:
                self.worst[r["key"]].append((lost, r["indicator"] or ""))

    @classmethod
    def over(cls, rows: Iterable[dict[str, Any]], levels: bool = False, gaps: bool = False) -> "ScoreTotals":
        """``rows`` summed in a pass of their own."""
        totals = cls(levels=levels, gaps=gaps)
        for r in rows:
            totals.add(r)
        return totals

    def seen(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``rows``, each added as it goes by."""
        add = self.add
        for r in rows:
            add(r)
            yield r


class UnitTotals:
    """What :func:`stats` sums over the :func:`submissions` rows of the units 已提交有效, unit by unit: so that
    the roll-up writer, which passes over the units once, keeps no list of them (issue 15, memory flat in N)."""

    def __init__(self, group_ids: list[str]) -> None:
        self.valid = 0
        self.grades: Counter[Any] = Counter()
        # every valid unit's total (for the median), each distinct one (type and text) held once: 8 bytes a unit
        self.totals: list[Any] = []
        self._same: dict[tuple[type, str], Any] = {}
        # group id → its scores summed (the same Decimal additions in the same order as summing a list of them)
        self.scores: dict[str, Decimal] = {gid: Decimal(0) for gid in group_ids}
        self.budget = Decimal(0)
        self.executed = Decimal(0)

    def add(self, u: dict[str, Any]) -> None:
        if not u["valid"]:
            return
        self.valid += 1
        self.grades[u["grade"]] += 1
        total = u["total"]
        self.totals.append(self._same.setdefault((type(total), str(total)), total))
        sums = self.scores
        for gid in sums:
            sums[gid] += u[f"score_{gid}"]
        self.budget += _dec(u["budget"])
        self.executed += _dec(u["executed"])

    @classmethod
    def over(cls, c: "Collection", units: Iterable[dict[str, Any]]) -> "UnitTotals":
        """``units`` summed in a pass of their own."""
        totals = cls([g.id for g in groups(c)])
        for u in units:
            totals.add(u)
        return totals


def stats(c: "Collection", units: list[dict[str, Any]] | None = None, score_rows: Iterable[dict[str, Any]] | None = None,
          totals: ScoreTotals | None = None, unit_totals: UnitTotals | None = None) -> Stats:
    """Statistics over the units 已提交有效 only, from the :func:`submissions` and :func:`scores` rows
    (or ``totals``: the score rows already summed; ``unit_totals``: the submissions rows already summed)."""
    if unit_totals is None:
        unit_totals = UnitTotals.over(c, units if units is not None else submissions(c))
    n = unit_totals.valid
    totals_ = sorted(unit_totals.totals)
    grades = [(b.label, unit_totals.grades[b.label]) for b in c.spec.bands]
    if totals is None:
        totals = ScoreTotals.over(score_rows if score_rows is not None else scores(c))
    weights, pairs = totals.weights, totals.pairs
    cats: list[dict[str, Any]] = []
    for g in groups(c):
        s = unit_totals.scores[g.id]  # (the sum of the valid units' scores)
        # a group without items (the national form's funding score) weighs its points in every unit
        w = (weights[g.id] or g.points * n) if n else Decimal(0)
        cats.append({"id": g.id, "name": g.name, "points": g.points, "mean": s / n if n else None,
                     "rate": (s / w) if n and w else None})
    names = {g.id: g.name for g in groups(c)}
    inds: list[dict[str, Any]] = []
    for item in items(c):
        got = pairs.get(item.id)
        if not got:
            continue
        n_, ws, ss = got
        inds.append({"category": names[item.group], "indicator": item.name, "n": n_,
                     "weight": ws / n_, "score": ss / n_, "lost": (ws - ss) / n_,
                     "rate": ss / ws if ws else None})
    inds.sort(key=lambda d: (-d["lost"], d["category"], d["indicator"]))
    budget, executed = unit_totals.budget, unit_totals.executed
    return Stats(
        valid=n, grades=grades, total_mean=_mean(totals_),
        total_median=Decimal(str(statistics.median(totals_))) if totals_ else None,
        total_min=totals_[0] if totals_ else None, total_max=totals_[-1] if totals_ else None,
        categories=cats, indicators=inds, budget=budget, executed=executed,
        rate=(executed / budget) if budget else None,
    )


def tables(c: "Collection") -> dict[str, Any]:
    """The roll-up's tables as pandas DataFrames (numbers as floats), the same rows the workbook shows.
    Times (saved_at, first_seen) are Beijing time without a zone, as the workbook shows them (:mod:`..clock`).

    - ``submissions``: one row per unit (汇总): key, unit, project, budget, executed, execution_rate,
      ``score_<category>`` …, total, grade (未核定 for an invalid return), status (已提交有效 /
      已提交有误 / 未提交), valid (bool), errors, warnings, file, saved_at, other_files (the unit's
      other files: superseded, duplicate or unproven; 文件清单 says which).
    - ``scores``: one row per unit and indicator of a counted return (指标得分, long format): key, unit,
      status, valid (bool), category, category_id, indicator_id, indicator, extra (the unit's own indicator),
      applicable (bool: a weight above 0), weight, score, lost (weight − score; blank when not applicable).
      ``query("valid and applicable and not extra")`` is exactly what 统计 averages.
    - ``findings``: every finding of every file (问题清单): file, path, key, unit, sheet, cell, code,
      severity (error / warning), title (Chinese), message, value.
    - ``missing``: units without a valid return (未提交 sheet): key, unit, project, status, reason, files.
    - ``levels`` (a family scoring its units' own indicators by rules, the national form): 统计 by 一级
      and 二级 over the units 已提交有效: category, subcategory (None on a 一级's own row), indicators,
      met, met_rate, weight (分值), score, lost, lost_per_unit, rate (score / weight).
    - ``gaps`` (the same families): the units 已提交有效 by points lost, most first (差距分析): rank, key,
      unit, project, total, lost, indicators_lost, other_lost (outside the indicators: the funding
      score's), worst (the three indicators that lost most). ``scores`` then also has subcategory, rule
      (指标性质), measure (计量单位), target, actual, met (bool) and reason (a 偏差原因 was given).
    - ``files``: every file found (文件清单): file, path, key, status (有效 / 有误 / 无法读取; blank when
      skipped), fate (计入 / 被替代 / 重复 / 未匹配 / 跳过, and in a round 已撤回 / 未校验), note (why),
      replaced_by, errors, warnings, saved_at, application, sha256.

    In a round kept by a ledger (``collect --ledger``), ``submissions`` gains new_files (files of the
    unit received since the last run), changed (its counted file or status changed) and newly_valid,
    and ``received`` is 提交记录: arrival (1 = the first file received), first_run, first_seen, key,
    file, status, saved_at, fate, note (the rule that decided, what replaced it, why), in_inbox,
    copies, path, sha256.
    """
    import pandas as pd

    def frame(rows: Iterable[dict[str, Any]]) -> Any:
        return pd.DataFrame([{k: (float(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows])

    out = {"submissions": frame(submissions(c)), "scores": frame(scores(c)), "findings": frame(findings(c)),
           "missing": frame(missing(c)), "files": frame(files(c))}
    if family_of(c.spec).rollup_sheets.item_results:
        out["levels"], out["gaps"] = frame(levels(c)), frame(gaps(c))
    if c.round is not None:
        out["received"] = frame(received(c))
    return out


def export_csv(c: "Collection", outdir: str | Path) -> list[Path]:
    """Write submissions.csv, scores.csv and findings.csv (and in a round received.csv), UTF-8 with BOM, formulas neutralised.

    A full disk under the run's temporary files while the rows are made (the spill, SQLite's sorts over the store)
    is said as TMPDIR's (:func:`~xltemplate.fsutil.scratch_error`); one at an output, by write_atomic, as the file's."""
    with scratch_told():
        return _export_csv(c, Path(outdir))


def _export_csv(c: "Collection", outdir: Path) -> list[Path]:
    written = []
    units = submissions(c)
    rules = family_of(c.spec).rollup_sheets.item_results
    tables_: list[tuple[str, Iterable[dict[str, Any]], list[str]]] = [
        ("submissions.csv", units, list(units[0]) if units else ["key"]),
        ("scores.csv", scores(c), RESULTS_CSV if rules else SCORES_CSV),
        ("findings.csv", findings(c), FINDINGS_CSV),
    ]
    if rules:
        tables_ += [("levels.csv", levels(c), LEVELS_CSV), ("gaps.csv", gaps(c, units), GAPS_CSV)]
    if c.round is not None:
        tables_.append(("received.csv", received(c), RECEIVED_CSV))
    for name, rows, columns in tables_:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([csv_cell(r.get(k), CSV_PLACES.get(k)) for k in columns])
        data = buf.getvalue()

        def write(tmp: Path, data: str = data) -> None:
            tmp.write_text(data, encoding="utf-8-sig", newline="")

        written.append(write_atomic(outdir / name, write))
    return written


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def _dec(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(0)
