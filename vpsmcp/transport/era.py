"""Which era serves a POST to ``/mcp``: the one place that decides, from headers and body.

No I/O. The spec routes on ``MCP-Protocol-Version`` alone, and a client that
follows it gets exactly that. Claude's connector does not, in two documented
ways, and each is served rather than refused:

- after ``server/discover`` it sends a 2026-07-28 body (``params._meta``
  carries the version) under the header ``MCP-Protocol-Version: 2025-11-25``,
  or under no header, and no session (anthropics/claude-code#93290). A strict
  server answers -32020 and every tool call fails while the connector shows
  "connected". Without a session id, the body's era wins;
- after ``initialize`` some of its requests come from another of its services
  without ``Mcp-Session-Id`` (anthropics/claude-ai-mcp#99). A handshake-era
  request without a session id is served without a session, as the stateless
  era serves everything: what needs none works; what needs one (server→client
  requests, subscriptions) says so.

A request that carries a session id is always the session's (an unknown id is
404, so the client re-initializes); one whose header names 2026-07-28 gets the
stateless era's strict checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from vpsmcp.protocol.dispatch import META
from vpsmcp.protocol.jsonrpc import Message, Notification, Request
from vpsmcp.protocol.versions import HANDSHAKE_VERSIONS

VERSION_KEY = META + "protocolVersion"


class Route(Enum):
    """How a POST is served."""

    STATELESS = "stateless"  # 2026-07-28 by its header: every check strict
    BODY = "body"  # 2026-07-28 by its body, the header saying otherwise or nothing (claude-code#93290)
    SESSION = "session"  # the handshake era: initialize, or a request in a session
    SESSIONLESS = "sessionless"  # the handshake era without a session id (claude-ai-mcp#99)


class Quirk(Enum):
    """A documented client behaviour that vpsmcp serves instead of refusing; counted and traced."""

    VERSION_HEADER = "version_header"  # header and body name different eras
    NO_SESSION = "no_session"  # a handshake-era request without Mcp-Session-Id


@dataclass(frozen=True, slots=True)
class Decision:
    """The route, and the quirk it serves, in words for the trace."""

    route: Route
    quirk: Quirk | None = None
    detail: str = ""


SESSION = Decision(Route.SESSION)
STATELESS = Decision(Route.STATELESS)


def by_header(header_version: str | None) -> Decision | None:
    """The decision the header alone makes (a version that is not a handshake one), else ``None``."""
    if header_version is not None and header_version not in HANDSHAKE_VERSIONS:
        return STATELESS
    return None


def decide(header_version: str | None, session_id: str | None, messages: Sequence[Message]) -> Decision:
    """The route of a POST whose header did not settle it (see the module docstring)."""
    if session_id or any(isinstance(m, Request) and m.method == "initialize" for m in messages):
        return SESSION
    said = f"header said {header_version}" if header_version else "no MCP-Protocol-Version header"
    body_version = next((v for v in map(body_version_of, messages) if v is not None), None)
    if body_version is not None:
        return Decision(Route.BODY, Quirk.VERSION_HEADER, f"{said}, body said {body_version}: served as {body_version}")
    return Decision(Route.SESSIONLESS, Quirk.NO_SESSION, f"no Mcp-Session-Id ({said}): served without a session")


def body_version_of(message: Message) -> str | None:
    """The version a request's or notification's ``params._meta`` names, when it is not a handshake one."""
    if not isinstance(message, (Request, Notification)):
        return None
    meta = message.params.get("_meta")
    version = meta.get(VERSION_KEY) if isinstance(meta, dict) else None
    return version if isinstance(version, str) and version not in HANDSHAKE_VERSIONS else None
