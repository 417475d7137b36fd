"""The tenth pass's read side (issue 15, helper natrows): what the sheets' searches for comments, instructions,
namespace declarations and a second <sheetData> now do in memchr's steps, or later, must refuse, send to the general
path and read exactly what they did.

Each case is a national return with markup put where those searches look (the head, the cells, a row's attributes,
a value, a formula), among the bytes that make the searches cheap or not ("!", "?", "x" elsewhere), read between
sound returns with the fast paths on (twice) and off (:func:`tests.fast_paths.differences_on_and_off`).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from .fast_paths import differences_on_and_off, forget, module, switched, verdict
from .test_natr_hostile import FORM, NATIONAL, OTHER, Change, at, built, replaced

#: Put in a sheet's cells: a second cell area (at the start, between rows, inside a row, an empty one), comments,
#: CDATA and instructions, a namespace declaration on a row (default, prefixed), "xmlns" as a value's and a formula's
#: text, and the bytes each search now looks for first ("!", "?", "x") where they mean nothing.
IN_CELLS = [b"<sheetData>", b"<sheetData/>", b"<sheetData></sheetData>", b"<!-- x -->", b"<![CDATA[x]]>", b"<?pi x?>",
            b'<row r="1" xmlns="urn:x">', b'<row r="1" xmlns:q="urn:x">']


def cases() -> dict[str, dict[str, Change]]:
    out: dict[str, dict[str, Change]] = {}
    for part, name in ((FORM, "form"), (OTHER, "other")):
        for k, what in enumerate(IN_CELLS):
            out[f"start-{name}-{k}"] = {part: at(b"<sheetData>", what)}
            out[f"between-{name}-{k}"] = {part: at(b"</row>", what, nth=1)}
            out[f"in-row-{name}-{k}"] = {part: at(b"</c>", what, nth=2)}
            # and with a fault in the head too: the split path reads the head before it looks for a second <sheetData>
            out[f"head-fault-{name}-{k}"] = {part: lambda d, w=what: at(b"<sheetData>", b'<sheetPr a="1" a="2"/>', after=False)(
                at(b"</row>", w, nth=1)(d))}
        out[f"row-xmlns-{name}"] = {part: replaced(b'<row r="2"', b'<row r="2" xmlns="urn:x"')}
        out[f"row-xmlns-q-{name}"] = {part: replaced(b'<row r="2"', b'<row r="2" xmlns:q="urn:x"')}
        out[f"row-x-{name}"] = {part: replaced(b'<row r="2"', b'<row r="2" x14ac:dyDescent="0.25"')}
        out[f"head-marks-{name}"] = {part: at(b"<sheetData>", b'<sheetPr codeName="x!?"/>', after=False)}
        out[f"value-marks-{name}"] = {part: replaced(b"<v>", b"<v>xmlns!?")}
    out["formula-marks"] = {FORM: replaced(b'<f aca="false">', b'<f aca="false">"xmlns!?"&amp;')}
    out["formula-sheet"] = {FORM: replaced(b'<f aca="false">', b'<f aca="false">\'x\'!A1+')}
    return out


def test_the_sheets_searches_refuse_and_read_as_before(tmp_path: Path) -> None:
    sound = built(tmp_path / "sound.xlsx", {})
    row: list[Path] = []
    for k, (name, changes) in enumerate(cases().items()):
        row += [sound if k % 2 else NATIONAL[k % len(NATIONAL)], built(tmp_path / f"{name}.xlsx", changes)]
    assert len(row) > 100
    assert differences_on_and_off(row) == []
    forget()
    verdicts = [verdict(p) for p in row[1::2]]
    refused = sum(isinstance(v, tuple) for v in verdicts)
    assert 20 < refused < len(verdicts) - 5  # (not idle: many cases refused, some read)


# -- a new skeleton put together from its rows as the row attributes' pattern cut them (sheet_strict.ROWS_BY_PARTS) --

_ROW = re.compile(rb"<row r=\"([0-9]+)\"[^>]*?(?:/>|>.*?</row>)", re.S)


def _mutated(stream: bytes, rng: random.Random) -> bytes:
    """A form sheet's cells with its rows changed as the pattern that cuts rows' attributes out does not expect: a row
    tag it does not take (an attribute holding "/" or ">"), rows moved out of order (one of them such a row, so that
    one piece holds two rows), rows emptied or closed at once, text or a cell before the first row, rows without
    attributes, and "<row " where no row starts."""
    rows = [m.group(0) for m in _ROW.finditer(stream)]
    assert len(rows) > 20
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(len(rows))
        what = rng.randrange(9)
        if what == 0:
            rows[k] = rows[k].replace(b'">', b'" a="1/2">', 1)
        elif what == 1:
            rows[k] = rows[k].replace(b'">', b'" a="1>2">', 1)
        elif what == 2:  # a row moved, with an attribute holding "/": the piece before it holds two rows
            row = rows.pop(k).replace(b'">', b'" a="/">', 1)
            rows.insert(rng.randrange(len(rows) + 1), row)
        elif what == 3:
            rows.insert(rng.randrange(len(rows) + 1), rows.pop(k))
        elif what == 4:
            rows[k] = re.sub(rb"^(<row [^>]*?)/?>.*", rb"\1/>", rows[k], flags=re.S)
        elif what == 5:
            rows[k] = re.sub(rb'^<row (r="[0-9]+")[^>]*?(/?)>', rb"<row \1\2>", rows[k])
        elif what == 6:
            rows[0] = rng.choice([b" ", b"\n\t", b"x", b'<c r="A1"/>', b"\x0b"]) + rows[0]
        elif what == 7:
            rows[k] = rows[k].replace(b"</c>", b"</c><row ", 1)
        else:
            rows[k] = rows[k] + rng.choice([b" ", b"\r\n", b"\x0c"])
    return b"".join(rows)


def test_a_skeleton_by_parts_reads_as_by_rows() -> None:
    """sheet_strict.cells with ROWS_BY_PARTS on (twice: the second finds the skeleton and rows remembered by their
    parts) and off, over the national samples' form sheets mutated at random: the same cells, or None, each time."""
    strict = module("xltemplate.readers.sheet_strict")
    captured: list[tuple] = []
    real = strict.cells

    def spy(stream, *args):  # (the form sheet's cells as the reader hands them over, with its strings and styles)
        if len(stream) > 10000 and len(args) == 4:
            captured.append((stream, *args))
        return real(stream, *args)

    strict.cells = spy
    try:
        for p in NATIONAL:
            verdict(p)
    finally:
        strict.cells = real
    assert len(captured) >= len(NATIONAL)
    rng = random.Random(29)
    read = none = 0
    for n in range(1500):
        stream, strings, styles, epoch, root = captured[n % len(captured)]
        mutated = _mutated(stream, rng)
        with switched(True, ("ROWS_BY_PARTS",)):
            on = strict.cells(mutated, strings, styles, epoch, root)
            again = strict.cells(mutated, strings, styles, epoch, root)
        with switched(False, ("ROWS_BY_PARTS",)):
            off = strict.cells(mutated, strings, styles, epoch, root)
        assert on == again == off, n
        if on is None:
            none += 1
        else:
            read += 1
            assert list(on[0]) == list(off[0])  # (in the same order)
    assert read > 200 and none > 200  # (not idle: both outcomes many times)


def test_plain_number_reads_as_its_pattern() -> None:
    """sheet_strict.plain_number (digits with at most one "." read without the pattern) against the pattern's reading,
    over short strings of the bytes a number is made of, and long ones (beyond 300 digits, beyond a float's range)."""
    import math

    strict = module("xltemplate.readers.sheet_strict")

    def by_pattern(raw: bytes) -> int | float | None:
        if not strict._NUMBER_B.fullmatch(raw):
            return None
        if b"." in raw or b"e" in raw or b"E" in raw:
            number = float(raw)
            return number if math.isfinite(number) else None
        return int(raw) if len(raw) < 300 else None

    rng = random.Random(31)
    raws = [bytes(rng.choice(b"0123456789.-+eE x\xd9") for _ in range(rng.randint(0, 7))) for _ in range(60000)]
    raws += [b"9" * n + dot for n in (298, 299, 300, 301, 308, 309, 400) for dot in (b"", b".", b".5")]
    raws += [b"0." + b"0" * 400 + b"1", b"." * 2, b"1.2.3", b"\xd9\xa8", b"\xef\xbc\x91"]
    read = 0
    for raw in raws:
        got, expected = strict.plain_number(raw), by_pattern(raw)
        assert got == expected and type(got) is type(expected), raw
        read += got is not None
    assert read > 5000
