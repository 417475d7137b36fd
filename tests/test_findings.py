"""Finding codes and their messages: every code has templates, every template renders, and every call
site in the package names a code and variant that exist and passes exactly the values its template takes."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from xltemplate.errors import Unreadable
from xltemplate.findings import CODES, PLACE_FIELDS, Finding, finding, message

from .conftest import ROOT

#: The keywords of ``finding`` and ``Context.at`` that say where a finding is and what it saw: not template values.
WHERE = {"sheet", "cell", "field", "value"}
#: Call sites whose code is a variable, not a literal (an Unreadable's own, a worker's failure): they pass on
#: what a literal call site made, so the literal ones are what this test proves.
FORWARDING = {
    ("validate.py", "finding"),  # the Unreadable a reader raised, turned into a finding
    ("batch.py", "finding"),  # a worker's failure: file-too-large (memory), file-timeout, file-reader-crashed
    ("rollup/collect.py", "finding"),  # _once: the code and values its callers give
    ("normalise.py", "finding"),  # Context.at: the code and values its callers give
}


def _sample(name: str) -> str:
    return f"〈{name}〉"


def test_every_code_has_a_template_and_every_template_renders() -> None:
    for code, info in CODES.items():
        assert info.messages, f"{code} has no message template"
        assert info.severity in ("error", "warning") and info.title and info.meaning
        for variant, template in info.messages.items():
            names = info.fields(variant)
            text = info.render(variant, **{n: _sample(n) for n in names})
            assert "{" not in text and "}" not in text, (code, variant)
            assert all(_sample(n) in text for n in names), (code, variant)
            assert re.search(r"[\u4e00-\u9fff]", text), f"{code}/{variant}: a message is Chinese"
            assert "xltemplate" not in text.lower() and "--" not in text, f"{code}/{variant} names the tool"


def test_a_template_refuses_a_missing_or_an_unknown_value() -> None:
    with pytest.raises(KeyError):
        message("score-above-weight", label="x", score="7")  # weight missing
    with pytest.raises(KeyError):
        message("score-above-weight", label="x", score="7", weight="6", colour="red")
    with pytest.raises(KeyError):
        message("score-above-weight", "no-such-variant", label="x", score="7", weight="6")
    with pytest.raises(KeyError):
        finding("no-such-code")
    with pytest.raises(KeyError):
        Finding("no-such-code", "…")


def test_an_unreadable_file_carries_its_code_and_renders_its_message() -> None:
    exc = Unreadable("file-too-large", "file", mb=120, limit=100)
    assert exc.code == "file-too-large" and exc.message == "文件有 120 MB，超过 100 MB 上限。请删除多余内容后重新提交。"
    again = __import__("pickle").loads(__import__("pickle").dumps(exc))  # it crosses process boundaries
    assert (again.code, again.message) == (exc.code, exc.message)


def _calls() -> list[tuple[str, int, str, str | None, str, set[str], bool]]:
    """(file, line, code, variant, kind, keyword names, unpacks **where) for each literal call site in the package."""
    out = []
    for path in sorted((ROOT / "xltemplate").rglob("*.py")):
        rel = path.relative_to(ROOT / "xltemplate").as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in ("finding", "Unreadable", "at", "_once", "corrupt"):
                continue
            args = list(node.args)
            if name == "_once":
                args = args[1:]  # _once(ret, code, **values)
            if name == "corrupt":
                continue  # corrupt(part, detail): file-corrupt/part, proved below
            if name == "at":
                args = args[:1] + args[2:]  # ctx.at(code, cell, variant, …): the cell is positional
            if not args or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
                assert (rel, name) in FORWARDING, f"{rel}:{node.lineno}: {name}() with a code that is not a literal"
                continue
            variant = args[1].value if len(args) > 1 and isinstance(args[1], ast.Constant) else ("" if len(args) < 2 else None)
            keywords = {k.arg for k in node.keywords if k.arg}
            unpacks = any(k.arg is None for k in node.keywords)
            out.append((rel, node.lineno, args[0].value, variant, name, keywords, unpacks))
    return out


def test_every_call_site_names_a_code_and_passes_what_its_template_takes() -> None:
    calls = _calls()
    assert len(calls) > 80  # the package's findings, each written where it is found
    problems = []
    for rel, line, code, variant, kind, keywords, unpacks in calls:
        where = f"{rel}:{line}"
        info = CODES.get(code)
        if info is None:
            problems.append(f"{where}: unknown code {code!r}")
            continue
        if variant is None or variant not in info.messages:
            problems.append(f"{where}: {code} has no variant {variant!r}")
            continue
        wanted = info.fields(variant)
        given = keywords - WHERE
        if given != wanted - PLACE_FIELDS:
            problems.append(f"{where}: {code}/{variant or 'default'} takes {sorted(wanted - PLACE_FIELDS)}, given {sorted(given)}")
        for place in wanted & PLACE_FIELDS:
            if place not in keywords and not unpacks and not (kind == "at" and place in ("sheet", "cell")):
                problems.append(f"{where}: {code}/{variant or 'default'} shows the {place}, which is not given")
    assert not problems, "\n".join(problems)


def test_every_code_is_used_somewhere() -> None:
    """A code no call site can produce is dead weight in the README's table."""
    used = {code for _, _, code, *_ in _calls()}
    used |= {"file-corrupt"}  # corrupt(part, detail) and the reference reader's variants
    used |= {"file-timeout", "file-reader-crashed"}  # a worker's failures (xltemplate.workers)
    used |= set(INVALID_CODES)  # normalise renders a slot's own code for a value it cannot read
    assert set(CODES) - used == set()


#: Codes a family names as an InputSlot's ``invalid_code``: normalise renders them as it renders value-invalid.
INVALID_CODES = ("actual-not-number",)


def test_a_slot_s_own_invalid_code_takes_what_value_invalid_takes() -> None:
    from xltemplate.families.rule_scored import FAMILY
    from xltemplate.catalog import resolve_template

    spec = resolve_template("cn-project-self-eval")
    codes = {s.invalid_code for s in FAMILY.inputs(FAMILY.layout(spec))}
    assert codes == {"value-invalid", *INVALID_CODES}
    for code in INVALID_CODES:
        assert CODES[code].fields() == CODES["value-invalid"].fields(), code


def test_corrupt_parts_use_the_part_template() -> None:
    from xltemplate.readers.package import corrupt

    exc = corrupt("xl/workbook.xml", "不是工作簿")
    assert exc.code == "file-corrupt" and exc.message.startswith("文件部件 xl/workbook.xml 不是工作簿。")
    fields = {n for _, n, _, _ in string.Formatter().parse(CODES["file-corrupt"].messages["part"]) if n}
    assert fields == {"part", "detail"}


def test_messages_quote_what_they_saw_within_the_bounds() -> None:
    f = finding("text-too-long", cell="B9", value="长" * 1000, label="主要绩效", length=1000, limit=500)
    assert len(f.value) == 201 and f.value.endswith("…")
    assert f.message == "“主要绩效”有 1000 字，超过 500 字的限制。请精简。"
    assert Path(__file__).name  # (this module is the one the README's Development section names)
