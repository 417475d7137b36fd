"""Dotted key paths into a spec's plain data (``funding.points``, ``rules.qualitative``)."""

from __future__ import annotations

from typing import Any, Mapping


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, making the mappings on the way."""
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node[keys[-1]] = value
