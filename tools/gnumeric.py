"""Drive Gnumeric's ``ssconvert``: a second real spreadsheet engine for the tests.

Many provincial systems do not use Excel or LibreOffice to open returned
workbooks; Gnumeric is a common second engine and a strict reader of OOXML.
The engine tests load every workbook xltemplate writes into it, recalculate
every formula (``--recalc``) and save the result as .xlsx, so the values it
computed can be compared with the cached values we wrote; whatever Gnumeric
says while loading (an element it does not know, a validation it drops) is
returned as well, so a test can insist on silence. Not public API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: ISO/IEC 29500 (Excel 2010) .xlsx: the same flavour of OOXML the generator writes.
XLSX_EXPORTER = "Gnumeric_Excel:xlsx2"


def ssconvert_path() -> str | None:
    """Gnumeric's command-line converter, or None when Gnumeric is not installed."""
    return shutil.which("ssconvert")


@dataclass(frozen=True)
class Converted:
    """A workbook Gnumeric recalculated and saved, and everything it printed on the way."""

    path: Path
    messages: str  # stdout and stderr, stripped; "" when Gnumeric had nothing to say


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # English messages, so a test can name an expected one exactly; no dconf writes from GSettings.
    env.update({"LC_ALL": "C.UTF-8", "LANGUAGE": "C", "GSETTINGS_BACKEND": "memory", "NO_AT_BRIDGE": "1"})
    return env


def recalc(src: Path, dest: Path, timeout: float = 120) -> Converted:
    """Load ``src`` in Gnumeric, recalculate every formula and save it as ``dest`` (.xlsx).

    Raises RuntimeError when Gnumeric is missing, fails, or writes nothing.
    """
    exe = ssconvert_path()
    if exe is None:
        raise RuntimeError("Gnumeric (ssconvert) is not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    cmd = [exe, "--recalc", "-T", XLSX_EXPORTER, str(src), str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), stdin=subprocess.DEVNULL)
    messages = "\n".join(t.strip() for t in (proc.stdout, proc.stderr) if t.strip())
    if proc.returncode != 0 or not dest.exists():
        raise RuntimeError(f"Gnumeric failed on {src} ({proc.returncode}): {messages}")
    return Converted(dest, messages)
