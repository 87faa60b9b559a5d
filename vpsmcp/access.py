"""Who is calling: the one seam where the bearer-token check plugs in.

Every transport asks ``Gate.admit(headers)`` before doing anything else and
gets a ``Caller`` back (``protocol/caller.py``), or the gate raises the error to answer with (a 401
with its ``WWW-Authenticate`` challenge, once OAuth is in force). Sessions
are bound to the principal that created them (``Caller.binding``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from vpsmcp.errors import ScopeRequired, TransportError
from vpsmcp.protocol.caller import ANONYMOUS, Caller
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST


class Gate(Protocol):
    """Decides who a request comes from, or refuses it. ``blocking``: ``admit`` may wait on the
    network (a Redis store), so the endpoint calls it from a worker thread."""

    blocking: bool

    def admit(self, headers: Mapping[str, str], resource: str) -> Caller:
        """The caller of a request to ``resource`` (``/mcp``, ``/sse``, ``/ws``)."""

    def refuse_scope(self, principal: Caller, scope: str, resource: str) -> ScopeRequired:
        """The error for a call that needs ``scope``, which ``principal`` lacks (403 step-up)."""


FORWARDED_HEADERS = frozenset({"forwarded", "via", "x-real-ip"})  # and every X-Forwarded-*


def proxied_by(names: Iterable[str]) -> str | None:
    """The first header among ``names`` (lower-case) that says a proxy passed the request on:
    ``Forwarded`` (RFC 7239), ``Via`` (RFC 9110 §7.6.3), ``X-Real-IP`` or any ``X-Forwarded-*``."""
    for name in names:
        if name in FORWARDED_HEADERS or name.startswith("x-forwarded-"):
            return name
    return None


class OpenGate:
    """No authentication (``auth.mode = "none"``): loopback only, never through a proxy.

    A request carrying forwarding headers came through a reverse proxy, which
    means the open endpoint is reachable from elsewhere: refuse it.
    """

    blocking = False

    def admit(self, headers: Mapping[str, str], resource: str) -> Caller:
        name = proxied_by(headers)
        if name is not None:
            raise TransportError(
                403,
                INVALID_REQUEST,
                f"Forbidden: auth.mode is \"none\" and this request came through a proxy ({name} header); "
                "set auth.mode = \"oauth\" to serve clients beyond this machine",
            )
        return ANONYMOUS

    def refuse_scope(self, principal: Caller, scope: str, resource: str) -> ScopeRequired:
        return ScopeRequired(INVALID_REQUEST, f"Forbidden: this call needs the scope {scope}", scope)
