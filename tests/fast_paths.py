"""The fast reader's fast paths and their switches: every test that reads files can run them forced off.

Each switch turns one fast path of the fast reader off; with all of them off (and the split path
with them, see ``readers.sheet.USE_SPLIT``) every part is inflated and parsed in full, and every
sheet is read by the general path. The tests compare what a file gives with the switches on (read
twice, so that what was remembered the first time is used the second) and off.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
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
#: strings of runs proved remembered whole.
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
    ("xltemplate.readers.sheet", "REMEMBER_MERGES"),
    ("xltemplate.readers.fast", "PROVE_STRINGS"),
    ("xltemplate.readers.sniff", "READ_DIRECTORY"),
    ("xltemplate.readers.fast", "SPLIT_STRINGS"),
    ("xltemplate.readers.fast", "ALL_PLAIN_STRINGS"),
    ("xltemplate.readers.fast", "PROVED_RUNS"),
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
    """Files read differently with the fast paths on (first and second reading) and forced off."""
    forget()
    with switched(True):
        first = [verdict(p) for p in paths]
        second = [verdict(p) for p in paths]  # what the first reading remembered is used now
    with switched(False, names):
        off = [verdict(p) for p in paths]
    out = []
    for p, a, b, c in zip(paths, first, second, off):
        if not a == b == c:
            out.append(f"{p.name}: first/off {_diff(a, c)}; second/off {_diff(b, c)}")
    return out


def _diff(a: object, b: object) -> str:
    if a == b:
        return "same"
    if isinstance(a, dict) and isinstance(b, dict):
        return ", ".join(f"{k}: {str(a[k])[:120]} ≠ {str(b[k])[:120]}" for k in a if a[k] != b.get(k))
    return f"{str(a)[:200]} ≠ {str(b)[:200]}"
