"""A corpus of returned workbooks, made by filling generated templates as people do.

Each :class:`Case` is one file with the status and the (cell, code) findings
validation must give. Some files are saved through LibreOffice as a person's
spreadsheet program would; tampered ones are edited with openpyxl after
"unprotecting"; unreadable ones are made byte by byte.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import openpyxl

from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.meta import SHEET as META_SHEET
from xltemplate.catalog import spec_from_dict
from xltemplate.spec import Spec

STAMP = dt.datetime(2021, 4, 30, 9, 0, tzinfo=dt.timezone.utc)
#: Validation's "today" in the tests: the clock's UTC date (never before 2026-11-26), because the corpus's
#: LibreOffice-saved files carry the real time they were saved at: a fixed day let them be "saved in the future"
#: (saved-time-untrusted) from the day after it on, and test_every_case failed on every tree from 2026-11-28.
TODAY = max(dt.date(2026, 11, 26), dt.datetime.now(dt.timezone.utc).date())


@dataclass
class Case:
    name: str
    status: str
    findings: set[tuple[str | None, str]] = field(default_factory=set)
    engine: bool = False  # saved through LibreOffice
    template: str | None = None  # --template to pass, if any


def clean_seed(seed: dict) -> dict:
    """The seed's values without the <p> tags its source held."""
    out = dict(seed)
    for k, v in out.items():
        if isinstance(v, str):
            out[k] = re.sub(r"</?p>", "", v)
    return out


class CorpusBuilder:
    def __init__(self, spec: Spec, seed: dict, root: Path) -> None:
        self.spec, self.seed, self.root = spec, seed, root
        self.layout = Layout(spec)
        self.clean = clean_seed(seed)
        self.cases: list[Case] = []
        self.to_resave: list[tuple[Path, Path]] = []
        root.mkdir(parents=True, exist_ok=True)

    # -- helpers ------------------------------------------------------------------
    def cell(self, name: str) -> str:
        for c in self.layout.input_cells() + self.layout.computed_cells():
            if c.name == name:
                return c.a1
        for r in self.layout.rows:
            if r.weight.name == name:
                return r.weight.a1
        raise KeyError(name)

    def gen(self, name: str, values: dict | None = None, **kw: Any) -> Path:
        return generate_workbook(self.spec, self.root / name, values=values if values is not None else self.clean,
                                 generated_at=STAMP, **kw).path

    def variant(self, name: str, status: str, changes: dict, findings: set, **kw: Any) -> Path:
        values = dict(self.clean)
        for k, v in changes.items():
            if v is None:
                values.pop(k, None)
            else:
                values[k] = v
        path = self.gen(name, values, **kw)
        self.cases.append(Case(name, status, findings))
        return path

    def edit(self, name: str, status: str, findings: set, change: Callable[[openpyxl.Workbook], None],
             base: dict | None = None, **kw: Any) -> Path:
        src = self.gen(name, base, **kw)
        wb = openpyxl.load_workbook(src)
        change(wb)
        wb.save(src)
        self.cases.append(Case(name, status, findings))
        return src

    def resave(self, src: Path, name: str, status: str, findings: set) -> None:
        self.to_resave.append((src, self.root / name))
        self.cases.append(Case(name, status, findings, engine=True))

    # -- the corpus ------------------------------------------------------------------
    def build(self, with_engine: bool) -> list[Case]:
        c = self.cell
        sheet = self.spec.sheet
        markup = {(c("fld_achievements"), "text-markup"), (c("fld_problems"), "text-markup")}

        seed = self.gen("seed.xlsx", self.seed)
        self.cases.append(Case("seed.xlsx", "valid", set(markup)))
        clean = self.gen("clean.xlsx")
        self.cases.append(Case("clean.xlsx", "valid", set()))
        self.gen("keyed.xlsx", prefill={"unit": self.clean["fld_unit"], "project_name": self.clean["fld_project_name"],
                                        "budget": self.clean["fld_budget"]},
                 values={k: v for k, v in self.clean.items() if k not in ("fld_unit", "fld_project_name", "fld_budget")},
                 roster_key="SH001")
        self.cases.append(Case("keyed.xlsx", "valid", set()))

        text_shaped = {
            "fld_budget": "8,993,600.00", "fld_executed": "８９６７１７１", "fld_prev_budget": "0元",
            "ind_fund_compliance_score": "6分", "ind_quality_rate_score": " 13 ", "fld_eval_date": "2020年4月30日",
            "fld_recurring": " 是", "ind_goal_rationality_score": "'7",
        }
        norm = {(c(k), "value-normalised") for k in text_shaped}
        text_path = self.variant("text-shaped.xlsx", "valid", text_shaped, norm)
        dates = self.variant("date-serial-text.xlsx", "valid", {"fld_eval_date": "20200430"}, {(c("fld_eval_date"), "value-normalised")})

        # each rule broken once
        self.variant("required-missing.xlsx", "invalid", {"fld_implementer": None}, {(c("fld_implementer"), "required-missing")})
        above = self.variant("score-above-weight.xlsx", "invalid", {"ind_fund_compliance_score": 7},
                             {(c("ind_fund_compliance_score"), "score-above-weight")})
        self.variant("score-negative.xlsx", "invalid", {"ind_goal_rationality_score": -1}, {(c("ind_goal_rationality_score"), "score-negative")})
        self.variant("score-not-applicable.xlsx", "invalid", {"ind_fiscal_multiplier_score": 2}, {(c("ind_fiscal_multiplier_score"), "score-not-applicable")})
        self.variant("score-missing.xlsx", "invalid", {"ind_project_mgmt_score": None}, {(c("ind_project_mgmt_score"), "score-missing")})
        self.variant("score-word.xlsx", "invalid", {"ind_setup_compliance_score": "优"}, {(c("ind_setup_compliance_score"), "value-invalid")})
        self.variant("extra-incomplete.xlsx", "invalid", {"ext_output_1_name": "政策宣传覆盖率"}, {(c("ext_output_1_name"), "extra-row-incomplete")})
        self.variant("extra-complete.xlsx", "valid", {"ext_output_1_name": "政策宣传覆盖率", "ext_output_1_weight": 4,
                                                      "ext_output_1_score": 4, "ind_quality_rate_weight": 10, "ind_quality_rate_score": 9}, set())
        self.variant("weights-off.xlsx", "invalid", {"ind_quality_rate_weight": 16},
                     {("D28", "category-weight-sum"), ("D44", "total-weight-sum")})
        self.variant("choice-invalid.xlsx", "invalid", {"fld_recurring": "Y"}, {(c("fld_recurring"), "value-invalid")})
        self.variant("date-invalid.xlsx", "invalid", {"fld_eval_date": "明年"}, {(c("fld_eval_date"), "value-invalid")})
        self.variant("date-before-min.xlsx", "invalid", {"fld_eval_date": dt.date(2019, 6, 1)}, {(c("fld_eval_date"), "value-out-of-range")})
        self.variant("money-negative.xlsx", "invalid", {"fld_prev_budget": -5}, {(c("fld_prev_budget"), "value-out-of-range")})
        self.variant("executed-above-budget.xlsx", "valid", {"fld_executed": 9500000}, {(c("fld_executed"), "executed-above-budget")})
        self.variant("budget-zero.xlsx", "valid", {"fld_budget": 0, "fld_executed": 0}, {(c("fld_budget"), "rate-undefined")})
        self.variant("date-future.xlsx", "valid", {"fld_eval_date": TODAY + dt.timedelta(days=1200)}, {(c("fld_eval_date"), "date-in-future")})
        self.variant("date-late.xlsx", "valid", {"fld_eval_date": dt.date(2023, 5, 1)}, {(c("fld_eval_date"), "date-late")})
        self.variant("text-too-long.xlsx", "valid", {"fld_achievements": "完成" * 5001}, {(c("fld_achievements"), "text-too-long")})

        # tampering after unprotecting
        weight_cell = c("ind_fund_compliance_weight")

        def change_weight(wb: openpyxl.Workbook) -> None:
            ws = wb[sheet]
            ws.protection.sheet = False
            ws[weight_cell] = 10

        self.edit("weight-changed.xlsx", "invalid", {(None, "protection-removed"), (weight_cell, "weight-changed")}, change_weight)

        def overwrite_total(wb: openpyxl.Workbook) -> None:
            wb[sheet][self.layout.total_score.a1] = 100

        self.edit("total-typed-over.xlsx", "invalid", {(self.layout.total_score.a1, "formula-overwritten")}, overwrite_total)

        sub_cell = self.layout.categories[0].score.a1

        def change_formula(wb: openpyxl.Workbook) -> None:
            wb[sheet][sub_cell] = "=SUM(E14:E18)"

        self.edit("formula-changed.xlsx", "invalid", {(sub_cell, "formula-changed")}, change_formula)

        def rename_indicator(wb: openpyxl.Workbook) -> None:
            wb[sheet]["B14"] = "资金使用合规"

        self.edit("label-changed.xlsx", "invalid", {("B14", "locked-text-changed")}, rename_indicator)

        def change_prefill(wb: openpyxl.Workbook) -> None:
            wb[sheet][c("fld_unit")] = "别的单位"

        self.edit("prefill-changed.xlsx", "invalid", {(c("fld_unit"), "prefill-changed")}, change_prefill,
                  base={k: v for k, v in self.clean.items() if k != "fld_unit"}, prefill={"unit": self.clean["fld_unit"]}, roster_key="SH009")

        def alter_meta(wb: openpyxl.Workbook) -> None:
            wb[META_SHEET]["B4"] = "0" * 64  # spec_hash

        self.edit("meta-altered.xlsx", "invalid", {(None, "meta-altered")}, alter_meta)

        def bump_version(wb: openpyxl.Workbook) -> None:
            wb[META_SHEET]["B3"] = "2019.9"
            for p in wb.custom_doc_props.props:
                if p.name == "xltemplate.template_version":
                    p.value = "2019.9"

        self.edit("old-version.xlsx", "invalid", {(None, "template-version")}, bump_version)

        def drop_meta(wb: openpyxl.Workbook) -> None:
            del wb[META_SHEET]

        self.edit("meta-deleted.xlsx", "invalid", {(None, "meta-missing")}, drop_meta)
        self.edit("meta-deleted-explicit.xlsx", "invalid", {(None, "meta-missing")}, drop_meta)
        self.cases[-1].template = "sh-project-self-eval"

        def rename_sheet(wb: openpyxl.Workbook) -> None:
            wb[sheet].title = "Sheet1"

        self.edit("sheet-renamed.xlsx", "invalid", {(None, "form-sheet-missing")}, rename_sheet)

        def drop_names(wb: openpyxl.Workbook) -> None:
            for n in [n for n in wb.defined_names if n.startswith("ind_")]:
                del wb.defined_names[n]

        self.edit("names-deleted.xlsx", "valid", {("E14", "defined-name-changed")}, drop_names)

        stale = self.gen("stale-cache.xlsx")
        _patch_cached(stale, sheet_index=1, cell=self.layout.total_score.a1, value="99")
        self.cases.append(Case("stale-cache.xlsx", "valid", {(self.layout.total_score.a1, "cached-value-stale")}))

        # another template, and a workbook that is no template at all
        from tests.test_spec import SMALL

        other = spec_from_dict(copy.deepcopy(SMALL))
        generate_workbook(other, self.root / "other-template.xlsx", generated_at=STAMP)
        self.cases.append(Case("other-template.xlsx", "invalid", {(None, "template-unknown")}))
        generate_workbook(other, self.root / "other-template-explicit.xlsx", generated_at=STAMP)
        self.cases.append(Case("other-template-explicit.xlsx", "invalid", {(None, "template-mismatch")}, template="sh-project-self-eval"))
        wb = openpyxl.Workbook()
        wb.active.append(["项目名称", "企业服务专项"])
        wb.save(self.root / "plain-workbook.xlsx")
        self.cases.append(Case("plain-workbook.xlsx", "invalid", {(None, "meta-missing")}))

        # unreadable
        (self.root / "not-a-zip.xlsx").write_text("这不是工作簿", encoding="utf-8")
        self.cases.append(Case("not-a-zip.xlsx", "unreadable", {(None, "file-not-xlsx")}))
        (self.root / "empty.xlsx").write_bytes(b"")
        self.cases.append(Case("empty.xlsx", "unreadable", {(None, "file-empty")}))
        data = clean.read_bytes()
        (self.root / "truncated.xlsx").write_bytes(data[: len(data) // 2])
        self.cases.append(Case("truncated.xlsx", "unreadable", {(None, "file-corrupt")}))
        _encrypt(clean, self.root / "encrypted.xlsx")
        self.cases.append(Case("encrypted.xlsx", "unreadable", {(None, "file-encrypted")}))
        (self.root / "~$seed.xlsx").write_bytes(b"\x0cowner" + b"\x00" * 150)  # Excel's lock file: skipped

        # saved through LibreOffice as a person's program would
        self.resave(seed, "seed-lo.xlsx", "valid", set(markup))
        self.resave(text_path, "text-shaped-lo.xlsx", "valid", norm)
        self.resave(above, "score-above-weight-lo.xlsx", "invalid", {(c("ind_fund_compliance_score"), "score-above-weight")})
        self.resave(dates, "date-serial-text-lo.xlsx", "valid", {(c("fld_eval_date"), "value-normalised")})
        if with_engine:
            self._run_engine()
        else:
            self.cases = [k for k in self.cases if not k.engine]
        return self.cases

    def _run_engine(self) -> None:
        from tools.soffice import convert

        tmp = self.root / "_lo"
        outs = convert([src for src, _ in self.to_resave], tmp)
        for out, (_, dest) in zip(outs, self.to_resave):
            shutil.move(str(out), dest)
        shutil.rmtree(tmp, ignore_errors=True)
        # and an old binary .xls, written by LibreOffice itself
        (xls,) = convert([self.root / "clean.xlsx"], tmp, target="xls")
        shutil.move(str(xls), self.root / "old-format.xls")
        self.cases.append(Case("old-format.xls", "unreadable", {(None, "file-xls")}, engine=True))
        shutil.copy(self.root / "old-format.xls", self.root / "old-format-renamed.xlsx")
        self.cases.append(Case("old-format-renamed.xlsx", "unreadable", {(None, "file-xls")}, engine=True))
        shutil.rmtree(tmp, ignore_errors=True)


def _patch_cached(path: Path, sheet_index: int, cell: str, value: str) -> None:
    """Rewrite one formula cell's cached value in the sheet XML (what a tampering tool would do)."""
    part = f"xl/worksheets/sheet{sheet_index}.xml"
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                text = data.decode("utf-8")
                text, n = re.subn(rf'(<c r="{cell}"[^>]*><f>[^<]*</f><v>)[^<]*(</v>)', rf"\g<1>{value}\g<2>", text)
                assert n == 1, f"{cell} not patched"
                data = text.encode("utf-8")
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())


def _encrypt(src: Path, dest: Path) -> None:
    """A workbook with an open password, as Excel's "Encrypt with password" writes it."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with open(src, "rb") as fin, open(dest, "wb") as fout:
        office = OOXMLFile(fin)
        office.encrypt("secret", fout)
