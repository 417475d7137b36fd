"""What goes back to a department names nothing of the tool, and says what to do; the same severity
words everywhere; Chinese titles beside the codes (issue 9)."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.findings import CODES
from xltemplate.batch import validate_paths

from .conftest import SAMPLES
from .corpus import TODAY
from .hostile import build

#: Words of the tool a department has never heard of: options, the metadata sheet, the program's name.
TOOL_WORDS = re.compile(r"--[a-z]|_xltemplate|xltemplate|本系统", re.I)


@pytest.fixture(scope="module")
def every_report(corpus, spec, seed_values, tmp_path_factory: pytest.TempPathFactory):
    """Every file of the validation corpus, the hostile corpus and the samples, validated."""
    root, _ = corpus
    hostile = tmp_path_factory.mktemp("hostile-messages")
    build(spec, seed_values, hostile, with_engine=False)
    report = validate_paths([root, hostile, SAMPLES / "returns"], jobs=2, today=TODAY)
    return report


def test_no_finding_message_names_the_tool(every_report) -> None:
    codes = set()
    bad = []
    for r in every_report.files:
        for f in r.findings:
            codes.add(f.code)
            if TOOL_WORDS.search(f.message):
                bad.append((Path(r.path).name, f.code, f.message))
    assert not bad, "\n".join(map(str, bad))
    # the corpora reach the findings that once did: the metadata ones
    assert {"meta-missing", "meta-altered", "template-unknown", "template-version"} <= codes


def test_collect_findings_name_no_tool_either(spec, tmp_path: Path) -> None:
    from xltemplate.rollup.collect import collect
    from xltemplate.roster import read_roster

    c = collect([SAMPLES / "returns"], spec, roster=read_roster(SAMPLES / "roster.csv", spec), jobs=1)
    messages = [f.message for _, f in c.all_findings()]
    assert messages and not [m for m in messages if TOOL_WORDS.search(m)]


def test_the_annotated_copy_names_no_hidden_sheet_and_uses_the_two_severity_words(corpus, tmp_path: Path) -> None:
    root, _ = corpus
    present = [root / "meta-altered.xlsx", root / "old-version.xlsx"]  # findings on the hidden metadata sheet
    mixed = SAMPLES / "returns" / "质检院-重点产品质量监督抽检-自评.xlsx"  # warnings only
    wrong = SAMPLES / "returns" / "无线电监测站.xlsx"  # an error
    result = CliRunner().invoke(main, ["validate", *map(str, present), str(mixed), str(wrong),
                                       "--annotate", str(tmp_path / "back"), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    copies = sorted((tmp_path / "back").iterdir())
    assert len(copies) == len(present) + 2
    severities, comments = set(), []
    for copy in copies:
        wb = openpyxl.load_workbook(copy)
        ws = wb["问题清单"]
        for row in ws.iter_rows(min_row=3, values_only=True):
            severities.add(row[1])
            assert row[2] in ("", None) or row[2] in [s.title for s in wb.worksheets if s.sheet_state == "visible"], row
            assert not TOOL_WORDS.search(" ".join(str(v) for v in row if v is not None and v != row[6])), row
        for sheet in wb.worksheets:
            comments += [c.comment.text for row in sheet.iter_rows() for c in row if c.comment is not None]
    assert severities == {"错误", "警告"}
    assert comments and all(c.startswith(("【错误】", "【警告】")) for c in comments)
    assert any(c.startswith("【警告】") for c in comments)


def test_the_rollup_findings_sheet_shows_chinese_titles_beside_the_codes(tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                       "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out)["问题清单"]
    header = [c.value for c in ws[3]]
    assert header.index("问题") < header.index("问题及修改方法") < header.index("代码")
    rows = [dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True)]
    assert rows and all(r["问题"] == CODES[r["代码"]].title for r in rows)
    assert {r["严重程度"] for r in rows} == {"错误", "警告"}


def test_validate_text_uses_the_same_severity_words() -> None:
    result = CliRunner().invoke(main, ["validate", str(SAMPLES / "returns"), "--jobs", "1"])
    tags = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ")}
    assert tags == {"错误", "警告"}
