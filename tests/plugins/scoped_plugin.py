"""A plugin for the OAuth tests: one tool anyone with a token may call, one that needs ``vps:exec``.

Loaded by path (``[plugins] modules = [".../tests/plugins/scoped_plugin.py"]``), so it
imports nothing from ``tests``.
"""

from __future__ import annotations

from vpsmcp import scopes
from vpsmcp.plugin import Plugin
from vpsmcp.protocol.context import Context

plugin = Plugin("oauth-tests")


@plugin.tool()
async def echo(ctx: Context, text: str) -> str:
    """Return the text (scope ``mcp:read``, the plugins' default)."""
    return text


@plugin.tool(scope=scopes.EXEC)
async def pretend_exec(ctx: Context, command: str) -> str:
    """Pretend to run a command (scope ``vps:exec``); it runs nothing."""
    return f"would run {command}"
