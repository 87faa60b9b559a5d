"""JSON Schema fragments for the built-in tools' inputs and outputs.

Tool schemas are JSON Schema 2020-12 (MCP server/tools, "Tool"): an input
schema is an object with named properties, and an output schema describes the
``structuredContent`` a client may validate. Input objects refuse unknown
properties so a misspelled argument is an error, not silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Schema = dict[str, Any]


def _with(base: Schema, description: str, **extra: Any) -> Schema:
    schema = dict(base)
    if description:
        schema["description"] = description
    schema.update({k: v for k, v in extra.items() if v is not None})
    return schema


def string(description: str = "", *, default: str | None = None, enum: Sequence[str] | None = None) -> Schema:
    """A string, optionally one of ``enum``."""
    return _with({"type": "string"}, description, default=default, enum=list(enum) if enum else None)


def integer(
    description: str = "", *, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> Schema:
    """An integer within ``minimum`` … ``maximum``."""
    return _with({"type": "integer"}, description, default=default, minimum=minimum, maximum=maximum)


def number(
    description: str = "", *, default: float | None = None, minimum: float | None = None, maximum: float | None = None
) -> Schema:
    """A number within ``minimum`` … ``maximum``."""
    return _with({"type": "number"}, description, default=default, minimum=minimum, maximum=maximum)


def boolean(description: str = "", *, default: bool | None = None) -> Schema:
    """true or false."""
    return _with({"type": "boolean"}, description, default=default)


def array(items: Schema, description: str = "") -> Schema:
    """A list of ``items``."""
    return _with({"type": "array", "items": items}, description)


def strings(description: str = "") -> Schema:
    """A list of strings."""
    return array({"type": "string"}, description)


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (a value that may be unknown)."""
    kind = schema["type"]
    return {**schema, "type": [kind, "null"] if isinstance(kind, str) else [*kind, "null"]}


def obj(properties: Mapping[str, Schema], required: Sequence[str] = (), description: str = "") -> Schema:
    """An output object: the listed properties (more may follow)."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return _with(schema, description)


def inputs(properties: Mapping[str, Schema], required: Sequence[str] = ()) -> Schema:
    """A tool's input schema: exactly these properties."""
    return {**obj(properties, required), "additionalProperties": False}


def listing(key: str, item: Schema, **extra: Schema) -> Schema:
    """An output object holding one page of ``item`` under ``key``, with paging fields."""
    return obj(
        {
            key: array(item),
            "total": integer("How many there are in all."),
            "next_offset": nullable(integer("Pass as offset to get the next page; null on the last page.")),
            **extra,
        },
        required=(key, "total", "next_offset"),
    )


def paging(default_limit: int = 100, max_limit: int = 1000) -> dict[str, Schema]:
    """The ``offset`` and ``limit`` inputs of a listing tool."""
    return {
        "offset": integer("How many entries to skip (from next_offset).", default=0, minimum=0),
        "limit": integer("Most entries to return.", default=default_limit, minimum=1, maximum=max_limit),
    }
