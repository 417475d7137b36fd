"""The content-addressed archive: every file the ledger records, kept by its sha256.

A file is stored once as ``ROOT/ab/<sha256><suffix>`` (``ab`` = the first two hex
digits, so no folder holds more than a few hundred files; the suffix, ``.xlsx``
as received, lets the clerk open a copy with a double click). Copies are real
copies, not hard links: a hard link shares the inode, so a unit's file
overwritten in the inbox would silently change the archived return.

Each source is read once: small files into memory (hashing as they come in),
large ones streamed into a temporary file while hashed. A file whose sha256 the
archive already has is not written again, so an unchanged inbox costs one read
per file. New copies are written to ``ROOT/.tmp``, fsynced (in a thread pool:
the operating system batches concurrent fsyncs), re-read to verify the sha256,
made read-only and published without overwriting anything (a hard link of the
temporary file, else a rename). A process killed at any point leaves at worst
temporary files, removed by :meth:`Archive.clean_temporary`, and published
copies the ledger has not recorded yet, found by :meth:`Archive.names`.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import errno
import hashlib
import itertools
import os
import re
import stat
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..fsutil import os_error_reason
from ..errors import LedgerError

TMP_DIR = ".tmp"
#: Threads that read and hash the sources (hashlib lets go of the GIL on a buffer of more than 2 KB, and a read
#: waits on the disk); 1: one at a time in the caller's thread (the tests compare both). READ_AHEAD: files read ahead.
#: One by default: over 10,000 returns of 18 KB two threads were no quicker (1.28–2.01 s against 1.16–1.73 s, load
#: 5.9, issue 15's fourth pass): a file's sha256 is about a tenth of its ~120 µs, the rest is Python and system
#: calls, which threads do not share out. Two may pay for large files on a quiet machine.
HASH_THREADS = 1
READ_AHEAD = 4
#: An input is not read again when its path's file is the one a run hashed, by every measure the system keeps
#: (device, inode, size, modification and inode change times to the nanosecond), and both times were older than the
#: start of that hashing by STAT_MARGIN_NS: git's rule for a racily clean index entry. Whatever changes a file's bytes
#: (a write, a truncation, a file renamed over it) sets its inode change time to the time of the change, and no
#: program can set it back; a change after the hashing began is therefore at least that late (less the file system's
#: timestamp granularity, which the margin covers, with a clock of the file server's that runs behind ours by less),
#: so it cannot leave an inode change time older than the margin. POSIX only: on Windows st_ctime is the creation
#: time, which a write leaves as it is. ``collect --rehash`` reads every input. False: every input is read.
STAT_SKIP = os.name == "posix"
STAT_MARGIN_NS = 60 * 10**9
#: (device:inode, size, mtime_ns, ctime_ns) of an input, as the ledger's ``stats`` keeps it.
Stat = tuple[str, int, int, int]


def stat_of(st: os.stat_result) -> Stat:
    return (f"{st.st_dev}:{st.st_ino}", st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# Files up to this size are read into memory whole; larger ones are streamed.
MEMORY_LIMIT = 8 << 20
_CHUNK = 1 << 20
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
_NAME = re.compile(r"([0-9a-f]{64})(\.[a-z0-9]{1,10})?")


def path_text(path: str) -> str:
    """A path as the ledger stores it: itself, or, for a name that is not UTF-8 (what unzip makes of a
    zip from Chinese Windows: Python holds its bytes as surrogates, which SQLite cannot store as
    text), ``hex:`` and its bytes. No absolute path starts with ``hex:``, so the two never meet."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return "hex:" + os.fsencode(path).hex()


def path_of(text: str) -> str:
    """The path a stored text stands for (the inverse of :func:`path_text`)."""
    return os.fsdecode(bytes.fromhex(text[4:])) if text.startswith("hex:") else text


@dataclass(frozen=True, slots=True)  # (slots: one held for every input of a round's run: issue 15)
class Stored:
    """One source file hashed and present in the archive."""

    path: str  # the source, absolute
    sha256: str
    size: int
    name: str  # where the copy lives, relative to the archive root
    mtime: dt.datetime  # the source's modification time (UTC)
    published: bool  # this call put the copy there
    stat: "Stat | None" = None  # the source's stat when read (None: not read, known unchanged: see STAT_SKIP)
    # (Ledger.ingest's Intake.seen hold none: it is recorded, then let go: see ledger.store.SEEN_WITHOUT_STAT)


@dataclass(frozen=True)
class Unread:
    """A source file whose bytes could not be read: no sha256, so no place in the archive."""

    path: str
    reason: str


@dataclass
class _Pending:
    stored: Stored
    tmp: Path


def default_archive_dir(ledger: Path) -> Path:
    """``round.xlt.db`` → ``round.xlt.archive`` beside it."""
    stem = ledger.name[:-3] if ledger.name.lower().endswith(".db") else ledger.name
    return ledger.with_name(stem + ".archive")


def archive_setting(ledger: Path, archive_dir: Path) -> str:
    """The archive folder as the ledger records it: relative to the ledger's folder when inside it (the round can move)."""
    base = ledger.parent.resolve()
    target = archive_dir.resolve()
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        return str(target)


def archive_root(ledger: Path, setting: str, given: str | os.PathLike[str] | None) -> Path:
    """The archive folder of a ledger; ``given`` (the clerk's --archive) must be that folder."""
    root = Path(setting) if os.path.isabs(setting) else ledger.parent / setting
    if given is not None and Path(given).resolve() != root.resolve():
        raise LedgerError(f"{ledger}：这个台账的归档文件夹是 {root}，与给出的 {given} 不同。"
                          f"请去掉归档文件夹参数，或给出 {root}。")
    return root


def name_for(sha256: str, suffix: str) -> str:
    """The archive name of a file: ``ab/<sha256><suffix>`` (suffix lower-cased, dropped when odd)."""
    suffix = suffix.lower()
    if not _SUFFIX.fullmatch(suffix):
        suffix = ""
    return f"{sha256[:2]}/{sha256}{suffix}"


#: :meth:`Archive.text` joins text; False: it makes the Path and its text (the tests compare).
TEXT_PATHS = True
#: A name :func:`name_for` makes: what :meth:`Archive.text` joins as text (Path would read it the same).
_STORED_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}(?:\.[a-z0-9]{1,10})?")


class Archive:
    """A folder of read-only copies named by their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._text: str | None = None  # (str(root), made once)

    def path(self, name: str) -> Path:
        return self.root / name

    def text(self, name: str) -> str:
        """``str(self.path(name))`` without making a Path (a run asks for every file's: issue 15). The name is the
        archive's own (:func:`archive_name`: a folder and a file name, neither with a separator, or ``..``)."""
        if not TEXT_PATHS or not _STORED_NAME.fullmatch(name):
            return str(self.path(name))  # (not a name this archive makes: Path's reading of it)
        root = self._text
        if root is None:
            root = self._text = str(self.root)
        if os.sep == "/" and os.altsep is None:  # (what os.path.join makes of it on POSIX, without its checks)
            return f"{root}{name}" if root.endswith("/") else f"{root}/{name}"
        folder, _, file = name.partition("/")
        return os.path.join(root, folder, file)

    def clean_temporary(self) -> int:
        """Remove what killed runs left in ``.tmp`` (call only while holding the ledger's lock)."""
        removed = 0
        tmp = self.root / TMP_DIR
        if tmp.is_dir():
            for entry in tmp.iterdir():
                try:
                    _remove(entry)
                    removed += 1
                except OSError:
                    pass
        return removed

    def names(self) -> Iterator[tuple[str, str]]:
        """Every published copy as (sha256, name), for finding copies the ledger never recorded."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for entry in sorted(sub.iterdir()):
                m = _NAME.fullmatch(entry.name)
                if m and m.group(1).startswith(sub.name):
                    yield m.group(1), f"{sub.name}/{entry.name}"

    def verify(self, name: str, sha256: str) -> bool:
        """Whether the copy at ``name`` is still there with the bytes it was named after."""
        try:
            return hash_file(self.path(name)) == sha256
        except OSError:
            return False

    def ingest(self, sources: Sequence[str | os.PathLike[str]], known: Mapping[str, str],
               hashed: Mapping[str, tuple[Stat, str, int]] | None = None) -> list[Stored | Unread]:
        """Hash every source and make sure the archive holds a copy; one result per source, in order.

        ``known`` maps the sha256 of files the ledger already records to their
        archive names: those are not copied again (unless their copy has gone).
        ``hashed``: what each path (as the ledger stores it) looked like when last hashed (its stat, sha256 and when
        the hashing began, ns): a file unchanged since, by :data:`STAT_SKIP`'s rule, is not read again.
        """
        with self._writing():
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
        results: list[Stored | Unread] = []
        pending: dict[str, _Pending] = {}
        present: set[str] = set()
        for path, got in self._reads([os.path.abspath(src) for src in sources], known, hashed):
            if isinstance(got, Stored):
                if self._has(got.name, got.size):  # (unchanged, and its copy is there: else read, as any other)
                    present.add(got.sha256)
                    results.append(got)
                    continue
                got = self._one(path)
            if isinstance(got, OSError):
                results.append(Unread(path, _reason(got)))
                continue
            sha, size, mtime, data, spill, st = got
            name = known.get(sha) or name_for(sha, os.path.splitext(path)[1])
            fresh = sha not in pending and sha not in present and not self._has(name, size)
            stored = Stored(path, sha, size, name, mtime, published=fresh, stat=st)
            if fresh:
                if spill is not None:
                    tmp = spill
                else:
                    with self._writing():
                        tmp = self._write_temp(data)
                pending[sha] = _Pending(stored, tmp)
            else:
                present.add(sha)
                if spill is not None:
                    spill.unlink()
            results.append(stored)
        if pending:
            with self._writing():
                self._publish(list(pending.values()))
        return results

    def _one(self, path: str) -> "_Read | OSError":
        try:
            return self._read(path)
        except OSError as exc:
            return exc

    def _unchanged(self, path: str, known: Mapping[str, str], hashed: Mapping[str, tuple[Stat, str, int]] | None
                   ) -> Stored | None:
        """The source as last hashed, when it is unchanged since by :data:`STAT_SKIP`'s rule; else None (read it)."""
        if not hashed or not STAT_SKIP:
            return None
        last = hashed.get(path_text(path))
        if last is None:
            return None
        then, sha, began = last
        try:
            st = os.stat(path)
        except OSError:
            return None  # (reading it says why)
        name = known.get(sha)
        if (name is None or not stat.S_ISREG(st.st_mode) or stat_of(st) != then
                or max(st.st_mtime_ns, st.st_ctime_ns) >= began - STAT_MARGIN_NS):
            return None
        mtime = dt.datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=dt.timezone.utc)
        return Stored(path, sha, st.st_size, name, mtime, published=False)

    def _reads(self, paths: list[str], known: Mapping[str, str] | None = None,
               hashed: Mapping[str, tuple[Stat, str, int]] | None = None) -> Iterator[tuple[str, "_Read | Stored | OSError"]]:
        """Each path with what :meth:`_read` made of it (or the OSError that stopped it; or, unchanged since it was
        last hashed, its :class:`Stored` as then), in order: read and hashed in :data:`HASH_THREADS` threads, at
        most :data:`READ_AHEAD` files ahead of the caller (memory stays bounded: a file is at most MEMORY_LIMIT in
        memory)."""
        def one(path: str) -> "_Read | Stored | OSError":
            if hashed:
                same = self._unchanged(path, known or {}, hashed)
                if same is not None:
                    return same
            return self._one(path)

        if HASH_THREADS <= 1 or len(paths) <= 1:
            for path in paths:
                yield path, one(path)
            return
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            ahead: collections.deque[tuple[str, Future[Any]]] = collections.deque()
            rest = iter(paths)
            for path in itertools.islice(rest, READ_AHEAD):
                ahead.append((path, pool.submit(one, path)))
            while ahead:
                path, future = ahead.popleft()
                following = next(rest, None)
                if following is not None:
                    ahead.append((following, pool.submit(one, following)))
                yield path, future.result()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Failures to write the archive (disk full, no permission) stop the run with a clear message."""
        try:
            yield
        except OSError as exc:
            raise LedgerError(f"无法写入归档文件夹 {self.root}：{os_error_reason(exc)}。台账中已记录的内容不受影响。") from exc

    def _has(self, name: str, size: int) -> bool:
        try:
            have = os.stat(self.text(name)).st_size
        except FileNotFoundError:
            return False
        if have != size:
            raise LedgerError(f"归档文件 {self.path(name)} 已损坏（大小 {have} 字节，应为 {size}）。"
                              "请把它移出归档文件夹后重新运行，程序会从收件文件重新归档。")
        return True

    def _read(self, path: str) -> "_Read":
        """Hash a source in one read: (sha256, size, mtime, bytes if small, spilled temp file if large, its stat
        when opened; None when it grew while read)."""
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            mtime = dt.datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=dt.timezone.utc)
            data = fh.read(MEMORY_LIMIT + 1) if st.st_size <= MEMORY_LIMIT else b""
            if len(data) <= MEMORY_LIMIT and st.st_size <= MEMORY_LIMIT:
                kept = stat_of(st) if len(data) == st.st_size and stat.S_ISREG(st.st_mode) else None
                return hashlib.sha256(data).hexdigest(), len(data), mtime, data, None, kept
            # Large (or grew while read): stream the rest into a temporary file, hashing as it goes.
            h = hashlib.sha256(data)
            with self._writing():
                tmp = self._write_temp(data)
            size = len(data)
            try:
                with self._writing():
                    out = open(tmp, "ab")
                with out:
                    for block in iter(lambda: fh.read(_CHUNK), b""):  # a read error: Unread, as above
                        h.update(block)
                        with self._writing():
                            out.write(block)
                        size += len(block)
            except BaseException:
                tmp.unlink()
                raise
            return h.hexdigest(), size, mtime, b"", tmp, stat_of(st) if size == st.st_size and stat.S_ISREG(st.st_mode) else None

    def _write_temp(self, data: bytes) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.root / TMP_DIR, suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return Path(tmp)

    def _publish(self, pending: list[_Pending]) -> None:
        """fsync, verify and publish new copies; then fsync the folders that received them."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda p: _fsync(p.tmp), pending))
            folders: set[Path] = set()
            for p in pending:
                if hash_file(p.tmp) != p.stored.sha256:
                    p.tmp.unlink()
                    raise LedgerError(f"归档 {p.stored.path} 时，写入 {self.root} 的副本与原文件内容不符（磁盘故障？）。"
                                      "请检查归档文件夹所在磁盘后重新运行。")
                target = self.path(p.stored.name)
                target.parent.mkdir(exist_ok=True)
                os.chmod(p.tmp, 0o444)
                _place(p.tmp, target)
                folders.add(target.parent)
            # Up to 256 folders a batch: one at a time, their fsyncs would cost more than the copies.
            list(pool.map(_fsync_dir, sorted(folders)))


#: What :meth:`Archive._read` makes of a source.
_Read = tuple[str, int, dt.datetime, bytes, "Path | None", "Stat | None"]


def _place(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` without ever replacing an existing file (same name = same bytes)."""
    if os.name == "nt":  # pragma: no cover - os.rename refuses to replace a file on Windows
        try:
            os.rename(tmp, target)
        except FileExistsError:
            _remove(tmp)
        return
    try:
        os.link(tmp, target)  # fails if target exists: no window in which a copy could be replaced
    except FileExistsError:
        pass
    except OSError:
        if not target.exists():  # no hard links here (FAT, some network shares)
            os.replace(tmp, target)
            return
    tmp.unlink()


def _remove(path: Path) -> None:
    """Delete a file of ours; on Windows a read-only file must first be made writable.

    Never chmod on POSIX: a temporary file may share its inode with a published copy.
    """
    if os.name == "nt":  # pragma: no cover
        path.chmod(0o600)
    path.unlink()


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    _fsync(path)


def _reason(exc: OSError) -> str:
    """Why a source could not be read, in the clerk's words, with what to do."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "没有读取权限。请检查文件权限（或关闭正在占用它的程序）后重新运行。"
    if exc.errno == errno.ENOENT:
        return "文件在读取前被删除或移走。请确认文件位置后重新运行。"
    if exc.errno == errno.EISDIR:
        return "这是一个文件夹，不是文件。"
    return f"读取文件时出错（{exc.strerror or exc}）。请确认文件完好、可以打开后重新运行。"
