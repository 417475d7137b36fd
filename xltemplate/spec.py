"""The template spec: a declarative description of one self-evaluation form.

A spec is YAML (see ``templates/``). :func:`load_spec` parses it, checks it like
data (unknown keys with a did-you-mean, every problem named by its key path,
e.g. ``categories[1].indicators[2].weight``) and returns a frozen :class:`Spec`.
Nothing about a particular form (points, bands, labels) lives in code.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import yaml

from .errors import Problem, SpecError, TemplateNotFoundError

#: Field types a header field may have.
FIELD_TYPES = ("text", "longtext", "money", "number", "percent", "date", "choice")
#: Ways a derived field is computed.
COMPUTE_KINDS = ("ratio", "grade")
#: Excel's own limits where spec texts end up in data validation or cells.
MAX_PROMPT = 255  # data validation input/error message
MAX_PROMPT_TITLE = 32  # data validation input/error title
MAX_LIST_SOURCE = 255  # a choice list, joined with commas
MAX_CELL_TEXT = 32767
MAX_SHEET_NAME = 31
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TEMPLATE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHEET_FORBIDDEN = set("[]:*?/\\")


@dataclass(frozen=True)
class Field:
    """A header field of the form (项目名称, 当年预算数（元）, 绩效等级 ...)."""

    id: str
    label: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    min: Any = None
    max: Any = None
    max_length: int | None = None
    help: str = ""
    prefill: bool = False
    compute: str | None = None  # None, "ratio" or "grade"
    operands: tuple[str, ...] = ()  # for "ratio": (numerator id, denominator id)

    @property
    def computed(self) -> bool:
        return self.compute is not None

    @property
    def numeric(self) -> bool:
        return self.type in ("money", "number", "percent")


@dataclass(frozen=True)
class Indicator:
    """One row of the indicator table; ``weight`` None means 不适用 (not applicable)."""

    id: str
    name: str
    explanation: str = ""
    weight: Decimal | None = None


@dataclass(frozen=True)
class Category:
    """A 一级指标 with its points, its indicators and the rows a unit may add."""

    id: str
    name: str
    points: Decimal
    weights: str  # "fixed" or "flexible"
    extra_rows: int
    indicators: tuple[Indicator, ...]

    @property
    def fixed(self) -> bool:
        return self.weights == "fixed"


@dataclass(frozen=True)
class Band:
    """A grade band: the label applies from ``min`` (inclusive) up to the next band."""

    label: str
    min: Decimal


@dataclass(frozen=True)
class Spec:
    """A checked, immutable template spec."""

    id: str
    version: str
    title: str
    sheet: str
    total: Decimal
    fields: tuple[Field, ...]
    categories: tuple[Category, ...]
    bands: tuple[Band, ...]  # highest first
    notes: tuple[str, ...]
    instructions: tuple[str, ...]
    fiscal_year: int | None
    summary: Mapping[str, Any] = field(default_factory=dict)  # role → field id(s), see SUMMARY_ROLES
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # -- look-ups -------------------------------------------------------
    def field(self, field_id: str) -> Field:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def field_by_label(self, label: str) -> Field | None:
        for f in self.fields:
            if f.label == label:
                return f
        return None

    @property
    def indicators(self) -> Iterable[tuple[Category, Indicator]]:
        for c in self.categories:
            for i in c.indicators:
                yield c, i

    @cached_property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec's content (not of its YAML text)."""
        canon = json.dumps(self.raw, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()

    def grade_for(self, total: Decimal) -> str:
        """The band label for a total score (bands are inclusive lower bounds)."""
        for band in self.bands:
            if total >= band.min:
                return band.label
        return self.bands[-1].label


# ---------------------------------------------------------------------------
# Loading


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


#: What every public function taking a template accepts: a built-in id, a spec path, or a loaded Spec.
TemplateLike = Union[Spec, str, Path]


def resolve_template(name_or_path: str | Path) -> Spec:
    """Load a built-in template by id, or a spec file by path."""
    builtins = builtin_templates()
    if str(name_or_path) in builtins:
        return load_spec(builtins[str(name_or_path)])
    path = Path(name_or_path)
    if path.is_file():
        return load_spec(path)
    hint = difflib.get_close_matches(str(name_or_path), list(builtins), n=1)
    extra = f"（是否想用“{hint[0]}”？）" if hint else ""
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
    """Read and check a YAML spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [Problem("", f"cannot read the file: {exc}")]) from exc
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Parse YAML text into a checked :class:`Spec`; raises :class:`SpecError` listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(source, [Problem("", f"not valid YAML: {exc}")]) from exc
    return spec_from_dict(data, source=source)


def spec_from_dict(data: Any, source: str = "<spec>") -> Spec:
    """Check a spec given as plain data and build the :class:`Spec`."""
    checker = _Checker()
    spec = checker.spec(data)
    if checker.problems or spec is None:
        raise SpecError(source, checker.problems)
    from .prompts import check_lengths  # late import: the prompts are built from a spec

    too_long = [Problem(path, msg) for path, msg in check_lengths(spec)]
    if too_long:
        raise SpecError(source, too_long)
    return _replace_source(spec, source)


def _replace_source(spec: Spec, source: str) -> Spec:
    from dataclasses import replace

    return replace(spec, source=source)


_TOP_KEYS = {
    "id": True, "version": True, "title": True, "sheet": True, "total": False,
    "fiscal_year": False, "fields": True, "categories": True, "grades": True,
    "notes": False, "instructions": False, "summary": False,
}
#: What the roll-up needs to know about a spec's fields: role → (expected type(s), many?).
SUMMARY_ROLES = {
    "unit": (("text",), False), "project": (("text",), False),
    "budget": (("money", "number"), False), "executed": (("money", "number"), False),
    "date": (("date",), False), "texts": (("text", "longtext"), True),
}
_FIELD_KEYS = {
    "id": True, "label": True, "type": True, "required": False, "choices": False,
    "min": False, "max": False, "max_length": False, "help": False, "prefill": False,
    "compute": False,
}
_CATEGORY_KEYS = {
    "id": True, "name": True, "points": True, "weights": False, "extra_rows": False,
    "indicators": True,
}
_INDICATOR_KEYS = {"id": True, "name": True, "explanation": False, "weight": False}
_BAND_KEYS = {"label": True, "min": True}


class _Checker:
    """Walks the raw data, collecting problems with their key paths."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def err(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # -- generic helpers ---------------------------------------------------
    def keys(self, obj: Any, allowed: dict[str, bool], path: str) -> bool:
        if not isinstance(obj, dict):
            self.err(path, f"expected a mapping, got {type(obj).__name__}")
            return False
        for key in obj:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
                extra = f"; did you mean '{hint[0]}'?" if hint else f"; allowed: {', '.join(allowed)}"
                self.err(_join(path, str(key)), f"unknown key '{key}'{extra}")
        for key, required in allowed.items():
            if required and key not in obj:
                self.err(_join(path, key), "required key is missing")
        return True

    def text(self, obj: dict, key: str, path: str, *, required: bool = True, limit: int = MAX_CELL_TEXT) -> str:
        value = obj.get(key)
        p = _join(path, key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.err(p, f"expected text, got {type(value).__name__}")
            return ""
        value = str(value).strip()
        if required and not value:
            self.err(p, "must not be empty")
        if len(value) > limit:
            self.err(p, f"is {len(value)} characters long; Excel allows at most {limit} here")
        return value

    def ident(self, obj: dict, path: str) -> str:
        value = obj.get("id")
        if value is None:
            return ""
        if not isinstance(value, str) or not _ID_RE.match(value):
            self.err(_join(path, "id"), f"'{value}' is not a valid id: use lower-case letters, digits and _ (start with a letter, at most 41)")
            return str(value)
        return value

    def number(self, obj: dict, key: str, path: str, *, allow_none: bool = False) -> Decimal | None:
        value = obj.get(key)
        p = _join(path, key)
        if value is None or value == "":
            if not allow_none and key in obj:
                self.err(p, "must be a number")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.err(p, f"expected a number, got {type(value).__name__}")
            return None
        try:
            d = Decimal(str(value))
        except Exception:
            self.err(p, f"'{value}' is not a number")
            return None
        if not d.is_finite() or d < 0:
            self.err(p, f"{value} must be a non-negative number")
            return None
        return d

    def flag(self, obj: dict, key: str, path: str) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.err(_join(path, key), f"expected true or false, got {value!r}")
            return False
        return value

    # -- the parts -----------------------------------------------------------
    def spec(self, data: Any) -> Spec | None:
        if not self.keys(data, _TOP_KEYS, ""):
            return None
        sid = data.get("id")
        if sid is not None and (not isinstance(sid, str) or not _TEMPLATE_ID_RE.match(sid)):
            self.err("id", f"'{sid}' is not a valid template id: lower-case letters, digits, '.', '-' and '_'")
        sid = str(sid or "")
        version = self.text(data, "version", "")
        title = self.text(data, "title", "", limit=200)
        sheet = self.text(data, "sheet", "", limit=MAX_SHEET_NAME)
        if sheet and (set(sheet) & _SHEET_FORBIDDEN or sheet.startswith("'") or sheet.startswith("_")):
            self.err("sheet", f"'{sheet}' is not a valid sheet name (no [ ] : * ? / \\, no leading ' or _)")
        total = self.number(data, "total", "") if "total" in data else Decimal(100)
        fiscal_year = data.get("fiscal_year")
        if fiscal_year is not None and (not isinstance(fiscal_year, int) or not 1990 <= fiscal_year <= 2200):
            self.err("fiscal_year", f"expected a year such as 2020, got {fiscal_year!r}")
            fiscal_year = None

        fields = self.fields(data.get("fields"))
        categories = self.categories(data.get("categories"), total)
        bands = self.bands(data.get("grades"), total)
        notes = self.texts(data.get("notes"), "notes")
        instructions = self.texts(data.get("instructions"), "instructions")

        ids = [f.id for f in fields] + [c.id for c in categories] + [i.id for c in categories for i in c.indicators]
        self.duplicates(ids)
        self.cross_check(fields)
        summary = self.summary(data.get("summary"), fields)
        if self.problems or total is None:
            return None
        raw = yaml.safe_load(yaml.safe_dump(data, allow_unicode=True))  # plain, detached copy
        return Spec(
            id=sid, version=version, title=title, sheet=sheet, total=total,
            fields=tuple(fields), categories=tuple(categories), bands=tuple(bands),
            notes=tuple(notes), instructions=tuple(instructions), fiscal_year=fiscal_year, summary=summary,
            raw=raw,
        )

    def texts(self, value: Any, path: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(path, "expected a list of texts")
            return []
        out = []
        for n, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.err(f"{path}[{n}]", "expected a non-empty text")
            else:
                out.append(item.strip())
        return out

    def fields(self, value: Any) -> list[Field]:
        if not isinstance(value, list) or not value:
            self.err("fields", "expected a non-empty list of fields")
            return []
        out = []
        for n, raw in enumerate(value):
            path = f"fields[{n}]"
            if not self.keys(raw, _FIELD_KEYS, path):
                continue
            fid = self.ident(raw, path)
            label = self.text(raw, "label", path, limit=60)
            ftype = raw.get("type")
            if ftype not in FIELD_TYPES:
                hint = difflib.get_close_matches(str(ftype), FIELD_TYPES, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                self.err(_join(path, "type"), f"unknown type '{ftype}'{extra}; one of {', '.join(FIELD_TYPES)}")
                ftype = "text"
            help_text = self.text(raw, "help", path, required=False, limit=MAX_PROMPT)
            choices: tuple[str, ...] = ()
            if ftype == "choice":
                raw_choices = raw.get("choices")
                if not isinstance(raw_choices, list) or not raw_choices or not all(isinstance(c, (str, int)) for c in raw_choices):
                    self.err(_join(path, "choices"), "a choice field needs a non-empty list of choices")
                else:
                    choices = tuple(str(c).strip() for c in raw_choices)
                    if len(set(choices)) != len(choices):
                        self.err(_join(path, "choices"), "choices repeat")
                    if any("," in c for c in choices):
                        self.err(_join(path, "choices"), "a choice may not contain a comma (Excel list validation)")
                    if len(",".join(choices)) > MAX_LIST_SOURCE:
                        self.err(_join(path, "choices"), f"the choices joined are longer than Excel's {MAX_LIST_SOURCE}-character list limit")
            elif "choices" in raw:
                self.err(_join(path, "choices"), f"only a choice field has choices (this one is {ftype})")
            lo, hi = self.bounds(raw, ftype, path)
            max_length = raw.get("max_length")
            if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= MAX_CELL_TEXT):
                self.err(_join(path, "max_length"), f"expected a whole number from 1 to {MAX_CELL_TEXT}")
                max_length = None
            compute, operands = self.compute(raw.get("compute"), _join(path, "compute"))
            if compute == "ratio" and ftype not in ("percent", "number"):
                self.err(_join(path, "type"), "a ratio field must be of type percent or number")
            required = self.flag(raw, "required", path)
            prefill = self.flag(raw, "prefill", path)
            if compute and (required or prefill):
                self.err(path, "a computed field cannot be required or prefilled: it is never typed in")
            out.append(Field(
                id=fid, label=label, type=ftype, required=required, choices=choices,
                min=lo, max=hi, max_length=max_length, help=help_text, prefill=prefill,
                compute=compute, operands=operands,
            ))
        return out

    def bounds(self, raw: dict, ftype: str, path: str) -> tuple[Any, Any]:
        out: list[Any] = []
        for key in ("min", "max"):
            value = raw.get(key)
            if value is None:
                out.append(None)
                continue
            if ftype == "date":
                if isinstance(value, dt.datetime):
                    value = value.date()
                if not isinstance(value, dt.date):
                    try:
                        value = dt.date.fromisoformat(str(value))
                    except ValueError:
                        self.err(_join(path, key), f"'{value}' is not a date (YYYY-MM-DD)")
                        value = None
                out.append(value)
            elif ftype in ("money", "number", "percent"):
                out.append(self.number(raw, key, path) if not (isinstance(value, (int, float)) and value < 0) else Decimal(str(value)))
            else:
                self.err(_join(path, key), f"a {ftype} field has no bounds")
                out.append(None)
        lo, hi = out
        if lo is not None and hi is not None and lo > hi:
            self.err(_join(path, "min"), f"min {lo} is above max {hi}")
        return lo, hi

    def compute(self, value: Any, path: str) -> tuple[str | None, tuple[str, ...]]:
        if value is None:
            return None, ()
        if value == "grade":
            return "grade", ()
        if isinstance(value, dict) and set(value) == {"ratio"}:
            ops = value["ratio"]
            if isinstance(ops, list) and len(ops) == 2 and all(isinstance(o, str) for o in ops):
                return "ratio", (ops[0], ops[1])
            self.err(_join(path, "ratio"), "expected [numerator field id, denominator field id]")
            return None, ()
        self.err(path, "expected 'grade' or {ratio: [numerator, denominator]}")
        return None, ()

    def cross_check(self, fields: list[Field]) -> None:
        by_id = {f.id: f for f in fields}
        grades = [n for n, f in enumerate(fields) if f.compute == "grade"]
        if len(grades) > 1:
            self.err(f"fields[{grades[1]}].compute", "only one field may hold the grade")
        labels: dict[str, int] = {}
        for n, f in enumerate(fields):
            if f.label in labels:
                self.err(f"fields[{n}].label", f"label '{f.label}' is already used by fields[{labels[f.label]}]")
            labels.setdefault(f.label, n)
            if f.compute == "ratio":
                for k, op in enumerate(f.operands):
                    target = by_id.get(op)
                    if target is None:
                        hint = difflib.get_close_matches(op, list(by_id), n=1)
                        extra = f"; did you mean '{hint[0]}'?" if hint else ""
                        self.err(f"fields[{n}].compute.ratio[{k}]", f"no field '{op}'{extra}")
                    elif not target.numeric or target.computed:
                        self.err(f"fields[{n}].compute.ratio[{k}]", f"'{op}' must be a numeric input field")

    def summary(self, value: Any, fields: list[Field]) -> dict[str, Any]:
        if value is None:
            return {}
        if not self.keys(value, {k: False for k in SUMMARY_ROLES}, "summary"):
            return {}
        by_id = {f.id: f for f in fields}
        out: dict[str, Any] = {}
        for role, (types, many) in SUMMARY_ROLES.items():
            if role not in value:
                continue
            ids = value[role] if many else [value[role]]
            if not isinstance(ids, list):
                self.err(f"summary.{role}", "expected a list of field ids")
                continue
            for n, fid in enumerate(ids):
                path = f"summary.{role}[{n}]" if many else f"summary.{role}"
                f = by_id.get(fid) if isinstance(fid, str) else None
                if f is None:
                    hint = difflib.get_close_matches(str(fid), list(by_id), n=1)
                    extra = f"; did you mean '{hint[0]}'?" if hint else ""
                    self.err(path, f"no field '{fid}'{extra}")
                elif f.type not in types or f.computed:
                    self.err(path, f"'{fid}' is a {f.type} field; the {role} must be an input field of type {' or '.join(types)}")
            out[role] = tuple(ids) if many else ids[0]
        return out

    def duplicates(self, ids: list[str]) -> None:
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                self.err("", f"id '{i}' is used more than once (ids of fields, categories and indicators must be unique)")
            seen.add(i)

    def categories(self, value: Any, total: Decimal | None) -> list[Category]:
        if not isinstance(value, list) or not value:
            self.err("categories", "expected a non-empty list of categories")
            return []
        out = []
        for n, raw in enumerate(value):
            path = f"categories[{n}]"
            if not self.keys(raw, _CATEGORY_KEYS, path):
                continue
            cid = self.ident(raw, path)
            name = self.text(raw, "name", path, limit=60)
            points = self.number(raw, "points", path) or Decimal(0)
            weights = raw.get("weights", "fixed")
            if weights not in ("fixed", "flexible"):
                self.err(_join(path, "weights"), f"expected 'fixed' or 'flexible', got {weights!r}")
            extra = raw.get("extra_rows", 0)
            if not isinstance(extra, int) or isinstance(extra, bool) or not 0 <= extra <= 50:
                self.err(_join(path, "extra_rows"), "expected a whole number from 0 to 50")
                extra = 0
            if weights == "fixed" and extra:
                self.err(_join(path, "extra_rows"), "a category with fixed weights cannot take extra indicators (their weights could never add up); make it flexible")
            indicators = []
            raw_inds = raw.get("indicators")
            if not isinstance(raw_inds, list) or not raw_inds:
                self.err(_join(path, "indicators"), "expected a non-empty list of indicators")
                raw_inds = []
            for k, ri in enumerate(raw_inds):
                ipath = f"{path}.indicators[{k}]"
                if not self.keys(ri, _INDICATOR_KEYS, ipath):
                    continue
                weight = self.number(ri, "weight", ipath, allow_none=True)
                if weight is not None and weight > points:
                    self.err(_join(ipath, "weight"), f"weight {weight} is above the category's {points} points")
                indicators.append(Indicator(
                    id=self.ident(ri, ipath), name=self.text(ri, "name", ipath, limit=200),
                    explanation=self.text(ri, "explanation", ipath, required=False, limit=2000),
                    weight=weight,
                ))
            wsum = sum((i.weight or Decimal(0)) for i in indicators)
            if weights == "fixed" and indicators and wsum != points:
                self.err(_join(path, "indicators"), f"fixed weights add up to {_fmt(wsum)}, but the category has {_fmt(points)} points")
            if weights == "flexible" and wsum > points:
                self.err(_join(path, "indicators"), f"default weights add up to {_fmt(wsum)}, above the category's {_fmt(points)} points")
            out.append(Category(id=cid, name=name, points=points, weights=str(weights), extra_rows=extra, indicators=tuple(indicators)))
        psum = sum(c.points for c in out)
        if total is not None and out and psum != total:
            self.err("categories", f"category points add up to {_fmt(psum)}, but total is {_fmt(total)}")
        return out

    def bands(self, value: Any, total: Decimal | None) -> list[Band]:
        if not isinstance(value, list) or not value:
            self.err("grades", "expected a non-empty list of grade bands")
            return []
        out = []
        for n, raw in enumerate(value):
            path = f"grades[{n}]"
            if not self.keys(raw, _BAND_KEYS, path):
                continue
            label = self.text(raw, "label", path, limit=20)
            lo = self.number(raw, "min", path)
            if lo is None:
                continue
            if total is not None and lo > total:
                self.err(_join(path, "min"), f"{lo} is above the total of {_fmt(total)}: the band can never be reached")
            out.append((n, Band(label=label, min=lo)))
        seen_min: dict[Decimal, int] = {}
        seen_label: dict[str, int] = {}
        for n, band in out:
            if band.min in seen_min:
                self.err(f"grades[{n}].min", f"overlaps grades[{seen_min[band.min]}]: both start at {_fmt(band.min)}")
            seen_min.setdefault(band.min, n)
            if band.label in seen_label:
                self.err(f"grades[{n}].label", f"label '{band.label}' is used twice")
            seen_label.setdefault(band.label, n)
        if out and min(b.min for _, b in out) != 0:
            n, lowest = min(out, key=lambda nb: nb[1].min)
            self.err(f"grades[{n}].min", f"the lowest band starts at {_fmt(lowest.min)}: scores from 0 up to it have no grade (a gap); start it at 0")
        return sorted((b for _, b in out), key=lambda b: b.min, reverse=True)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral() else str(d)
