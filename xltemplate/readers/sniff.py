"""Tell what a returned file is before any parser touches it.

The file is read once, into memory (its sha256 is taken from those same bytes, so the hash
and the content validated cannot come from two different reads). Looks at the first bytes
and the zip directory: an old .xls, an encrypted workbook (both OLE containers), an .ods, a
zip bomb, a zip without a workbook. Then every part is inflated once, in one zlib call
(within the declared sizes, CRC checked) and its bytes are searched for a DOCTYPE: none may
have one, anywhere. The inflated parts are kept for the reader, so nothing is inflated twice.

Returns of one template share most parts byte for byte (the theme, styles, the workbook, the
guide sheet …). A part whose *compressed bytes* are exactly those of a part already inflated
and checked in this process is not inflated again: the same bytes inflate to the same output,
so every check gives the same verdict, provided the directory's claims about it (CRC, size,
method) are the ones that output satisfied; they are compared, never trusted. Nothing is
keyed on a claim of the file: a forged CRC must never make the file validated differ from
the file a person opens. What cannot be read becomes :class:`Unreadable` with a finding code
and a Chinese message; nothing here parses XML.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from ..errors import Unreadable

_zlib_ng: Any
try:  # the `fast` extra: zlib-ng's inflate, about twice as fast as the stdlib's on a return's parts
    _zlib_ng = importlib.import_module("zlib_ng.zlib_ng")
except ImportError:  # the stdlib's zlib, which decides anyway wherever zlib-ng finds a fault
    _zlib_ng = None

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# An encrypted OOXML file is an OLE container holding these streams.
_ENCRYPTED_MARKERS = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))

#: Bounds on what a single return may declare before anything is decompressed.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_PART_BYTES = 200 * 1024 * 1024  # one uncompressed part
MAX_TOTAL_BYTES = 400 * 1024 * 1024  # all parts together, uncompressed
MAX_RATIO = 200  # uncompressed / compressed, for parts over 1 MB
MAX_ENTRIES = 10_000


#: Parts up to this size are kept inflated for the reader; larger ones are scanned in pieces.
KEEP_PART_BYTES = 16 * 1024 * 1024
KEEP_TOTAL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Sniffed:
    """A file that looks like an .xlsx: its zip entries (checked against the bounds) and their bytes."""

    path: Path
    size: int
    names: tuple[str, ...]
    has_macros: bool
    parts: dict[str, bytes] = field(default_factory=dict, compare=False, hash=False, repr=False)  # name → inflated
    sha256: str = ""  # of the bytes read, the ones every part was inflated from
    data: bytes = field(default=b"", compare=False, hash=False, repr=False)  # the whole file as read


def sniff(path: str | os.PathLike[str]) -> Sniffed:
    """Check that ``path`` is a zip workbook within bounds; raise :class:`Unreadable` otherwise."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise Unreadable("file-unreadable", reason=exc.strerror or str(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise Unreadable("file-unreadable", "folder")
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable("file-unreadable", "special")
    if st.st_size == 0:
        raise Unreadable("file-empty")
    if st.st_size > MAX_FILE_BYTES:
        raise Unreadable("file-too-large", "file", mb=st.st_size // (1024 * 1024), limit=MAX_FILE_BYTES // (1024 * 1024))
    try:
        with open(path, "rb", buffering=0) as fh:
            # one read: the sha256, the directory and every part come from it (sized by stat: a read of the
            # bound would allocate it first; a file that grew since is read on, within the bound)
            data = fh.read(st.st_size + 1)
            while len(data) <= MAX_FILE_BYTES:
                more = fh.read(min(1 << 20, MAX_FILE_BYTES + 1 - len(data)))
                if not more:
                    break
                data += more
    except OSError as exc:
        raise Unreadable("file-unreadable", "read", reason=exc.strerror or str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:  # grew since stat
        raise Unreadable("file-too-large", "file", mb=len(data) // (1024 * 1024), limit=MAX_FILE_BYTES // (1024 * 1024))
    if not data:
        raise Unreadable("file-empty")
    if data.startswith(OLE_MAGIC):
        body = data[:8 + 4 * 1024 * 1024]
        if any(m in body for m in _ENCRYPTED_MARKERS):
            raise Unreadable("file-encrypted")
        # Any other OLE container is taken for an old .xls: what a clerk sends renamed, by far
        # the likeliest; a stream directory can lie beyond any look-ahead, so none is searched.
        raise Unreadable("file-xls")
    if not data.startswith(ZIP_MAGIC):
        raise Unreadable("file-not-xlsx")
    infos: Sequence[Entry | zipfile.ZipInfo] | None = _plain_directory(data) if READ_DIRECTORY else None
    if infos is None:
        # zipfile makes an object of every entry in the directory before the count can be checked (~460 bytes each: 920 MB
        # for the 2,000,000 entries an 88 MB file can hold, outside a worker's bound); every entry starts with its
        # signature, so it can make no more than the file holds: counted first, in C
        signatures = data.count(b"PK\x01\x02")
        if signatures > MAX_ENTRIES:
            raise Unreadable("file-too-large", "entries", count=signatures)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                listed = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise Unreadable("file-corrupt", "zip", reason=str(exc)) from exc
        infos = listed
        for info in listed:
            if "\\" in info.orig_filename:  # (zipfile makes the machine's separator a "/": on Windows "\\"; a name is
                info.filename = info.orig_filename.split("\x00", 1)[0]  # the one written, on every machine, cut at NUL)
    _check_bounds(infos)
    names = tuple(i.filename for i in infos)
    if "mimetype" in names and "content.xml" in names:
        raise Unreadable("file-ods")
    if "[Content_Types].xml" not in names and not any(n.lower().startswith("xl/") for n in names):
        raise Unreadable("file-not-xlsx", "zip")
    _check_names(names)
    if "[Content_Types].xml" not in names:
        raise Unreadable("file-corrupt", "no-content-types")
    has_macros = any(n.lower().endswith("vbaproject.bin") for n in names)
    parts = _inflate_all(data, infos)
    return Sniffed(path=path, size=len(data), names=names, has_macros=has_macros, parts=parts,
                   sha256=hashlib.sha256(data).hexdigest(), data=data)


#: Read the zip directory of the plain shape here (:func:`_plain_directory`), without :mod:`zipfile`; the tests also
#: run with it off.
READ_DIRECTORY = True


class Entry(NamedTuple):
    """One entry of a zip directory of the plain shape: what :class:`zipfile.ZipInfo` gives the sniffer of it."""

    filename: str
    header_offset: int
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int

    @property
    def orig_filename(self) -> str:
        return self.filename  # (names zipfile changes, with NUL or "\\", are not of the plain shape)

    def is_dir(self) -> bool:
        return self.filename[-1:] == "/"


#: The end of central directory record (signature, disk numbers, entries on this disk and in all, the directory's
#: size and offset, the comment's length) and a central directory entry (zipfile's ``structCentralDir``).
_END = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
#: Flags of the plain shape: deflate's options (bits 1, 2), sizes after the data (bit 3), UTF-8 names (bit 11).
_PLAIN_FLAGS = 0x0806 | 0x0008


def _plain_directory(data: bytes) -> list[Entry] | None:
    """The entries of a zip of the plain shape, as :mod:`zipfile` reads them; None for any other shape (zipfile reads it).

    The plain shape, which Excel, WPS and LibreOffice write: the end of central directory record is the file's last 22
    bytes (no comment), on disk 0, with no Zip64 locator before it; the directory ends where that record starts and
    holds exactly the entries the record counts (at most :data:`MAX_ENTRIES`), one after another with nothing between
    them; every entry has no extra field and no comment, only the flags of :data:`_PLAIN_FLAGS` (no encryption), a
    version zipfile reads, a name without NUL or "\\" that no other entry has, and a local header that starts before the
    directory. Of that shape zipfile makes the same entries, field by field (its name decoded as UTF-8 under bit 11,
    else as cp437, as zipfile decodes it); anything else (a comment, a second end record inside one, data before the
    archive, Zip64, sizes at their maximum, a short or forged count, an entry past the directory …) is zipfile's to
    read, or to refuse with its message. Every later check (bounds, names, local headers, CRC) is made on these
    entries exactly as on zipfile's.
    """
    n = len(data)
    at = n - 22
    if at < 0 or data[at:at + 4] != b"PK\x05\x06" or data[at - 20:at - 16] == b"PK\x06\x07":
        return None
    _, disk, disk_dir, here, count, size, offset, comment = _END.unpack_from(data, at)
    if disk or disk_dir or comment or here != count or count > MAX_ENTRIES or offset + size != at:
        return None
    entries: list[Entry] = []
    pos, unpack, plain, new = offset, _CENTRAL.unpack_from, ~_PLAIN_FLAGS, tuple.__new__  # (Entry's own __new__ is Python)
    try:
        for _ in range(count):
            (sig, _, _, version, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len,
             disk_start, _, _, local) = unpack(data, pos)
            name_at, pos = pos + 46, pos + 46 + name_len
            if sig != b"PK\x01\x02" or extra_len or comment_len or disk_start or flags & plain or version > 63 \
                    or pos > at or local + 30 > offset or csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                return None
            raw = data[name_at:pos]
            name = raw.decode("ascii" if raw.isascii() else "utf-8" if flags & 0x800 else "cp437")
            if "\x00" in name or "\\" in name:  # (zipfile cuts a name at NUL, and on Windows makes "\\" a "/")
                return None
            entries.append(new(Entry, (name, local, flags, method, crc, csize, usize)))
    except (struct.error, UnicodeDecodeError):
        return None
    if pos != at or len({e.filename for e in entries}) != count:
        return None
    return entries


_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")  # a segment "." or ".."


def _check_names(names: tuple[str, ...]) -> None:
    """Part names as OPC allows them: one name per part, whatever the case, plain forward-slash paths.

    Two entries whose names differ only in case (or are equal) are one part name to Excel,
    which picks one of them; a reader could pick the other.
    """
    seen: dict[str, str] = {}
    for name in names:
        folded = name.lower()
        if folded in seen:
            raise Unreadable("file-corrupt", "twin-parts", first=seen[folded][:80], second=name[:80])
        seen[folded] = name
        # (a segment "." or ".." starts the name or follows a "/": the pattern, which has no fixed first byte to look
        # for, tries every place of the name, and runs only where one of them is)
        # (an empty name, or one that NUL starts, is no part name: zipfile would take it for no folder and fail on it)
        if not name or "\\" in name or name.startswith("/") or (name[:1] == "." or "/." in name) and _DOT_SEGMENT.search(name):
            raise Unreadable("file-corrupt", "part-name", part=name[:80])


_UNSAFE = (b"<!DOCTYPE", b"<!ENTITY", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_OVERLAP = 32  # bytes kept between pieces of a large part, so that no marker is cut in two
_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


#: The switch for remembering template parts by their compressed bytes; the tests also run with it off.
REMEMBER_PARTS = True
#: Parts remembered: only small ones (a template's parts are tens of KB), and a bounded total.
_REMEMBER_PART_BYTES = 1024 * 1024
_REMEMBER_TOTAL_BYTES = 16 * 1024 * 1024
_REMEMBER_COUNT = 256


#: A local file header: signature, version, flags, method, time, date, CRC, sizes, then the lengths of its name
#: and extra field; only the flags and the two lengths are read from it (the rest is the directory's).
_LOCAL_HEADER = struct.Struct("<6xH18xHH")


class _Known(NamedTuple):
    """A part inflated and checked before: what its compressed bytes gave."""

    data: bytes  # the inflated bytes (the very object handed out, so later memos hash it once)
    crc: int  # CRC-32 computed from them, and their size: the only claims this file may make about it
    size: int


_KNOWN: dict[tuple[int, bytes], _Known] = {}
_known_bytes = [0]


def _inflate_all(data: bytes, infos: Sequence[Entry | zipfile.ZipInfo]) -> dict[str, bytes]:
    """Inflate every part from its local header, check it, refuse a DOCTYPE anywhere; keep the small ones.

    A DOCTYPE is refused wherever it is, in every part whatever its name (a worksheet stored
    as ``.dat``, a part nothing refers to, a prolog longer than any fixed look-ahead, UTF-16):
    XML bombs and external entities never reach a parser, and every path through the
    program (both readers, the annotated copy) gives the same verdict.
    """
    kept: dict[str, bytes] = {}
    total = 0
    view = memoryview(data)
    try:
        for info in infos:
            if info.is_dir():
                continue
            part = _inflate(data, view, info, keep=total + info.file_size <= KEEP_TOTAL_BYTES)
            if part is not None:
                kept[info.filename] = part
                total += len(part)
    except Unreadable:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, struct.error, OverflowError) as exc:
        raise Unreadable("file-corrupt", "inflate", reason=str(exc)[:120]) from exc
    return kept


def _inflate(data: bytes, view: memoryview, info: Entry | zipfile.ZipInfo, keep: bool) -> bytes | None:
    """One part, inflated and checked (name, size, CRC, no DOCTYPE); its bytes when small enough to keep."""
    at = info.header_offset
    if at < 0 or len(data) < at + 30 or data[at:at + 4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    flags, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, at)
    raw_name = data[at + 30:at + 30 + name_len]
    # (an ASCII name reads the same in UTF-8 and in cp437, and its decoder is the fast one)
    local_name = raw_name.decode("ascii" if raw_name.isascii() else "utf-8" if flags & 0x800 else "cp437")
    if local_name != info.orig_filename:  # two directory entries sharing one body (an overlapping-entry bomb)
        raise zipfile.BadZipFile(f"name in directory {info.orig_filename!r} and header {local_name!r} differ")
    if info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise zipfile.BadZipFile(f"unsupported compression {info.compress_type} in {info.filename}")
    start = at + 30 + name_len + extra_len
    keep = keep and info.file_size <= KEEP_PART_BYTES
    if keep and info.compress_size <= _REMEMBER_PART_BYTES and info.file_size <= 4 * _REMEMBER_PART_BYTES:
        # small: the compressed bytes in one piece, inflated in one call, and remembered by those bytes
        raw = data[start:start + info.compress_size]
        key = (info.compress_type, raw)
        known = _KNOWN.pop(key, None) if REMEMBER_PARTS else None
        if known is not None:
            _KNOWN[key] = known  # the most recently used is the last to go
            if known.crc == info.CRC and known.size == info.file_size:
                return known.data  # the same bytes, the same claims: the same verdict as inflating them again
        out = _inflate_checked(info, [raw], keep=True)
        assert out is not None
        if REMEMBER_PARTS and known is None:
            _remember(key, _Known(out, info.CRC, info.file_size))
        return out
    end = start + info.compress_size
    # (a list of views, not a generator: the stdlib inflates them again wherever zlib-ng finds a fault)
    pieces = [view[pos:min(pos + (1 << 20), end)] for pos in range(start, max(end, start + 1), 1 << 20)]
    return _inflate_checked(info, pieces, keep)


def _remember(key: tuple[int, bytes], known: _Known) -> None:
    """Remember a part checked; the least recently used go first (a template's parts are used by every return)."""
    size = len(key[1]) + known.size
    while _KNOWN and (len(_KNOWN) >= _REMEMBER_COUNT or _known_bytes[0] + size > _REMEMBER_TOTAL_BYTES):
        old_key = next(iter(_KNOWN))
        old = _KNOWN.pop(old_key)
        _known_bytes[0] -= len(old_key[1]) + old.size
    _KNOWN[key] = known
    _known_bytes[0] += size


#: Inflate with zlib-ng where it is installed (the ``fast`` extra); the tests also run with it off. Deflate is
#: one format with one meaning: a stream that zlib-ng inflates without a fault is the bytes the stdlib's zlib
#: gives, and both are then held to the same checks (the declared size, the CRC-32 of the output, the end of
#: the stream, no DOCTYPE). Where zlib-ng finds any fault, the stdlib inflates the part again from its start
#: and its verdict (and message) is the one given: a file's verdict never depends on which is installed.
FAST_INFLATE = _zlib_ng is not None


def _inflate_checked(info: Entry | zipfile.ZipInfo, pieces: Sequence[bytes | memoryview], keep: bool) -> bytes | None:
    """Inflate the compressed ``pieces`` of one part: every check, and its bytes when ``keep``."""
    if FAST_INFLATE and _zlib_ng is not None:
        try:
            return _inflate_with(_zlib_ng, info, pieces, keep)
        except _zlib_ng.error:
            pass  # the stdlib's zlib says what is wrong (the same checks, from the part's start)
    return _inflate_with(zlib, info, pieces, keep)


def _inflate_with(z: Any, info: Entry | zipfile.ZipInfo, pieces: Sequence[bytes | memoryview], keep: bool) -> bytes | None:
    """:func:`_inflate_checked` with the zlib module ``z`` (the stdlib's or zlib-ng's: the same interface)."""
    inflate = z.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left_out = info.file_size
    crc, tail, kept, head, wide = 0, b"", [], None, False
    for raw in pieces:
        if inflate is None:
            out = bytes(raw)
        else:
            out = inflate.decompress(raw, left_out + 1)
            if inflate.unconsumed_tail:  # more output than the part declares: a lying zip bomb
                raise zipfile.BadZipFile(f"{info.filename} inflates beyond its declared size")
        if len(out) > left_out:
            raise zipfile.BadZipFile(f"{info.filename} inflates beyond its declared size")
        left_out -= len(out)
        crc = z.crc32(out, crc)
        window = tail + out if tail else out
        if head is None:
            head = out[:200]
            # one search for the usual UTF-8 part: UTF-16 markup needs NUL bytes, which well-formed UTF-8 XML
            # cannot hold; anything that does not start as UTF-8 XML is searched for both
            wide = out[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head or head.lstrip()[:1] != b"<" \
                or b"utf-16" in head.lower() or b"utf16" in head.lower()
        # "!" first: one memchr, where a search for "<!" stops at every "<" of the markup (50 times slower)
        if b"!" in window and (b"<!" in window or wide and (b"<\x00!" in window or b"\x00<\x00!" in window)) \
                and any(m in window for m in _UNSAFE):
            raise Unreadable("file-unsafe-xml", part=info.filename)
        tail = window[-_OVERLAP:]
        if keep:
            kept.append(out)
    if inflate is not None and not inflate.eof:
        raise zipfile.BadZipFile(f"{info.filename} is truncated")
    if left_out or crc != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 or size for {info.filename}")
    _check_encoding(info.filename, head or b"")
    if not keep:
        return None
    return kept[0] if len(kept) == 1 else b"".join(kept)


_ENCODINGS: dict[str, bool] = {}


def _check_encoding(name: str, head: bytes) -> None:
    """Refuse an XML part in an encoding where markup is not ASCII (UTF-32, UTF-7, EBCDIC …).

    OPC allows UTF-8 and UTF-16, and the DOCTYPE scan above reads those; an encoding a reader
    could decode but the scan cannot would hide a DOCTYPE from it. Encodings no reader knows
    are left to the readers (they cannot decode them either).
    """
    m = _DECL.match(head)
    if m is None:
        return
    enc = m.group(1).decode("ascii").lower()
    ok = _ENCODINGS.get(enc)
    if ok is None:
        try:
            probe = "<?xml <!DOCTYPE>".encode(enc)
            ok = probe == b"<?xml <!DOCTYPE>" or enc.replace("-", "").replace("_", "") in ("utf16", "utf16le", "utf16be")
        except LookupError:
            ok = True
        except (UnicodeError, ValueError):
            ok = False
        _ENCODINGS[enc] = ok
    if not ok:
        raise Unreadable("file-corrupt", "unsupported-encoding", part=name, encoding=enc[:40])


def _check_bounds(infos: Sequence[Entry | zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise Unreadable("file-too-large", "entries", count=len(infos))
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MAX_PART_BYTES:
            raise Unreadable("file-too-large", "part-size", part=info.filename, mb=size // (1024 * 1024))
        if size > 1024 * 1024 and info.compress_size and size / info.compress_size > MAX_RATIO:
            raise Unreadable("file-too-large", "part-ratio", part=info.filename, ratio=size // max(info.compress_size, 1))
    if total > MAX_TOTAL_BYTES:
        raise Unreadable("file-too-large", "total", mb=total // (1024 * 1024))
