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
from xltemplate.identify import RunContext
from xltemplate.inputs import discover
from tools.soffice import soffice_path
from xltemplate.batch import validate_paths
from xltemplate.validate import validate_path

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
    from xltemplate.batch import Bounds, validate_many

    files = [root / "valid-return.xlsx", root / "truncated.xlsx", root / "zero-bytes.xlsx", root / "names-deleted.xlsx"]
    start = time.monotonic()
    reports = validate_many(files, RunContext.builtin(), jobs=2, today=TODAY, bounds=Bounds(seconds=3))
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
    from xltemplate.rollup import workbook as rollup
    from xltemplate.rollup.collect import collect
    from xltemplate.catalog import resolve_template

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
    from xltemplate.readers import read_submission

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
    from xltemplate.readers import read_submission
    from xltemplate.errors import Unreadable

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


# == issue 10, class 3: bounds everywhere untrusted bytes are parsed ========================================

def _patched_return(src: Path, dest: Path, part: str, change) -> Path:
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename == part else data)
    return dest


def test_annotating_a_sheet_wide_merge_is_bounded(hostile, tmp_path: Path) -> None:
    """One <mergeCell> over the whole sheet made openpyxl build billions of cells in the main process."""
    from xltemplate.batch import Bounds, annotate_many

    root, _ = hostile
    src = _patched_return(root / "names-deleted.xlsx", tmp_path / "sheet-wide-merge.xlsx", "xl/worksheets/sheet1.xml",
                          lambda d: d.replace(b'<mergeCell ref="A1:G1"/>', b'<mergeCell ref="A1:G1"/><mergeCell ref="H1:XFD1048576"/>'))
    start = time.monotonic()
    report = validate_path(src, today=TODAY)  # the fast reader clips the range to what it reads
    assert report.status == "valid" and time.monotonic() - start < 5
    assert {f.code for f in report.findings} == {"defined-name-changed"}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    (result,) = annotate_many([report], tmp_path / "out", jobs=1, bounds=Bounds(memory_mb=256, seconds=3))
    assert time.monotonic() - start < 10
    assert result.output is None and "标注副本未能生成" in result.problem
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: not in this process


def test_annotate_refuses_what_the_readers_refuse(view_corpus, tmp_path: Path) -> None:
    """A file without [Content_Types].xml or with a DOCTYPE: unreadable, and never annotated, by any path."""
    from dataclasses import replace

    from xltemplate.annotate import annotate
    from xltemplate.readers import read_submission
    from xltemplate.errors import Unreadable

    root, _ = view_corpus
    for name, code in (("content-types-missing.xlsx", "file-corrupt"), ("doctype-after-a-long-prolog.xlsx", "file-unsafe-xml"),
                       ("doctype-in-an-unused-part.xlsx", "file-unsafe-xml"), ("doctype-in-a-part-not-named-xml.xlsx", "file-unsafe-xml")):
        for reader in ("fast", "openpyxl"):
            with pytest.raises(Unreadable) as exc:
                read_submission(root / name, reader=reader)
            assert exc.value.code == code, (name, reader)
        result = CliRunner().invoke(main, ["validate", str(root / name), "--annotate", str(tmp_path / "a"), "--json", "--jobs", "1"])
        data = json.loads(result.output)
        assert data["files"][0]["status"] == "unreadable" and data["files"][0]["findings"][0]["code"] == code
        assert data["annotated"] == [] and data["not_annotated"] == []
        # even handed a report that claims the file was read, annotate refuses it the same way
        forged = replace(validate_path(root / "view-clean.xlsx", today=TODAY), path=str(root / name), sha256=None)
        forged.findings.append(forged.findings[0] if forged.findings else __import__("xltemplate.findings", fromlist=["Finding"]).Finding("protection-removed", "测试"))
        with pytest.raises(Unreadable) as exc:
            annotate(forged, tmp_path / "b")
        assert exc.value.code == code, name


def test_annotate_refuses_a_file_changed_since_validation(hostile, tmp_path: Path) -> None:
    import shutil

    from xltemplate.batch import annotate_many

    root, _ = hostile
    src = shutil.copy(root / "names-deleted.xlsx", tmp_path / "changing.xlsx")
    report = validate_path(src, today=TODAY)
    shutil.copy(root / "valid-return.xlsx", src)  # swapped after it was judged
    (result,) = annotate_many([report], tmp_path / "out", jobs=1)
    assert result.output is None and "被改动" in result.problem


def _huge_shared_strings_roster(path: Path, items: int) -> Path:
    """A small .xlsx roster (编号, 预算单位; SH001, 单位) whose shared-string table holds ``items`` more strings,
    written without holding them in memory."""
    import zipfile

    main_ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main_ns}" xmlns:r="{rel}"><sheets>'
        '<sheet name="名单" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main_ns}"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row></sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
        with z.open("xl/sharedStrings.xml", "w") as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main_ns}"><si><t>编号</t></si><si><t>预算单位</t></si>'
                     "<si><t>SH001</t></si><si><t>单位</t></si>".encode())
            # one varied item in 32, so that the part compresses 1:150 (under the sniffer's zip-bomb ratio)
            letters = b"abcdefghijklmnopqrstuvwxyz"
            plain = b"<si><t>x</t></si>" * 31
            for n in range(items // 32):
                fh.write(plain + b"<si><t>%c%c</t></si>" % (letters[n % 26], letters[(n * 7) % 26]))
            fh.write(b"</sst>")
    return path


def test_a_roster_workbook_is_read_within_bounds(tmp_path: Path, monkeypatch) -> None:
    """A 1 MB roster declaring millions of shared strings hung the main process: now a bounded worker refuses it."""
    from xltemplate import roster as roster_module
    from xltemplate.errors import RosterError
    from xltemplate.workers import Bounds
    from xltemplate.catalog import resolve_template

    spec = resolve_template("sh-project-self-eval")
    path = _huge_shared_strings_roster(tmp_path / "roster.xlsx", 5_000_000)
    assert path.stat().st_size < 2 * 1024 * 1024
    monkeypatch.setattr(roster_module, "_roster_bounds", lambda: Bounds(memory_mb=256, seconds=3))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(RosterError) as exc:
        roster_module.read_roster(path, spec)
    assert time.monotonic() - start < 15
    assert "过大或读取超时" in str(exc.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024


def test_a_roster_workbook_is_sniffed_like_a_return(tmp_path: Path) -> None:
    import zipfile

    from xltemplate.errors import RosterError
    from xltemplate.roster import read_roster
    from xltemplate.catalog import resolve_template

    from .hostile import XXE

    spec = resolve_template("sh-project-self-eval")
    path = _huge_shared_strings_roster(tmp_path / "roster.xlsx", 0)
    good = read_roster(path, spec)
    assert [r.key for r in good.rows] == ["SH001"]
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:
        for n, d in parts.items():
            z.writestr(n, XXE.encode() + d.split(b"?>", 1)[-1] if n == "xl/workbook.xml" else d)
    with pytest.raises(RosterError) as exc:
        read_roster(path, spec)
    assert "实体" in str(exc.value) or "文档类型" in str(exc.value)


def test_finding_values_are_truncated_so_a_small_file_cannot_blow_up_the_json(hostile, tmp_path: Path) -> None:
    """One 900 KB shared string (a few KB zipped) in every score cell: the JSON report stays small."""
    import re

    root, _ = hostile
    huge = "9" * 900_000 + "分"

    def strings(data: bytes) -> bytes:
        return data.replace(b"</sst>", f"<si><t>{huge}</t></si></sst>".encode())

    def sheet(data: bytes) -> bytes:
        return re.sub(rb'<c r="(E(?:1[4-9]|2[1-7]|29|3[0-5]|3[7-9]|4[0-2]))" s="(\d+)"><v>[^<]*</v></c>',
                      rb'<c r="\1" s="\2" t="s"><v>93</v></c>', data)

    src = _patched_return(root / "valid-return.xlsx", tmp_path / "a.xlsx", "xl/sharedStrings.xml", strings)
    src = _patched_return(src, tmp_path / "huge-values.xlsx", "xl/worksheets/sheet1.xml", sheet)
    assert src.stat().st_size < 60 * 1024
    result = CliRunner().invoke(main, ["validate", str(src), "--json", "--jobs", "1"])
    data = json.loads(result.output)
    findings = data["files"][0]["findings"]
    assert len(findings) >= 10 and all(len(str(f["value"] or "")) <= 201 and len(f["message"]) <= 620 for f in findings)
    assert len(result.output) < 100 * 1024


def test_the_deadline_counts_the_files_own_work(hostile, monkeypatch) -> None:
    """Workers slow to start (as 1,000 of them on 2 cores are) do not eat their file's time."""
    from xltemplate import batch, workers as runner

    root, _ = hostile
    real = runner._limit_memory

    def slow_start(memory_mb: int, *more, **named) -> None:  # (a kept pool's worker has room to reset it: KEEP_POOL)
        time.sleep(2.5)  # a worker waiting for a CPU before it can take its first file
        real(memory_mb, *more, **named)

    monkeypatch.setattr(runner, "_limit_memory", slow_start)
    files = [root / "valid-return.xlsx", root / "names-deleted.xlsx"]
    reports = batch.validate_many(files, RunContext.builtin(), jobs=2, today=TODAY, bounds=runner.Bounds(seconds=2))
    assert [r.status for r in reports] == ["valid", "valid"], [f.code for r in reports for f in r.findings]


def test_jobs_are_capped_at_the_cpus_available(monkeypatch, tmp_path: Path) -> None:
    from xltemplate import workers as runner

    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    cg = tmp_path / "cg"
    cg.mkdir()
    (cg / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(runner, "_cgroup_dirs", lambda: [cg])
    assert runner.available_cpus() == 2
    (cg / "cpu.max").write_text("max 100000\n")
    assert runner.available_cpus() == 8
    (cg / "cpu.max").unlink()
    (cg / "cpu.cfs_quota_us").write_text("300000\n")
    (cg / "cpu.cfs_period_us").write_text("100000\n")
    assert runner.available_cpus() == 3
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0})
    assert runner.available_cpus() == 1
    assert runner.cap_jobs(1000) == (1, True) and runner.cap_jobs(1) == (1, False) and runner.cap_jobs(None) == (1, False)


def test_generating_from_a_roster_is_capped_at_the_cpus_too(monkeypatch, tmp_path: Path) -> None:
    """distribute, called from Python (not only through the CLI), never starts more processes than CPUs."""
    import multiprocessing as mp

    from xltemplate import workers
    from xltemplate.catalog import resolve_template
    from xltemplate.distribute import distribute
    from xltemplate.roster import read_roster

    from .conftest import SAMPLES

    spec = resolve_template("sh-project-self-eval")
    roster = read_roster(SAMPLES / "roster.csv", spec)
    assert len(roster.rows) >= 20  # enough rows for a pool of workers
    monkeypatch.setattr(workers, "available_cpus", lambda: 1)

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool of processes was started with one CPU")

    monkeypatch.setattr(mp, "get_context", no_pool)
    dist = distribute(spec, roster, tmp_path / "out", jobs=8)
    assert len(dist.files) == len(roster.rows)


def test_jobs_1000_gives_every_sample_its_normal_status() -> None:
    from xltemplate.workers import available_cpus

    from .conftest import SAMPLES

    one = CliRunner().invoke(main, ["validate", str(SAMPLES / "returns"), "--json", "--jobs", "1"])
    many = CliRunner().invoke(main, ["validate", str(SAMPLES / "returns"), "--json", "--jobs", "1000"])
    statuses = [(f["path"], f["status"], [x["code"] for x in f["findings"]]) for f in json.loads(one.stdout)["files"]]
    assert [(f["path"], f["status"], [x["code"] for x in f["findings"]]) for f in json.loads(many.stdout)["files"]] == statuses
    assert not any("file-timeout" in codes for _, _, codes in statuses)
    assert f"--jobs 1000 超过可用 CPU 数，已按 {available_cpus()} 个进程运行" in many.stderr
    assert "超过可用 CPU 数" not in one.stderr


def test_validation_shortcuts_change_no_hostile_report(hostile) -> None:
    """Every hostile input: the same report with validation's shortcuts on and forced off (tests/test_fast_paths)."""
    from .test_fast_paths import _reports

    root, _ = hostile
    paths = sorted(p for p in root.iterdir() if p.is_file())
    on, off = _reports(paths, True), _reports(paths, False)
    assert [a for a, b in zip(on, off) if a != b] == []
    assert len(on) == len(paths) > 20
