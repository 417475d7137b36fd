"""Tell what a returned file is before any parser touches it.

Looks at the first bytes and the zip directory only: an old .xls, an encrypted
workbook (both OLE containers), an .ods, a zip bomb, a zip without a workbook.
What cannot be read becomes :class:`Unreadable` with a finding code and a
Chinese message; nothing here parses XML.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# An encrypted OOXML file is an OLE container holding these streams.
_ENCRYPTED_MARKERS = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
_XLS_MARKERS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))

#: Bounds on what a single return may declare before anything is decompressed.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_PART_BYTES = 200 * 1024 * 1024  # one uncompressed part
MAX_TOTAL_BYTES = 400 * 1024 * 1024  # all parts together, uncompressed
MAX_RATIO = 200  # uncompressed / compressed, for parts over 1 MB
MAX_ENTRIES = 10_000


class Unreadable(Exception):
    """A file that cannot be read as a workbook; carries a finding code and a Chinese message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sniffed:
    """A file that looks like an .xlsx: its zip entries (checked against the bounds)."""

    path: Path
    size: int
    names: tuple[str, ...]
    has_macros: bool


def sniff(path: str | os.PathLike[str]) -> Sniffed:
    """Check that ``path`` is a zip workbook within bounds; raise :class:`Unreadable` otherwise."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise Unreadable("file-unreadable", f"无法访问文件：{exc.strerror or exc}。请确认文件存在且有读取权限。") from exc
    if stat.S_ISDIR(st.st_mode):
        raise Unreadable("file-unreadable", "这是一个文件夹，不是工作簿文件。请提交 .xlsx 文件本身。")
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable("file-unreadable", "这不是普通文件。请提交 .xlsx 文件本身。")
    if st.st_size == 0:
        raise Unreadable("file-empty", "文件大小为 0 字节（可能保存或传输失败）。请重新保存并提交。")
    if st.st_size > MAX_FILE_BYTES:
        raise Unreadable("file-too-large", f"文件有 {st.st_size // (1024 * 1024)} MB，超过 {MAX_FILE_BYTES // (1024 * 1024)} MB 上限。请删除多余内容后重新提交。")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith(OLE_MAGIC):
                body = head + fh.read(min(st.st_size, 4 * 1024 * 1024))
                if any(m in body for m in _ENCRYPTED_MARKERS):
                    raise Unreadable("file-encrypted", "文件设置了打开密码（已加密），无法读取。请取消文件密码后重新提交（工作表保护不用撤销）。")
                raise Unreadable("file-xls", "这是旧版 Excel 97-2003 (.xls) 格式。请用下发的 .xlsx 模板填写，或另存为 .xlsx 后再提交。")
    except OSError as exc:
        raise Unreadable("file-unreadable", f"无法读取文件：{exc.strerror or exc}。请确认有读取权限。") from exc
    if not head.startswith(ZIP_MAGIC):
        raise Unreadable("file-not-xlsx", "这不是 Excel 工作簿（.xlsx）文件。请提交下发的 .xlsx 模板。")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Unreadable("file-corrupt", f"文件已损坏或不完整（{exc}）。请重新保存后提交。") from exc
    _check_bounds(infos)
    names = tuple(i.filename for i in infos)
    if "mimetype" in names and "content.xml" in names:
        raise Unreadable("file-ods", "这是 OpenDocument (.ods) 格式。请在表格软件中另存为 Excel 工作簿 (.xlsx) 后提交。")
    if "xl/workbook.xml" not in names and not any(n.lower() == "xl/workbook.xml" for n in names):
        raise Unreadable("file-not-xlsx", "文件是压缩包，但不是 Excel 工作簿。请提交下发的 .xlsx 模板。")
    has_macros = any(n.lower().endswith("vbaproject.bin") for n in names)
    _check_prologs(path, infos)
    return Sniffed(path=path, size=st.st_size, names=names, has_macros=has_macros)


_PROLOG_BYTES = 4096
_XML_SUFFIXES = (".xml", ".rels", ".vml")


def _check_prologs(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a file whose XML parts declare a DTD or entities (XML bombs, external entities).

    Only the prolog of each part is inflated (a DOCTYPE must come before the root element),
    straight from the local headers through one open file: this runs on every return, so it
    avoids the zip module's per-part machinery. The parsers refuse entity declarations too.
    """
    try:
        with open(path, "rb") as fh:
            for info in infos:
                if not info.filename.lower().endswith(_XML_SUFFIXES) or info.is_dir():
                    continue
                head = _part_head(fh, info)
                root = _first_element(head)
                prolog = (head if root < 0 else head[:root]).upper()
                if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                    raise Unreadable("file-unsafe-xml", f"文件部件 {info.filename} 含有文档类型或实体声明（可能是恶意构造的文件），已拒绝读取。请提交下发的原始模板。")
    except Unreadable:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, struct.error) as exc:
        raise Unreadable("file-corrupt", f"文件已损坏，无法解压（{exc}）。请重新保存后提交。") from exc


def _part_head(fh: Any, info: zipfile.ZipInfo) -> bytes:
    """The first bytes of a part, inflated from its local header (stored or deflated)."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fh.read(min(info.compress_size, _PROLOG_BYTES))
    if info.compress_type == zipfile.ZIP_STORED:
        return raw
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15).decompress(raw, _PROLOG_BYTES)
    raise zipfile.BadZipFile(f"unsupported compression {info.compress_type} in {info.filename}")


def _first_element(head: bytes) -> int:
    """Offset of the first element start tag (not <?…?>, <!--…--> or <!…>), or -1."""
    i = 0
    while True:
        i = head.find(b"<", i)
        if i < 0 or i + 1 >= len(head):
            return -1
        nxt = head[i + 1:i + 2]
        if nxt not in (b"?", b"!"):
            return i
        i += 1


def _check_bounds(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise Unreadable("file-too-large", f"压缩包内有 {len(infos)} 个部件，超过上限。请提交下发的模板。")
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MAX_PART_BYTES:
            raise Unreadable("file-too-large", f"部件 {info.filename} 解压后有 {size // (1024 * 1024)} MB，超过上限（疑似压缩炸弹）。")
        if size > 1024 * 1024 and info.compress_size and size / info.compress_size > MAX_RATIO:
            raise Unreadable("file-too-large", f"部件 {info.filename} 的压缩比异常（{size // max(info.compress_size, 1)}:1，疑似压缩炸弹）。")
    if total > MAX_TOTAL_BYTES:
        raise Unreadable("file-too-large", f"文件解压后共 {total // (1024 * 1024)} MB，超过上限（疑似压缩炸弹）。")
