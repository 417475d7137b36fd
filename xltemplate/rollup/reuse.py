"""A round's roll-up keeps its big sheets for the next run (issue 15: a round's second run ≤ 3 s).

指标得分 and 文字材料 are most of a roll-up's bytes and of the time to write it, and over an unchanged
inbox they do not change from one run to the next (汇总's "since the last run" columns do: it is written
every time); nor, mostly, does 文件清单, whose rows are made from the briefs (its key is made from its rows'
values, :func:`rows_digest`), nor 提交记录's rows (made from the ledger), though its note names the run: it is
given with this run's note row in place of the kept one's (:data:`SPLICED`); nor 问题清单, made from the reports with
findings and what matching added (its key: :func:`returns_digest`). A collection round (:mod:`xltemplate.rounds`) gives the writer
:class:`Parts`: the sheets the last finished run kept in the ledger, each with its key, a sha256 of
everything the sheet is made from:

- each row, in order: the unit's key, its roster row, its status, and the identity of its counted
  report (the file's sha256 and the run that stored the report: a report made again, under a new
  verdict context or day, is another report);
- the template spec's hash, the validator version, the sheet's name and position;
- the writer: a digest of xltemplate's own source code, XlsxWriter's version, the fast-path switches;
- the workbook's format numbering when the sheet starts (every format's XF index so far).

When the key matches, the sheet is set up as usual (columns, title, header rows, print setup, which
the workbook part reads) but its rows are not written: its XML part is given whole
(:class:`KeptSheet`) and what writing the rows leaves behind (the last row for the autofilter, the
sums 统计 reads) is restored from the kept state; the rows' reports are never loaded. Otherwise the
sheet is written as always and, once XlsxWriter has assembled its part, kept for the next run; the
run stores what it kept in the transaction that finishes it (:meth:`Ledger.store_parts`).

The formats a sheet's own rows number first (文件清单 is the first to use the date-time format) are
kept with it, in the order they were numbered, and numbered again in that order when it is given:
then leaving its rows out changes nothing in the numbering of the sheets after it. A part is not kept
when another sheet numbered a format while its rows numbered theirs (the one-pass writer writes rows
of several sheets in turn), or when its last row (which XlsxWriter writes out only when the workbook
is closed, after the other sheets) numbered a format. So the bytes are those of writing it anew (the
tests compare, over several runs, with :data:`REUSE` off). The key is compared in full; the part's XML
is our own, from our own ledger, as the stored reports are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import operator
import os
import re
import struct
import tempfile
import zipfile
import zlib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import xlsxwriter
import xlsxwriter.utility
import xlsxwriter.workbook

from .lean import LeanSheet

if TYPE_CHECKING:
    from .collect import Collection, Return

#: Reuse a sheet the last run kept when nothing it is made from changed; False: write every sheet anew (the tests
#: compare the bytes).
REUSE = True
#: The sheets kept (a sheet of the roll-up with rows per unit that no run-to-run column touches).
KEPT_SHEETS = ("指标得分", "文字材料", "文件清单", "提交记录", "问题清单")
#: The kept sheets whose heading's note names the run (提交记录): kept with it, and given with this run's note row
#: put in its place (:meth:`KeptSheet.give`).
SPLICED = {"提交记录": 2}
_CHUNK = 1 << 16  # (a part is streamed in pieces of this many bytes, compressed or not)


@functools.lru_cache(maxsize=1)
def writer_digest() -> str:
    """A sha256 of what writes a sheet: xltemplate's source (every module: a change anywhere may change a sheet)
    and XlsxWriter's version."""
    h = hashlib.sha256(f"xlsxwriter {xlsxwriter.__version__}\n".encode())
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


class Parts:
    """The sheets kept by the last finished run (name → key, state, zlib XML), and those this run keeps.

    ``report_id(ret)``: what identifies a counted return's report (None: it cannot be told, and no sheet that
    shows it is reused)."""

    def __init__(self, kept: Mapping[str, Sequence[Any]], report_id: Callable[["Return"], str | None],
                 sink: "Callable[[str, str, str, bytes | Slice], bool] | None" = None) -> None:
        self.kept = kept
        self.report_id = report_id
        self.made: dict[str, tuple[str, str, bytes]] = {}  # kept by this run (none held with a sink: see keep)
        self.sink = sink
        self.reused: list[str] = []  # the sheets given whole in this run
        self._rows: tuple["Collection", str | None] | None = None  # (the rows' key, made once for every kept sheet)
        # (rounds.run.DIGESTS_RECALLED) the digests of what the kept sheets are made from that the last run with this
        # run's inputs made (name → digest), and those this run made or took from there, for the next run
        self.known: dict[str, str | None] = {}
        self.found: dict[str, str | None] = {}

    def digest(self, name: str, make: Callable[[], str | None]) -> str | None:
        """The digest ``name`` of what a kept sheet is made from (a walk of every row, return or file): the one
        :attr:`known` holds, else ``make()``; noted in :attr:`found` either way."""
        got = self.known[name] if name in self.known else make()
        self.found[name] = got
        return got

    def of(self, name: str) -> Sequence[Any] | None:
        """The kept sheet ``name`` (key, state JSON, zlib XML), or None: none kept, or one whose XML can no longer be
        read (a lazy part of a ledger since closed: ``available`` False)."""
        kept = self.kept.get(name)
        return kept if kept is not None and getattr(kept, "available", True) else None

    def rows_key(self, c: "Collection") -> str | None:
        """:func:`_rows_key` of ``c``, made once (every kept sheet's key holds it; the rows do not change while the
        roll-up is written)."""
        if self._rows is None or self._rows[0] is not c:
            self._rows = (c, self.digest("rows packed" if ROWS_KEY_PACKED else "rows", lambda: _rows_key(c, self.report_id)))
        return self._rows[1]

    def keep(self, name: str, key: str, state: str, xml: "bytes | Slice") -> None:
        """This run keeps the sheet ``name``: given to the sink as it is made (the caller stores it: a round's six parts
        are ~54 MB of zlib XML at 100,000 units, issue 15), or, when there is none or it does not take it now (the
        collection written again after its run), held in :attr:`made` until :meth:`stored`. ``xml``: its zlib XML,
        or where a file holds it (:class:`Slice`, read while this is called: :data:`KEPT_STREAMED`)."""
        if self.sink is None or not self.sink(name, key, state, xml):
            self.made[name] = (key, state, xml if isinstance(xml, bytes) else b"".join(xml.pieces(_CHUNK)))

    def stored(self) -> list[tuple[str, str, str, bytes]]:
        """What this run keeps for the next: (name, key, state, zlib XML)."""
        return [(name, key, state, xml) for name, (key, state, xml) in sorted(self.made.items())]


class KeptSheet(LeanSheet):
    """A worksheet whose XML part is either given whole (:meth:`give`: as the roll-up's zip held it, raw deflate) or,
    once the zip holds it, handed to a keeper (its compressed bytes, CRC-32 and size, read back from the zip this
    tool is writing: :class:`_KeepingZip`). The XML is never held whole in memory (10,000 units make a 文字材料 of
    29 MB); with :data:`ZIP_COPY`, a given part is not even inflated: its bytes are copied into the zip."""

    _given: "bytes | Sequence[Any] | None" = None  # (or the kept part, read when written: GIVEN_WHEN_ZIPPED)
    _given_zip: tuple[int, int] | None = None  # (CRC-32, size) of the given part's XML, as kept
    _copied = False  # the given part goes into the zip as it is (its file left empty)
    _splice: int | None = None  # the row (1-based) given as this run writes it, in place of the kept one's
    _keeper: "Callable[[bytes | Slice, int, int], None] | None" = None
    _xml_file: str | None = None
    _xf: dict[Any, int] | None = None  # the workbook's format numbering (XlsxWriter's xf_format_indices), watched
    _own: list[int] = []  # the XF indices its own rows numbered while written, in order
    _late = False  # its last row, written out when the workbook closes, numbered a format

    def watch(self, xf: dict[Any, int]) -> None:
        """Note the formats this sheet's rows number from now on."""
        self._xf, self._own = xf, []

    def _write_single_row(self, current_row_num: int = 0) -> None:
        xf = self._xf
        if xf is None:
            super()._write_single_row(current_row_num)
            return
        n = len(xf)
        super()._write_single_row(current_row_num)
        if len(xf) > n:  # (rare: a format's first use)
            got = list(xf.values())[n:]
            if self._keeper is None:
                self._own.extend(got)
            else:
                self._late = True

    def give(self, deflated: "bytes | Sequence[Any]", crc: int, size: int, splice: int | None = None) -> None:
        """Give the part as kept (raw deflate, or the kept part whose third value it is, read when the part is
        written: :data:`GIVEN_WHEN_ZIPPED`; its CRC-32 and size); ``splice``: with that row as written now (the
        heading rows are written as usual) in place of the kept part's."""
        self._given, self._given_zip, self._splice = deflated, (crc, size), splice

    def _given_bytes(self) -> bytes:
        """The given part's raw deflate (read now when it was given as its kept part)."""
        given = self._given
        assert given is not None
        return given if isinstance(given, bytes) else bytes(given[2])

    def keep(self, keeper: "Callable[[bytes | Slice, int, int], None]") -> None:
        self._keeper = keeper

    def _spliced(self, given: "bytes | Sequence[Any]", row: int) -> None:
        """Write the given part with its row ``row`` as this run wrote it (from the rows written so far, which
        XlsxWriter keeps in a file of its own in constant-memory mode: the heading's). Both are our own XML."""
        assert self._xml_file is not None and self.row_data_fh is not None
        self.row_data_fh.flush()
        with open(self.row_data_filename, "rb") as fh:
            now = row_xml(fh.read(), row)
        if now is None:
            raise RuntimeError(f"{self.name}: row {row} was not written")  # (a bug: the heading writes it)
        pattern = _row_pattern(row)
        inflate = zlib.decompressobj(-15)
        pending = b""
        with open(self._xml_file, "wb") as out:
            chunks = _pieces(given)
            for piece in chunks:
                pending += inflate.decompress(piece)
                found = pattern.search(pending)
                if found is None:
                    continue
                out.write(pending[:found.start()] + now + pending[found.end():])
                for rest in chunks:
                    out.write(inflate.decompress(rest))
                out.write(inflate.flush())
                return
        raise RuntimeError(f"{self.name}: the kept part has no row {row}")  # (kept only when it has: a bug)

    def _set_xml_writer(self, filename: Any) -> None:
        self._xml_file = filename if isinstance(filename, str) else None
        super()._set_xml_writer(filename)

    def _assemble_xml_file(self) -> None:
        if self._given is not None:
            try:
                self._give_part()
            finally:
                self._drop_row_data()
            return
        super()._assemble_xml_file()

    def _give_part(self) -> None:
        if self._xml_file is None:  # (a workbook in memory: XlsxWriter's own StringIO)
            self.fh.write(zlib.decompress(self._given_bytes(), -15).decode("utf-8"))
            self._xml_close()
            return
        self.fh.close()  # (opened for it, nothing written yet)
        given = self._given
        assert given is not None
        if self._splice is not None:
            self._spliced(given, self._splice)
            return
        if ZIP_COPY and self._given_zip is not None:
            self._copied = True  # (the zip copies the bytes: the file stays empty)
            return
        inflate = zlib.decompressobj(-15)
        with open(self._xml_file, "wb") as out:
            for piece in _pieces(given):
                out.write(inflate.decompress(piece))
            out.write(inflate.flush())

    def _drop_row_data(self) -> None:
        """Remove the file XlsxWriter kept the heading's rows in (constant-memory mode), as its own assembly does once
        it has copied them: a given part never copies them, and the file was left in the writer's temporary folder
        (the roll-up's scratch folder removes it at the end of a run; a workbook given no folder left it in TMPDIR)."""
        name = self.row_data_filename
        if name is None:
            return
        if self.row_data_fh is not None and not self.row_data_fh.closed:
            self.row_data_fh.close()
        self.row_data_fh_closed = True
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _row_pattern(row: int) -> "re.Pattern[bytes]":
    return re.compile(rb'<row r="%d"[ >].*?</row>' % row, re.S)


def row_xml(xml: bytes, row: int) -> bytes | None:
    """The element of row ``row`` (1-based) in a sheet's XML as XlsxWriter writes it (our own: rows do not nest, and
    a cell's text has its ``<`` escaped), or None."""
    found = _row_pattern(row).search(xml)
    return found.group(0) if found is not None else None


def parts_of(c: "Collection") -> Parts | None:
    """The collection's parts: a round's, with the switch on; else None (every sheet written)."""
    rnd = c.round
    parts = getattr(rnd, "parts", None) if rnd is not None else None
    return parts if REUSE and isinstance(parts, Parts) else None


def sheet_class(c: "Collection", base: type) -> type:
    """The worksheet class for the roll-up: :class:`KeptSheet` when sheets may be kept (it writes as ``base``)."""
    return KeptSheet if base is LeanSheet and parts_of(c) is not None else base


def start(c: "Collection", wb: Any, ws: Any, extra: Iterable[Any] = ()) -> tuple[Parts, str] | None:
    """Before a sheet's rows: (the parts, the sheet's key) when the sheet may be kept or given; None: neither.
    ``extra``: whatever else the sheet's rows depend on (the caller's own switches)."""
    parts = parts_of(c)
    if parts is None or not isinstance(ws, KeptSheet) or ws.name not in KEPT_SHEETS:
        return None
    if ws.name in SPLICED and (wb.in_memory or not wb.constant_memory):
        return None  # (the row spliced in is read from the rows' own file, which only constant-memory mode keeps)
    h = hashlib.sha256()

    def add(*values: Any) -> None:
        h.update(repr(values).encode("utf-8", "surrogatepass") + b"\n")

    from .lean import USE_LEAN, USE_ROWS

    # (the part is kept as zlib deflated it in the zip: a zlib of another version would deflate it otherwise)
    add("reuse 2", writer_digest(), zlib.ZLIB_RUNTIME_VERSION, USE_LEAN, USE_ROWS, *extra)
    add(ws.name, ws.index, c.spec.spec_hash, c.identity_verified)
    add([f.xf_index for f in wb.formats], len(wb.xf_format_indices))
    rows = parts.rows_key(c)
    if rows is None:
        return None  # a report that cannot be told from another: write the sheet
    add(rows)
    return parts, h.hexdigest()


#: :func:`_rows_key` takes a packed roster row (roster.PACKED) as its packed record (the bytes, and once the columns
#: they are of), not decoded into a RosterRow and its prefilled values repr'd one by one: ~15 µs a unit, 0.15 s of a
#: second run at 10,000 (issue 15). Another key for the same rows (a sheet kept by a run with it off is written anew
#: once), the same sheets: False, as before (the tests compare).
ROWS_KEY_PACKED = True


def _rows_key(c: "Collection", report_id: Callable[["Return"], str | None]) -> str | None:
    """A sha256 of the collection's rows as the kept sheets are made from them (see the module), or None when a
    counted report cannot be told from another."""
    h = hashlib.sha256()
    columns: Any = None  # (the packed rows whose columns were hashed last)
    for row in c.rows:
        ret = row.counted
        rid = None
        if ret is not None:
            rid = report_id(ret)
            if rid is None:
                return None
        packed = row.packed() if ROWS_KEY_PACKED else None
        if packed is not None:
            # (a record's values are in its columns' order: the columns are hashed before the first of their records)
            rows, at = packed
            if rows is not columns:
                columns = rows
                h.update(repr(("columns", rows.columns)).encode("utf-8", "surrogatepass") + b"\n")
            record = rows.record(at)
            h.update(repr((row.key, len(record), row.status, row.valid, rid,
                           ret.brief.has_results if ret is not None else None)).encode("utf-8", "surrogatepass") + b"\n")
            h.update(record)
            continue
        roster = row.roster
        prefill = sorted((k, repr(v)) for k, v in roster.prefill.items()) if roster is not None else None
        h.update(repr((row.key, prefill, row.status, row.valid, rid, ret.brief.has_results if ret is not None else None)
                      ).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def returns_digest(c: "Collection") -> str | None:
    """A sha256 of what 问题清单's rows are made from, return by return, in order: the identity of each report whose
    findings it lists (the report's findings are its own), the file's name and path, its key, and the findings
    matching added; None when the sheet cannot be kept (a report that cannot be told from another, or no parts)."""
    parts = parts_of(c)
    if parts is None:
        return None
    return parts.digest("returns", lambda: _returns_digest(c, parts))


def _returns_digest(c: "Collection", parts: Parts) -> str | None:
    h = hashlib.sha256()
    for ret in c.returns:
        rid = parts.report_id(ret) if ret.brief.codes else ""
        if rid is None:
            return None
        h.update(repr((rid, ret.name, ret.path, ret.brief.key, [repr(f) for f in ret.extra])
                      ).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def rows_digest(rows: Iterable[dict[str, Any]], keys: list[str]) -> str:
    """A sha256 of the values of ``keys`` in each of ``rows``, in order: for a sheet whose rows are quick to make but
    slow to write (文件清单: from the briefs), what they are made from is themselves."""
    h = hashlib.sha256()
    for r in rows:
        h.update(repr([r.get(k) for k in keys]).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


#: A kept sheet whose rows are made from records (文件清单 from each file's facts: tables.file_facts; 提交记录 from
#: each file's Received) takes its key from the records' reprs (:func:`facts_digest`), not from its rows as formatted
#: for the sheet (times in Beijing time, texts shown, a dict a row: ~0.1 s of a second run at 10,000, issue 15): the
#: rows are made from the records by the writer's code, which the key holds. Another key for the same rows (a sheet
#: kept with it off is written anew once), the same sheets: False, as before (the tests compare).
DIGESTS_OF_FACTS = True


def sheet_digest(c: "Collection", name: str, make: Callable[[], str]) -> str:
    """``make()``, the digest ``name`` of what a kept sheet is made from, or the one the last run with this run's inputs
    made (:meth:`Parts.digest`; without parts, made)."""
    parts = parts_of(c)
    if parts is None:
        return make()
    got = parts.digest(name, make)
    if not isinstance(got, str):  # (a memo's None for a digest always made as a str: not this program's, made again)
        got = parts.found[name] = make()
    return got


def facts_digest(facts: Iterable[Any]) -> str:
    """A sha256 of ``facts``, in order: for a sheet whose rows are made from them, each a tuple of plain values (its
    repr says all it holds) or a dataclass of such (the tuple of its fields' values, after its class's name and its
    fields' names: a dataclass's own repr goes through ``reprlib.recursive_repr``, twice the time)."""
    h = hashlib.sha256()
    kind: Any = None
    getter: Callable[[Any], Any] | None = None
    for f in facts:
        if type(f) is not kind:
            kind = type(f)
            names = [x.name for x in dataclasses.fields(f)] if dataclasses.is_dataclass(f) else None
            getter = operator.attrgetter(*names) if names else None
            h.update(repr(("facts", kind.__module__, kind.__qualname__, names)).encode("utf-8", "surrogatepass") + b"\n")
        h.update(repr(getter(f) if getter is not None else f).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def given(c: "Collection", wb: Any, ws: Any, extra: Iterable[Any] = ()) -> tuple[dict[str, Any] | None, Callable[[dict[str, Any]], None]]:
    """Before a sheet's rows: (the state kept with its part, or None), and what to call with the state once the
    rows are written (nothing happens when the sheet cannot be kept).

    With a state, the sheet's XML is given whole: the caller writes no rows and restores the state instead."""
    got = start(c, wb, ws, extra)
    if got is None:
        return None, lambda state: None
    parts, key = got
    kept = parts.of(ws.name)
    if kept is not None and kept[0] == key:
        saved = _decode(json.loads(kept[1]))
        ws.give(kept if GIVEN_WHEN_ZIPPED else kept[2], *saved["zip"], splice=SPLICED.get(ws.name))
        parts.reused.append(ws.name)
        for n in saved["numbered"]:  # the formats its rows numbered first, numbered again in the same order
            wb.formats[n]._get_xf_index()
        return saved["state"], lambda state: None
    xf = wb.xf_format_indices
    start_count = len(xf)
    ws.watch(xf)

    def written(state: dict[str, Any]) -> None:
        # The formats its own rows numbered first (文件清单 is the first to use the date-time format): numbered again
        # when the sheet is given instead, at its start, so that the sheets after it number theirs as they do now.
        # Only when no other sheet numbered one meanwhile (a pass over the units writes rows of several sheets in
        # turn), and its last row, written out when the workbook closes, numbers none: else it is not kept.
        own = list(ws._own)
        if own and len(xf) - start_count != len(own):
            return
        place = {f.xf_index: n for n, f in enumerate(wb.formats) if f.xf_index is not None}
        kept = {"state": state, "numbered": [place[x] for x in own]}

        def keeper(deflated: "bytes | Slice", crc: int, size: int) -> None:
            if ws._late:
                return
            splice = SPLICED.get(ws.name)
            if splice is not None and row_xml(_inflated_head(deflated, 1 << 20), splice) is None:
                return  # (the row given anew must be in the part's first megabyte: the heading's always is)
            text = json.dumps(_encode({**kept, "zip": (crc, size)}), ensure_ascii=False, separators=(",", ":"))
            parts.keep(ws.name, key, text, deflated)

        ws.keep(keeper)

    return None, written


# -- 汇总's rows: kept up to their "since the last run" columns, those made anew ----------------------------------


#: Keep 汇总's rows (one per unit) from one run to the next, each up to its "since the last run" columns
#: (:data:`SINCE_COLUMNS`), which are made anew from this run's figures and put after it (:class:`SummaryRows`);
#: False: its rows are made and written anew on every run (the same bytes: the tests compare).
SUMMARY_ROWS = True
#: 汇总's last columns, which differ from one run to the next over the same rows: 本次新收, 本次变化, 本次新有效.
SINCE_COLUMNS = 3
SUMMARY = "汇总"


class SummaryRows:
    """汇总's rows in a round, from one run to the next (issue 15: a round's second run).

    Over an unchanged inbox 汇总 differs from the last run's only in its heading (its note names the run and the
    counts), its total row (统计's figures) and its last three columns (本次新收, 本次变化, 本次新有效), which compare
    with the run before: a second run's differ from the first's on every row. So the heading and the total row are
    written as always; each unit's row is kept by the run that writes it, as written, up to those columns (its row
    tag, height, every other cell with its format's index), and given to the next run whose key matches, which puts
    the columns after it, made from its own figures: the bytes XlsxWriter would write (:func:`since_cells`, checked
    against the row as written when a run keeps it: a row that differs is not kept). What the rows leave behind
    (统计's sums over the units, 差距分析's units, the formats they number first, in order) is kept with them.

    The key is everything the kept cells are made from: each row's unit, roster row, status and counted report
    (:func:`_rows_key`), and of the counted file its name, saved time and counts of problems; the writer; the
    workbook's format numbering where the rows start; the sheet's columns. It is compared in full; the rows are our
    own XML, from our own ledger."""

    def __init__(self, parts: Parts, key: str, ws: Any, wb: Any, first: int, kept: Sequence[Any] | None) -> None:
        self.parts, self.key, self.ws, self.wb = parts, key, ws, wb
        self.first = first  # (the first "since" column)
        self.state: dict[str, Any] | None = None
        self._deflated: bytes | Sequence[Any] = b""
        if kept is not None and kept[0] == key:
            self.state = _decode(json.loads(kept[1]))
            self._deflated = kept if GIVEN_WHEN_ZIPPED else kept[2]
        self.given = self.state is not None
        self._xf = wb.xf_format_indices
        self._start = len(self._xf)
        self._pack = zlib.compressobj(1, zlib.DEFLATED, -15)
        self._packed: list[bytes] = []
        self._spool: Any = None  # (with KEPT_STREAMED: the packed rows in a temporary file, not in _packed)
        self._seen: list[tuple[int, str]] = []
        self._count = 0
        self._broken = False
        self._letters = [xlsxwriter.utility.xl_col_to_name(first + n) for n in range(SINCE_COLUMNS)]

    # -- a run that writes the rows (and keeps them) --

    def watch(self) -> None:
        """From now on 汇总's rows are written: the formats they number, and each row as written out, are noted."""
        ws = self.ws
        ws.watch(self._xf)
        ws.rows_seen = lambda row, text: self._seen.append((row, text))

    def wrote(self, row: int, values: list[Any], fmts: list[Any]) -> None:
        """The unit's row ``row`` is written out: keep it up to its last :data:`SINCE_COLUMNS` cells (``values``,
        their ``fmts``), after checking that :func:`since_cells` makes them as they were written."""
        seen, self._seen = self._seen, []
        if self._broken:
            return
        if len(seen) != 1 or seen[0][0] != row:
            self._broken = True  # (not one row written whole by the lean writer: written, not kept)
            return
        text = seen[0][1]
        cells = since_cells(row, self.first, values, fmts, self._letters)
        head = text[:-len("</row>")]
        if cells is None or not head.endswith(cells) or "\0" in text:
            self._broken = True
            return
        packed = self._pack.compress(head[:len(head) - len(cells)].encode("utf-8") + b"\0")
        if not KEPT_STREAMED:
            self._packed.append(packed)
        elif packed:
            if self._spool is None:
                self._spool = tempfile.TemporaryFile(prefix="xltemplate-rows-")
            self._spool.write(packed)
        self._count += 1

    def done(self, state: dict[str, Any]) -> None:
        """The rows are written: keep them (with ``state``, what they leave behind) when nothing else numbered a
        format meanwhile (else their formats could not be numbered again in the same order)."""
        ws = self.ws
        ws.rows_seen = None
        own, ws._xf = list(ws._own), None
        if self._broken or len(self._xf) - self._start != len(own):
            return
        place = {f.xf_index: n for n, f in enumerate(self.wb.formats) if f.xf_index is not None}
        try:
            text = json.dumps(_encode({**state, "numbered": [place[x] for x in own], "rows": self._count}),
                              ensure_ascii=False, separators=(",", ":"))
        except TypeError:
            return  # (a figure the state cannot hold: written next time too)
        if not KEPT_STREAMED:
            self.parts.keep(SUMMARY, self.key, text, b"".join(self._packed) + self._pack.flush())
            return
        spool, self._spool = self._spool, None
        if spool is None:
            spool = tempfile.TemporaryFile(prefix="xltemplate-rows-")
        with spool:
            spool.write(self._pack.flush())
            self.parts.keep(SUMMARY, self.key, text, Slice(spool, 0, spool.tell()))

    # -- a run given them --

    def begin(self) -> None:
        """Where the rows start: number the formats the kept rows numbered first, in the same order, and write out
        the heading's last row (as writing the first row would)."""
        assert self.state is not None
        for n in self.state["numbered"]:
            self.wb.formats[n]._get_xf_index()
        self.parts.reused.append(SUMMARY)
        self._rows = self.rows()
        self.ws._write_single_row(self.ws.previous_row + 1)

    def put(self, row: int, values: list[Any], fmts: list[Any]) -> None:
        """Write the kept row ``row`` with its "since" cells holding ``values`` (with ``fmts``)."""
        cells = since_cells(row, self.first, values, fmts, self._letters)
        if cells is None:
            raise RuntimeError(f"汇总: row {row + 1}'s since cells cannot be made")  # (checked when kept: a bug)
        self.ws.fh.write(next(self._rows) + cells + "</row>")
        self.ws.previous_row = row + 1  # (as writing it out would leave it)
        self._count += 1

    def end(self) -> dict[str, Any]:
        """Every kept row is written: the state they left."""
        assert self.state is not None
        if self._count != self.state["rows"] or next(self._rows, None) is not None:
            raise RuntimeError("汇总: not as many rows as kept")  # (the key holds the rows: a bug)
        return self.state

    def rows(self) -> Iterator[str]:
        """Each kept row's XML up to its "since" cells, in order."""
        inflate = zlib.decompressobj(-15)
        pending = b""
        for piece in _pieces(self._deflated):
            pending += inflate.decompress(piece)
            *whole, pending = pending.split(b"\0")
            for piece in whole:
                yield piece.decode("utf-8")
        pending += inflate.flush()
        if pending:
            raise RuntimeError("汇总: a kept row without its end")  # (kept by this tool: a bug)


def summary_rows(c: "Collection", wb: Any, ws: Any, keys: list[str], widths: list[float],
                 extra: Iterable[Any] = ()) -> SummaryRows | None:
    """Before 汇总's rows in a round (``keys``, ``widths``: its columns, the last :data:`SINCE_COLUMNS` of them made
    anew on every run): their keeper, or the kept rows (:class:`SummaryRows`); None: written as always, not kept."""
    parts = parts_of(c)
    if parts is None or not SUMMARY_ROWS or not isinstance(ws, KeptSheet) or not wb.constant_memory or wb.in_memory:
        return None
    rows = parts.rows_key(c)
    if rows is None:
        return None
    h = hashlib.sha256()

    def add(*values: Any) -> None:
        h.update(repr(values).encode("utf-8", "surrogatepass") + b"\n")

    from .lean import USE_LEAN, USE_ROWS

    add("summary rows 1", writer_digest(), USE_LEAN, USE_ROWS, SINCE_COLUMNS, *extra)
    add(ws.name, ws.index, c.spec.spec_hash, c.identity_verified, keys, widths)
    add([f.xf_index for f in wb.formats], len(wb.xf_format_indices))
    add(rows)
    add(parts.digest("counted", lambda: _counted_digest(c)))
    return SummaryRows(parts, h.hexdigest(), ws, wb, len(keys) - SINCE_COLUMNS, parts.of(SUMMARY))


def _counted_digest(c: "Collection") -> str:
    """A sha256 of what 汇总's row shows of each row's counted file beyond its report: the name it was seen under,
    its counts of problems and saved time."""
    h = hashlib.sha256()
    for row in c.rows:
        ret = row.counted
        if ret is not None:
            b = ret.brief
            h.update(repr((row.key, ret.name, b.errors, b.warnings, b.saved_at)).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def since_cells(row: int, first: int, values: list[Any], fmts: list[Any], letters: list[str] | None = None) -> str | None:
    """The XML of ``row``'s cells from column ``first`` on, holding ``values`` (None, a count, or 是) with ``fmts``, as
    :meth:`LeanSheet.put_row` writes them; None for any other value, or a format not numbered yet. ``letters``: the
    columns' letters, if known."""
    r = row + 1
    out = []
    for n, (value, fmt) in enumerate(zip(values, fmts)):
        xf = fmt.xf_index
        if xf is None:
            return None
        letter = letters[n] if letters is not None else xlsxwriter.utility.xl_col_to_name(first + n)
        head = f'<c r="{letter}{r}" s="{xf}"'
        if value is None:
            out.append(head + "/>")
        elif type(value) is int and value > 0:
            out.append(f"{head}><v>{float(value):.16G}</v></c>")
        elif value == "是" and type(value) is str:
            out.append(head + ' t="inlineStr"><is><t>是</t></is></c>')
        else:
            return None
    return "".join(out)


# -- the zip: a kept part read back from it as written, a given part copied into it ------------------------------


#: A kept part given whole is read (from the ledger, a lazy part: rounds.run.LAZY_PARTS) when it is written — copied
#: into the zip, inflated, or its rows streamed (汇总's) — not when it is given, so that one is held at a time, not
#: every given sheet's until the workbook is closed (the five given in a second run at 100,000 units: ~40 MB of zlib
#: XML, issue 15). False: read when given (the tests compare).
GIVEN_WHEN_ZIPPED = True


#: A kept part read when it is written (:data:`GIVEN_WHEN_ZIPPED`) is read from the ledger in pieces as it is copied
#: or inflated (``part.pieces``: SQLite's incremental blob reads), not whole: 汇总's rows, ~12.5 MB at 100,000 units,
#: were held while its rows were written, and the largest given part while the zip copied it (指标得分, ~15 MB, issue 15).
#: False: read whole (the tests compare).
PARTS_STREAMED = True


#: A sheet this run keeps is handed to its keeper as where a file holds its zlib XML (:class:`Slice`: the roll-up's zip
#: as written, or 汇总's kept rows in a temporary file) and stored in the ledger in pieces from there (Ledger.store_parts,
#: SQLite's incremental blob I/O), not as bytes: at 100,000 units the largest part (~15 MB) was read whole from the zip
#: and copied again by SQLite, and 汇总's kept rows (~12.5 MB) were held in memory while written, then joined (issue
#: 15). False: bytes (the tests compare).
KEPT_STREAMED = True


class Slice:
    """``size`` bytes of an open file from ``offset``: read in pieces when asked (the file's position is put back)."""

    def __init__(self, fh: Any, offset: int, size: int) -> None:
        self.fh, self.offset, self.size = fh, offset, size

    def __len__(self) -> int:
        return self.size

    def pieces(self, size: int) -> Iterator[bytes]:
        fh = self.fh
        back = fh.tell()
        at, end = self.offset, self.offset + self.size
        try:
            while at < end:
                fh.seek(at)
                piece = fh.read(min(size, end - at))
                if not piece:
                    raise RuntimeError("a kept part is shorter than its size")  # (our own file: a bug)
                at += len(piece)
                yield piece
        finally:
            fh.seek(back)


def _inflated_head(deflated: "bytes | Slice", size: int) -> bytes:
    """The first ``size`` bytes (or all, if fewer) the raw deflate ``deflated`` inflates to."""
    if isinstance(deflated, bytes):
        return zlib.decompressobj(-15).decompress(deflated, size)
    inflate = zlib.decompressobj(-15)
    out = b""
    for piece in deflated.pieces(_CHUNK):
        out += inflate.decompress(inflate.unconsumed_tail + piece, size - len(out))
        if len(out) >= size:
            break
    return out


def _pieces(deflated: "bytes | Sequence[Any]") -> Iterator[bytes]:
    """A part's raw deflate in pieces of :data:`_CHUNK` bytes: from the bytes, or from the kept part (read in pieces
    with :data:`PARTS_STREAMED` when it can be, else whole)."""
    if not isinstance(deflated, bytes):
        pieces = getattr(deflated, "pieces", None) if PARTS_STREAMED else None
        if pieces is not None:
            yield from pieces(_CHUNK)
            return
        deflated = bytes(deflated[2])
    for start in range(0, len(deflated), _CHUNK):
        yield deflated[start:start + _CHUNK]


def _deflated_size(deflated: "bytes | Sequence[Any]") -> int:
    """How many bytes :func:`_pieces` gives."""
    if isinstance(deflated, bytes):
        return len(deflated)
    size = getattr(deflated, "deflated_size", None) if PARTS_STREAMED else None
    return int(size()) if size is not None else len(bytes(deflated[2]))


#: A round's roll-up (its zip :func:`zipping`'s) has its large parts written anew (汇总, 提交记录 with this run's note
#: spliced in, a sheet written anew and kept) deflated by :func:`.deflate.ahead`'s second process while the zip takes
#: the others, as collect's are, where the round's zip left :func:`.deflate.ahead` out and deflated every part itself
#: in turn (a second run at 10,000: 汇总's 9 MB and 提交记录's 8 MB of XML one after the other, ~0.2 s, the other CPU
#: idle; a first or third run's sheets written anew, ~60 MB). Measured, a second run at 10,000 alternately, median of 5
#: (load 2.9): the close's CPU in the run's process 0.32 -> 0.23 s, its wall 0.41 -> 0.35 s; the forked process's
#: peak (its pages the run's, shared) is the round's largest child there, 35 -> 50 MB. The same bytes (the tests
#: compare). False: the round's zip deflates every part itself.
DEFLATED_AHEAD = True


#: Copy a given part into the roll-up's zip as it was kept (deflated, with its CRC-32 and size, as this tool's zip
#: wrote them), rather than inflate it to a file for XlsxWriter's zip to deflate again; False: inflate and deflate
#: (the same bytes: the tests compare).
ZIP_COPY = True


@contextlib.contextmanager
def zipping(wb: Any) -> Iterator[None]:
    """While the workbook ``wb`` is closed (XlsxWriter writes its zip): its kept sheets' parts are read back from the
    zip as written (each handed to its keeper), and its given ones copied in (see :class:`_KeepingZip`)."""
    sheets = [ws for ws in wb.worksheets() if isinstance(ws, KeptSheet) and (ws._keeper is not None or ws._given)]
    if not sheets:
        yield
        return
    stock = xlsxwriter.workbook.ZipFile  # (XlsxWriter's _store_workbook makes its zip with this name)

    class Zip(_KeepingZip):
        kept = sheets

    xlsxwriter.workbook.ZipFile = Zip
    try:
        yield
    finally:
        xlsxwriter.workbook.ZipFile = stock


class _KeepingZip(zipfile.ZipFile):
    """XlsxWriter's zip, which writes the parts of :attr:`kept` sheets (by their files' paths) otherwise: a given part's
    bytes are copied in as kept, with the entry XlsxWriter's own would make (the same header: name, time, the file's
    mode, the deflate method and level, the CRC-32 and sizes); a part written anew is read back once written, for its
    keeper. Only our own bytes: the zip this run is writing, and parts a run of this tool kept in its ledger."""

    kept: list[KeptSheet] = []  # (their parts' files are named when XlsxWriter packs them: looked up then)

    def write(self, filename: Any, arcname: Any = None, compress_type: Any = None, compresslevel: Any = None) -> None:
        z: Any = self  # (zipfile's own private state, as its write and open use it)
        ws = next((k for k in self.kept if k._xml_file == filename), None) if isinstance(filename, str) else None
        if ws is None or compress_type is not None or compresslevel is not None or not z._seekable:
            self._write_part(filename, arcname, compress_type, compresslevel)
            return
        if ws._copied:
            assert ws._given is not None and ws._given_zip is not None
            self._copy(ws._given, *ws._given_zip, filename, arcname)
            return
        self._write_part(filename, arcname)
        keeper = ws._keeper
        info = self.filelist[-1]
        if keeper is None or info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x08:
            return
        fp = z.fp
        end = fp.tell()
        fp.seek(info.header_offset)
        head = fp.read(30)
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        fp.seek(info.header_offset + 30 + name_len + extra_len)
        if KEPT_STREAMED:  # (read from the zip as it is kept: see Slice)
            fp.seek(end)
            keeper(Slice(fp, info.header_offset + 30 + name_len + extra_len, info.compress_size), info.CRC,
                   info.file_size)
            return
        data = fp.read(info.compress_size)
        fp.seek(end)
        keeper(data, info.CRC, info.file_size)

    def _write_part(self, filename: Any, arcname: Any = None, compress_type: Any = None, compresslevel: Any = None) -> None:
        """A part written as XlsxWriter's zip writes it (deflated here; :func:`.deflate.ahead`'s zip copies in the part
        its second process deflated: :data:`DEFLATED_AHEAD`)."""
        super().write(filename, arcname, compress_type, compresslevel)

    def _copy(self, data: "bytes | Sequence[Any]", crc: int, size: int, filename: str, arcname: Any) -> None:
        """What :meth:`zipfile.ZipFile.write` does with a file of ``size`` bytes whose deflated bytes are ``data`` (or
        the kept part's, read in pieces: :func:`_pieces`)."""
        z: Any = self  # (zipfile's own private state, as its write and _open_to_write use it)
        if z._writing:
            raise ValueError("Can't write to ZIP archive while an open writing handle exists")
        info: Any = zipfile.ZipInfo.from_file(filename, arcname, strict_timestamps=z._strict_timestamps)
        info.compress_type = self.compression
        info._compresslevel = self.compresslevel
        info.flag_bits = 0
        if not info.external_attr:
            info.external_attr = 0o600 << 16
        zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
        if zip64 and not z._allowZip64:
            raise zipfile.LargeZipFile("Filesize would require ZIP64 extensions")
        fp = z.fp
        fp.seek(z.start_dir)
        info.header_offset = fp.tell()
        info.file_size, info.compress_size, info.CRC = size, _deflated_size(data), crc
        z._writecheck(info)
        z._didModify = True
        fp.write(info.FileHeader(zip64))
        written = 0
        for piece in _pieces(data):
            fp.write(piece)
            written += len(piece)
        if written != info.compress_size:
            raise RuntimeError(f"{arcname}: the kept part changed while it was copied")  # (our own ledger: a bug)
        z.start_dir = fp.tell()
        self.filelist.append(info)
        self.NameToInfo[info.filename] = info


# -- the state: JSON with Decimals, tuples and dicts of any keys kept as they were ------------------------------


def _encode(v: Any) -> Any:
    kind = type(v)
    if v is None or kind is str or kind is bool or kind is int:
        return v
    if kind is Decimal:
        return {"d": str(v)}
    if kind is tuple:
        return {"t": [_encode(x) for x in v]}
    if kind is list:
        if DECIMALS_PACKED and v and all(type(x) is Decimal for x in v):
            if not DECIMAL_TEXTS_SHARED:
                return {"ds": [str(x) for x in v]}
            texts: dict[int, str] = {}  # (by the object: UnitTotals holds one for each distinct total)
            return {"ds": [texts[id(x)] if id(x) in texts else texts.setdefault(id(x), str(x)) for x in v]}
        return [_encode(x) for x in v]
    if isinstance(v, dict):
        return {"m": [[_encode(k), _encode(x)] for k, x in v.items()]}
    raise TypeError(f"a kept sheet's state cannot hold {kind.__name__}")


#: A kept state's list of Decimals (汇总's every valid unit's total, for the median: tables.UnitTotals.totals) is kept
#: as one list of their texts, and read back with equal texts made one Decimal (as UnitTotals holds them), where each
#: was a {"d": text} object of its own: at 100,000 units ~100,000 dicts made to be dumped at a first run's keeping of
#: 汇总, and 100,000 Decimals held through a second run's writing (tracemalloc, 10,000 units: 1.9 MB and 1.0 MB,
#: issue 15). False: one object each (the tests compare).
DECIMALS_PACKED = True


#: With DECIMALS_PACKED, one text for each Decimal object in the list (UnitTotals holds one a distinct total: a few
#: hundred), the list of references to them, where a str was made for each of the list's Decimals: a third run's 汇总,
#: written anew and kept, made 28,800 of them at 30,000 units (1.8 MB at the write's peak, tracemalloc, issue 15). The
#: same JSON. False: a str each (the tests compare).
DECIMAL_TEXTS_SHARED = True


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        if "ds" in v:
            same: dict[str, Decimal] = {}
            return [same[x] if x in same else same.setdefault(x, Decimal(x)) for x in v["ds"]]
        if "d" in v:
            return Decimal(v["d"])
        if "t" in v:
            return tuple(_decode(x) for x in v["t"])
        return {_decode(k): _decode(x) for k, x in v["m"]}
    return v


__all__ = ["KEPT_SHEETS", "KeptSheet", "Parts", "REUSE", "ZIP_COPY", "given", "sheet_class", "writer_digest", "zipping"]


def sums_state(sums: Any) -> dict[str, Any]:
    """What an object that sums rows as they go by (``tables.ScoreTotals``) holds: its attributes."""
    return dict(vars(sums))


def restore_sums(sums: Any, state: dict[str, Any]) -> None:
    """Put back into ``sums`` (made anew, as the writer makes it) what :func:`sums_state` kept: its dicts are filled
    in place (a defaultdict stays one, its keys in the order they came)."""
    for name, value in state.items():
        mine = getattr(sums, name)
        if isinstance(mine, dict):
            mine.clear()
            mine.update(value)
        else:
            setattr(sums, name, value)
