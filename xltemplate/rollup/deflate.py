"""The roll-up's large parts deflated by a thread while XlsxWriter zips the others (issue 15: collect's serial tail).

XlsxWriter closes a workbook by writing every part to a file, then putting them in the zip one after the other, each
deflated as it goes in: at 10,000 units some 30 MB of XML, ~1 s of this process's CPU at the very end of a run, with
the other CPU idle (the workers and the roll-up's second process have ended). Here, once the parts are written, a
thread deflates the large ones, the last first, into files of their own, exactly as :meth:`zipfile.ZipFile.write`
would (the same deflate, level and window; zlib gives the same bytes however its input is cut), with their CRC-32;
when the zip comes to a part the thread has begun, the part goes in as deflated there, with the entry
:meth:`zipfile.ZipFile.write` makes (:meth:`.reuse._KeepingZip._copy`, as a round's kept sheets go in); a part the
thread has not begun is taken from it and deflated by the zip as before. zlib and the file reads let go of the GIL,
so the two deflate at once. The same bytes (the tests compare). Only where nothing else changes the zip (a round's
kept sheets: :func:`.reuse.zipping`).
"""

from __future__ import annotations

import contextlib
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, cast

import xlsxwriter.workbook

from . import reuse

#: Deflate the roll-up's large parts in a thread while the zip takes the others (see the module); False: the zip
#: deflates every part itself, as before (the tests compare the bytes).
AHEAD = True
#: Parts smaller than this (bytes) are left to the zip: a thread's hand-over costs more than they take.
LARGE = 256 * 1024
_READ = 1 << 16


class _Deflated:
    """A part deflated into a file of its own: its raw deflate in pieces (what :meth:`.reuse._KeepingZip._copy`
    takes), its CRC-32 and its size."""

    def __init__(self, path: Path, crc: int, size: int) -> None:
        self.path, self.crc, self.size = path, crc, size

    def deflated_size(self) -> int:
        return self.path.stat().st_size

    def pieces(self, size: int) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            while True:
                piece = fh.read(size)
                if not piece:
                    return
                yield piece


def _deflate(source: str, target: Path, level: int) -> _Deflated:
    """In the thread: ``source`` deflated as :meth:`zipfile.ZipFile.write` deflates a file (``zipfile._get_compressor``:
    raw deflate, ``level``, the default memory level), into ``target``."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    crc = size = 0
    with open(source, "rb") as src, open(target, "wb") as out:
        while True:
            data = src.read(_READ)
            if not data:
                break
            size += len(data)
            crc = zlib.crc32(data, crc)
            out.write(compressor.compress(data))
        out.write(compressor.flush())
    return _Deflated(target, crc, size)


@contextlib.contextmanager
def ahead(wb: Any, scratch: Path | None) -> Iterator[None]:
    """While ``wb`` is closed: its large parts deflated by a thread as the zip takes the others (see the module).
    ``scratch``: where the deflated parts are kept until they go in (none: nothing is done)."""
    if not AHEAD or scratch is None or not reuse.PARTS_STREAMED or not reuse.ZIP_COPY:
        yield
        return
    if xlsxwriter.workbook.ZipFile is not zipfile_stock:  # (a round's kept sheets: reuse.zipping's zip)
        yield
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xltemplate-deflate")
    futures: dict[str, Future[_Deflated]] = {}
    made: list[Path] = []
    real_packager = wb._get_packager

    def packager() -> Any:
        got = real_packager()
        create = got._create_package

        def create_package() -> Any:
            files = create()
            # the last parts first: the zip takes them in order, the thread from the end, so that they meet once
            for n, (name, _arc, binary) in reversed(list(enumerate(files))):
                if binary or not isinstance(name, str):
                    continue
                with contextlib.suppress(OSError):
                    if os.path.getsize(name) >= LARGE:
                        target = scratch / f"deflate-{os.getpid()}-{n}"
                        made.append(target)
                        futures[name] = pool.submit(_deflate, name, target, zlib.Z_DEFAULT_COMPRESSION)
            return files

        got._create_package = create_package
        return got

    class Zip(reuse._KeepingZip):
        kept = []

        def write(self, filename: Any, arcname: Any = None, compress_type: Any = None, compresslevel: Any = None) -> None:
            z: Any = self
            future = futures.pop(filename, None) if isinstance(filename, str) else None
            deflated: _Deflated | None = None
            if (future is not None and not future.cancel() and compress_type is None and compresslevel is None
                    and z._seekable and self.compression == zipfile_deflated and self.compresslevel is None):
                try:
                    deflated = future.result()
                except OSError:
                    deflated = None  # (the thread's file could not be written: the zip deflates it, as before)
            if deflated is None or deflated.size != os.path.getsize(filename):
                super(reuse._KeepingZip, self).write(filename, arcname, compress_type, compresslevel)
                return
            self._copy(cast(Any, deflated), deflated.crc, deflated.size, filename, arcname)  # (its pieces, as a kept part's)
            with contextlib.suppress(OSError):
                deflated.path.unlink()

    wb._get_packager = packager
    xlsxwriter.workbook.ZipFile = Zip
    try:
        yield
    finally:
        xlsxwriter.workbook.ZipFile = zipfile_stock
        del wb._get_packager
        pool.shutdown(wait=True, cancel_futures=True)
        for path in made:
            with contextlib.suppress(OSError):
                path.unlink()


zipfile_stock = xlsxwriter.workbook.ZipFile
zipfile_deflated = xlsxwriter.workbook.ZIP_DEFLATED

__all__ = ["AHEAD", "LARGE", "ahead"]
