"""The roll-up's tables, once: rows for the workbook, the CSV exports and pandas.

Every table is a list of plain dicts built here; the workbook writer, the CSV
export and :meth:`Collection.tables` all read the same rows, so the three can
never disagree. CSV cells that a spreadsheet program would run as a formula
(starting with ``= + - @``, a tab or a carriage return) are neutralised with a
leading apostrophe, as OWASP recommends.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fsutil import write_atomic
from .pathtext import json_text, shown
from .report import STATUS_ZH

if TYPE_CHECKING:
    from .collect import Collection

_TAGS = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|_x00(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f])_")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The files ``--export`` writes.
EXPORTS = ("submissions.csv", "scores.csv", "findings.csv")
#: Decimal places of a CSV column, as the roll-up displays it (0.00% for the rate, #,##0.00 for money).
CSV_PLACES = {"execution_rate": 4, "budget": 2, "executed": 2}


def submissions(c: "Collection") -> list[dict[str, Any]]:
    """One row per unit: figures recomputed from its counted return; ``valid`` says whether statistics use it."""
    from .collect import NOT_GRADED

    spec = c.spec
    out = []
    for row in c.rows:
        ret = row.counted
        res = ret.report.results if ret else None
        grade = (res.grade if row.valid else NOT_GRADED) if res else None
        rec: dict[str, Any] = {
            "key": row.key, "unit": cell_text(row.field(spec, "unit")), "project": cell_text(row.field(spec, "project")),
            "budget": row.field(spec, "budget"), "executed": row.field(spec, "executed"),
            "execution_rate": row.execution_rate(spec),
        }
        for cat in spec.categories:
            rec[f"score_{cat.id}"] = res.categories[cat.id]["score"] if res else None
        rec.update({
            "total": res.total if res else None, "grade": grade, "status": row.status, "valid": row.valid,
            "errors": ret.report.errors if ret else None, "warnings": ret.report.warnings if ret else None,
            "file": ret.name if ret else None,
            "saved_at": ret.report.saved_at if ret else None,
            "superseded": "；".join(o.name for o in row.others) or None,
        })
        out.append(rec)
    return out


def scores(c: "Collection") -> list[dict[str, Any]]:
    """One row per unit and indicator of a counted return.

    ``valid``: the unit's return is valid (statistics use only these); ``applicable``: the
    indicator has a weight above 0 (a blank weight means 不适用, and it loses no points:
    ``lost`` is blank). So ``query("valid and applicable")`` selects what 统计 averages.
    """
    out = []
    names = {cat.id: cat.name for cat in c.spec.categories}
    for row in c.rows:
        if row.counted is None or row.counted.report.results is None:
            continue
        for rid, ind in row.counted.report.results.indicators.items():
            if ind["extra"] and not ind["name"]:
                continue
            weight, score = ind["weight"], ind["score"]
            applicable = isinstance(weight, Decimal) and weight > 0
            lost = weight - (score if isinstance(score, Decimal) else Decimal(0)) if applicable else None
            out.append({"key": row.key, "unit": cell_text(row.field(c.spec, "unit")), "status": row.status,
                        "valid": row.valid, "category": names[ind["category"]], "indicator_id": rid,
                        "indicator": cell_text(ind["name"]), "extra": ind["extra"], "applicable": applicable,
                        "weight": weight, "score": score, "lost": lost})
    return out


def findings(c: "Collection") -> list[dict[str, Any]]:
    unit_of = {row.key: cell_text(row.field(c.spec, "unit")) for row in c.rows}
    out = []
    for ret, f in c.all_findings():
        key = ret.report.key
        out.append({"file": ret.name, "path": shown(ret.path), "key": key, "unit": unit_of.get(key or "", None),
                    "sheet": f.sheet, "cell": f.cell, "code": f.code, "severity": f.severity,
                    "title": f.title, "message": f.message, "value": cell_text(f.value)})
    return out


def missing(c: "Collection") -> list[dict[str, Any]]:
    """Units without a valid return (已提交有误 or 未提交) and why."""
    out = []
    for row in c.rows:
        if row.valid:
            continue
        files = ([row.counted] if row.counted else []) + row.others
        out.append({"key": row.key, "unit": cell_text(row.field(c.spec, "unit")), "project": cell_text(row.field(c.spec, "project")),
                    "status": row.status, "reason": row.missing_reason(),
                    "files": "；".join(r.name for r in files) or None})
    return out


def files(c: "Collection") -> list[dict[str, Any]]:
    """Every file found: its status (有效 / 有误 / 无法读取; none when skipped), its fate and why."""
    from .collect import SKIPPED

    out = []
    for ret in sorted(c.returns, key=lambda r: r.path):
        rep = ret.report
        out.append({"file": ret.name, "path": shown(ret.path), "key": rep.key, "status": STATUS_ZH[rep.status],
                    "fate": ret.fate, "note": ret.note,
                    "replaced_by": shown(Path(ret.replaced_by).name) if ret.replaced_by else None,
                    "errors": len([f for f in ret.findings if f.severity == "error"]),
                    "warnings": len([f for f in ret.findings if f.severity == "warning"]),
                    "saved_at": rep.saved_at, "application": rep.application, "sha256": rep.sha256})
    for path, why in c.skipped:
        out.append({"file": shown(Path(path).name), "path": shown(path), "key": None, "status": None, "fate": SKIPPED, "note": why,
                    "replaced_by": None, "errors": 0, "warnings": 0, "saved_at": None, "application": None, "sha256": None})
    return out


def texts(c: "Collection") -> list[dict[str, Any]]:
    ids = c.spec.summary.get("texts", ())
    out = []
    for row in c.rows:
        res = row.counted.report.results if row.counted else None
        if res is None:
            continue
        rec = {"key": row.key, "unit": cell_text(row.field(c.spec, "unit")), "project": cell_text(row.field(c.spec, "project"))}
        for fid in ids:
            rec[fid] = _strip_markup(cell_text(res.fields.get(fid)))
        out.append(rec)
    return out


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


def stats(c: "Collection") -> Stats:
    """Statistics over valid returns only."""
    spec = c.spec
    rows = c.valid_rows
    results = [r.counted.report.results for r in rows]
    totals = sorted(res.total for res in results)
    grades = [(b.label, sum(1 for res in results if res.grade == b.label)) for b in spec.bands]
    cats = []
    for cat in spec.categories:
        s = [res.categories[cat.id]["score"] for res in results]
        w = [res.categories[cat.id]["weight"] for res in results]
        cats.append({"id": cat.id, "name": cat.name, "points": cat.points, "mean": _mean(s),
                     "rate": (sum(s, Decimal(0)) / sum(w, Decimal(0))) if s and sum(w, Decimal(0)) else None})
    inds = []
    for cat in spec.categories:
        for ind in cat.indicators:
            pairs = [(res.indicators[ind.id]["weight"] or Decimal(0), res.indicators[ind.id]["score"] or Decimal(0)) for res in results]
            pairs = [(w, s) for w, s in pairs if w > 0]
            if not pairs:
                continue
            ws, ss = sum(w for w, _ in pairs), sum(s for _, s in pairs)
            inds.append({"category": cat.name, "indicator": ind.name, "n": len(pairs),
                         "weight": ws / len(pairs), "score": ss / len(pairs), "lost": (ws - ss) / len(pairs),
                         "rate": ss / ws if ws else None})
    inds.sort(key=lambda d: (-d["lost"], d["category"], d["indicator"]))
    budget = sum((_dec(r.field(spec, "budget")) for r in rows), Decimal(0))
    executed = sum((_dec(r.field(spec, "executed")) for r in rows), Decimal(0))
    return Stats(
        valid=len(rows), grades=grades, total_mean=_mean(totals),
        total_median=Decimal(str(statistics.median(totals))) if totals else None,
        total_min=totals[0] if totals else None, total_max=totals[-1] if totals else None,
        categories=cats, indicators=inds, budget=budget, executed=executed,
        rate=(executed / budget) if budget else None,
    )


def tables(c: "Collection") -> dict[str, Any]:
    """The roll-up's tables as pandas DataFrames (numbers as floats), the same rows the workbook shows.

    - ``submissions``: one row per unit (汇总): key, unit, project, budget, executed, execution_rate,
      ``score_<category>`` …, total, grade (未核定 for an invalid return), status (已提交有效 /
      已提交有误 / 未提交), valid (bool), errors, warnings, file, saved_at, superseded.
    - ``scores``: one row per unit and indicator of a counted return (指标得分, long format): key, unit,
      status, valid (bool), category, indicator_id, indicator, extra (the unit's own indicator),
      applicable (bool: a weight above 0), weight, score, lost (weight − score; blank when not applicable).
      ``query("valid and applicable and not extra")`` is exactly what 统计 averages.
    - ``findings``: every finding of every file (问题清单): file, path, key, unit, sheet, cell, code,
      severity (error / warning), title (Chinese), message, value.
    - ``missing``: units without a valid return (未提交 sheet): key, unit, project, status, reason, files.
    - ``files``: every file found (文件清单): file, path, key, status (有效 / 有误 / 无法读取; blank when
      skipped), fate (计入 / 被替代 / 重复 / 未匹配 / 跳过), note (why), replaced_by, errors, warnings,
      saved_at, application, sha256.
    """
    import pandas as pd

    def frame(rows: list[dict[str, Any]]) -> Any:
        return pd.DataFrame([{k: (float(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows])

    return {"submissions": frame(submissions(c)), "scores": frame(scores(c)), "findings": frame(findings(c)),
            "missing": frame(missing(c)), "files": frame(files(c))}


def export_csv(c: "Collection", outdir: str | Path) -> list[Path]:
    """Write submissions.csv, scores.csv and findings.csv (UTF-8 with BOM, formulas neutralised)."""
    outdir = Path(outdir)
    written = []
    for name, rows, cols in (
        ("submissions.csv", submissions(c), None),
        ("scores.csv", scores(c), ["key", "unit", "category", "indicator_id", "indicator", "extra", "applicable", "weight",
                                   "score", "lost", "status", "valid"]),
        ("findings.csv", findings(c), ["file", "key", "unit", "sheet", "cell", "code", "severity", "title", "message", "value", "path"]),
    ):
        columns = cols or (list(rows[0]) if rows else ["key"])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([csv_cell(r.get(k), CSV_PLACES.get(k)) for k in columns])
        data = buf.getvalue()
        written.append(write_atomic(outdir / name, lambda tmp, data=data: tmp.write_text(data, encoding="utf-8-sig", newline="")))
    return written


def csv_cell(v: Any, places: int | None = None) -> str:
    """A value as CSV text; text a spreadsheet would run as a formula gets a leading apostrophe.

    ``places``: round a number half up to that many decimals, as the roll-up displays it.
    """
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, Decimal):
        from .formulas import plain_number

        if places is not None and v.is_finite() and v.adjusted() < 20:
            v = v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return plain_number(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    text = json_text(str(v))  # a name that is not UTF-8 cannot be encoded: U+FFFD
    if text.startswith(_FORMULA_START) and not _is_plain_number(text):
        return "'" + text
    return text


def csv_text(cell: str) -> str:
    """The text :func:`csv_cell` neutralised, as it was (for reading back a CSV we wrote)."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) and not _is_plain_number(cell[1:]):
        return cell[1:]
    return cell


def _is_plain_number(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(\.\d+)?", text) is not None


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def _dec(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(0)


def cell_text(v: Any) -> str | None:
    """A value as text for the roll-up: invisible control characters removed."""
    if v is None:
        return None
    if isinstance(v, Decimal):
        from .formulas import plain_number

        return plain_number(v)
    return _CONTROL.sub("", str(v))


def _strip_markup(text: str | None) -> str | None:
    if text is None:
        return None
    return _TAGS.sub("", text).replace("&nbsp;", " ").strip()
