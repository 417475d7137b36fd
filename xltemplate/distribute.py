"""One prefilled, locked workbook per roster row, plus a manifest."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from .catalog import TemplateLike, as_spec
from .errors import OutputPathError, OutputWriteError
from .form.generate import Generated, generate_workbook
from .fsutil import build_time, os_error_reason, output_dir, sweep, write_atomic
from .inputs import WORKBOOK_SUFFIXES
from .outputs import Protected, check_output
from .pathtext import safe_filename
from .roster import Roster, RosterRow
from .sign import Keyring
from .signals import deferred, part_prefix, pool_worker_started
from .targets import TargetsTable
from .spec import Spec
from .text import csv_cell, csv_text
from .workers import pool_size

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Distribution:
    outdir: Path
    files: tuple[Generated, ...]
    manifest: Path
    removed: tuple[str, ...] = ()  # stale workbooks of the previous run, removed with force


def distribute(spec: TemplateLike, roster: Roster, outdir: str | Path, *, password: str | None = None,
               generated_at: dt.datetime | None = None, jobs: int | None = None, force: bool = False,
               keyring: Keyring | None = None, protected: Protected | None = None,
               targets: TargetsTable | None = None) -> Distribution:
    """Write one workbook per roster row into ``outdir`` and a ``manifest.csv``.

    The roster was fully checked when it was read, so nothing is written for a bad one.
    ``jobs`` worker processes share the writing (default: the CPUs available, and never more); each
    workbook is independent, so the files are the same whatever the number.

    A folder that already holds workbooks is refused unless ``force``; with it, the
    workbooks of the previous run (listed in the old ``manifest.csv``) that the new roster
    no longer has are removed, and a workbook no manifest lists (perhaps the clerk's own)
    is never touched: the run is refused and names it. The workbooks are written into a
    temporary folder inside ``outdir`` and moved into place only when all of them are
    written, so a failure (a full disk) leaves the folder as it was. ``keyring``: every
    workbook's identity is signed with its first secret (:mod:`xltemplate.sign`). ``protected``:
    the roster and the secret file, which no workbook, manifest or removal may touch. ``targets``:
    each row's own indicators (:mod:`xltemplate.targets`), locked and prefilled in its workbook; a
    row without any gets the blank form (the table's reader refuses that when given the roster).
    """
    spec = as_spec(spec)
    outdir = Path(outdir)
    stamp = build_time(generated_at)
    used: set[str] = set()
    names: list[str] = []
    for row in roster.rows:
        unit, project = _identity(spec, row)
        name = safe_filename(row.key, unit, project)
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate, n = f"{name}_{n}", n + 1
        used.add(candidate.lower())
        names.append(f"{candidate}.xlsx")
    stale = _check_existing(outdir, names, force)
    for name in [*names, MANIFEST, *stale]:
        check_output(outdir / name, protected or Protected())
    with output_dir(outdir):
        files = _write_all(spec, roster, outdir, names, password, stamp, jobs, keyring, targets)
        manifest = outdir / MANIFEST

        def write(tmp: Path) -> None:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(["key", "unit", "project", "file", "sha256"])
            for row, g in zip(roster.rows, files):
                # Neutralised like every CSV we write: a unit named "=HYPERLINK(…)" stays text in Excel.
                w.writerow([csv_cell(v) for v in (row.key, *_identity(spec, row), g.path.name, g.sha256)])
            tmp.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")

        write_atomic(manifest, write)
    removed = []
    for name in stale:
        try:
            (outdir / name).unlink()
        except OSError as exc:
            raise OutputWriteError(str(outdir / name), os_error_reason(exc)) from exc
        removed.append(name)
    return Distribution(outdir, tuple(files), manifest, tuple(removed))


def _write_all(spec: Spec, roster: Roster, outdir: Path, names: list[str], password: str | None,
               stamp: dt.datetime, jobs: int | None, keyring: Keyring | None = None,
               targets: TargetsTable | None = None) -> list[Generated]:
    """Write every workbook into a temporary folder inside ``outdir``, then move them all into place."""
    import os
    import shutil
    import tempfile

    staging: Path | None = None
    sweep(outdir / "generate")  # a generate killed outright left its staging folder, every workbook made in it
    try:
        with deferred():  # a signal between making the folder and knowing its name would leak it
            try:
                staging = Path(tempfile.mkdtemp(prefix=part_prefix("generate"), suffix=".part", dir=outdir))
            except OSError as exc:
                raise OutputWriteError(str(outdir), os_error_reason(exc)) from exc
        tasks = [(spec, staging / name, password, row.prefill, row.key, stamp, keyring,
                  targets.by_key.get(row.key) if targets is not None else None) for row, name in zip(roster.rows, names)]
        jobs = pool_size(jobs, len(tasks))  # capped at the CPUs this process may use, as every pool is
        if jobs == 1 or len(tasks) < 20:
            made = [_one(t) for t in tasks]
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            # Pool.__exit__ terminates the workers at once: on Ctrl-C or SIGTERM none of them goes on
            # writing into the staging folder while it is removed below (a half-written workbook goes
            # with the folder, so the workers need no finally blocks: SIGTERM kills them outright).
            with ctx.Pool(jobs, initializer=pool_worker_started, initargs=(os.getpid(),)) as pool:
                # Small chunks: a workbook is ~10 ms, and the last chunk of one worker is time the other waits.
                made = pool.map(_one, tasks, chunksize=max(1, len(tasks) // (jobs * 32)))
        files = []
        for g in made:
            final = outdir / g.path.name
            try:
                os.replace(g.path, final)
            except OSError as exc:
                raise OutputWriteError(str(final), os_error_reason(exc)) from exc
            files.append(Generated(final, g.key, g.sha256))
        return files
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _check_existing(outdir: Path, names: list[str], force: bool) -> list[str]:
    """The stale workbooks to remove after writing; refuse what must not be overwritten or removed."""
    if not outdir.is_dir():
        return []
    present = sorted(p.name for p in outdir.iterdir()
                     if p.suffix.lower() in WORKBOOK_SUFFIXES and not p.name.startswith("~$") and p.is_file())
    if not present:
        return []
    if not force:
        raise OutputPathError(f"文件夹 {outdir} 中已有 {len(present)} 个工作簿（{_some(present)}），未覆盖；"
                              "如要按本次名单重新生成并替换上次生成的工作簿，请加 --force，或换一个空文件夹")
    listed = {n.lower() for n in _manifest_files(outdir / MANIFEST)}
    new = {n.lower() for n in names}
    foreign = [n for n in present if n.lower() not in listed and n.lower() not in new]
    if foreign:
        raise OutputPathError(f"文件夹 {outdir} 中有 {len(foreign)} 个工作簿不在上次的 {MANIFEST} 中，可能是您自己的文件，"
                              f"不会删除（{_some(foreign)}）；请把它们移走，或换一个空文件夹")
    return [n for n in present if n.lower() not in new]


def _manifest_files(path: Path) -> list[str]:
    """The file names an earlier run's manifest lists (none when there is no readable manifest)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    return [csv_text(r["file"]) for r in csv.DictReader(io.StringIO(text)) if r.get("file")]


def _some(names: list[str], n: int = 5) -> str:
    return "、".join(names[:n]) + (f" 等 {len(names)} 个" if len(names) > n else "")


def _one(task: tuple) -> Generated:
    spec, path, password, prefill, key, stamp, keyring, targets = task
    return generate_workbook(spec, path, password=password, prefill=prefill, roster_key=key, generated_at=stamp,
                             keyring=keyring, targets=targets)


def _identity(spec: Spec, row: RosterRow) -> tuple[str, str]:
    """The unit and project names of a roster row, through the spec's summary roles."""
    return row.label(spec.summary.get("unit", "")), row.label(spec.summary.get("project", ""))
