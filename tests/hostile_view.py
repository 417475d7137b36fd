"""A corpus of returns where what a spreadsheet program shows and what a reader reads could differ.

Issue 10, class 2: "what is validated is what a person sees". Each case is a
real generated return edited byte by byte the way a unit that wants a better
score (and knows OOXML) would: a second sheet of the same name, a workbook
reached through another relationship, cell references Excel never writes,
shared strings with extra runs, protection that only looks like protection,
number formats that hide the score … Every file either reads exactly as
LibreOffice shows it or is refused; ``tests/test_hostile.py`` checks the
verdicts, ``tests/test_differential.py`` that both readers agree, and an
engine test that LibreOffice shows the values that are validated.

The form's score cell E15 (绩效目标合理性, weight 8) holds 7 in the clean
return; most attacks try to make a reader see 8 (total 97) where a person
sees 7 (total 96), or the other way round.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xltemplate.form.generate import generate_workbook
from xltemplate.spec import Spec

from .corpus import STAMP, clean_seed

SHEET = "xl/worksheets/sheet1.xml"  # the form sheet
META = "xl/worksheets/sheet3.xml"
WORKBOOK = "xl/workbook.xml"
WB_RELS = "xl/_rels/workbook.xml.rels"
STRINGS = "xl/sharedStrings.xml"
STYLES = "xl/styles.xml"
TYPES = "[Content_Types].xml"
ROOT_RELS = "_rels/.rels"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
WS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
WB_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
E15 = '<c r="E15" s="5"><v>7</v></c>'


@dataclass(frozen=True)
class ViewCase:
    """One file: the status and finding code validation must give (and the total, when it is read)."""

    name: str
    status: str  # valid | invalid | unreadable
    code: str | None = None  # a finding the report must carry
    total: int | None = None  # the recomputed total, when the file is read
    why: str = ""


Parts = dict[str, bytes]
Change = Callable[[Parts], None]


def _read_parts(src: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(src) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def _write(dest: Path, entries: list[tuple[str, bytes]]) -> None:
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some cases
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries:
                z.writestr(name, data)
    dest.write_bytes(buf.getvalue())


def text_sub(parts: Parts, part: str, pattern: str, repl: str | Callable[[re.Match[str]], str], count: int = 1) -> None:
    """Replace ``pattern`` (a regular expression) in one part; the pattern must be found."""
    text, n = re.subn(pattern, repl, parts[part].decode("utf-8"), count=count, flags=re.S)
    assert n, f"{pattern!r} not found in {part}"
    parts[part] = text.encode("utf-8")


def text_replace(parts: Parts, part: str, old: str, new: str) -> None:
    text = parts[part].decode("utf-8")
    assert old in text, f"{old!r} not found in {part}"
    parts[part] = text.replace(old, new, 1).encode("utf-8")


def add_part(parts: Parts, name: str, data: bytes, content_type: str | None = None) -> None:
    parts[name] = data
    if content_type:
        text_replace(parts, TYPES, "</Types>", f'<Override PartName="/{name}" ContentType="{content_type}"/></Types>')


def add_sheet(parts: Parts, name: str, part: str, *, state: str | None = None, first: bool = False, rid: str = "rId90") -> None:
    """A new <sheet> in workbook.xml (with its relationship) pointing at ``part``."""
    state_attr = f' state="{state}"' if state else ""
    sheet = f'<sheet name="{name}" sheetId="9{rid[-1]}"{state_attr} r:id="{rid}"/>'
    if first:
        text_replace(parts, WORKBOOK, "<sheets>", "<sheets>" + sheet)
    else:
        text_replace(parts, WORKBOOK, "</sheets>", sheet + "</sheets>")
    target = part.removeprefix("xl/")
    text_replace(parts, WB_RELS, "</Relationships>",
                 f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="{target}"/></Relationships>')


def tampered_sheet(parts: Parts, score: str = "8") -> bytes:
    """The form sheet with E15 raised to ``score`` (its subtotal's cached value left as it was)."""
    text = parts[SHEET].decode("utf-8")
    assert E15 in text
    return text.replace(E15, f'<c r="E15" s="5"><v>{score}</v></c>').encode("utf-8")


def set_target(parts: Parts, rid: str, target: str) -> None:
    text_sub(parts, WB_RELS, rf'(<Relationship Id="{rid}" [^>]*Target=")[^"]*"', lambda m: m.group(1) + target + '"')


def move_part(parts: Parts, old: str, new: str) -> None:
    parts[new] = parts.pop(old)
    text_replace(parts, TYPES, f'PartName="/{old}"', f'PartName="/{new}"')


def add_numfmt(parts: Parts, code: str) -> int:
    """A new cell style (a copy of the score cells' style 5) with number format ``code``; its index."""
    styles = parts[STYLES].decode("utf-8")
    code_xml = code.replace("&", "&amp;").replace('"', "&quot;")
    styles = re.sub(r'<numFmts count="(\d+)">', lambda m: f'<numFmts count="{int(m.group(1)) + 1}"><numFmt numFmtId="190" formatCode="{code_xml}"/>', styles, count=1)
    xfs = re.search(r"<cellXfs count=\"(\d+)\">(.*?)</cellXfs>", styles, re.S)
    assert xfs
    items = re.findall(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", xfs.group(2), re.S)
    new = re.sub(r'numFmtId="\d+"', 'numFmtId="190"', items[5], count=1)
    new = new.replace("<xf ", '<xf applyNumberFormat="1" ', 1) if "applyNumberFormat" not in new else new
    index = len(items)
    styles = styles.replace(xfs.group(0), f'<cellXfs count="{index + 1}">{xfs.group(2)}{new}</cellXfs>')
    parts[STYLES] = styles.encode("utf-8")
    return index


def build(spec: Spec, seed: dict, root: Path) -> list[ViewCase]:
    """Write the corpus into ``root``; return what each file must give."""
    root.mkdir(parents=True, exist_ok=True)
    good = generate_workbook(spec, root / "view-clean.xlsx", values=clean_seed(seed), generated_at=STAMP).path
    base = _read_parts(good)
    out: list[ViewCase] = [ViewCase("view-clean.xlsx", "valid", None, 96, "the clean return")]

    def case(name: str, status: str, code: str | None, change: Change, total: int | None = None, why: str = "") -> None:
        parts = dict(base)
        change(parts)
        order = [n for n, _ in base if n in parts] + [n for n in parts if n not in dict(base)]
        _write(root / name, [(n, parts[n]) for n in order])
        out.append(ViewCase(name, status, code, total, why))

    def raw_case(name: str, status: str, code: str | None, entries: list[tuple[str, bytes]], why: str = "") -> None:
        _write(root / name, entries)
        out.append(ViewCase(name, status, code, None, why))

    # == which sheet is the form ===================================================================
    def dup_sheet(first: bool) -> Change:
        def change(p: Parts) -> None:
            add_part(p, "xl/worksheets/sheet4.xml", tampered_sheet(p), WS_TYPE)
            add_sheet(p, spec.sheet, "xl/worksheets/sheet4.xml", first=first)
        return change

    case("sheet-same-name-first.xlsx", "unreadable", "file-corrupt", dup_sheet(True),
         why="a second sheet named like the form, in front of it, with a higher score")
    case("sheet-same-name-after.xlsx", "unreadable", "file-corrupt", dup_sheet(False),
         why="a second sheet named like the form, after it")

    def dup_meta_case(p: Parts) -> None:
        meta = p[META].decode("utf-8")
        add_part(p, "xl/worksheets/sheet4.xml", meta.encode("utf-8"), WS_TYPE)
        add_sheet(p, "_XLTEMPLATE", "xl/worksheets/sheet4.xml", state="veryHidden")

    case("sheet-same-name-other-case.xlsx", "unreadable", "file-corrupt", dup_meta_case,
         why="sheet names are compared without case by Excel: _xltemplate and _XLTEMPLATE are one name")

    def hidden_form(p: Parts) -> None:
        add_part(p, "xl/worksheets/sheet4.xml", p[SHEET], WS_TYPE)
        add_sheet(p, spec.sheet + "(2)", "xl/worksheets/sheet4.xml", first=True)
        text_replace(p, WORKBOOK, f'<sheet name="{spec.sheet}" sheetId="1"', f'<sheet name="{spec.sheet}" sheetId="1" state="hidden"')
        text_replace(p, SHEET, E15, '<c r="E15" s="5"><v>8</v></c>')

    case("form-sheet-hidden-behind-a-copy.xlsx", "invalid", "content-hidden", hidden_form,
         why="the real form is hidden and a visible copy shows other figures")

    def sheet_in_alternate_content(p: Parts) -> None:
        text_replace(p, WORKBOOK, "<workbook ", f'<workbook xmlns:mc="{MC}" ')
        text_sub(p, WORKBOOK, r'(<sheet name="项目绩效自评"[^>]*/>)',
                 r'<mc:AlternateContent><mc:Choice Requires="x14">\1</mc:Choice></mc:AlternateContent>')

    case("sheet-inside-alternate-content.xlsx", "unreadable", "file-corrupt", sheet_in_alternate_content,
         why="a <sheet> wrapped in mc:AlternateContent is not where a sheet lives")

    # == which part is the workbook ===================================================================
    def workbook_elsewhere(keep_old_type: bool) -> Change:
        def change(p: Parts) -> None:
            add_part(p, "xl/worksheets/sheet4.xml", tampered_sheet(p), WS_TYPE)
            wb = p[WORKBOOK].decode("utf-8").replace('r:id="rId1"', 'r:id="rId90"', 1)
            p["xl/book.xml"] = wb.encode("utf-8")
            rels = p[WB_RELS].decode("utf-8").replace("</Relationships>",
                '<Relationship Id="rId90" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet4.xml"/></Relationships>')
            p["xl/_rels/book.xml.rels"] = rels.encode("utf-8")
            text_replace(p, TYPES, "</Types>", f'<Override PartName="/xl/book.xml" ContentType="{WB_TYPE}"/></Types>')
            if not keep_old_type:
                text_replace(p, TYPES, f'<Override PartName="/xl/workbook.xml" ContentType="{WB_TYPE}"/>', "")
            text_replace(p, ROOT_RELS, 'Target="xl/workbook.xml"', 'Target="xl/book.xml"')
        return change

    case("workbook-through-root-relationship.xlsx", "valid", "cached-value-stale", workbook_elsewhere(False), total=97,
         why="_rels/.rels names xl/book.xml as the workbook (Excel follows it); xl/workbook.xml is a decoy")
    case("workbook-two-main-parts.xlsx", "unreadable", "file-corrupt", workbook_elsewhere(True),
         why="two parts typed as the workbook: programs disagree on which one to open")

    def two_office_documents(p: Parts) -> None:
        text_replace(p, ROOT_RELS, "</Relationships>",
                     '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')

    case("root-two-office-documents.xlsx", "unreadable", "file-corrupt", two_office_documents,
         why="two officeDocument relationships")

    def no_root_rels(p: Parts) -> None:
        del p[ROOT_RELS]

    case("root-relationships-missing.xlsx", "unreadable", "file-corrupt", no_root_rels,
         why="no _rels/.rels: nothing says which part is the workbook")

    def no_content_types(p: Parts) -> None:
        del p[TYPES]

    case("content-types-missing.xlsx", "unreadable", "file-corrupt", no_content_types,
         why="no [Content_Types].xml: Excel refuses the package")

    # == relationship targets =========================================================================
    case("target-with-dot-dot.xlsx", "valid", None, lambda p: set_target(p, "rId1", "../xl/worksheets/sheet1.xml"), total=96,
         why="a relative target through .. resolves to the same part")
    case("target-absolute.xlsx", "valid", None, lambda p: set_target(p, "rId1", "/xl/worksheets/sheet1.xml"), total=96,
         why="an absolute target (leading /) names the same part")

    def decoy_target(p: Parts) -> None:
        add_part(p, "xl/worksheets/sheet9.xml", tampered_sheet(p), WS_TYPE)
        set_target(p, "rId1", "worksheets/sheet9.xml")

    case("target-another-part.xlsx", "valid", "cached-value-stale", decoy_target, total=97,
         why="the form sheet's relationship points at another part: that part is what every program shows")
    case("target-backslash.xlsx", "unreadable", "file-corrupt", lambda p: set_target(p, "rId1", "worksheets\\sheet1.xml"),
         why="a backslash is not a part-name separator")
    case("target-other-case.xlsx", "unreadable", "file-corrupt", lambda p: set_target(p, "rId1", "worksheets/SHEET1.xml"),
         why="a target whose case differs from the part's name")
    case("target-percent-encoded.xlsx", "unreadable", "file-corrupt", lambda p: set_target(p, "rId1", "worksheets/sheet%31.xml"),
         why="a percent-encoded target")
    case("target-outside-package.xlsx", "unreadable", "file-corrupt", lambda p: set_target(p, "rId1", "../../worksheets/sheet1.xml"),
         why="a target that climbs out of the package")

    def target_missing(p: Parts) -> None:
        set_target(p, "rId1", "worksheets/nowhere.xml")

    case("target-missing-part.xlsx", "unreadable", "file-corrupt", target_missing,
         why="the form sheet's part does not exist")

    # == the zip itself =================================================================================
    entries = [(n, d) for n, d in base] + [("xl/worksheets/Sheet1.xml", tampered_sheet(dict(base)))]
    raw_case("parts-differ-only-in-case.xlsx", "unreadable", "file-corrupt", entries,
             why="two parts whose names differ only in case are one part name in OPC")
    entries = [(n, d) for n, d in base] + [(SHEET, tampered_sheet(dict(base)))]
    raw_case("zip-entry-twice.xlsx", "unreadable", "file-corrupt", entries,
             why="the same name twice in the zip: readers pick different copies")

    # == DOCTYPE anywhere ================================================================================
    def doctype_late(p: Parts) -> None:
        text_sub(p, SHEET, r"^(<\?xml[^>]*\?>)", r"\1<!--" + " " * 6000 + "-->\n<!DOCTYPE worksheet>\n")

    case("doctype-after-a-long-prolog.xlsx", "unreadable", "file-unsafe-xml", doctype_late,
         why="a DOCTYPE (no entities) after 6 KB of prolog: past what the sniffer used to look at")

    def doctype_unreferenced(p: Parts) -> None:
        p["xl/extra.xml"] = b'<?xml version="1.0"?><!DOCTYPE x [<!ELEMENT x ANY>]><x/>'

    case("doctype-in-an-unused-part.xlsx", "unreadable", "file-unsafe-xml", doctype_unreferenced,
         why="a DOCTYPE in a part nothing refers to")

    def doctype_other_suffix(p: Parts) -> None:
        move_part(p, SHEET, "xl/worksheets/sheet1.dat")
        set_target(p, "rId1", "worksheets/sheet1.dat")
        text_sub(p, "xl/worksheets/sheet1.dat", r"^(<\?xml[^>]*\?>)", r"\1<!DOCTYPE worksheet>")

    case("doctype-in-a-part-not-named-xml.xlsx", "unreadable", "file-unsafe-xml", doctype_other_suffix,
         why="the form sheet stored as .dat with a DOCTYPE: the sniffer only looked at .xml/.rels/.vml")

    def doctype_utf16(p: Parts) -> None:
        text = p["docProps/app.xml"].decode("utf-8")
        text = re.sub(r"^<\?xml[^>]*\?>", '<?xml version="1.0" encoding="UTF-16" standalone="yes"?><!DOCTYPE Properties>', text)
        p["docProps/app.xml"] = text.encode("utf-16")

    case("doctype-in-utf16.xlsx", "unreadable", "file-unsafe-xml", doctype_utf16,
         why="a DOCTYPE in a UTF-16 part")

    # == cell references Excel never writes ===============================================================
    def cell(repl: str) -> Change:
        return lambda p: text_replace(p, SHEET, E15, repl)

    case("cell-ref-with-dollars.xlsx", "unreadable", "file-corrupt", cell('<c r="$E$15" s="5"><v>8</v></c>'))
    case("cell-ref-lower-case.xlsx", "unreadable", "file-corrupt", cell('<c r="e15" s="5"><v>8</v></c>'))
    case("cell-ref-leading-zero.xlsx", "unreadable", "file-corrupt", cell('<c r="E015" s="5"><v>8</v></c>'))
    case("cell-ref-with-spaces.xlsx", "unreadable", "file-corrupt", cell('<c r=" E15" s="5"><v>8</v></c>'))
    case("cell-twice-in-a-row.xlsx", "unreadable", "file-corrupt", cell(E15 + '<c r="E15" s="5"><v>8</v></c>'),
         why="E15 twice: which one a program keeps is undefined")
    case("cell-twice-first-wins.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>8</v></c>' + E15))

    def cell_other_row(p: Parts) -> None:
        text_replace(p, SHEET, E15, "")
        text_sub(p, SHEET, r'(<row r="14"[^>]*>.*?)(</row>)', r'\1<c r="E15" s="5"><v>8</v></c>\2')

    case("cell-outside-its-row.xlsx", "unreadable", "file-corrupt", cell_other_row,
         why='<c r="E15"> inside <row r="14">')

    def rows_swapped(p: Parts) -> None:
        text = p[SHEET].decode("utf-8")
        r15 = re.search(r'<row r="15".*?</row>', text).group(0)
        r16 = re.search(r'<row r="16".*?</row>', text).group(0)
        p[SHEET] = text.replace(r15 + r16, r16 + r15).encode("utf-8")

    case("rows-out-of-order.xlsx", "unreadable", "file-corrupt", rows_swapped)

    def row_again(p: Parts) -> None:
        text_replace(p, SHEET, "</sheetData>", '<row r="15"><c r="E15" s="5"><v>8</v></c></row></sheetData>')

    case("row-repeated-at-the-end.xlsx", "unreadable", "file-corrupt", row_again,
         why="row 15 again after row 48, with E15 = 8")
    case("cells-out-of-order.xlsx", "unreadable", "file-corrupt",
         lambda p: text_sub(p, SHEET, r'(<c r="D15"[^>]*>.*?</c>)(<c r="E15" s="5"><v>7</v></c>)', r"\2\1"))
    case("cell-without-reference.xlsx", "valid", None, cell('<c s="5"><v>7</v></c>'), total=96,
         why="a cell without r is the one after the previous cell (what Excel reads)")
    case("cell-without-reference-moved.xlsx", "valid", None,
         lambda p: text_sub(p, SHEET, r'<c r="D15" s="(\d+)"><v>8</v></c><c r="E15" s="5"><v>7</v></c>', r'<c s="\1"><v>8</v></c><c s="5"><v>8</v></c>'),
         total=97, why="D15 and E15 without r follow C15: E15 reads 8, as LibreOffice shows")
    case("row-without-reference.xlsx", "valid", None,
         lambda p: text_sub(p, SHEET, r'<row r="15"', "<row"), total=96)
    case("column-beyond-xfd.xlsx", "unreadable", "file-corrupt", cell(E15 + '<c r="XFE15"><v>1</v></c>'))
    case("column-of-four-letters.xlsx", "unreadable", "file-corrupt", cell(E15 + '<c r="AAAA15"><v>1</v></c>'))

    def row_zero(p: Parts) -> None:
        text_replace(p, SHEET, "<sheetData>", '<sheetData><row r="0"><c r="A0"><v>1</v></c></row>')

    case("row-zero.xlsx", "unreadable", "file-corrupt", row_zero)

    def huge_row(digits: int) -> Change:
        big = "1" + "0" * digits
        return lambda p: text_replace(p, SHEET, "</sheetData>", f'<row r="{big}"><c r="A{big}"><v>1</v></c></row></sheetData>')

    case("row-number-thousands-of-digits.xlsx", "unreadable", "file-corrupt", huge_row(5000),
         why="a row number with 5,001 digits crashed the reader")
    case("row-beyond-the-last.xlsx", "unreadable", "file-corrupt", huge_row(7),
         why="row 10,000,001 is past Excel's 1,048,576")
    case("cell-row-thousands-of-digits.xlsx", "unreadable", "file-corrupt",
         cell(E15 + '<c r="F1' + "0" * 5000 + '"><v>1</v></c>'))

    # == values Excel never writes =========================================================================
    case("number-with-underscore.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>0_8</v></c>'),
         why="Python reads 0_8 as 8; no spreadsheet does")
    case("number-in-arabic-digits.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>\u0668</v></c>'),
         why="Python reads ٨ as 8")
    case("number-infinite.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>1e999</v></c>'))
    case("number-not-a-number.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>NaN</v></c>'))
    case("shared-string-negative-index.xlsx", "unreadable", "file-corrupt",
         lambda p: text_sub(p, SHEET, r'(<c r="B15" s="\d+" t="s"><v>)\d+(</v>)', r"\g<1>-1\2"),
         why="index -1 gave Python's last string")
    case("cell-of-unknown-type.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5" t="x"><v>8</v></c>'))
    case("text-typed-number.xlsx", "valid", "value-normalised", cell('<c r="E15" s="5" t="str"><v>7</v></c>'), total=96,
         why='t="str" on a plain cell: text "7", normalised with a warning')
    case("inline-string-with-v.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5" t="inlineStr"><v>8</v></c>'),
         why="an inline string cell whose text is in <v>")
    case("inline-string-and-v.xlsx", "unreadable", "file-corrupt",
         cell('<c r="E15" s="5" t="inlineStr"><v>8</v><is><t>7</t></is></c>'))
    case("inline-string-score.xlsx", "valid", "value-normalised",
         cell('<c r="E15" s="5" t="inlineStr"><is><t>7</t></is></c>'), total=96)
    case("two-values-in-a-cell.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5"><v>8</v><v>7</v></c>'))
    case("value-before-formula.xlsx", "unreadable", "file-corrupt",
         lambda p: text_sub(p, SHEET, r'<c r="E20" s="(\d+)"><f>([^<]*)</f><v>([^<]*)</v></c>', r'<c r="E20" s="\1"><v>\3</v><f>\2</f></c>'))
    case("foreign-element-in-cell.xlsx", "unreadable", "file-corrupt",
         cell('<c r="E15" s="5"><x:v xmlns:x="urn:example">8</x:v></c>'))
    case("foreign-cell-in-row.xlsx", "unreadable", "file-corrupt",
         cell('<x:c xmlns:x="urn:example" r="E15"><x:v>8</x:v></x:c>'))
    case("text-directly-in-cell.xlsx", "unreadable", "file-corrupt", cell('<c r="E15" s="5">8</c>'))
    case("row-in-another-namespace.xlsx", "unreadable", "file-corrupt",
         lambda p: text_sub(p, SHEET, r'<row r="15"', '<row xmlns="urn:example" r="15"'))

    def shared_master_missing(p: Parts) -> None:
        text_sub(p, SHEET, r'<c r="E20" s="(\d+)"><f>[^<]*</f>', r'<c r="E20" s="\1"><f t="shared" si="7"/>')

    case("shared-formula-without-master.xlsx", "unreadable", "file-corrupt", shared_master_missing,
         why="a cell sharing a formula whose first cell is missing: LibreOffice shows it empty")

    # == shared strings ========================================================================================
    def si_of(p: Parts, text: str) -> None:
        s = p[STRINGS].decode("utf-8")
        assert f"<si><t>{text}</t></si>" in s

    def strings(old: str, new: str) -> Change:
        def change(p: Parts) -> None:
            si_of(p, old)
            text_replace(p, STRINGS, f"<si><t>{old}</t></si>", new)
        return change

    case("shared-string-two-texts.xlsx", "unreadable", "file-corrupt", strings("是", "<si><t>是</t><t>否</t></si>"),
         why="two <t> in one <si>: programs show one, a reader joined both")
    case("shared-string-text-and-runs.xlsx", "unreadable", "file-corrupt", strings("是", "<si><t>是</t><r><t>否</t></r></si>"))
    case("shared-string-foreign-text.xlsx", "unreadable", "file-corrupt",
         strings("是", '<si><t>是</t><x:t xmlns:x="urn:example">否</x:t></si>'))
    case("shared-string-phonetic-run.xlsx", "valid", None,
         strings("是", '<si><t>是</t><rPh sb="0" eb="1"><t>shi</t></rPh><phoneticPr fontId="1"/></si>'), total=96,
         why="a phonetic guide is not part of the text")
    case("shared-string-rich-runs.xlsx", "valid", None, strings("是", "<si><r><t>是</t></r></si>"), total=96)

    # == sheet structure ==========================================================================================
    def after_sheetdata(p: Parts) -> None:
        text_replace(p, SHEET, E15, '<c r="E15" s="5"/>')
        text_replace(p, SHEET, "</sheetData>", '</sheetData><row r="15"><c r="E15" s="5"><v>8</v></c></row>')

    case("row-after-sheetdata.xlsx", "unreadable", "file-corrupt", after_sheetdata,
         why="a row outside <sheetData>: ignored by spreadsheet programs, read by a tree walker")
    case("second-sheetdata.xlsx", "unreadable", "file-corrupt",
         lambda p: text_replace(p, SHEET, "</sheetData>", '</sheetData><sheetData><row r="49"><c r="A49"><v>1</v></c></row></sheetData>'))

    def rows_in_alternate_content(p: Parts) -> None:
        text_replace(p, SHEET, E15, "")
        text_replace(p, SHEET, "</sheetData>",
                     f'<mc:AlternateContent xmlns:mc="{MC}"><mc:Choice Requires="x14"><row r="49"><c r="E49"><v>8</v></c></row></mc:Choice></mc:AlternateContent></sheetData>')

    case("rows-inside-alternate-content.xlsx", "unreadable", "file-corrupt", rows_in_alternate_content)

    def strict(p: Parts) -> None:
        for name in list(p):
            if name.endswith(".xml") and MAIN.encode() in p[name]:
                p[name] = p[name].replace(MAIN.encode(), b"http://purl.oclc.org/ooxml/spreadsheetml/main")

    case("strict-namespace.xlsx", "unreadable", "file-corrupt", strict,
         why="Strict Open XML: not what was sent, and read differently by different programs")

    # == protection ================================================================================================
    prot = '<sheetProtection sheet="1" objects="1" scenarios="1" formatColumns="0" formatRows="0"/>'

    def protection(new: str) -> Change:
        return lambda p: text_replace(p, SHEET, prot, new)

    case("protection-in-a-comment.xlsx", "valid", "protection-removed", protection("<!--" + prot + "-->"),
         why="a protection element inside a comment is not protection")
    case("protection-in-cdata.xlsx", "valid", "protection-removed",
         protection('<extLst><ext uri="{00000000-0000-0000-0000-000000000000}"><![CDATA[' + prot + "]]></ext></extLst>"))
    case("protection-in-another-namespace.xlsx", "valid", "protection-removed",
         protection(prot.replace("<sheetProtection ", '<x:sheetProtection xmlns:x="urn:example" ')))
    case("protection-sheet-0.xlsx", "valid", "protection-removed", protection(prot.replace('sheet="1"', 'sheet="0"')))
    case("protection-attribute-in-another-namespace.xlsx", "valid", "protection-removed",
         protection(prot.replace('sheet="1"', 'xmlns:x="urn:example" x:sheet="1"')))
    case("protection-not-a-boolean.xlsx", "unreadable", "file-corrupt", protection(prot.replace('sheet="1"', 'sheet="yes"')),
         why="openpyxl takes any text as on, LibreOffice does not: refused (found by the fuzz test)")
    case("protection-twice.xlsx", "unreadable", "file-corrupt", protection(prot.replace('sheet="1"', 'sheet="0"') + prot),
         why="two protection elements: which one counts is undefined")
    case("protection-inside-alternate-content.xlsx", "unreadable", "file-corrupt",
         protection(f'<mc:AlternateContent xmlns:mc="{MC}"><mc:Choice Requires="x14">{prot}</mc:Choice></mc:AlternateContent>'))

    def protection_first(p: Parts) -> None:
        text_replace(p, SHEET, prot, "")
        text_replace(p, SHEET, "<sheetData>", prot + "<sheetData>")

    case("protection-before-the-cells.xlsx", "valid", None, protection_first, total=96,
         why="out of schema order, but a child of the worksheet: protection is on")

    # == defined names =================================================================================================
    dn = "<definedName name=\"total_score\">'项目绩效自评'!$E$44</definedName>"
    case("name-defined-twice.xlsx", "valid", "defined-name-changed",
         lambda p: text_replace(p, WORKBOOK, dn, dn + "<definedName name=\"total_score\">'项目绩效自评'!$A$1</definedName>"))
    case("name-defined-twice-other-case.xlsx", "valid", "defined-name-changed",
         lambda p: text_replace(p, WORKBOOK, dn, "<definedName name=\"TOTAL_SCORE\">'项目绩效自评'!$A$1</definedName>" + dn))
    case("name-local-shadow.xlsx", "valid", None,
         lambda p: text_replace(p, WORKBOOK, dn, dn + "<definedName name=\"total_score\" localSheetId=\"0\">'项目绩效自评'!$A$1</definedName>"),
         total=96, why="a sheet-level name does not replace the workbook's")
    case("name-hidden.xlsx", "valid", None, lambda p: text_replace(p, WORKBOOK, dn, dn.replace('name="total_score"', 'name="total_score" hidden="1"')),
         total=96)

    # == what the cell shows ==========================================================================================
    def numfmt(code: str, score: str) -> Change:
        def change(p: Parts) -> None:
            index = add_numfmt(p, code)
            text_replace(p, SHEET, E15, f'<c r="E15" s="{index}"><v>{score}</v></c>')
        return change

    case("number-format-hides-score.xlsx", "invalid", "content-hidden", numfmt(";;;", "8"),
         why="format ;;; shows nothing while the file holds 8")
    case("number-format-shows-a-literal.xlsx", "invalid", "content-hidden", numfmt('"7"', "8"),
         why='format "7" shows 7 while the file holds 8')
    case("number-format-plain.xlsx", "valid", None, numfmt("0.0", "7"), total=96,
         why="a visible format on a score is harmless")

    def merge_over_score(p: Parts) -> None:
        text_replace(p, SHEET, '<mergeCell ref="A44:C44"/>', '<mergeCell ref="A44:C44"/><mergeCell ref="D15:E15"/>')

    case("merge-covers-a-score.xlsx", "invalid", "content-hidden", merge_over_score,
         why="D15:E15 merged: the score 7 is hidden under the weight")
    return out


# -- what LibreOffice shows -------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """What a program shows of one return: the form sheet's typed values, formulas, the metadata, protection."""

    values: dict[str, str]  # A1 → the shown value as text (numbers canonical), cells without a formula
    formulas: frozenset[str]  # A1 of cells holding a formula
    sheets: dict[str, str]  # name → visible | hidden | veryHidden
    protected: bool


def shown(value: object) -> str:
    """A value as a person reads it, independent of how it is stored (8, 8.0 and "8" are all 8)."""
    import datetime as dt
    from decimal import Decimal, InvalidOperation

    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, str):
        try:
            return format(Decimal(value.strip()).normalize(), "f") if value.strip() else value
        except InvalidOperation:
            return value
    return str(value)


def libreoffice_views(paths: list[Path], outdir: Path, form_sheet: str, timeout: float = 900) -> dict[str, View | None]:
    """Open every file in LibreOffice (one process, the private profile) and read back what it saved.

    A file LibreOffice could not open maps to None.
    """
    import subprocess

    import openpyxl

    from tools.soffice import _profile_dir, soffice_path

    exe = soffice_path()
    assert exe is not None
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [exe, f"-env:UserInstallation={_profile_dir().as_uri()}", "--headless", "--norestore", "--nologo",
           "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(outdir), *map(str, paths)]
    subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    views: dict[str, View | None] = {}
    for path in paths:
        out = outdir / (path.stem + ".xlsx")
        if not out.exists():
            views[path.name] = None
            continue
        try:
            wb = openpyxl.load_workbook(out)
        except Exception as exc:  # LibreOffice wrote what it showed in a form openpyxl cannot take (INF)
            views[path.name] = View({"?": f"{type(exc).__name__}: {exc}"[:200]}, frozenset(), {}, False)
            continue
        sheets = {ws.title: ws.sheet_state for ws in wb.worksheets}
        if form_sheet not in wb.sheetnames:
            views[path.name] = View({}, frozenset(), sheets, False)
            continue
        ws = wb[form_sheet]
        values, formulas = {}, set()
        for row in ws.iter_rows(max_row=1000, max_col=26):
            for c in row:
                if c.value is None or c.value == "":
                    continue
                if c.data_type == "f":
                    formulas.add(c.coordinate)
                else:
                    values[c.coordinate] = shown(c.value)
        views[path.name] = View(values, frozenset(formulas), sheets, bool(ws.protection.sheet))
    return views


def reader_view(sub: object, form_sheet: str) -> View:
    """The same view of what one of our readers read."""
    cells = sub.cells.get(form_sheet, {})  # type: ignore[attr-defined]
    values = {a1: shown(c.value) for a1, c in cells.items() if c.formula is None and c.value not in (None, "")}
    formulas = frozenset(a1 for a1, c in cells.items() if c.formula is not None)
    return View(values, formulas, dict(sub.sheets), bool(sub.protected.get(form_sheet)))  # type: ignore[attr-defined]
