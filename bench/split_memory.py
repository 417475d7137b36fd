"""collect's memory by phase (bench/collect_phases.py), and the roll-up's second process's own (issue 15, eighth pass).

    python bench/split_memory.py RETURNS ROSTER OUT.xlsx [JOBS]

Prints collect_phases.py's JSON line (the main process's VmHWM, the largest child's, RSS by phase), then one line for
the roll-up's second process (rollup/split.py), if it was used: its RSS when forked (``start``), its VmHWM when it
ends (``hwm``: the fork's size counts, the child's pages being the parent's until written), its RSS at the end, and
its RSS sampled every 0.2 s by step (``rows``: writing 指标得分's rows; ``numbering``: giving them their formats'
numbers), each step's highest.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import collect_phases  # noqa: E402

from xltemplate.rollup import split  # noqa: E402

_REPORT = Path(tempfile.gettempdir()) / f"split-memory-{os.getpid()}.json"
_step = ["rows"]
_start = [0]
_peaks: dict[str, int] = {}


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith(field))


def _sample() -> None:
    while True:
        _peaks[_step[0]] = max(_peaks.get(_step[0], 0), _status("VmRSS"))
        time.sleep(0.2)


class _Os:
    """split's ``os``: its ``_exit`` (the child's last act) writes the child's figures first."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _exit(self, code: int) -> None:
        _REPORT.write_text(json.dumps({"start": _start[0], "hwm": _status("VmHWM"), "end": _status("VmRSS"),
                                       "peaks": _peaks, "exit": code}))
        os._exit(code)


def main() -> None:
    child, number = split._child, split._substitute

    def in_child(*a: Any, **k: Any) -> None:
        _start[0] = _status("VmRSS")
        threading.Thread(target=_sample, daemon=True).start()
        child(*a, **k)

    def numbering(*a: Any, **k: Any) -> None:
        _step[0] = "numbering"
        number(*a, **k)

    split._child, split._substitute, split.os = in_child, numbering, _Os()  # type: ignore[assignment]
    try:
        collect_phases.main()
        print(_REPORT.read_text() if _REPORT.exists() else '{"split": "not used"}')
    finally:
        _REPORT.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
