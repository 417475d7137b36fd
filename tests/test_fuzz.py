"""Mutation fuzzing over valid returns (tests/fuzz.py makes the mutants): seeded and repeatable.

The hostile-input promise: whatever a returned file holds, validation gives every
file a report (valid, invalid or unreadable), never an unhandled exception, and
stays within its memory bound.

* ``XLT_FUZZ_CASES`` (default 2000): mutants run through the isolated runner (what the CLI uses);
* ``XLT_FUZZ_SLICE`` (default 200): the first mutants also run in this process with each reader,
  so an exception surfaces here with its traceback;
* ``XLT_FUZZ_SEED`` (default tests.fuzz.DEFAULT_SEED): the run; a failing case is rebuilt alone
  with ``python -m tests.fuzz SEED CASE OUT`` (both numbers are in its file name).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import signal
import time
import traceback
import warnings
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from tests import fuzz
from tests.corpus import TODAY
from xltemplate.identify import RunContext
from xltemplate.report import INVALID, UNREADABLE, VALID
from xltemplate.workers import TIME_LIMIT_S
from xltemplate.batch import validate_paths
from xltemplate.validate import validate_path

SEED = int(os.environ.get("XLT_FUZZ_SEED", str(fuzz.DEFAULT_SEED)))
CASES = int(os.environ.get("XLT_FUZZ_CASES", "2000"))
SLICE = min(CASES, int(os.environ.get("XLT_FUZZ_SLICE", "200")))
MEMORY_BOUND_KIB = 512 * 1024  # ru_maxrss is in KiB on Linux
STATUSES = {VALID, INVALID, UNREADABLE}
CRASHED = "file-reader-crashed"


@pytest.fixture(scope="module")
def templates() -> RunContext:
    return RunContext.builtin()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return fuzz.default_seeds(tmp_path_factory.mktemp("fuzz-seeds"))


@pytest.fixture(scope="module")
def mutants(seeds: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("fuzz") / "returns"
    t0 = time.perf_counter()
    paths = fuzz.make_mutants(seeds, folder, CASES, SEED)
    print(f"\nfuzz: {len(paths)} mutants of {len(seeds)} seeds written in {time.perf_counter() - t0:.1f} s (seed {SEED})")
    return folder, paths


def test_seeds_are_readable_returns(seeds: list[Path], templates: RunContext) -> None:
    """Mutations start from files that read and validate: the damage is all the fuzzer's."""
    assert len(seeds) >= 10
    for path in seeds:
        report = validate_path(path, templates, today=TODAY)
        assert report.status in (VALID, INVALID) and report.template is not None, (path.name, report.findings)


def test_every_mutation_kind_is_exercised(mutants: tuple[Path, list[Path]]) -> None:
    if CASES < 1000:
        pytest.skip("too few cases to expect every kind")
    _, paths = mutants
    tags = Counter(part.split(".")[0] for p in paths for part in p.name.split("-", 3)[3].removesuffix(".xlsx").split("+"))
    missing = [k for k in fuzz.KINDS if tags[k] == 0 and not (k == "cell" and tags["meta"])]
    assert not missing, f"kinds never drawn: {missing} ({dict(tags)})"


def _isolated_run(conn: Connection, folder: Path) -> None:
    """In a fresh process, as the CLI: validate the folder with 2 jobs, then the workers' peak RSS."""
    t0 = time.perf_counter()
    report = validate_paths([folder], RunContext.builtin(), today=TODAY, jobs=2)
    elapsed = time.perf_counter() - t0
    conn.send((report, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, elapsed))
    conn.close()


def test_isolated_run_accounts_for_every_file(mutants: tuple[Path, list[Path]]) -> None:
    """The CLI's path: worker processes, a memory limit, a deadline. No file lost, none crashes a reader.

    The run happens in a freshly spawned process so that RUSAGE_CHILDREN there covers exactly
    its reader workers: in this pytest process it would also hold every earlier test's children
    (LibreOffice among them), and forked workers would inherit this process's own size.
    """
    folder, paths = mutants
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_run, args=(send, folder))
    proc.start()
    send.close()
    try:
        assert receive.poll(max(600.0, len(paths) * 1.0)), "the isolated run did not finish"
        report, rss_kib, elapsed = receive.recv()
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    here_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"\nfuzz: {len(paths)} mutants validated in {elapsed:.1f} s with 2 jobs; {report.summary()}; "
          f"largest reader worker RSS {rss_kib / 1024:.0f} MiB (largest child of this pytest process: {here_kib / 1024:.0f} MiB)")

    problems: list[str] = []
    if report.skipped:
        problems.append(f"skipped, not reported: {report.skipped}")
    names = [Path(r.path).name for r in report.files]
    if len(report.files) != len(paths) or sorted(names) != sorted(p.name for p in paths):
        lost = sorted({p.name for p in paths} - set(names))
        problems.append(f"{len(paths)} files written, {len(report.files)} reports; without a report: {lost[:50]}")
    odd = [(n, r.status) for n, r in zip(names, report.files) if r.status not in STATUSES]
    if odd:
        problems.append(f"unknown statuses: {odd[:50]}")
    if rss_kib >= MEMORY_BOUND_KIB:
        problems.append(f"a reader worker peaked at {rss_kib / 1024:.0f} MiB, over the {MEMORY_BOUND_KIB // 1024} MiB bound")
    crashed = sorted(((f.message, Path(r.path).name) for r in report.files for f in r.findings if f.code == CRASHED))
    if crashed:
        problems.append(f"{len(crashed)} of {len(paths)} files crashed a reader ({CRASHED}: an unhandled exception):\n"
                        + "\n".join(f"  {name}: {message}" for message, name in crashed))
    # The runner turns a MemoryError into "file-too-large"; from a file this small it means validation
    # blew a few bytes up into over MEMORY_LIMIT_MB, and the file was refused for the validator's fault.
    blown = sorted(Path(r.path).name for r in report.files
                   if any(f.code == "file-too-large" and "内存" in f.message for f in r.findings)
                   and Path(r.path).stat().st_size < 20 * 1024 * 1024)
    if blown:
        problems.append(f"{len(blown)} small files hit the worker memory limit (reported file-too-large):\n"
                        + "\n".join(f"  {name}" for name in blown))
    timeouts = [Path(r.path).name for r in report.files if any(f.code == "file-timeout" for f in r.findings)]
    if timeouts:
        print(f"fuzz: {len(timeouts)} files hit the per-file deadline: {timeouts}")
    assert not problems, "\n".join(problems)
    if CASES >= 200:  # the mutants reach validation, not only the unzip step
        assert report.count(VALID) and report.count(INVALID) and report.count(UNREADABLE), report.summary()


class _Deadline(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Deadline(f"still running after {TIME_LIMIT_S:g} s (the runner's per-file deadline)")


def _run_in_process(paths: list[Path], templates: RunContext, reader: str) -> tuple[int, list[str]]:
    """Validate in this process; every exception (and every hang), grouped by where it was raised, with a traceback."""
    failures: dict[tuple[str, str], list[str]] = defaultdict(list)
    first: dict[tuple[str, str], str] = {}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for path in paths:
            _run_one(path, templates, reader, failures, first)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out = []
    for key, cases in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        out.append(f"== {key[0]} at {key[1]}: {len(cases)} file(s)\n" + "\n".join(f"  {c}" for c in cases)
                   + "\n-- first traceback:\n" + first[key])
    return sum(len(c) for c in failures.values()), out


def _run_one(path: Path, templates: RunContext, reader: str, failures: dict[tuple[str, str], list[str]],
             first: dict[tuple[str, str], str]) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about what it repairs
            signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
            try:
                report = validate_path(path, templates, reader=reader, today=TODAY)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except Exception as exc:  # noqa: BLE001 - that is the point
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        key = (type(exc).__name__, f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}")
        failures[key].append(f"{path.name}: {str(exc)[:150]}")
        first.setdefault(key, "".join(traceback.format_exception(exc)))
        return
    assert report.status in STATUSES, (path.name, report.status)
    assert not any(f.code == CRASHED for f in report.findings), (path.name, report.findings)


@pytest.mark.parametrize("reader", ["fast", "openpyxl"])
def test_readers_never_raise(mutants: tuple[Path, list[Path]], templates: RunContext, reader: str) -> None:
    """The first mutants in this process: a bug shows here as the exception and its traceback."""
    _, paths = mutants
    t0 = time.perf_counter()
    count, failures = _run_in_process(paths[:SLICE], templates, reader)
    print(f"\nfuzz: {SLICE} mutants validated in process with reader={reader} in {time.perf_counter() - t0:.1f} s")
    assert not count, f"validate_path(reader={reader!r}) raised on {count} of {SLICE} mutants:\n" + "\n".join(failures)


def test_same_seed_same_mutants(seeds: list[Path], tmp_path: Path) -> None:
    """Repeatable: a seed gives byte-identical files, and any one case can be rebuilt alone."""
    n = 60
    a = fuzz.make_mutants(seeds, tmp_path / "a", n, SEED)
    b = fuzz.make_mutants(seeds, tmp_path / "b", n, SEED)
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert len({p.name for p in a}) == n and not any(p.name.startswith("~$") for p in a)
    (alone,) = fuzz.make_mutants(seeds, tmp_path / "c", 1, SEED, start=37)
    assert alone.name == a[37].name and alone.read_bytes() == a[37].read_bytes()
    other = fuzz.make_mutants(seeds, tmp_path / "d", n, SEED + 1)
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in a]


@pytest.mark.parametrize("seed", [20261127])
def test_other_seeds_make_mutants(seeds: list[Path], tmp_path: Path, seed: int) -> None:
    """XLT_FUZZ_SEED may be any seed: one whose UTF-16 injection meets a part an earlier mutation left not UTF-8
    (20261127, found by natk) makes its mutants instead of stopping the fuzz run with UnicodeDecodeError."""
    paths = fuzz.make_mutants(seeds, tmp_path / "m", 2000, seed)
    assert len(paths) == 2000 and len({p.read_bytes() for p in paths}) > 1900
