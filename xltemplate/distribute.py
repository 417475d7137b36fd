"""One prefilled, locked workbook per roster row, plus a manifest."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .fsutil import build_time, write_atomic
from .generate import Generated, generate_workbook
from .roster import Roster, RosterRow
from .spec import Spec

MANIFEST = "manifest.csv"
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_MAX_NAME = 120


@dataclass(frozen=True)
class Distribution:
    outdir: Path
    files: tuple[Generated, ...]
    manifest: Path


def safe_filename(*parts: str) -> str:
    """A readable file name from the parts (Chinese kept), safe on Windows, macOS and Linux."""
    text = "_".join(p for p in (unicodedata.normalize("NFC", str(x)).strip() for x in parts) if p)
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = re.sub(r"_+", "_", text)
    if len(text) > _MAX_NAME:
        text = text[:_MAX_NAME].rstrip(" ._")
    return text or "workbook"


def distribute(spec: Spec, roster: Roster, outdir: str | Path, *, password: str | None = None,
               generated_at: dt.datetime | None = None, jobs: int | None = None) -> Distribution:
    """Write one workbook per roster row into ``outdir`` and a ``manifest.csv``.

    The roster was fully checked when it was read, so nothing is written for a bad one.
    ``jobs`` worker processes share the writing (default: the machine's cores); each
    workbook is independent, so the files are the same whatever the number.
    """
    import os

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = build_time(generated_at)
    used: set[str] = set()
    tasks = []
    for row in roster.rows:
        unit, project = _identity(spec, row)
        name = safe_filename(row.key, unit, project)
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate, n = f"{name}_{n}", n + 1
        used.add(candidate.lower())
        tasks.append((spec, outdir / f"{candidate}.xlsx", password, row.prefill, row.key, stamp))
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1 or len(tasks) < 20:
        files = [_one(t) for t in tasks]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            files = list(pool.map(_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))
    manifest = outdir / MANIFEST

    def write(tmp: Path) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["key", "unit", "project", "file", "sha256"])
        for row, g in zip(roster.rows, files):
            w.writerow([row.key, *_identity(spec, row), g.path.name, g.sha256])
        tmp.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")

    write_atomic(manifest, write)
    return Distribution(outdir, tuple(files), manifest)


def _one(task: tuple) -> Generated:
    spec, path, password, prefill, key, stamp = task
    return generate_workbook(spec, path, password=password, prefill=prefill, roster_key=key, generated_at=stamp)


def _identity(spec: Spec, row: RosterRow) -> tuple[str, str]:
    """The unit and project names of a roster row, through the spec's summary roles."""
    return row.label(spec.summary.get("unit", "")), row.label(spec.summary.get("project", ""))
