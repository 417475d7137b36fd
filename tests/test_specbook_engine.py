"""A spec workbook edited in LibreOffice (a person's program): add an indicator, change weights, save; it
imports to the spec that was meant. And the workbook LibreOffice or Gnumeric saves untouched still round-trips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from xltemplate.catalog import builtin_templates, load_spec, resolve_template, spec_from_dict
from xltemplate.specbook import write_specbook
from tools.soffice import resave

ROOT = Path(__file__).resolve().parent.parent
UNO_PYTHON = "/usr/bin/python3"


def _has_uno() -> bool:
    if not os.path.exists(UNO_PYTHON):
        return False
    return subprocess.run([UNO_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0


def edit_in_libreoffice(src: Path, dest: Path, edits: list[dict[str, Any]], tmp: Path) -> Path:
    """Type the edits into LibreOffice through UNO and save; without UNO, make them with openpyxl and let
    LibreOffice open and save the result (it still writes the file)."""
    if _has_uno():
        (tmp / "edits.json").write_text(json.dumps(edits, ensure_ascii=False), encoding="utf-8")
        profile = tmp / "lo-profile"
        subprocess.run([UNO_PYTHON, str(ROOT / "tools" / "soffice_edit.py"), str(src), str(dest), str(tmp / "edits.json"),
                        str(profile)], check=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
        return dest
    wb = openpyxl.load_workbook(src)
    for e in edits:
        if "insert_row" in e:
            wb[e["sheet"]].insert_rows(e["insert_row"])
        else:
            wb[e["sheet"]][e["cell"]] = e["value"]
    staged = tmp / "staged.xlsx"
    wb.save(staged)
    return resave(staged, dest)


def test_a_workbook_edited_in_libreoffice_imports_to_the_spec_meant(soffice: str, tmp_path: Path) -> None:
    book = write_specbook(resolve_template("sh-project-self-eval"), tmp_path / "form-spec.xlsx")
    # 指标: rows 3-8 投入与管理 (fixed, 36), 9-12 产出目标 (flexible, 34: 14, 10, —, 10), then 效果目标 …
    edits = [
        {"sheet": "设置", "cell": "B3", "value": "2021.1"},
        {"sheet": "指标", "cell": "D3", "value": 7},  # 资金使用的合规性 6 → 7
        {"sheet": "指标", "cell": "D8", "value": 3},  # 项目管理制度… 4 → 3 (the fixed category still adds up)
        {"sheet": "指标", "cell": "D12", "value": 6},  # 信息传递速度 10 → 6
        {"sheet": "指标", "insert_row": 13},  # a new indicator under 产出目标
        {"sheet": "指标", "cell": "A13", "value": "产出目标"},
        {"sheet": "指标", "cell": "B13", "value": "cost_saving"},
        {"sheet": "指标", "cell": "C13", "value": "成本节约率"},
        {"sheet": "指标", "cell": "D13", "value": 4},
        {"sheet": "等级", "cell": "B4", "value": 80},  # 良好 from 80
    ]
    edited = edit_in_libreoffice(book, tmp_path / "edited.xlsx", edits, tmp_path)
    with zipfile.ZipFile(edited) as z:  # saved by LibreOffice, not by a library
        assert b"LibreOffice" in z.read("docProps/app.xml")
    meant = yaml.safe_load(builtin_templates()["sh-project-self-eval"].read_text(encoding="utf-8"))
    meant["version"] = "2021.1"
    inds = meant["categories"][0]["indicators"]
    inds[0]["weight"], inds[5]["weight"] = 7, 3
    out = meant["categories"][1]["indicators"]
    out[3]["weight"] = 6
    out.append({"id": "cost_saving", "name": "成本节约率", "weight": 4})
    meant["grades"][1]["min"] = 80
    got = load_spec(edited)
    assert got.spec_hash == spec_from_dict(meant).spec_hash
    assert [i.name for i in got.categories[1].indicators][-1] == "成本节约率"  # type: ignore[attr-defined]


@pytest.mark.parametrize("template", sorted(builtin_templates()))
def test_a_workbook_saved_by_libreoffice_round_trips(soffice: str, template: str, tmp_path: Path) -> None:
    spec = resolve_template(template)
    book = write_specbook(spec, tmp_path / "form-spec.xlsx")
    saved = resave(book, tmp_path / "saved" / "form-spec.xlsx")
    assert load_spec(saved).spec_hash == spec.spec_hash
    shutil.rmtree(tmp_path / "saved")


@pytest.mark.parametrize("template", sorted(builtin_templates()))
def test_a_workbook_saved_by_gnumeric_round_trips(gnumeric: str, template: str, tmp_path: Path) -> None:
    from tools.gnumeric import recalc

    spec = resolve_template(template)
    saved = recalc(write_specbook(spec, tmp_path / "form-spec.xlsx"), tmp_path / "saved.xlsx").path
    assert load_spec(saved).spec_hash == spec.spec_hash
