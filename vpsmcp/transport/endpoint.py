"""Everything the MCP transports share: dispatcher, sessions, checks, timings, and who watches.

``Endpoint`` is built once per app, with its observer (the trace) handed in:
nothing is swapped in after construction. The endpoint tells the observer who
each request came from, why one was refused, which session it belongs to, and
which client quirk it was served despite; the dispatcher tells its own
observers how each request ended (``protocol/outcomes.py``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from vpsmcp.access import Gate
from vpsmcp.errors import TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Request
from vpsmcp.protocol.registry import allowed
from vpsmcp.transport.era import Decision
from vpsmcp.transport.guard import Guard
from vpsmcp.transport.sessions import SessionStore

RETRY_MS = 1000  # how long a client waits before reconnecting a dropped stream


class HeaderMap(dict[str, str]):
    """A request's headers, read once from the ASGI scope: lower-case names, first value.

    Every check looks headers up several times; werkzeug's ``Headers`` scans
    and lower-cases the whole list on each lookup. ``repeated`` names the
    headers sent more than once (the stateless era refuses repeated routing headers).
    """

    repeated: frozenset[str] = frozenset()

    @classmethod
    def of(cls, raw: Iterable[tuple[bytes, bytes]]) -> HeaderMap:
        headers = cls()
        repeated = set()
        for name, value in raw:
            key = name.decode("latin-1").lower()
            if key in headers:
                repeated.add(key)
            else:
                headers[key] = value.decode("latin-1")
        if repeated:
            headers.repeated = frozenset(repeated)
        return headers


class EndpointObserver(Protocol):
    """What the endpoint tells about the request being served (the trace). Cheap; never raises."""

    def admitted(self, principal: Caller) -> None:
        """The gate let ``principal`` in."""

    def refused(self, error: TransportError) -> None:
        """The gate refused the request, or a call needs a scope it lacks (``TokenRefused``, ``ScopeRequired``)."""

    def joined(self, session_id: str) -> None:
        """The request belongs to ``session_id`` (sent, or just created by ``initialize``)."""

    def quirk(self, decision: Decision) -> None:
        """The request is served as ``decision`` says, perhaps despite a client quirk (``era.py``)."""


class Unobserved:
    """``EndpointObserver`` for an endpoint nobody watches (tests, ``vpsmcp stdio``)."""

    def admitted(self, principal: Caller) -> None:
        return None

    def refused(self, error: TransportError) -> None:
        return None

    def joined(self, session_id: str) -> None:
        return None

    def quirk(self, decision: Decision) -> None:
        return None


@dataclass(frozen=True)
class Endpoint:
    """The MCP endpoint's collaborators, built once per app."""

    dispatcher: Dispatcher
    sessions: SessionStore
    guard: Guard
    gate: Gate
    heartbeat: float
    observer: EndpointObserver = Unobserved()

    async def admit(self, headers: HeaderMap, resource: str) -> Caller:
        """Host/Origin/size checks, then authentication (in a worker thread when the gate may wait on
        the network, ``Gate.blocking``)."""
        self.guard.check(headers)
        try:
            if self.gate.blocking:
                principal = await asyncio.to_thread(self.gate.admit, headers, resource)
            else:
                principal = self.gate.admit(headers, resource)
        except TransportError as exc:
            self.observer.refused(exc)
            raise
        self.observer.admitted(principal)
        return principal

    def authorize(self, principal: Caller, requests: Iterable[Request], resource: str) -> None:
        """403 step-up when a request names a tool, resource or prompt outside the token's scopes."""
        if principal.scopes is None:
            return
        for request in requests:
            scope = self.dispatcher.required_scope(request)
            if scope is not None and not allowed(scope, principal.scopes):
                refusal = self.gate.refuse_scope(principal, scope, resource)
                self.observer.refused(refusal)
                raise refusal


def accepts(headers: HeaderMap) -> tuple[bool, bool]:
    """Whether the client takes (JSON, event streams).

    Lenient: clients have sent ``*/*`` or no Accept at all (claude-ai-mcp#76).
    """
    return _accepts(headers.get("accept", ""))


@functools.lru_cache(maxsize=64)  # a client sends the same Accept on every request
def _accepts(accept: str) -> tuple[bool, bool]:
    accept = accept.lower()
    if not accept.strip():
        return True, True
    ranges = {part.split(";")[0].strip() for part in accept.split(",")}
    anything = bool(ranges & {"*/*"})
    json_ok = anything or bool(ranges & {"application/json", "application/*"})
    sse_ok = anything or bool(ranges & {"text/event-stream", "text/*"})
    return json_ok, sse_ok


def require_json_body(headers: HeaderMap) -> None:
    """415 for a body that says it is not JSON; a missing Content-Type is tolerated."""
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise TransportError(415, INVALID_REQUEST, "Unsupported Media Type: send application/json")


def not_acceptable(what: str) -> TransportError:
    return TransportError(406, INVALID_REQUEST, f"Not Acceptable: the client must accept {what}")
