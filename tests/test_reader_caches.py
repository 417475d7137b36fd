"""What the fast reader remembers across returns is bounded in bytes, not only in entries.

Workers are long-lived and their address-space limit is set once, when they start: a cache that keeps whatever a
file holds lets one hostile return fill a worker, and other people's returns read there later fail with
file-too-large. Review 15e (F2) found this in PROVE_CELLS's proved row attributes and named ``_TAILS`` as likely to
have the same gap; the split path's row tags (``_TRAILERS``) and the parts read once per content (``package._MEMO``)
had it too. Each test below fails without its bound (the bytes kept grow with every such return).
"""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path
from typing import Callable

import pytest

from .fast_paths import forget, module, switched, verdict
from .test_fast_paths import FORM, repacked


def _blob(rnd: random.Random, n: int) -> bytes:
    """``n`` bytes of URL-safe base64 of random bytes: text that does not compress (under the part-ratio bound)."""
    return base64.urlsafe_b64encode(rnd.randbytes(n * 3 // 4))[:n]


def test_sheet_tails_remembered_are_bounded_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sheet._TAILS`` (a sheet's tail after </sheetData>, proved once per root and shape) kept 64 tails of any size:
    64 returns each with an 8 MB extension in its form sheet's tail left 512 MB in the worker. Now a tail over
    256 kB is not kept, and together they are bounded (8 MiB; 500 kB here, so that four returns of 200 kB show it)."""
    sheet = module("xltemplate.readers.sheet")
    monkeypatch.setattr(sheet, "_TAIL_BYTES", 500_000, raising=False)
    rnd = random.Random(15)

    def fat(size: int) -> Callable[[bytes], bytes]:
        def change(data: bytes) -> bytes:
            return data.replace(b"</worksheet>", b'<extLst><ext uri="{00000000-0000-0000-0000-000000000001}">'
                                b'<x:bulk xmlns:x="urn:bulk">' + _blob(rnd, size) + b"</x:bulk></ext></extLst></worksheet>")
        return change

    forget()
    with switched(True):
        for k in range(4):
            got = verdict(repacked(tmp_path / f"tail{k}.xlsx", {FORM: fat(200_000)}))
            assert not isinstance(got, tuple), got  # (they read: an extension is allowed there)
        kept = sum(len(root) + len(shape) for root, shape in sheet._TAILS)
        assert 200_000 < kept <= 500_000, kept
        assert verdict(repacked(tmp_path / "long.xlsx", {FORM: fat(300_000)})) is not None
        assert max(len(root) + len(shape) for root, shape in sheet._TAILS) < 256 * 1024  # (the 300 kB one not kept)
    assert sheet._tail_bytes[0] == sum(sheet._tail_size(key, known[2]) for key, known in sheet._TAILS.items())


def test_row_tags_remembered_by_the_split_path_are_bounded_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sheet._TRAILERS`` (the row tags between two cells, read once per their bytes) kept 20,000 texts of any size:
    a return whose rows carry a 150 kB attribute each, read by the split path (an inline string keeps the strict path
    off), left 9.6 MB in the worker for good, the next as much again. Texts over 1 kB are no longer kept."""
    sheet = module("xltemplate.readers.sheet")
    monkeypatch.setattr(sheet, "_TRAILERS", {})
    monkeypatch.setattr(sheet, "_trailer_bytes", [0], raising=False)
    rnd = random.Random(15)

    def fat(data: bytes) -> bytes:
        data = re.sub(rb'(<row r="[0-9]+")', lambda m: m.group(1) + b' x="' + _blob(rnd, 200_000) + b'"', data)
        assert b'<c r="G3"' in data
        return data.replace(b'<c r="G3"', b'<c r="G3" t="inlineStr"><is><t>x</t></is></c><c r="H3"', 1)

    forget()
    with switched(True):
        for k in range(2):
            assert not isinstance(verdict(repacked(tmp_path / f"rows{k}.xlsx", {FORM: fat})), tuple)
    assert sheet._TRAILERS, "the split path did not read the sheet"
    kept = sum(map(len, sheet._TRAILERS))
    assert kept < 100_000, f"{kept / 1e6:.1f} MB of row tags kept after two returns"


def test_parts_remembered_by_content_are_bounded_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``package._MEMO`` (parts read once per their bytes: workbook, styles, relationships, document properties) kept
    the last 64 parts of each kind whatever their size; a return's docProps/app.xml differs in every return, so 64
    returns with 10 MB of it each left 640 MB. Now a part over 1 MiB is read each time, and each kind keeps at most
    4 MiB (1.5 MB here, so that three parts of 600 kB show it)."""
    package = module("xltemplate.readers.package")
    monkeypatch.setattr(package, "_MEMO_BYTES", 1_500_000, raising=False)
    rnd = random.Random(15)

    def fat(size: int) -> Callable[[bytes], bytes]:
        def change(data: bytes) -> bytes:
            return data.replace(b"<Application>", b"<Manager>" + _blob(rnd, size) + b"</Manager><Application>", 1)
        return change

    forget()
    with switched(True):
        for k in range(3):
            assert not isinstance(verdict(repacked(tmp_path / f"app{k}.xlsx", {"docProps/app.xml": fat(600_000)})), tuple)
        sizes = {name: sum(map(len, table)) for name, table in package._MEMO.items()}
        assert max(sizes.values()) <= 1_500_000, sizes
        assert not isinstance(verdict(repacked(tmp_path / "long.xlsx", {"docProps/app.xml": fat(1_200_000)})), tuple)
        assert max(len(part) for table in package._MEMO.values() for part in table) < 1024 * 1024


def test_a_memo_put_twice_counts_its_key_once() -> None:
    """sheet's memos of outside bytes go through one bounded put (sheet._bounded_put): a key put again replaces its
    value and is counted once (review 15f: two memos counted it twice, evicting early), the oldest go first, and what
    is held is what the count says."""
    sheet = module("xltemplate.readers.sheet")
    table: dict[bytes, bytes] = {}
    held = [0]

    def put(key: bytes, value: bytes) -> None:
        sheet._bounded_put(table, held, key, value, lambda k, v: len(k) + len(v), 3, 10, 12)

    put(b"a", b"1")
    put(b"a", b"22")
    assert table == {b"a": b"22"} and held == [3]
    put(b"bb", b"3")
    put(b"c", b"4")
    put(b"toolongtoolong", b"")  # (longer than 10: not kept, nothing evicted)
    assert list(table) == [b"a", b"bb", b"c"] and held == [8]
    put(b"dddd", b"5")  # (3 held already: the oldest goes, and 5 + 5 <= 12)
    assert list(table) == [b"bb", b"c", b"dddd"] and held == [10]
    put(b"ee", b"6666")  # (3 held, and 7 + 6 > 12 once the oldest is gone: the two oldest go)
    assert list(table) == [b"dddd", b"ee"] and held == [sum(len(k) + len(v) for k, v in table.items())] == [11]
    table.clear()
    put(b"e", b"6")  # (emptied from outside: the count starts again)
    assert held == [2]
