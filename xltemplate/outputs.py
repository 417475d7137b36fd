"""Which paths an output may take: never an input, the roster, the secret file, a device, or a place
the next run would read as a return.

Every command checks each of its outputs here before it reads or writes anything (the roll-up, the
CSV exports, the annotated copies, a generated workbook, the workbooks of a roster and their
manifest); :func:`xltemplate.fsutil.atomic_path` checks again, at the moment of writing, that the
target is not a device, a pipe or a dangling link. A refusal is an
:class:`~xltemplate.errors.OutputPathError` with a Chinese message (exit 2).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import OutputPathError
from .inputs import OTHER_SHEET_SUFFIXES, WORKBOOK_SUFFIXES
from .pathtext import shown

#: What a run reads as a return when it finds it in a folder (see :func:`xltemplate.inputs.discover`).
SPREADSHEET_SUFFIXES = WORKBOOK_SUFFIXES + OTHER_SHEET_SUFFIXES


@dataclass(frozen=True)
class Protected:
    """What no output may overwrite or land in: the inputs given, the roster, the secret file, the targets
    table, a round's ledger."""

    inputs: tuple[Path, ...] = ()
    roster: Path | None = None
    secret: Path | None = None
    targets: Path | None = None
    ledger: Path | None = None

    @classmethod
    def of(cls, inputs: Iterable[str | os.PathLike[str]] = (), roster: str | os.PathLike[str] | None = None,
           secret: str | os.PathLike[str] | None = None, *, targets: str | os.PathLike[str] | None = None,
           ledger: str | os.PathLike[str] | None = None) -> "Protected":
        def opt(p: str | os.PathLike[str] | None) -> Path | None:
            return Path(p) if p else None

        return cls(tuple(Path(p) for p in inputs), opt(roster), opt(secret), opt(targets), opt(ledger))


def suffix(path: str | os.PathLike[str]) -> str:
    """The extension as Windows reads it: case and trailing dots or spaces do not count (``x.XLSX.`` is .xlsx)."""
    return Path(str(Path(path).name).rstrip(". ")).suffix.lower()


def check_output(output: str | os.PathLike[str], protected: Protected) -> None:
    """Refuse ``output`` (a file to write) if it would overwrite or be read as something it must not."""
    out = Path(output)
    check_writable(out)
    real = os.path.realpath(out)
    named = [(p, "输入的") for p in protected.inputs] + [(protected.roster, "名单"), (protected.secret, "密钥文件"),
                                                      (protected.targets, "指标目标表"), (protected.ledger, "台账")]
    for p, what in named:
        if p is not None and os.path.realpath(p) == real:
            raise OutputPathError(f"输出文件 {shown(output)} 就是{what} {shown(p)}，会把它覆盖；请换一个输出文件名")
    if suffix(out) in SPREADSHEET_SUFFIXES:
        for p in protected.inputs:
            folder = os.path.realpath(p)
            if os.path.isdir(folder) and within(real, folder):
                raise OutputPathError(f"输出文件 {shown(output)} 在输入文件夹 {shown(p)} 中，下次运行时会被当作单位提交的文件读取；请写到别的文件夹")


def check_output_dir(folder: str | os.PathLike[str], protected: Protected, names: Iterable[str] = ()) -> None:
    """Refuse an output folder where spreadsheets would land among the inputs, and any of ``names`` in it.

    A folder that holds an input file given by name is refused too: copies written beside it would be
    read as returns the next time that folder is given.
    """
    real = os.path.realpath(folder)
    for p in protected.inputs:
        where = os.path.realpath(p)
        if os.path.isdir(where) and within(real, where):
            raise OutputPathError(f"输出文件夹 {shown(folder)} 在输入文件夹 {shown(p)} 中：写入的工作簿下次会被当作交回的文件读取；请写到别的文件夹")
        if os.path.isfile(where) and os.path.dirname(where) == real:
            raise OutputPathError(f"输出文件夹 {shown(folder)} 就是输入文件 {shown(p)} 所在的文件夹：写入的工作簿可能覆盖输入，下次也会被当作交回的文件读取；请写到别的文件夹")
    for name in names:
        check_output(Path(folder) / name, protected)


def check_writable(target: str | os.PathLike[str]) -> None:
    """Refuse a target that is not a regular file to replace: a device, a pipe, a socket, a dangling link.

    A link to a regular file is allowed: the file it points to is replaced (see :func:`real_target`).
    """
    path = Path(target)
    if not os.path.lexists(path):
        return
    if path.is_symlink() and not path.exists():
        raise OutputPathError(f"输出文件 {shown(target)} 是指向不存在位置的链接，未写入；请换一个输出文件名")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # cannot tell: writing will say why
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a folder: the writer says 已有同名的文件夹
        raise OutputPathError(f"输出文件 {shown(target)} 不是普通文件（是设备、管道或套接字），不能覆盖；请换一个输出文件名")


def real_target(target: str | os.PathLike[str]) -> Path:
    """Where writing ``target`` lands: a link to a regular file is followed (the link is kept)."""
    path = Path(target)
    if path.is_symlink() and path.exists():
        return Path(os.path.realpath(path))
    return path


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
