"""Hostile and broken inputs: nothing crashes, nothing is lost, bounds hold, outputs stay inert."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.identify import TemplateSet
from xltemplate.inputs import discover
from xltemplate.soffice import soffice_path
from xltemplate.validate import validate_path, validate_paths

from .corpus import TODAY
from .hostile import Hostile, build


@pytest.fixture(scope="module")
def hostile(spec, seed_values, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Hostile]]:
    root = tmp_path_factory.mktemp("hostile")
    return root, build(spec, seed_values, root, with_engine=soffice_path() is not None)


def test_every_hostile_input_gets_its_status_and_code(hostile) -> None:
    root, cases = hostile
    report = validate_paths([root], jobs=2, today=TODAY)
    by_name = {Path(r.path).name: r for r in report.files}
    problems = []
    for case in cases:
        r = by_name.get(case.name)
        if r is None:
            problems.append(f"{case.name}: missing from the report")
            continue
        codes = {f.code for f in r.findings}
        if r.status != case.status or (case.code and case.code not in codes) or (case.code is None and any(f.severity == "error" for f in r.findings)):
            problems.append(f"{case.name}: {r.status} {sorted(codes)} (want {case.status} with {case.code})")
        for f in r.findings:
            assert f.message and any("\u4e00" <= ch <= "\u9fff" for ch in f.message), (case.name, f.code)
    assert not problems, "\n".join(problems)
    assert not [r for r in report.files if any(f.code == "file-reader-crashed" for f in r.findings)]


def test_count_in_equals_count_out(hostile) -> None:
    root, cases = hostile
    entries = sorted(root.iterdir())
    found = discover([root])
    report = validate_paths([root], jobs=2, today=TODAY)
    # every entry of the folder is a report or a listed skip (the folder named x.xlsx included)
    named = {Path(r.path).name for r in report.files} | {Path(p).name for p, _ in report.skipped}
    inner = {p.name for p in (root / "a folder.xlsx").iterdir()}
    assert named == {p.name for p in entries} and not inner & named
    assert len(report.files) + len(report.skipped) == len(entries) == len(found.files) + len(found.skipped)
    assert [Path(p).name for p, _ in report.skipped] == ["~$valid-return.xlsx"]


def test_bounds_per_file(hostile) -> None:
    """Each file within 10 s, and the workers' peak memory within 512 MB, on the worst inputs."""
    root, _ = hostile
    worst = ["zip-bomb-honest.xlsx", "zip-bomb-lying.xlsx", "billion-laughs-strings.xlsx", "huge-100k-rows.xlsx",
             "ten-thousand-characters.xlsx"]
    for name in worst:
        start = time.monotonic()
        report = validate_paths([root / name], jobs=1, today=TODAY)
        assert time.monotonic() - start < 10, name
        assert len(report.files) == 1
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 512 * 1024, f"a worker peaked at {peak_kib / 1024:.0f} MB"


def test_a_reader_that_dies_takes_only_its_file(hostile, monkeypatch) -> None:
    """A native reader may abort the process: the file is reported and the others go on."""
    import os

    import xltemplate.validate as v

    root, _ = hostile

    original = v.validate_path

    def dying(path, *a, **kw):
        if Path(path).name == "truncated.xlsx":
            os._exit(134)  # what an abort in native code looks like from outside
        if Path(path).name == "zero-bytes.xlsx":
            time.sleep(30)  # a reader that hangs
        return original(path, *a, **kw)

    monkeypatch.setattr(v, "validate_path", dying)
    from xltemplate.runner import Bounds, validate_many

    files = [root / "valid-return.xlsx", root / "truncated.xlsx", root / "zero-bytes.xlsx", root / "names-deleted.xlsx"]
    start = time.monotonic()
    reports = validate_many(files, TemplateSet.builtin(), jobs=2, today=TODAY, bounds=Bounds(seconds=3))
    assert time.monotonic() - start < 15
    assert [Path(r.path).name for r in reports] == [f.name for f in files]
    assert [r.status for r in reports] == ["valid", "unreadable", "unreadable", "valid"]
    assert reports[1].findings[0].code == "file-reader-crashed" and reports[2].findings[0].code == "file-timeout"


def test_unreadable_permissions_are_a_finding(hostile, monkeypatch) -> None:
    import builtins

    root, _ = hostile
    target = root / "valid-return.xlsx"
    real_open = builtins.open

    def guarded(file, *a, **kw):
        if str(file) == str(target):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", guarded)
    r = validate_path(target, today=TODAY)
    assert r.status == "unreadable" and r.findings[0].code == "file-unreadable" and "读取权限" in r.findings[0].message


def test_mixed_folder_rollup_counts_exactly_the_valid_ones(hostile, tmp_path: Path) -> None:
    from .conftest import SAMPLES

    root, cases = hostile
    out = tmp_path / "rollup.xlsx"
    result = CliRunner().invoke(main, ["collect", str(root), str(SAMPLES / "returns"), "-o", str(out), "--json", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    files_count = json.loads(result.output)["files"]
    valid_hostile = sum(1 for c in cases if c.status == "valid")
    assert files_count["valid"] == valid_hostile + 16
    files = openpyxl.load_workbook(out)["文件清单"]
    listed = [files.cell(r, 1).value for r in range(4, files.max_row + 1)]
    expected = {p.name for p in root.iterdir()} | {p.name for p in (SAMPLES / "returns").iterdir()}
    assert set(listed) == expected and len(listed) == len(expected)


def test_nothing_from_a_return_becomes_a_formula_anywhere(hostile, tmp_path: Path) -> None:
    import zipfile

    root, _ = hostile
    src = root / "formula-in-input.xlsx"
    result = CliRunner().invoke(main, ["validate", str(src), "--annotate", str(tmp_path / "ann"), "--jobs", "1"])
    assert result.exit_code == 1
    ann = tmp_path / "ann" / "formula-in-input_批注.xlsx"
    wb = openpyxl.load_workbook(ann)
    listing = wb["问题清单"]
    values = [listing.cell(r, 6) for r in range(3, listing.max_row + 1)]
    hyper = [c for c in values if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert hyper and all(c.data_type == "s" for c in hyper)
    with zipfile.ZipFile(ann) as z:
        sheet_names = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        listing_xml = z.read(sheet_names[0]).decode("utf-8")
    assert "<f>" not in listing_xml


def test_macros_never_travel_back(hostile, tmp_path: Path) -> None:
    import zipfile

    root, _ = hostile
    CliRunner().invoke(main, ["validate", str(root / "with-macros.xlsm"), "--annotate", str(tmp_path), "--jobs", "1"])
    (copy,) = tmp_path.glob("*.xlsx")
    assert copy.name == "with-macros_批注.xlsx"
    with zipfile.ZipFile(copy) as z:
        assert not any("vba" in n.lower() for n in z.namelist())


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    from xltemplate import rollup
    from xltemplate.collect import collect
    from xltemplate.spec import resolve_template

    from .conftest import SAMPLES

    spec = resolve_template("sh-project-self-eval")
    c = collect([SAMPLES / "returns"], spec)
    original = rollup._Writer._files

    def interrupted(self):
        original(self)
        raise KeyboardInterrupt  # Ctrl-C while the workbook is being written

    monkeypatch.setattr(rollup._Writer, "_files", interrupted)
    out = tmp_path / "rollup.xlsx"
    with pytest.raises(KeyboardInterrupt):
        rollup.write_rollup(c, out)
    assert list(tmp_path.iterdir()) == []


# == issue 10, class 2: what is validated is what a person sees ===============================================

@pytest.fixture(scope="module")
def view_corpus(spec, seed_values, tmp_path_factory: pytest.TempPathFactory):
    from .hostile_view import build as build_view

    root = tmp_path_factory.mktemp("hostile-view")
    return root, build_view(spec, seed_values, root)


def test_every_view_case_gets_its_verdict(view_corpus) -> None:
    """Forged sheets, parts, references, values, protection and formats: read as shown, or refused."""
    root, cases = view_corpus
    assert len(cases) >= 80
    report = validate_paths([root], jobs=2, today=TODAY)
    by_name = {Path(r.path).name: r for r in report.files}
    problems = []
    for case in cases:
        r = by_name[case.name]
        codes = {f.code for f in r.findings}
        if r.status != case.status or (case.code and case.code not in codes) \
                or (case.total is not None and r.total != case.total) \
                or (case.code is None and any(f.severity == "error" for f in r.findings)):
            problems.append(f"{case.name}: {r.status} total {r.total} {sorted(codes)} (want {case.status} {case.code} total {case.total})")
        assert "file-reader-crashed" not in codes, case.name
        for f in r.findings:
            assert any("\u4e00" <= ch <= "\u9fff" for ch in f.message), (case.name, f.code)
    assert not problems, "\n".join(problems)


def test_refusals_name_the_part_and_say_how_to_fix(view_corpus) -> None:
    root, cases = view_corpus
    for case in cases:
        if case.status != "unreadable":
            continue
        (f,) = validate_path(root / case.name, today=TODAY).findings
        assert "请" in f.message and (".xml" in f.message or ".rels" in f.message or "部件" in f.message
                                      or "压缩包" in f.message or "格式" in f.message), (case.name, f.message)


def test_hidden_values_are_reported_at_their_cell(view_corpus) -> None:
    root, _ = view_corpus
    for name, cell in (("number-format-hides-score.xlsx", "E15"), ("number-format-shows-a-literal.xlsx", "E15"),
                       ("merge-covers-a-score.xlsx", "E15")):
        r = validate_path(root / name, today=TODAY)
        assert ("E15", "content-hidden") in r.flatten(), (name, r.flatten())
    merged = validate_path(root / "merge-covers-a-score.xlsx", today=TODAY)
    assert ("E15", "score-missing") in merged.flatten()  # the hidden 7 is not counted: what is shown is empty
    hidden = validate_path(root / "form-sheet-hidden-behind-a-copy.xlsx", today=TODAY)
    assert [f.value for f in hidden.findings if f.code == "content-hidden"] == ["hidden"]


def test_protection_is_read_from_parsed_xml(view_corpus) -> None:
    """Only a real <sheetProtection sheet="1"> child of the worksheet counts, in both readers."""
    from xltemplate.read import read_submission

    root, _ = view_corpus
    expected = {"view-clean.xlsx": True, "protection-before-the-cells.xlsx": True, "protection-in-a-comment.xlsx": False,
                "protection-in-cdata.xlsx": False, "protection-in-another-namespace.xlsx": False,
                "protection-sheet-0.xlsx": False, "protection-attribute-in-another-namespace.xlsx": False}
    for name, want in expected.items():
        for reader in ("fast", "openpyxl"):
            assert read_submission(root / name, reader=reader).protected["项目绩效自评"] is want, (name, reader)


def test_libreoffice_shows_what_is_validated(soffice: str, view_corpus, tmp_path: Path) -> None:
    """The real engine: for every file that is read, LibreOffice shows the values validated.

    Each file that is not refused is opened and saved again by LibreOffice; the form sheet's
    values (as a person reads them: 8, 8.0 and "8" alike), which cells hold formulas, the
    sheets and the protection must equal what the fast reader read, except for cells the
    report flags as hidden (content-hidden), which LibreOffice does not show.
    """
    from xltemplate.read import read_submission
    from xltemplate.sniff import Unreadable

    from .hostile_view import libreoffice_views, reader_view

    root, cases = view_corpus
    ours, read = {}, []
    for case in cases:
        try:
            sub = read_submission(root / case.name)
        except Unreadable:
            continue
        ours[case.name] = (reader_view(sub, "项目绩效自评"), validate_path(root / case.name, today=TODAY))
        read.append(root / case.name)
    assert len(read) >= 25
    views = libreoffice_views(read, tmp_path / "lo", "项目绩效自评")
    problems = []
    for name, (mine, report) in ours.items():
        lo = views[name]
        if lo is None:
            problems.append(f"{name}: read by us, not opened by LibreOffice")
            continue
        flagged = {f.cell for f in report.findings if f.code == "content-hidden"}
        cells = set(lo.values) | set(mine.values)
        differ = sorted(c for c in cells if lo.values.get(c) != mine.values.get(c) and c not in flagged)
        if differ:
            problems.append(f"{name}: " + ", ".join(f"{c} LibreOffice {lo.values.get(c)!r} ≠ read {mine.values.get(c)!r}" for c in differ[:5]))
        if lo.formulas != mine.formulas:
            problems.append(f"{name}: formulas in {sorted(lo.formulas ^ mine.formulas)[:5]}")
        if set(lo.sheets) != set(mine.sheets):
            problems.append(f"{name}: sheets {sorted(lo.sheets)} ≠ {sorted(mine.sheets)}")
        if mine.protected and not lo.protected:
            problems.append(f"{name}: read as protected, LibreOffice shows it unprotected")
    assert not problems, "\n".join(problems)
