"""xltemplate: project performance self-evaluation (项目绩效自评) through Excel, end to end.

Generate locked workbooks from a declarative spec, read back and validate the
returns, and roll them up into a bureau-wide summary. README.md's "How the code is
organised" maps the modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    GenerateError,
    OutputPathError,
    RosterError,
    SpecError,
    TemplateNotFoundError,
    XltemplateError,
)
from .lazynames import later
from .version import __version__

if TYPE_CHECKING:
    from .catalog import as_spec, load_spec, parse_spec, resolve_template
    from .form.layout import FormLayout
    from .spec import Spec

__all__ = [
    "FormLayout", "GenerateError", "OutputPathError", "RosterError", "Spec", "SpecError",
    "TemplateNotFoundError", "XltemplateError", "__version__", "as_spec", "layout_of", "load_spec", "parse_spec",
    "resolve_template",
]

#: The names this package gives from modules it imports when a name is first asked for (``xltemplate.Spec``,
#: ``from xltemplate import as_spec``), not when it is imported: ``import xltemplate.cli`` (every command) imported the
#: catalog, YAML, the spec and the layout with them (~60 ms without bytecode, issue 15) though ``--help`` and most
#: commands ask for none of them here. The same objects, the same names (``__all__``, ``dir``).
_LATER = {
    "as_spec": "catalog", "load_spec": "catalog", "parse_spec": "catalog", "resolve_template": "catalog",
    "FormLayout": "form.layout", "Spec": "spec",
}

__getattr__ = later(__name__, _LATER, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LATER))


def layout_of(template: "Spec | str") -> "FormLayout":
    """Where everything of a template lives on its form sheet: ``layout_of("sh-project-self-eval").field("budget").cell.a1``."""
    from .catalog import as_spec
    from .form.family import family_of

    spec = as_spec(template)
    return family_of(spec).layout(spec)
