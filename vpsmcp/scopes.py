"""The scopes a token can carry, and what each lets a client do, in words.

A tool, resource or prompt names the scope it needs (``registry.Tool.scope``): one
name, or several separated by spaces that must all be granted (a fleet node's
read tool needs ``fleet:web1 vps:read``).
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
FLEET_PREFIX = "fleet:"
# In a list entry's ``_meta``: the scope it needs, so a fleet hub in front of this server can map it.
SCOPE_KEY = "io.vpsmcp/scope"
# In a call's ``_meta``, from a fleet hub: who asked the hub (recorded, never trusted for access).
ON_BEHALF_KEY = "io.vpsmcp/on-behalf-of"

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


def fleet(name: str) -> str:
    """The scope of one fleet node (another vpsmcp the hub fronts)."""
    return FLEET_PREFIX + name


def each(scope: str) -> list[str]:
    """The scope names a requirement holds (one, or several separated by spaces)."""
    return scope.split()


def describe(scope: str) -> str:
    """What ``scope`` allows, for people."""
    if scope in DESCRIPTIONS:
        return DESCRIPTIONS[scope]
    if scope.startswith(UPSTREAM_PREFIX):
        return f"Use the upstream MCP server {scope[len(UPSTREAM_PREFIX):]!r}"
    if scope.startswith(FLEET_PREFIX):
        return (f"Use the fleet node {scope[len(FLEET_PREFIX):]!r} (another server's vpsmcp), "
                "within the other scopes granted here")
    return scope


def ordered(scopes: Iterable[str]) -> list[str]:
    """``scopes`` deduplicated, the built-in ones first in a fixed order."""
    known = [s for s in DESCRIPTIONS if s in set(scopes)]
    rest = sorted(set(scopes) - set(DESCRIPTIONS))
    return known + rest
