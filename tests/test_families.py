"""The form-family seam: a tiny family registered here goes through everything generic unchanged.

``survey`` is a made-up family: a list of questions, each with points, scored by the unit; a total.
It brings its spec key, layout, formulas and twin, body writer, one check and its results, and
nothing else: loading the spec, generating the workbook (header block, metadata, protection,
names, guide), reading it back, identifying it, the generic checks, the report, JSON, collecting
and the roll-up workbook all work without a line of generic code knowing it exists. That is the
proof that generic code never branches on the family (tests/test_architecture.py proves no generic
module imports one).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import pytest

from xltemplate.catalog import spec_from_dict
from xltemplate.errors import SpecError
from xltemplate.form import family as registry
from xltemplate.form.family import GroupDef, InputSlot, ItemDef, RollupSheets
from xltemplate.form.formulas import number_or_zero
from xltemplate.form.generate import generate_workbook
from xltemplate.form.layout import Cell, FormLayout, Grid
from xltemplate.identify import RunContext
from xltemplate.report import FileReport
from xltemplate.results import Group, Item
from xltemplate.rollup import collect, write_rollup
from xltemplate.spec import Spec
from xltemplate.validate import validate_path

TODAY = dt.date(2021, 5, 1)


@dataclass(frozen=True)
class SurveySpec(Spec):
    questions: tuple[tuple[str, str, Decimal], ...] = ()  # (id, text, points)


class SurveyLayout(FormLayout):
    grid = Grid(widths=(20, 30, 10, 10), left_label=0, left_value=(1, 1), right_label=2, right_value=(3, 3),
                long_value=(1, 3))
    spec: SurveySpec

    def place_body(self, row: int) -> int:
        self.header_row = row
        self.rows = [(q, Cell(row + 1 + n, 1, f"q_{q[0]}_text"), Cell(row + 1 + n, 2, f"q_{q[0]}_points"),
                      Cell(row + 1 + n, 3, f"q_{q[0]}_score")) for n, q in enumerate(self.spec.questions)]
        end = row + 1 + len(self.rows)
        self.total_weight = Cell(end, 2, "total_weight")
        self.total_score = Cell(end, 3, "total_score")
        return end + 1

    def body_inputs(self) -> list[Cell]:
        return [score for *_, score in self.rows]

    def body_computed(self) -> list[Cell]:
        return [self.total_weight, self.total_score]

    def body_named(self) -> list[Cell]:
        return [c for _, *cells in self.rows for c in cells] + self.body_computed()

    def body_locked_texts(self) -> dict[tuple[int, int], str]:
        return {(self.header_row, 1): "问题", **{(text.row, text.col): q[1] for q, text, _, _ in self.rows}}

    def body_print_blocks(self) -> list[tuple[int, int]]:
        return [(self.header_row, self.total_score.row)]

    def describe_body(self, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
        return {"questions": [{"id": q[0], "score": cell(score)} for q, _, _, score in self.rows],
                "total": {"score": cell(self.total_score)}}

    def score_ranges(self) -> list[str]:
        first, last = self.rows[0][3], self.rows[-1][3]
        return [f"{first.a1}:{last.a1}"]

    def score_cells(self) -> Iterable[Cell]:
        return (score for *_, score in self.rows)


def _above_points(ctx: Any) -> Iterator[Any]:
    """The family's one check: no score above its question's points."""
    for q, _, _, score in ctx.layout.rows:
        s = ctx.value(score)
        if s is not None and s > q[2]:
            yield ctx.at("score-above-weight", score, field=q[0], value=ctx.raw(score), label=q[1], score=str(s), weight=str(q[2]))


class Survey:
    id = "survey"
    keys = {"questions": True}
    formula_versions = (1, 2)
    checks = (_above_points,)
    takes_targets = False
    rollup_sheets = RollupSheets()

    def parse(self, data: Mapping[str, Any], checker: Any, total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
        out = []
        for n, q in enumerate(data.get("questions") or []):
            if checker.keys(q, {"id": True, "text": True, "points": True}, f"questions[{n}]"):
                out.append((checker.ident(q, f"questions[{n}]"), checker.text(q, "text", f"questions[{n}]"),
                            checker.number(q, "points", f"questions[{n}]") or Decimal(0)))
        return {"questions": tuple(out)}, [q[0] for q in out]

    def make_spec(self, **values: Any) -> Spec:
        return SurveySpec(**values)

    def prompt_problems(self, spec: Spec) -> list[Any]:
        return []

    def layout(self, spec: Spec, targets: Any = None) -> FormLayout:
        return SurveyLayout(spec)

    def shape(self, layout: Any) -> None:
        return None  # the spec fixes every cell

    def spec_values(self, layout: Any) -> dict[str, Any]:
        return {**{text.name: q[1] for q, text, _, _ in layout.rows}, **{pts.name: q[2] for q, _, pts, _ in layout.rows}}

    def formulas(self, layout: Any, version: int) -> dict[str, str]:
        first, last = layout.rows[0], layout.rows[-1]
        return {"total_weight": f"=SUM({first[2].a1}:{last[2].a1})", "total_score": f"=SUM({first[3].a1}:{last[3].a1})"}

    def evaluate(self, layout: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        return {"total_weight": sum((number_or_zero(values.get(p.name)) for _, _, p, _ in layout.rows), Decimal(0)),
                "total_score": sum((number_or_zero(values.get(s.name)) for *_, s in layout.rows), Decimal(0))}

    def alert_rules(self, layout: Any, version: int) -> list[Any]:
        return []

    def write_body(self, out: Any, layout: Any) -> None:
        out.ws.write_string(layout.header_row, 1, "问题", out.st.header)
        for q, text, pts, score in layout.rows:
            out.put(text, q[1], out.st.text)
            out.put(pts, q[2], out.st.weight)
            out.put(score, out.cells.get(score.name), out.st.value("input", "score"))
        out.formula(layout.total_weight, out.st.total)
        out.formula(layout.total_score, out.st.total)

    def inputs(self, layout: Any) -> Iterable[InputSlot]:
        return [InputSlot(score, "score", f"{q[1]}的得分", q[0]) for q, _, _, score in layout.rows]

    def results(self, layout: Any, values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[tuple[Group, ...], tuple[Item, ...], Decimal]:
        items = tuple(Item(q[0], "all", q[1], q[2], values.get(score.name)) for q, _, _, score in layout.rows)
        total = sum((q[2] for q, *_ in layout.rows), Decimal(0))
        return (Group("all", "全部", total, computed["total_weight"], computed["total_score"]),), items, computed["total_weight"]

    def read_targets(self, spec: Any, header: Any, records: Any) -> Any:
        return {}, []

    def describe_lines(self, info: Mapping[str, Any]) -> list[str]:
        return [f"  问题 {q['id']}：{q['score']['cell']}" for q in info["questions"]]

    def groups(self, spec: Any) -> list[GroupDef]:
        return [GroupDef("all", "全部", sum((q[2] for q in spec.questions), Decimal(0)))]

    def items(self, spec: Any) -> list[ItemDef]:
        return [ItemDef(q[0], "all", q[1]) for q in spec.questions]


SURVEY = {
    "id": "survey-demo", "version": "1", "title": "满意度调查", "sheet": "调查", "family": "survey", "total": 10,
    "fields": [{"id": "unit", "label": "单位", "type": "text", "required": True},
               {"id": "grade", "label": "等级", "type": "text", "compute": "grade"}],
    "questions": [{"id": "q1", "text": "服务态度", "points": 6}, {"id": "q2", "text": "办事效率", "points": 4}],
    "grades": [{"label": "好", "min": 8}, {"label": "差", "min": 0}],
    "summary": {"unit": "unit"},
}


@pytest.fixture
def survey(monkeypatch: pytest.MonkeyPatch) -> Spec:
    monkeypatch.setitem(registry._FAMILIES, "survey", Survey())
    return spec_from_dict(SURVEY)


def test_a_spec_names_its_family_and_is_checked_with_its_keys(survey: Spec) -> None:
    assert isinstance(survey, SurveySpec) and survey.family == "survey" and len(survey.questions) == 2
    with pytest.raises(SpecError) as info:
        spec_from_dict({**SURVEY, "questions": [{"id": "q1", "txet": "x", "points": 1}]})
    assert [p.path for p in info.value.problems] == ["questions[0].txet", "questions[0].text"]
    with pytest.raises(SpecError) as info:
        spec_from_dict({**SURVEY, "family": "survy"})
    assert info.value.problems[0].message == "不认识的表式“survy”；是否想写“survey”？"
    assert info.value.problems[0].value == "survy"  # the offending value travels with the problem


def test_a_spec_without_a_family_is_the_first_form_and_keeps_its_hash(spec: Spec) -> None:
    """The default family is not written into what is hashed: every workbook sent out stays valid."""
    from xltemplate.catalog import templates_dir

    import yaml

    data = yaml.safe_load((templates_dir() / "sh-project-self-eval.yaml").read_text(encoding="utf-8"))
    assert "family" not in data and spec.family == "self-scored"
    assert spec.spec_hash == spec_from_dict(data).spec_hash
    assert spec_from_dict({**data, "family": "self-scored"}).spec_hash != spec.spec_hash  # what was written counts


def test_a_new_family_goes_through_everything_generic(survey: Spec, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    when = dt.datetime(2021, 4, 30, 9, tzinfo=dt.timezone.utc)
    good = generate_workbook(survey, inbox / "a.xlsx", prefill={"unit": "甲单位"}, roster_key="A1", generated_at=when,
                             values={"q_q1_score": 5, "q_q2_score": 4}).path
    bad = generate_workbook(survey, inbox / "b.xlsx", prefill={"unit": "乙单位"}, roster_key="B2", generated_at=when,
                            values={"q_q1_score": 7, "q_q2_score": "3分"}).path
    run = RunContext.builtin(survey, today=TODAY)
    ok = validate_path(good, run)
    assert ok.status == "valid", ok.findings
    assert ok.results is not None and ok.results.total == 9 and ok.results.grade == "好"
    assert ok.results.group("all").weight == 10 and [i.score for i in ok.results.items] == [5, 4]
    no = validate_path(bad, run)
    cells = {c.name: c.a1 for c in SurveyLayout(survey).named_cells()}
    assert set(no.flatten()) == {(cells["q_q1_score"], "score-above-weight"), (cells["q_q2_score"], "value-normalised")}
    assert FileReport.from_json(json.loads(json.dumps(no.to_json()))) == no
    c = collect([inbox], survey, templates=run)
    assert [r.status for r in c.rows] == ["已提交有效", "已提交有误"]
    t = c.tables()
    assert list(t["submissions"]["score_all"]) == [9.0, 10.0] and len(t["scores"]) == 4
    out = write_rollup(c, tmp_path / "rollup.xlsx")
    import openpyxl

    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["汇总", "指标得分", "统计", "问题清单", "未提交", "文字材料", "文件清单"]
    wb.close()
