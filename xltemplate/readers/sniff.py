"""Tell what a returned file is before any parser touches it.

Looks at the first bytes and the zip directory: an old .xls, an encrypted
workbook (both OLE containers), an .ods, a zip bomb, a zip without a workbook.
Then every part is inflated once (within the declared sizes, CRC checked) and
its bytes are searched for a DOCTYPE: none may have one, anywhere. The inflated
parts are kept for the reader, so nothing is inflated twice. What cannot be
read becomes :class:`Unreadable` with a finding code and a Chinese message;
nothing here parses XML.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Unreadable

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
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith(OLE_MAGIC):
                body = head + fh.read(min(st.st_size, 4 * 1024 * 1024))
                if any(m in body for m in _ENCRYPTED_MARKERS):
                    raise Unreadable("file-encrypted")
                # Any other OLE container is taken for an old .xls: what a clerk sends renamed, by far
                # the likeliest; a stream directory can lie beyond any look-ahead, so none is searched.
                raise Unreadable("file-xls")
    except OSError as exc:
        raise Unreadable("file-unreadable", "read", reason=exc.strerror or str(exc)) from exc
    if not head.startswith(ZIP_MAGIC):
        raise Unreadable("file-not-xlsx")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Unreadable("file-corrupt", "zip", reason=str(exc)) from exc
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
    parts = _inflate_all(path, infos)
    return Sniffed(path=path, size=st.st_size, names=names, has_macros=has_macros, parts=parts)


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
        if "\\" in name or name.startswith("/") or any(seg in (".", "..") for seg in name.split("/")):
            raise Unreadable("file-corrupt", "part-name", part=name[:80])


_UNSAFE = (b"<!DOCTYPE", b"<!ENTITY", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_OVERLAP = 32  # bytes kept between pieces of a large part, so that no marker is cut in two
_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def _inflate_all(path: Path, infos: list[zipfile.ZipInfo]) -> dict[str, bytes]:
    """Inflate every part from its local header, check it, refuse a DOCTYPE anywhere; keep the small ones.

    A DOCTYPE is refused wherever it is, in every part whatever its name (a worksheet stored
    as ``.dat``, a part nothing refers to, a prolog longer than any fixed look-ahead, UTF-16):
    XML bombs and external entities never reach a parser, and every path through the
    program (both readers, the annotated copy) gives the same verdict.
    """
    kept: dict[str, bytes] = {}
    total = 0
    try:
        with open(path, "rb") as fh:
            for info in infos:
                if info.is_dir():
                    continue
                data = _inflate(fh, info, keep=total + info.file_size <= KEEP_TOTAL_BYTES)
                if data is not None:
                    kept[info.filename] = data
                    total += len(data)
    except Unreadable:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, struct.error, OverflowError) as exc:
        raise Unreadable("file-corrupt", "inflate", reason=str(exc)[:120]) from exc
    return kept


def _inflate(fh: Any, info: zipfile.ZipInfo, keep: bool) -> bytes | None:
    """One part, inflated and checked (name, size, CRC, no DOCTYPE); its bytes when small enough to keep."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    flags, method = struct.unpack("<HH", header[6:10])
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    raw_name = fh.read(name_len)
    local_name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
    if local_name != info.orig_filename:  # two directory entries sharing one body (an overlapping-entry bomb)
        raise zipfile.BadZipFile(f"name in directory {info.orig_filename!r} and header {local_name!r} differ")
    if info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise zipfile.BadZipFile(f"unsupported compression {info.compress_type} in {info.filename}")
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    keep = keep and info.file_size <= KEEP_PART_BYTES
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left_in, left_out = info.compress_size, info.file_size
    crc, tail, pieces, head = 0, b"", [], None
    while True:
        raw = fh.read(min(left_in, 1 << 20))
        left_in -= len(raw)
        if inflate is None:
            out = raw
        else:
            out = inflate.decompress(raw, left_out + 1)
            if inflate.unconsumed_tail:  # more output than the part declares: a lying zip bomb
                raise zipfile.BadZipFile(f"{info.filename} inflates beyond its declared size")
        if len(out) > left_out:
            raise zipfile.BadZipFile(f"{info.filename} inflates beyond its declared size")
        left_out -= len(out)
        crc = zlib.crc32(out, crc)
        window = tail + out if tail else out
        if head is None:
            head = out[:200]
            # one search for the usual UTF-8 part: UTF-16 markup needs NUL bytes, which well-formed UTF-8 XML
            # cannot hold; anything that does not start as UTF-8 XML is searched for both
            wide = out[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head or head.lstrip()[:1] != b"<" \
                or b"utf-16" in head.lower() or b"utf16" in head.lower()
        if (b"<!" in window or wide and (b"<\x00!" in window or b"\x00<\x00!" in window)) and any(m in window for m in _UNSAFE):
            raise Unreadable("file-unsafe-xml", part=info.filename)
        tail = window[-_OVERLAP:]
        if keep:
            pieces.append(out)
        if not raw or left_in <= 0:
            break
    if inflate is not None and not inflate.eof:
        raise zipfile.BadZipFile(f"{info.filename} is truncated")
    if left_out or crc != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 or size for {info.filename}")
    _check_encoding(info.filename, head or b"")
    return b"".join(pieces) if keep else None


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


def _check_bounds(infos: list[zipfile.ZipInfo]) -> None:
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
