"""Values as people type them: normalise what is unambiguous, refuse what is not.

Each parser takes what a cell (or a roster) holds and returns a :class:`Parsed`:
the value to use, and either a note saying how it was normalised (a warning
for the person) or an error saying why it cannot be used. An unreadable value
is never turned into 0.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

#: Excel's day 0 for the 1900 date system (serial 1 = 1900-01-01, with the 1900 leap-year bug).
EXCEL_EPOCH = dt.date(1899, 12, 30)
_SPACES = "\u00a0\u2002\u2003\u2009\u200b\u3000\ufeff"
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
# A date typed with a time of day that is exactly midnight is still a date.
_DATETIME_MIDNIGHT = re.compile(r"^(.+?)[ T]0?0:00(:00)?$")


class Parsed(NamedTuple):
    """The outcome of reading one value.

    A named tuple, not a frozen dataclass: validation reads some sixty values a return, and a
    frozen dataclass's constructor costs several times as much.
    """

    value: Any = None
    note: str = ""  # how the value was normalised (a warning), empty when used as seen
    error: str = ""  # why the value cannot be used (an error), empty when it can

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def blank(self) -> bool:
        return self.ok and self.value is None


BLANK = Parsed()


def is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not clean_text(raw))


def clean_text(raw: str) -> str:
    """Strip ordinary and full-width spaces, a leading apostrophe and zero-width marks."""
    text = raw.strip(" \t\r\n" + _SPACES)
    if text.startswith("'"):
        text = text[1:].strip(" \t" + _SPACES)
    return text


#: Beyond this magnitude a figure is not a score or an amount of money but damage or mischief;
#: refusing it also keeps every later format and sum small.
MAX_MAGNITUDE = 15  # digits before the decimal point (10^15: a thousand trillion)


def _bounded(d: Decimal) -> bool:
    return d.is_finite() and (d == 0 or -MAX_MAGNITUDE <= d.adjusted() <= MAX_MAGNITUDE)


def _to_decimal(v: int | float | Decimal) -> Decimal | None:
    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    return d if _bounded(d) else None


def exact_number(v: int | float) -> Decimal | None:
    """What every number reader (:func:`parse_number` of any kind, :func:`parse_measure` in any unit) reads a float
    or an int (exact types, not a bool) as: its Decimal (a float's by its repr), or None beyond the bounds (NaN,
    infinities, too many digits), where they give an error. :func:`_to_decimal`, for those two types."""
    d = Decimal(repr(v)) if type(v) is float else Decimal(v)
    return d if d.is_finite() and (d == 0 or -MAX_MAGNITUDE <= d.adjusted() <= MAX_MAGNITUDE) else None


def _unless_text(raw: Any) -> Parsed | None:
    """What a value that is not a text to read means in a number cell: blank, a number, or why it is none.

    None for a text (not blank), which the caller reads in its own way (a number, a number with its unit).
    """
    if is_blank(raw):
        return BLANK
    if isinstance(raw, bool):
        return Parsed(error=f"“{'TRUE' if raw else 'FALSE'}”不是数字")
    if isinstance(raw, (int, float, Decimal)):
        d = _to_decimal(raw)
        return Parsed(d) if d is not None else Parsed(error=f"“{_clip(str(raw))}”不是有效数字或数值过大")
    if isinstance(raw, (dt.date, dt.datetime)):
        return Parsed(error=f"这里应填数字，不是日期（{raw:%Y-%m-%d}）")
    if not isinstance(raw, str):
        return Parsed(error=f"无法识别的值 {raw!r}")
    return None


def parse_number(raw: Any, kind: str = "number") -> Parsed:
    """A number from a cell: ``kind`` is number, money, percent or score.

    Percent values are fractions (``"99.71%"`` → 0.9971), as Excel stores them.
    """
    kind_of = type(raw)
    if kind_of is float or kind_of is int or kind_of is Decimal:  # what a cell nearly always holds: one test
        d = _to_decimal(raw)
        return Parsed(d) if d is not None else Parsed(error=f"“{_clip(str(raw))}”不是有效数字或数值过大")
    early = _unless_text(raw)
    if early is not None:
        return early
    text = unicodedata.normalize("NFKC", clean_text(raw))  # full-width digits, ，．％ → ASCII
    text = text.replace(" ", "")
    original = raw
    percent = False
    for suffix in ("分", "元", "%"):
        if text.endswith(suffix):
            if suffix == "%":
                percent = True
            elif suffix == "元" and kind not in ("money",):
                return Parsed(error=f"“{original}”带有单位“元”，这里不是金额")
            elif suffix == "分" and kind not in ("score", "number"):
                return Parsed(error=f"“{original}”带有单位“分”，这里不是分数")
            text = text[: -len(suffix)]
            break
    if text.endswith(("万元", "万")):
        return Parsed(error=f"“{original}”以“万元”为单位；请换算成元后填写数字")
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    elif "," in text:
        return Parsed(error=f"“{original}”中的逗号无法确定是千位分隔还是小数点，请只填数字")
    if not _PLAIN.match(text):
        return Parsed(error=f"“{original}”不是数字")
    try:
        d = Decimal(text)
    except InvalidOperation:
        return Parsed(error=f"“{original}”不是数字")
    if not _bounded(d):
        return Parsed(error=f"“{_clip(original)}”不是有效数字或数值过大")
    if percent:
        if kind != "percent":
            return Parsed(error=f"“{original}”是百分数，这里应填{_kind_name(kind)}")
        d = d / 100
    elif kind == "percent":
        return Parsed(error=f"“{original}”没有百分号，无法确定是{text}%还是{text}倍；请填写如 99.71%")
    return Parsed(d, note=f"文本“{original}”按数字 {_show(d, kind)} 读取")


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _kind_name(kind: str) -> str:
    return {"money": "金额", "score": "分数", "number": "数字", "percent": "百分数"}.get(kind, "数字")


def _show(d: Decimal, kind: str) -> str:
    if kind == "percent":
        return f"{d * 100:f}%".replace(".00%", "%")
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_date(raw: Any) -> Parsed:
    """A date from a cell: a real date, an Excel serial, or one of the usual text shapes."""
    if is_blank(raw):
        return BLANK
    if isinstance(raw, dt.datetime):
        if raw.time() != dt.time(0):
            return Parsed(raw.date(), note=f"日期时间 {raw:%Y-%m-%d %H:%M} 按日期 {raw:%Y-%m-%d} 读取")
        return Parsed(raw.date())
    if isinstance(raw, dt.date):
        return Parsed(raw)
    if isinstance(raw, bool):
        return Parsed(error="这里应填日期")
    if isinstance(raw, (int, float, Decimal)):
        try:
            num = float(raw)
        except (OverflowError, ValueError):
            return Parsed(error=f"“{_clip(str(raw))}”不是日期")
        if not math.isfinite(num):
            return Parsed(error=f"“{_clip(str(raw))}”不是日期")
        if float(num).is_integer() and 19000101 <= num <= 21001231:
            return _ymd(str(int(num)), str(raw))
        if 1 <= num < 2958466 and float(num).is_integer():
            value = EXCEL_EPOCH + dt.timedelta(days=int(num))
            return Parsed(value, note=f"Excel 日期序列号 {int(num)} 按日期 {value.isoformat()} 读取")
        return Parsed(error=f"“{raw}”不是日期")
    if not isinstance(raw, str):
        return Parsed(error=f"无法识别的值 {raw!r}")
    text = unicodedata.normalize("NFKC", clean_text(raw))
    m = _DATETIME_MIDNIGHT.match(text)
    if m:
        text = m.group(1)
    return _ymd(text.replace(" ", ""), raw)


def _ymd(text: str, original: str) -> Parsed:
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            try:
                value = dt.date(y, mo, d)
            except ValueError:
                return Parsed(error=f"“{original}”不是存在的日期")
            return Parsed(value, note=f"文本“{original}”按日期 {value.isoformat()} 读取")
    return Parsed(error=f"“{original}”不是可识别的日期；请填写如 2021-04-30")


def parse_choice(raw: Any, choices: tuple[str, ...]) -> Parsed:
    """One of the allowed choices; stray spaces and full-width forms are forgiven."""
    if is_blank(raw):
        return BLANK
    text = str(raw)
    if text in choices:
        return Parsed(text)
    cleaned = unicodedata.normalize("NFKC", clean_text(text)).replace(" ", "")
    if cleaned in choices:
        return Parsed(cleaned, note=f"“{text}”按选项“{cleaned}”读取")
    return Parsed(error=f"“{text}”不是可选项，只能选择：{'、'.join(choices)}")


def parse_text(raw: Any) -> Parsed:
    """Free text: kept as typed, except surrounding spaces; numbers become their text."""
    if is_blank(raw):
        return BLANK
    if isinstance(raw, str):
        return Parsed(raw.strip())
    if isinstance(raw, bool):
        return Parsed("是" if raw else "否")
    if isinstance(raw, float) and raw.is_integer():
        return Parsed(str(int(raw)))
    if isinstance(raw, (dt.date, dt.datetime)):
        return Parsed(raw.date().isoformat() if isinstance(raw, dt.datetime) else raw.isoformat())
    return Parsed(str(raw))


def parse_field(raw: Any, ftype: str, choices: tuple[str, ...] = ()) -> Parsed:
    """Dispatch on a spec field type."""
    if ftype in ("money", "number", "percent"):
        return parse_number(raw, ftype)
    if ftype == "date":
        return parse_date(raw)
    if ftype == "choice":
        return parse_choice(raw, choices)
    return parse_text(raw)


#: :func:`parse_measure` decides a value of the exact types float, int and Decimal (what a cell nearly always holds)
#: by one test, as :func:`parse_number` does, rather than through :func:`_unless_text`'s tests in turn (the same
#: outcome for those types: none is blank, none a bool). False: through :func:`_unless_text` (the tests compare).
NUMBERS_FIRST = True

_MEASURE = re.compile(r"^([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)(.*)$")


def unit_key(unit: str) -> str:
    """A unit as typed units are compared with it: NFKC (full-width ％ is %), no spaces, any case."""
    return unicodedata.normalize("NFKC", unit).replace(" ", "").lower()


@dataclass(frozen=True, slots=True)
class Measure:
    """A reader of an input slot (:class:`~xltemplate.form.family.InputSlot`): :func:`parse_measure` in ``unit``,
    whatever other cells hold. A value of its own type, so that normalise can tell what it reads a number as."""

    unit: str

    def __call__(self, raw: Any, lookup: Any = None) -> Parsed:
        return parse_measure(raw, self.unit)


def parse_measure(raw: Any, unit: str) -> Parsed:
    """A number measured in ``unit`` (an indicator's 计量单位, or the form's money unit).

    A text with that unit after the number is read as the number (``95%`` in a row measured in % is
    95, ``1,200 万元`` on a form in 万元 is 1200, ``３天`` is 3), with a note; a text with any other
    unit is refused rather than guessed (``95%`` in a row measured in 个, ``1200元`` on a form in
    万元): the person who typed it must convert it.
    """
    kind_of = type(raw)
    if NUMBERS_FIRST and (kind_of is float or kind_of is int or kind_of is Decimal):  # a number cell: one test
        d = _to_decimal(raw)  # (what _unless_text decides for these exact types)
        return Parsed(d) if d is not None else Parsed(error=f"“{_clip(str(raw))}”不是有效数字或数值过大")
    early = _unless_text(raw)
    if early is not None:
        return early
    text = unicodedata.normalize("NFKC", clean_text(raw)).replace(" ", "")
    m = _MEASURE.match(text)
    if not m:
        return Parsed(error=f"“{_clip(raw)}”不是数字")
    number, rest = m.group(1).replace(",", ""), unit_key(m.group(2))
    try:
        d = Decimal(number)
    except InvalidOperation:
        return Parsed(error=f"“{_clip(raw)}”不是数字")
    if not _bounded(d):
        return Parsed(error=f"“{_clip(raw)}”不是有效数字或数值过大")
    if not rest:
        return Parsed(d, note=f"文本“{_clip(raw)}”按数字 {d:f} 读取")
    if unit and rest == unit_key(unit):
        return Parsed(d, note=f"文本“{_clip(raw)}”按计量单位“{unit}”读取为 {d:f}")
    return Parsed(error=f"“{_clip(raw)}”带的单位“{_clip(m.group(2), 10)}”与计量单位“{unit or '（未填写）'}”不一致，无法换算；"
                        "请按计量单位换算后只填数字")
