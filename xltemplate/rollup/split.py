"""指标得分's rows written by a second process while this one writes the rest of the roll-up (issue 15); 文字材料's
too, in the same pass (:data:`TEXTS_TOO`: what is said of 指标得分 below holds for each sheet it writes).

指标得分 holds about half of the roll-up's cells, and the roll-up is written after the last worker has
ended, by one process, with the other CPU idle. Here a child forked at the start of the pass over the units
(:meth:`xltemplate.rollup.workbook._Writer._in_one_pass`) writes the sheet's rows into a file of its own,
through the same code (it has the writer, its sheet and the collection, as they are when it is forked); this
process passes over the units as before without making that sheet's rows. The child also sums them for 统计
(``tables.ScoreTotals``) and sends the sums back when it has written them, as a round's kept sheet gives its sums
back (:func:`~xltemplate.rollup.reuse.restore_sums`); before the workbook is closed this process puts the child's
rows into the sheet where its own would have gone. The bytes are those of one process:

- the rows are the same rows, made by the same code from the same reports (the child loads them from the
  spill through a file description of its own: the spill's offset is not shared);
- a cell's format is numbered (its ``s`` index) in the order formats are first written out. The child does
  not number any: it writes a token for each format (``\\x01`` and the format's place in the workbook; a cell's
  own text can never hold a raw control character, XlsxWriter escapes it). Once this process has passed over
  the units it sends the child the numbers it gave, and the child writes them in while this process writes the
  sheets after the pass. Every format the child's rows use is numbered by then, in the same order as in one
  process: each unit's 汇总 row uses every format that unit's 指标得分 row uses, and is written out first (see
  ``_in_one_pass``). Should one not be (it would be a bug), it is numbered when the rows are taken: a sound
  workbook, whose bytes may differ.

Only for a collection of collect's own (its reports in a spill, not a round's ledger: a SQLite connection
is not for a forked process), with the lean writer's rows, 200 units or more, with more than one CPU to use,
on a system that forks and has /proc (Linux), while this process is small enough that the child stays within the
workers' memory bound (:data:`SPLIT_PARENT_MB`: at 10,000 units it is, at 100,000 it is not). The child loads the reports again and makes the score rows
itself: about 2 s of CPU at 10,000 units against 0.7 s less in this process (bench/README.md). That pays
when the other CPU is idle, as it is once the workers have ended on a machine doing nothing else; on a
machine busy with other work it costs wall time. A
child that fails stops the roll-up with an error (no half-written sheet is ever given; a full disk under its files
is said as the run's temporary folder's, :func:`~xltemplate.fsutil.scratch_full`). Switch: :data:`SPLIT`.

The child is not under the workers' bounds (:mod:`xltemplate.workers`: an address-space limit and a deadline per
file). Those turn a hostile file into a finding for that file while the others go on; the child parses no outside
bytes (it unpickles only reports this run's workers pickled under those bounds, and reads this run's store), and a
bound that fired would stop the roll-up with no way on, the parent having left the rows to it. What keeps it within
the issue's 100 MB is that what it holds does not grow with N (measured: see :data:`SPLIT_PARENT_MB`), and that it
is forked only from a parent below :data:`SPLIT_PARENT_MB`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from ..errors import GenerateError, XltemplateError
from ..fsutil import scratch_error, scratch_full
from ..signals import held_for_a_child, worker_started
from ..workers import available_cpus
from .lean import RowSizes

if TYPE_CHECKING:
    from .collect import Collection

#: Write 指标得分's rows in a second process (see the module); False: in this one (the tests compare the bytes).
SPLIT = True
#: Fewer units than this: one process (forking and joining cost more than the rows).
SPLIT_FROM = 200
#: This process larger than this (resident MB) when the pass starts: one process. The child starts as large as this
#: process (its pages shared, but counted in its resident size) and grows by what it holds while it writes: some
#: 4-5 MB, the same at any N (35 MB from 31 at 10,000 units, 40 from 36 at 100,000; it was 30-60 MB more before its
#: rows were numbered a piece at a time, :data:`SMALL_CHUNKS`), so that a much larger parent would make a child past
#: the 100 MB each process beside this one is held to (issue 15). Measured at the fork.
SPLIT_PARENT_MB = 55

_TOKEN = re.compile(rb' s="\x01(\d+)"')


def token(n: int) -> str:
    """What the workbook's ``n``-th format is numbered as until its number is given (:data:`_TOKEN` finds it)."""
    return f"\x01{n}"


def possible(c: "Collection", units: int) -> bool:
    """Whether 指标得分's rows can be written by a second process for ``c`` (see the module)."""
    spill = getattr(c, "spill", None)
    return (SPLIT and units >= SPLIT_FROM and available_cpus() > 1 and c.round is None and spill is not None and getattr(spill, "_fh", None) is not None
            and "fork" in mp.get_all_start_methods() and sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")
            and resident_mb() <= SPLIT_PARENT_MB)


def resident_mb() -> float:
    """This process's resident size now, in MB (Linux; elsewhere infinite: never split)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return float("inf")


class Second:
    """The child writing a sheet's rows (:func:`start`): told the formats' numbers once this process has given them
    (:meth:`numbered`), and its rows put into the sheet (:meth:`join`)."""

    def __init__(self, proc: Any, conn: Any, paths: dict[str, Path]) -> None:
        self.proc, self.conn, self.paths = proc, conn, paths
        self.path = next(iter(paths.values()))  # (the first sheet's: 指标得分's)
        self._joined = 0

    def rows_done(self) -> Any:
        """What ``rows()`` gave in the child, once it has written them (waits for it)."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join()
            raise _failed(self.proc.exitcode, "指标得分") from None

    def numbered(self, wb: Any) -> None:
        """The formats numbered so far (every one the child's rows use, see the module), sent to the child, which
        writes them in while this process goes on."""
        with contextlib.suppress(BrokenPipeError, OSError):  # (a child that died: join says so)
            self.conn.send({n: f.xf_index for n, f in enumerate(wb.formats) if f.xf_index is not None})

    def join(self, wb: Any, ws: Any) -> None:
        """Wait for the child; its rows of ``ws`` into ``ws`` (where this process's own would be): once for each sheet
        it wrote (:func:`start`)."""
        if not self._joined:
            self.proc.join()
            self.conn.close()
            if self.proc.exitcode != 0:
                raise _failed(self.proc.exitcode, ws.name)
        self._joined += 1
        path = self.paths[ws.name]
        state = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        ws.fh.flush()  # (the sheet's text so far, then the child's bytes after it, through the same file)
        out = ws.fh.buffer
        with open(path, "rb") as src:
            if not state["unnumbered"]:
                shutil.copyfileobj(src, out, CHUNK if SMALL_CHUNKS else 1 << 20)
            else:  # (a bug, see the module: numbered now, and written in here)
                formats = wb.formats
                _substitute(src, out, lambda n: formats[n]._get_xf_index(), set())
        for name in ("dim_rowmin", "dim_rowmax", "dim_colmin", "dim_colmax", "previous_row"):
            setattr(ws, name, state[name])
        with open(f"{path}.sizes", "rb") as f:  # (pickled by the child, forked from this process: see _child)
            sizes = pickle.load(f)
        ws.row_sizes = joined_sizes(ws.row_sizes, sizes)

    def stop(self) -> None:
        """The child, ended (the roll-up stopped before its rows were taken)."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()

    @property
    def joined(self) -> bool:
        """Whether the rows of every sheet the child wrote are taken."""
        return self._joined >= len(self.paths)


#: The child's exit code for a full disk under its files (TMPDIR): the parent says so (:func:`_failed`).
_FULL_CODE = 3


def _failed(code: int | None, sheet: str) -> XltemplateError:
    """What the user is told of a child that ended with ``code`` before its rows were taken."""
    if code == _FULL_CODE:
        return scratch_full()
    return GenerateError(f"汇总表的“{sheet}”工作表未能写出（写入它的进程异常退出，代码 {code}）。请重新运行。")


def joined_sizes(own: Any, child: Any) -> Any:
    """The sheet's row sizes once the child's rows are in: this process's (the heading's: a few) and the child's
    (one a unit), the child's winning where both have a row. Where the child's are compact (a
    :class:`~xltemplate.rollup.lean.RowSizes`) they are taken as they are, with this process's few put in; taking
    them one by one made a ``[pixels, hidden]`` list and a dict entry a unit in this process, ~15 MB at 100,000 units
    while it writes the last sheets (issue 15: the write phase's peak). Either is a mapping XlsxWriter reads alike."""
    if JOIN_COMPACT and isinstance(child, RowSizes):
        for row, size in own.items():
            if row not in child:
                child[row] = size
        return child
    for row, size in child.items():  # (a dict, or a lean.RowSizes: either takes the other's rows one by one)
        own[row] = size
    return own


#: The child's compact row sizes taken as they are at the join (:func:`joined_sizes`); False: row by row into this
#: process's (the tests compare).
JOIN_COMPACT = True


def _substitute(src: IO[bytes], out: IO[bytes], number: Callable[[int], Any], missing: set[int]) -> None:
    """``src`` into ``out``, each format's token replaced by ``number(n)`` (None: left, and ``n`` put in ``missing``).

    As bytes (the token is ASCII, and UTF-8 never puts an ASCII byte inside a character), :data:`CHUNK` bytes at a
    time: what this holds does not grow with the rows (issue 15: 4 M characters at a time, as text, was a decoded
    chunk, its substitute and its encoding, some 40 MB of the child's peak at any N)."""
    got: dict[bytes, bytes] = {}

    def one(m: re.Match[bytes]) -> bytes:
        text = got.get(m.group(1))
        if text is None:
            n = int(m.group(1))
            xf = number(n)
            if xf is None:
                missing.add(n)
                return m.group(0)
            text = got[m.group(1)] = b' s="%d"' % int(xf)
        return text

    if not SMALL_CHUNKS:
        while True:
            chunk = src.read(1 << 22)
            if not chunk:
                return
            while not chunk.endswith(b">"):  # (a row ends in ">", and a token holds none: it is never cut in two)
                more = src.read(4096)
                if not more:
                    break
                chunk += more
            out.write(_TOKEN.sub(one, chunk))
    rest = b""
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            if rest:
                out.write(_TOKEN.sub(one, rest))
            return
        if rest:
            chunk = rest + chunk
        # up to the last ">" (a token holds none: it is never cut in two), the rest kept for the next piece; not
        # reading on until a piece ends in ">", which could take a row's worth of long texts at a time
        cut = chunk.rfind(b">") + 1
        rest = chunk[cut:]
        if cut:
            out.write(_TOKEN.sub(one, chunk[:cut]))


#: (the roll-up's writer writes a sheet's rows ahead the same way: workbook._Ahead)
substitute = _substitute

#: What :func:`_substitute` and the join read at a time (bytes).
CHUNK = 1 << 16
#: :data:`CHUNK` bytes at a time; False: 4 MB (the tests compare; bench/README's eighth pass).
SMALL_CHUNKS = True


def start(wb: Any, ws: Any, c: "Collection", rows: Callable[[], Any], scratch: Path) -> Second:
    """Fork the child that writes the rows of ``ws`` (a sheet, or a list of sheets whose rows it writes in one pass:
    see :data:`TEXTS_TOO`) by calling ``rows()`` (each sheet's into a file of its own in ``scratch``; what it returns
    comes back by :meth:`Second.rows_done`); this process goes on with the rest. Each sheet's rows so far are written
    out first: the child's start where they end."""
    sheets = list(ws) if isinstance(ws, (list, tuple)) else [ws]
    for one in sheets:
        one._write_single_row(one.previous_row + 1)  # (the heading's last row, as writing the first row would)
        one.fh.flush()
    c.spill._fh.flush()  # type: ignore[union-attr]
    paths = {one.name: scratch / f"split-{os.getpid()}-{one.name.encode().hex()}.xml" for one in sheets}
    ctx = mp.get_context("fork")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(wb, sheets, c, rows, paths, theirs, os.getpid()), daemon=True)
    with held_for_a_child():
        proc.start()
    theirs.close()
    return Second(proc, mine, paths)


#: The second process writes 文字材料's rows too, in its pass over the units (:meth:`~xltemplate.rollup.workbook._Writer.
#: _in_one_pass`), where this process wrote them: their heights measured (printing.wrapped_lines), their texts cut
#: into continued rows, about a quarter of this process's CPU in the roll-up (10,000 units: ~2 s of ~8 s, measured
#: on this session's machine), while the child, which loads each unit's report for 指标得分 anyway, had half as much
#: to do as this process. False: 指标得分 alone (the tests compare the bytes).
TEXTS_TOO = True


def _child(wb: Any, ws: Any, c: "Collection", rows: Callable[[], Any], paths: Any, conn: Any, parent: int) -> None:
    """In the child: the rows (formats as tokens), then, told the parent's numbers, the rows with them, each sheet's
    state after them, and out (``os._exit``: nothing of the parent's is flushed or finalised twice, its buffered
    output included). ``ws``: a sheet or a list of them, ``paths`` their files (a path, or the paths by sheet name)."""
    worker_started(parent)  # ignore Ctrl-C, die on SIGTERM, die with the parent
    try:
        sheets = list(ws) if isinstance(ws, (list, tuple)) else [ws]
        where = paths if isinstance(paths, dict) else {sheets[0].name: paths}
        spill = c.spill
        assert spill is not None and spill._fh is not None
        spill._fh = open(f"/proc/self/fd/{spill._fh.fileno()}", "rb")  # an offset of its own  # noqa: SIM115
        if spill.units is not None:  # (the returns and rows kept on disk too, collect.STORE: the same)
            spill.units.own_offset()
        for n, fmt in enumerate(wb.formats):
            fmt.xf_index = token(n)  # numbered by the parent (see the module)
        with contextlib.ExitStack() as stack:
            for one in sheets:
                one.fh = stack.enter_context(open(Path(f"{where[one.name]}.rows"), "w", encoding="utf-8"))
            done = rows()
            for one in sheets:
                one._write_single_row(one.previous_row + 1)  # the last row
        conn.send(done)
        numbers = conn.recv()
        for one in sheets:
            path = where[one.name]
            rough = Path(f"{path}.rows")
            missing: set[int] = set()
            with open(rough, "rb") as src, open(path, "wb") as out:
                _substitute(src, out, numbers.get, missing)
            rough.unlink()
            state: dict[str, Any] = {name: getattr(one, name) for name in ("dim_rowmin", "dim_rowmax", "dim_colmin", "dim_colmax", "previous_row")}
            # the rows' heights as the sheet holds them (lean.RowSizes: about 3 bytes a row, where a JSON object of
            # every row was some 150 bytes a row held by the parent while it loaded it: over 100 MB at 100,000 units)
            with open(f"{path}.sizes", "wb") as f:
                pickle.dump(one.row_sizes, f, protocol=pickle.HIGHEST_PROTOCOL)
            state["unnumbered"] = sorted(missing)
            Path(f"{path}.json").write_text(json.dumps(state), encoding="utf-8")
    except BaseException as exc:  # (a bug, or the parent gone: said on stderr; the parent stops the roll-up)
        if scratch_error(exc) is not None:  # (a full disk: the parent says it, in Chinese, naming the folder)
            os._exit(_FULL_CODE)
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


__all__ = ["SPLIT", "SPLIT_FROM", "SPLIT_PARENT_MB", "Second", "TEXTS_TOO", "possible", "resident_mb", "start"]
