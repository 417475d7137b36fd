"""Reading a returned workbook: sniff the bytes, then one of two readers, each giving a Submission.

- :mod:`~xltemplate.readers.sniff`: what the file is, before any parser runs (bounds, zip bombs,
  encrypted and old files, a DOCTYPE anywhere); every part inflated once.
- :mod:`~xltemplate.readers.package`: which part is which, resolved as Excel resolves it.
- :mod:`~xltemplate.readers.fast` (the workbook, shared strings, styles) with
  :mod:`~xltemplate.readers.sheet` and :mod:`~xltemplate.readers.sheet_general` (a worksheet's
  cells): the fast reader, expat and a split of the cell XML.
- :mod:`~xltemplate.readers.reference`: the openpyxl reference the fast reader is tested against.
- :mod:`~xltemplate.readers.properties` and :mod:`xltemplate.meta`: what both read the same way.
- :mod:`~xltemplate.readers.display`: what a person sees of a cell (merges, number formats).

:func:`read_submission` is the one dispatch; a file that cannot be read raises
:class:`~xltemplate.errors.Unreadable` with its finding code.
"""

from __future__ import annotations

import os
from typing import Callable, Literal

from ..submission import Submission
from .fast import read_fast
from .reference import read_openpyxl
from .sniff import Sniffed, sniff

ReaderName = Literal["fast", "openpyxl"]
#: The readers by name: the fast one (the default) and the reference.
READERS: dict[str, Callable[[Sniffed], Submission]] = {"fast": read_fast, "openpyxl": read_openpyxl}


def read_submission(path: str | os.PathLike[str], reader: ReaderName = "fast") -> Submission:
    """Read one returned workbook; raise :class:`~xltemplate.errors.Unreadable` if it cannot be read."""
    read = READERS.get(reader)
    if read is None:
        raise ValueError(f"unknown reader {reader!r}; one of {', '.join(READERS)}")  # a bug of the caller
    return read(sniff(path))
