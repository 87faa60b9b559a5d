"""What to do next, said by ``serve`` on every start: the URL to give a client, and where to give it.

Claude's hosted connector (claude.ai, and Desktop and Code through it) reaches
only public https URLs; a client on this machine can use the loopback one.
The first start adds this under the owner password it shows once.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from vpsmcp import paths
from vpsmcp.transport.guard import LOOPBACK_NAMES


def endpoint_of(public_url: str) -> str:
    return public_url.rstrip("/") + paths.MCP


def connect_line(public_url: str) -> str:
    """One line: the endpoint, and how a client gets to it."""
    endpoint = endpoint_of(public_url)
    parts = urlsplit(public_url)
    if parts.scheme == "https":
        return f"MCP endpoint {endpoint} — in Claude: Settings → Connectors → Add custom connector → {endpoint}"
    host = parts.hostname or ""
    if host in LOOPBACK_NAMES or host.startswith("127."):
        return (f"MCP endpoint {endpoint}, for clients on this machine (Claude Code: "
                f"claude mcp add --transport http vpsmcp {endpoint}); claude.ai reaches only https URLs: "
                "on a VPS, run 'vpsmcp install --public-url https://YOUR.DOMAIN'")
    return (f"MCP endpoint {endpoint} — claude.ai reaches only https URLs: put it behind TLS "
            "('vpsmcp install --public-url https://YOUR.DOMAIN') and set server.public_url")
