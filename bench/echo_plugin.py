"""The vpsmcp plugin the benchmark loads: one trivial tool, so the figures are transport cost."""

from __future__ import annotations

from typing import Any

from vpsmcp.plugin import Plugin

plugin = Plugin("bench")


@plugin.tool()
async def echo(ctx: Any, text: str) -> str:
    """Return the text unchanged."""
    return text
