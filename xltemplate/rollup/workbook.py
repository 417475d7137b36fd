"""Write the bureau-wide roll-up workbook (XlsxWriter).

Sheets: 汇总, 指标得分, 统计 (with native charts), 问题清单, 未提交, 文字材料, 文件清单, and in a
round kept by a ledger 提交记录 (every file received, in arrival order) and "since the last run"
columns in 汇总.
Text from returns is always written with ``write_string``: a value that starts
with ``=`` stays text. Same inputs give the same bytes: rows are sorted by key
and the document properties carry no run time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from ..errors import GenerateError, OutputPathError
from ..fsutil import scratch_dir, scratch_error, write_atomic
from ..pathtext import json_text
from ..sheettext import TextSheet, workbook
from ..printing import (
    DEFAULT_FONT, MAX_ROW_PT, PT_PER_PX, ROW_PADDING_PT, Page, WidthPlan, continued_rows, footer, line_pt, max_lines,
    page_rows_pt, paginate, plan_width, row_below, row_height, set_landscape, surely_one_line, text_height, units_of_px,
    wrapped_lines,
)

from ..form.family import family_of
from ..text import csv_cell, plain_number
from ..words import (
    FATES, MISSING, ROUND_FATES, SEVERITY_ZH, SKIPPED, STATUS_ZH, UNIT_INVALID, UNIT_VALID, UNMATCHED, identity_line,
)
from . import tables
from . import deflate, reuse, split
from .collect import Collection
from .lean import LeanSheet, lean_enabled, rows_enabled

#: 汇总, 指标得分 (指标结果), 未提交 and 文字材料 written in one pass over the units, each unit's report loaded once, and
#: 统计's figures summed in it (issue 15, :meth:`_Writer._in_one_pass`); False: a pass per sheet (the tests compare).
ONE_PASS = True
#: Without ONE_PASS, with whole rows (lean.USE_ROWS): 统计's figures (and 差距分析's) summed while 指标得分 (or 指标结果) passes over
#: the score rows, not in passes of their own; False: passes of their own (the tests compare).
STATS_IN_PASSING = True
_FIXED_TIME = dt.datetime(2000, 1, 1)
#: Every sheet prints landscape on A4, body text 10 pt; tables one page wide when that keeps the
#: text at 8.5 pt or more, otherwise several pages wide with the identifying columns repeated.
PAGE = Page(landscape=True)
BODY_PT = 10.0
NOTE_PT = 10.0  # the note under a title: small print, but print it readable
CONTINUED = "（续）"  # starts the rest of a text that did not fit in one row (Excel's 409 pt limit)
_STATUS_COLOURS = {UNIT_VALID: "#C6EFCE", UNIT_INVALID: "#FFC7CE", MISSING: "#E7E6E6"}


def write_rollup(c: Collection, path: str | Path) -> Path:
    """Write the roll-up workbook atomically to ``path`` (an ``.xlsx`` file)."""
    if Path(path).suffix.lower() != ".xlsx":
        raise OutputPathError(f"汇总表必须是 .xlsx 文件：{path}")

    def write(tmp: Path) -> None:
        with scratch_dir() as scratch:  # XlsxWriter's own temporary files, removed whatever ends the run
            if not TOLD_WHERE:
                _Writer(c, tmp, scratch).write()
                return
            out = _Output(open(tmp, "w+b"), str(tmp))  # noqa: SIM115 - (closed below, its errors named)
            try:
                _Writer(c, out, scratch).write()
                out.close()
            except BaseException as exc:
                with contextlib.suppress(OSError):  # (closed before write_atomic removes it: Windows)
                    out.close()
                # a full disk: under the run's temporary files (TMPDIR: XlsxWriter's sheets and parts, the second
                # process's rows, SQLite's sorts) said here, naming that folder; at the output itself (an error
                # _Output names it in) said by write_atomic, naming the output
                told = None if _at_output(exc, str(tmp)) else scratch_error(exc)
                if told is not None:
                    raise told from exc
                raise

    return write_atomic(path, write)


#: Tell a full disk under the roll-up's temporary files apart from one at the output (:class:`_Output`), each said in
#: Chinese naming its folder; False: the output's path given to XlsxWriter, every OSError said as the output's and
#: SQLite's a traceback (the tests compare the bytes).
TOLD_WHERE = True


class _Output:
    """The roll-up's file as XlsxWriter's zip writes it: an OSError it raises names the file (a write's error names
    none), so that a full disk at the output is told from one under the temporary files."""

    def __init__(self, fh: Any, name: str) -> None:
        self._fh, self.name = fh, name

    def _named(self, exc: OSError) -> OSError:
        return OSError(exc.errno, exc.strerror, self.name) if exc.filename is None else exc

    def write(self, data: Any) -> int:
        try:
            return int(self._fh.write(data))
        except OSError as exc:
            raise self._named(exc) from exc

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            raise self._named(exc) from exc

    def seek(self, *a: Any) -> int:
        try:
            return int(self._fh.seek(*a))
        except OSError as exc:
            raise self._named(exc) from exc

    def close(self) -> None:
        """The file closed; the zip, if an error left it open, then ends into nothing when it is collected (its
        ``__del__`` closes it), rather than raise on a closed file then (printed on stderr)."""
        fh, self._fh = self._fh, _Nowhere()
        try:
            fh.close()
        except OSError as exc:
            raise self._named(exc) from exc

    def __getattr__(self, name: str) -> Any:  # tell, read, seekable …
        return getattr(self._fh, name)


class _Nowhere:
    """Where :class:`_Output` writes once closed: nothing is kept, the position moves as in a file."""

    def __init__(self) -> None:
        self.at = self.end = 0

    def write(self, data: Any) -> int:
        self.at += len(data)
        self.end = max(self.end, self.at)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.at = max(0, offset + (0, self.at, self.end)[whence])
        return self.at

    def tell(self) -> int:
        return self.at

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _at_output(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` (or the OSError a writer wrapped in it) is :class:`_Output`'s."""
    for e in (exc, *(exc.args[:1] if isinstance(exc, Exception) else ()), exc.__cause__):
        if isinstance(e, OSError) and e.filename == name:
            return True
    return False


def _fits(text: str) -> str:
    """``text`` cut to what an Excel cell holds, 32,767 UTF-16 units (a character past U+FFFF counts two), ending
    in … when cut. XlsxWriter would cut it too, but then refuse the cell, and one text would stop the roll-up."""
    if len(text) <= 16383:  # (at most two units a character: fits)
        return text
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * 32767:
        return text
    return units[:2 * 32760].decode("utf-16-le", "ignore") + "…"  # (a pair cut in two is dropped)


def _sha_lines(sha: str | None) -> str | None:
    """A sha256 as 文件清单 and 提交记录 show it: whole, in two lines of 32 hex digits, rather than wrapped wherever the cell
    ends (it is read beside ``sha256sum``'s output, and received.csv has it in one piece)."""
    return f"{sha[:32]}\n{sha[32:]}" if sha and len(sha) == 64 else sha


class _Table:
    """A table's rows, written in order as they come (constant memory), each row as tall as its texts need.

    A row whose texts need more than Excel's 409 pt goes on over continuation rows: the first
    ``key_cols`` columns repeated, each long text cut at a sentence end and its rest starting
    with （续）, the other columns blank (so that a count or a sum over the sheet is unchanged).
    """

    def __init__(self, w: "_Writer", ws: Any, keys: list[str], fmts: dict[str, Any], widths: list[float],
                 key_cols: int = 2, start: int = 3, header_row: int = 2) -> None:
        self.w, self.ws, self.keys, self.key_cols = w, ws, keys, key_cols
        self.columns = columns = [(col, k, fmts.get(k), widths[col]) for col, k in enumerate(keys)]
        # each column's format (a row may have its own: "_fmt_<key>"; none: text)
        self.col_fmts = [f or w.f_text for _c, _k, f, _w in columns]
        self.own_fmts = [(col, f"_fmt_{k}") for col, k, _f, _w in columns]
        # A continued text goes on in rows of at most half a page (and 409 pt), so that pages fill
        # up with two of them rather than hold one and a blank half.
        half_page = page_rows_pt(PAGE, w.plans[ws.name].scale) / 2
        self.limit = min(max_lines(BODY_PT), int((half_page - ROW_PADDING_PT) // line_pt(BODY_PT))) - 1  # one line for （续）
        self.start = self.row = start
        self.header_row = header_row

    def put(self, rec: dict[str, Any]) -> None:
        columns, keys = self.columns, self.keys
        lines = 1
        for col, k, _fmt, width in columns:
            v = rec.get(k)
            # a short text of characters an em wide takes one line, unless it breaks its line: not measured
            if type(v) is str and not surely_one_line(v, width, BODY_PT):
                lines = max(lines, wrapped_lines(v, width, BODY_PT))
        pieces = [rec]
        if text_height(lines, BODY_PT) > MAX_ROW_PT:
            long = {k: w for _c, k, _f, w in columns}
            pieces = continued_rows(rec, long, [k for _c, k, _f, _w in columns[:self.key_cols]], BODY_PT, self.limit, CONTINUED)
            lines = 0
        col_fmts, text = self.col_fmts, self.w.f_text
        for piece in pieces:
            if lines:
                height = text_height(lines, BODY_PT)
            else:
                height = row_height([piece.get(k) for _c, k, _f, _w in columns], [w for *_x, w in columns], BODY_PT)
            row_fmts = col_fmts
            for col, own in self.own_fmts:
                if own in rec:
                    if row_fmts is col_fmts:
                        row_fmts = list(col_fmts)
                    row_fmts[col] = rec[own] or text
            self.w._row(self.ws, self.row, height, [piece.get(k) for k in keys], row_fmts)
            self.row += 1

    def end(self) -> int:
        """The filter over the rows written; the row after them."""
        if self.row > self.start:
            self.ws.autofilter(self.header_row, 0, self.row - 1, len(self.keys) - 1)
        return self.row


#: While the roll-up's second process writes its rows (split.py), this process writes 问题清单's and 文件清单's rows
#: (the findings of the reports that have some, loaded from the spill; the files' briefs, from the store) rather than
#: wait for it (:class:`_Ahead`), where it wrote them after 统计 and 差距分析 (which need the child's sums): the pass over
#: the units is the shorter of the two (10,000 units: this process's ~3 s of CPU against the child's ~5 s under load),
#: and the two sheets ~2.5 s of this process's CPU after it. The same bytes (see :class:`_Ahead`). False: written
#: after the child's rows are done, as before (the tests compare the bytes).
FILES_AHEAD = True


class _Ahead:
    """A sheet's rows (``write()`` makes them, ``name`` the sheet) written ahead of the sheets written before them: each
    format not numbered yet goes in as a token (as the second process writes its rows: split.py), and is numbered where
    the rows would have been written (:meth:`numbered`), in the order the tokens come in the sheet's rows, as XlsxWriter
    numbers them when it writes them out (a row, in column order). The sheet's last row is still held by the sheet
    (XlsxWriter writes a row out when the next is touched): its formats are numbered when it is written out, at the
    close, as before. So the formats' numbers, and the bytes, are those of writing the rows in their place."""

    def __init__(self, wb: Any, write: Callable[[], Any], name: str) -> None:
        tokened = [f for f in wb.formats if f.xf_index is None]
        for n, f in enumerate(wb.formats):
            if f.xf_index is None:
                f.xf_index = split.token(n)  # (a cell's own text never holds a raw control character)
        try:
            write()
        finally:
            for f in tokened:
                f.xf_index = None
        self.ws = wb.get_worksheet_by_name(name)

    def numbered(self, wb: Any) -> None:
        """The tokens in the rows written out replaced by the formats' numbers, given now (the sheet's rows so far in a
        file of their own, XlsxWriter's constant-memory file, which the sheet then goes on with)."""
        ws, formats = self.ws, wb.formats
        ws.fh.flush()
        old = ws.row_data_filename
        new = f"{old}.n"
        with open(old, "rb") as src, open(new, "wb") as out:
            split.substitute(src, out, lambda n: formats[n]._get_xf_index(), set())
        ws.row_data_fh.close()
        Path(old).unlink()
        ws.row_data_filename = new
        ws.row_data_fh = ws.fh = open(new, "a+", encoding="utf-8")  # noqa: SIM115 - (the sheet's, closed by XlsxWriter)


class _Kept:
    """A table of a sheet a round may keep (see reuse.py): given whole (``kept``, the state kept with it: its rows
    are not written, and ``given`` says so), or written and then kept (``written``, with the row after them)."""

    def __init__(self, table: _Table, kept: dict[str, Any] | None, written: Callable[[dict[str, Any]], None]) -> None:
        self.table, self.kept, self.written = table, kept, written
        self.given = kept is not None

    def put(self, rec: dict[str, Any]) -> None:
        assert not self.given, "a kept sheet's rows are not written"
        self.table.put(rec)

    def end(self) -> int:
        if self.kept is not None:
            t = self.table
            if self.kept["end"] > t.start:
                t.ws.autofilter(t.header_row, 0, self.kept["end"] - 1, len(t.keys) - 1)
            return int(self.kept["end"])
        end = self.table.end()
        self.written({"end": end})
        return end


def _since_values(since: Any) -> list[Any]:
    """汇总's "since the last run" cells of a unit (:meth:`RoundView.since_of`), as :meth:`_Writer._summary_open`'s
    ``rec`` makes them from :func:`tables.submission`'s (the kept rows' way: reuse.SummaryRows)."""
    return [since.new_files or None, "是" if since.changed else None, "是" if since.newly_valid else None]


class _Summary(NamedTuple):
    """汇总 as :meth:`_Writer._summary_open` leaves it: its table, and what its total row needs."""

    ws: Any
    table: _Table
    rec: Callable[[dict[str, Any]], dict[str, Any]]  # a tables.submissions row → the table's row
    widths: list[float]
    keys: list[str]
    cats: list[Any]


class _Writer:
    def __init__(self, c: Collection, path: "Path | _Output", scratch: Path | None = None) -> None:
        self.c, self.spec = c, c.spec
        self.sheet_class = reuse.sheet_class(c, LeanSheet if lean_enabled() else TextSheet)  # (a round's keeps sheets)
        self.whole_rows = rows_enabled()  # a table's rows written whole (LeanSheet.put_row), else cell by cell
        self.kept_scores: dict[str, Any] | None = None  # 指标得分 given whole in a round (see reuse.py): what it kept
        self.scratch = scratch
        self.second: split.Second | None = None  # 指标得分's rows written by a second process (see split.py)
        self.texts_ws: Any = None  # 文字材料, when the second process writes its rows too (split.TEXTS_TOO)
        self.ahead: _Ahead | None = None  # 文件清单's rows, written while the second process writes its own (FILES_AHEAD)
        self.wb = workbook(path if isinstance(path, _Output) else str(path), {
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
            # Rows are written in order and flushed as they go: memory stays flat at 10,000 units.
            # That mode keeps each sheet in a temporary file, left in TMPDIR by XlsxWriter when
            # writing is interrupted: in a folder of our own instead, which scratch_dir removes.
            "constant_memory": True, "tmpdir": str(scratch) if scratch else None,
            "default_format_properties": dict(DEFAULT_FONT),  # a copy: XlsxWriter adds keys to it (see test_print)
        })
        wb = self.wb
        base = {"font_name": "宋体", "font_size": 10, "valign": "top", "border": 1}
        self.f_title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 16})
        self.f_note = wb.add_format({"font_name": "宋体", "font_size": NOTE_PT, "italic": True, "font_color": "#595959",
                                     "text_wrap": True, "valign": "top"})
        self.f_head = wb.add_format({**base, "bold": True, "bg_color": "#D9E1F2", "text_wrap": True, "valign": "vcenter", "align": "center"})
        # Every text wraps, and every row is as tall as its texts need: nothing runs under a neighbour.
        self.f_text = wb.add_format({**base, "text_wrap": True})
        self.f_wrap = self.f_text
        self.f_money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.f_pct = wb.add_format({**base, "num_format": "0.00%"})
        self.f_num = wb.add_format({**base, "num_format": "General"})
        self.f_num2 = wb.add_format({**base, "num_format": "0.00"})
        self.f_date = wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm"})
        self.f_day = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.f_total = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "text_wrap": True})
        self.f_total_money = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "#,##0.00"})
        self.f_total_pct = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "0.00%"})
        self.f_total_num = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "0.00"})
        self.f_status = {k: wb.add_format({**base, "bg_color": v, "align": "center", "text_wrap": True}) for k, v in _STATUS_COLOURS.items()}

    def write(self) -> None:
        wb = self.wb
        self.plans: dict[str, WidthPlan] = {}
        wb.set_properties({"title": f"{self.spec.title}汇总", "author": "xltemplate", "company": "",
                           "created": _FIXED_TIME, "comments": f"模板 {self.spec.id} {self.spec.version}"})
        sheets = family_of(self.spec).rollup_sheets
        self.item_results = sheets.item_results
        try:
            if ONE_PASS:
                self._in_one_pass(sheets)
            else:
                self._sheet_by_sheet(sheets)
            if self.ahead is not None:  # (written already: its formats numbered here, where its rows were written)
                self.ahead.numbered(wb)
                self.ahead = None
            else:
                self._files()
            if self.c.round is not None:
                self._received()
            if self.second is not None:  # 指标得分's rows, from the second process, where this one's would be
                self.second.join(wb, self.scores_ws)
                if self.texts_ws is not None:  # (and 文字材料's: split.TEXTS_TOO)
                    self.second.join(wb, self.texts_ws)
                self.second = None
        finally:
            if self.second is not None:
                self.second.stop()
        # (a round's kept sheets: read back from the zip, or copied into it; else the large parts deflated by a forked process)
        with reuse.zipping(wb), deflate.ahead(wb, self.scratch):
            wb.close()

    def _in_one_pass(self, sheets: Any) -> None:
        """汇总 to 文字材料, with the rows of 汇总, 指标得分 (指标结果), 未提交 and 文字材料 written in one pass over
        the units, each unit's report loaded once (issue 15), and 统计's figures (差距分析's too) summed in it.

        Every sheet up to 文字材料 is added first, in the workbook's order, and those the pass writes get their
        headings; XlsxWriter's constant-memory mode takes the rows of several sheets in turn, each in order. The
        bytes are those of :meth:`_sheet_by_sheet`: formats are numbered in the order a row using them is first
        written out (XlsxWriter keeps a row until the next row of its sheet is touched), and each unit's 汇总 row,
        which uses every format the unit's rows in the other sheets use, is written out at once, before them, as
        sheet by sheet writes every 汇总 row before any other; the headings use only formats 汇总's heading
        numbers first. 汇总's total row, which shows 统计's figures, is written after the pass, as sheet by sheet
        with sums in passing; the sheets after the pass (统计, 差距分析, 问题清单) number the formats they first use
        after all of the pass's, as sheet by sheet, where none of those comes earlier."""
        c = self.c
        groups = tables.groups(c)
        group_ids, names = [g.id for g in groups], {g.id: g.name for g in groups}
        totals = tables.ScoreTotals(levels=sheets.item_results, gaps=sheets.gaps)
        self.totals: tables.ScoreTotals | None = totals  # (统计's levels and 差距分析 read them too)
        units = tables.UnitTotals(group_ids)
        text_ids = list(self.spec.summary.get("texts", ()))
        summary = self._summary_open()
        scores = self._scores_open() if sheets.item_columns else None
        results = self._results_open() if sheets.item_results else None
        stats_ws = self.wb.add_worksheet("统计", worksheet_class=self.sheet_class)  # (its heading shows the counts)
        gaps_ws = self._gaps_open() if sheets.gaps else None
        findings = self._findings_open()
        missing, missing_rec = self._missing_open()
        texts = self._texts_open()
        gap_units: list[dict[str, Any]] = []  # (差距分析 sorts the valid units: what it shows of each)
        add_score = totals.add
        # a round's kept sheets (see reuse.py): their rows are not made, and 指标得分's sums are those kept with it
        # (unless 指标结果 makes the score rows anyway)
        kept_scores = self.kept_scores if scores is not None else None
        score_rows = kept_scores is None or results is not None
        if kept_scores is not None and not score_rows:
            reuse.restore_sums(totals, kept_scores["sums"])
        write_scores = scores is not None and kept_scores is None
        texts_here = not texts.given  # (文字材料's rows made in this pass: else in the second process, or kept)
        if write_scores and scores is not None and self.whole_rows and self.scratch is not None and split.possible(c, len(c.rows)):
            put_scores = scores[0]
            texts_there = split.TEXTS_TOO and texts_here

            def score_rows_only() -> tuple[int, dict[str, Any], int | None]:
                """In the second process: 指标得分's rows, as this loop would write them, and the sums they make (as a
                round's kept sheet gives them back: reuse.py); how many rows; and 文字材料's rows (split.TEXTS_TOO), with
                the row after them (None: not written there)."""
                n = 0
                for row in c.rows:
                    got = list(tables.unit_scores(c, row, names, sheets.item_results))
                    for r in got:
                        add_score(r)
                    if got:
                        put_scores(*tables.by_unit(got))
                        n += 1
                    if texts_there:
                        t = tables.unit_texts(c, row, text_ids)
                        if t is not None:
                            texts.put(t)
                return (n, {k: dict(v) if isinstance(v, dict) else v for k, v in reuse.sums_state(totals).items()},
                        texts.table.row if texts_there else None)

            self.second = split.start(self.wb, [self.scores_ws, texts.table.ws] if texts_there else self.scores_ws, c,
                                      score_rows_only, self.scratch)
            self.texts_ws = texts.table.ws if texts_there else None
            texts_here = not texts_there
            write_scores = False
            score_rows = results is not None  # (指标结果 makes them here anyway; else their sums come from the child)
        # a round's 汇总 rows: kept by the last run up to their "since" columns (see reuse.SummaryRows)
        table = summary.table
        since_keys, since_fmts = summary.keys[-reuse.SINCE_COLUMNS:], table.col_fmts[-reuse.SINCE_COLUMNS:]
        kept_rows = reuse.summary_rows(c, self.wb, summary.ws, summary.keys, summary.widths,
                                       (self.whole_rows, gaps_ws is not None)) if c.round is not None else None
        if kept_rows is not None and kept_rows.given:
            kept_rows.begin()
        elif kept_rows is not None:
            kept_rows.watch()
        for row in c.rows:
            if kept_rows is not None and kept_rows.given:
                kept_rows.put(table.row, _since_values(c.round.since_of(row.key)), since_fmts)  # type: ignore[union-attr]
                table.row += 1
            else:
                u = tables.submission(c, row, group_ids)
                units.add(u)
                if gaps_ws is not None and u["valid"]:
                    gap_units.append({k: u[k] for k in ("key", "unit", "project", "total", "valid")})
                at = table.row
                rec = summary.rec(u)
                table.put(rec)
                summary.ws._write_single_row(table.row)  # written out now: before the unit's rows in other sheets
                if kept_rows is not None:
                    kept_rows.wrote(at if table.row == at + 1 else -1, [rec.get(k) for k in since_keys], since_fmts)
            rows = list(tables.unit_scores(c, row, names, sheets.item_results)) if score_rows else []
            for r in rows:
                add_score(r)
            if rows:
                if write_scores and scores is not None:
                    scores[0](*tables.by_unit(rows))
                if results is not None:
                    for r in rows:
                        results[0].put(results[1](r))
            m = tables.unit_missing(c, row)
            if m is not None:
                missing.put(missing_rec(m))
            t = tables.unit_texts(c, row, text_ids) if texts_here else None
            if t is not None:
                texts.put(t)
        if kept_rows is not None:  # what the rows leave behind: 统计's sums over the units, 差距分析's units
            if kept_rows.given:
                got = kept_rows.end()
                reuse.restore_sums(units, got["units"])
                gap_units = got["gaps"]
            else:
                kept_rows.done({"units": {k: v for k, v in vars(units).items() if k != "_same"}, "gaps": gap_units})
        end = summary.table.end()
        findings_ahead: _Ahead | None = None
        if self.second is not None and FILES_AHEAD and reuse.parts_of(c) is None:  # (while the second process writes)
            findings_ahead = _Ahead(self.wb, lambda: self._findings_rows(*findings), "问题清单")
            self.ahead = _Ahead(self.wb, self._files, "文件清单")
        if self.second is not None:
            count, sums, texts_end = self.second.rows_done()
            self.skip_score_rows(count)  # (the rows the child wrote, for the sheet's end)
            if texts_end is not None:
                texts.table.row = texts_end  # (文字材料's rows the child wrote, for the sheet's end)
            if not score_rows:
                reuse.restore_sums(totals, sums)
            self.second.numbered(self.wb)  # (every format its rows use is numbered now: split.py)
        if scores is not None:
            scores[1]()
        if results is not None:
            results[0].end()
        missing.end()
        texts.end()
        self.stats = tables.stats(c, totals=totals, unit_totals=units)
        self._summary_total(summary.ws, end, summary.widths, summary.keys, summary.cats)
        self._statistics(stats_ws)
        if gaps_ws is not None:
            self._gaps_rows(gaps_ws, gap_units)
        if findings_ahead is not None:  # (written already: its formats numbered here, where its rows were written)
            findings_ahead.numbered(self.wb)
        else:
            self._findings_rows(*findings)

    def _sheet_by_sheet(self, sheets: Any) -> None:
        """汇总 to 文字材料, one sheet after the other, each in a pass of its own over the units (ONE_PASS off)."""
        units = tables.submissions(self.c)  # one row per unit: 汇总, and the figures 统计 sums
        # the long table's rows are generated anew for each sheet that reads them: 10,000 projects of
        # 16 indicators make 160,000 rows, too many to keep (the 指标得分 sheet streams its rows too).
        # With whole rows, the statistics are summed while the first of those sheets passes over them
        # (tables.ScoreTotals), and 汇总's total row, which shows some of them, is written after it.
        passing = STATS_IN_PASSING and self.whole_rows and (sheets.item_columns or sheets.item_results)
        totals = tables.ScoreTotals(levels=sheets.item_results, gaps=sheets.gaps) if passing else None
        self.totals = totals  # (统计's levels and 差距分析 read them too)
        if totals is None:
            self.stats = tables.stats(self.c, units)
        summary = self._summary_open()
        for u in units:
            summary.table.put(summary.rec(dict(u)))
        end = summary.table.end()
        if totals is None:
            self._summary_total(summary.ws, end, summary.widths, summary.keys, summary.cats)
        else:
            # what writing the total row next would do first: the last row before it written out (so that
            # formats are numbered in the same order; see LeanSheet.put_row)
            summary.ws._write_single_row(end)
        if sheets.item_columns:
            self._scores(totals)
        if sheets.item_results:
            self._results(None if sheets.item_columns else totals)
        if totals is not None:
            self.stats = tables.stats(self.c, units, totals=totals)
            self._summary_total(summary.ws, end, summary.widths, summary.keys, summary.cats)
        self._statistics()
        if sheets.gaps:
            self._gaps_rows(self._gaps_open(), units)
        self._findings_rows(*self._findings_open())
        missing, missing_rec = self._missing_open()
        for m in tables.missing(self.c):
            missing.put(missing_rec(m))
        missing.end()
        texts = self._texts_open()
        for t in (tables.texts(self.c) if not texts.given else ()):  # (a round's kept sheet: given whole)
            texts.put(t)
        texts.end()

    # -- helpers -------------------------------------------------------------------
    def _put(self, ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        fmt = fmt or self.f_text
        kind = type(value)
        if value is None or value == "":
            code = ws.write_blank(row, col, None, fmt)
        elif kind is str:
            value = _fits(json_text(value))  # a name that is not UTF-8 (in a message, say) cannot be encoded: U+FFFD
            code = ws.write_string(row, col, value, fmt)  # text stays text, whatever it starts with
        elif kind is Decimal or kind is int or kind is float:
            code = ws.write_number(row, col, float(value), fmt)
        elif kind is bool:
            code = ws.write_string(row, col, "是" if value else "否", fmt)
        elif kind is dt.datetime:
            code = ws.write_datetime(row, col, value, self.f_date if fmt is self.f_text else fmt)
        else:
            code = ws.write_string(row, col, _fits(str(value)), fmt)
        if code is not None and code < 0:
            raise GenerateError(f"XlsxWriter refused a value in {ws.name} row {row + 1} (code {code})")

    def _row(self, ws: Any, row: int, height: float, values: list[Any], fmts: list[Any]) -> None:
        """One row of a table: ``set_row`` and :meth:`_put` for each cell (``fmts`` resolved: none is None),
        in one piece when the sheet can (:meth:`LeanSheet.put_row`, the same bytes)."""
        if self.whole_rows and ws.put_row(row, height, values, fmts, self.f_text, self.f_date):
            return
        ws.set_row(row, height)
        put = self._put
        for col, value in enumerate(values):
            put(ws, row, col, value, fmts[col])

    def _sheet(self, name: str, title: str, note: str, headers: list[str], widths: list[float], key_cols: int = 2) -> Any:
        """A table sheet: title, note, header row (row 3, repeated on every page) and its print setup."""
        ws = self.wb.add_worksheet(name, worksheet_class=self.sheet_class)
        for col, w in enumerate(widths):
            ws.set_column(col, col, w)
        plan = plan_width(widths, PAGE, BODY_PT, key_cols=key_cols)
        self.plans[name] = plan
        self._heading(ws, title, note, widths, plan, key_cols)
        ws.set_row(2, row_height(headers, widths, BODY_PT, bold=True))
        for col, h in enumerate(headers):
            ws.write_string(2, col, h, self.f_head)
        ws.freeze_panes(3, 0)
        self._print(ws, plan, (2, 2), key_cols)
        return ws

    def _heading(self, ws: Any, title: str, note: str, widths: list[float], plan: WidthPlan, key_cols: int) -> list[float]:
        """Rows 1 and 2: the title, and the note wrapped across the page (across the repeated key
        columns when the sheet is several pages wide: they print on every page, the rest would be cut).
        Returns the two rows' heights."""
        ws.set_row(0, 24)
        ws.write_string(0, 0, title, self.f_title)
        last = (key_cols if plan.breaks else len(widths)) - 1
        height = max(16.0, text_height(wrapped_lines(note, sum(widths[:last + 1]), NOTE_PT), NOTE_PT))
        ws.set_row(1, height)
        if last > 0:
            ws.merge_range(1, 0, 1, last, note, self.f_note)
        else:
            ws.write_string(1, 0, note, self.f_note)
        return [24.0, height]

    def _print(self, ws: Any, plan: WidthPlan, title_rows: tuple[int, int] | None, key_cols: int) -> None:
        """A4 landscape, the plan's scale and column pages, title rows (and key columns) on every page."""
        set_landscape(ws, PAGE, plan, key_cols)
        if title_rows:
            ws.repeat_rows(*title_rows)
        ws.set_footer(footer(f"{self.spec.title}汇总"), {"margin": PAGE.footer})

    def _table(self, ws: Any, rows: Iterable[dict[str, Any]], keys: list[str], fmts: dict[str, Any], widths: list[float],
               key_cols: int = 2, start: int = 3, header_row: int = 2) -> int:
        """Write ``rows`` in order (constant memory), each row as tall as its texts need (see :class:`_Table`)."""
        table = _Table(self, ws, keys, fmts, widths, key_cols, start, header_row)
        for rec in rows:
            table.put(rec)
        return table.end()

    # -- sheets ----------------------------------------------------------------------------
    def _role(self, role: str, default: str, money: bool = False) -> str:
        """A column's header: the label of the field a summary role names (with the money unit)."""
        fid = self.spec.summary.get(role)
        if not fid:
            return default
        label = self.spec.field(fid).label
        unit = self.spec.money_unit
        return label if not money or unit in label else f"{label}（{unit}）"

    def _summary_open(self) -> _Summary:
        """汇总 up to its rows (one per unit, then the total row: :meth:`_summary_total`)."""
        spec, counts, rnd = self.spec, self.c.counts(), self.c.round
        cats = tables.groups(self.c)
        headers = ["编号", self._role("unit", "预算单位"), self._role("project", "项目名称"), self._role("budget", "预算数", True),
                   self._role("executed", "执行数", True), "预算执行率"]
        headers += [f"{c.name}\n({csv_cell(c.points)}分)" for c in cats]
        headers += ["总分", "绩效等级", "状态", "错误数", "警告数", "来源文件", "文件保存时间"]
        widths: list[float] = [8.0, 16, 16, 15, 15, 8, *([7.0] * len(cats)), 6, 6, 7, 5, 5, 18, 11]
        if rnd is not None:
            # Three narrow columns more: the text columns give the room (they wrap), the money columns keep
            # theirs (a number that does not fit shows as ###), so the sheet stays one page wide at 85 % or more.
            headers += ["本次新收", "本次变化", "本次新有效"]
            widths = [8.0, 11, 11, 15, 15, 8, *([7.0] * len(cats)), 6, 6, 7, 5, 5, 11, 11, 5, 5, 5]
        note = ("；".join(counts.lines() + [identity_line(self.c.identity_verified)]) + "。分数和执行率均按模板由填报数据重新计算；"
                + ("预算单位、项目名称、预算数等财政局预填的内容取自名单；" if self.c.roster is not None else "")
                + f"{UNIT_INVALID}的单位显示其分数，但等级为“未核定”；合计行和统计只计{UNIT_VALID}的单位。"
                + (f"{rnd.note()}“本次新收”是此后收到的该单位文件数，“本次变化”指计入的文件或状态有变化。" if rnd is not None else ""))
        ws = self._sheet("汇总", f"{spec.title}汇总", note, headers, widths)
        keys = ["key", "unit", "project", "budget", "executed", "execution_rate"] + [f"score_{c.id}" for c in cats]
        keys += ["total", "grade", "status", "errors", "warnings", "file", "saved_at"]
        fmts = {"budget": self.f_money, "executed": self.f_money, "execution_rate": self.f_pct, "total": self.f_num,
                "file": self.f_wrap, "unit": self.f_wrap, "project": self.f_wrap, "saved_at": self.f_day}
        if rnd is not None:
            keys += ["new_files", "changed", "newly_valid"]
            fmts["new_files"] = self.f_num
        status = self.f_status

        def rec(u: dict[str, Any]) -> dict[str, Any]:
            u["_fmt_status"] = status[u["status"]]
            if rnd is not None:  # 是 or blank: a column of 否 would hide the few that changed
                u["changed"] = "是" if u["changed"] else None
                u["newly_valid"] = "是" if u["newly_valid"] else None
            return u

        return _Summary(ws, _Table(self, ws, keys, fmts, widths), rec, widths, keys, cats)

    def _summary_total(self, ws: Any, end: int, widths: list[float], keys: list[str], cats: list[Any]) -> None:
        """汇总's last row: the totals and means over the units 已提交有效."""
        rnd = self.c.round
        st = self.stats
        total = [f"合计（{UNIT_VALID} {st.valid}）", "", "", st.budget, st.executed, st.rate]
        total += [c["mean"] for c in st.categories] + [st.total_mean, "平均", "", "", "", "", ""]
        total_fmts = [self.f_total] * 3 + [self.f_total_money] * 2 + [self.f_total_pct] + [self.f_total_num] * (len(cats) + 1) + [self.f_total] * 7
        if rnd is not None:
            total += ["", "", ""]
            total_fmts += [self.f_total] * 3
        ws.set_row(end, row_height([total[0]], [sum(widths[:3])], BODY_PT, bold=True))
        for col, (v, f) in enumerate(zip(total, total_fmts)):
            if col == 0:  # the label across 编号, 预算单位 and 项目名称
                ws.merge_range(end, 0, end, 2, v, f)
            elif col > 2:
                self._put(ws, end, col, v, f)
        ws.print_area(0, 0, end, len(keys) - 1)

    def _scores(self, totals: tables.ScoreTotals | None = None) -> None:
        """Units × indicators: each indicator's score and points lost, the unit's own indicators at the end
        (the rows of :func:`tables.scores`, one line per unit)."""
        put, end = self._scores_open()
        if self.kept_scores is None:
            for first, by_id, own in tables.scores_by_unit(self.c, totals):
                put(first, by_id, own)
        elif totals is not None:  # (given whole: the sums its rows made, kept with it)
            reuse.restore_sums(totals, self.kept_scores["sums"])
        end()

    def _scores_open(self) -> tuple[Callable[[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]]], None],
                                    Callable[[], None]]:
        """指标得分 up to its rows: (what writes a unit's row from :func:`tables.by_unit`, what ends the sheet)."""
        groups = tables.groups(self.c)
        names_of = {g.id: g.name for g in groups}
        inds = tables.items(self.c)
        ws = self.scores_ws = self.wb.add_worksheet("指标得分", worksheet_class=self.sheet_class)
        fixed = ["编号", "预算单位", "状态"]
        extra_col = len(fixed) + 2 * len(inds)
        widths = [8.0, 18.0, 6.0] + [6.0] * (2 * len(inds)) + [30.0]
        for col, w in enumerate(widths):
            ws.set_column(col, col, w)
        # Too wide for one page: full size over several pages wide, 编号 to 状态 on each, a category
        # kept on one page when it fits, an indicator's two columns never apart.
        pairs = [(len(fixed) + 2 * n, len(fixed) + 2 * n + 1) for n in range(len(inds))] + [(extra_col, extra_col)]
        blocks, n = [], 0
        for g in groups:
            count = sum(1 for i in inds if i.group == g.id)
            if count:
                blocks.append((n, n + count - 1))
            n += count
        plan = plan_width(widths, PAGE, BODY_PT, key_cols=len(fixed), items=pairs, blocks=blocks)
        self._heading(ws, "指标得分明细", "每个计入的文件一行；每个指标两列：自评分和失分（权重 − 自评分），权重为空（不适用）的指标空白。"
                      f"单位自行增加的指标列在最后。统计只用{UNIT_VALID}的单位。", widths, plan, len(fixed))
        names = [f"{ind.name}（{names_of[ind.group]}）" for ind in inds]
        # constant-memory mode flushes a row once the next one is touched: row 2 first, whole, then row 3
        ws.set_row(2, row_height(fixed + names + ["自定义指标（自评分/权重）"], widths[:3] + [12.0] * len(names) + [widths[-1]], BODY_PT, bold=True))
        for col, h in enumerate(fixed):
            ws.write_string(2, col, h, self.f_head)
        for n, name in enumerate(names):
            col = len(fixed) + 2 * n
            ws.merge_range(2, col, 2, col + 1, name, self.f_head)
        ws.write_string(2, extra_col, "自定义指标（自评分/权重）", self.f_head)
        for col in range(len(fixed)):
            ws.write_blank(3, col, None, self.f_head)
        for n in range(len(inds)):
            col = len(fixed) + 2 * n
            ws.write_string(3, col, "得分", self.f_head)
            ws.write_string(3, col + 1, "失分", self.f_head)
        ws.write_blank(3, extra_col, None, self.f_head)
        ws.freeze_panes(4, 3)
        self._print(ws, plan, (2, 3), len(fixed))
        # A round's sheet made from the same things as last run's is given whole (see reuse.py): no rows are written,
        # and the sums its rows add to (self.totals) are those kept with it (self.kept_scores: the caller restores them)
        kept, written = reuse.given(self.c, self.wb, ws, (self.whole_rows, ONE_PASS, self.totals is not None))
        self.kept_scores = kept
        if kept is not None:
            def ignore(first: dict[str, Any], by_id: dict[str, dict[str, Any]], own: list[dict[str, Any]]) -> None:
                raise AssertionError("a kept sheet's rows are not written")

            def given_end() -> None:
                if kept["end"] > 4:
                    ws.autofilter(3, 0, kept["end"] - 1, extra_col)

            return ignore, given_end
        row = 4
        fmts = [self.f_text, self.f_text, self.f_text] + [self.f_num] * (2 * len(inds)) + [self.f_wrap]
        ind_ids, head_widths = [ind.id for ind in inds], widths[:3] + widths[-1:]

        def put(first: dict[str, Any], by_id: dict[str, dict[str, Any]], own: list[dict[str, Any]]) -> None:
            nonlocal row
            key, unit, status = first["key"], first["unit"], first["status"]
            extras = "；".join(f"{x['indicator']}：{csv_cell(x['score'])}/{csv_cell(x['weight'])}" for x in own) or None
            values: list[Any] = [key, unit, status]
            for ind_id in ind_ids:
                got = by_id.get(ind_id)
                if got is not None and got["weight"]:
                    score = got["score"]
                    values += (score, got["lost"] if isinstance(score, Decimal) else None)  # no score: no loss shown
                else:
                    values += (None, None)
            values.append(extras)
            fmts[2] = self.f_status[status]
            self._row(ws, row, row_height([key, unit, status, extras], head_widths, BODY_PT), values, fmts)
            row += 1

        def skip(count: int) -> None:
            nonlocal row
            row += count  # (rows the second process wrote: split.py)

        self.skip_score_rows = skip

        def end() -> None:
            if row > 4:
                ws.autofilter(3, 0, row - 1, extra_col)
            written({"end": row, "sums": reuse.sums_state(self.totals) if self.totals is not None else None})

        return put, end

    def _results(self, totals: tables.ScoreTotals | None = None) -> None:
        """指标结果: one row per unit and indicator (the rows of :func:`tables.scores`), for a family whose
        units have indicators of their own."""
        table, rec = self._results_open()
        for r in (tables.scores(self.c) if totals is None else totals.seen(tables.scores(self.c))):
            table.put(rec(r))
        table.end()

    def _results_open(self) -> tuple[_Table, Callable[[dict[str, Any]], dict[str, Any]]]:
        """指标结果 up to its rows: its table, and what makes a :func:`tables.scores` row the table's row."""
        headers = ["编号", self._role("unit", "预算单位"), "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值",
                   "实际完成值", "分值", "得分", "失分", "是否达成", "偏差原因", "状态"]
        widths: list[float] = [7, 13, 8, 11, 18, 5, 6, 9, 10, 5, 5, 5, 6, 5, 10]
        note = (f"每个计入文件的每个指标一行：得分按指标性质由年度指标值和实际完成值重新计算（定性指标为单位所给、在所选档次内的得分）。"
                f"统计只用{UNIT_VALID}的单位。")
        ws = self._sheet("指标结果", "指标结果明细", note, headers, widths, key_cols=2)
        status = self.f_status

        def rec(r: dict[str, Any]) -> dict[str, Any]:
            r["met_zh"] = "达成" if r["met"] else "未达成"
            r["reason_zh"] = "已填" if r["reason"] else ""
            r["_fmt_status"] = status[r["status"]]
            return r

        keys = ["key", "unit", "category", "subcategory", "indicator", "rule", "measure", "target", "actual", "weight", "score",
                "lost", "met_zh", "reason_zh", "status"]
        return _Table(self, ws, keys, {"weight": self.f_num, "score": self.f_num, "lost": self.f_num}, widths, key_cols=2), rec

    def _gaps_open(self) -> Any:
        """差距分析 up to its rows (:meth:`_gaps_rows`): the units 已提交有效 by points lost, most first, and where
        they lost them."""
        headers = ["名次", "编号", self._role("unit", "预算单位"), self._role("project", "项目名称"), "总分", "失分",
                   "其中：指标失分", "其中：指标以外失分", "失分最多的指标"]
        widths: list[float] = [5, 8, 18, 18, 7, 7, 9, 9, 50]
        note = f"按失分（{plain_number(self.spec.total)} − 总分）从多到少排列，只列{UNIT_VALID}的单位；指标以外的失分即预算执行率的失分。"
        return self._sheet("差距分析", "差距最大的项目", note, headers, widths, key_cols=3)

    def _gaps_rows(self, ws: Any, units: list[dict[str, Any]]) -> None:
        """差距分析's rows, from the :func:`tables.submissions` rows (of the valid units at least)."""
        widths: list[float] = [5, 8, 18, 18, 7, 7, 9, 9, 50]
        keys = ["rank", "key", "unit", "project", "total", "lost", "indicators_lost", "other_lost", "worst"]
        self._table(ws, tables.gaps(self.c, units, totals=self.totals), keys,
                    {k: self.f_num for k in ("total", "lost", "indicators_lost", "other_lost")}, widths, key_cols=3)

    def _statistics(self, ws: Any = None) -> None:
        """Tables in columns A to G, the two charts in column H beside them; each table kept on one page.
        ``ws``: the sheet, added already (else now)."""
        st, wb = self.stats, self.wb
        if ws is None:
            ws = wb.add_worksheet("统计", worksheet_class=self.sheet_class)
        chart_px = (400, 230)  # each chart, width and height
        # B holds the executed total (up to 9,999,999,999.99); H holds the charts.
        widths = [28.0, 18.0] + [11.0] * 5 + [units_of_px(chart_px[0] + 12)]
        for col, w in enumerate(widths):
            ws.set_column(col, col, w)
        plan = plan_width(widths, PAGE, BODY_PT, fit=False)
        heights: list[float] = []
        blocks: list[tuple[int, int]] = []
        row = 0

        def line(values: list[Any], fmts: list[Any] | None = None) -> None:
            """One row, as tall as its texts: a header row (in bold) when ``fmts`` is None."""
            nonlocal row
            h = row_height(values, widths, BODY_PT, bold=fmts is None)
            ws.set_row(row, h)
            heights.append(h)
            for col, v in enumerate(values):
                self._put(ws, row, col, v, fmts[col] if fmts else self.f_head)
            row += 1

        def gap() -> None:
            nonlocal row
            ws.set_row(row, 10)
            heights.append(10)
            row += 1

        note = f"仅统计{UNIT_VALID}的单位（{st.valid} 个）；{UNIT_INVALID}和{MISSING}的单位不计入。"
        heights += self._heading(ws, "统计分析", note, widths[:7], plan, 0)
        row = 2
        gap()

        first = row
        line(["绩效等级", "数量", "占比"])
        for label, n in st.grades:
            line([label, n, (Decimal(n) / st.valid) if st.valid else None], [None, self.f_num, self.f_pct])
        grades = (first + 1, row - 1)
        blocks.append((first, row - 1))
        gap()

        first = row
        line(["总分", "平均", "中位数", "最低", "最高"])
        line([UNIT_VALID, st.total_mean, st.total_median, st.total_min, st.total_max], [None] + [self.f_num2] * 4)
        blocks.append((first, row - 1))
        gap()

        first = row
        line(["一级指标", "分值", "平均得分", "得分率"])
        for cat in st.categories:
            line([cat["name"], cat["points"], cat["mean"], cat["rate"]], [None, self.f_num, self.f_num2, self.f_pct])
        rates = (first + 1, row - 1)
        blocks.append((first, row - 1))
        gap()

        first = row
        line([f"预算合计（{self.spec.money_unit}）", f"执行合计（{self.spec.money_unit}）", "总体执行率"])
        line([st.budget, st.executed, st.rate], [self.f_money, self.f_money, self.f_pct])
        blocks.append((first, row - 1))
        gap()

        # The counts table is long: it starts below the charts, so that the tables beside the
        # charts (kept on one page with them) stay short enough for one page.
        top = 3
        chart_pt = chart_px[1] * PT_PER_PX

        def chart_rows() -> tuple[int, int]:
            """The row the second chart starts in (the row after the one the first, and 8 pt to spare, ends in: in
            that row it would stand over the first one's lower edge), and the row it ends in."""
            second = row_below(heights, top, chart_pt + 8) + 1
            return second, row_below(heights, second, chart_pt)

        while chart_rows()[1] >= row:  # (rows not laid out yet count 15 pt: gaps of 10 until the charts end above)
            gap()
        counts = self.c.counts()
        first = row
        line(["对象", "提交情况", "数量"])
        for group, label, count in counts.table():
            line([group, label, count], [None, None, self.f_num])
        blocks.append((first, row - 1))
        gap()

        first = row
        by_level = self.item_results  # the units' own indicators: by 一级 and 二级, not one by one
        title = "各一级、二级指标完成情况" if by_level else "各指标平均得分率（按平均失分从多到少排列）"
        h = row_height([title], [sum(widths[:7])], BODY_PT, bold=True)
        ws.set_row(row, h)
        heights.append(h)
        ws.merge_range(row, 0, row, 6, title, self.f_head)
        row += 1
        if by_level:
            line(["一级 / 二级指标", "指标数", "达成数", "达成率", "失分合计", "每单位平均失分", "得分率"])
            for lv in tables.levels(self.c, totals=self.totals):
                name = lv["category"] if lv["subcategory"] is None else f"　{lv['subcategory']}"
                fmt = self.f_total if lv["subcategory"] is None else None
                line([name, lv["indicators"], lv["met"], lv["met_rate"], lv["lost"], lv["lost_per_unit"], lv["rate"]],
                     [fmt, self.f_num, self.f_num, self.f_pct, self.f_num2, self.f_num2, self.f_pct])
        else:
            line(["指标", "一级指标", "适用的单位数", "平均权重", "平均得分", "平均失分", "得分率"])
        for ind in ([] if by_level else st.indicators):
            line([ind["indicator"], ind["category"], ind["n"], ind["weight"], ind["score"], ind["lost"], ind["rate"]],
                 [None, None, self.f_num, self.f_num2, self.f_num2, self.f_num2, self.f_pct])
        blocks.append((first, min(row - 1, first + 5)))  # the heading with the table's first rows
        head = first + 1  # the last table: its header repeats on the pages it runs on to

        last = row - 1

        # The charts stand in column H, one under the other from the first table down; the rows
        # beside them stay on one page, so that no page break cuts a chart.
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"name": "单位数", "categories": ["统计", grades[0], 0, grades[1], 0], "values": ["统计", grades[0], 1, grades[1], 1],
                          "data_labels": {"value": True}, "fill": {"color": "#4472C4"}})
        chart.set_title({"name": "绩效等级分布", "name_font": {"name": "宋体", "size": 12}})
        chart.set_legend({"none": True})
        chart.set_y_axis({"min": 0, "major_gridlines": {"visible": True}})
        chart.set_size({"width": chart_px[0], "height": chart_px[1]})
        ws.insert_chart(top, 7, chart, {"x_offset": 6})
        second, bottom = chart_rows()
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "得分率", "categories": ["统计", rates[0], 0, rates[1], 0], "values": ["统计", rates[0], 3, rates[1], 3],
                          "data_labels": {"value": True, "num_format": "0.0%"}, "fill": {"color": "#70AD47"}})
        chart.set_title({"name": "各一级指标得分率", "name_font": {"name": "宋体", "size": 12}})
        chart.set_legend({"none": True})
        chart.set_x_axis({"min": 0, "max": 1, "num_format": "0%", "major_unit": 0.2})  # labels upright at this width
        chart.set_y_axis({"reverse": True})
        chart.set_size({"width": chart_px[0], "height": chart_px[1]})
        ws.insert_chart(second, 7, chart, {"x_offset": 6})
        blocks = [(top, max(bottom, *(b for a, b in blocks if a < bottom)))] + [b for b in blocks if b[0] >= bottom]
        while len(heights) <= bottom:  # rows under a chart that the tables did not reach
            heights.append(15.0)
        self.stats_breaks = paginate(heights, blocks, lambda _first: page_rows_pt(PAGE, plan.scale))
        if self.stats_breaks:
            ws.set_h_pagebreaks(self.stats_breaks)
        ws.print_area(0, 0, max(last, bottom), len(widths) - 1)
        self._print(ws, plan, (head, head), 0)

    def _findings_open(self) -> tuple[Any, list[float]]:
        """问题清单 up to its rows (:meth:`_findings_rows`)."""
        headers = ["文件", "编号", "预算单位", "工作表", "单元格", "问题", "严重程度", "问题及修改方法", "文件中的值", "代码"]
        widths: list[float] = [22, 8, 14, 10, 6, 14, 6, 50, 18, 16]
        ws = self._sheet("问题清单", "问题清单", "每个文件的每个问题（含被替代、重复和未匹配的文件）。错误须由单位修改后重新提交；警告供核对。",
                         headers, widths, key_cols=3)
        return ws, widths

    def _findings_rows(self, ws: Any, widths: list[float]) -> None:
        def rows() -> Iterator[dict[str, Any]]:  # (as they come: every finding of every file would be a long list)
            for r in tables.findings(self.c):
                r["severity_zh"] = SEVERITY_ZH[r["severity"]]
                yield r

        keys = ["file", "key", "unit", "sheet", "cell", "title", "severity_zh", "message", "value", "code"]
        # A round's sheet made from the same reports (and findings matching added) as the last run's is given whole
        # (see reuse.py): making its rows loads every report with findings
        digest = reuse.returns_digest(self.c)
        written: Callable[[dict[str, Any]], None] = lambda state: None  # noqa: E731
        if digest is not None:
            kept, written = reuse.given(self.c, self.wb, ws, (digest,))
            if kept is not None:
                if kept["end"] > 3:
                    ws.autofilter(2, 0, kept["end"] - 1, len(keys) - 1)
                return
        written({"end": self._table(ws, rows(), keys, {}, widths, key_cols=3)})

    def _missing_open(self) -> tuple[_Table, Callable[[dict[str, Any]], dict[str, Any]]]:
        """未提交 up to its rows: its table, and what makes a :func:`tables.missing` row the table's row."""
        unmatched = self.c.counts().unmatched
        note = (f"{MISSING}和{UNIT_INVALID}的单位及原因。"
                + (f"另有 {unmatched} 个文件{UNMATCHED}（没有对应到名单中的单位），见“文件清单”。" if unmatched else ""))
        widths: list[float] = [8, 28, 28, 11, 16, 54]
        ws = self._sheet("未提交", f"{MISSING}或{UNIT_INVALID}的单位", note, ["编号", "预算单位", "项目名称", "状态", "原因", "相关文件"], widths)
        status = self.f_status

        def rec(r: dict[str, Any]) -> dict[str, Any]:
            r["_fmt_status"] = status[r["status"]]
            return r

        return _Table(self, ws, ["key", "unit", "project", "status", "reason", "files"], {}, widths), rec

    def _texts_open(self) -> "_Kept":
        """文字材料 up to its rows (those of :func:`tables.texts`)."""
        ids = list(self.spec.summary.get("texts", ()))
        labels = [self.spec.field(i).label for i in ids]
        widths: list[float] = [8, 14, 14] + [max(30.0, 132.0 / max(len(ids), 1))] * len(ids)
        ws = self._sheet("文字材料", "文字材料", "各单位填报的文字内容（已去除网页标记）。一格写不下的文字接续在下一行，以“（续）”开头。",
                         ["编号", "预算单位", "项目名称"] + labels, widths, key_cols=3)
        table = _Table(self, ws, ["key", "unit", "project"] + ids, {}, widths, key_cols=3)
        kept, written = reuse.given(self.c, self.wb, ws, (ONE_PASS,))  # (a round's: see reuse.py)
        return _Kept(table, kept, written)

    def _files(self) -> None:
        headers = ["文件", "编号", "状态", "处理", "说明", "错误数", "警告数", "保存时间", "保存程序", "SHA-256", "路径"]
        # SHA-256 whole in two lines of 32 hex digits, as 提交记录 shows it (文件, 处理 and 路径 give the room)
        widths: list[float] = [20, 8, 7, 7, 22, 5, 5, 17, 14, 38, 26]
        fates = ROUND_FATES if self.c.round is not None else FATES
        note = f"找到的每个文件：状态（{' / '.join(STATUS_ZH.values())}）和处理（{' / '.join(fates)}）。"
        if self.c.round is not None:
            note += "收件文件夹中已没有、但仍按台账中的归档副本计入的文件也列在这里；每个文件的完整经过见“提交记录”。"
        ws = self._sheet("文件清单", "文件清单", note, headers, widths, key_cols=1)
        keys = ["file", "key", "status", "fate", "note", "errors", "warnings", "saved_at", "application", "sha256", "path"]
        # A round's sheet whose rows are those of last run's is given whole (see reuse.py): its rows are made from the
        # briefs (quick), writing them is not
        # (the digest only where a sheet may be kept: a pass over every file's row, ~0.3 s of 10,000 in plain collect)
        # (or the one the last run with this run's inputs made: rounds.run.DIGESTS_RECALLED)
        digest = ((reuse.sheet_digest(self.c, "文件清单 facts", lambda: reuse.facts_digest(tables.file_facts(self.c)))
                   if reuse.DIGESTS_OF_FACTS else
                   reuse.sheet_digest(self.c, "文件清单 rows", lambda: reuse.rows_digest(tables.iter_files(self.c), keys)),)
                  if reuse.parts_of(self.c) is not None else ())
        kept, written = reuse.given(self.c, self.wb, ws, digest)
        if kept is not None:
            if kept["end"] > 3:
                ws.autofilter(2, 0, kept["end"] - 1, len(keys) - 1)
            return

        def rows() -> Iterator[dict[str, Any]]:  # (as they come: no list of every file's row)
            for r in tables.iter_files(self.c):
                r["sha256"] = _sha_lines(r["sha256"])
                yield r

        written({"end": self._table(ws, rows(), keys, {}, widths, key_cols=1)})


    def _received(self) -> None:
        """提交记录: every file the round has received, in arrival order, with its fate in this run and why."""
        rnd = self.c.round
        assert rnd is not None
        headers = ["序号", "首次收到", "汇总次", "编号", "文件", "状态", "文件保存时间", "处理", "说明", "在收件文件夹", "路径", "SHA-256"]
        # SHA-256 wide enough for its 64 hex digits in two lines of 32 (说明 and 路径 give the room; it still prints one
        # page wide at 90 %)
        widths: list[float] = [5, 11, 5, 8, 18, 6, 11, 7, 26, 5, 20, 38]
        fates = " / ".join(f for f in ROUND_FATES if f != SKIPPED)
        note = (f"台账 {rnd.ledger} 收到的每个文件（内容相同的文件算一个），按收到的先后排列，及其在第 {rnd.run} 次汇总中的处理"
                f"（{fates}）和原因。“首次收到”是台账第一次记录它的时间（时间均为北京时间）；不在收件文件夹中的文件，台账中保存着它的副本。")
        ws = self._sheet("提交记录", "提交记录", note, headers, widths, key_cols=1)

        def rows() -> Iterator[dict[str, Any]]:  # (as they come: no list of every file's row)
            for r in tables.iter_received(self.c):
                r["in_inbox"] = "是" if r["in_inbox"] else "否"
                # As text in two lines (date, time): a date-time number format needs a column half again as wide, or
                # LibreOffice prints ### in it; ISO text still sorts and filters in time order.
                r["first_seen"] = f"{r['first_seen']:%Y-%m-%d %H:%M}" if r["first_seen"] else None
                r["sha256"] = _sha_lines(r["sha256"])
                yield r

        keys = ["arrival", "first_seen", "first_run", "key", "file", "status", "saved_at", "fate", "note", "in_inbox", "path", "sha256"]
        # A round's sheet whose rows are those of the last run's is given whole but for its note, which names the run
        # (see reuse.py): its rows are made from the ledger (quick), writing them is not
        # (a round's received rows say what they are made of: rounds.view.RECEIVED_FACTS)
        facts = getattr(rnd.received, "facts", None)
        kept, written = reuse.given(self.c, self.wb, ws, (  # (the digest maybe recalled: rounds.run.DIGESTS_RECALLED)
            reuse.sheet_digest(self.c, f"提交记录 facts {facts is not None}",
                               lambda: reuse.facts_digest(facts() if facts is not None else rnd.received))
            if reuse.DIGESTS_OF_FACTS
            else reuse.sheet_digest(self.c, "提交记录 rows", lambda: reuse.rows_digest(tables.iter_received(self.c), keys)),))
        if kept is not None:
            if kept["end"] > 3:
                ws.autofilter(2, 0, kept["end"] - 1, len(keys) - 1)
            return
        written({"end": self._table(ws, rows(), keys, {"arrival": self.f_num, "first_run": self.f_num,
                                                          "saved_at": self.f_day}, widths, key_cols=1)})
