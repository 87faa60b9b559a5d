"""The readable text that goes with a tool's structured result.

A client that reads only text content (or a person reading a transcript) gets
aligned tables and ``key: value`` lines rather than raw JSON; a client that
reads ``structuredContent`` gets the data itself (MCP server/tools,
"Structured Content": the text SHOULD carry the same information).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vpsmcp.protocol.results import ToolResult, text
from vpsmcp.tools.truncation import clip_text

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def result(data: dict[str, Any], rendered: str, limit: int, hint: str = "narrow the request") -> ToolResult:
    """A structured result with its text rendering, the text cut at ``limit`` characters."""
    shown, _ = clip_text(rendered, limit, hint)
    return ToolResult(content=[text(shown)], structured=data)


def size(count: int | float | None) -> str:
    """A byte count for people: ``1.5 GiB``."""
    if count is None:
        return "-"
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def cell(value: Any) -> str:
    """One table cell: no line breaks, ``-`` for nothing."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    return " ".join(str(value).split())


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str = "(none)") -> str:
    """Rows as aligned columns under a header; the last column is never padded."""
    if not rows:
        return empty
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join(
        "  ".join(value.ljust(widths[i]) if i < len(columns) - 1 else value for i, value in enumerate(line)).rstrip()
        for line in lines
    )


def fields(pairs: Mapping[str, Any]) -> str:
    """``key: value`` lines, keys aligned."""
    width = max((len(k) for k in pairs), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {cell(value)}" for key, value in pairs.items())


def joined(*parts: str) -> str:
    """Non-empty parts separated by blank lines."""
    return "\n\n".join(part for part in parts if part)
