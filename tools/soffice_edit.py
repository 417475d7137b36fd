"""Edit a workbook inside LibreOffice, as a person would, and save it as .xlsx (run by a Python that has ``uno``).

    python3 tools/soffice_edit.py SRC DEST EDITS.json PROFILE_DIR

EDITS is a list of ``{"sheet": "指标", "insert_row": 13}`` (a new empty row before row 13, as
Insert ▸ Rows Above does) and ``{"sheet": "指标", "cell": "D12", "value": 6}`` (a number is typed as
a number, a text as a text). LibreOffice runs headless with its own profile, is driven through
UNO, saves with its own Excel 2007-365 filter and quits. Used by tests/test_specbook_engine.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]


def _prop(name: str, value: Any) -> Any:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(src: str, dest: str, edits_path: str, profile: str) -> None:
    pipe = f"xltemplate_edit_{os.getpid()}"
    office = subprocess.Popen(["soffice", f"-env:UserInstallation={uno.systemPathToFileUrl(profile)}", "--headless",
                               "--norestore", "--nologo", "--nodefault", f"--accept=pipe,name={pipe};urp;"])
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(240):  # LibreOffice takes a few seconds to start with a fresh profile
            try:
                ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:
                time.sleep(0.5)
        else:
            raise RuntimeError("LibreOffice did not start")
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(os.path.abspath(src)), "_blank", 0, (_prop("Hidden", True),))
        with open(edits_path, encoding="utf-8") as fh:
            edits = json.load(fh)
        for e in edits:
            sheet = doc.Sheets.getByName(e["sheet"])
            if "insert_row" in e:
                sheet.Rows.insertByIndex(e["insert_row"] - 1, 1)
                continue
            cell = sheet.getCellRangeByName(e["cell"])
            if isinstance(e["value"], (int, float)):
                cell.setValue(e["value"])
            else:
                cell.setString(e["value"])
        doc.storeToURL(uno.systemPathToFileUrl(os.path.abspath(dest)), (_prop("FilterName", "Calc MS Excel 2007 XML"),))
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:  # the bridge goes away as LibreOffice quits
            pass
        office.wait(timeout=60)
    finally:
        if office.poll() is None:
            office.kill()


if __name__ == "__main__":
    main(*sys.argv[1:5])
