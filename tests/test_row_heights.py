"""printing.count_lines without an engine (tests/test_row_heights_engine.py holds it to LibreOffice's prints), and the
round's kept sheets, whose row heights it decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from xltemplate import printing
from xltemplate.rollup import reuse


def test_latin_text_is_counted_by_its_words_not_by_cjk_characters() -> None:
    # 文件清单's software column (width 14, 10 pt): LibreOffice prints 3 lines; the estimate was 9
    assert printing.count_lines("Microsoft Excel Compatible / Openpyxl 3.1.5", 14, 10) == 5
    # a 32-digit half of a sha256 in its column (38) stays on one line, as LibreOffice prints it
    assert printing.count_lines("2110c1e5d4e6f0f70c3b4cf10ed6b98a\na6c72f2534426855deae99cf405972cf", 38, 10) == 2
    # a roster key in the key column (8)
    assert printing.count_lines("B00084", 8, 10) == 1


def test_wide_letters_count_as_wide() -> None:
    """The estimate before counted every Latin letter 0.6 em: 45 W's (an em each in DejaVu Sans) took fewer lines
    than LibreOffice printed (6 at width 14, 10 pt; 7 at 11 pt)."""
    assert printing.count_lines("W" * 45, 14, 10) >= 6
    assert printing.count_lines("W" * 45, 14, 11) >= 7
    assert printing.count_lines("i" * 45, 14, 10) < printing.count_lines("W" * 45, 14, 10)


def test_bold_is_measured_with_the_bold_face() -> None:
    text = "Self-evaluation of project performance, budget execution"
    assert printing.count_lines(text, 20, 10, bold=True) >= printing.count_lines(text, 20, 10)
    assert any(printing.count_lines(text, w, 10, bold=True) > printing.count_lines(text, w, 10) for w in range(8, 40))
    assert printing.row_height([text], [20], 10, bold=True) >= printing.row_height([text], [20], 10)


def test_a_word_too_long_for_a_line_breaks_where_the_engines_may() -> None:
    # a path: one line of its own per column width, plus what a break at a slash leaves at a line's end
    path = "returns/unit-0042/2024/self-evaluation/final/version-3/report.xlsx"
    lines = printing.count_lines(path, 14, 10)
    assert lines >= printing.count_lines("x" * len(path), 14, 10) - 1
    assert lines <= len(path)  # never a line a character
    # a CJK character beside a Latin word is kept with it (Excel is not known to break there)
    assert printing.count_lines("一二三四五六ABCDEFGH", 8, 10) > printing.count_lines("一二三四五六 ABCDEFGH", 8, 10)


def test_kept_sheets_of_an_older_estimate_are_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round keeps sheets under a key that holds a digest of xltemplate's source (reuse.writer_digest): another
    printing.py (another row height) is another key, so a round never mixes a kept sheet's old heights with new ones."""
    reuse.writer_digest.cache_clear()
    before = reuse.writer_digest()
    real = Path.read_bytes

    def other_estimate(self: Path) -> bytes:
        data = real(self)
        return data + b"\n# another estimate\n" if self.name == "printing.py" else data

    monkeypatch.setattr(Path, "read_bytes", other_estimate)
    reuse.writer_digest.cache_clear()
    try:
        assert reuse.writer_digest() != before
    finally:
        monkeypatch.undo()
        reuse.writer_digest.cache_clear()
    assert reuse.writer_digest() == before


def test_a_line_is_as_tall_as_libreoffice_draws_cjk_text() -> None:
    """LibreOffice draws a line of CJK text 1.451 em tall at 10 pt, 1.456 em at 11 pt (tests/test_row_heights_engine.py
    prints them): ten lines of 10 pt need some 145 pt; at 1.4 em a line a row got 143."""
    for size, pitch in ((10.0, 1.451), (11.0, 1.456), (14.0, 1.444)):
        for lines in range(1, printing.max_lines(size) + 1):
            assert printing.text_height(lines, size) >= lines * pitch * size + 1.0


def test_the_forms_bold_labels_are_measured_bold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A label (bold, 宋体 11) that fits a line as regular text and not as bold gets a row of two lines: the header
    block's field labels (generate._field_height) and the funding block's (rule_scored/write.py)."""
    from dataclasses import replace

    from xltemplate.catalog import load_spec, templates_dir
    from xltemplate.form.family import family_of
    from xltemplate.families.rule_scored import write
    from xltemplate.form.generate import _field_height, generate_workbook

    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    layout = family_of(spec).layout(spec, None)
    slot = next(s for s in layout.fields if s.field.id == "implementer")
    label = slot.field.label + "："  # 具体实施处（科室）： in a 22-unit column: 1 line regular, 2 bold (Excel's layout)
    width = layout.grid.widths[slot.label_col]
    assert printing.count_lines(label, width, 11) == 1 < printing.count_lines(label, width, 11, bold=True) == 2
    as_money = replace(slot, field=replace(slot.field, type="money"))  # a field with no room of its own for 2 lines
    assert _field_height(layout, as_money, 1.0) >= printing.text_height(2, 11)

    calls: list[tuple[object, bool]] = []

    def spy(text: object, width: float, font_pt: float = 11.0, bold: bool = False) -> float:
        calls.append((text, bold))
        return printing.cell_height(text, width, font_pt, bold)

    monkeypatch.setattr(write, "cell_height", spy)
    generate_workbook(load_spec(templates_dir() / "cn-project-self-eval.yaml"), tmp_path / "national.xlsx")
    funding = [bold for text, bold in calls if text in {"年度资金总额", "其中：当年财政拨款", "上年结转资金", "其他资金"}]
    assert len(funding) == 4 and all(funding), calls[:8]
