"""Validation over a corpus of returns: statuses and (cell, code) findings, file by file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.corpus import TODAY, Case
from xltemplate.cli import main
from xltemplate.identify import RunContext
from xltemplate.report import Report
from xltemplate.catalog import resolve_template
from xltemplate.batch import validate_paths
from xltemplate.validate import validate_path


def run_case(root: Path, case: Case):
    templates = RunContext.builtin(resolve_template(case.template) if case.template else None)
    return validate_path(root / case.name, templates, today=TODAY)


def test_every_case(corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    problems = []
    for case in cases:
        report = run_case(root, case)
        got = set(report.flatten())
        if report.status != case.status or got != case.findings:
            problems.append(f"{case.name}: status {report.status} (want {case.status}); "
                            f"extra {sorted(got - case.findings, key=str)}; missing {sorted(case.findings - got, key=str)}")
    assert not problems, "\n".join(problems)


def test_corpus_covers_libreoffice_saved_files(corpus: tuple[Path, list[Case]], soffice: str) -> None:
    _, cases = corpus
    assert sum(1 for c in cases if c.engine) >= 5


def test_seed_figures_are_recomputed(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    r = validate_path(root / "seed.xlsx", today=TODAY)
    assert r.status == "valid"
    res = r.results
    assert [res.group(c).score for c in ("input_mgmt", "output", "effect", "impact")] == [35, 33, 14, 14]
    assert res.total == 96 and res.grade == "优秀"
    assert round(float(res.execution_rate) * 100, 2) == 99.71


def test_text_shaped_numbers_are_used_not_zeroed(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    r = validate_path(root / "text-shaped.xlsx", today=TODAY)
    assert r.results.fields["budget"] == 8993600 and r.results.fields["executed"] == 8967171
    assert r.results.total == 96
    f = next(f for f in r.findings if f.field == "fund_compliance")
    assert f.value == "6分" and "6" in f.message


def test_typed_over_total_is_not_trusted(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    r = validate_path(root / "total-typed-over.xlsx", today=TODAY)
    assert r.results.total == 95 + 1  # recomputed from the scores: the file claims 100
    f = next(f for f in r.findings if f.code == "formula-overwritten")
    assert f.value == 100


def test_weight_changed_is_recomputed_with_the_spec_weight(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    r = validate_path(root / "weight-changed.xlsx", today=TODAY)
    assert r.results.group("input_mgmt").weight == 36


def test_findings_carry_file_sheet_cell_and_chinese_message(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    r = validate_path(root / "score-above-weight.xlsx", today=TODAY)
    (f,) = r.findings
    assert f.file == str(root / "score-above-weight.xlsx") and f.sheet == "项目绩效自评" and f.cell == "E14"
    assert f.field == "fund_compliance" and f.value == 7 and f.severity == "error"
    assert "自评分 7 超过权重 6" in f.message and "请改为" in f.message


def test_lock_files_are_listed_as_skipped(corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    report = validate_paths([root], today=TODAY)
    assert [Path(p).name for p, _ in report.skipped] == ["~$seed.xlsx"]
    assert len(report.files) == len(cases)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_exit_codes(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    assert cli("validate", str(root / "clean.xlsx")).exit_code == 0
    assert cli("validate", str(root / "executed-above-budget.xlsx")).exit_code == 0  # warnings allowed
    assert cli("validate", str(root / "clean.xlsx"), str(root / "score-negative.xlsx")).exit_code == 1
    assert cli("validate", str(root / "empty.xlsx")).exit_code == 1
    assert cli("validate", str(root / "no-such-file.xlsx")).exit_code == 2
    assert cli("validate", "--template", "nope", str(root / "clean.xlsx")).exit_code == 2


def test_cli_json_shape(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    result = cli("validate", "--json", str(root / "seed.xlsx"), str(root / "weights-off.xlsx"), str(root / "empty.xlsx"))
    data = json.loads(result.output)
    assert data["summary"] == {"files": 3, "valid": 1, "invalid": 1, "unreadable": 1, "skipped": 0}
    seed, weights, empty = data["files"]
    assert {"path", "status", "template", "key", "total", "grade", "findings"} <= set(seed)
    assert seed["template"] == {"id": "sh-project-self-eval", "version": "2020.1"}
    assert seed["total"] == 96 and seed["grade"] == "优秀" and seed["status"] == "valid"
    assert empty["template"] is None and empty["status"] == "unreadable"
    for f in weights["findings"]:
        assert set(f) == {"severity", "code", "sheet", "cell", "field", "message", "value"}
    assert {(f["cell"], f["code"]) for f in weights["findings"]} == {("D28", "category-weight-sum"), ("D44", "total-weight-sum")}


def test_cli_text_output_one_line_per_file(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    out = cli("validate", str(root / "clean.xlsx"), str(root / "score-negative.xlsx")).output.splitlines()
    assert out[0].startswith("有效 (valid)") and "总分 96 优秀" in out[0]
    assert out[1].startswith("有误 (invalid)") and "score-negative" in out[2]


def test_report_flatten() -> None:
    assert Report(files=[]).flatten() == [] and Report(files=[]).valid


def test_annotated_copy_shows_where_and_what(corpus: tuple[Path, list[Case]], tmp_path: Path) -> None:
    import openpyxl

    from xltemplate.fsutil import sha256_file

    root, _ = corpus
    src = root / "score-above-weight.xlsx"
    before = sha256_file(src)
    result = cli("validate", str(src), str(root / "clean.xlsx"), str(root / "empty.xlsx"), "--annotate", str(tmp_path / "ann"))
    assert result.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["score-above-weight_批注.xlsx"]  # clean: nothing to fix
    assert sha256_file(src) == before
    wb = openpyxl.load_workbook(tmp_path / "ann" / "score-above-weight_批注.xlsx")
    assert wb.sheetnames[0] == "问题清单" and wb.active.title == "问题清单"
    listing = wb["问题清单"]
    assert listing["D3"].value == "E14" and listing["D3"].hyperlink.location == "'项目绩效自评'!E14"
    assert "超过权重" in listing["E3"].value and listing["G3"].value == "score-above-weight"
    form = wb["项目绩效自评"]
    assert form.protection.sheet is True  # the original protection is kept
    assert form["E14"].fill.start_color.rgb.endswith("FFC7CE")
    assert "超过权重" in form["E14"].comment.text
    assert form["E15"].comment is None


def test_readme_lists_every_finding_code() -> None:
    from xltemplate.findings import codes_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert codes_table() in readme, "regenerate it: python tests/readme_codes.py"


def test_annotate_inside_an_input_folder_is_refused(corpus: tuple[Path, list[Case]]) -> None:
    root, _ = corpus
    result = cli("validate", str(root), "--annotate", str(root / "back"))
    assert result.exit_code == 2 and "在输入文件夹" in result.output
    assert not (root / "back").exists()
