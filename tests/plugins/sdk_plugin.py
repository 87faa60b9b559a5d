"""A vpsmcp plugin for tests/clients/test_sdk_clients.py: tools that exercise what the official SDK clients handle.

Loaded by path (``[plugins] modules = [".../tests/plugins/sdk_plugin.py"]``), so it
imports nothing from ``tests``. Every tool asks the client before it does
anything else: in the stateless era an ask unwinds the handler and the
client's retry runs it again from the start.
"""

from __future__ import annotations

import asyncio

from vpsmcp.plugin import Plugin
from vpsmcp.protocol.context import Context

plugin = Plugin("sdk-tests")

# Seconds between two progress steps of ``count_slowly``: long enough that a
# notification buffered until the end of the call would be seen as late.
STEP_PAUSE = 0.4

NAME_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "description": "Your name"}},
    "required": ["name"],
}


@plugin.tool()
async def add(ctx: Context, a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@plugin.tool()
async def count_slowly(ctx: Context, steps: int = 3) -> str:
    """Count to ``steps``, reporting progress and logging each step, pausing between steps."""
    for step in range(1, steps + 1):
        if step > 1:
            await asyncio.sleep(STEP_PAUSE)
        await ctx.progress(step, steps, f"step {step} of {steps}")
        await ctx.log("info", {"step": step, "of": steps}, logger="count_slowly")
        await ctx.log("debug", f"debug detail for step {step}", logger="count_slowly")
    return f"counted to {steps}"


@plugin.tool()
async def greet_person(ctx: Context) -> str:
    """Ask the person for their name (elicitation) and greet them."""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA)
    action = answer.get("action")
    if action != "accept":
        return f"no name given ({action})"
    content = answer.get("content") or {}
    return f"hello {content.get('name')}"


@plugin.tool()
async def ask_model(ctx: Context, question: str) -> str:
    """Ask the client's model (sampling) and report its answer."""
    answer = await ctx.sample(
        [{"role": "user", "content": {"type": "text", "text": question}}],
        64,
        systemPrompt="Answer in one word.",
    )
    content = answer.get("content") or {}
    text = content.get("text") if isinstance(content, dict) else None
    return f"model {answer.get('model')} answered: {text}"
