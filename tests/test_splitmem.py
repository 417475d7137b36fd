"""The roll-up's second process (rollup/split.py) at any N, and the roll-up's write on a full disk (issue 15, eighth
pass).

- The child's rows are given their formats' numbers a bounded piece at a time (``split.SMALL_CHUNKS``): the same
  bytes as a whole file at once, whatever the pieces' size, and what the substitution holds does not grow with the
  file (at 4 M characters a piece, as text, it was some 40 MB of the child's peak at any N).
"""

from __future__ import annotations

import importlib
import io
import random
import re
import tracemalloc
from pathlib import Path

import pytest

from xltemplate.rollup import write_rollup

from .test_rollup_onepass import _first

split = importlib.import_module("xltemplate.rollup.split")


def _splitting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "SPLIT_FROM", 1)
    monkeypatch.setattr(split, "SPLIT_PARENT_MB", float("inf"))  # (the test process is larger than a collect's)
    monkeypatch.setattr(split, "available_cpus", lambda: 2)  # (a machine of one CPU never splits)


def _rows(rng: random.Random, n: int) -> bytes:
    """Rows as the child writes them: cells with format tokens, CJK and ASCII text, rows ending in ">"."""
    words = ["指标", "得分", "完成率", "abc", "&amp;", "0.5", "满意度调查", "\U0001d518"]
    out = []
    for r in range(n):
        cells = "".join(f'<c r="A{r}" s="\x01{rng.randint(0, 40)}" t="inlineStr"><is><t>{rng.choice(words) * rng.randint(1, 9)}</t></is></c>'
                        for _ in range(rng.randint(0, 6)))
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out).encode("utf-8")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_the_formats_are_numbered_alike_whatever_the_pieces(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A piece ends where a row ends (a token is never cut, a character may be: bytes), so the output is the whole
    text substituted at once; formats without a number are left and said."""
    rng = random.Random(chunk)
    for case in range(20):
        src = _rows(rng, rng.randint(0, 60))
        numbers = {n: n * 3 + 1 for n in range(41) if rng.random() < 0.9}
        expected_missing: set[int] = set()

        def whole(m: re.Match[bytes]) -> bytes:
            n = int(m.group(1))
            if n not in numbers:
                expected_missing.add(n)
                return m.group(0)
            return b' s="%d"' % numbers[n]

        expected = re.sub(rb' s="\x01(\d+)"', whole, src)
        for small in (True, False):
            monkeypatch.setattr(split, "SMALL_CHUNKS", small)
            monkeypatch.setattr(split, "CHUNK", chunk)
            out, missing = io.BytesIO(), set()
            split._substitute(io.BytesIO(src), out, numbers.get, missing)
            assert out.getvalue() == expected, (chunk, case, small)
            assert missing == expected_missing
        assert (b"\x01" in expected) == bool(expected_missing)


def test_what_the_substitution_holds_does_not_grow_with_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python memory while 1 and 16 MB of rows (in a file, as the child's are) are numbered: under 1 MB, the same at
    both sizes (4 MB pieces held 4 MB at any size, and some 20 MB at 16 MB: a piece, its substitute, their join)."""
    src = _rows(random.Random(1), 60_000)
    assert len(src) > 16 << 20
    numbers = {n: n for n in range(41)}
    peaks = {}
    for size in (1 << 20, 16 << 20):
        rows = tmp_path / f"{size}.rows"
        rows.write_bytes(src[:size])
        for small in (True, False):
            monkeypatch.setattr(split, "SMALL_CHUNKS", small)
            with open(rows, "rb") as inp:
                tracemalloc.start()
                try:
                    split._substitute(inp, _Sink(), numbers.get, set())
                    peaks[small, size] = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
    assert peaks[True, 1 << 20] < 1 << 20 and peaks[True, 16 << 20] < 1 << 20, peaks
    assert peaks[False, 16 << 20] > 16 << 20, peaks  # (the measure can see the difference)


class _Sink:
    """A file that keeps nothing (what it was given is counted)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def test_a_split_roll_up_is_the_same_in_small_pieces_and_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's numbering and the join's copy in pieces of a few bytes (every row cut somewhere) and of 4 MB,
    against one process."""
    c = _first()
    _splitting(monkeypatch)
    started = []
    real = split.start
    monkeypatch.setattr(split, "start", lambda *a: started.append(1) or real(*a))
    got = {}
    for small, chunk in ((True, 5), (True, 1 << 16), (False, 1 << 16)):
        monkeypatch.setattr(split, "SMALL_CHUNKS", small)
        monkeypatch.setattr(split, "CHUNK", chunk)
        got[small, chunk] = write_rollup(c, tmp_path / f"{small}-{chunk}.xlsx").read_bytes()
    assert len(started) == 3
    monkeypatch.setattr(split, "SPLIT", False)
    one = write_rollup(c, tmp_path / "one.xlsx").read_bytes()
    assert [k for k, v in got.items() if v != one] == []
