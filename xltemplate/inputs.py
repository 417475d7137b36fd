"""Turn the paths given on the command line into the files to read, accounting for each one."""

from __future__ import annotations

import heapq
import os
import stat
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, overload

from .pathtext import shown

#: Extensions read as returns when found in a folder; anything named explicitly is always read.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
#: Spreadsheet files that are not what was sent: read so that they are reported, never dropped.
OTHER_SHEET_SUFFIXES = (".xls", ".xlsb", ".ods", ".et", ".ett", ".xltx", ".xltm")
#: What a roster is saved as; given where returns are expected, it is almost surely a slip (see :func:`roster_like`).
ROSTER_SUFFIXES = (".csv", ".txt")


#: Keep the files found as one buffer of their encoded paths (about 40 bytes a file instead of a ``Path``'s
#: 350: 35 MB at 100,000 returns, issue 15), each made a ``Path`` again when it is asked for; False: a list
#: of ``Path`` (the tests compare).
PACKED_PATHS = True

#: With PACKED_PATHS, each path is kept as what it adds to the one before it (the bytes they share at the start
#: counted, not written: files found in one folder share all of it but their names; about 12 bytes a file instead
#: of 46, 3 MB less at 100,000, held until the roll-up is written, issue 15); False: each path whole (the tests
#: compare).
FRONT_CODED = True
#: With FRONT_CODED, every how many paths one is written whole (where a path asked for by its index is decoded from).
_RESTART = 16


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class PathList(Sequence[Path]):
    """Paths kept as their bytes (:func:`os.fsencode`, so any name comes back exactly) in one buffer, in order.

    A list of ``Path`` as far as reading goes (length, index, slices, iteration, equality with a list); grows by
    :meth:`append` only. Each access makes a new ``Path`` object.

    With :data:`FRONT_CODED` (decided when the list is made), an entry is the count of leading bytes it shares with
    the path before it and the length of the rest (each a base-128 number), then the rest; every
    :data:`_RESTART`-th entry shares nothing, and ``_ends`` holds where each of those starts. Otherwise ``_ends``
    holds where each path ends.
    """

    __slots__ = ("_blob", "_ends", "_front", "_n", "_last")

    def __init__(self, paths: Iterable[str | os.PathLike[str]] = ()) -> None:
        self._blob = bytearray()
        self._ends = array("Q")
        self._front = FRONT_CODED
        self._n = 0
        self._last = b""  # (FRONT_CODED) the last path appended
        for p in paths:
            self.append(p)

    def append(self, path: str | os.PathLike[str]) -> None:
        raw = os.fsencode(path)
        if not self._front:
            self._blob += raw
            self._ends.append(len(self._blob))
            self._n += 1
            return
        if self._n % _RESTART == 0:
            self._ends.append(len(self._blob))
            shared = 0
        else:
            last, most = self._last, min(len(raw), len(self._last))
            shared = 0
            while shared < most and raw[shared] == last[shared]:
                shared += 1
        self._blob += _varint(shared) + _varint(len(raw) - shared) + raw[shared:]
        self._last = raw
        self._n += 1

    def _decoded(self, start: int, count: int) -> Iterator[bytes]:
        """(FRONT_CODED) ``count`` paths' bytes, from the restart entry at offset ``start`` on."""
        blob, prev = self._blob, b""
        at = start
        for _ in range(count):
            numbers = []
            for _two in range(2):
                value = shift = 0
                while True:
                    byte = blob[at]
                    at += 1
                    value |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                numbers.append(value)
            shared, rest = numbers
            prev = prev[:shared] + bytes(blob[at:at + rest])
            at += rest
            yield prev

    def _raw(self, n: int) -> bytes:
        if self._front:
            first = n - n % _RESTART
            *_, got = self._decoded(self._ends[first // _RESTART], n - first + 1)
            return got
        start = self._ends[n - 1] if n else 0
        return bytes(self._blob[start:self._ends[n]])

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, n: int) -> Path: ...
    @overload
    def __getitem__(self, n: slice) -> list[Path]: ...
    def __getitem__(self, n: int | slice) -> Path | list[Path]:
        if isinstance(n, slice):
            return [self[i] for i in range(*n.indices(len(self)))]
        if n < 0:
            n += self._n
        if not 0 <= n < self._n:
            raise IndexError("PathList index out of range")
        return Path(os.fsdecode(self._raw(n)))

    def __iter__(self) -> Iterator[Path]:
        if self._front:
            for raw in self._decoded(0, self._n):
                yield Path(os.fsdecode(raw))
            return
        start = 0
        for end in self._ends:
            yield Path(os.fsdecode(bytes(self._blob[start:end])))
            start = end

    def texts(self) -> Iterator[str]:
        """Each path as its text (``str`` of the ``Path`` iteration gives, without making the ``Path``: the paths are
        appended as ``Path`` texts, which pathlib gives back unchanged)."""
        if self._front:
            return (os.fsdecode(raw) for raw in self._decoded(0, self._n))
        return (os.fsdecode(self._raw(n)) for n in range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PathList, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"PathList({[str(p) for p in self]!r})"


def _files() -> "list[Path] | PathList":
    return PathList() if PACKED_PATHS else []


@dataclass
class Inputs:
    files: "list[Path] | PathList" = field(default_factory=_files)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason in Chinese)


#: A folder's real path found once, and each file in it stat'ed once (lstat: a link, or the file itself), rather than
#: each file's real path found component by component (ten system calls a file); False: as before (tests compare).
REAL_ONCE = True


def discover(paths: list[str | os.PathLike[str]]) -> Inputs:
    """Expand folders (recursively, sorted) into workbook files; every entry found is a file or a skipped line.

    A file named explicitly is always read (a ``~$`` file, a link too): only what is found in a folder
    may be skipped. Links found in a folder are followed only to files inside the given inputs, and
    such a file is listed once, by its real path; a link never hides its target. Links that lead
    outside, dangling links, linked folders, devices and pipes, and folders that cannot be opened are
    listed as skipped with the reason. So files in = files read + files skipped, always.
    """
    return _Discovery(paths).run()


#: Walk a folder without keeping every file's real path in a dict (issue 15: the dict was a 70 MB peak at 100,000
#: returns): a file found in a walk is known by its folder's real path and its name (as REAL_ONCE finds it), and is
#: looked for among the files listed (in the walk's order, by bisection) only when a link, a file named explicitly or
#: an overlapping folder asks; False: :meth:`_Discovery.walk`, every file's real path kept (the tests compare).
WALK_LIGHT = True


@dataclass
class _Walk:
    """A folder walked light: its files are ``files[start:end]``, in the walk's order (see :func:`_walk_order`)."""

    top: Path
    real: str  # os.path.realpath(top)
    start: int
    end: int = -1  # -1 while it is walked
    bisectable: bool = True  # False once a folder named x.xlsx is listed among the files: its order is not the walk's


class _Discovery:
    def __init__(self, paths: list[str | os.PathLike[str]]) -> None:
        self.paths = [Path(p) for p in paths]
        # The given inputs, as real paths: a link may lead only inside them.
        self.roots = [os.path.realpath(p) for p in self.paths if os.path.lexists(p)]
        self.out = Inputs()
        # real path → the path it is listed under (read or skipped); with WALK_LIGHT, not the files a walk
        # listed (see self.walks and listed())
        self.accounted: dict[str, str] = {}
        self.links: list[Path] = []  # links to files inside the inputs, resolved once every folder is walked
        self.walks: list[_Walk] = []  # the folders walked light, in order

    def run(self) -> Inputs:
        for p in self.paths:
            if p.is_dir() and p.suffix.lower() not in WORKBOOK_SUFFIXES:
                if WALK_LIGHT:
                    self.walk_light(p)
                else:
                    self.walk(p)
            elif os.path.lexists(p) and not p.is_dir() and not _regular(p):
                self.skip(p, "不是普通文件（设备、管道或套接字），未读取")
            else:
                self.add(p, explicit=True)  # a file, or a path that does not exist: reported, not dropped
        for link in self.links:
            target = os.path.realpath(link)
            listed = self.listed(target)
            if listed is not None:
                self.skip(link, f"链接，指向的文件已按实际路径列出（{shown(listed)}），不重复读取", mark=False)
            elif _wanted(Path(target)):
                self.add(Path(target))  # the link stands for a file no folder listed: listed once, by its real path
            else:
                self.skip(link, "链接，指向的不是工作簿文件", mark=False)
        return self.out

    def listed(self, real: str, besides: "_Walk | None" = None) -> str | None:
        """The path the file whose real path is ``real`` is listed under (read or skipped), or None; ``besides``:
        a walk not to look in."""
        got = self.accounted.get(real)
        if got is not None:
            return got
        for w in self.walks:
            if w is besides or not w.bisectable:
                continue  # not bisectable: its files are in self.accounted (see walk_light)
            rel = _below(real, w.real)
            if rel is None:
                continue
            want = _walk_order(Path(rel).parts)
            n_top = len(w.top.parts)
            files = self.out.files
            lo, hi = w.start, (w.end if w.end >= 0 else len(files))
            while lo < hi:
                mid = (lo + hi) // 2
                if _walk_order(files[mid].parts[n_top:]) < want:
                    lo = mid + 1
                else:
                    hi = mid
            end = w.end if w.end >= 0 else len(files)
            if lo < end and _walk_order(files[lo].parts[n_top:]) == want:
                return str(files[lo])
        return None

    def walk_light(self, top: Path) -> None:
        """:meth:`walk`, the same entries listed and skipped in the same order and words, without a real path
        and a dict entry for each file (see :data:`WALK_LIGHT`): one ``lstat`` a file."""
        real_top = os.path.realpath(top)
        # a folder given twice, or inside another given folder: each file is looked for among those listed
        overlaps = any(real_top == w.real or _below(real_top, w.real) is not None or _below(w.real, real_top) is not None
                       for w in self.walks)
        me = _Walk(top, real_top, len(self.out.files))
        self.walks.append(me)
        real_of = {str(top): real_top}  # each folder's real path, from its parent's (no folder walked is a link)

        def unreadable(exc: OSError) -> None:
            self.skip(Path(exc.filename) if exc.filename else top, f"无法打开文件夹（{exc.strerror or exc}），其中的文件未读取；请检查权限")

        files = self.out.files

        def add(child: str, name: str, key: str) -> None:
            # no file is listed twice by one walk (its folders are not links): only what was listed before it is
            # looked at, and this walk's files are kept out of self.accounted
            if (key in self.accounted or (overlaps and self.listed(key, besides=me) is not None)
                    or name.startswith("~$") or not me.bisectable):
                self.add(Path(child), real=key, besides=me)
            else:
                if isinstance(files, PathList):
                    files.append(child)
                else:
                    files.append(Path(child))

        walked: Iterable[tuple[str, list[str], Iterable[str]]]
        if PACKED_NAMES:
            walked = _sorted_walk(os.fspath(top), unreadable)
        else:
            walked = ((root, dirs, sorted(names)) for root, dirs, names in os.walk(top, followlinks=False, onerror=unreadable))
        for root, dirs, names in walked:
            real_root = real_of.pop(root, None)
            if real_root is None:
                real_root = os.path.realpath(root)
            dirs.sort()
            # each file as a string, its folder's written as a Path writes it (no Path a file: a Path interns each of
            # its parts, and the interpreter's table of interned strings, grown to hold 100,000 names at once, never
            # shrinks: 3.7 MB kept, issue 15)
            shown_root = str(Path(root))
            for name in names:  # (in sorted order)
                child = name if shown_root == "." else os.path.join(shown_root, name)
                try:
                    mode: int | None = os.lstat(child).st_mode
                except OSError:
                    mode = None  # cannot tell (gone, no permission …): reading it reports why
                if mode is not None and stat.S_ISLNK(mode):
                    self.link(Path(child))
                elif mode is not None and not stat.S_ISREG(mode):
                    self.skip(Path(child), "不是普通文件（设备、管道或套接字），未读取")
                elif _suffix(name).lower() in _WANTED:
                    add(child, name, os.path.join(real_root, name))
                else:
                    self.skip(Path(child), "不是工作簿文件（扩展名不是 .xlsx/.xlsm）")
            for d in list(dirs):
                sub = Path(root) / d
                if os.path.islink(sub):
                    dirs.remove(d)
                    self.linked_folder(sub)
                elif sub.suffix.lower() in WORKBOOK_SUFFIXES:
                    # a folder named x.xlsx, reported as unreadable, not walked: listed out of the walk's order,
                    # so this walk's files go to self.accounted from here on (rare)
                    if me.bisectable:
                        me.bisectable = False
                        self._account_walk(me)
                    self.add(sub)
                    dirs.remove(d)
                else:
                    real_of[os.path.join(root, d)] = os.path.join(real_root, d)
        me.end = len(self.out.files)

    def _account_walk(self, w: _Walk) -> None:
        """Put the files walk ``w`` listed so far in self.accounted, by their real paths."""
        n_top = len(w.top.parts)
        for p in self.out.files[w.start:]:
            self.accounted.setdefault(os.path.join(w.real, *p.parts[n_top:]), str(p))

    def walk(self, top: Path) -> None:
        def unreadable(exc: OSError) -> None:
            self.skip(Path(exc.filename) if exc.filename else top, f"无法打开文件夹（{exc.strerror or exc}），其中的文件未读取；请检查权限")

        for root, dirs, names in os.walk(top, followlinks=False, onerror=unreadable):
            dirs.sort()
            real_root = os.path.realpath(root) if REAL_ONCE else None
            for name in sorted(names):
                child = Path(root) / name
                if real_root is None:
                    is_link, regular = os.path.islink(child), _regular(child)
                else:  # one lstat: the link, or the file itself (what stat would say of it)
                    try:
                        mode = os.lstat(child).st_mode
                        is_link, regular = stat.S_ISLNK(mode), stat.S_ISREG(mode)
                    except OSError:
                        is_link, regular = False, True  # (as islink and _regular say of a file they cannot stat)
                if is_link:
                    self.link(child)
                elif not regular:
                    self.skip(child, "不是普通文件（设备、管道或套接字），未读取")
                elif _wanted(child):
                    # (not a link: its real path is its folder's and its name, found once a folder, not a file)
                    self.add(child, real=os.path.join(real_root, name) if real_root is not None else None)
                else:
                    self.skip(child, "不是工作簿文件（扩展名不是 .xlsx/.xlsm）")
            for d in list(dirs):
                sub = Path(root) / d
                if os.path.islink(sub):
                    dirs.remove(d)
                    self.linked_folder(sub)
                elif sub.suffix.lower() in WORKBOOK_SUFFIXES:
                    self.add(sub)  # a folder named x.xlsx: reported as unreadable, not walked
                    dirs.remove(d)

    def linked_folder(self, sub: Path) -> None:
        """A link to a folder, met in a walk: not followed (its files are read by their real paths, if inside)."""
        real = os.path.realpath(sub)
        if self.inside(real):
            self.skip(sub, f"指向输入中的文件夹（{shown(real)}）的链接：其中的文件按实际路径读取，不重复读取", mark=False)
        else:
            self.skip(sub, f"指向输入之外的文件夹（{shown(real)}）的链接，未读取", mark=False)

    def link(self, child: Path) -> None:
        if not child.exists():
            self.skip(child, "链接指向的文件不存在，未读取", mark=False)
            return
        real = os.path.realpath(child)
        if not self.inside(real):
            self.skip(child, f"链接指向输入之外的文件（{shown(real)}），未读取", mark=False)
        elif not _regular(child):
            self.skip(child, "链接指向的不是普通文件，未读取", mark=False)
        else:
            self.links.append(child)

    def inside(self, real: str) -> bool:
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)

    def add(self, p: Path, explicit: bool = False, real: str | None = None, besides: _Walk | None = None) -> None:
        key = real if real is not None else os.path.realpath(p) if os.path.lexists(p) else str(p.absolute())
        listed = self.listed(key, besides)
        if listed is not None:
            self.skip(p, f"与已列出的“{shown(listed)}”是同一个文件，只读一次", mark=False)
            return
        self.accounted[key] = str(p)
        if p.name.startswith("~$") and not explicit:
            self.out.skipped.append((str(p), "Excel 临时锁定文件（~$），不是提交的文件"))
        else:
            self.out.files.append(p)

    def skip(self, p: Path, why: str, mark: bool = True) -> None:
        if mark:
            self.accounted.setdefault(os.path.realpath(p), str(p))
        self.out.skipped.append((str(p), why))


#: The light walk gathers a folder's file names in packed sorted runs of :data:`_NAMES_RUN` and merges them as it
#: goes through them, rather than as a list of every name and a sorted copy of it (~7 MB at 100,000 files in one
#: folder, the peak of discovery, issue 15); False: ``os.walk``'s lists, sorted (the tests compare).
PACKED_NAMES = True
_NAMES_RUN = 4096


def _sorted_walk(top: str, onerror: Callable[[OSError], None]) -> Iterator[tuple[str, list[str], Iterable[str]]]:
    """``os.walk(top, followlinks=False, onerror=onerror)``, top down (the same folders in the same order, a folder
    that cannot be listed or stops being listable reported and left out alike), but each folder's file names
    given in sorted order as an iterator (to be gone through before the next folder is asked for)."""
    dirs: list[str] = []
    runs: list[bytes] = []
    run: list[str] = []
    try:
        entries = os.scandir(top)
    except OSError as error:
        onerror(error)
        return
    with entries:
        while True:
            try:
                try:
                    entry = next(entries)
                except StopIteration:
                    break
            except OSError as error:
                onerror(error)
                return
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False  # (as os.walk: not a folder)
            if is_dir:
                dirs.append(entry.name)
            else:
                run.append(entry.name)
                if len(run) >= _NAMES_RUN:
                    runs.append(_packed_run(run))
                    run = []
    if runs and run:
        runs.append(_packed_run(run))
    del entries
    names: Iterable[str] = heapq.merge(*map(_unpacked_run, runs)) if runs else sorted(run)
    del run
    yield top, dirs, names
    for dirname in dirs:
        sub = os.path.join(top, dirname)
        if not os.path.islink(sub):
            yield from _sorted_walk(sub, onerror)


def _packed_run(names: list[str]) -> bytes:
    # (a name holds no NUL: each ends where the next NUL is; os.fsencode gives any name back exactly)
    return b"\0".join(os.fsencode(name) for name in sorted(names))


def _unpacked_run(run: bytes) -> Iterator[str]:
    start = 0
    while True:
        end = run.find(b"\0", start)
        if end < 0:
            yield os.fsdecode(run[start:])
            return
        yield os.fsdecode(run[start:end])
        start = end + 1


def _below(path: str, top: str) -> str | None:
    """``path`` relative to ``top`` when it lies strictly below it (both real paths), else None."""
    prefix = top.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) and len(path) > len(prefix) else None


def _walk_order(parts: Sequence[str]) -> tuple[tuple[int, str], ...]:
    """Where a file lies in a walk's order (``parts``: its path below the top): a folder's files, sorted by name,
    come before its sub-folders' files, the sub-folders taken in the order of their names."""
    return tuple((1, d) for d in parts[:-1]) + ((0, parts[-1]),) if parts else ()


def _wanted(p: Path) -> bool:
    suffix = p.suffix.lower()
    return suffix in WORKBOOK_SUFFIXES or suffix in OTHER_SHEET_SUFFIXES


_WANTED = frozenset(WORKBOOK_SUFFIXES + OTHER_SHEET_SUFFIXES)


def _suffix(name: str) -> str:
    """``Path(name).suffix`` of a file's name (no separator in it), without making a ``Path``."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def _regular(p: Path) -> bool:
    """A regular file (after following links); a device, a pipe or a socket is not read."""
    try:
        return stat.S_ISREG(os.stat(p).st_mode)
    except OSError:
        return True  # cannot tell (no permission …): reading it reports why


def roster_like(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files given as returns that look like a roster (a .csv or .txt named explicitly)."""
    return [Path(p) for p in paths if Path(p).suffix.lower() in ROSTER_SUFFIXES and not Path(p).is_dir()]
