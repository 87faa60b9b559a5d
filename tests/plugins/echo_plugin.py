"""A small plugin for the HTTP tests: quick, slow and side-effecting tools."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vpsmcp.plugin import Plugin
from vpsmcp.protocol.context import Context

plugin = Plugin()


@plugin.tool()
async def echo(ctx: Context, text: str) -> str:
    """Return the text."""
    return text


@plugin.tool()
async def slow(ctx: Context, steps: int = 3, delay: float = 0.2, marker: str = "") -> str:
    """Report progress for each step; write ``marker`` (a file path) only when it finishes."""
    for step in range(steps):
        await ctx.progress(step + 1, steps)
        await ctx.log("info", f"step {step + 1}")
        await asyncio.sleep(delay)
    if marker:
        Path(marker).write_text("finished")
    return f"done after {steps} steps"
