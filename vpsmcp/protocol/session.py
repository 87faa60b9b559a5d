"""A handshake-era MCP session, as the protocol sees it (no I/O, no transport).

The lifecycle (basic/lifecycle) is one table: which requests each phase
accepts and which request moves it on. Everything else about a session —
its id, streams, expiry — belongs to the transport's session store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from vpsmcp.protocol.versions import DEFAULT_HTTP_VERSION


class Phase(Enum):
    NEW = "new"  # created for an initialize request that has not been answered yet
    OPEN = "open"  # initialize answered: every other request is served
    CLOSED = "closed"  # deleted or expired: nothing is served


ANY = "*"

# Rule: everything that decides what a session may do in which phase lives here.
ACCEPTS: dict[Phase, frozenset[str]] = {
    Phase.NEW: frozenset({"initialize", "ping"}),
    Phase.OPEN: frozenset({ANY}),
    Phase.CLOSED: frozenset(),
}
REFUSES: dict[Phase, frozenset[str]] = {
    Phase.NEW: frozenset(),
    Phase.OPEN: frozenset({"initialize", "server/discover"}),
    Phase.CLOSED: frozenset(),
}
ADVANCES: dict[tuple[Phase, str], Phase] = {
    (Phase.NEW, "initialize"): Phase.OPEN,
}


@dataclass(slots=True)
class Session:
    """What the client told us in ``initialize`` and has set since."""

    version: str = DEFAULT_HTTP_VERSION
    phase: Phase = Phase.NEW
    client_info: dict[str, Any] = field(default_factory=dict)
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    initialized: bool = False  # notifications/initialized arrived (lenient: not required)
    subscriptions: set[str] = field(default_factory=set)

    def accepts(self, method: str) -> bool:
        """Whether ``method`` may be called in the current phase."""
        if method in REFUSES[self.phase]:
            return False
        allowed = ACCEPTS[self.phase]
        return ANY in allowed or method in allowed

    def advance(self, method: str) -> None:
        """Move on after ``method`` has been answered successfully."""
        self.phase = ADVANCES.get((self.phase, method), self.phase)

    def close(self) -> None:
        self.phase = Phase.CLOSED
