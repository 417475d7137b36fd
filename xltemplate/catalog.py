"""Finding and loading templates: the built-in specs, spec files, and the check of a whole spec.

:func:`load_spec` reads YAML and :func:`spec_from_dict` checks it like data, every problem at
once with its key path: the keys every spec has (:class:`~xltemplate.spec.SpecChecker`), then
the keys of its family (``family:``, default ``self-scored``), then the texts the workbook's data
validations would show, against Excel's limits. :func:`as_spec` is the one place that turns a
built-in id or a spec path into a :class:`~xltemplate.spec.Spec`: every public function that
takes a template goes through it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Union

import yaml

from .errors import Problem, SpecError, TemplateNotFoundError
from .families import family_ids, family_named
from .form.prompts import field_problems
from .spec import DEFAULT_FAMILY, TOP_KEYS_AFTER, TOP_KEYS_BEFORE, Spec, SpecChecker
from .specbook import SPECBOOK_SUFFIXES
from .text import did_you_mean

#: What every public function taking a template accepts: a built-in id, a spec path, or a loaded Spec.
TemplateLike = Union[Spec, str, Path]


def templates_dir() -> Path:
    """Where the built-in specs live (``templates/`` in the source tree or the wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    return here / "templates"


def builtin_templates() -> dict[str, Path]:
    """Built-in template id → spec path."""
    out: dict[str, Path] = {}
    for path in sorted(templates_dir().glob("*.yaml")):
        out[path.stem] = path
    return out


def resolve_template(name_or_path: str | Path) -> Spec:
    """Load a built-in template by id, or a spec file by path."""
    builtins = builtin_templates()
    if str(name_or_path) in builtins:
        return load_spec(builtins[str(name_or_path)])
    path = Path(name_or_path)
    if path.is_file():
        return load_spec(path)
    hint = did_you_mean(str(name_or_path), builtins)
    extra = f"（是否想用“{hint}”？）" if hint else ""
    known = "、".join(builtins) or "无"
    raise TemplateNotFoundError(
        f"模板“{name_or_path}”既不是内置模板，也不是存在的模板文件{extra}；内置模板：{known}"
    )


def as_spec(template: TemplateLike) -> Spec:
    """A loaded :class:`Spec` from a built-in id, a spec path or a Spec (returned as is).

    Every public function that takes a template goes through here, so each accepts all three.
    """
    if isinstance(template, Spec):
        return template
    if isinstance(template, (str, Path)):
        return resolve_template(template)
    raise TypeError(f"a template is a built-in id, a spec path or a Spec, not {type(template).__name__}")


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file: YAML, or a spec workbook (.xlsx, problems given by sheet, row and column)."""
    path = Path(path)
    if path.suffix.lower() in SPECBOOK_SUFFIXES:
        return load_specbook(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [Problem("", f"无法读取文件：{exc}")]) from exc
    fast = _builtin(path)
    if not REMEMBER_SPECS:
        return _parse(text, str(path), fast)
    key = (str(path), text)  # (the text itself, not the file's time: the same text parses to the same spec)
    got = _SPECS.get(key)
    if got is None:
        got = _parse(text, str(path), fast)
        if len(_SPECS) >= 16:
            _SPECS.clear()
        _SPECS[key] = got
    return got


#: A spec file read again with the same text is not parsed again (a run makes its template context up to three times:
#: the built-ins' YAML parsed each time cost a tenth of a second); False: parsed every time (the tests compare).
REMEMBER_SPECS = True
_SPECS: dict[tuple[str, str], Spec] = {}


def load_specbook(path: str | Path) -> Spec:
    """Read a spec workbook and check it with the same checker as YAML; every problem at once, by sheet, row and column."""
    from .specbook import read_specbook  # (imported when a workbook is loaded as a spec: see specbook/__init__)

    data, where, problems = read_specbook(path)
    try:
        spec = spec_from_dict(data, source=str(path))
    except SpecError as exc:
        raise SpecError(str(path), problems + where.problems(exc.problems)) from None
    if problems:  # what only a workbook can get wrong (an unknown sheet or column): nothing is generated
        raise SpecError(str(path), problems)
    return spec


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Parse YAML text into a checked :class:`Spec`; raises :class:`SpecError` listing every problem."""
    return _parse(text, source, False)


#: A built-in template's YAML (templates/, ours) read by libyaml's C loader when PyYAML has it, and its plain copy
#: made by the C dumper and loader: the same data (the tests compare the specs, their hashes with them), in ~5 ms where
#: the pure-Python loader took ~35 ms and the copy ~20 ms, on every run of every command (the built-ins make the run's
#: context; issue 15: a round's second run's start). A spec a user gives is read as before (its problems' messages are
#: the Python loader's). False: the Python loader for every spec.
C_YAML = True


def _builtin(path: Path) -> bool:
    """Whether ``path`` is a built-in template's spec (in :func:`templates_dir`)."""
    try:
        return path.resolve().parent == templates_dir().resolve()
    except OSError:
        return False


def _parse(text: str, source: str, fast: bool) -> Spec:
    """:func:`parse_spec`; ``fast``: a built-in's text, read by the C loader when there is one (:data:`C_YAML`)."""
    loader = _c_loader() if fast else None
    try:
        data = yaml.load(text, Loader=loader) if loader is not None else yaml.safe_load(text)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise SpecError(source, [Problem("", f"不是有效的 YAML：{exc}")]) from exc
    return spec_from_dict(data, source=source, fast=fast)


def _c_loader() -> Any:
    """libyaml's safe loader, or None (:data:`C_YAML` off, or PyYAML built without libyaml)."""
    return getattr(yaml, "CSafeLoader", None) if C_YAML else None


def _plain_copy(data: Any, fast: bool) -> Any:
    """``data`` as YAML dumps and loads it back: a plain, detached copy (with libyaml for a built-in's: ``fast``)."""
    loader = _c_loader() if fast else None
    dumper = getattr(yaml, "CSafeDumper", None) if loader is not None else None
    if loader is None or dumper is None:
        return yaml.safe_load(yaml.safe_dump(data, allow_unicode=True))
    return yaml.load(yaml.dump(data, Dumper=dumper, allow_unicode=True), Loader=loader)  # noqa: S506 (a SafeLoader)


def spec_from_dict(data: Any, source: str = "<spec>", *, fast: bool = False) -> Spec:
    """Check a spec given as plain data and build the :class:`Spec` of its family (``fast``: a built-in's, whose
    plain copy libyaml makes: :data:`C_YAML`)."""
    checker = SpecChecker()
    name = data.get("family", DEFAULT_FAMILY) if isinstance(data, dict) else DEFAULT_FAMILY
    family = family_named(name) if isinstance(name, str) else None
    if family is None:
        hint = did_you_mean(str(name), family_ids())
        extra = f"；是否想写“{hint}”？" if hint else f"；可用：{'、'.join(family_ids())}"
        raise SpecError(source, [Problem("family", f"不认识的表式“{name}”{extra}", name)])
    if not checker.keys(data, {**TOP_KEYS_BEFORE, **family.keys, **TOP_KEYS_AFTER}, ""):
        raise SpecError(source, checker.problems)
    head = checker.head(data)
    body, ids = family.parse(data, checker, head["total"])
    tail = checker.tail(data, head, ids, body.get("body_fields", ()))
    if checker.problems or head["total"] is None:
        raise SpecError(source, checker.problems)
    # The spec's hash covers what was written, not the defaults: a spec without ``family`` keeps the
    # hash it had before families existed, and so do the workbooks sent out with it.
    raw = _plain_copy(data, fast)  # plain, detached copy
    spec = family.make_spec(**head, **tail, **body, raw=raw, family=family.id)
    too_long = field_problems(spec) + family.prompt_problems(spec)
    if too_long:
        raise SpecError(source, too_long)
    return replace(spec, source=source)
