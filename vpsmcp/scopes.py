"""The scopes a token can carry, and what each lets a client do, in words.

A tool, resource or prompt names the one scope it needs (``registry.Tool.scope``).
The authorization server offers these scopes, the consent page shows their
descriptions, and a call outside the granted scopes is refused with a 403
step-up challenge naming the scope to ask for.
"""

from __future__ import annotations

from collections.abc import Iterable

READ = "vps:read"
FILES_WRITE = "vps:files:write"
CONTROL = "vps:control"
EXEC = "vps:exec"
PLUGINS = "mcp:read"
UPSTREAM_PREFIX = "upstream:"

DESCRIPTIONS: dict[str, str] = {
    READ: "See the server's state: status, processes, services, logs, files and containers (read only)",
    FILES_WRITE: "Create, change, move and delete files under the allowed folders",
    CONTROL: "Start, stop and restart services and containers, and signal processes",
    EXEC: "Run commands on the server",
    PLUGINS: "Use the tools, resources and prompts of the owner's plugins",
}

# Scopes a consent page leaves unticked unless the owner ticks them.
DANGEROUS = frozenset({FILES_WRITE, CONTROL, EXEC})


def upstream(name: str) -> str:
    """The scope of one gateway upstream."""
    return UPSTREAM_PREFIX + name


def describe(scope: str) -> str:
    """What ``scope`` allows, for people."""
    if scope in DESCRIPTIONS:
        return DESCRIPTIONS[scope]
    if scope.startswith(UPSTREAM_PREFIX):
        return f"Use the upstream MCP server {scope[len(UPSTREAM_PREFIX):]!r}"
    return scope


def ordered(scopes: Iterable[str]) -> list[str]:
    """``scopes`` deduplicated, the built-in ones first in a fixed order."""
    known = [s for s in DESCRIPTIONS if s in set(scopes)]
    rest = sorted(set(scopes) - set(DESCRIPTIONS))
    return known + rest
