"""Turn the paths given on the command line into the files to read, accounting for each one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Extensions read as returns when found in a folder; anything named explicitly is always read.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
#: Spreadsheet files that are not what was sent: read so that they are reported, never dropped.
OTHER_SHEET_SUFFIXES = (".xls", ".xlsb", ".ods", ".et", ".ett", ".xltx", ".xltm")
#: What a roster is saved as; given where returns are expected, it is almost surely a slip (see :func:`roster_like`).
ROSTER_SUFFIXES = (".csv", ".txt")


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason in Chinese)


def discover(paths: list[str | os.PathLike[str]]) -> Inputs:
    """Expand folders (recursively, sorted) into workbook files; list Excel lock files and strays as skipped.

    A file named explicitly is always read (a ``~$`` file too): only what is found in a folder may be skipped.
    """
    out = Inputs()
    seen: set[Path] = set()

    def add(p: Path, explicit: bool = False) -> None:
        key = p.resolve() if p.exists() else p.absolute()
        if key in seen:
            return
        seen.add(key)
        if p.name.startswith("~$") and not explicit:
            out.skipped.append((str(p), "Excel 临时锁定文件（~$），不是提交的文件"))
        else:
            out.files.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir() and p.suffix.lower() not in WORKBOOK_SUFFIXES:
            for root, dirs, names in os.walk(p, followlinks=False):
                dirs.sort()
                for name in sorted(names):
                    child = Path(root) / name
                    suffix = child.suffix.lower()
                    if suffix in WORKBOOK_SUFFIXES or suffix in OTHER_SHEET_SUFFIXES:
                        add(child)
                    else:
                        out.skipped.append((str(child), "不是工作簿文件（扩展名不是 .xlsx/.xlsm）"))
                for d in list(dirs):
                    sub = Path(root) / d
                    if sub.suffix.lower() in WORKBOOK_SUFFIXES:
                        add(sub)  # a folder named x.xlsx: reported as unreadable, not walked
                        dirs.remove(d)
        else:
            add(p, explicit=True)  # a file, or a path that does not exist: reported, not dropped
    return out


def roster_like(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Files given as returns that look like a roster (a .csv or .txt named explicitly)."""
    return [Path(p) for p in paths if Path(p).suffix.lower() in ROSTER_SUFFIXES and not Path(p).is_dir()]
