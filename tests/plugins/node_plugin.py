"""A plugin for a fleet node in the tests: a resource, a resource template and a prompt of its own."""

from __future__ import annotations

from vpsmcp.plugin import Plugin
from vpsmcp.protocol.context import Context

plugin = Plugin("node-tests")


@plugin.resource("notes://motd", description="The message of the day")
async def motd(ctx: Context, uri: str) -> str:
    return "today: maintenance at noon"


@plugin.resource("notes://host/{key}", description="One fact about the host")
async def fact(ctx: Context, uri: str, key: str) -> str:
    return f"fact {key}"


@plugin.prompt(description="Ask about the host's health")
async def health(ctx: Context, focus: str) -> str:
    return f"How is the host's {focus}?"
