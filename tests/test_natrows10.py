"""The tenth pass's read side (issue 15, helper natrows): what the sheets' searches for comments, instructions,
namespace declarations and a second <sheetData> now do in memchr's steps, or later, must refuse, send to the general
path and read exactly what they did.

Each case is a national return with markup put where those searches look (the head, the cells, a row's attributes,
a value, a formula), among the bytes that make the searches cheap or not ("!", "?", "x" elsewhere), read between
sound returns with the fast paths on (twice) and off (:func:`tests.fast_paths.differences_on_and_off`).
"""

from __future__ import annotations

from pathlib import Path

from .fast_paths import differences_on_and_off, forget, verdict
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
