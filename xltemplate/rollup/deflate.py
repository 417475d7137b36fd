"""The roll-up's large parts deflated by a second process while XlsxWriter zips the others (issue 15: collect's tail).

XlsxWriter closes a workbook by writing every part to a file, then putting them in the zip one after the other, each
deflated as it goes in: at 10,000 units tens of MB of XML (the largest part 29 MB), ~1 s of this process's CPU at the very end of a run, with
the other CPU idle (the workers and the roll-up's second process have ended). Here, once the parts are written, a
process forked for it deflates the large ones, the last first, into files of their own, exactly as
:meth:`zipfile.ZipFile.write` would (the same deflate, level and window; zlib gives the same bytes however its input
is cut), and says each one's CRC-32 and size; when the zip comes to a part that process has claimed (a claim file made
atomically, by whichever comes first), it waits for it and the part goes in as deflated there, with the entry
:meth:`zipfile.ZipFile.write` makes (:meth:`.reuse._KeepingZip._copy`, as a round's kept sheets go in); a part it has
not claimed is claimed here and deflated by the zip as before, as is a part it never says (it died). A process, not a
thread: two deflate states at once in this process were ~0.5 MB more of its peak (the collect's main process is held
to what it was, 43 MB at 10,000); the child's pages are the parent's, shared. The same bytes (the tests compare). A round's
zip (:func:`.reuse.zipping`: its kept sheets copied in or read back) is the one whose parts written anew go so
(:data:`.reuse.DEFLATED_AHEAD`); on Linux (fork).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Iterator, cast

import xlsxwriter.workbook

from ..signals import held_for_a_child, worker_started
from . import reuse

#: Deflate the roll-up's large parts in a second process while the zip takes the others (see the module); False: the
#: zip deflates every part itself, as before (the tests compare the bytes).
AHEAD = True
#: Parts smaller than this (bytes) are left to the zip: the hand-over costs more than they take.
LARGE = 256 * 1024
_READ = 1 << 16
#: How long the zip waits for word of a part the second process has claimed before it deflates the part itself (the
#: part's file is still there; what that process made of it is not used): a process stopped or stuck (a stalled disk,
#: SIGSTOP) would otherwise hold the roll-up at its very end for ever. It deflates the largest part (~29 MB at 10,000
#: units) in ~1 s; once the zip has given up on it, it waits for no other part. The same bytes either way.
WAIT_S = 120.0


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
    """In the second process: ``source`` deflated as :meth:`zipfile.ZipFile.write` deflates a file (``zipfile._get_compressor``:
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


def _child(parts: list[tuple[str, Path, Path]], conn: Any, parent: int) -> None:
    """In the second process: each part not claimed by the zip already (its claim file made first, atomically),
    deflated into its file, and said (its name, CRC-32 and size) once done; then out (``os._exit``: nothing of the
    parent's is flushed or finalised twice)."""
    worker_started(parent)  # ignore Ctrl-C, die on SIGTERM, die with the parent
    try:
        for source, target, claim in parts:
            try:
                os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                continue  # (the zip has come to it: it deflates it itself)
            got = _deflate(source, target, zlib.Z_DEFAULT_COMPRESSION)
            conn.send((source, got.crc, got.size))
    except BaseException:  # (a full disk, the parent gone: the zip deflates what it was not told of)
        os._exit(1)
    os._exit(0)


@contextlib.contextmanager
def ahead(wb: Any, scratch: Path | None) -> Iterator[None]:
    """While ``wb`` is closed: its large parts deflated by a second process as the zip takes the others (see the
    module). ``scratch``: where the deflated parts are kept until they go in (none: nothing is done)."""
    if (not AHEAD or scratch is None or not reuse.PARTS_STREAMED or not reuse.ZIP_COPY
            or "fork" not in mp.get_all_start_methods() or not sys.platform.startswith("linux")):
        yield
        return
    base = xlsxwriter.workbook.ZipFile
    if base is zipfile_stock:
        base = reuse._KeepingZip  # (keeping nothing: each part written as the stock zip writes it, or copied in)
    elif not (reuse.DEFLATED_AHEAD and isinstance(base, type) and issubclass(base, reuse._KeepingZip)):
        yield  # (a zip of another's: left as it is)
        return
    parts: dict[str, tuple[Path, Path]] = {}  # a part's file: its deflated file and its claim
    done: dict[str, tuple[int, int]] = {}  # a part's file: its CRC-32 and size, once the second process has said
    second: list[Any] = []  # (the process and this end of its pipe, once started)
    made: list[Path] = []  # (its files and the claims, removed at the end)
    gave_up: list[str] = []  # (the part the zip stopped waiting for: see WAIT_S)
    real_packager = wb._get_packager

    def packager() -> Any:
        got = real_packager()
        create = got._create_package

        def create_package() -> Any:
            files = create()
            # the last parts first: the zip takes them in order, the second process from the end, so that they meet once
            todo = []
            for n, (name, _arc, binary) in reversed(list(enumerate(files))):
                if binary or not isinstance(name, str):
                    continue
                with contextlib.suppress(OSError):
                    if os.path.getsize(name) >= LARGE:
                        base = scratch / f"deflate-{os.getpid()}-{n}"
                        parts[name] = (base, Path(f"{base}.claim"))
                        made.extend(parts[name])
                        todo.append((name, *parts[name]))
            if todo:
                ctx = mp.get_context("fork")
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=_child, args=(todo, theirs, os.getpid()), daemon=True)
                with held_for_a_child():
                    proc.start()
                theirs.close()
                second.extend((proc, mine))
            return files

        got._create_package = create_package
        return got

    def deflated(filename: str) -> _Deflated | None:
        """The part deflated by the second process, waited for; None: the zip deflates it (claimed here first, or the
        second process ended without it)."""
        target, claim = parts.pop(filename)
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return None  # (claimed here: the second process will not take it)
        except FileExistsError:
            pass
        if gave_up:
            return None  # (the second process said nothing for WAIT_S: the zip deflates the rest itself)
        conn = second[1]
        until = time.monotonic() + WAIT_S
        while filename not in done:
            try:
                if not conn.poll(max(0.0, until - time.monotonic())):
                    gave_up.append(filename)
                    return None
                name, crc, size = conn.recv()
            except (EOFError, OSError):
                return None
            done[name] = (crc, size)
        crc, size = done.pop(filename)
        return _Deflated(target, crc, size)

    class Zip(base):  # type: ignore[valid-type,misc]  # (a round's: its kept sheets' parts as reuse.zipping has them)
        def _write_part(self, filename: Any, arcname: Any = None, compress_type: Any = None,
                        compresslevel: Any = None) -> None:
            z: Any = self
            got = None
            if (isinstance(filename, str) and filename in parts and compress_type is None and compresslevel is None
                    and z._seekable and self.compression == zipfile_deflated and self.compresslevel is None):
                got = deflated(filename)
            if got is None or got.size != os.path.getsize(filename):
                super()._write_part(filename, arcname, compress_type, compresslevel)
                return
            self._copy(cast(Any, got), got.crc, got.size, filename, arcname)  # (its pieces, as a kept part's)
            with contextlib.suppress(OSError):
                got.path.unlink()

    wb._get_packager = packager
    was = xlsxwriter.workbook.ZipFile
    xlsxwriter.workbook.ZipFile = Zip
    try:
        yield
    finally:
        xlsxwriter.workbook.ZipFile = was
        del wb._get_packager
        if second:
            proc, conn = second
            proc.join(timeout=0 if parts or gave_up else 5)  # (every part it took is in by now, unless the close was stopped)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
        for path in made:
            with contextlib.suppress(OSError):
                path.unlink()


zipfile_stock = xlsxwriter.workbook.ZipFile
zipfile_deflated = xlsxwriter.workbook.ZIP_DEFLATED

__all__ = ["AHEAD", "LARGE", "WAIT_S", "ahead"]
