"""Many files at once: discover them, read and validate each (in this process or in bounded workers),
with progress; and write their annotated copies. Written once for ``validate``, ``collect`` and
the library.

``jobs=None`` works in this process; a number runs that many isolated worker processes with the
per-file memory and time bounds (:mod:`xltemplate.workers`), capped at the CPUs available. The
reports do not depend on it. A collection round (:mod:`xltemplate.rounds`) validates here only the
files its ledger has no report for (sha256, spec hash, :data:`~xltemplate.validate.VALIDATOR_VERSION`,
the run's verdict context and the day), keeping each report as it comes.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import validate
from .annotate import annotate, annotated_names
from .catalog import TemplateLike
from .errors import Unreadable, XltemplateError
from .findings import finding
from .identify import ReaderName, RunContext
from .inputs import Inputs, discover
from .outputs import Protected, check_output
from .report import FileReport, Report
from .workers import Bounds, keep_pool, run_many

Progress = Callable[[int], None]
Each = Callable[[int, FileReport], None]

#: Finding codes whose verdict is the machine's, not the bytes': out of time, a reader that crashed or
#: died, out of memory (``file-too-large`` is also the sniffer's deterministic verdict on declared
#: sizes, but the two cannot be told apart and a sniff is cheap), a file the system would not let us
#: read. A report with one of them may differ next time, so the collection ledger never keeps it.
TRANSIENT = frozenset({"file-timeout", "file-reader-crashed", "file-too-large", "file-unreadable"})


def transient(report: FileReport) -> bool:
    """Whether ``report`` may say something else about the same bytes next time (see :data:`TRANSIENT`)."""
    return any(f.code in TRANSIENT for f in report.findings)


def validate_paths(paths: Sequence[str | os.PathLike[str]], templates: RunContext | TemplateLike | None = None, *,
                   reader: ReaderName | None = None, today: dt.date | None = None, jobs: int | None = None,
                   progress: Progress | None = None) -> Report:
    """Validate every file under ``paths``; every input is in the report, as a file or as skipped.

    ``jobs=None`` validates in this process; a number runs that many isolated worker
    processes with the per-file memory and time bounds (the CLI always does).
    """
    run = RunContext.of(templates, reader=reader, today=today)
    found = discover(list(paths))
    files = validate_files(found.files, run, jobs=jobs, progress=progress)
    return Report(files=files, skipped=found.skipped, identity_verified=run.identity_verified)


def validate_files(files: Sequence[Path], run: RunContext, *, jobs: int | None = None, bounds: Bounds = Bounds(),
                   progress: Progress | None = None, each: Each | None = None, keep: bool = True,
                   pack: Callable[[FileReport], Any] | None = None, held: int = 0) -> list[FileReport]:
    """A report for each file, in order: in this process (``jobs=None``), or in bounded workers.

    ``each(index, report)`` is called as each report is made (in the order they are made); with
    ``keep=False`` that is all (the caller keeps what it needs of each) and the list is empty.
    ``pack`` (a module-level function, with workers only): what a worker sends instead of the report
    is ``pack(report)``, made in the worker, and ``each`` gets that; a report the worker could not make
    (out of time or memory, crashed) still comes as a :class:`FileReport`.
    ``held``: how many files the caller holds something of for its run (see :func:`~xltemplate.workers.run_many`).
    """
    if jobs is None:
        reports = []
        for n, path in enumerate(files):
            report = validate.validate_path(path, run)
            if keep:
                reports.append(report)
            if each:
                each(n, report)
            if progress:
                progress(1)
        return reports
    if TRIM_BEFORE_FORK:
        release_freed_memory()  # the workers are forked from this process: each starts as large as it is now
    if pack is not None:
        return run_many(_validate_packed_task, _validate_failed, files, context=(run, pack), jobs=jobs,
                        bounds=bounds, progress=progress, warm=_warm, each=each, keep=keep, held=held)
    return run_many(_validate_task, _validate_failed, files, context=run, jobs=jobs, bounds=bounds,
                    progress=progress, warm=_warm, each=each, keep=keep, held=held)


#: Give the memory this process freed back to the system before its workers are forked (issue 15: workers ≤ 100 MB
#: whatever N); False: fork as it is (the tests compare the reports).
TRIM_BEFORE_FORK = True


def release_freed_memory() -> bool:
    """Hand the pages the C allocator holds free back to the system (glibc's ``malloc_trim(0)``); whether it could.

    A forked worker's resident size starts at this process's: reading a roster of 100,000 rows, or walking an
    inbox of 100,000 files, leaves tens of MB freed but kept by the allocator (a worker was 94–104 MB at
    100,000 returns, 58 MB at 10,000). Python's own small-object arenas go back when empty, without this.
    Elsewhere than glibc (musl, macOS) there is no such call and nothing is done.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


def validate_many(paths: list[Path], templates: RunContext, *, jobs: int | None = None, reader: ReaderName | None = None,
                  today: dt.date | None = None, bounds: Bounds = Bounds(), progress: Progress | None = None) -> list[FileReport]:
    """Validate ``paths`` in ``jobs`` worker processes (default: every CPU); reports in input order."""
    run = RunContext.of(templates, reader=reader, today=today)
    return run_many(_validate_task, _validate_failed, paths, context=run, jobs=jobs, bounds=bounds,
                    progress=progress, warm=_warm)


def keep_readers(jobs: int | None) -> None:
    """The reading passes from now on keep one pool of ``jobs`` workers (default: every CPU), started now
    (:func:`~xltemplate.workers.keep_pool`; ended by :func:`~xltemplate.workers.end_kept`)."""
    keep_pool(jobs, warm=_warm)


def _warm() -> None:
    """In a worker, before its first file: what reading and validating import."""
    import openpyxl  # noqa: F401 - the styles reader uses openpyxl's number formats

    from .form.family import family_ids, family_named

    for name in family_ids():  # the built-in families, imported: a kept pool's workers start before any spec is resolved
        family_named(name)


def _validate_task(run: RunContext, path: Path) -> FileReport:
    return validate.validate_path(path, run)  # looked up on the module: a test may replace it


def _validate_packed_task(context: tuple[RunContext, Callable[[FileReport], Any]], path: Path) -> Any:
    run, pack = context
    return pack(_validate_task(run, path))


def _validate_failed(path: Path, code: str, what: str) -> FileReport:
    return FileReport.unreadable(str(path), finding(code, "memory" if code == "file-too-large" else "", what=what))


# -- annotated copies -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Annotated:
    """The annotated copy of one return: where it was written, or why it could not be."""

    path: str
    output: str | None = None
    problem: str | None = None  # Chinese: why the copy of this file could not be made (the file's side)
    error: XltemplateError | None = None  # the copy could not be written (the output's side: OutputPathError)


def annotate_many(reports: list[FileReport], outdir: str | Path, *, jobs: int | None = None,
                  bounds: Bounds = Bounds(), protected: Protected | None = None,
                  sources: Mapping[str, Path] | None = None) -> list[Annotated]:
    """Write the annotated copy of each report that needs one, each in a bounded worker.

    ``sources`` maps a report's path to where its bytes are when not there (a ledger's archive copy).

    Names come from :func:`xltemplate.annotate.annotated_names` (unique in the run: one
    department never receives another's copy). With ``protected``, a copy that would land on an
    input, the roster or a device is refused before anything is written. A copy that cannot be
    written (the workbook is too big for openpyxl, or changed since it was validated) is an
    :class:`Annotated` with its problem; the others go on.
    """
    by_path = {r.path: r for r in reports}
    refused: list[Annotated] = []
    tasks = []
    for path, name in annotated_names(reports).items():
        if protected is not None:
            try:
                check_output(Path(outdir) / name, protected)  # never over an input, the roster or a device
            except XltemplateError as exc:
                refused.append(Annotated(path, None, None, exc))
                continue
        source = (sources or {}).get(path)
        tasks.append(_AnnotateTask(by_path[path], str(outdir), name, str(source) if source is not None else None))
    return refused + run_many(_annotate_task, _annotate_failed, tasks, jobs=jobs, bounds=bounds)


@dataclass(frozen=True)
class _AnnotateTask:
    report: FileReport
    outdir: str
    name: str
    source: str | None = None

    @property
    def output(self) -> Path:
        """The file the task writes (a worker stopped mid-write has its temporary file removed)."""
        return Path(self.outdir) / self.name


def _annotate_task(context: Any, task: _AnnotateTask) -> Annotated:
    report = task.report
    try:
        out = annotate(report, task.outdir, task.name, task.source)
    except Unreadable as exc:
        return Annotated(report.path, None, exc.message)
    except XltemplateError as exc:  # the copy cannot be written (OutputPathError and its kin)
        return Annotated(report.path, None, None, exc)
    return Annotated(report.path, None if out is None else str(out))


def _annotate_failed(task: _AnnotateTask, code: str, what: str) -> Annotated:
    return Annotated(task.report.path, None, f"标注副本未能生成：{what}（文件可能过大或被恶意构造）。核对结果不受影响。")


__all__ = ["Annotated", "Bounds", "Inputs", "TRANSIENT", "annotate_many", "discover", "transient", "validate_files",
           "validate_many", "validate_paths"]
