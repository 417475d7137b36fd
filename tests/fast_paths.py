"""The fast reader's fast paths and their switches: every test that reads files can run them forced off.

Each switch turns one fast path of the fast reader off; with all of them off (the split path with them,
``readers.sheet.USE_SPLIT``) every part is inflated and parsed in full, and every sheet is read by the
general path. The tests compare what a file gives with the switches on (read twice, so that what was
remembered the first time is used the second) and off: the same submission or the same refusal, but for
files with two faults that the split and the general path name otherwise (see
:func:`differences_on_and_off`).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import xml.parsers.expat
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from xltemplate.errors import Unreadable
from xltemplate.readers import read_submission

#: (module, switch): remembering parts by their compressed bytes, remembering sheets' tails, the strict
#: pattern for cells, remembering skeletons, the strict pattern for shared strings, the strict pattern for defined names,
#: strings of runs remembered by their bytes, skeletons worked out row by row, zlib-ng's inflate (where installed),
#: no second expat pass over <sheetData> where the strict path proved it well-formed, values that are not ASCII proved
#: by one pattern over their text, the zip directory of the plain shape read without zipfile, shared strings cut at
#: every </si>, or matched whole where each is one plain <t>,
#: strings of runs proved remembered whole, a tail proved by its pieces read in its skeleton, its skeleton
#: proved with its lists of data validations and row breaks apart, a new skeleton put together from its rows as
#: the row attributes' pattern cut them, what a tail read in its skeleton gave remembered by its proof, a tail's data
#: validations cut out in C, a workbook's shared strings' cells made once for its sheets.
SWITCHES = (
    ("xltemplate.readers.sniff", "REMEMBER_PARTS"),
    ("xltemplate.readers.sheet", "REMEMBER_TAILS"),
    ("xltemplate.readers.sheet_strict", "USE_STRICT"),
    ("xltemplate.readers.sheet_strict", "USE_SKELETONS"),
    ("xltemplate.readers.fast", "USE_STRICT_STRINGS"),
    ("xltemplate.readers.fast", "USE_STRICT_NAMES"),
    ("xltemplate.readers.fast", "REMEMBER_RUNS"),
    ("xltemplate.readers.sheet_strict", "USE_ROWS"),
    ("xltemplate.readers.sniff", "FAST_INFLATE"),
    ("xltemplate.readers.sheet_strict", "PROVE_CELLS"),
    ("xltemplate.readers.sheet_strict", "PLAIN_UNICODE"),
    ("xltemplate.readers.sheet", "REMEMBER_HEADS"),
    ("xltemplate.readers.sheet", "REMEMBER_TAIL_PIECES"),
    ("xltemplate.readers.sheet", "TAIL_BY_SKELETON"),
    ("xltemplate.readers.sheet", "PROVE_LISTS_APART"),
    ("xltemplate.readers.sheet", "REMEMBER_MERGES"),
    ("xltemplate.readers.fast", "PROVE_STRINGS"),
    ("xltemplate.readers.sniff", "READ_DIRECTORY"),
    ("xltemplate.readers.fast", "SPLIT_STRINGS"),
    ("xltemplate.readers.fast", "ALL_PLAIN_STRINGS"),
    ("xltemplate.readers.fast", "PROVED_RUNS"),
    ("xltemplate.readers.sheet", "USE_SPLIT"),
    ("xltemplate.readers.sheet_strict", "ROWS_BY_PARTS"),
    ("xltemplate.readers.sheet", "REMEMBER_TAIL_SKELETONS"),
    ("xltemplate.readers.sheet", "CUT_IN_C"),
    ("xltemplate.readers.sheet_strict", "STRING_CELLS"),
)
#: Caches of the fast paths, emptied by :func:`forget`.
CACHES = (
    ("xltemplate.readers.sniff", "_KNOWN"),
    ("xltemplate.readers.sheet", "_TAILS"),
    ("xltemplate.readers.sheet_strict", "_SKELETONS"),
    ("xltemplate.readers.package", "_MEMO"),
    ("xltemplate.readers.fast", "_RUNS_READ"),
    ("xltemplate.readers.sheet_strict", "_ROWS"),  # (what a part gave is remembered by its bytes: read it anew)
    ("xltemplate.readers.sheet_strict", "_ROW_ATTRS_PROVED"),
    ("xltemplate.readers.sheet", "_HEADS"),
    ("xltemplate.readers.sheet", "_TAIL_SKELETONS"),
    ("xltemplate.readers.sheet", "_TAIL_ELEMENTS"),
    ("xltemplate.readers.sheet", "_MERGES_READ"),
    ("xltemplate.readers.fast", "_SST_HEADS"),
    ("xltemplate.readers.fast", "_SST_RUNS"),
    ("xltemplate.readers.sheet_strict", "_STRING_CELLS"),
)


def module(name: str) -> Any:
    importlib.import_module(name)
    return sys.modules[name]  # ``xltemplate.readers.sniff`` is also the name of a function there


@contextlib.contextmanager
def switched(on: bool, names: tuple[str, ...] | None = None) -> Iterator[None]:
    """The fast paths (those named, or all) on or off inside the block; as they were after it."""
    saved = []
    for mod, switch in SWITCHES:
        if names is None or switch in names:
            m = module(mod)
            saved.append((m, switch, getattr(m, switch)))
            setattr(m, switch, on)
    try:
        yield
    finally:
        for m, switch, value in saved:
            setattr(m, switch, value)


def forget() -> None:
    """Empty what the fast paths remember, so that the next file is read from nothing."""
    for mod, cache in CACHES:
        getattr(module(mod), cache).clear()
    module("xltemplate.readers.sniff")._known_bytes[0] = 0
    module("xltemplate.readers.sheet_strict")._skeleton_bytes[0] = 0
    module("xltemplate.readers.sheet_strict")._row_bytes[0] = 0
    module("xltemplate.readers.fast")._runs_bytes[0] = 0
    module("xltemplate.readers.sheet")._tail_bytes[0] = 0
    module("xltemplate.readers.sheet")._head_bytes[0] = 0
    module("xltemplate.readers.sheet")._pieces_bytes.update(skeletons=0, elements=0)
    module("xltemplate.readers.sheet")._merges_bytes[0] = 0
    module("xltemplate.readers.fast")._sst_runs_bytes[0] = 0
    module("xltemplate.readers.package")._memo_bytes.clear()


def verdict(path: Path, reader: str = "fast", message: bool = True) -> object:
    """The submission as plain data, or the refusal (code, variant, and its message unless ``message`` is False: the
    readers word some refusals differently)."""
    try:
        return asdict(read_submission(path, reader=reader))
    except Unreadable as exc:
        return ("unreadable", exc.code, exc.variant) + ((exc.message,) if message else ())


def differences_on_and_off(paths: list[Path], names: tuple[str, ...] | None = None) -> list[str]:
    """Files read differently with the fast paths on (first and second reading) and forced off.

    Exactly the same submission or refusal everywhere, but for one case, and only where the split path is among the
    switches turned off: a sheet part that is not well-formed XML *and* holds a cell the readers refuse (two faults).
    The general path reads the part in order and names whichever fault comes first; the split path proves the part
    (or its tail) well-formed before it looks at the cells, so it names expat's fault where the general path may
    name the cell's, and the other way round. Both must still refuse the file, with the same code, for the same
    part: see :func:`two_faults_named_otherwise`. With every other switch turned off and the split path on, the
    file must read exactly as with all on (the other switches are compared as strictly as before)."""
    forget()
    with switched(True):
        first = [verdict(p) for p in paths]
        second = [verdict(p) for p in paths]  # what the first reading remembered is used now
    with switched(False, names):
        off = [verdict(p) for p in paths]
    split_off = names is None or _SPLIT in names
    out = []
    for p, a, b, c in zip(paths, first, second, off):
        if a == b and a != c and split_off and two_faults_named_otherwise(p, names):
            continue
        if not a == b == c:
            out.append(f"{p.name}: first/off {_diff(a, c)}; second/off {_diff(b, c)}")
    return out


_SPLIT = "USE_SPLIT"
#: The refusals that name one part's fault: expat's (the part is not well-formed), or a cell's.
_PART_DAMAGED = "part-damaged"


def refusal(path: Path) -> Unreadable | None:
    """The fast reader's refusal of ``path`` under the switches as they are, or None where it reads it."""
    try:
        read_submission(path, reader="fast")
    except Unreadable as exc:
        return exc
    return None


def two_faults_named_otherwise(path: Path, names: tuple[str, ...] | None = None) -> bool:
    """Whether ``path`` has a sheet part with two faults, which the split path (on) and the general path (off, with
    the switches ``names`` or all) name otherwise, both refusing it for that part:

    - with the split path, expat's ``file-corrupt``/``part-damaged`` for a part that expat does find not well-formed
      (checked here, over the part's bytes);
    - with the general path, which reads the part in order with its handlers and so meets another fault before
      expat's, a ``file-corrupt`` for the same part: ``part`` (a cell or an element in the wrong place, named), or
      ``shared-formula`` for a cell written in that part;
    - and with every other switch in ``names`` turned off but the split path on, exactly what all on give.
    """
    forget()
    with switched(True):
        on = refusal(path)
        with switched(False, tuple(s for _, s in SWITCHES if s != _SPLIT and (names is None or s in names))):
            others_off = verdict(path)
        exact = verdict(path)
    with switched(False, names):
        off = refusal(path)
    if on is None or off is None or others_off != exact:
        return False
    if not (on.code == off.code == "file-corrupt" and on.variant == _PART_DAMAGED):
        return False
    part = on.params.get("part")
    with zipfile.ZipFile(path) as z:  # (test corpora only: files these tests made)
        data = z.read(str(part)) if str(part) in z.namelist() else b""
    if off.variant == "part":
        if off.params.get("part") != part:
            return False
    elif off.variant == "shared-formula":
        if f' r="{off.params.get("cell")}"'.encode() not in data:
            return False
    else:
        return False
    try:
        xml.parsers.expat.ParserCreate().Parse(data, True)
    except xml.parsers.expat.ExpatError:
        return bool(data)
    return False


def _diff(a: object, b: object) -> str:
    if a == b:
        return "same"
    if isinstance(a, dict) and isinstance(b, dict):
        return ", ".join(f"{k}: {str(a[k])[:120]} ≠ {str(b[k])[:120]}" for k in a if a[k] != b.get(k))
    return f"{str(a)[:200]} ≠ {str(b)[:200]}"
