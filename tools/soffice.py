"""Drive LibreOffice headless as a person's spreadsheet program would.

Used by the real-engine tests, the sample builder and the benchmark: open a
workbook, recalculate every formula, save it again as .xlsx (or render a PDF).
A private profile makes LibreOffice always recalculate on load, which it does
not by default for files it did not write itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_PROFILE_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_path() -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def _profile_dir() -> Path:
    base = Path(tempfile.gettempdir()) / f"xltemplate-lo-profile-{os.getuid()}"
    user = base / "user"
    user.mkdir(parents=True, exist_ok=True)
    xcu = user / "registrymodifications.xcu"
    if not xcu.exists() or "OOXMLRecalcMode" not in xcu.read_text(encoding="utf-8", errors="replace"):
        xcu.write_text(_PROFILE_XCU, encoding="utf-8")
    return base


def convert(paths: list[Path], outdir: Path, target: str = "xlsx:Calc MS Excel 2007 XML", timeout: float = 240) -> list[Path]:
    """Open each file in LibreOffice (recalculating) and save it into ``outdir`` as ``target``.

    Returns the written paths in input order; raises RuntimeError when LibreOffice fails.
    """
    exe = soffice_path()
    if exe is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    outdir.mkdir(parents=True, exist_ok=True)
    profile = _profile_dir().as_uri()
    cmd = [exe, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--nologo",
           "--convert-to", target, "--outdir", str(outdir), *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    ext = "." + target.split(":")[0]
    out = [outdir / (Path(p).stem + ext) for p in paths]
    missing = [p for p in out if not p.exists()]
    if proc.returncode != 0 or missing:
        raise RuntimeError(f"LibreOffice failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}; missing {missing}")
    return out


def resave(src: Path, dest: Path) -> Path:
    """Recalculate ``src`` in LibreOffice and save it as ``dest`` (.xlsx)."""
    with tempfile.TemporaryDirectory() as tmp:
        (out,) = convert([src], Path(tmp))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), dest)
    return dest
