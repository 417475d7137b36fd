"""Judge a returned file against its spec: recompute everything, trust nothing.

A pipeline over a frozen context: the file is read (:mod:`xltemplate.readers`), its template
identified (:mod:`xltemplate.identify`), every input read once (:func:`xltemplate.normalise.normalise`),
then independent checks each yield findings: the generic ones (:mod:`xltemplate.checks`) and the
family's (a new family adds checks, not branches). The figures that count are recomputed from
the normalised inputs and the spec (never from what the file claims) into typed
:class:`~xltemplate.results.Results`, and :func:`validate_submission` returns a
:class:`~xltemplate.report.FileReport`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from . import checks, meta
from .catalog import TemplateLike
from .errors import Unreadable
from .findings import Finding, finding
from .form.family import family_of
from .form.formulas import ratio
from .identify import ReaderName, RunContext, identify
from .normalise import Context, normalise
from .readers import read_submission
from .report import FileReport
from .resubmission import CLOCK_SLACK, saved_time_problem
from .results import Results
from .submission import Submission

#: The version of the validation rules: what a report says about given bytes, against a given spec.
#: Change it whenever a reader, a value parser, a formula or its twin, a check, a finding's message
#: or the report's JSON changes what a report would say: the collection ledger reuses a stored
#: report only while (file sha256, spec hash, this version) are the same. ``tests/test_reports.py``
#: fails when the samples' reports change and this version does not.
#: 2: the national family; executed-above-budget and rate-undefined name the fields they compare.
#: 3: the fast reader no longer keeps a cell that shows an empty shared string (one under a merged range
#: was reported content-hidden, where the reference reads nothing).
#: 4: a return of an older version of the form asked for is read as that version when the run knows it and
#: its inputs did not move (template-version-old), else template-version-old-moved (was template-version).
#: 5: a workbook part without a sheet, with its sheets, names or workbookPr in another namespace, or with a defined
#: name without a name or with an element inside is file-corrupt (both readers; programs read each differently).
VALIDATOR_VERSION = "5"  # a whole number, as text: 6 after the next change, and so on


def validate_path(path: str | Path, templates: RunContext | TemplateLike | None = None, *,
                  reader: ReaderName | None = None, today: dt.date | None = None) -> FileReport:
    """Read and validate one returned file; an unreadable file is a report, not an exception.

    ``templates``: a :class:`RunContext`, or one template (id, spec path or Spec) to validate
    against (None: the built-ins); ``reader`` and ``today`` override the context's.
    """
    run = RunContext.of(templates, reader=reader, today=today)
    try:
        sub = read_submission(path, reader=run.reader)
    except Unreadable as exc:
        return FileReport.unreadable(str(path), finding(exc.code, exc.variant, **exc.params))
    return validate_submission(sub, run)


def validate_submission(sub: Submission, templates: RunContext, *, today: dt.date | None = None) -> FileReport:
    """Validate a read submission against the template its metadata names (or the explicit one)."""
    run = RunContext.of(templates, today=today)
    ident, found = identify(sub, run)
    found += _saved_time(sub, run.today)
    if sub.has_macros:
        found.append(finding("file-macros"))
    results = None
    if ident.spec is not None:
        spec = ident.spec
        if spec.sheet not in sub.cells:
            present = "、".join(s for s, state in sub.sheets.items() if state == "visible") or "无"
            found.append(finding("form-sheet-missing", sheet=spec.sheet, present=present))
        else:
            try:
                ctx, read = normalise(spec, sub, prefill=ident.prefill, today=run.today or dt.date.today(),
                                      roster_row=run.roster_row(ident.key), targets=ident.targets)
            except ValueError:  # recorded targets this spec cannot lay out: edited, hash and all
                found.append(finding("target-changed", "damaged", sheet=meta.SHEET))
            else:
                found += run_checks(ctx, read)
                results = recompute(ctx)
    return FileReport.build(sub, ident, found, results)


def run_checks(ctx: Context, read: Iterable[Finding]) -> list[Finding]:
    """Every check over the context, in a fixed order for the report (each is independent of the others)."""
    out: list[Finding] = []
    for check in checks.BEFORE:
        out.extend(check(ctx))
    out.extend(read)
    for later in family_of(ctx.spec).checks + checks.AFTER:
        out.extend(later(ctx))
    return out


def recompute(ctx: Context) -> Results:
    """The figures that count, from the normalised inputs and the spec."""
    layout = ctx.layout
    values = ctx.referenced_values
    out = ctx.computed
    rate = None
    for slot in layout.fields:
        if slot.field.compute == "ratio" and isinstance(out[slot.cell.name], Decimal):
            rate = out[slot.cell.name]
    fields = {s.field.id: (out[s.cell.name] if s.field.computed else values.get(s.cell.name))
              for s in layout.fields + layout.body_fields()}
    roles = ctx.spec.summary
    if rate is None and not any(s.field.compute == "ratio" for s in layout.fields) and "budget" in roles and "executed" in roles:
        # a form without a rate field of its own (the national one): executed / budget, the same rule
        got = ratio(fields.get(roles["executed"]), fields.get(roles["budget"]))
        rate = got if isinstance(got, Decimal) else None
    grade_slot = layout.grade_field
    grade = out[grade_slot.cell.name] if grade_slot else None
    groups, items, total_weight = family_of(ctx.spec).results(layout, values, out)
    return Results(total=out[layout.total_score.name], total_weight=total_weight, grade=grade or None,
                   execution_rate=rate, fields=fields, groups=groups, items=items)


def verdict_until(report: FileReport, today: dt.date) -> dt.date | None:
    """The first day on which ``report``, made with ``today`` as today, may say something else about the same bytes.

    Only "in the future" depends on the day, and days only move forward: a self-evaluation date in
    the future (``date-in-future``) stops being so on that date; a saved time in the future
    (``saved-time-untrusted``) is trusted from a day before it (:data:`CLOCK_SLACK`), counted a day
    earlier still because that check runs on the clock's UTC time and today is local. None when no
    later day changes the report. The collection ledger makes a report again from that day on
    (and when today is before the day it was made: a clock set back).
    """
    days: list[dt.date] = []
    for f in report.findings:
        if f.code == "date-in-future" and isinstance(f.value, str):
            try:
                days.append(dt.date.fromisoformat(f.value))
            except ValueError:
                days.append(today)  # cannot tell: make it again next time
        elif f.code == "saved-time-untrusted" and report.saved_at is not None:
            saved = report.saved_at if report.saved_at.tzinfo is None else report.saved_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
            if saved > dt.datetime.combine(today, dt.time.max):  # in the future (not: before generation)
                days.append((saved - CLOCK_SLACK).date() - dt.timedelta(days=1))
    return min(days) if days else None


def _saved_time(sub: Submission, today: dt.date | None) -> list[Finding]:
    """A saved time in the future or before generation is not trusted to order resubmissions."""
    now = dt.datetime.combine(today, dt.time.max) if today else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    why = saved_time_problem(sub.saved_at, (sub.meta or {}).get("generated_at"), now)
    if why is None:
        return []
    return [finding("saved-time-untrusted", value=sub.saved_at.isoformat() if sub.saved_at else None, why=why)]
