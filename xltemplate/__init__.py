"""xltemplate: project performance self-evaluation (项目绩效自评) through Excel, end to end.

Generate locked workbooks from a declarative spec, read back and validate the
returns, and roll them up into a bureau-wide summary. README.md's "How the code is
organised" maps the modules.
"""

from __future__ import annotations

from .catalog import as_spec, load_spec, parse_spec, resolve_template
from .errors import (
    GenerateError,
    OutputPathError,
    RosterError,
    SpecError,
    TemplateNotFoundError,
    XltemplateError,
)
from .families import family_of
from .form.layout import FormLayout
from .spec import Spec
from .version import __version__

__all__ = [
    "FormLayout", "GenerateError", "OutputPathError", "RosterError", "Spec", "SpecError",
    "TemplateNotFoundError", "XltemplateError", "__version__", "as_spec", "layout_of", "load_spec", "parse_spec",
    "resolve_template",
]


def layout_of(template: "Spec | str") -> FormLayout:
    """Where everything of a template lives on its form sheet: ``layout_of("sh-project-self-eval").field("budget").cell.a1``."""
    spec = as_spec(template)
    return family_of(spec).layout(spec)
