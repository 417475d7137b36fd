"""A corpus of broken, strange and hostile returns, made byte by byte.

Each entry is one file (or folder) with the status and the finding code
validation must give. Large files (zip bombs, 100,000 extra rows) are made here
rather than committed.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.spec import Spec

from .corpus import STAMP, clean_seed


@dataclass(frozen=True)
class Hostile:
    name: str
    status: str
    code: str | None  # the finding every such file must carry (None: no finding expected)
    engine: bool = False


def rewrite(src: Path, dest: Path, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> Path:
    """Copy a zip, passing each part through ``change`` (None drops the part), adding ``extra`` parts."""
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    dest.write_bytes(buf.getvalue())
    return dest


def sub_part(part: str, pattern: str, repl: str, count: int = 1) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text, n = re.subn(pattern, repl, data.decode("utf-8"), count=count, flags=re.S)
        assert n, f"{pattern} not found in {part}"
        return text.encode("utf-8")
    return change


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>\n"
)
XXE = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


def with_doctype(doctype: str, entity_ref: str) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        text = data.decode("utf-8")
        text = re.sub(r"^<\?xml[^>]*\?>\s*", "", text)
        return (doctype + text).encode("utf-8")
    return change


def zip_bomb(dest: Path, total: int, declared: int | None = None) -> Path:
    """A zip whose one XML part inflates to ``total`` bytes of spaces, made without holding them in memory.

    ``declared`` sets the size the zip directory claims (a lying bomb); default: the truth.
    """
    block = b" " * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    n = total // len(block)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    tail = comp.flush(zlib.Z_FINISH)
    body_len = len(chunk) * n + len(tail)
    size = declared if declared is not None else n * len(block)
    name = b"xl/worksheets/sheet1.xml"
    with open(dest, "wb") as fh:
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, body_len, size, len(name), 0)
        fh.write(local + name)
        for _ in range(n):
            fh.write(chunk)
        fh.write(tail)
        cd_offset = fh.tell()
        central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, body_len, size,
                              len(name), 0, 0, 0, 0, 0, 0)
        fh.write(central + name)
        end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), cd_offset, 0)
        fh.write(end)
    return dest


def lying_bomb(src: Path, dest: Path, part: str, total: int, declared: int) -> Path:
    """A real workbook whose ``part`` inflates to ``total`` bytes while the zip declares ``declared``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != part:
                zout.writestr(info.filename, zin.read(info.filename))
        info = zipfile.ZipInfo(part)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w") as fh:
            block = b" " * (1 << 20)
            for _ in range(total // len(block)):
                fh.write(block)
    with zipfile.ZipFile(dest) as z:
        offset = z.getinfo(part).header_offset
    raw = bytearray(dest.read_bytes())
    struct.pack_into("<I", raw, offset + 22, declared)  # local header: uncompressed size
    pos = raw.find(b"PK\x01\x02")  # the central directory entry of the part
    while pos >= 0:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + name_len] == part.encode():
            struct.pack_into("<I", raw, pos + 24, declared)
            break
        pos = raw.find(b"PK\x01\x02", pos + 4)
    dest.write_bytes(bytes(raw))
    return dest


def build(spec: Spec, seed: dict, root: Path, with_engine: bool) -> list[Hostile]:
    """Write the hostile corpus into ``root``; return what each file must give."""
    root.mkdir(parents=True, exist_ok=True)
    layout = Layout(spec)
    values = clean_seed(seed)
    good = generate_workbook(spec, root / "valid-return.xlsx", values=values, generated_at=STAMP).path
    out: list[Hostile] = [Hostile("valid-return.xlsx", "valid", None)]
    sheet_part = "xl/worksheets/sheet1.xml"

    def add(name: str, status: str, code: str | None, engine: bool = False) -> None:
        out.append(Hostile(name, status, code, engine))

    # -- not a workbook at all -------------------------------------------------------------
    (root / "not-a-zip.xlsx").write_bytes(b"%PDF-1.4 this is a pdf renamed\n" * 20)
    add("not-a-zip.xlsx", "unreadable", "file-not-xlsx")
    data = good.read_bytes()
    (root / "truncated.xlsx").write_bytes(data[: len(data) * 2 // 3])
    add("truncated.xlsx", "unreadable", "file-corrupt")
    (root / "zero-bytes.xlsx").write_bytes(b"")
    add("zero-bytes.xlsx", "unreadable", "file-empty")
    (root / "a folder.xlsx").mkdir()
    (root / "a folder.xlsx" / "inside.txt").write_text("x", encoding="utf-8")
    add("a folder.xlsx", "unreadable", "file-unreadable")
    from tests.corpus import _encrypt

    _encrypt(good, root / "encrypted.xlsx")
    add("encrypted.xlsx", "unreadable", "file-encrypted")
    with zipfile.ZipFile(root / "spreadsheet.ods", "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>')
    add("spreadsheet.ods", "unreadable", "file-ods")
    with zipfile.ZipFile(root / "just-a-zip.xlsx", "w") as z:
        z.writestr("readme.txt", "hello")
    add("just-a-zip.xlsx", "unreadable", "file-not-xlsx")

    # -- macros, bombs, entities ----------------------------------------------------------------
    def add_macro_type(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
        return data

    rewrite(good, root / "with-macros.xlsm", add_macro_type, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 508})
    add("with-macros.xlsm", "valid", "file-macros")
    zip_bomb(root / "zip-bomb-honest.xlsx", total=2 * 1024 ** 3)
    add("zip-bomb-honest.xlsx", "unreadable", "file-too-large")
    lying_bomb(good, root / "zip-bomb-lying.xlsx", sheet_part, total=512 * 1024 ** 2, declared=60_000)
    add("zip-bomb-lying.xlsx", "unreadable", "file-corrupt")  # inflating stops at the declared size: bad CRC
    bomb_parts = {"xl/workbook.xml": "billion-laughs-workbook", "xl/sharedStrings.xml": "billion-laughs-strings",
                  sheet_part: "xxe-sheet", "docProps/core.xml": "xxe-core", "[Content_Types].xml": "xxe-content-types",
                  "xl/styles.xml": "billion-laughs-styles", "xl/_rels/workbook.xml.rels": "xxe-rels"}
    for part, label in bomb_parts.items():
        doctype = BILLION_LAUGHS if label.startswith("billion") else XXE
        change = with_doctype(doctype, "")
        rewrite(good, root / f"{label}.xlsx", lambda n, d, part=part, change=change: change(d) if n == part else d)
        add(f"{label}.xlsx", "unreadable", "file-unsafe-xml")

    # -- a huge but honest file: 100,000 extra rows below the form ------------------------------
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>附加行{r}</t></is></c></row>' for r in range(1000, 101000))
    rewrite(good, root / "huge-100k-rows.xlsx", sub_part(sheet_part, r"</sheetData>", rows + "</sheetData>"))
    add("huge-100k-rows.xlsx", "valid", None)

    # -- structure removed or redirected -------------------------------------------------------
    def drop_sheet(target: str) -> Callable[[str, bytes], bytes | None]:
        def change(name: str, data: bytes) -> bytes | None:
            if name == "xl/workbook.xml":
                return re.sub(rf'<sheet name="{target}"[^>]*/>'.encode(), b"", data)
            return data
        return change

    rewrite(good, root / "form-sheet-deleted.xlsx", drop_sheet(spec.sheet))
    add("form-sheet-deleted.xlsx", "invalid", "form-sheet-missing")
    rewrite(good, root / "meta-sheet-deleted.xlsx", drop_sheet("_xltemplate"))
    add("meta-sheet-deleted.xlsx", "invalid", "meta-missing")
    rewrite(good, root / "names-deleted.xlsx", sub_part("xl/workbook.xml", r"<definedNames>.*</definedNames>", ""))
    add("names-deleted.xlsx", "valid", "defined-name-changed")
    rewrite(good, root / "name-points-elsewhere.xlsx",
            sub_part("xl/workbook.xml", r"(<definedName name=\"total_score\">[^<]*!)\$E\$\d+", r"\g<1>$A$1"))
    add("name-points-elsewhere.xlsx", "valid", "defined-name-changed")

    # -- error values, long texts, control characters --------------------------------------------
    score = next(r for r in layout.rows if r.indicator and r.indicator.id == "goal_rationality").score.a1
    rewrite(good, root / "error-in-score.xlsx", sub_part(sheet_part, rf'<c r="{score}"( s="\d+")?><v>[^<]*</v></c>', rf'<c r="{score}"\1 t="e"><v>#DIV/0!</v></c>'))
    add("error-in-score.xlsx", "invalid", "value-invalid")
    sub = layout.categories[0].score.a1
    rewrite(good, root / "error-cached.xlsx", sub_part(sheet_part, rf'(<c r="{sub}"[^>]*)><f>([^<]*)</f><v>[^<]*</v>', r'\1 t="e"><f>\2</f><v>#REF!</v>'))
    add("error-cached.xlsx", "valid", "cached-value-stale")
    long_values = dict(values, fld_achievements="很长的文字" * 2001, fld_implementer="处" * 10000)
    generate_workbook(spec, root / "ten-thousand-characters.xlsx", values=long_values, generated_at=STAMP)
    add("ten-thousand-characters.xlsx", "valid", "text-too-long")
    ctrl_values = dict(values, fld_problems="问题一\x01\x02问题二\x1b[31m")
    generate_workbook(spec, root / "control-characters.xlsx", values=ctrl_values, generated_at=STAMP)
    add("control-characters.xlsx", "valid", "text-control-chars")
    formula_values = dict(values)
    formula_values.pop("ind_fund_compliance_score")
    path = generate_workbook(spec, root / "formula-in-input.xlsx", values=formula_values, generated_at=STAMP).path
    cell = next(r for r in layout.rows if r.indicator and r.indicator.id == "fund_compliance").score.a1
    rewrite(path, path, sub_part(sheet_part, rf'<c r="{cell}"( s="\d+")?/>', rf'<c r="{cell}"\1><f>HYPERLINK("http://example.invalid","6")</f><v>6</v></c>'))
    add("formula-in-input.xlsx", "invalid", "input-formula")

    # -- names, lock files ---------------------------------------------------------------------------
    for name in ("带 空格 的 文件名.xlsx", "附件1-最终版(2) 🚀.xlsx", "ファイル 名前.xlsx"):
        shutil.copy(good, root / name)
        add(name, "valid", None)
    (root / "~$valid-return.xlsx").write_bytes(b"\x0bxltemplate" + b"\x00" * 150)

    if with_engine:
        from tools.soffice import convert

        tmp = root / "_lo"
        (xls,) = convert([good], tmp, target="xls")
        shutil.move(str(xls), root / "old-binary.xls")
        shutil.copy(root / "old-binary.xls", root / "old-binary-renamed.xlsx")
        (ods,) = convert([good], tmp, target="ods")
        shutil.move(str(ods), root / "saved-as.ods")
        shutil.rmtree(tmp, ignore_errors=True)
        add("old-binary.xls", "unreadable", "file-xls", engine=True)
        add("old-binary-renamed.xlsx", "unreadable", "file-xls", engine=True)
        add("saved-as.ods", "unreadable", "file-ods", engine=True)
    return out
