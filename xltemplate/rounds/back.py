"""``round annotate``: the annotated copies to send back, of exactly the units whose counted return is invalid.

From the last finished run's decisions: each unit (on the roster, when the round has one) whose
counted file is invalid gets an annotated copy of that file, made from its archive copy (the bytes
that were judged, even if the inbox file was deleted or overwritten since) in the bounded workers
(:func:`xltemplate.batch.annotate_many`), named after the file as the unit sent it
(``<key>_<name>_批注.xlsx``), so the clerk can send each one back as it is.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..batch import Annotated, annotate_many
from ..errors import OutputPathError
from ..ledger import Ledger
from ..outputs import Protected, check_output_dir, within
from ..pathtext import shown
from ..report import report_from_text
from ..words import INVALID


def annotate_round(ledger: str | os.PathLike[str], outdir: str | os.PathLike[str], *, jobs: int | None = None
                   ) -> list[Annotated]:
    """Write the annotated copies into ``outdir``; one :class:`Annotated` per invalid unit.

    Refuses (:class:`OutputPathError`) a folder inside the round's input folders (the next run would
    read the copies as returns) or inside the ledger's archive.
    """
    out = Path(outdir)
    with Ledger.open(Path(ledger), readonly=True) as led:
        run = led.summary().run
        protected = Protected.of(run.inputs)
        check_output_dir(out, protected)
        if within(os.path.realpath(out), os.path.realpath(led.archive.root)):
            raise OutputPathError(f"输出文件夹 {shown(out)} 在台账的归档文件夹中；请写到别的文件夹")
        roster = led.roster(run)
        keys = set(roster.by_key()) if roster is not None else None
        chosen = [d for d in led.decisions(run) if d.status == INVALID and (keys is None or d.unit_key in keys)]
        stored = led.reports(run, [d.sha256 for d in chosen])
        files = {f.sha256: f for f in led.files(run)}
        reports, sources = [], {}
        for d in chosen:
            f = files[d.sha256]
            path = f.last_path or str(led.archive.path(f.archive_name))
            report = report_from_text(stored[d.sha256].payload)
            report = replace(report, path=path, findings=[replace(x, file=path) if x.file else x for x in report.findings])
            reports.append(report)
            sources[path] = led.archive.path(f.archive_name)
    return annotate_many(reports, out, jobs=jobs, protected=protected, sources=sources)


__all__ = ["annotate_round"]
