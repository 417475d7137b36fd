"""Seeded mutation fuzzing of returned workbooks: broken copies of valid returns.

:func:`make_mutants` writes ``n`` damaged copies of the seed workbooks. Each case
``i`` draws everything from its own ``random.Random(f"{seed}/{i}")``, so case 1234
of seed 20250101 is the same file whether 10 or 10,000 cases are made, and one
case can be rebuilt alone::

    python -m tests.fuzz 20250101 1234 /tmp/out      # the default seeds, as tests/test_fuzz.py uses

The file name records the seed, the case, the seed workbook (its index in the
sorted seed list) and what was done to it, e.g.
``20250101-01234-s07-cell.E14.num+truncate.xlsx``.

Mutation kinds (one, sometimes two, per case):

* ``flip``: bytes flipped, overwritten, inserted, deleted inside one part's
  *uncompressed* content, then the zip is rewritten (the XML parser sees it);
* ``rawflip``: bytes of the .xlsx file itself (CRC errors, broken headers);
* ``cell``: cells of the form (or metadata) sheet set to random values of random
  types, by rewriting the sheet XML: huge, negative and non-numbers, text with
  control characters, full-width digits, 10,000-character strings, formula-like
  text, booleans, error values, dates, shared-string indices, formulas;
* ``opx``: the same through openpyxl, with Python values (NaN, inf, dates, times);
* ``attr`` / ``text``: attribute values and element texts of a part replaced;
* ``inject``: DOCTYPEs and entities, encodings, a 1904 date system, protection off;
* ``delete`` / ``dup`` / ``rename``: parts deleted, stored twice under one name, renamed;
* ``truncate``: the file cut at a random offset;
* ``bloat``: big but bounded content (many rows, long strings, lying sizes, many parts).

Most kinds work on bytes with :mod:`zipfile` only, so thousands of cases take seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import sys
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from random import Random
from typing import Callable
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RETURNS = ROOT / "samples" / "returns"
DEFAULT_SEED = 20250101
_STAMP = (1980, 1, 1, 0, 0, 0)

# kind → weight; a case takes one kind, and a second one 30% of the time.
KINDS: dict[str, int] = {
    "cell": 30, "flip": 17, "attr": 10, "text": 8, "delete": 8, "dup": 5, "rename": 2,
    "truncate": 6, "rawflip": 6, "inject": 5, "bloat": 2, "opx": 1,
}
# Byte-level kinds work on the finished file, so they run last; opx starts from the seed, so first.
_FILE_KINDS = ("rawflip", "truncate")
_ORDER = {"opx": 0, "bloat": 2, "rawflip": 3, "truncate": 3}


# -- seeds -------------------------------------------------------------------------------------

def sample_seeds() -> list[Path]:
    """The sample returns of both forms (Excel, LibreOffice and openpyxl saved), sorted; Excel lock files left out."""
    national = SAMPLE_RETURNS.parent / "national" / "returns"
    return sorted(p for folder in (SAMPLE_RETURNS, national) for p in folder.glob("*.xlsx") if not p.name.startswith("~$"))


def generated_seed(folder: Path) -> Path:
    """A freshly generated, filled-in return (the values of samples/seed-values.yaml)."""
    import yaml

    from tests.corpus import STAMP, clean_seed
    from xltemplate.form.generate import generate_workbook
    from xltemplate.catalog import load_spec, templates_dir

    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    values = clean_seed(yaml.safe_load((ROOT / "samples" / "seed-values.yaml").read_text(encoding="utf-8")))
    folder.mkdir(parents=True, exist_ok=True)
    return generate_workbook(spec, folder / "generated-seed.xlsx", values=values, generated_at=STAMP).path


def default_seeds(folder: Path) -> list[Path]:
    """The seeds tests/test_fuzz.py uses: the sample returns, then one generated return."""
    return sample_seeds() + [generated_seed(folder)]


@lru_cache(maxsize=1)
def _form_cells() -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """(input cells, computed cells, the date field's cell) of the built-in template, as A1 references."""
    from xltemplate.families.self_scored.layout import Layout
    from xltemplate.catalog import load_spec, templates_dir

    layout = Layout(load_spec(templates_dir() / "sh-project-self-eval.yaml"))
    date = next((s.cell.a1 for s in layout.fields if s.field.type == "date"), None)
    return tuple(c.a1 for c in layout.input_cells()), tuple(c.a1 for c in layout.computed_cells()), date


@dataclass
class _Seed:
    index: int
    path: Path
    raw: bytes
    entries: list[tuple[str, bytes]]  # (part name, uncompressed content), in zip order
    form: str | None  # the form sheet's part name
    meta: str | None  # the metadata sheet's part name
    n_strings: int
    date_style: str | None  # the s= of the date field's cell


def _load_seed(index: int, path: Path) -> _Seed:
    from xltemplate.meta import SHEET as META_SHEET

    raw = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        entries = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    parts = dict(entries)
    sheets = re.findall(rb'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"', parts.get("xl/workbook.xml", b""))
    rels = {m.group(2): m.group(1) for m in re.finditer(
        rb'<Relationship\b(?=[^>]*Target="([^"]*)")(?=[^>]*Id="([^"]*)")[^>]*>', parts.get("xl/_rels/workbook.xml.rels", b""))}

    def part(rid: bytes) -> str | None:
        target = rels.get(rid, b"").decode()
        if not target:
            return None
        return target.lstrip("/") if target.startswith("/") else "xl/" + target

    form = part(sheets[0][1]) if sheets else None
    meta = next((part(rid) for name, rid in sheets if name.decode() == META_SHEET), None)
    n_strings = parts.get("xl/sharedStrings.xml", b"").count(b"<si>") + parts.get("xl/sharedStrings.xml", b"").count(b"<si ")
    date_style = None
    _, _, date_cell = _form_cells()
    if form and date_cell:
        m = re.search(rb'<c r="' + date_cell.encode() + rb'"[^>]*?\bs="(\d+)"', parts.get(form, b""))
        date_style = m.group(1).decode() if m else None
    return _Seed(index, path, raw, entries, form, meta, n_strings, date_style)


# -- interesting values ----------------------------------------------------------------------------

NUMBERS = (
    "0", "-0", "1", "-1", "6", "7", "13", "100", "0.5", "-0.0001", "1e308", "-1e308", "1.7976931348623157e308",
    "1e309", "1e999", "-1e999", "1E+30", "1e26", "1e-320", "5e-324", "123456789012345678901234567890",
    "-99999999999999999999999999999", "1" + "0" * 400, "NaN", "nan", "INF", "-inf", "Infinity", "1.5e", "",
    "  7 ", "7,5", "0x1F", "１２３", "1_000", "+5", "٣", ".", "-", "e5", "1e99999999", "0.1.2", "2958466",
    "43956", "-693594", "60", "0.999999999999",
)
TEXTS = (
    "８９６７１７１", "１２．５分", "６分", "１，２３４，５６７元", "8,993,600.00", "8.993.600,00", "1万元", "0元", "99.71%",
    "99.71％", "'7", " 13 ", "\u3000\u3000", "\u200b", "\ufeff7", "=HYPERLINK(\"x\")", "=1+1", "=cmd|' /C calc'!A0",
    "@SUM(1)", "+1", "-1", "#DIV/0!", "#N/A", "TRUE", "FALSE", "是", " 是", "否", "Y", "2021-04-30", "2020年4月30日",
    "2021年2月30日", "20200430", "20210230", "2021/4/31", "2021-04-30 00:00", "2021-04-30T13:00", "明年", "1e999",
    "NaN", "-Infinity", "<p>成果</p>", "&nbsp;", "<script>x</script>", "🚀" * 5, "\u202e123", "e\u0301", "Ⅻ", "²",
    "٣", "१२", "𝟗", "x005F_x0041_", "_x0041_", "]]>", "a\"b'c<d>&e", "项目绩效自评", "_xltemplate", "",
    "1e99999999", "1e-99999999", "9E+999999", "-1e5000000", "1" * 5000,
)
BOOLS = ("0", "1", "2", "-1", "TRUE", "true", "x", "", "1.0")
ERRORS = ("#DIV/0!", "#N/A", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#GETTING_DATA", "#SPILL!", "oops", "")
ISO_DATES = (
    "2021-04-30", "2021-04-30T12:00:00", "2021-04-30T00:00:00Z", "2021-13-45", "not a date", "", "9999-12-31T23:59:59",
    "0001-01-01", "1900-02-29", "2021-04-30T25:61:61", "12:30:00", "2021-04-30T12:00:00+08:00", "P1D",
)
SERIALS = ("0", "-1", "1", "59", "60", "61", "43956", "2958465", "2958466", "1e10", "-1e10", "0.5", "1e308", "1e999")
FORMULAS = (
    "SUM(A1:B2)", "((", "A1+", '"unterminated', "SUM(", "{1,2", "#REF!+1", "A1048576+1", "XFD1+1", "'sheet'!A1",
    "HYPERLINK(\"http://x\")", "1/0", "E14", "$A$1+B$2", "SUM(E14:E19)", "INDIRECT(\"A\"&1)", "A1:A1048576",
    "IF(", ")", "''!A1", "[1]Sheet1!A1", "_xlfn.CONCAT(1)", "", "=", "==1",
)
ATTR_VALUES = (
    "", "0", "1", "-1", "2", "3", "99999", "99999999999999999999", "1.5", "abc", "true", "false", "²", "１", "٣",
    "A0", "A1", "$A$1", "ZZZ1", "XFD1048576", "A1048577", "AAAA1", "E14:E20", "s", "n", "b", "e", "d", "str",
    "inlineStr", "shared", "array", "dataTable", "hidden", "veryHidden", "visible", "rId1", "rId99", "External",
    "/xl/worksheets/sheet1.xml", "../../../etc/passwd", "worksheets/sheet9.xml", "worksheets/", "sharedStrings.xml",
    "styles.xml", "worksheets/sheet3.xml", "/xl/workbook.xml", "项目绩效自评", "_xltemplate", "x" * 1000, "&amp;",
    "&#0;", "&lt;", "'", "mm-dd-yy", "yyyy-mm-dd", "[h]:mm:ss", "General", "@", "0.00%", "1904", "http://x/",
    "UTF-16", "ISO-8859-1", "GB18030", "Shift_JIS", "cp1252", "US-ASCII", "UTF-32", "rot13", "utf-8-sig",
)
DEFINED_TEXTS = (
    "'项目绩效自评'!$B$3", "项目绩效自评!$E$14", "'项目绩效自评'!$B$3:$B$4", "#REF!", "Sheet1!A1", "'a''b'!A1", "!A1",
    "'项目绩效自评'!", "''!$A$1", "'项目绩效自评'!$XFD$1048576", "'项目绩效自评'!$A$0", "SUM(1,2)", "$B$3",
    "'_xltemplate'!$B$1", "'项目绩效自评'!R3C2",
)
META_TEXTS = (
    "xltemplate-return/1", "xltemplate-return/2", "sh-project-self-eval", "2020.1", "2019.9", "0" * 64, "1", "",
    "{}", "[]", "null", "[1]", "{\"budget\": [1, 2]}", "{\"nope\": 1}", "{\"unit\": {\"a\": 1}}", "{\"budget\": 1e999}",
    "{\"budget\": NaN}", "{\"eval_date\": \"2099-01-01\"}", "{\"recurring\": true}", "{\"budget\": \"8,993,600\"}",
    "{\"project_name\": null}", "{", "SH001", " SH001 ", "2021-04-30T09:00:00",
)


def _random_text(rng: Random) -> str:
    pick = rng.random()
    if pick < 0.45:
        return rng.choice(TEXTS)
    if pick < 0.6:  # long
        alphabet = rng.choice(("完成指标评分", "abc xyz", "0123456789", "😀🚀", "\u0301\u200b a"))
        chunk = "".join(rng.choice(alphabet) for _ in range(97))
        n = rng.choice((1000, 10_000, 32_767, 40_000))
        return (chunk * (n // len(chunk) + 1))[:n]
    if pick < 0.8:  # control characters
        return "".join(chr(rng.randrange(0, 32)) if rng.random() < 0.5 else rng.choice("ab1 分") for _ in range(rng.randint(1, 12)))
    if pick < 0.9:
        return rng.choice(NUMBERS)
    return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(1, 30)))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _xml_text(rng: Random, text: str) -> str:
    """Text for an XML element: Excel's _xHHHH_ escapes for control characters, char refs, or raw (broken XML)."""
    mode = rng.random()
    text = _SURROGATE.sub("\ufffd", text)
    if mode < 0.95:
        text = escape(text)

    def control(m: re.Match[str]) -> str:
        o = ord(m.group())
        return f"_x{o:04X}_" if mode < 0.6 else (f"&#{o};" if mode < 0.8 else m.group())

    return _CONTROL.sub(control, text)


def _random_number(rng: Random) -> str:
    pick = rng.random()
    if pick < 0.55:
        return rng.choice(NUMBERS)
    if pick < 0.7:
        return repr(rng.uniform(-1e6, 1e6))
    if pick < 0.85:
        k = rng.randint(1, 400)
        return str(rng.randint(-(10 ** k), 10 ** k))
    return repr(rng.random() * 10.0 ** rng.randint(-300, 300))


# -- the zip ----------------------------------------------------------------------------------------

def _write_zip(entries: list[tuple[str, bytes]], level: int = 1) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=_STAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
    return buf.getvalue()


def _pick_part(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]], bias: dict[str, int] | None = None) -> int:
    """Index of a part, favouring the ones a reader parses."""
    weights = []
    for name, _ in entries:
        w = 1
        if name == seed.form:
            w = 8
        elif name == seed.meta:
            w = 4
        elif name in ("xl/workbook.xml", "xl/sharedStrings.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"):
            w = 4
        elif name.startswith("docProps/"):
            w = 2
        if bias and name in bias:
            w = bias[name]
        weights.append(w)
    return rng.choices(range(len(entries)), weights)[0]


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1].replace(".xml", "").replace(".rels", "R").replace("[Content_Types]", "CT") or "dir"


# -- byte mutations ------------------------------------------------------------------------------------

_INTERESTING_BYTES = b'<>"&\x00\xff/=0159-.e \n\xc3\xa4\xef\xbb\xbf'


def _mutate_bytes(rng: Random, data: bytes, count: int, region: tuple[int, int] | None = None) -> bytes:
    buf = bytearray(data)
    for _ in range(count):
        if not buf:
            buf += bytes([rng.randrange(256)])
            continue
        lo, hi = region or (0, len(buf))
        lo, hi = max(0, min(lo, len(buf) - 1)), max(1, min(hi, len(buf)))
        if lo >= hi:
            lo, hi = 0, len(buf)
        pos = rng.randrange(lo, hi)
        op = rng.random()
        if op < 0.35:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op < 0.55:
            buf[pos] = rng.randrange(256)
        elif op < 0.7:
            buf[pos] = rng.choice(_INTERESTING_BYTES)
        elif op < 0.8:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.9:
            del buf[pos:pos + rng.randint(1, 64)]
        else:
            n = rng.randint(1, 64)
            buf[pos:pos] = buf[pos:pos + n] * rng.randint(1, 4)
    return bytes(buf)


def _flip(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries)
    name, data = entries[i]
    region = None
    if rng.random() < 0.5 and data:  # aim at the markup: near a '<', '"' or digit
        anchors = [m.start() for m in re.finditer(rb'[<"0-9]', data[:200_000])]
        if anchors:
            a = rng.choice(anchors)
            region = (a - 4, a + 8)
    entries[i] = (name, _mutate_bytes(rng, data, rng.choice((1, 1, 2, 3, 5, 8, 16)), region))
    return f"flip.{_short(name)}"


def _rawflip(rng: Random, data: bytes) -> tuple[bytes, str]:
    where = rng.random()
    if where < 0.3:
        region, tag = (len(data) - 1500, len(data)), "cd"  # the central directory
    elif where < 0.5:
        region, tag = (0, 64), "head"
    else:
        region, tag = None, "any"
    return _mutate_bytes(rng, data, rng.choice((1, 2, 4, 8, 16)), region), f"rawflip.{tag}"


def _truncate(rng: Random, data: bytes) -> tuple[bytes, str]:
    where = rng.random()
    if where < 0.5:
        cut = rng.randrange(1, len(data))
    elif where < 0.8:
        cut = max(1, len(data) - rng.randint(1, 300))
    else:
        cut = rng.randint(1, 120)
    return data[:cut], f"truncate.{cut}"


# -- cells -------------------------------------------------------------------------------------------

def _cell_re(ref: str) -> re.Pattern[str]:
    return re.compile(rf'<c r="{ref}"(?=[\s/>])[^>]*?(?:/>|>.*?</c>)', re.S)


def _col_row(ref: str) -> tuple[str, int]:
    m = re.match(r"([A-Z]+)(\d+)$", ref)
    assert m, ref
    return m.group(1), int(m.group(2))


def _shift(ref: str, drow: int, dcol: int) -> str:
    col, row = _col_row(ref)
    n = 0
    for ch in col:
        n = n * 26 + ord(ch) - 64
    n = max(1, n + dcol)
    letters = ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"{letters}{max(1, row + drow)}"


def _put_cell(xml: str, ref: str, cell: str) -> str | None:
    """Replace cell ``ref`` in the sheet XML by ``cell`` (inserting it in its row); None if the row is absent."""
    m = _cell_re(ref).search(xml)
    if m:
        return xml[:m.start()] + cell + xml[m.end():]
    _, row = _col_row(ref)
    rm = re.search(rf'<row r="{row}"(?=[\s/>])[^>]*?(/?)>', xml)
    if rm is None:
        return None
    if rm.group(1):  # <row .../>
        open_tag = xml[rm.start():rm.end() - 2] + ">"
        return xml[:rm.start()] + open_tag + cell + "</row>" + xml[rm.end():]
    return xml[:rm.end()] + cell + xml[rm.end():]


def _random_cell(rng: Random, seed: _Seed, ref: str, old: str | None) -> tuple[str, str, list[tuple[str, str]]]:
    """(cell XML, kind tag, extra cells to place) for a random value of a random type."""
    s_old = None
    if old:
        m = re.search(r'\ss="([^"]*)"', old.split(">", 1)[0])
        s_old = m.group(1) if m else None
    style = rng.random()
    if style < 0.7:
        s = s_old
    elif style < 0.85:
        s = rng.choice(("0", "1", "9999", "-1", "abc", "²", "１", "") + ((seed.date_style,) if seed.date_style else ()))
    else:
        s = None
    s_attr = f' s="{s}"' if s is not None else ""

    def cell(t: str | None, inner: str, s_attr: str = s_attr) -> str:
        t_attr = f' t="{t}"' if t is not None else ""
        return f'<c r="{ref}"{s_attr}{t_attr}>{inner}</c>'

    kind = rng.choices(
        ("num", "str", "sst", "bool", "err", "date", "serial", "fstr", "cached", "fshared", "ftype", "empty", "rich", "tstr"),
        (20, 22, 6, 5, 6, 5, 6, 6, 6, 5, 4, 3, 3, 3))[0]
    extra: list[tuple[str, str]] = []
    if kind == "num":
        return cell(rng.choice((None, "n")), f"<v>{escape(_random_number(rng))}</v>"), kind, extra
    if kind == "str":
        return cell("inlineStr", f"<is><t>{_xml_text(rng, _random_text(rng))}</t></is>"), kind, extra
    if kind == "rich":
        runs = "".join(f"<r><t>{_xml_text(rng, _random_text(rng)[:50])}</t></r>" for _ in range(rng.randint(1, 3)))
        return cell("inlineStr", f"<is>{runs}<rPh sb=\"0\" eb=\"1\"><t>ふ</t></rPh></is>"), kind, extra
    if kind == "tstr":  # a formula's text result without a formula
        return cell("str", f"<v>{_xml_text(rng, _random_text(rng))}</v>"), kind, extra
    if kind == "sst":
        n = seed.n_strings
        v = rng.choice((str(rng.randrange(max(n, 1))), str(n), str(n + 1000), "-1", "1.0", "abc", "", " 3", "99999999999999999999"))
        return cell("s", f"<v>{v}</v>"), kind, extra
    if kind == "bool":
        return cell("b", f"<v>{rng.choice(BOOLS)}</v>"), kind, extra
    if kind == "err":
        return cell("e", f"<v>{escape(rng.choice(ERRORS))}</v>"), kind, extra
    if kind == "date":
        return cell("d", f"<v>{rng.choice(ISO_DATES)}</v>"), kind, extra
    if kind == "serial":
        s_date = f' s="{seed.date_style}"' if seed.date_style and rng.random() < 0.8 else s_attr
        return cell(rng.choice((None, "n")), f"<v>{rng.choice(SERIALS)}</v>", s_date), kind, extra
    if kind == "fstr":
        f = escape(rng.choice(FORMULAS))
        v, t = rng.choice(((f"<v>{_xml_text(rng, _random_text(rng))}</v>", "str"), ("<v>#DIV/0!</v>", "e"),
                           (f"<v>{escape(_random_number(rng))}</v>", None), ("", None), ("<v></v>", "str")))
        return cell(t, f"<f>{f}</f>{v}"), kind, extra
    if kind == "cached":  # keep the formula the cell had, change what it claims to show
        fm = re.search(r"<f\b[^>]*?(?:/>|>.*?</f>)", old or "", re.S)
        f = fm.group(0) if fm else f"<f>{escape(rng.choice(FORMULAS))}</f>"
        v, t = rng.choice(((f"<v>{escape(_random_number(rng))}</v>", None), (f"<v>{_xml_text(rng, _random_text(rng))}</v>", "str"),
                           (f"<v>{escape(rng.choice(ERRORS))}</v>", "e"), (f"<v>{rng.choice(BOOLS)}</v>", "b"), ("", None)))
        return cell(t, f + v), kind, extra
    if kind == "fshared":
        si = rng.choice(("0", "1", "7", "", "x", "-1"))
        ref2 = _shift(ref, rng.randint(0, 6), rng.randint(0, 1))
        text = escape(rng.choice(FORMULAS))
        master = cell(None, f'<f t="shared" ref="{ref}:{ref2}" si="{si}">{text}</f><v>1</v>')
        for _ in range(rng.randint(0, 3)):  # followers, sometimes left of or above the master
            other = _shift(ref, rng.randint(-2, 5), rng.randint(-2, 2))
            if other != ref:
                extra.append((other, f'<c r="{other}"><f t="shared" si="{si}"/><v>2</v></c>'))
        return master, kind, extra
    if kind == "ftype":
        t = rng.choice(("x", "", "S", "inlineStr", "s", "n", "e", "d", "b", "str", "date"))
        inner = rng.choice((f"<v>{escape(_random_number(rng))}</v>", f"<v>{_xml_text(rng, _random_text(rng)[:100])}</v>", "",
                            "<is><t>x</t></is>", "<v/>", f'<f t="{rng.choice(("array", "dataTable", "normal", "zzz"))}" ref="{ref}">1</f>'))
        return cell(t, inner), f"ftype_{t or 'empty'}", extra
    return cell(None, "") if rng.random() < 0.5 else f'<c r="{ref}"{s_attr}/>', kind, extra


def _meta_cell(rng: Random, ref: str) -> tuple[str, str]:
    if rng.random() < 0.7:
        text = rng.choice(META_TEXTS)
    else:
        text = _random_text(rng)[:200]
    if rng.random() < 0.2:
        return f'<c r="{ref}"><v>{escape(_random_number(rng))}</v></c>', "num"
    return f'<c r="{ref}" t="inlineStr"><is><t>{_xml_text(rng, text)}</t></is></c>', "str"


def _cells(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    inputs, computed, _ = _form_cells()
    names = [n for n, _ in entries]
    on_meta = seed.meta in names and rng.random() < 0.15
    part = seed.meta if on_meta else seed.form
    if part not in names:
        return _flip(rng, seed, entries)
    i = names.index(part)
    xml = entries[i][1].decode("utf-8", "surrogateescape")
    tags = []
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        if on_meta:
            ref = f"{rng.choice('AB')}{rng.randint(1, 10)}"
            new, kind = _meta_cell(rng, ref)
            extra: list[tuple[str, str]] = []
        else:
            where = rng.random()
            if where < 0.7:
                ref = rng.choice(inputs)
            elif where < 0.87:
                ref = rng.choice(computed)
            else:
                ref = f"{rng.choice('ABCDEFGHZ')}{rng.randint(1, 60)}"
            m = _cell_re(ref).search(xml)
            new, kind, extra = _random_cell(rng, seed, ref, m.group(0) if m else None)
        out = _put_cell(xml, ref, new)
        if out is None:
            continue
        xml = out
        for other, c in extra:
            xml = _put_cell(xml, other, c) or xml
        tags.append(f"{ref}.{kind}")
    entries[i] = (part, xml.encode("utf-8", "surrogateescape"))
    return ("meta." if on_meta else "cell.") + ",".join(tags[:3]) if tags else "cell.none"


def _opx(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> bytes | None:
    """Set cells through openpyxl, with Python values (the slow path: used for a few cases)."""
    import math

    import openpyxl
    from openpyxl.utils.exceptions import IllegalCharacterError

    inputs, computed, _ = _form_cells()
    try:
        wb = openpyxl.load_workbook(io.BytesIO(seed.raw))
    except Exception:
        return None
    ws = wb.worksheets[0]
    values: tuple[Callable[[], object], ...] = (
        lambda: math.nan, lambda: math.inf, lambda: -math.inf, lambda: -0.0, lambda: 10 ** 30, lambda: 2 ** 70,
        lambda: -(10 ** 20), lambda: 1e308, lambda: 5e-324, lambda: dt.datetime(1, 1, 1), lambda: dt.date(9999, 12, 31),
        lambda: dt.datetime(2021, 4, 30, 13, 30), lambda: dt.time(12, 0), lambda: dt.timedelta(days=3, hours=1),
        lambda: True, lambda: False, lambda: '=HYPERLINK("x")', lambda: "#DIV/0!", lambda: "#N/A",
        lambda: "完成" * 5000, lambda: "８９６７１７１", lambda: "=1/0", lambda: "=SUM(E14:E19)", lambda: None,
    )
    for _ in range(rng.randint(1, 3)):
        ref = rng.choice(inputs + computed)
        if type(ws[ref]).__name__ == "MergedCell":
            continue  # the first form's cell is merged on the national form: nothing to set
        try:
            ws[ref] = rng.choice(values)()
        except (IllegalCharacterError, ValueError, TypeError):
            ws[ref] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    return _pin_times(buf.getvalue())


def _pin_times(data: bytes) -> bytes:
    """openpyxl stamps the save time into the zip entries and docProps/core.xml: pin both,
    or a seed would not give the same bytes twice."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                part = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2021-04-30T09:00:00Z", part)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)), part, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# -- attributes, texts, injections -----------------------------------------------------------------------

_ATTR = re.compile(rb'\s([A-Za-z_][\w:.-]*)="([^"]*)"')


def _attr(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries)
    name, data = entries[i]
    found = list(_ATTR.finditer(data[:300_000]))
    if not found:
        return _flip(rng, seed, entries)
    picks = sorted(rng.sample(found, min(len(found), rng.choice((1, 1, 2, 4)))), key=lambda m: m.start(), reverse=True)
    names = []
    for m in picks:
        old = m.group(2).decode("utf-8", "replace")
        r = rng.random()
        if r < 0.6:
            new = rng.choice(ATTR_VALUES)
        elif r < 0.8 and old:
            new = old + rng.choice(("0", "9", "x", " ", "²", ":A1"))
        elif old.isdigit():
            new = str(int(old) + rng.choice((-1, 1, 1000, -1000)))
        else:
            new = old[::-1]
        data = data[:m.start(2)] + new.encode("utf-8") + data[m.end(2):]
        names.append(m.group(1).decode("ascii", "replace").split(":")[-1])
    entries[i] = (name, data)
    return f"attr.{_short(name)}.{','.join(names[:3])}"


_TEXT = re.compile(rb">([^<]{1,2000})<")


def _text(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries, {"docProps/custom.xml": 4, "docProps/core.xml": 3})
    name, data = entries[i]
    found = list(_TEXT.finditer(data[:300_000]))
    if not found:
        return _flip(rng, seed, entries)
    picks = sorted(rng.sample(found, min(len(found), rng.choice((1, 1, 2, 3)))), key=lambda m: m.start(), reverse=True)
    for m in picks:
        context = data[max(0, m.start() - 200):m.start()]
        if name == "xl/workbook.xml" and context.rfind(b"<definedName") > context.rfind(b">"):
            new = rng.choice(DEFINED_TEXTS) if rng.random() < 0.8 else _random_text(rng)[:100]
        elif name == seed.meta or name.startswith("docProps/"):
            new = rng.choice(META_TEXTS) if rng.random() < 0.6 else _random_text(rng)[:200]
        elif rng.random() < 0.4:
            new = _random_number(rng)
        else:
            new = _random_text(rng)
        data = data[:m.start(1)] + _xml_text(rng, new).encode("utf-8", "surrogatepass") + data[m.end(1):]
    entries[i] = (name, data)
    return f"text.{_short(name)}"


_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")


def _inject(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries)
    name, data = entries[i]
    m = _DECL.match(data)
    decl, body = (data[:m.end()], data[m.end():]) if m else (b"", data)
    root = re.match(rb"<([\w:]+)", body)
    root_name = root.group(1) if root else b"x"
    what = rng.choices(
        ("entity", "laughs", "external", "doctype", "utf16", "bom", "xml11", "pi", "comment", "ws",
         "date1904", "unprotect", "prefix", "cdata", "latin1", "transcode", "multibyte"),
        (2, 2, 2, 1, 3, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 4, 1))[0]
    if what == "entity":
        data = decl + b"<!DOCTYPE " + root_name + b' [<!ENTITY a "b">]>' + body.replace(b"</", b"&a;</", 1)
    elif what == "laughs":
        ents = b'<!ENTITY l0 "lol">' + b"".join(b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">' % ((k,) + (k - 1,) * 10) for k in range(1, 10))
        data = decl + b"<!DOCTYPE " + root_name + b" [" + ents + b"]>" + body.replace(b"</", b"&l9;</", 1)
    elif what == "external":
        data = decl + b"<!DOCTYPE " + root_name + b' [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + body.replace(b"</", b"&e;</", 1)
    elif what == "doctype":
        data = decl + b"<!DOCTYPE " + root_name + b">" + body
    elif what == "utf16":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # (an earlier mutation left bytes that are not UTF-8: taken one byte a character)
            text = data.decode("latin-1")
        text = re.sub(r'encoding="[^"]*"', 'encoding="UTF-16"', text, count=1)
        data = text.encode("utf-16")
    elif what == "latin1":  # a declaration that does not match the bytes
        data = re.sub(rb'encoding="[^"]*"', b'encoding="ISO-8859-1"', data, count=1)
    elif what == "transcode":  # well-formed ISO-8859-1 or windows-1252: single non-UTF-8 bytes in texts
        enc = rng.choice(("ISO-8859-1", "windows-1252"))
        text = data.decode("utf-8", "replace")
        text = re.sub(r"<(t|v)((?:\s[^>]*)?)>", lambda m: f"<{m.group(1)}{m.group(2)}>é", text, count=rng.randint(1, 20))
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
        data = (f'<?xml version="1.0" encoding="{enc}"?>' + text).encode("latin-1", "xmlcharrefreplace")
    elif what == "multibyte":
        enc = rng.choice(("GB18030", "Shift_JIS", "UTF-32", "EUC-KR"))
        data = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", data)
        data = f'<?xml version="1.0" encoding="{enc}"?>'.encode() + data
    elif what == "bom":
        data = b"\xef\xbb\xbf" + data
    elif what == "xml11":
        data = b'<?xml version="1.1" encoding="UTF-8"?>' + body
    elif what == "pi":
        data = decl + b"<?evil data?>" + body.replace(b">", b"><?pi x?>", 1)
    elif what == "comment":
        data = data.replace(b"><", b"><!-- x -- y --><", 1)
    elif what == "ws":
        data = b"  \n" + data
    elif what == "cdata":
        data = re.sub(rb"<v>([^<]*)</v>", rb"<v><![CDATA[\1]]></v>", data, count=rng.randint(1, 50))
    elif what == "prefix":  # the default namespace bound to a prefix instead, as some writers do
        data = re.sub(rb'xmlns="([^"]*)"', rb'xmlns:x="\1"', data, count=1)
        data = re.sub(rb"<(/?)(?![\w]+:)([A-Za-z])", rb"<\1x:\2", data)
    elif what == "date1904":
        i = next((k for k, (n, _) in enumerate(entries) if n == "xl/workbook.xml"), i)
        name, data = entries[i]
        data = re.sub(rb"<workbookPr\b", b'<workbookPr date1904="1"', data, count=1) if b"<workbookPr" in data else \
            data.replace(b"<sheets>", b'<workbookPr date1904="true"/><sheets>', 1)
        data = data.replace(b'date1904="false"', b"", 1)
    elif what == "unprotect":
        if seed.form and seed.form in dict(entries):
            i = [n for n, _ in entries].index(seed.form)
            name, data = entries[i]
            data = re.sub(rb'<sheetProtection\b[^>]*/>', rng.choice((b"", b'<sheetProtection sheet="0"/>', '<sheetProtection sheet="²"/>'.encode())), data)
    entries[i] = (name, data)
    return f"inject.{what}.{_short(name)}"


# -- parts --------------------------------------------------------------------------------------------

_KEY_PARTS = ("xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
              "[Content_Types].xml", "_rels/.rels", "docProps/core.xml", "docProps/app.xml", "docProps/custom.xml",
              "xl/theme/theme1.xml", "xl/worksheets/sheet2.xml")


def _delete(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    gone = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not entries:
            break
        names = [n for n, _ in entries]
        keys = [n for n in names if n in _KEY_PARTS or n in (seed.form, seed.meta)]
        name = rng.choice(keys) if keys and rng.random() < 0.8 else rng.choice(names)
        entries.pop(names.index(name))
        gone.append(_short(name))
    return "delete." + ",".join(gone)


def _dup(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries)
    name, data = entries[i]
    how = rng.random()
    if how < 0.3:
        copy, tag = data, "same"
    elif how < 0.5:
        copy, tag = b"", "empty"
    elif how < 0.8:
        copy, tag = _mutate_bytes(rng, data, rng.randint(1, 8)), "flipped"
    else:
        copy, tag = rng.choice(entries)[1], "other"
    if rng.random() < 0.5:
        entries.append((name, copy))
    else:
        entries.insert(i + 1, (name, copy))
    return f"dup.{_short(name)}.{tag}"


def _rename(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str:
    i = _pick_part(rng, seed, entries)
    name, data = entries[i]
    how = rng.choice(("upper", "slash", "swap", "dir", "backslash", "dotdot"))
    if how == "swap":
        j = _pick_part(rng, seed, entries)
        other, other_data = entries[j]
        entries[i], entries[j] = (name, other_data), (other, data)
        return f"rename.swap.{_short(name)},{_short(other)}"
    new = {"upper": name.upper(), "slash": "/" + name, "dir": name + "/", "backslash": name.replace("/", "\\"),
           "dotdot": "xl/../" + name}[how]
    entries[i] = (new, data)
    return f"rename.{how}.{_short(name)}"


def _bloat(rng: Random, seed: _Seed, entries: list[tuple[str, bytes]]) -> str | bytes:
    how = rng.choice(("rows", "longstring", "bigattr", "parts", "liesize", "wide", "comment"))
    names = [n for n, _ in entries]
    if how in ("rows", "wide", "bigattr", "comment") and seed.form in names:
        i = names.index(seed.form)
        data = entries[i][1]
        if how == "comment":  # markup-like text where no parser sees markup: in a comment among the rows
            junk = rng.choice((b"<c ", b'<c r="A1"><v>', b"<row ", b"<c r=", b"<f>"))
            data = data.replace(b"<sheetData>", b"<sheetData><!-- " + junk * (rng.choice((2_000, 30_000)) // len(junk)) + b" -->", 1)
        elif how == "rows":  # after the form's last row (48), or past the reader's row bound
            first = rng.choice((60, 1001))
            rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (r, r, r) for r in range(first, first + 20_000))
            data = data.replace(b"</sheetData>", rows + b"</sheetData>", 1)
        elif how == "wide":
            cells = b"".join(b'<c r="%s1"><v>1</v></c>' % c.encode() for c in _wide_columns())
            data = data.replace(b"</row>", cells + b"</row>", 1)
        else:
            data = re.sub(rb"<dimension ", b'<dimension x="' + b"y" * 2_000_000 + b'" ', data, count=1)
        entries[i] = (seed.form, data)
        return f"bloat.{how}"
    if how == "longstring" and "xl/sharedStrings.xml" in names:
        i = names.index("xl/sharedStrings.xml")
        big = rng.randbytes(3_000_000).translate(_LETTERS) + "完成".encode() * 200_000
        entries[i] = (names[i], entries[i][1].replace(b"<t>", b"<t>" + big, 1))
        return "bloat.longstring"
    if how == "parts":
        n = rng.choice((3_000, 10_001))
        entries.extend((f"xl/media/x{k}.bin", b"") for k in range(n))
        return f"bloat.parts{n}"
    # liesize: the central directory claims a huge uncompressed size for one part
    raw = _write_zip(entries)
    at = [m.start() for m in re.finditer(rb"PK\x01\x02", raw)]
    if not at:
        return "bloat.none"
    pos = rng.choice(at) + 24
    size = rng.choice((0xFFFFFFFF, 300 * 1024 * 1024, 2 * 1024 * 1024, 0))
    return raw[:pos] + struct.pack("<I", size) + raw[pos + 4:]


_LETTERS = bytes(b"abcdefgh 0123456789"[k % 19] for k in range(256))


def _wide_columns() -> list[str]:
    out = []
    for n in range(27, 16_385, 97):
        letters = ""
        while n:
            n, r = divmod(n - 1, 26)
            letters = chr(65 + r) + letters
        out.append(letters)
    return out


_PART_KINDS: dict[str, Callable[[Random, _Seed, list[tuple[str, bytes]]], str]] = {
    "flip": _flip, "cell": _cells, "attr": _attr, "text": _text, "inject": _inject, "delete": _delete,
    "dup": _dup, "rename": _rename,
}


# -- cases ------------------------------------------------------------------------------------------------

def make_mutant(seeds: list[_Seed], seed: int, case: int) -> tuple[str, bytes]:
    """Case ``case`` of run ``seed``: (file name, content); depends on nothing else."""
    rng = Random(f"{seed}/{case}")
    s = seeds[rng.randrange(len(seeds))]
    kinds = [rng.choices(list(KINDS), list(KINDS.values()))[0]]
    if rng.random() < 0.3:
        kinds.append(rng.choices(list(KINDS), list(KINDS.values()))[0])
    kinds.sort(key=lambda k: _ORDER.get(k, 1))  # opx, part mutations, bloat, then the file's bytes
    entries = list(s.entries)
    tags: list[str] = []
    data: bytes | None = None
    for kind in kinds:
        if data is not None and kind not in _FILE_KINDS:  # a second bloat after a lying size: the file is final
            tags.append(f"{kind}.skipped")
            continue
        if kind in _FILE_KINDS:
            if data is None:
                data = _write_zip(entries) if tags else s.raw
            data, tag = (_rawflip if kind == "rawflip" else _truncate)(rng, data)
        elif kind == "opx":
            out = _opx(rng, s, entries) if not tags else None
            if out is None:
                tag = _cells(rng, s, entries)
            else:
                with zipfile.ZipFile(io.BytesIO(out)) as zf:
                    entries = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
                tag = "opx"
        elif kind == "bloat":
            out = _bloat(rng, s, entries)
            if isinstance(out, bytes):
                data, tag = out, "bloat.liesize"
            else:
                tag = out
        else:
            tag = _PART_KINDS[kind](rng, s, entries)
        tags.append(tag)
    if data is None:
        data = _write_zip(entries)
    label = re.sub(r"[^\w.,=+-]", "_", "+".join(tags), flags=re.ASCII)[:120]
    return f"{seed}-{case:05d}-s{s.index:02d}-{label}.xlsx", data


def load_seeds(seed_files: list[Path]) -> list[_Seed]:
    return [_load_seed(k, Path(p)) for k, p in enumerate(seed_files)]


def make_mutants(seed_files: list[Path], out: Path, n: int, seed: int, start: int = 0) -> list[Path]:
    """Write cases ``start`` … ``start + n - 1`` of run ``seed`` into ``out``; the paths, in case order."""
    seeds = load_seeds(seed_files)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in range(start, start + n):
        name, data = make_mutant(seeds, seed, case)
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    """``python -m tests.fuzz SEED CASE [OUT]``: rebuild one case from the default seeds."""
    import tempfile

    if len(argv) < 2:
        print(main.__doc__)
        return 2
    seed, case = int(argv[0]), int(argv[1])
    out = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkdtemp(prefix="xlt-fuzz-"))
    seeds = default_seeds(out / "_seeds")
    (path,) = make_mutants(seeds, out, 1, seed, start=case)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
