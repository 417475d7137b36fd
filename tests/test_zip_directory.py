"""The eighth pass's read side (issue 15): the zip directory of the plain shape read without zipfile
(``sniff.READ_DIRECTORY``), and below, shared strings cut at every ``</si>`` (``fast.SPLIT_STRINGS``) or matched
whole (``fast.ALL_PLAIN_STRINGS``). Every switch is also in ``tests/fast_paths.SWITCHES``, so that the hostile, fuzz,
differential, natr_hostile and LibreOffice-saved corpora read both ways.

The claim under test: every file, however its directory is forged, gets the verdict (the same submission, or the same
refusal and message) with the directory read here as with zipfile reading it; and the directory read here is taken
only for the plain shape, where its entries are zipfile's field by field. Each case is a national return whose zip is
rebuilt by hand (local headers, central directory, end record), so that every field can be forged.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import pytest

from .conftest import SAMPLES
from xltemplate.errors import Unreadable

from .fast_paths import differences_on_and_off, forget, module, switched, verdict

sniff = module("xltemplate.readers.sniff")
NATIONAL = sorted(p for p in (SAMPLES / "national" / "returns").glob("*.xlsx") if not p.name.startswith("~$"))


@dataclass
class Part:
    """One entry as written: every field of its local header and its directory entry can be set apart."""

    name: bytes
    data: bytes
    flags: int = 0
    method: int = zipfile.ZIP_DEFLATED
    version: int = 20
    extra: bytes = b""
    comment: bytes = b""
    disk: int = 0
    local_name: bytes | None = None  # the local header's name, where it differs from the directory's
    crc: int | None = None  # forged claims, where set
    size: int | None = None
    offset: int | None = None  # a forged local header offset in the directory (-1: local_name's own)
    body: bytes | None = None  # the compressed bytes, where not those of data


@dataclass
class Archive:
    parts: list[Part]
    before: bytes = b""  # bytes before the first local header
    between: bytes = b""  # bytes between the last part and the directory
    comment: bytes = b""  # the archive comment (its length written in the end record)
    comment_len: int | None = None  # a forged length of it
    after: bytes = b""  # bytes after the end record
    count: int | None = None  # forged counts in the end record
    here: int | None = None
    disk: int = 0
    size_delta: int = 0  # forged size and offset of the directory
    offset_delta: int = 0
    locator: bool = False  # a Zip64 locator's signature before the end record
    extra_entries: list[bytes] = field(default_factory=list)  # raw directory entries added after the others

    def bytes(self) -> bytes:
        out = bytearray(self.before)
        central = bytearray()
        ats: dict[bytes, int] = {}
        for p in self.parts:
            body = p.body if p.body is not None else (zlib.compress(p.data, 6)[2:-4] if p.method == 8 else p.data)
            crc = p.crc if p.crc is not None else zlib.crc32(p.data)
            size = p.size if p.size is not None else len(p.data)
            at = ats.setdefault(p.name, len(out))
            lname = p.local_name if p.local_name is not None else p.name
            out += struct.pack("<4s5H3L2H", b"PK\x03\x04", p.version, p.flags & ~0x8, p.method, 0, 0x21, crc, len(body),
                               size, len(lname), 0) + lname + body
            central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, p.version, 0, p.flags, p.method, 0, 0x21,
                                   crc, len(body), size, len(p.name), len(p.extra), len(p.comment), p.disk, 0, 0,
                                   at if p.offset is None else ats[p.local_name or b""] if p.offset < 0 else p.offset)\
                + p.name + p.extra + p.comment
        for raw in self.extra_entries:
            central += raw
        out += self.between
        start = len(out)
        out += central
        if self.locator:
            out += b"PK\x06\x07" + bytes(16)
        n = len(self.parts) + len(self.extra_entries)
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", self.disk, self.disk, n if self.here is None else self.here,
                           n if self.count is None else self.count, len(central) + self.size_delta,
                           start + self.offset_delta, len(self.comment) if self.comment_len is None else self.comment_len) \
            + self.comment + self.after
        return bytes(out)


def archive(src: Path = NATIONAL[0]) -> Archive:
    with zipfile.ZipFile(src) as z:
        return Archive([Part(i.filename.encode(), z.read(i)) for i in z.infolist()])


def changed(what: Callable[[Archive], object]) -> Archive:
    a = archive()
    what(a)
    return a


def part(a: Archive, name: bytes) -> Part:
    return next(p for p in a.parts if p.name == name)


def setp(which: bytes, **fields: object) -> Callable[[Archive], object]:
    def change(a: Archive) -> None:
        i = a.parts.index(part(a, which))
        a.parts[i] = replace(a.parts[i], **fields)  # type: ignore[arg-type]
    return change


def seta(**fields: object) -> Callable[[Archive], object]:
    return lambda a: a.__dict__.update(fields)


def dup(name: bytes, as_name: bytes, same_body: bool = False) -> Callable[[Archive], object]:
    def change(a: Archive) -> None:
        p = part(a, name)
        a.parts.append(replace(p, name=as_name, local_name=p.name if same_body else None))
        if same_body:  # a second directory entry over the first's local header (an overlapping entry)
            a.parts[-1].offset = -1
    return change


SHEET, CT = b"xl/worksheets/sheet1.xml", b"[Content_Types].xml"
EOCD = b"PK\x05\x06" + bytes(18)
CASES: dict[str, Callable[[Archive], object]] = {
    "sound": lambda a: None,
    "count one more": lambda a: a.__dict__.update(count=len(a.parts) + 1, here=len(a.parts) + 1),
    "count one fewer": lambda a: a.__dict__.update(count=len(a.parts) - 1, here=len(a.parts) - 1),
    "counts differ": lambda a: a.__dict__.update(here=len(a.parts) - 1),
    "count zero": lambda a: a.__dict__.update(count=0, here=0),
    "count huge": lambda a: a.__dict__.update(count=60000, here=60000),
    "size one more": seta(size_delta=1),
    "size one less": seta(size_delta=-1),
    "size 46 less": seta(size_delta=-46),
    "offset one more": seta(offset_delta=1),
    "offset one less": seta(offset_delta=-1),
    "offset forged far": seta(offset_delta=1 << 30),
    "prepended data": seta(before=b"MZ" + bytes(100)),
    "prepended data, offsets shifted": lambda a: a.__dict__.update(before=bytes(64), offset_delta=-64),
    "bytes between": seta(between=b"\x00" * 30),
    "comment": seta(comment=b"hello"),
    "comment's length forged, no comment": seta(comment_len=5),
    "second end record in a comment": seta(comment=EOCD),
    "end record after a comment's length": seta(after=EOCD),
    "trailing byte": seta(after=b"\x00"),
    "trailing end record": seta(after=b"PK\x05\x06"),
    "disk number": seta(disk=1),
    "zip64 locator": seta(locator=True),
    "extra field": setp(SHEET, extra=b"\x99\x99\x04\x00abcd"),
    "corrupt extra field": setp(SHEET, extra=b"\x01\x00\x20\x00ab"),
    "zip64 extra field": setp(SHEET, extra=struct.pack("<HHQ", 1, 8, 10)),
    "entry comment": setp(SHEET, comment=b"note"),
    "entry on another disk": setp(SHEET, disk=1),
    "encrypted": setp(SHEET, flags=1),
    "strong encryption": setp(SHEET, flags=0x40),
    "data descriptor and utf-8": setp(SHEET, flags=0x808),
    "deflate options": setp(SHEET, flags=0x6),
    "bzip2": setp(SHEET, method=12),
    "method 99": setp(SHEET, method=99),
    "stored": setp(SHEET, method=0),
    "version 63": setp(SHEET, version=63),
    "version 64": setp(SHEET, version=64),
    "version 255": setp(SHEET, version=255),
    "crc forged": setp(SHEET, crc=1234),
    "size claimed larger": lambda a: setp(SHEET, size=len(part(a, SHEET).data) + 1)(a),
    "size claimed smaller": lambda a: setp(SHEET, size=len(part(a, SHEET).data) - 1)(a),
    "size at maximum": setp(SHEET, size=0xFFFFFFFF),
    "offset past the directory": setp(SHEET, offset=0x7FFFFFFF),
    "offset at maximum": setp(SHEET, offset=0xFFFFFFFF),
    "offset into another part": setp(SHEET, offset=5),
    "name differs from the local header": setp(SHEET, local_name=b"xl/worksheets/sheetX.xml"),
    "overlapping entries": dup(SHEET, b"xl/worksheets/sheet9.xml", same_body=True),
    "duplicate name": dup(SHEET, SHEET),
    "duplicate differing in case": dup(SHEET, b"XL/Worksheets/Sheet1.xml"),
    "duplicate content types in case": dup(CT, b"[content_types].xml"),
    "name with ..": dup(SHEET, b"xl/../xl/worksheets/sheet1.xml"),
    "name with . segment": dup(SHEET, b"xl/./evil.xml"),
    "name starting with ..": dup(SHEET, b"../evil.xml"),
    "name starting with a dot": dup(SHEET, b".hidden.xml"),
    "name ending in ..": dup(SHEET, b"xl/.."),
    "name with dots inside": dup(SHEET, b"xl/a..b.xml"),
    "name with NUL": dup(SHEET, b"xl/worksheets/sheet1.xml\x00.txt"),
    "name with NUL renaming the sheet": setp(SHEET, name=SHEET + b"\x00x", local_name=SHEET + b"\x00x"),
    "name with backslash": dup(SHEET, b"xl\\worksheets\\sheet7.xml"),
    "absolute name": dup(SHEET, b"/xl/evil.xml"),
    "folder entry": lambda a: a.parts.append(Part(b"xl/folder/", b"", method=0)),
    "empty name": dup(SHEET, b""),
    "utf-8 name flagged": setp(SHEET, flags=0x800, name="xl/工作表.xml".encode(), local_name="xl/工作表.xml".encode()),
    "utf-8 name unflagged (cp437)": setp(SHEET, name="xl/工作表.xml".encode(), local_name="xl/工作表.xml".encode()),
    "invalid utf-8 name flagged": setp(SHEET, flags=0x800, name=b"xl/\xff\xfe.xml", local_name=b"xl/\xff\xfe.xml"),
    "cp437 name": setp(SHEET, name=b"xl/\x81\x82.xml", local_name=b"xl/\x81\x82.xml"),
    "content types missing": lambda a: a.parts.remove(part(a, CT)),
    "only a directory end": lambda a: a.parts.clear(),
    "bad central signature": lambda a: a.extra_entries.append(b"PK\x01\x03" + bytes(42)),
    "truncated central entry": lambda a: a.extra_entries.append(b"PK\x01\x02" + bytes(20)),
    "odt": lambda a: a.parts.extend([Part(b"mimetype", b"application/vnd.oasis.opendocument.spreadsheet", method=0),
                                     Part(b"content.xml", b"<x/>")]),
    "part too large claimed": setp(SHEET, size=200 * 1024 * 1024 + 1),
    "doctype": lambda a: setp(SHEET, data=b"<!DOCTYPE x>" + part(a, SHEET).data)(a),
}


def forged(tmp_path: Path) -> list[Path]:
    out = []
    for k, (name, change) in enumerate(CASES.items()):
        a = archive()
        change(a)
        path = tmp_path / f"case{k:03d}.xlsx"
        path.write_bytes(a.bytes())
        out.append(path)
    return out


def truncations(tmp_path: Path) -> list[Path]:
    """The sound return cut short at every byte of its end record and around its directory's entries."""
    data = archive().bytes()
    start = struct.unpack_from("<L", data, len(data) - 6)[0]
    cuts = sorted({*range(len(data) - 23, len(data)), *range(start - 2, start + 50), start + 120, len(data) - 60})
    out = []
    for n in cuts:
        path = tmp_path / f"cut{n}.xlsx"
        path.write_bytes(data[:n])
        out.append(path)
    return out


def test_the_plain_directory_is_zipfiles_field_by_field() -> None:
    """On real returns (fresh; the shape LibreOffice writes, flags 0x808), the entries read here are zipfile's."""
    fields = ("filename", "orig_filename", "header_offset", "flag_bits", "compress_type", "CRC", "compress_size",
              "file_size")
    lo = archive()
    for p in lo.parts:
        p.flags = 0x808
    for data in [p.read_bytes() for p in NATIONAL] + [lo.bytes()]:
        mine = sniff._plain_directory(data)
        theirs = zipfile.ZipFile(io.BytesIO(data)).infolist()
        assert mine is not None
        assert [[getattr(e, f) for f in fields] + [e.is_dir()] for e in mine] == \
               [[getattr(e, f) for f in fields] + [e.is_dir()] for e in theirs]


def test_forged_directories_read_the_same_with_the_directory_read_here_and_by_zipfile(tmp_path: Path) -> None:
    paths = forged(tmp_path)
    differences = differences_on_and_off(paths, ("READ_DIRECTORY",))
    assert differences == []
    # not idle: the sound shapes are read here, most forged ones left to zipfile; many are refused either way
    taken = {name: sniff._plain_directory(p.read_bytes()) is not None for name, p in zip(CASES, paths)}
    assert taken["sound"] and taken["data descriptor and utf-8"] and taken["duplicate differing in case"]
    assert not [n for n in ("comment", "comment's length forged, no comment", "second end record in a comment", "prepended data, offsets shifted", "zip64 locator",
                                      "extra field", "entry comment", "encrypted", "count one more", "size one less",
                                      "offset past the directory", "duplicate name", "name with NUL", "name with backslash", "version 64",
                                      "bad central signature", "truncated central entry") if taken[n]]
    assert taken["overlapping entries"]  # (of the plain shape: the local header's name refuses it, as it does after zipfile)
    forget()
    refused = [n for n, p in zip(CASES, paths) if isinstance(verdict(p), tuple)]
    assert 30 < len(refused) < len(CASES) - 5, refused


def test_truncated_files_read_the_same_with_the_directory_read_here_and_by_zipfile(tmp_path: Path) -> None:
    paths = truncations(tmp_path)
    assert differences_on_and_off(paths, ("READ_DIRECTORY",)) == []
    forget()
    assert all(isinstance(verdict(p), tuple) for p in paths)  # (every cut is refused)


def test_refusals_name_the_same_fault_both_ways(tmp_path: Path) -> None:
    """The message of a forged directory is zipfile's (or the checks' after it), whichever reads it."""
    paths = forged(tmp_path)
    with switched(True, ("READ_DIRECTORY",)):
        on = [verdict(p) for p in paths]
    with switched(False, ("READ_DIRECTORY",)):
        off = [verdict(p) for p in paths]
    assert on == off
    codes = {v[1] for v in on if isinstance(v, tuple)}
    assert {"file-corrupt", "file-too-large", "file-ods", "file-unsafe-xml"} <= codes, codes


@pytest.mark.parametrize("name", ["a/../b.xml", "../b.xml", "./b", "a/.", "a/./b", "..", ".", "a/..", "/a", "a\\b"])
def test_part_names_with_dot_segments_are_refused(name: str) -> None:
    from xltemplate.errors import Unreadable

    with pytest.raises(Unreadable) as exc:
        sniff._check_names(("[Content_Types].xml", name))
    assert exc.value.variant == "part-name"


@pytest.mark.parametrize("name", [".rels", "_rels/.rels", "a/.b", "a..b", "a/..b/c", "a/b..", "...", "a/.../b"])
def test_part_names_with_dots_that_are_no_segment_are_taken(name: str) -> None:
    sniff._check_names(("[Content_Types].xml", name))
    assert sniff._DOT_SEGMENT.search(name) is None


@pytest.mark.parametrize("on", [True, False])
def test_an_entry_without_a_name_is_refused_not_a_crash(on: bool, tmp_path: Path) -> None:
    """An entry named "" (or whose name NUL starts: zipfile cuts it there) was taken by zipfile for a file and then
    made ``ZipInfo.is_dir`` fail (IndexError, no verdict); it is a part name OPC does not allow."""
    for k, name in enumerate((b"", b"\x00evil.xml")):
        path = tmp_path / f"noname{k}.xlsx"
        path.write_bytes(changed(dup(SHEET, name)).bytes())
        with switched(on, ("READ_DIRECTORY",)):
            got = verdict(path)
        assert isinstance(got, tuple) and got[1:3] == ("file-corrupt", "part-name"), got


# -- shared strings cut at every </si> (fast.SPLIT_STRINGS) --------------------------------------------------------

_BITS = [b"<si>", b"</si>", b"<t>", b"</t>", b'<t xml:space="preserve">', b"<r>", b"</r>", b"<rPr><b/></rPr>", b"<",
         b"</si", b"/si>", b"<si", b"si>", b"</s", b" ", b"\n", b"\x0b", b"\x0c", b"\r\n", b"abc", "文字".encode(), b">",
         b"&amp;", b"<si><t>x</t></si>", b"<si><r><t>y</t></r></si>", b"</si></si>", b"<t/>", b"<r/>", b"<rPh>"]


def test_strings_cut_at_every_end_tag_are_the_tiling_patterns() -> None:
    """Whatever the bytes, cutting at "</si>" gives what the tiling pattern gives (or both give nothing), for every end."""
    import random

    from xltemplate.readers.xmltext import tile

    fast = module("xltemplate.readers.fast")
    rng = random.Random(15)
    real = [z.read("xl/sharedStrings.xml") for z in map(zipfile.ZipFile, NATIONAL) if "xl/sharedStrings.xml" in z.namelist()]
    runs = '<si><r><rPr><sz val="11"/><rFont val="宋体"/></rPr><t xml:space="preserve">全年（</t></r><r><t>A</t></r></si>'
    real.append(real[0].replace(b"</si>", b"</si>" + runs.encode(), 5))  # (LibreOffice writes such strings)
    seen = {True: 0, False: 0}
    for k in range(20000):
        if k % 4 == 0:  # a real part, changed at a few places
            data = bytearray(rng.choice(real))
            for _ in range(rng.randint(0, 3)):
                i = rng.randrange(len(data))
                data[i:i + rng.randint(0, 6)] = rng.choice(_BITS)
            data = bytes(data)
            start = fast._SST_ROOT.match(data).end() if fast._SST_ROOT.match(data) else 0
        else:
            data = b"".join(rng.choice(_BITS) for _ in range(rng.randint(0, 14)))
            start = rng.randint(0, min(2, len(data)))
        last = data.rfind(b"</si>")
        for end in {start if last < start else last + 5, len(data), rng.randint(start, len(data))}:  # (start <= end <= len, as called)
            mine, theirs = fast._split_strings(data, start, end), tile(fast._SI_PLAIN, data, start, end)
            assert (mine is None) == (theirs is None), (data, start, end, mine, theirs)
            if mine is not None and theirs is not None:
                assert [m[1:] for m in mine] == [t[1:] for t in theirs], (data, start, end)
            seen[mine is None] += 1
    assert seen[True] > 1000 and seen[False] > 1000, seen  # (not idle: both verdicts, often)


def test_strings_all_plain_read_as_tiled_one_by_one() -> None:
    """A part matched whole where each string is one plain <t> (fast.ALL_PLAIN_STRINGS) reads as tiled string by
    string: the same strings, or the same refusal to read it here, proved or not, for random and mutated parts."""
    import random

    fast = module("xltemplate.readers.fast")
    rng = random.Random(16)
    real = [z.read("xl/sharedStrings.xml") for z in map(zipfile.ZipFile, NATIONAL) if "xl/sharedStrings.xml" in z.namelist()]
    bits = _BITS + [b"<si><t>plain</t></si>", b'<si><t xml:space="preserve"> x </t></si>', b"x005F_", b"&lt;", b"\r",
                    b"&#10;", b"&bogus;", b"\xff"]

    def outcome(data: bytes, start: int, prove: bool) -> object:
        try:
            return fast._plain_strings(data, start, prove)
        except (ValueError, Unreadable) as exc:
            return type(exc).__name__

    taken = 0
    for k in range(6000):
        data = bytearray(rng.choice(real))
        for _ in range(rng.randint(0, 2) if k % 3 else 0):
            i = rng.randrange(len(data))
            data[i:i + rng.randint(0, 6)] = rng.choice(bits)
        if k % 5 == 0:
            data = data.replace(b"</si>", b"</si>" + rng.choice(bits), 1)
        data = bytes(data)
        root = fast._SST_ROOT.match(data)
        if root is None:
            continue
        for prove in (True, False):
            with switched(True, ("ALL_PLAIN_STRINGS",)):
                on = outcome(data, root.end(), prove)
            with switched(False, ("ALL_PLAIN_STRINGS",)):
                off = outcome(data, root.end(), prove)
            assert on == off, (data, prove)
            taken += isinstance(on, list)
    assert taken > 3000  # (not idle)


def test_an_instruction_after_the_start_is_found_as_find_finds_it() -> None:
    import random

    fast = module("xltemplate.readers.fast")
    rng = random.Random(17)
    for _ in range(20000):
        data = bytes(rng.choice(b"<?x> ") for _ in range(rng.randint(0, 12)))
        assert fast._instruction_after_start(data) == (data.find(b"<?", 1) >= 0), data


def test_a_tag_after_is_found_as_find_finds_it() -> None:
    """xmltext.tag_after (the sheets' and the workbook's searches for "<!" and "<?" in memchr's steps) against
    ``find`` over every start and end, "!" and "?" among many "<"."""
    import random

    tag_after = module("xltemplate.readers.xmltext").tag_after
    rng = random.Random(23)
    found = 0
    for n in range(4000):  # (a fifth long and mostly marks: more than tag_after looks at one by one, then the rest in C)
        data = bytes(rng.choice(b"<?!x> " if n % 5 else b"<??!!!!??!!!x") for _ in range(rng.randint(0, 12 if n % 5 else 60)))
        for mark in (b"!", b"?"):
            for start in range(0, len(data) + 2):
                for end in (None, *range(0, len(data) + 2)):
                    expected = data.find(b"<" + mark, start, end) >= 0
                    assert tag_after(data, mark, start, end) == expected, (data, mark, start, end)
                    found += expected
    assert found > 10000  # (not idle)
