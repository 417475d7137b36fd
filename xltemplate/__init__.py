"""xltemplate: project performance self-evaluation (项目绩效自评) through Excel, end to end.

Generate locked workbooks from a declarative spec, read back and validate the
returns, and roll them up into a bureau-wide summary.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    GenerateError,
    OutputPathError,
    RosterError,
    SpecError,
    TemplateNotFoundError,
    XltemplateError,
)
from .layout import Layout  # noqa: E402
from .spec import Spec, load_spec, parse_spec, resolve_template  # noqa: E402

__all__ = [
    "GenerateError", "Layout", "OutputPathError", "RosterError", "Spec", "SpecError",
    "TemplateNotFoundError", "XltemplateError", "__version__", "load_spec", "parse_spec",
    "resolve_template",
]
