"""Checking a tool call's arguments against its input schema, and reading them typed.

The subset of JSON Schema the built-in tools use (types, ``enum``, ``minimum``,
``maximum``, array items, ``required``, no extra properties) is checked here
once, so a handler reads ``args.text("path")`` knowing it is a string. A bad
argument is a ``ToolError`` the model can read and correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpsmcp.errors import ToolError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` with defaults filled in; raises ``ToolError`` naming the first problem."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(arguments.keys() - properties.keys())
    if unknown:
        raise ToolError(f"unknown argument(s): {', '.join(unknown)} (this tool takes: {', '.join(properties)})")
    missing = [key for key in schema.get("required", ()) if key not in arguments]
    if missing:
        raise ToolError(f"missing required argument(s): {', '.join(missing)}")
    values: dict[str, Any] = {}
    for key, prop in properties.items():
        if key in arguments and arguments[key] is not None:
            problem = value_problem(prop, arguments[key])
            if problem:
                raise ToolError(f"argument {key!r}: expected {problem}, got {_show(arguments[key])}")
            values[key] = arguments[key]
        else:
            values[key] = prop.get("default")
    return values


def value_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """What ``schema`` expects when ``value`` does not fit it, else ``None``."""
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    kinds = [k for k in kinds if k != "null"]
    if kinds and not any(_is(k, value) for k in kinds):
        return " or ".join(f"a {k}" for k in kinds)
    if "enum" in schema and value not in schema["enum"]:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "minimum" in schema and value < schema["minimum"]:
        return f"at least {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"at most {schema['maximum']}"
    if isinstance(value, list) and "items" in schema:
        for item in value:
            problem = value_problem(schema["items"], item)
            if problem:
                return f"a list of items each {problem}"
    return None


def _is(kind: str, value: Any) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES.get(kind, (object,)))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Args:
    """A call's checked arguments (defaults applied), read by type."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def text(self, key: str) -> str:
        value = self._values[key]
        assert isinstance(value, str), key
        return value

    def text_or_none(self, key: str) -> str | None:
        value = self._values.get(key)
        return value if isinstance(value, str) else None

    def integer(self, key: str) -> int:
        value = self._values[key]
        assert isinstance(value, int), key
        return value

    def integer_or_none(self, key: str) -> int | None:
        value = self._values.get(key)
        return value if isinstance(value, int) else None

    def number(self, key: str) -> float:
        value = self._values[key]
        assert isinstance(value, (int, float)), key
        return float(value)

    def number_or_none(self, key: str) -> float | None:
        value = self._values.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    def flag(self, key: str) -> bool:
        return bool(self._values.get(key))

    def flag_or_none(self, key: str) -> bool | None:
        value = self._values.get(key)
        return value if isinstance(value, bool) else None

    def strings(self, key: str) -> list[str]:
        value = self._values.get(key) or []
        return [str(v) for v in value]
