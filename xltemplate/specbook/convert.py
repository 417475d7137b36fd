"""The spec commands' library side: a spec written as YAML or as a workbook, and a new form from an old one.

``xltemplate spec export`` / ``spec import`` / ``new`` call these; each is also reachable from Python.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..catalog import spec_from_dict
from ..errors import Problem, SpecError
from ..fsutil import write_atomic
from ..outputs import suffix
from ..spec import Spec
from .read import KEY_ORDER
from .write import write_specbook

#: What ``new`` and ``spec import`` may write: a spec workbook or YAML.
YAML_SUFFIXES = (".yaml", ".yml")


def yaml_text(data: Mapping[str, Any], source: str = "") -> str:
    """A spec's data as YAML, keys in the order the built-in specs have them, Chinese as it is."""
    ordered = {k: data[k] for k in sorted(data, key=lambda k: KEY_ORDER.index(k) if k in KEY_ORDER else len(KEY_ORDER))}
    head = f"# 由 {Path(source).name} 转换（xltemplate spec import）；也可编辑 {Path(source).name} 后再转换。\n" if source else ""
    return head + yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=120)


def write_spec(spec: Spec, target: str | Path) -> Path:
    """Write ``spec`` as a spec workbook (.xlsx) or as YAML (.yaml), by the target's suffix."""
    if suffix(target) in YAML_SUFFIXES:
        text = yaml_text(spec.raw, spec.source if suffix(spec.source) == ".xlsx" else "")

        def write(tmp: Path) -> None:
            tmp.write_text(text, encoding="utf-8")

        return write_atomic(target, write)
    return write_specbook(spec, target)


def new_form(base: Spec, form_id: str, version: str) -> Spec:
    """A new form from ``base``: the same content under a new id and version, checked like any spec."""
    if form_id == base.id and version == base.version:
        raise SpecError(base.source or base.id, [Problem("version", f"新模板的编号和版本都与“{base.id}” {base.version} 相同；"
                                                                           "请用 --version 给出新的版本号")])
    data = copy.deepcopy(dict(base.raw))
    data["id"], data["version"] = form_id, version
    return spec_from_dict(data, source=f"{base.id} {base.version} → {form_id} {version}")
