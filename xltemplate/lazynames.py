"""A package's names given from its modules when first asked for: a module ``__getattr__`` (PEP 562) made once.

``__getattr__ = later(__name__, {"name": "module", ...}, globals())`` in a package's ``__init__``: ``package.name``
(and ``from package import name``) imports ``package.module`` the first time and keeps the name in the package, so
importing the package itself imports none of them (issue 15: what every command's start imports).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def later(package: str, where: Mapping[str, str], space: dict[str, Any]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package`` (whose globals are ``space``): each name of ``where`` from its module."""
    def __getattr__(name: str) -> Any:
        part = where.get(name)
        if part is None:
            # a submodule (``import xltemplate`` then ``xltemplate.spec.Spec``: the package imported several with itself
            # before its names were lazy, so scripts may ask for them so)
            if not name.startswith("__"):
                try:
                    return importlib.import_module(f"{package}.{name}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{package}.{name}":
                        raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{part}"), name)
        space[name] = value
        return value
    return __getattr__
