"""Turning what a tool handler returns into a ``CallToolResult``.

Handlers may return plain values so that a ten-line tool stays ten lines:
a string becomes text content, a dict becomes structured content (with its
JSON as text, for clients that read only text), a list is taken as content
blocks, and ``ToolResult`` says everything explicitly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolResult:
    """An explicit tool result."""

    content: list[dict[str, Any]] = field(default_factory=list)
    structured: dict[str, Any] | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class WireResult:
    """A ``CallToolResult`` already in wire form (a gateway upstream's), served unchanged."""

    result: dict[str, Any]


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_result(value: Any) -> dict[str, Any]:
    """The wire form of a handler's return value."""
    if isinstance(value, WireResult):
        return value.result
    if isinstance(value, ToolResult):
        result: dict[str, Any] = {"content": value.content, "isError": value.is_error}
        if value.structured is not None:
            result["structuredContent"] = value.structured
        return result
    if value is None:
        return {"content": [], "isError": False}
    if isinstance(value, str):
        return {"content": [text(value)], "isError": False}
    if isinstance(value, dict):
        rendered = json.dumps(value, ensure_ascii=False, indent=2, default=str)
        return {"content": [text(rendered)], "structuredContent": value, "isError": False}
    if isinstance(value, list) and all(isinstance(v, dict) and "type" in v for v in value):
        return {"content": value, "isError": False}
    return {"content": [text(json.dumps(value, ensure_ascii=False, default=str))], "isError": False}
