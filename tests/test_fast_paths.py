"""The fast reader's fast paths (issue 15): what they remember is used only where it must give the same verdict.

Each test reads a file from nothing first, so that its parts, sheet tails and skeletons are
remembered, then a file that shares them but differs where a remembered verdict must not be
reused (a forged CRC or size, a footer that is not character data, a value the strict path cannot
read), and compares what the reader gives with every fast path forced off, and where the file
reads, with the openpyxl reference.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest

from xltemplate.errors import Unreadable
from xltemplate.readers import read_submission

from .conftest import SAMPLES
from .corpus import TODAY
from .fast_paths import SWITCHES, differences_on_and_off, forget, module, switched, two_faults_named_otherwise, verdict
from .test_differential import differences, read_both

SRC = SAMPLES / "returns" / "需求侧管理中心.xlsx"
FORM = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"


def repacked(dest: Path, changes: dict[str, Callable[[bytes], bytes]] | None = None, src: Path = SRC) -> Path:
    """``src`` written again part by part (the same compression for the same bytes), some parts changed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            change = (changes or {}).get(info.filename)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)),
                          change(data) if change else data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


def forged(src: Path, dest: Path, part: str, crc: int | None = None, size: int | None = None) -> Path:
    """``src`` with the CRC-32 or the uncompressed size of one part changed, in its local header and
    in the central directory alike: the part's bytes are untouched."""
    data = bytearray(src.read_bytes())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part)
    local = info.header_offset
    central = struct.unpack_from("<I", data, data.rindex(b"PK\x05\x06") + 16)[0]  # the directory's first entry
    while data[central + 46:central + 46 + len(part)] != part.encode():
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, central + 28)
        central += 46 + name_len + extra_len + comment_len
    if crc is not None:
        struct.pack_into("<I", data, local + 14, crc)
        struct.pack_into("<I", data, central + 16, crc)
    if size is not None:
        struct.pack_into("<I", data, local + 22, size)
        struct.pack_into("<I", data, central + 24, size)
    dest.write_bytes(bytes(data))
    return dest


def read_after(first: Path, second: Path) -> tuple[object, object]:
    """What ``second`` gives read right after ``first`` (its parts remembered), and with the fast paths off."""
    forget()
    with switched(True):
        assert not isinstance(verdict(first), tuple), "the first file must read"
        on = verdict(second)
    with switched(False):
        off = verdict(second)
    return on, off


def refusal(v: object) -> tuple[str, str]:
    assert isinstance(v, tuple), "the file was read"
    return v[1], v[2]


# -- parts remembered by their compressed bytes -------------------------------------------------------------

@pytest.mark.parametrize("part", ["xl/theme/theme1.xml", "xl/styles.xml", "xl/workbook.xml"])
def test_a_remembered_part_with_a_forged_crc_is_refused(tmp_path: Path, part: str) -> None:
    """The same compressed bytes with another CRC-32 in the directory: refused as when nothing is remembered
    (a forged CRC must never let the file validated differ from the file a person opens)."""
    good = repacked(tmp_path / "good.xlsx")
    bad = forged(good, tmp_path / "bad.xlsx", part, crc=0x12345678)
    on, off = read_after(good, bad)
    assert on == off
    assert refusal(on) == ("file-corrupt", "inflate") and "CRC" in on[3]


def test_a_remembered_part_with_a_forged_size_is_refused(tmp_path: Path) -> None:
    good = repacked(tmp_path / "good.xlsx")
    info = zipfile.ZipFile(good).getinfo("xl/theme/theme1.xml")
    for n, size in enumerate((info.file_size - 1, info.file_size + 1, 0)):
        bad = forged(good, tmp_path / f"bad-{n}.xlsx", "xl/theme/theme1.xml", size=size)
        on, off = read_after(good, bad)
        assert on == off and refusal(on) == ("file-corrupt", "inflate"), size


def _inflated(info: zipfile.ZipInfo, raw: bytes, fast: bool) -> object:
    """What the sniffer's inflate gives one part (its bytes, or the error and its message), zlib-ng on or off."""
    sniff = module("xltemplate.readers.sniff")
    saved = sniff.FAST_INFLATE
    sniff.FAST_INFLATE = fast
    try:
        return sniff._inflate_checked(info, [raw], keep=True)
    except (zipfile.BadZipFile, Unreadable, zlib.error) as exc:
        return (type(exc).__name__, str(exc))
    finally:
        sniff.FAST_INFLATE = saved


def _zlib_ng_installed() -> bool:
    if module("xltemplate.readers.sniff")._zlib_ng is not None:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail("zlib-ng is in the test extra: install '.[test]'")
    pytest.skip("zlib-ng is not installed (the `fast` extra)")


def test_zlib_ng_and_the_stdlib_inflate_every_mutant_the_same() -> None:
    """Deflate streams of a return's parts, mutated 3,000 ways (bits flipped, bytes cut, put in, repeated,
    the claimed size and CRC changed; parts stored, flipped or not): the sniffer gives the same bytes or the same refusal, message and all,
    with zlib-ng and with the stdlib's zlib alone."""
    import random

    _zlib_ng_installed()
    rng = random.Random(15)
    parts = []
    with zipfile.ZipFile(SRC) as z:
        for name in (FORM, STRINGS, "xl/styles.xml", "xl/workbook.xml"):
            data = z.read(name)
            deflate = zlib.compressobj(rng.choice((1, 6, 9)), zlib.DEFLATED, -15)
            parts.append((name, data, deflate.compress(data) + deflate.flush()))
    kinds: dict[str, int] = {}
    faults = 0
    for n in range(3000):
        name, data, raw = rng.choice(parts)
        b = bytearray(raw)
        kind = rng.choice(("flip", "flip", "cut", "insert", "repeat", "size", "crc", "none", "stored"))
        method = zipfile.ZIP_DEFLATED
        if kind == "stored":  # a part stored as it is: only the CRC-32 (zlib-ng's) and the size are checked
            b, method = bytearray(data), zipfile.ZIP_STORED
            if rng.random() < 0.5:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        at = rng.randrange(len(b))
        if kind == "flip":
            for _ in range(rng.choice((1, 1, 2, 8))):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            del b[at:at + rng.choice((1, 7, 100, len(b)))]
        elif kind == "insert":
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 50))))
        elif kind == "repeat":
            b[at:at] = b[max(0, at - 40):at]
        size, crc = len(data), zlib.crc32(data)
        if kind == "size":
            size += rng.choice((-1, 1, -len(data), 1000))
        elif kind == "crc":
            crc ^= 1 << rng.randrange(32)
        info = zipfile.ZipInfo(name)
        info.compress_type, info.file_size, info.CRC = method, size, crc
        fast, slow = _inflated(info, bytes(b), True), _inflated(info, bytes(b), False)
        assert fast == slow, (n, kind, fast if isinstance(fast, tuple) else "read", slow if isinstance(slow, tuple) else "read")
        kinds[kind] = kinds.get(kind, 0) + 1
        faults += isinstance(slow, tuple) and slow[0] == "error"
    assert len(kinds) == 8 and faults > 300, (kinds, faults)  # zlib's own faults were met, not only the checks after


def test_a_fault_zlib_ng_finds_is_judged_by_the_stdlib(monkeypatch) -> None:
    """Where zlib-ng raises, the part is inflated again by the stdlib, whose verdict (and message) is given."""
    _zlib_ng_installed()
    sniff = module("xltemplate.readers.sniff")
    with zipfile.ZipFile(SRC) as z:
        data = z.read(STRINGS)
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = deflate.compress(data) + deflate.flush()
    info = zipfile.ZipInfo(STRINGS)
    info.compress_type, info.file_size, info.CRC = zipfile.ZIP_DEFLATED, len(data), zlib.crc32(data)
    used: list[str] = []

    class Faulty:  # zlib-ng, failing on everything: the stdlib must still read the part
        error = sniff._zlib_ng.error

        @staticmethod
        def decompressobj(wbits: int) -> Any:
            used.append("zlib-ng")
            raise Faulty.error("a fault zlib-ng found")

    monkeypatch.setattr(sniff, "_zlib_ng", Faulty)
    assert _inflated(info, raw, True) == data and used == ["zlib-ng"]
    bad = raw[:len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0xFF]) + raw[len(raw) // 2 + 1:]
    assert _inflated(info, bad, True) == _inflated(info, bad, False)


#: What is put into a form sheet's <sheetData> (a text value, a formula's text, a row's attributes, between two
#: cells), each read with the strict path's own proof of well-formedness (PROVE_CELLS) and with expat over it.
_IN_TEXT = [b"\x0b", b"\x0c", b"\x01", b"\x7f", b"&bogus;", b"&#0;", b"&#xD800;", b"&#xFFFE;", b"&amp;", b"&#65;", b"&#x4e2d;",
            b"]]>", b"]]", b"]>", b">", b"&lt;", b"\xff", b"\xc3", b"\xc3\xa9", b"\xe4\xb8\xad", b"\xef\xbf\xbe", b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\t\r\n", b"&", b"&amp", b"\"'"]
_IN_ROW = [b' spans="1:2" spans="1:3"', b' r="9"', b' r:foo="1"', b' x14ac:dyDescent="0.25"', b' ht="1"ht2="2"', b" ht='1'",
           b' ht="1', b' ht="<"', b' ht="&bogus;"', b' ht="&amp;"', b' ht="&#0;"', b' ht="\x01"', b' ht="\xff"', b'  ht = "1" ',
           b'\x0bht="1"', b' 9ht="1"', b' ht="a/b"', b' ht="a>b"', b" ht=1", b" ht", b' xmlns:q="u" q:a="1"', b' a="\xe4\xb8\xad"',
           b' r:a="1" r:a="2"']
_BETWEEN = [b"\x0b", b"\x0c", b" \t\r\n", b"x", b"&amp;", b"\xc2\xa0", b"<!-- c -->", b"<?pi x?>", b"<![CDATA[x]]>"]


def _sheet_mutants() -> list[tuple[str, Callable[[bytes], bytes]]]:
    def at(marker: bytes, what: bytes, after: bool = True, past: bytes = b"<sheetData>") -> Callable[[bytes], bytes]:
        def change(data: bytes) -> bytes:
            i = data.find(marker, data.find(past))
            assert i > 0, marker
            i += len(marker) if after else 0
            return data[:i] + what + data[i:]
        return change
    out: list[tuple[str, Callable[[bytes], bytes]]] = []
    for n, what in enumerate(_IN_TEXT):
        out.append((f"value-{n}", at(b'</f><v>', what)))  # (a formula's cached number)
        out.append((f"text-{n}", at(b"<v>", what, past=b't="str"')))  # (a formula's cached text: 良好)
        out.append((f"text-end-{n}", at(b"</v>", what, after=False, past=b't="str"')))
        out.append((f"formula-{n}", at(b"<f>", what)))
        out.append((f"string-{n}", at(b"</v></c>", what, after=False)))  # (the end of the sheet's first value)
    for n, what in enumerate(_IN_ROW):
        out.append((f"row-{n}", at(b'<row r="1"', what)))
        out.append((f"row-later-{n}", at(b'<row r="5"', what)))
    for n, what in enumerate(_BETWEEN):
        out.append((f"between-{n}", at(b"</c><c ", what, after=False)))
        out.append((f"between-rows-{n}", at(b"</row>", what)))
    def declared(encoding: bytes) -> Callable[[bytes], bytes]:
        # the cached text 良好 (UTF-8) in a part declared in another encoding: US-ASCII refuses it, the others read
        # other characters (the strict path reads UTF-8 either way, as before)
        return lambda data: data.replace(b'encoding="UTF-8"', b'encoding="' + encoding + b'"', 1)
    def bom(data: bytes) -> bytes:
        return b"\xef\xbb\xbf" + data
    out += [(f"declared-{e.decode()}", declared(e)) for e in (b"US-ASCII", b"ISO-8859-1", b"windows-1252", b"utf-8", b"UTF8")]
    out += [("bom", bom), ("bom-us-ascii", lambda data: bom(declared(b"US-ASCII")(data)))]
    out += [("no-cells", lambda data: re.sub(rb"<sheetData>.*</sheetData>", b"<sheetData></sheetData>", data, flags=re.S)),
            ("blank-cells", lambda data: re.sub(rb"<sheetData>.*</sheetData>", b"<sheetData> </sheetData>", data, flags=re.S))]
    return out


def test_cells_proved_well_formed_read_as_with_expat_over_them(tmp_path: Path, monkeypatch) -> None:
    """What the strict path proves well-formed itself (no second expat pass over <sheetData>) reads the same, or
    is refused the same (message and all), as with expat over it: for every text, row attribute and byte between
    cells that XML reads otherwise or not at all, in values, formulas, row tags and between cells."""
    strict = module("xltemplate.readers.sheet_strict")
    proofs: list[bool] = []
    real = strict.proved
    monkeypatch.setattr(strict, "proved", lambda *a: proofs.append(real(*a)) or proofs[-1])
    problems, taken, refused = [], 0, 0
    for name, change in _sheet_mutants():
        path = repacked(tmp_path / f"{name}.xlsx", {FORM: change})
        forget()
        proofs.clear()
        with switched(True):
            on = verdict(path)
            again = verdict(path)  # with what the first reading remembered (rows, row attributes proved)
        with switched(False, ("PROVE_CELLS",)):
            off = verdict(path)
        if not on == again == off:
            problems.append(f"{name}: {str(on)[:160]} | {str(again)[:80]} ≠ {str(off)[:160]}")
        taken += any(proofs)
        refused += isinstance(off, tuple)
    assert not problems, "\n".join(problems)
    assert taken >= 20 and refused >= 40, (taken, refused)  # the proof held on some (and was used), not only refusals


def test_values_proved_by_their_text_are_those_expat_takes() -> None:
    """PLAIN_UNICODE: a value :func:`plain_unicode` takes is one expat takes as character data, for every character
    of the BMP alone and every UTF-8 fault (a sequence cut between two values, surrogates, overlong forms, beyond
    U+10FFFF, U+FFFE/U+FFFF); and it takes the characters of every script a return is typed in (it is not idle)."""
    strict = module("xltemplate.readers.sheet_strict")
    taken = 0
    for cp in range(0x10000):
        raw = chr(cp).encode("utf-8", "surrogatepass")
        if strict.plain_unicode([raw]):
            taken += 1
            assert strict.character_data([raw]), hex(cp)
    assert taken > 60_000  # (the pattern is narrower than XML, never wider: see the loop above)
    for cp in (0x10000, 0x1F600, 0x10FFFF):  # beyond the BMP: left to expat
        assert not strict.plain_unicode([chr(cp).encode()]) and strict.character_data([chr(cp).encode()])
    middle = "中".encode()
    faults = [[middle[:1], middle[1:]], [middle[:2], middle[2:]], [b"\xed\xa0\x80"], [b"\xc0\xaf"], [b"\xf4\x90\x80\x80"],
              [b"\xef\xbf\xbe"], [b"\xef\xbf\xbf"], [b"\xff"], [b"]]>"], [b"a]]>"], [b"\xe4&amp;\xb8\xad"], [b"&amp"], [b"&am&amp;p;"], [b"&bogus;"], [b"&#65;"], [b"&#10"], [b"&#1;"], [b"&#010;"], [b"\xe4&#10;\xb8\xad"], [b"\x7f"], [b"\x0b"], [b"\x00"],
              [middle + b"\xc2"]]
    for texts in faults:
        assert not strict.plain_unicode(texts), texts
    assert strict.plain_unicode([middle, "良好 Ünïcødé ٣ ひらがな".encode(), b"1.5", b"", "\ue000\ufffd".encode(), b'[{"a":"]"}]]', b">", b"&amp;L&amp;A&amp;C\xe7\xac\xac &amp;P \xe9\xa1\xb5", b"]]&gt;&lt;&quot;&apos;", b"]]&amp;>", b"a&#10;b&#xD;&#9;"])
    rng = random.Random(15)
    for _ in range(20_000):  # random bytes, cut into values anywhere
        raw = bytes(rng.choice((rng.randrange(256), *middle, *"é".encode(), 0x41)) for _ in range(rng.randrange(1, 12)))
        cut = rng.randrange(len(raw) + 1)
        texts = [raw[:cut], raw[cut:]]
        if strict.plain_unicode(texts):
            assert strict.character_data(texts), texts
    words = [b"&amp;", b"&lt;", b"&gt;", b"&quot;", b"&apos;", b"&", b"amp;", b"&#", b"x41;", b"]", b"]]", b">", b"a", b"\t",
             b"&#10;", b"&#xD;", b"10;", b"&#x", b"#",
             *[bytes([b]) for b in middle], b"\xc2\xa0", b"\xef\xbf", b"\xbe", b"\xbf", b"\x7f", b"\x1f"]
    for _ in range(20_000):  # the entities among pieces of UTF-8 sequences and of "]]>"
        texts = [b"".join(rng.choice(words) for _ in range(rng.randrange(0, 6))) for _ in range(rng.randrange(1, 4))]
        if strict.plain_unicode(texts):
            taken += 1
            assert strict.character_data(texts), texts


def test_row_attributes_proved_are_remembered_within_bounds(monkeypatch) -> None:
    """Row attributes proved are remembered by their bytes and the root's, short ones only and so many at most."""
    strict = module("xltemplate.readers.sheet_strict")
    root = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    forget()
    long = b' ht="' + b"1" * 2000 + b'"'
    assert strict.proved([], [long], root) and not strict._ROW_ATTRS_PROVED  # proved, not remembered
    assert strict.proved([], [b' ht="1"'], root) and list(strict._ROW_ATTRS_PROVED) == [(root, b' ht="1"')]
    assert not strict.proved([], [b' ht="1" ht="2"'], root) and len(strict._ROW_ATTRS_PROVED) == 1
    assert not strict.proved([], [b' q:ht="1"'], root)  # a prefix the root does not declare
    assert strict.proved([], [b' q:ht="1"'], root[:-1] + b' xmlns:q="urn:q">')
    monkeypatch.setattr(strict, "_ROW_ATTRS_COUNT", 3)
    for n in range(10):
        assert strict.proved([], [f' ht="{n}"'.encode()], root)
    assert len(strict._ROW_ATTRS_PROVED) <= 3 and (root, b' ht="9"') in strict._ROW_ATTRS_PROVED
    assert not strict.proved([b"&bogus;"], [], root) and strict.proved([b"&amp;", b"\xe4\xb8\xad", b"1.5"], [], root)


def test_cells_proved_are_the_samples_and_national_returns(national_returns: tuple[list[Path], list[Path]], monkeypatch) -> None:
    """The proof is taken on the samples and on national returns, fresh and LibreOffice-saved (the switch is not idle)."""
    strict = module("xltemplate.readers.sheet_strict")
    proofs: list[bool] = []
    real = strict.proved
    monkeypatch.setattr(strict, "proved", lambda *a: proofs.append(real(*a)) or proofs[-1])
    forget()
    with switched(True):
        for p in national_files(national_returns):
            read_submission(p)
    assert proofs and all(proofs), proofs


def test_remembered_parts_are_used(tmp_path: Path, monkeypatch) -> None:
    """A second return of the template inflates only the parts that differ (the switch is not idle)."""
    sniff = module("xltemplate.readers.sniff")
    a = repacked(tmp_path / "a.xlsx")
    b = repacked(tmp_path / "b.xlsx", {STRINGS: lambda d: d.replace("项目绩效自我评价".encode(), "项目绩效自我评价一".encode(), 1)})
    inflated: list[str] = []
    real = sniff._inflate_checked

    def spy(info, pieces, keep):
        inflated.append(info.filename)
        return real(info, pieces, keep)

    monkeypatch.setattr(sniff, "_inflate_checked", spy)
    forget()
    with switched(True):
        read_submission(a)
        inflated.clear()
        read_submission(b)
    assert inflated == [STRINGS]


# -- sheet tails remembered but for their header and footer -----------------------------------------------------

def footer(text: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        out, n = re.subn(rb"(<oddFooter>)[^<]*(</oddFooter>)", rb"\g<1>" + text + rb"\g<2>", data)
        assert n == 1
        return out
    return change


@pytest.mark.parametrize("text", [b"&amp;R&#x7F16;&#21495;SH999", "&amp;R编号：\r\nSH999".encode()])
def test_a_known_tail_with_another_footer_reads_the_same(tmp_path: Path, text: bytes, monkeypatch) -> None:
    first = repacked(tmp_path / "first.xlsx")
    second = repacked(tmp_path / "second.xlsx", {FORM: footer(text)})
    sheet = module("xltemplate.readers.sheet")
    parsed: list[str] = []
    real = sheet.Sheet._tail

    def spy(self, tail):
        parsed.append(self.part)
        return real(self, tail)

    monkeypatch.setattr(sheet.Sheet, "_tail", spy)
    on, off = read_after(first, second)
    assert on == off and not isinstance(on, tuple)
    forget()
    with switched(True):
        read_submission(first)
        parsed.clear()
        read_submission(second)
    assert FORM not in parsed, "the form sheet's tail was parsed again: the footer should not matter"
    assert not differences(*read_both(second))


@pytest.mark.parametrize("text", [b"&bogus;", b"\x01", b"]]>", b"&#0;", b"\xff\xfe", b"&amp"])
def test_a_known_tail_with_a_footer_that_is_not_character_data_is_refused(tmp_path: Path, text: bytes) -> None:
    """The footer's text is proved by expat even when the rest of the tail is remembered: refused, with
    the same message as when the whole part is parsed."""
    first = repacked(tmp_path / "first.xlsx")
    second = repacked(tmp_path / "second.xlsx", {FORM: footer(text)})
    on, off = read_after(first, second)
    assert on == off
    assert refusal(on) == ("file-corrupt", "part-damaged")


_PROTECTION = re.compile(rb"<sheetProtection[^>]*/>")


def _before_cells(what: bytes) -> Callable[[bytes], bytes]:
    return lambda data: data.replace(b"<sheetData>", what + b"<sheetData>", 1)


def _unprotected(data: bytes) -> bytes:
    return _PROTECTION.sub(b"", data, 1)


def _protected_before_cells(data: bytes) -> bytes:
    """The sheet's protection moved before <sheetData> (where the placement rules allow it): the tail then has none."""
    m = _PROTECTION.search(data)
    assert m is not None
    return _before_cells(m.group(0))(_unprotected(data))


def test_what_the_head_reads_is_not_taken_for_the_tails(tmp_path: Path) -> None:
    """A protection (or merged ranges) before <sheetData> was remembered with the tail after it: the next return of that
    tail, with no protection anywhere, was read as protected (and the other way round, a protection before the cells
    was lost to what a tail without one had left). Each return now reads as it does alone and with the paths off."""
    c = repacked(tmp_path / "c.xlsx", {FORM: _unprotected})
    a = repacked(tmp_path / "a.xlsx", {FORM: _protected_before_cells})
    m = repacked(tmp_path / "m.xlsx", {FORM: lambda d: _before_cells(b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/>'
                                                                 b"</mergeCells>")(_unprotected(d))})
    with switched(False):
        off = {p.name: verdict(p) for p in (a, c, m)}
    assert off["a.xlsx"]["protected"] != off["c.xlsx"]["protected"]  # (the case: one protected, the other not)
    for order in ((a, c, a, c), (c, a, c, a), (m, c, m, c), (c, m, c, m), (a, a, c, c)):
        forget()
        with switched(True):
            got = [verdict(p) for p in order]
        assert got == [off[p.name] for p in order], [p.name for p in order]


#: Parts of a form sheet that keep its head (before <sheetData>) and change what follows, and heads of odd shapes:
#: each read after the return it was made from (whose head is then known) and again, with REMEMBER_HEADS on and off.
_AFTER_HEADS: dict[str, Callable[[bytes], bytes]] = {
    "same": lambda d: d,
    "unclosed-in-tail": lambda d: d.replace(b"</worksheet>", b"<bogus></worksheet>", 1),
    "entity-in-tail": lambda d: d.replace(b"</worksheet>", b'<bogus a="&bogus;"/></worksheet>', 1),
    "second-protection": lambda d: d.replace(b"</worksheet>", b'<sheetProtection sheet="1"/></worksheet>', 1),
    "no-protection": _unprotected,
    "entity-in-a-value": lambda d: d.replace(b"<v>", b"<v>&bogus;", 1),
    "control-in-a-value": lambda d: d.replace(b"<v>", b"<v>\x01", 1),
    # (read by the strict path, which does not prove them: then expat reads the cells after a known head)
    "control-in-a-text": lambda d: d[:d.find(b't="str"')] + d[d.find(b't="str"'):].replace(b"<v>", b"<v>\x01", 1),
    "row-attribute-twice": lambda d: d.replace(b'<row r="1"', b'<row r="1" ht="1" ht="2"', 1),
    "no-cells-end": lambda d: d.replace(b"</sheetData>", b"", 1),
    "protection-before-cells": _protected_before_cells,
    "merges-before-cells": _before_cells(b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells>'),
    "open-attribute-before-cells": _before_cells(b'<bogus a="'),
    "open-element-before-cells": _before_cells(b"<sheetPr>"),
    "prefixed-before-cells": _before_cells(b'<q:x xmlns:q="urn:q"/>'),
    "entity-before-cells": _before_cells(b'<bogus a="&bogus;"/>'),
    "other-default-namespace": lambda d: d.replace(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
                                                   b'<worksheet xmlns="urn:other"', 1),
}


@pytest.mark.parametrize("name", sorted(_AFTER_HEADS))
def test_a_known_head_reads_as_read_anew(tmp_path: Path, name: str) -> None:
    """A head known from an earlier return (not read by the handlers again, and not parsed at all where the cells are
    proved and the tail known) gives every return of it what reading its head anew gives: the same cells and
    protection, or the same refusal and message; so does a head of an odd shape, read twice (then remembered or not)."""
    plain = repacked(tmp_path / "plain.xlsx")
    bare = repacked(tmp_path / "bare.xlsx", {FORM: _unprotected})
    changed = repacked(tmp_path / f"{name}.xlsx", {FORM: _AFTER_HEADS[name]})
    order = (plain, bare, changed, changed, plain, bare, changed)
    got = {}
    for heads in (True, False):
        forget()
        with switched(True):
            module("xltemplate.readers.sheet").REMEMBER_HEADS = heads
            got[heads] = [verdict(p) for p in order]
    with switched(False):
        alone = [verdict(p) for p in order]
    assert got[True] == got[False] == alone


def test_known_heads_are_used(tmp_path: Path, monkeypatch) -> None:
    """A second return of the template reads no sheet's head with the handlers, and the sheets whose cells are proved
    and whose tails are known with no parser at all (the switch is not idle); a head is remembered within bounds."""
    sheet = module("xltemplate.readers.sheet")
    a, b = repacked(tmp_path / "a.xlsx"), repacked(tmp_path / "b.xlsx", {FORM: footer(b"&amp;P \xe9\xa1\xb5")})
    fed: list[bytes] = []
    real = sheet.feed
    monkeypatch.setattr(sheet, "feed", lambda p, data, *args, **kw: fed.append(data) or real(p, data, *args, **kw))
    forget()
    with switched(True):
        read_submission(a)
        first = len(fed)
        fed.clear()
        read_submission(b)
    heads = list(sheet._HEADS)
    assert len(heads) == 3 and all(h.rstrip().endswith(b">") and b"<sheetData>" not in h for h in heads)
    assert not any(data in heads for data in fed) and len(fed) < first // 2, (first, len(fed))
    forget()
    monkeypatch.setattr(sheet, "_HEAD_COUNT", 2)
    monkeypatch.setattr(sheet, "_HEAD_LONGEST", 600)
    for n in range(6):
        sheet._remember_head(b"<x>" + str(n).encode() * 100, b"<x>")
    sheet._remember_head(b"<x>" + b"9" * 1000, b"<x>")  # (over the longest: not kept)
    assert list(sheet._HEADS) == [b"<x>" + b"4" * 100, b"<x>" + b"5" * 100]
    assert sheet._head_bytes[0] == sum(len(h) + len(r) for h, r in sheet._HEADS.items())


def _nth_validation(n: int, change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """The form sheet with its n-th data validation (from its start tag to its end tag) changed."""
    def out(data: bytes) -> bytes:
        at = -1
        for _ in range(n + 1):
            at = data.index(b"<dataValidation ", at + 1)
        end = data.index(b"</dataValidation>", at) + len(b"</dataValidation>")
        return data[:at] + change(data[at:end]) + data[end:]
    return out


def _both(*changes: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def out(data: bytes) -> bytes:
        for change in changes:
            data = change(data)
        return data
    return out


_NESTED = _nth_validation(0, lambda v: v.replace(b">", b"><dataValidation>", 1))  # (an end short: unbalanced alone)
_EXTRA_END = _nth_validation(1, lambda v: v + b"</dataValidation>")  # (an end over)
#: Tails of the form sheet that the plain return's pieces (its data validations, its skeleton) or its merged ranges
#: may be taken for: each read after the plain return, and again, with the pieces and merges remembered and not.
_TAIL_PIECES: dict[str, Callable[[bytes], bytes]] = {
    "plain-other-footer": footer(b"&amp;R\xe7\xbc\x96\xe5\x8f\xb7 X9"),
    "a-validation-unclosed": _nth_validation(2, lambda v: v[:-len(b"</dataValidation>")]),
    "a-validation-nested": _NESTED,
    "an-end-over": _EXTRA_END,
    "two-that-balance": _both(_NESTED, _EXTRA_END),  # (well-formed together: one validation inside another)
    "an-entity": _nth_validation(3, lambda v: v.replace(b'sqref="', b'sqref="&bogus;', 1)),
    "a-control-character": _nth_validation(3, lambda v: v.replace(b'prompt="', b'prompt="\x01', 1)),
    "a-namespace": _nth_validation(3, lambda v: v.replace(b"<dataValidation ", b'<dataValidation xmlns:q="urn:q" q:a="1" ', 1)),
    "an-unbound-prefix": _nth_validation(3, lambda v: v.replace(b"<dataValidation ", b'<dataValidation q:a="1" ', 1)),
    "in-a-comment": _nth_validation(3, lambda v: b"<!-- " + v.replace(b'sqref="', b'sqref="--', 1) + b" -->"),
    "in-an-attribute": _nth_validation(3, lambda v: b'<x a="' + v + b'"/>'),
    "in-cdata": _nth_validation(3, lambda v: b"<![CDATA[" + v + b"]]>"),
    "in-an-instruction": _nth_validation(3, lambda v: b"<?x " + v + b" ?>"),
    "no-list-end": lambda d: d.replace(b"</dataValidations>", b"", 1),
    "the-list-twice-closed": lambda d: d.replace(b"</dataValidations>", b"</dataValidations></dataValidations>", 1),
    "a-validation-moved-out": lambda d: d.replace(b"</dataValidations>", b"</dataValidations><dataValidation sqref=\"A1\"/>", 1),
    "a-merge-out-of-bounds": lambda d: d.replace(b'<mergeCell ref="', b'<mergeCell ref="XFE1:XFE2"/><mergeCell ref="', 1),
    "a-merge-not-a-range": lambda d: d.replace(b'<mergeCell ref="', b'<mergeCell ref="A0"/><mergeCell ref="', 1),
    # what Sheet._tail looks for inside a data validation: the tail is then read whole, not in its skeleton
    "a-protection-in-a-validation": _nth_validation(3, lambda v: v.replace(
        b"</dataValidation>", b'<sheetProtection sheet="1"/></dataValidation>')),
    "merges-in-a-validation": _nth_validation(3, lambda v: v.replace(
        b"</dataValidation>", b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells></dataValidation>')),
    "a-row-in-a-validation": _nth_validation(3, lambda v: v.replace(b"</dataValidation>", b'<row r="99"/></dataValidation>')),
    "a-prefixed-merge-in-a-validation": _nth_validation(3, lambda v: v.replace(
        b"<dataValidation ", b'<dataValidation xmlns:q="urn:q" ', 1).replace(b"</dataValidation>", b'<q:mergeCell ref="Z1:Z2"/></dataValidation>')),
    # validations before the protection and merges: a start tag that _depth does not take (an attribute's name not
    # ASCII) before them, its end tag taken, or a plain validation
    "a-name-not-ascii-before-the-protection": lambda d: d.replace(b"<sheetProtection", (
        b'<dataValidations count="1"><dataValidation sqref="A1"><x \xe4\xb8\xad="1"></x></dataValidation>'
        b'</dataValidations><sheetProtection'), 1),
    # the lists proved apart (PROVE_LISTS_APART): their markup off the fixed one, or a list where no element may be
    "other-breaks": lambda d: d.replace(b'<brk id="28" max="16383" man="1"/>', b'<brk id="30" max="16383" man="1"/>', 1),
    "breaks-as-libreoffice-writes-them": lambda d: d.replace(
        b'<brk id="28" max="16383" man="1"/>', b'<brk id="28" man="true" max="16383" min="0"/>', 1),
    "a-break-with-an-attribute-twice": lambda d: d.replace(b'<brk id="28" ', b'<brk id="28" id="29" ', 1),
    "a-break-with-an-entity": lambda d: d.replace(b'<brk id="28" max="16383"', b'<brk id="28" max="&bogus;"', 1),
    "breaks-unclosed": lambda d: d.replace(b"</rowBreaks>", b"", 1),
    "breaks-twice": lambda d: d.replace(b"</worksheet>", b'<rowBreaks count="1" manualBreakCount="1">'
                                        b'<brk id="3" max="16383" man="1"/></rowBreaks></worksheet>', 1),
    "breaks-in-an-attribute": lambda d: d.replace(b"</worksheet>", b'<x a=\'<rowBreaks count="1" manualBreakCount="1">'
                                                  b"</rowBreaks>'/></worksheet>", 1),
    "breaks-in-the-footer": lambda d: d.replace(b"</oddFooter>", b'<rowBreaks count="1" manualBreakCount="1"></rowBreaks>'
                                                b"</oddFooter>", 1),
    "a-list-count-not-digits": lambda d: d.replace(b'<dataValidations count="', b'<dataValidations count="x', 1),
    "the-list-in-a-prefixed-element": lambda d: d.replace(b"<dataValidations ", b"<q:x><dataValidations ", 1).replace(
        b"</dataValidations>", b"</dataValidations></q:x>", 1),
    "a-validation-before-the-protection": lambda d: d.replace(b"<sheetProtection", (
        b'<dataValidations count="1"><dataValidation sqref="A1"><formula1>1</formula1></dataValidation>'
        b'</dataValidations><sheetProtection'), 1),
    "a-merge-more": lambda d: d.replace(b'<mergeCell ref="', b'<mergeCell ref="Z9:Z10"/><mergeCell ref="', 1),
    "merges-before-the-cells-too": _before_cells(b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells>'),
    "a-footer-not-character-data": footer(b"&amp;R\x01"),
    "a-footer-with-a-bogus-entity": footer(b"&bogus;"),
    # the list's own namespaces: p2 the root's "urn:b", the list's "urn:a" (p1's): a validation's p1:x and p2:x are
    # one attribute twice in the part (refused), two in the root's namespaces alone
    "a-namespace-of-the-list": _both(
        lambda d: d.replace(b"<worksheet ", b'<worksheet xmlns:p1="urn:a" xmlns:p2="urn:b" ', 1),
        lambda d: d.replace(b"<dataValidations ", b'<dataValidations xmlns:p2="urn:a" ', 1),
        _nth_validation(3, lambda v: v.replace(b"<dataValidation ", b'<dataValidation p1:x="1" p2:x="2" ', 1))),
}


@pytest.mark.parametrize("name", sorted(_TAIL_PIECES))
def test_a_tail_proved_by_its_pieces_reads_as_read_anew(tmp_path: Path, name: str) -> None:
    """A form sheet's tail not remembered whole, proved by its pieces (its data validations, each remembered, and
    the rest), and its merged ranges remembered by the bytes of their list: every return reads as with those off and
    with every path off (the same cells, merges and protection, or the same refusal and message), after the plain
    return (whose pieces and merges are then known) and after the first mutant (whose may be)."""
    plain = repacked(tmp_path / "plain.xlsx")
    changed = repacked(tmp_path / f"{name}.xlsx", {FORM: _TAIL_PIECES[name]})
    nested = repacked(tmp_path / "nested.xlsx", {FORM: _NESTED})
    order = (plain, changed, changed, plain, nested, changed)
    got = {}
    for mode in ("on", "lists", "whole", "off"):  # (lists: without PROVE_LISTS_APART; whole: nor TAIL_BY_SKELETON)
        forget()
        with switched(True):
            if mode != "on":
                module("xltemplate.readers.sheet").PROVE_LISTS_APART = False
            if mode not in ("on", "lists"):
                module("xltemplate.readers.sheet").TAIL_BY_SKELETON = False
            if mode == "off":
                module("xltemplate.readers.sheet").REMEMBER_TAIL_PIECES = False
                module("xltemplate.readers.sheet").REMEMBER_MERGES = False
            got[mode] = []
            for p in order:
                module("xltemplate.readers.sheet")._TAILS.clear()  # (a tail not remembered whole: its pieces decide)
                got[mode].append(verdict(p))
    with switched(False):
        alone = [verdict(p) for p in order]
    assert got["on"] == got["lists"] == got["whole"] == got["off"] == alone


def test_a_data_validation_is_inert_only_without_what_the_tail_reader_looks_for() -> None:
    """A data validation lets a proved tail be read in its skeleton only if it holds no protection, merged range, row,
    cell or prefixed element, and leaves _depth where it found it (each taken out: the test fails)."""
    sheet = module("xltemplate.readers.sheet")
    body = b'sqref="A1"><formula1>1</formula1>'
    assert sheet._inert(body + b"</dataValidation>")
    assert sheet._inert(body + b'<x a="1"/><y></y></dataValidation>')
    for inside in (b'<sheetProtection sheet="1"/>', b'<mergeCell ref="A1:B1"/>', b"<mergeCells/>", b'<row r="1"/>',
                   b'<c r="A1"/>', b"<sheetData/>", b'<q:mergeCells xmlns:q="urn:q"/>', b'<q:row xmlns:q="urn:q"/>',
                   b'<x \xe4\xb8\xad="1"></x>', b'<x a="1" \xe4\xb8\xad="1"></x>'):
        assert not sheet._inert(body + inside + b"</dataValidation>"), inside
    assert not sheet._inert(b'\xe4\xb8\xad="1"><formula1>1</formula1></dataValidation>')  # (its own start tag)


def test_lists_proved_apart_are_only_those_of_the_fixed_markup() -> None:
    """A tail's skeleton is proved with a list of data validations (each empty) or row breaks as one empty element only
    where the list is of the fixed markup (digits, no attribute twice, nothing else inside); else as it is."""
    sheet = module("xltemplate.readers.sheet")
    lists = (b'<dataValidations count="3"><dataValidation/><dataValidation/><dataValidation/></dataValidations>',
             b'<rowBreaks count="2" manualBreakCount="2"><brk id="11" max="16383" man="1"/>'
             b'<brk id="28" man="true" max="16383" min="0"/></rowBreaks>')
    assert sheet._proof_of(b"<a/>" + lists[0] + b"<b/>" + lists[1]) == b"<a/><dataValidations/><b/><rowBreaks/>"
    for other in (b'<dataValidations count="x"><dataValidation/></dataValidations>',
                  b'<dataValidations count="1"><dataValidation/><x/></dataValidations>',
                  b'<dataValidations count="1" count="2"></dataValidations>',
                  b'<rowBreaks count="1" manualBreakCount="1"><brk id="1" id="2" max="3" man="1"/></rowBreaks>',
                  b'<rowBreaks count="1" manualBreakCount="1"><brk id="1" max="&bogus;" man="1"/></rowBreaks>',
                  b'<rowBreaks count="1" manualBreakCount="1"><brk id="1" max="3" man="1"/>'):
        assert sheet._proof_of(b"<a/>" + other) == b"<a/>" + other, other


def test_tails_proved_by_their_pieces_are_read_in_their_skeletons(national_returns: tuple[list[Path], list[Path]],
                                                                  monkeypatch) -> None:
    """On national returns, fresh and LibreOffice-saved, a form sheet's tail proved by its pieces is read by
    Sheet._tail in its skeleton, its data validations empty (the switch is not idle), and not with it off. (With
    REMEMBER_TAIL_SKELETONS off: on, it reads the skeleton's proof, once a proof: tests/test_natrows10.py.)"""
    sheet = module("xltemplate.readers.sheet")
    read: list[bytes] = []
    real = sheet.Sheet._tail
    monkeypatch.setattr(sheet.Sheet, "_tail", lambda self, tail: read.append(tail) or real(self, tail))
    for on in (True, False):
        for group in national_returns:
            forget()
            with switched(True):
                sheet.TAIL_BY_SKELETON = on
                sheet.REMEMBER_TAIL_SKELETONS = False
                for path in group:
                    verdict(path)
            skeletons = [t for t in read if b"<dataValidation/>" in t]
            assert (len(skeletons) >= len(group) // 2) if on else not skeletons, (on, len(group), len(skeletons))
            assert all(b"<dataValidation " not in t for t in skeletons)
            read.clear()
            if on:  # (and their skeletons proved with their lists apart: PROVE_LISTS_APART is not idle)
                assert sheet._TAIL_SKELETONS and not any(b"<dataValidation/>" in k for _, k in sheet._TAIL_SKELETONS)


def test_a_tail_is_read_in_its_proof_once_a_proof(national_returns: tuple[list[Path], list[Path]], monkeypatch) -> None:
    """REMEMBER_TAIL_SKELETONS: on national returns, fresh and LibreOffice-saved, a form sheet's tail proved by its
    pieces is read by Sheet._tail in its proof (its list of data validations one empty element), and a second return
    whose tail has that proof is not read by Sheet._tail at all; the same verdicts as with the switch off, where each
    tail is read in its skeleton."""
    sheet = module("xltemplate.readers.sheet")
    read: list[bytes] = []
    real = sheet.Sheet._tail
    monkeypatch.setattr(sheet.Sheet, "_tail", lambda self, tail: read.append(tail) or real(self, tail))
    for group in national_returns:
        got = {}
        for on in (True, False):
            forget()
            read.clear()
            with switched(True):
                sheet.REMEMBER_TAIL_SKELETONS = on
                got[on] = [verdict(path) for path in group + group]
            proofs = [t for t in read if b"<dataValidations/>" in t and b"<dataValidation" not in t.replace(b"<dataValidations/>", b"")]
            skeletons = [t for t in read if b"<dataValidation/>" in t]
            if on:
                assert len(proofs) >= len(group) // 2 and not skeletons, (len(group), len(proofs), len(skeletons))
                assert len(set(proofs)) == len(proofs)  # (a proof read once: the second time it is remembered)
            else:
                assert not proofs and len(skeletons) >= len(group), (len(group), len(skeletons))
        assert got[True] == got[False]


def test_merged_ranges_remembered_are_held_to_the_bound_with_those_before_the_cells(tmp_path: Path, monkeypatch) -> None:
    """Merged ranges remembered by their list's bytes are taken only for a sheet with none before its cells, so that
    the bound on merged ranges counts those too: at the bound with the list alone, one more before the cells is
    file-too-large, as with the paths off."""
    xmltext = module("xltemplate.readers.xmltext")
    plain = repacked(tmp_path / "plain.xlsx")
    more = repacked(tmp_path / "more.xlsx", {FORM: _before_cells(b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells>')})
    from xltemplate.readers import sheet as sheet_module
    seen: list[int] = []
    real_finish = sheet_module.Sheet.finish
    monkeypatch.setattr(sheet_module.Sheet, "finish", lambda self: seen.append(len(self.merges)) or real_finish(self))
    forget()
    with switched(False):
        read_submission(plain)
    monkeypatch.setattr(xmltext, "MAX_MERGES", max(seen))  # (the form sheet's count: at the bound)
    got = {}
    for on in (True, False):
        forget()
        with switched(on):
            got[on] = [verdict(p) for p in (plain, more, more)]
    assert got[True] == got[False] and refusal(got[True][1]) == ("file-too-large", "merges"), got[True][1]
    assert not isinstance(got[True][0], tuple)  # (the list alone: at the bound, read)


def test_tails_proved_by_their_pieces_are_national_returns(national_returns: tuple[list[Path], list[Path]],
                                                          monkeypatch) -> None:
    """On national returns, fresh and LibreOffice-saved, the tail of a form sheet not seen before is proved by its
    pieces and its merged ranges taken as remembered (the switches are not idle); what is remembered is bounded."""
    sheet = module("xltemplate.readers.sheet")
    proofs: list[bool] = []
    real = sheet._tail_proved
    monkeypatch.setattr(sheet, "_tail_proved", lambda *a: proofs.append(real(*a)) or proofs[-1])
    fresh, resaved = national_returns
    for group in (fresh, resaved):
        forget()
        with switched(True):
            for path in group:
                verdict(path)
        assert sum(proofs) >= len(group) // 2, (len(group), proofs)
        assert sheet._MERGES_READ
        proofs.clear()
    assert sheet._pieces_bytes["elements"] == sum(len(r) + len(e) for r, e in sheet._TAIL_ELEMENTS)
    assert sheet._pieces_bytes["skeletons"] == sum(len(r) + len(e) for r, e in sheet._TAIL_SKELETONS)
    forget()
    monkeypatch.setitem(sheet._PIECE_BOUNDS, "elements", (3, 200, 1000))
    root = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    for n in range(8):
        shape = b'</sheetData><dataValidations count="1"><dataValidation sqref="A%d"></dataValidation></dataValidations></worksheet>' % n
        assert sheet._tail_proved(root, shape, [])
    long = b'</sheetData><dataValidations count="1"><dataValidation sqref="%s"></dataValidation></dataValidations></worksheet>' % (b"A" * 200)
    assert sheet._tail_proved(root, long, [])  # (proved, not kept: over the longest)
    assert len(sheet._TAIL_ELEMENTS) == 3 and all(b"A" * 200 not in e for _, e in sheet._TAIL_ELEMENTS)
    monkeypatch.setattr(sheet, "_MERGES_COUNT", 2)
    for n in range(5):
        sheet._remember_merges(b"%d" % n, ((1, 1, n, n),))
    assert list(sheet._MERGES_READ) == [b"3", b"4"] and sheet._merges_bytes[0] == 2 * (1 + 128)


# -- the strict path for cells, and the skeletons it remembers -------------------------------------------------

def value(ref: str, raw: bytes) -> Callable[[bytes], bytes]:
    """Change the text of one cell's <v>, and nothing else: the sheet's skeleton stays the same."""
    def change(data: bytes) -> bytes:
        out, n = re.subn(rb'(<c r="' + ref.encode() + rb'"[^>]*>(?:<f>[^<]*</f>)?<v>)[^<]*(</v>)', rb"\g<1>" + raw + rb"\g<2>", data)
        assert n == 1, ref
        return out
    return change


@pytest.mark.parametrize("ref, raw", [
    ("E22", b"1e999"), ("E22", b"1E+30"), ("E22", b"-0.0"), ("E22", b"07"), ("E22", b"1" + b"0" * 400), ("E22", b""),
    ("E22", b" 9"), ("E22", b"&#57;"), ("B7", b"9999"), ("B7", b"-1"), ("B7", b""), ("B8", b"99999999"), ("B8", b"1.5"),
    ("B8", b""), ("D6", b""), ("D6", b"abc"), ("D8", b"&lt;&amp;&gt;"), ("D8", b""),
])
def test_values_in_a_known_skeleton_read_as_the_split_path_reads_them(tmp_path: Path, ref: str, raw: bytes) -> None:
    """Another value in a cell of a known shape: the same submission or refusal as with every fast path off,
    and where it reads, the reference's (a number the strict path cannot read goes to the split path)."""
    first = repacked(tmp_path / "first.xlsx")
    second = repacked(tmp_path / "second.xlsx", {FORM: value(ref, raw)})
    on, off = read_after(first, second)
    assert on == off, (on, off)
    if not isinstance(on, tuple):
        assert not differences(*read_both(second))


def test_skeletons_are_used(tmp_path: Path, monkeypatch) -> None:
    """Returns that differ in values and row heights share a skeleton: it is worked out once."""
    strict = module("xltemplate.readers.sheet_strict")
    calls: list[int] = []
    real = strict._work_out

    def spy(skeleton, styles):
        calls.append(len(skeleton))
        return real(skeleton, styles)

    monkeypatch.setattr(strict, "_work_out", spy)
    first = repacked(tmp_path / "first.xlsx")
    second = repacked(tmp_path / "second.xlsx", {FORM: lambda d: value("E22", b"8")(re.sub(rb' ht="[0-9.]+"', b' ht="99"', d))})
    forget()
    with switched(True), switched(False, ("USE_ROWS",)):  # (worked out whole: one call a skeleton)
        a, b = read_submission(first), read_submission(second)
    assert a.cells["项目绩效自评"]["E22"].value != b.cells["项目绩效自评"]["E22"].value == 8
    assert len(calls) == 3, calls  # one per sheet of the first file; none for the second


def test_rows_of_a_new_skeleton_are_worked_out_once(tmp_path: Path, monkeypatch) -> None:
    """A skeleton not seen before (another cell's style) is put together from the rows seen before: only the
    row that differs is worked out, and the file reads as with every fast path off."""
    strict = module("xltemplate.readers.sheet_strict")
    rows: list[bytes] = []
    real = strict._one_row
    monkeypatch.setattr(strict, "_one_row", lambda piece, styles: rows.append(piece) or real(piece, styles))
    first = repacked(tmp_path / "first.xlsx")
    second = repacked(tmp_path / "second.xlsx", {FORM: cell("F22", b'<c r="F22" s="7"/>')})
    forget()
    with switched(True):
        read_submission(first)
        seen = len(rows)
        on = verdict(second)
    assert seen > 20 and len(rows) == seen + 1 and rows[-1].startswith(b'r="22"'), rows[seen:]
    with switched(False):
        assert verdict(second) == on


def test_what_rows_and_runs_are_remembered_is_bounded(monkeypatch) -> None:
    """The rows' meanings and the strings of runs remembered stay within their byte bounds (the oldest go first),
    and the count of bytes held is the bytes held."""
    strict, fast = module("xltemplate.readers.sheet_strict"), module("xltemplate.readers.fast")
    from xltemplate.readers.xmltext import Styles

    forget()
    monkeypatch.setattr(strict, "_ROW_BYTES", 2000)
    monkeypatch.setattr(fast, "_RUNS_BYTES", 2000)
    for n in range(1, 200):
        assert strict._by_rows(b'<row r="%d"><c r="A%d"><v></c></row>' % (n, n), Styles()) is not None
        fast._remember_runs(b"<r><t>%d</t></r>" % n, str(n))
    assert 0 < strict._row_bytes[0] == sum(len(k[0]) for k in strict._ROWS) <= 2000
    assert 0 < fast._runs_bytes[0] == sum(len(k) + 4 * len(v) for k, v in fast._RUNS_READ.items()) <= 2000
    assert b'r="199"' in b"".join(k[0] for k in strict._ROWS) and b'r="1">' not in b"".join(k[0] for k in strict._ROWS)
    forget()


def cell(ref: str, xml: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        out, n = re.subn(rb'<c r="' + ref.encode() + rb'"(?=[\s/>])[^>]*?(?:/>|>.*?</c>)', xml, data, count=1, flags=re.S)
        assert n == 1, ref
        return out
    return change


ODD_SHAPES = {
    "attributes-in-another-order": cell("E22", b'<c s="6" r="E22"><v>9</v></c>'),
    "a-space-before-the-slash": cell("F22", b'<c r="F22" s="6" />'),
    "whitespace-inside-a-cell": cell("E22", b'<c r="E22" s="6">\n  <v>9</v>\n</c>'),
    "a-value-with-an-attribute": cell("E22", b'<c r="E22" s="6"><v xml:space="preserve">9</v></c>'),
    "a-boolean": cell("G22", b'<c r="G22" t="b"><v>1</v></c>'),
    "an-inline-string": cell("G22", b'<c r="G22" t="inlineStr"><is><t>x</t></is></c>'),
    "an-error": cell("E22", b'<c r="E22" s="6" t="e"><v>#N/A</v></c>'),
    "a-shared-formula": cell("D25", b'<c r="D25"><f t="shared" ref="D25:D25" si="0">1+1</f><v>2</v></c>'),
    "a-cell-without-r": cell("G22", b'<c s="6"><v>5</v></c>'),
    "a-row-attribute-with-a-gt": lambda d: d.replace(b'<row r="22"', b'<row r="22" foo="a>b/>"', 1),
    "a-row-without-r-first": lambda d: re.sub(rb'<row r="22"([^>]*)>', rb'<row\1 r="22">', d, count=1),
    "a-cell-out-of-order": lambda d: d.replace(b'<c r="F22"', b'<c r="C22"', 1),
    "a-cell-in-the-wrong-row": lambda d: d.replace(b'<c r="F22"', b'<c r="F23"', 1),
    "a-row-out-of-order": lambda d: d.replace(b'<row r="22"', b'<row r="21"', 1),
    "a-style-out-of-range": cell("F22", b'<c r="F22" s="9999"/>'),
    "a-type-unknown": cell("F22", b'<c r="F22" s="6" t="x"/>'),
    "a-column-past-the-bounds": cell("G22", b'<c r="AA22"><v>5</v></c>'),
    "a-v-outside-a-cell": lambda d: d.replace(b'<row r="22"', b'<row r="21a"', 0).replace(b"</row>", b"<v>1</v></row>", 1),
    "cells-after-the-bounds": lambda d: d.replace(b"</sheetData>", b'<row r="2000"><c r="A2000"><v>1</v></c></row></sheetData>', 1),
    "a-comment-among-the-cells": lambda d: d.replace(b"<sheetData>", b"<sheetData><!-- x -->", 1),
    # the skeleton cut before each "<row ": what lies before the first row, between rows, and rows' order
    "a-cell-before-the-first-row": lambda d: d.replace(b"<sheetData>", b'<sheetData><c r="A1"><v>1</v></c>', 1),
    "whitespace-between-rows": lambda d: d.replace(b"</row><row ", b"</row>\n  <row "),
    "whitespace-before-the-first-row": lambda d: d.replace(b"<sheetData><row ", b"<sheetData>\n <row ", 1),
    "a-row-twice": lambda d: re.sub(rb'(<row r="22".*?</row>)', rb"\1\1", d, count=1, flags=re.S),
    "an-empty-row-then-its-cells": lambda d: re.sub(rb'<row r="22"[^>]*>', b'<row r="22"/>', d, count=1),
    "a-row-without-its-end": lambda d: re.sub(rb'(<row r="22".*?)</row>', rb"\1", d, count=1, flags=re.S),
}


@pytest.mark.parametrize("name", sorted(ODD_SHAPES))
def test_shapes_the_strict_path_does_not_read_fall_back(tmp_path: Path, name: str) -> None:
    """Each shape the strict pattern leaves to the split and general paths: read (or refused) as the
    reference reads it, and the same with every fast path forced off, after a regular file and alone."""
    first = repacked(tmp_path / "first.xlsx")
    odd = repacked(tmp_path / f"{name}.xlsx", {FORM: ODD_SHAPES[name]})
    on, off = read_after(first, odd)
    # (two shapes leave the part not well-formed with an element in the wrong place before expat's fault: the split
    # path names expat's, the general path the element; both refuse the part, see fast_paths.differences_on_and_off)
    two_faults = name in ("a-row-without-its-end", "an-empty-row-then-its-cells")
    assert on == off or (two_faults and two_faults_named_otherwise(odd)), (on, off)
    forget()
    with switched(True):
        assert verdict(odd) == on
    assert not differences(*read_both(odd))


def test_an_empty_shared_string_is_no_cell(tmp_path: Path) -> None:
    """A cell pointing at an empty shared string shows nothing: no cell, on every path (the split path
    once kept it as an empty text, which the reference does not)."""
    path = repacked(tmp_path / "empty-string.xlsx", {STRINGS: lambda d: re.sub(rb"(<si><t>)[^<]*(</t></si>)", rb"\1\2", d, count=16)})
    for names in ((), ("USE_STRICT",)):
        with switched(False, names):
            forget()
            fast, ref = read_both(path)
            assert not differences(fast, ref), names
            assert isinstance(fast, dict) and "B7" not in fast["cells"]["项目绩效自评"]


def test_an_empty_shared_string_under_a_merge_is_not_hidden_content(tmp_path: Path) -> None:
    """The report too: a cell under a merged range that shows an empty string hides nothing (the split
    path reported content-hidden there, the reference nothing)."""
    from xltemplate.validate import validate_path

    def strings(d: bytes) -> bytes:
        return d.replace(b"</sst>", b"<si><t></t></si></sst>", 1)

    n = zipfile.ZipFile(SRC).read(STRINGS).count(b"<si>")
    path = repacked(tmp_path / "empty-merged.xlsx", {STRINGS: strings, FORM: cell("C7", b'<c r="C7" s="10" t="s"><v>%d</v></c>' % n)})
    reports = []
    for names in ((), ("USE_STRICT",)):
        with switched(False, names):
            forget()
            reports += [validate_path(path, reader=reader, today=TODAY) for reader in ("fast", "openpyxl")]
    assert {(r.status, tuple(r.flatten())) for r in reports} == {("valid", ())}


# -- shared strings: the strict pattern and its fallback ---------------------------------------------------------

STRING_SHAPES: dict[str, Callable[[bytes], bytes]] = {
    "entities": lambda d: d.replace("项目绩效自我评价".encode(), "项目&amp;绩效&lt;自我&#x8BC4;价".encode(), 1),
    "line-ends": lambda d: d.replace("项目绩效自我评价".encode(), "项目\r\n绩效\r自我评价".encode(), 1),
    "escaped-underscores": lambda d: d.replace("项目绩效自我评价".encode(), "项目_x005F_x000D_绩效".encode(), 1),
    "preserved-space": lambda d: d.replace(b"<si><t>", b'<si><t xml:space="preserve">  ', 1),
    "rich-text": lambda d: d.replace(b"<si><t>", b"<si><r><rPr><b/></rPr><t>A</t></r><r><t>", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-line-ends": lambda d: d.replace(b"<si><t>", b"<si><r><t>A\r</t></r><r><t>\nB&amp;</t></r><r><t>", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-empty": lambda d: d.replace(b"<si><t>", b"<si><r><t></t></r></si><si><t>", 1),
    "rich-text-prefixed-properties": lambda d: d.replace(b"<sst ", b'<sst xmlns:x="urn:x" ', 1).replace(
        b"<si><t>", b"<si><r><rPr><x:t>A</x:t></rPr><t>B</t></r></si><si><t>", 1),
    "rich-text-run-in-properties": lambda d: d.replace(b"<si><t>", b"<si><r><rPr><t>A</t></rPr><t>B</t></r></si><si><t>", 1),
    "an-empty-si": lambda d: d.replace(b"<si><t>", b"<si/><si><t>", 1),
    "an-empty-t": lambda d: d.replace(b"<si><t>", b"<si><t/></si><si><t>", 1),
    "phonetic": lambda d: d.replace(b"</t></si>", b'</t><rPh sb="0" eb="1"><t>x</t></rPh><phoneticPr fontId="1"/></si>', 1),
    "whitespace-between": lambda d: d.replace(b"</si><si>", b"</si>\n  <si>"),
    "an-extension-at-the-end": lambda d: d.replace(b"</sst>", b"<extLst><ext uri=\"x\"/></extLst></sst>", 1),
    "two-texts": lambda d: d.replace(b"</t></si>", b"</t><t>B</t></si>", 1),
    # the runs' pattern takes a <t> with no attribute or xml:space="preserve" and a text; anything else in a
    # run (an empty <t/>, another attribute) is read by the other path's patterns, string by string
    "rich-text-preserved-space": lambda d: d.replace(b"<si><t>", b'<si><r><t xml:space="preserve"> A </t></r><r><t>', 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-an-empty-t": lambda d: d.replace(b"<si><t>", b"<si><r><rPr><b/></rPr><t/></r><r><t>", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-another-attribute": lambda d: d.replace(b"<si><t>", b'<si><r><t xml:space="default">A</t></r><r><t>', 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-escaped-underscores": lambda d: d.replace(b"<si><t>", b"<si><r><t>_x005F_x000D_</t></r><r><t>_x000D_", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "rich-text-nul-like-entity": lambda d: d.replace(b"<si><t>", b"<si><r><t>&#x1;</t></r><r><t>", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    # runs that read, then runs the pattern leaves to the other path, then an element under a prefix: the
    # general parser decides for the whole part
    "rich-text-then-prefixed": lambda d: d.replace(b"<sst ", b'<sst xmlns:x="urn:x" ', 1).replace(
        b"<si><t>", b"<si><r><t>A</t></r></si><si><r><t/></r></si><si><r><rPr><x:b/></rPr><t>B</t></r></si><si><t>", 1),
}


@pytest.mark.parametrize("name", sorted(STRING_SHAPES))
def test_shared_strings_read_the_same_on_every_path(tmp_path: Path, name: str) -> None:
    path = repacked(tmp_path / f"{name}.xlsx", {STRINGS: STRING_SHAPES[name]})
    assert not differences_on_and_off([path])
    assert not differences(*read_both(path))


_RUNS = (b'<si><r><rPr><sz val="11"/><rFont val="A"/></rPr><t xml:space="preserve">\xe9\xa1\xb9</t></r>'
         b'<r><rPr><b/></rPr><t>0</t></r></si>')


def _string_mutants() -> list[tuple[str, Callable[[bytes], bytes]]]:
    """Faults and near-faults where PROVE_STRINGS proves a shared-strings part itself: in a text (plain or in runs),
    in the runs' markup, between strings, in the declaration and root tag, after the root."""
    def first_text(what: bytes, after: bool = True) -> Callable[[bytes], bytes]:
        return lambda d: d.replace(b"<si><t>", b"<si><t>" + what, 1) if after else d.replace(b"</t></si>", what + b"</t></si>", 1)

    def runs(new: bytes) -> Callable[[bytes], bytes]:  # (a string of runs put first, then the plain ones)
        return lambda d: d.replace(b"<si><t>", new + b"<si><t>", 1)
    out: list[tuple[str, Callable[[bytes], bytes]]] = [("runs", runs(_RUNS))]
    for n, what in enumerate(_IN_TEXT):
        out += [(f"text-{n}", first_text(what)), (f"text-end-{n}", first_text(what, after=False)),
                (f"runs-text-{n}", runs(_RUNS.replace(b"<t>0", b"<t>0" + what, 1)))]
    for n, what in enumerate(_BETWEEN):
        out.append((f"between-{n}", lambda d, w=what: d.replace(b"</si><si>", b"</si>" + w + b"<si>", 1)))
    for n, (old, new) in enumerate([
            (b"<b/>", b"<b>"), (b"<b/>", b"</b>"), (b"<b/>", b"<si/>"), (b"<b/>", b"<si>"), (b"<b/>", b"</si ><si>"),
            (b"<b/>", b"<x:b/>"), (b"<b/>", b'<b x:a="1"/>'), (b"<b/>", b'<b a="1" a="2"/>'), (b"<b/>", b'<b a="&bogus;"/>'),
            (b"<b/>", b'<b a="<"/>'), (b"<b/>", b"<b/>\x01"), (b"<b/>", b'<b xml:space="preserve"/>'), (b"<b/>", b"<b\x0b/>"),
            (b'val="A"', b'val="&amp;&#65;"'), (b'val="A"', b'val="\xff"'), (b"</r></si>", b"</r>"),
            (b'<t xml:space="preserve">', b'<t xml:space="preserve"><t>'), (b"<t>0</t>", b"<t>0</t></t>"),
            (b"<t>0</t>", b'<t xml:space="x">0</t>'), (b"<t>0</t>", b"<t>0</t><t>1</t>")]):
        out.append((f"runs-markup-{n}", runs(_RUNS.replace(old, new, 1))))
    for n, (old, new) in enumerate([
            (b"<?xml", b" <?xml"), (b'encoding="UTF-8"', b'encoding="US-ASCII"'), (b'standalone="yes"', b'standalone="maybe"'),
            (b'version="1.0"', b'version="9"'), (b"<sst ", b'<sst count="1" '), (b"<sst ", b"<sst a=1 "), (b"<sst ", b'<sst a="&bogus;" '),
            (b"<sst ", b'<sst a="<" '), (b"<sst ", b'<sst a=">" '), (b"<sst ", b"<sst\x0b"), (b"<sst ", b'<sst a="\xff" '),
            (b"<sst ", b'<sst q:a="1" '), (b"<sst ", b'<sst a="&amp;" '),
            (b"</sst>", b"</sst>x"), (b"</sst>", b"</sst><x/>"), (b"</sst>", b"</sst>\x0b"), (b"</sst>", b"</sst>\n\t "),
            (b"</sst>", b""), (b"</sst>", b"</sst></sst>"), (b"</sst>", b"<extLst><x></extLst></sst>"),
            (b"</sst>", b'<extLst><ext uri="x"/></extLst></sst>'), (b"</sst>", b"</sst>\xc2\xa0"),
            (b"<si><t>", b'<si><t xml:space="preserve">'), (b"<si><t>", b'<si><t xml:space="bogus">'),
            (b"<si><t>", b"<si>\n<t>"), (b"</t></si>", b"</t>\x0c</si>")]):
        out.append((f"part-{n}", lambda d, o=old, w=new: d.replace(o, w, 1)))
    return out


def test_strings_proved_well_formed_read_as_with_expat_over_them(tmp_path: Path, monkeypatch) -> None:
    """PROVE_STRINGS: a shared-strings part proved well-formed here (no expat pass) reads the same, or is refused the
    same (message and all), as with expat over it: every fault and near-fault in a text, in the runs' markup, between
    strings, in the beginning and at the end; read twice (what was proved is remembered), on and off."""
    fast = module("xltemplate.readers.fast")
    proofs: list[bool] = []
    real = fast._proved_texts  # (the last step of a proof, on both paths: _proved, and a part of plain strings alone)
    monkeypatch.setattr(fast, "_proved_texts", lambda *a: proofs.append(real(*a)) or proofs[-1])
    problems, taken, refused = [], 0, 0
    plain_runs = repacked(tmp_path / "runs.xlsx", {STRINGS: lambda d: d.replace(b"<si><t>", _RUNS + b"<si><t>", 1)})
    for name, change in _string_mutants():
        path = repacked(tmp_path / f"{name}.xlsx", {STRINGS: change})
        forget()
        proofs.clear()
        with switched(True):
            verdict(plain_runs)  # (its runs' shape then known)
            on = verdict(path)
            again = verdict(path)
        with switched(False, ("PROVE_STRINGS",)):
            off = verdict(path)
        if not on == again == off:
            problems.append(f"{name}: {str(on)[:160]} | {str(again)[:80]} ≠ {str(off)[:160]}")
        taken += sum(proofs) >= 2
        refused += isinstance(off, tuple)
    assert not problems, "\n".join(problems)
    assert taken >= 40 and refused >= 40, (taken, refused)


def test_strings_of_runs_that_balance_each_other_are_not_taken_alone(tmp_path: Path) -> None:
    """Two strings of runs, the one opening a string it does not close and the other closing one it did not open (the
    part well-formed as a whole), are not remembered as proved: a later part with the first alone is refused, as
    with expat over it."""
    opens = b"<si><r><t>A</t></r><si></si>"  # (a string inside a string: the outer one left open)
    closes = b"<si><r><t>B</t></r></si ></si>"  # (an end over: "</si >", then its own)
    both = repacked(tmp_path / "both.xlsx", {STRINGS: lambda d: d.replace(b"<si><t>", opens + closes + b"<si><t>", 1)})
    alone = repacked(tmp_path / "alone.xlsx", {STRINGS: lambda d: d.replace(b"<si><t>", opens + b"<si><t>", 1)})
    got = {}
    for on in (True, False):
        forget()
        with switched(True) if on else switched(False, ("PROVE_STRINGS",)):
            got[on] = [verdict(both), verdict(alone)]
    assert got[True] == got[False] and refusal(got[True][1])[0] == "file-corrupt", got[True][1]


def test_strings_proved_are_national_returns(national_returns: tuple[list[Path], list[Path]], monkeypatch) -> None:
    """The proof is taken on national returns, fresh and LibreOffice-saved (strings of runs), and on the samples (the
    switch is not idle); what it remembers is bounded."""
    fast = module("xltemplate.readers.fast")
    proofs: list[bool] = []
    real = fast._proved_texts  # (the last step of a proof, on both paths: _proved, and a part of plain strings alone)
    monkeypatch.setattr(fast, "_proved_texts", lambda *a: proofs.append(real(*a)) or proofs[-1])
    fresh, resaved = national_returns
    forget()
    with switched(True):
        for group in (fresh, resaved, [SRC]):
            proofs.clear()
            for path in group:
                verdict(path)
            assert proofs and all(proofs), group[0].name
    assert fast._SST_RUNS and fast._sst_runs_bytes[0] == sum(map(len, fast._SST_RUNS))
    monkeypatch.setattr(fast, "_SST_RUNS_COUNT", 2)
    for n in range(5):
        fast._remember_run_shape(b"<r><t></t></r>%d" % n)
    assert list(fast._SST_RUNS) == [b"<r><t></t></r>3", b"<r><t></t></r>4"]


def test_strings_of_runs_are_remembered_by_their_bytes(tmp_path: Path, monkeypatch) -> None:
    """A string of runs read once is not worked out again in the next file that holds the same bytes; a string of
    runs that differs by one byte is (and each file reads as with the fast paths off)."""
    fast = module("xltemplate.readers.fast")

    def runs(text: bytes) -> Callable[[bytes], bytes]:
        return lambda d: d.replace(b"<si><t>", b"<si><r><rPr><b/></rPr><t>" + text + b"</t></r><r><t>", 1).replace(
            b"</t></si>", b"</t></r></si>", 1)

    first = repacked(tmp_path / "first.xlsx", {STRINGS: runs(b"A&amp;B")})
    same = repacked(tmp_path / "same.xlsx", {STRINGS: runs(b"A&amp;B")})
    other = repacked(tmp_path / "other.xlsx", {STRINGS: runs(b"A&amp;C")})
    worked: list[bytes] = []
    real = fast._runs
    monkeypatch.setattr(fast, "_runs", lambda body: worked.append(body) or real(body))
    forget()
    with switched(True):
        got = [verdict(p) for p in (first, same, other)]
    assert len(worked) == 2 and worked[0] != worked[1], worked  # first's string, then other's (same's was remembered)
    with switched(False):
        assert [verdict(p) for p in (first, same, other)] == got
    assert got[0]["cells"] == got[1]["cells"] != got[2]["cells"]  # type: ignore[index]


def test_a_rare_styles_part_is_not_pushed_out_by_parts_that_differ_in_every_return(tmp_path: Path, monkeypatch) -> None:
    """The parts remembered by their bytes are kept per kind: seventy returns whose document properties are their
    own (as every return's are) do not push out the styles of a return read before them (a LibreOffice-saved one
    among fresh ones, whose styles are read through openpyxl), which is then not read again."""
    import functools

    fast = module("xltemplate.readers.fast")
    calls: list[int] = []
    real = fast._styles
    monkeypatch.setattr(fast, "_styles", functools.wraps(real)(lambda data: calls.append(len(data)) or real(data)))
    rare = repacked(tmp_path / "rare.xlsx", {"xl/styles.xml": lambda d: d.replace(b"</styleSheet>", b"<extLst/></styleSheet>", 1)})
    usual = [repacked(tmp_path / f"u{n}.xlsx", {"docProps/custom.xml": lambda d, n=n: d.replace(b"xltemplate-return/1", b"x" * n, 1),
                                                "docProps/core.xml": lambda d, n=n: d.replace(b"</cp:coreProperties>", b"<!--%d--></cp:coreProperties>" % n, 1)})
             for n in range(70)]
    forget()
    with switched(True):
        for p in [rare, *usual, rare]:
            verdict(p)
    assert len(calls) == 2, calls  # the rare styles once, the usual ones once


# -- defined names: the strict pattern and its fallback -----------------------------------------------------------

WORKBOOK = "xl/workbook.xml"
_FIRST_NAME = b'<definedName name="cat_effect_check">'
NAME_SHAPES: dict[str, Callable[[bytes], bytes]] = {
    "a-sheets-own-name": lambda d: d.replace(_FIRST_NAME, b'<definedName name="cat_effect_check" localSheetId="0">', 1),
    "attributes-as-libreoffice-writes": lambda d: d.replace(
        b"<definedName name=", b'<definedName function="false" hidden="false" name=', 2).replace(
        b'">\'', b'" vbProcedure="false">\'', 1),
    "entities-in-the-text": lambda d: d.replace(_FIRST_NAME + b"'", _FIRST_NAME + b"'&#x9879;", 1),
    "an-entity-in-the-name": lambda d: d.replace(b'name="cat_effect_check"', b'name="cat_effect&#95;check"', 1),
    "a-line-end-in-the-text": lambda d: d.replace(_FIRST_NAME, _FIRST_NAME + b"\r\n", 1),
    "no-name": lambda d: d.replace(_FIRST_NAME, b"<definedName>", 1),
    "an-empty-name": lambda d: d.replace(_FIRST_NAME, b'<definedName name="">', 1),
    "a-name-twice-without-case": lambda d: d.replace(b'name="cat_effect_score"', b'name="CAT_EFFECT_CHECK"', 1),
    "localSheetId-inside-another-value": lambda d: d.replace(_FIRST_NAME, b'<definedName comment="x localSheetId=" name="cat_effect_check">', 1),
    "name-inside-another-value": lambda d: d.replace(_FIRST_NAME, b'<definedName comment="a name=" name="cat_effect_check">', 1),
    "two-lists": lambda d: d.replace(b"</definedNames>", b'</definedNames><definedNames><definedName name="x">A!$A$1</definedName></definedNames>', 1),
    "a-list-before": lambda d: d.replace(b"<sheets>", b'<definedNames count="1"><definedName name="x">A!$A$1</definedName></definedNames><sheets>', 1),
    "a-comment-before": lambda d: d.replace(b"<sheets>", b"<!-- <definedNames> --><sheets>", 1),
    "a-comment-among-the-names": lambda d: d.replace(_FIRST_NAME, b"<!-- x -->" + _FIRST_NAME, 1),
    "another-default-namespace": lambda d: d.replace(b'<workbook xmlns="', b'<x:workbook xmlns:x="', 1).replace(
        b"</workbook>", b"</x:workbook>").replace(b"<definedNames>", b'<definedNames xmlns="urn:other">', 1),
    "a-prefixed-list": lambda d: d.replace(b"<definedNames>", b'<x:definedNames xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">', 1).replace(
        b"</definedNames>", b"</x:definedNames>", 1),
    "the-list-out-of-place": lambda d: d.replace(b"<definedNames>", b"<bookViews><definedNames>", 1).replace(
        b"</definedNames>", b"</definedNames></bookViews>", 1),
    "a-name-with-an-element": lambda d: d.replace(_FIRST_NAME + b"'", _FIRST_NAME + b"<b/>'", 1),
    "a-single-quoted-name": lambda d: d.replace(_FIRST_NAME, b"<definedName name='a\"b'>", 1),
    "an-undefined-entity": lambda d: d.replace(_FIRST_NAME + b"'", _FIRST_NAME + b"&bogus;'", 1),
    "not-utf8": lambda d: d.replace(_FIRST_NAME + b"'", _FIRST_NAME + b"\xff'", 1),
}


@pytest.mark.parametrize("name", sorted(NAME_SHAPES))
def test_defined_names_read_the_same_on_every_path(tmp_path: Path, name: str) -> None:
    path = repacked(tmp_path / f"{name}.xlsx", {WORKBOOK: NAME_SHAPES[name]})
    assert zipfile.ZipFile(path).read(WORKBOOK) != zipfile.ZipFile(SRC).read(WORKBOOK), "the shape was not made"
    assert not differences_on_and_off([path])
    if not isinstance(verdict(path), tuple):
        assert not differences(*read_both(path))


#: Workbook parts that programs read differently, refused by both readers: the text around an element in a
#: <definedName> (LibreOffice reads it, openpyxl only what comes before the element), the lists in no namespace
#: (LibreOffice and the fast reader: no sheet, openpyxl: the sheets), a <definedName> without a name (LibreOffice
#: drops it, openpyxl refused the file), a second <sheets> in another namespace, no sheet at all.
REFUSED_NAME_SHAPES: dict[str, Callable[[bytes], bytes]] = {
    "a-name-with-an-element": NAME_SHAPES["a-name-with-an-element"],
    "a-sheet-local-name-with-an-element": lambda d: d.replace(
        _FIRST_NAME + b"'", b'<definedName name="cat_effect_check" localSheetId="0"><b/>\'', 1),
    "another-default-namespace": NAME_SHAPES["another-default-namespace"],
    "no-name": NAME_SHAPES["no-name"],
    "sheets-in-another-namespace-too": lambda d: d.replace(
        b"<definedNames>", b'<sheets xmlns="urn:other"><sheet name="x" sheetId="9" r:id="rId1"/></sheets><definedNames>', 1),
    "no-sheet": lambda d: re.sub(rb"<sheets>.*?</sheets>", b"<sheets/>", d, count=1, flags=re.S),
}


@pytest.mark.parametrize("name", sorted(REFUSED_NAME_SHAPES))
def test_workbook_parts_read_otherwise_by_other_programs_are_refused_by_both_readers(tmp_path: Path, name: str) -> None:
    path = repacked(tmp_path / f"{name}.xlsx", {WORKBOOK: REFUSED_NAME_SHAPES[name]})
    assert zipfile.ZipFile(path).read(WORKBOOK) != zipfile.ZipFile(SRC).read(WORKBOOK), "the shape was not made"
    assert read_both(path) == (("unreadable", "file-corrupt"), ("unreadable", "file-corrupt"))
    with pytest.raises(Unreadable) as exc:
        read_submission(path)
    assert "xl/workbook.xml" in str(exc.value) and "表格软件" in str(exc.value) or "没有名称" in str(exc.value), str(exc.value)
    assert not differences_on_and_off([path])


def test_extensions_of_the_workbook_in_their_own_namespace_are_read(tmp_path: Path) -> None:
    """Excel's own extensions (a workbookPr of its 2010 namespace, inside extLst) are not the lists refused above."""
    ext = (b'<extLst><ext uri="{140A7094-0E35-4892-8432-C4D2E57EDEB5}" xmlns:x15="http://schemas.microsoft.com/'
           b'office/spreadsheetml/2010/11/main"><x15:workbookPr chartTrackingRefBase="1"/></ext></extLst></workbook>')
    path = repacked(tmp_path / "ext.xlsx", {WORKBOOK: lambda d: d.replace(b"</workbook>", ext, 1)})
    assert ext in zipfile.ZipFile(path).read(WORKBOOK)
    fast, ref = read_both(path)
    assert not isinstance(fast, tuple) and not differences(fast, ref)
    assert not differences_on_and_off([path])


def test_defined_names_take_the_strict_path_where_they_are_plain(monkeypatch) -> None:
    """The strict pattern reads the samples' names (the generator's, Excel's, LibreOffice's) and gives what the
    handlers give; the shapes it must not read it leaves to them."""
    fast = module("xltemplate.readers.fast")
    data = zipfile.ZipFile(SRC).read(WORKBOOK)
    assert fast._workbook_split(data) is not None
    monkeypatch.setattr(fast, "USE_STRICT_NAMES", False)
    off = fast._workbook(data)
    monkeypatch.setattr(fast, "USE_STRICT_NAMES", True)
    assert fast._workbook(data) == off and off[1]
    for name in ("a-comment-before", "another-default-namespace", "a-prefixed-list", "a-name-with-an-element", "not-utf8",
                 "an-entity-in-the-name"):
        assert fast._workbook_split(NAME_SHAPES[name](data)) is None, name


def test_the_strict_paths_are_taken_on_the_samples(monkeypatch) -> None:
    """Nearly every sample (written by the generator, Excel, LibreOffice) has its form sheet read by the
    strict path and its strings by the strict pattern: the fast paths are the ones the tests exercise."""
    strict = module("xltemplate.readers.sheet_strict")
    fast = module("xltemplate.readers.fast")
    results: list[bool] = []
    strings: list[bool] = []
    real_cells, real_strings = strict.cells, fast._plain_strings
    monkeypatch.setattr(strict, "cells", lambda *a: results.append(real_cells(*a) is not None) or real_cells(*a))
    monkeypatch.setattr(fast, "_plain_strings", lambda *a: strings.append(real_strings(*a) is not None) or real_strings(*a))
    files = sorted(p for p in (SAMPLES / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
    forget()
    with switched(True):
        for p in files:
            try:
                read_submission(p)
            except Unreadable:
                pass
    assert results and strings, "the fast reader's strict paths were never asked"
    assert sum(results) >= 0.8 * len(results) and sum(strings) >= 0.8 * len(strings), (results, strings)


# -- the national form (the second family): the same fast paths, the same verdicts -------------------------------

NATIONAL = SAMPLES / "national"
NATIONAL_STAMP = dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def national_returns(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    """(fresh, re-saved by LibreOffice) national returns: a few projects of the samples' targets table (3 to 30
    indicators), filled around their targets, one with figures typed as text, and the blank form; the same
    files re-saved by LibreOffice when it is installed (the shapes LibreOffice writes: runs, other styles)."""
    from tools.soffice import convert, soffice_path
    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored.layout import Layout
    from xltemplate.form.generate import generate_workbook
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    root = tmp_path_factory.mktemp("national-fast")
    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    fresh = []
    for i, key in enumerate(sorted(table.by_key)[:5]):
        targets = table.by_key[key]
        values: dict[str, object] = {"fld_manager": "张明", "fld_phone": "010-12345678", "fund_total_budget": 100,
                                     "fund_total_executed": 90 if i != 2 else "90.5 万元", "fund_current_budget": 100,
                                     "fund_current_executed": 90}
        for r in Layout(spec, tuple(targets)).rows:  # type: ignore[arg-type]
            t = r.target
            if t.kind == "定性":
                values[r.actual.name], values[r.given.name] = spec.rules.choices[0], float(t.points)  # type: ignore[attr-defined]
            else:
                values[r.actual.name] = float(t.target) * (1.1 if i % 2 else 0.9) if i != 3 else f"{t.target}{t.unit}"
                values[r.reason.name] = "部分指标未完成，下年改进。\n第二行"
        prefill = {"project_name": f"项目{key}", "department": "市财政局", "implementer": "测试中心"}
        fresh.append(generate_workbook(spec, root / f"{key}.xlsx", values=values, targets=targets, prefill=prefill,
                                       roster_key=key, generated_at=NATIONAL_STAMP).path)
    fresh.append(generate_workbook(spec, root / "blank.xlsx", generated_at=NATIONAL_STAMP).path)
    resaved: list[Path] = []
    if soffice_path() is not None:
        (root / "lo").mkdir()
        resaved = [Path(p) for p in convert(fresh, root / "lo")]
    return fresh, resaved


def national_files(national_returns: tuple[list[Path], list[Path]]) -> list[Path]:
    fresh, resaved = national_returns
    samples = sorted(p for p in (NATIONAL / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
    return samples + fresh + resaved


def test_national_returns_are_made_and_resaved(national_returns: tuple[list[Path], list[Path]], soffice: str) -> None:
    """The national corpus below holds LibreOffice-saved returns (the fixture makes them when soffice is there)."""
    fresh, resaved = national_returns
    assert len(resaved) == len(fresh) == 6
    assert all((read_submission(p).application or "").startswith("LibreOffice") for p in resaved)


@pytest.mark.parametrize("switch", [s for _, s in SWITCHES] + ["all"])
def test_national_returns_read_the_same_with_each_fast_path_off(national_returns: tuple[list[Path], list[Path]], switch: str) -> None:
    problems = differences_on_and_off(national_files(national_returns), None if switch == "all" else (switch,))
    assert not problems, "\n".join(problems[:20])


def test_national_returns_read_and_validate_the_same_as_the_reference(national_returns: tuple[list[Path], list[Path]]) -> None:
    """Fast reader (fast paths on, then off) and the openpyxl reference: one submission, one report each."""
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    files = national_files(national_returns)
    run = RunContext.builtin(today=TODAY)
    problems = []
    forget()
    for path in files:
        problems += [f"{path.name}: {d}" for d in differences(*read_both(path))]
        with switched(True):
            on = [validate_path(path, run) for _ in range(2)]  # from nothing, then with what was remembered
        with switched(False):
            off = validate_path(path, run)
        ref = validate_path(path, run, reader="openpyxl")
        for r in on + [off]:
            if (r.status, r.flatten(), r.results) != (ref.status, ref.flatten(), ref.results):
                problems.append(f"{path.name}: {r.status} {r.flatten()[:5]} ≠ {ref.status} {ref.flatten()[:5]}")
    assert not problems, "\n".join(problems[:20])
    assert sum(1 for p in files if validate_path(p, run).results is not None) >= len(files) // 2  # most were scored


def test_the_strict_paths_are_taken_on_national_returns(national_returns: tuple[list[Path], list[Path]], monkeypatch) -> None:
    """The national form's sheets and strings (fresh and LibreOffice-saved) take the strict paths too."""
    strict = module("xltemplate.readers.sheet_strict")
    fast = module("xltemplate.readers.fast")
    results: list[bool] = []
    strings: list[bool] = []
    names: list[bool] = []
    real_cells, real_strings, real_names = strict.cells, fast._plain_strings, fast._workbook_split
    monkeypatch.setattr(strict, "cells", lambda *a: results.append(real_cells(*a) is not None) or real_cells(*a))
    monkeypatch.setattr(fast, "_plain_strings", lambda *a: strings.append(real_strings(*a) is not None) or real_strings(*a))
    monkeypatch.setattr(fast, "_workbook_split", lambda *a: names.append(real_names(*a) is not None) or real_names(*a))
    forget()
    with switched(True):
        for p in national_files(national_returns):
            read_submission(p)
    assert results and strings and names, "the fast reader's strict paths were never asked"
    assert sum(results) >= 0.8 * len(results) and sum(strings) >= 0.8 * len(strings), (results, strings)
    assert all(names), names  # (fresh and LibreOffice-saved)


# -- validation's shortcuts: formulas remembered by the rows' shape, the twins evaluated once ------------------

VALIDATION_SWITCHES = (("xltemplate.families.rule_scored.formulas", "REMEMBER_SHAPES"), ("xltemplate.normalise", "SHARE_EVALUATION"),
                       ("xltemplate.normalise", "SHARE_SHAPES"),
                       ("xltemplate.families.rule_scored", "REMEMBER_ROW_INPUTS"),
                       ("xltemplate.families.rule_scored.checks", "REUSE_SCORES"),
                       ("xltemplate.families.rule_scored.layout", "SHAPED_LAYOUTS"), ("xltemplate.meta", "SHARE_TARGETS_TEXT"),
                       ("xltemplate.families.rule_scored.formulas", "FUSED_ROWS"),
                       ("xltemplate.families.rule_scored.rules", "FIXED_CONTEXT"),
                       ("xltemplate.checks", "EXACT_FIRST"), ("xltemplate.families.rule_scored.checks", "EXACT_FIRST"),
                       ("xltemplate.normalise", "REPR_FIRST"), ("xltemplate.normalise", "HELD_FROM_INPUTS"),
                       ("xltemplate.values", "NUMBERS_FIRST"), ("xltemplate.normalise", "PLAIN_FIRST"),
                       ("xltemplate.normalise", "SHARE_FIELD_INPUTS"), ("xltemplate.families.rule_scored.layout", "SHARE_BODY_FIELDS"),
                       ("xltemplate.normalise", "HELD_WHEN_READ"),
                       ("xltemplate.families.rule_scored.layout", "SHARE_ROW_NAMES"),
                       ("xltemplate.families.rule_scored", "SHARE_BODY_INPUTS"),
                       ("xltemplate.families.rule_scored.checks", "KEPT_BY_ROW"), ("xltemplate.checks", "NAMES_AT_ONCE"),
                       ("xltemplate.normalise", "NUMBER_IN_LINE"),
                       ("xltemplate.families.rule_scored.layout", "SHARE_LOOKUPS"),
                       ("xltemplate.families.rule_scored.checks", "REUSE_FUNDING_SUMS"),
                       ("xltemplate.checks", "PREFILL_FIRST"), ("xltemplate.families.rule_scored.rules", "BLANK_BY_TYPE"),
                       ("xltemplate.families.rule_scored", "ITEMS_IN_LINE"),
                       ("xltemplate.families.rule_scored", "SLOTS_BY_PLACE"), ("xltemplate.normalise", "READS_BY_TEXT"),
                       ("xltemplate.families.rule_scored.formulas", "ROW_FORMULAS"),
                       ("xltemplate.families.rule_scored.spec", "RECORD_IN_LINE"), ("xltemplate.normalise", "LOCKED_BY_TEXT"),
                       ("xltemplate.normalise", "CELLS_BY_SHAPE"), ("xltemplate.families.rule_scored.formulas", "NON_ROW_BY_CELLS"),
                       ("xltemplate.normalise", "READS_BY_PLACES"), ("xltemplate.identify", "TARGETS_BY_PATTERN"),
                       ("xltemplate.normalise", "SLOT_STEPS"), ("xltemplate.normalise", "REFERENCED_BY_COPY"),
                       ("xltemplate.families.rule_scored.formulas", "SHAPES_ON_LAYOUT"),
                       ("xltemplate.families.self_scored.formulas", "ROWS_IN_LINE"))


def _reports(paths: list[Path], on: bool) -> list[object]:
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    saved = [(module(m), s, getattr(module(m), s)) for m, s in VALIDATION_SWITCHES]
    for m, s, _ in saved:
        setattr(m, s, on)
    module("xltemplate.families.rule_scored.formulas")._BY_SHAPE.clear()
    module("xltemplate.normalise")._PLANS.clear()
    module("xltemplate.normalise")._SHAPES.clear()
    module("xltemplate.normalise")._CELLS.clear()
    module("xltemplate.families.rule_scored.formulas")._NON_ROW.clear()
    module("xltemplate.families.rule_scored")._ROW_INPUTS.clear()
    module("xltemplate.families.rule_scored.layout")._SHAPED.clear()
    try:
        run = RunContext.builtin(today=TODAY)
        return [(p.name, r.status, r.flatten(), r.results) for p in paths for r in [validate_path(p, run)]]
    finally:
        for m, s, value in saved:
            setattr(m, s, value)


def test_validation_shortcuts_change_no_report(national_returns: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    """Both families (samples, fresh and LibreOffice-saved national returns, fuzz mutants of both): the same
    report with the formulas remembered by shape and the twins evaluated once, and with both forced off."""
    from tests import fuzz

    first = sorted(p for p in (SAMPLES / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
    mutants = fuzz.make_mutants(fuzz.default_seeds(tmp_path / "seeds"), tmp_path / "mutants", 150, fuzz.DEFAULT_SEED)
    paths = national_files(national_returns) + first + mutants
    on, off = _reports(paths, True), _reports(paths, False)
    problems = [f"{a[0]}: {a[1:3]} ≠ {b[1:3]}" for a, b in zip(on, off) if a != b]
    assert not problems, "\n".join(problems[:20])


def test_the_targets_text_identify_hashed_is_the_plans_key(national_returns: tuple[list[Path], list[Path]]) -> None:
    """SHARE_TARGETS_TEXT: the canonical JSON of a return's targets, made once where identify reads them, is the text
    made anew from them (every national return, fresh and LibreOffice-saved), and is canonical whatever the file
    recorded: targets written in another order, with spaces, under their own hash, are target-changed as before
    (the text they are held to is made from what was read, never the file's own)."""
    from xltemplate import meta
    from xltemplate.identify import RunContext, identify

    run = RunContext.builtin(today=TODAY)
    taken = 0
    for path in national_files(national_returns):
        ident, _ = identify(read_submission(path), run)
        if ident.targets is None:
            continue
        taken += type(ident.targets) is meta.RecordedTargets
        made = meta.targets_json(ident.targets)
        meta.SHARE_TARGETS_TEXT = False
        try:
            assert made == meta.targets_json(ident.targets) == meta.targets_json([dict(t) for t in ident.targets])
        finally:
            meta.SHARE_TARGETS_TEXT = True
    assert taken >= 3
    targets = [{"name": "甲", "points": 10, "level": "产出指标"}, {"points": 1.0, "name": "乙"}]
    loose = json.dumps(targets, ensure_ascii=False, indent=1)  # (not canonical: order of keys, spaces)
    for text, code in ((loose, "target-changed"), (meta.targets_json(targets), None)):
        values = {meta.TARGETS_KEY: text, meta.TARGETS_HASH_KEY: meta.text_hash(text)}
        got, problem = identify_targets(values)
        assert (problem.code if problem else None) == code
        if got is not None:
            assert meta.targets_json(got) == text and list(got) == targets


def identify_targets(values: dict[str, str]) -> tuple[Any, Any]:
    from xltemplate.identify import _targets

    return _targets(values)


def test_the_twins_are_evaluated_once_when_the_file_holds_the_values_read(national_returns: tuple[list[Path], list[Path]],
                                                                          monkeypatch) -> None:
    """The shortcut is taken on most returns, and not on a return whose figures were typed as text (their values
    as read differ from the cells' values: the twins are evaluated again on what was read)."""
    from xltemplate import normalise
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    taken: dict[str, bool] = {}
    real = normalise.Context._as_held
    monkeypatch.setattr(normalise.Context, "_as_held",
                        lambda self, inputs, *known: taken.setdefault(self.sub.path, real(self, inputs, *known)))
    run = RunContext.builtin(today=TODAY)
    fresh, _ = national_returns
    for p in national_files(national_returns):
        validate_path(p, run)
    assert sum(taken.values()) >= len(taken) // 2, taken
    typed_as_text = str(fresh[2])  # 执行数 typed as "90.5 万元"
    assert taken[typed_as_text] is False


def test_formulas_remembered_by_shape_are_the_layouts_own() -> None:
    """Targets of one shape (each row's 二级 and rule) but other names, units, values and points: the formulas
    remembered are those made from the layout; another rule in one row gives other formulas."""
    import dataclasses

    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored import formulas as F
    from xltemplate.families.rule_scored.layout import Layout
    from xltemplate.families.rule_scored.spec import Target
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    records = max(table.by_key.values(), key=len)
    rows = [Target.from_record(spec, r) for r in records]  # type: ignore[arg-type]
    other = [dataclasses.replace(t, name=t.name + "乙", unit="" if t.kind == "定性" else "个",
                                 target=t.target if t.kind == "定性" else t.target * 3, points=t.points)
             for t in rows]
    F._BY_SHAPE.clear()
    a = F.formulas(Layout(spec, tuple(records)), 2)  # type: ignore[arg-type]
    lay_b = Layout(spec, tuple(t.record() for t in other))  # type: ignore[arg-type]
    assert F.shape(lay_b, 2) == F.shape(Layout(spec, tuple(records)), 2)  # type: ignore[arg-type]
    assert F.formulas(lay_b, 2) == F.make_formulas(lay_b, 2) == a
    assert len(F._BY_SHAPE) == 1  # remembered once, used for both
    q = next(i for i, t in enumerate(rows) if t.kind != "定性")
    flipped = [dataclasses.replace(t, kind="≤" if t.kind != "≤" else "≥") if i == q else t for i, t in enumerate(rows)]
    lay_c = Layout(spec, tuple(t.record() for t in flipped))  # type: ignore[arg-type]
    assert F.formulas(lay_c, 2) == F.make_formulas(lay_c, 2) != a


def test_plans_of_one_shape_share_their_cells_and_formulas_and_keep_their_own_targets() -> None:
    """Two projects' targets of one shape: one set of cells, fixed texts and formulas, each its own layout,
    inputs (labels, units) and fixed values; the same plan as made without sharing."""
    import dataclasses

    from xltemplate import normalise
    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored.spec import Target
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    records = max(table.by_key.values(), key=len)
    other = tuple(dataclasses.replace(Target.from_record(spec, r), name=f"另一指标{i}").record()  # type: ignore[arg-type]
                  for i, r in enumerate(records))
    normalise._PLANS.clear()
    normalise._SHAPES.clear()
    a, b = normalise.plan(spec, records), normalise.plan(spec, other)  # type: ignore[arg-type]
    assert a.formulas is b.formulas and a.places is b.places and len(normalise._SHAPES) == 1
    assert a.layout is not b.layout and a.spec_values != b.spec_values
    # (the labels a message gives: a target row's name is taken from its plan's fixed values, rule_scored.SLOTS_BY_PLACE)
    assert [s.label_in(a.spec_values) for s in a.inputs] != [s.label_in(b.spec_values) for s in b.inputs]
    normalise.SHARE_SHAPES = False
    try:
        normalise._PLANS.clear()
        alone = normalise.plan(spec, other)  # type: ignore[arg-type]
    finally:
        normalise.SHARE_SHAPES = True
    assert alone.formulas is not b.formulas
    for f in dataclasses.fields(normalise.Plan):
        if f.name not in ("layout", "inputs"):
            assert getattr(alone, f.name) == getattr(b, f.name), f.name
    assert [(s.cell, s.kind, s.label_in(alone.spec_values), s.id) for s in alone.inputs] == \
        [(s.cell, s.kind, s.label_in(b.spec_values), s.id) for s in b.inputs]


def test_targets_read_together_are_those_read_one_by_one() -> None:
    """targets_of reads a return's plain records together (RECORD_IN_LINE: the spec's 二级 look-up once): the same
    targets as each record read by Target.from_record, and with RECORD_IN_LINE off; a list with one record that is
    not plain (another type, a damaged text) is read one by one, with the same targets or the same error."""
    from collections import OrderedDict

    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored import spec as S
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    records = [dict(r) for r in max(table.by_key.values(), key=len)]

    def both(recs: list[Any]) -> list[object]:
        out: list[object] = []
        for on in (True, False):
            S.RECORD_IN_LINE = on
            try:
                got = S.targets_of(spec, recs)
                assert got is not None
                out.append([(t, list(t.__dict__.items()), type(t.target)) for t in got])
            except ValueError as exc:
                out.append(str(exc))
            finally:
                S.RECORD_IN_LINE = True
        assert out[0] == out[1], (recs, out)
        return out

    whole = both(records)
    assert whole[0] == [(t, list(t.__dict__.items()), type(t.target)) for t in (S.Target.from_record(spec, r) for r in records)]
    assert len(records) > 3
    for bad in (OrderedDict(records[1]), dict(records[1], points="x"), dict(records[1], sublevel="无此二级"),
                dict(records[1], points=3), dict(records[1], kind="≈"), dict(records[1], target="NaN")):
        both(records[:1] + [bad] + records[2:])


def test_target_rows_input_slots_remembered_are_those_made_anew() -> None:
    """Every national layout of the sample targets gives the same input slots (cells, kinds, labels, ids, choices,
    codes, and what their readers make of a few values) with the rows' slots remembered and made anew; a target a
    byte apart in its name or unit gets slots of its own."""
    from xltemplate.catalog import resolve_template
    from xltemplate.families import rule_scored as R
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    seen = ("12.5", "12.5 万元", "12.5 个", "达成", "", None)

    def plain(slots: object) -> list[object]:
        return [(s.cell, s.kind, s.label, s.id, s.choices, s.invalid_code,
                 None if s.reader is None else [s.reader(v, lambda c: None) for v in seen]) for s in slots]  # type: ignore[attr-defined]

    R.SLOTS_BY_PLACE = False  # (this memo is asked only without that one: tests/test_natmemo9.py tests both)
    try:
        _row_inputs_remembered(spec, table, plain)
    finally:
        R.SLOTS_BY_PLACE = True


def _row_inputs_remembered(spec, table, plain) -> None:  # type: ignore[no-untyped-def]
    from xltemplate.families import rule_scored as R
    from xltemplate.families.rule_scored.layout import Layout

    R._ROW_INPUTS.clear()
    layouts = [Layout(spec, tuple(records)) for records in table.by_key.values()]  # type: ignore[arg-type]
    on = [plain(R.FAMILY.inputs(lay)) for lay in layouts]
    again = [plain(R.FAMILY.inputs(lay)) for lay in layouts]
    assert R._ROW_INPUTS, "the rows' slots were never remembered"
    R.REMEMBER_ROW_INPUTS = False
    try:
        off = [plain(R.FAMILY.inputs(lay)) for lay in layouts]
    finally:
        R.REMEMBER_ROW_INPUTS = True
    assert on == again == off
    records = max(table.by_key.values(), key=len)
    q = next(i for i, r in enumerate(records) if r["kind"] != "定性")
    base = plain(R.FAMILY.inputs(Layout(spec, records)))  # type: ignore[arg-type]  (remembered now)
    for change in ({"name": records[q]["name"] + "甲"}, {"unit": records[q]["unit"] + "次"}):
        other = tuple(dict(r, **change) if i == q else r for i, r in enumerate(records))
        a = plain(R.FAMILY.inputs(Layout(spec, other)))  # type: ignore[arg-type]
        R.REMEMBER_ROW_INPUTS = False
        try:
            b = plain(R.FAMILY.inputs(Layout(spec, other)))  # type: ignore[arg-type]
        finally:
            R.REMEMBER_ROW_INPUTS = True
        assert a == b != base, change


def test_the_rows_check_takes_the_twins_score(national_returns: tuple[list[Path], list[Path]], monkeypatch) -> None:
    """On every national return with targets, fresh and LibreOffice-saved, the rows' check takes the score the twins
    computed for each target row it scores (the same score :func:`rules.score` gives on the values read)."""
    from xltemplate.families.rule_scored import checks as C
    from xltemplate.families.rule_scored import rules as R
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    taken: list[bool] = []
    real = C._twins_score

    def spy(ctx, *names):  # type: ignore[no-untyped-def]  (the row's 年度指标值, 实际完成值, 分值, 自评分 and 得分)
        got = real(ctx, *names)
        r = next(r for r in ctx.layout.rows if r.score.name == names[-1])
        assert names[:-1] == (r.target_cell.name, r.actual.name, r.points.name, r.given.name)
        v = ctx.values.get
        a, b, p, g = v(r.target_cell.name), v(r.actual.name), v(r.points.name), v(r.given.name)
        assert got == R.score(r.target.kind, a, b, p, ctx.spec.rules, choice=b, given=g), (ctx.sub.path, r.id)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(C, "_twins_score", spy)
    run = RunContext.builtin(today=TODAY)
    for p in national_files(national_returns):
        validate_path(p, run)
    assert taken and all(taken), (len(taken), taken.count(False))


def _laid_out(layout: object) -> object:
    """Everything a national layout says, as plain data: its attributes (rows, targets, cells) and what it gives."""
    from dataclasses import asdict

    lay: Any = layout
    return (sorted((k, repr(v)) for k, v in vars(lay).items() if not k.startswith("_")),
            [asdict(r) for r in lay.rows], [asdict(lv) for lv in lay.levels], lay.targets, lay.target_rows,
            lay.describe(), lay.locked_texts(), lay.named_cells(), lay.input_cells(), lay.computed_cells(),
            lay.target_values(), lay.body_fields(), lay.score_ranges(), list(lay.score_cells()),
            lay.body_print_blocks(), [lv.sublevel_spans() for lv in lay.levels])


def test_a_layout_of_a_known_shape_is_the_layout_laid_out_anew() -> None:
    """Every layout of the sample targets, and of targets of one shape given other texts, other rules and another
    order, is the same laid out from its shape as laid out anew: attributes, rows, cells, texts, describe(); each
    keeps its own spec and targets. Targets a 二级 count apart get a shape of their own; a refused record is refused
    the same way. The memo stays within its bound."""
    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored import layout as L
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    sets: list[tuple[dict[str, str], ...]] = [tuple(dict(r) for r in records) for records in table.by_key.values()]
    big = max(sets, key=len)
    q = next(i for i, r in enumerate(big) if r["kind"] != "定性")
    level = next(lv for lv in spec.levels if lv.id == big[q]["level"])  # type: ignore[attr-defined]
    moved = next(sub.id for sub in level.sublevels if sub.id != big[q]["sublevel"])
    kinds = ("≥", "≤", "=", "定性")
    sets += [
        tuple(dict(r, name=r["name"] + "乙", unit="次") for r in big),  # other texts, the same shape
        tuple(dict(r, kind=kinds[(kinds.index(r["kind"]) + 1) % 3]) if r["kind"] != "定性" else r for r in big),
        tuple(reversed(big)),  # another order: each 二级's rows in the targets' order
        tuple(r for i, r in enumerate(big) if i != q),  # a 二级 a row shorter: a shape of its own
        big + (dict(big[q], name="追加指标"),),
        tuple(dict(r, sublevel=moved) if i == q else r for i, r in enumerate(big)),  # as many rows, in other 二级
    ]
    L._SHAPED.clear()
    try:
        for targets in sets:
            L.SHAPED_LAYOUTS = False
            anew = L.layout_of(spec, targets)  # type: ignore[arg-type]
            L.SHAPED_LAYOUTS = True
            shaped = [L.layout_of(spec, targets) for _ in range(2)]  # type: ignore[arg-type]  (the first may lay out)
            for got in shaped:
                assert type(got) is L.Layout and got.spec is spec and got.targets is targets
                assert _laid_out(got) == _laid_out(anew), [r["name"] for r in targets][:3]
        assert len(L._SHAPED) < len(sets), "no layout was ever taken from its shape"
        reordered = L.layout_of(spec, tuple(reversed(big)))  # type: ignore[arg-type]
        assert [r.target.name for r in reordered.rows] != [r.target.name for r in L.layout_of(spec, big).rows]  # type: ignore[arg-type, union-attr]
        for bad in (big[:1] + (dict(big[0], points="x"),), big[:1] + (dict(big[0], sublevel="无此二级"),)):
            errors = []
            for on in (True, False):
                L.SHAPED_LAYOUTS = on
                with pytest.raises(ValueError) as exc:
                    L.layout_of(spec, bad)  # type: ignore[arg-type]
                errors.append(str(exc.value))
            assert errors[0] == errors[1]
        L.SHAPED_LAYOUTS = True
        for i in range(L._MAX_SHAPED + 5):  # shapes of their own: one more row in a 二级, each time
            L.layout_of(spec, big + tuple(dict(big[q], name=f"指标{j}") for j in range(i + 1)))  # type: ignore[arg-type]
        assert len(L._SHAPED) == L._MAX_SHAPED
    finally:
        L.SHAPED_LAYOUTS = True
        L._SHAPED.clear()


def test_workbooks_generated_from_layouts_of_a_known_shape_are_byte_identical(tmp_path: Path) -> None:
    """A national workbook generated from a layout taken from its shape is, byte for byte, the one generated from a
    layout laid out anew (projects of one shape, one after another, as distribute writes them)."""
    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored import layout as L
    from xltemplate.form import generate as G
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    big = max(table.by_key.values(), key=len)
    projects = [tuple(dict(r, name=f"{r['name']}{n}", unit=r["unit"] + "次" * n) for r in big) for n in range(3)]
    projects += [tuple(dict(r) for r in records) for records in table.by_key.values()]
    out: dict[bool, list[bytes]] = {}
    shapes: list[int] = []
    try:
        for on in (True, False):
            L.SHAPED_LAYOUTS = on
            L._SHAPED.clear()
            G._LAYOUTS.clear()
            out[on] = []
            for n, targets in enumerate(projects):
                path = tmp_path / f"{on}-{n}.xlsx"
                G.generate_workbook(spec, path, targets=targets, roster_key=f"K{n}", generated_at=NATIONAL_STAMP)  # type: ignore[arg-type]
                out[on].append(path.read_bytes())
            shapes.append(len(L._SHAPED))
        assert 0 < shapes[0] < len(projects) and shapes[1] == 0, shapes  # (some layouts were taken from their shape)
        assert out[True] == out[False]
    finally:
        L.SHAPED_LAYOUTS = True
        L._SHAPED.clear()
        G._LAYOUTS.clear()


def test_validation_shortcuts_change_no_report_on_the_validation_corpus(corpus) -> None:
    """The first form's validation corpus (every kind of edit a person makes, LibreOffice-saved files when it is
    there): the same report with validation's shortcuts on and forced off."""
    root, _ = corpus
    paths = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("~$"))
    on, off = _reports(paths, True), _reports(paths, False)
    problems = [f"{a[0]}: {a[1:3]} ≠ {b[1:3]}" for a, b in zip(on, off) if a != b]
    assert not problems, "\n".join(problems[:20])
    assert sum(1 for _, status, _f, results in on if results is not None) >= len(paths) // 2  # (most were scored)


@pytest.mark.parametrize("on", [True, False])
def test_a_text_inside_run_properties_is_read_as_libreoffice_and_gnumeric_show_it(tmp_path: Path, on: bool) -> None:
    """``<r><rPr><t>z</t>…</rPr><t>a</t></r>``: the schema has no <t> in <rPr> (CT_RPrElt holds font properties only).
    LibreOffice 7 and Gnumeric both show the run's own text, "a", and nothing of "z" (a workbook so built, converted to
    CSV by each: "a tail"). Both readers, every fast path on and forced off, read it so: the text a person sees."""
    marked = "财务审计处".encode()
    path = repacked(tmp_path / "rpr-t.xlsx", {STRINGS: lambda d: d.replace(
        b"<si><t>" + marked + b"</t></si>",
        b'<si><r><rPr><t>z</t><b/><sz val="11"/></rPr><t>' + marked[:6] + b'</t></r><r><rPr><t>zz</t></rPr><t>'
        + marked[6:] + b"</t></r></si>", 1)})
    assert b"<rPr><t>z</t>" in zipfile.ZipFile(path).read(STRINGS)
    forget()
    with switched(on):
        for reader in ("fast", "openpyxl"):
            cells = read_submission(path, reader=reader).cells["项目绩效自评"]
            assert cells["B4"].value == "财务审计处", reader
            assert not [c for c in cells.values() if isinstance(c.value, str) and "z" in c.value], reader
