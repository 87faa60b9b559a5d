"""The Streamable HTTP endpoint: ``/mcp`` and ``/mcp/`` (no redirect), served by ``asgi.py``.

A POST whose ``MCP-Protocol-Version`` is present and not a handshake version
is served by the stateless era, like the official SDK routes it; any other
POST goes where ``era.decide`` sends it, by its session id and its body.
Each request is: admit → hand to the era → answer.
"""

from __future__ import annotations

from typing import Protocol

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST
from vpsmcp.transport import era, handshake, sessionless, stateless
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.era import Route


class Body(Protocol):
    """A POST's body as the endpoint reads it (``asgi.Body``)."""

    async def read(self) -> bytes: ...
    async def drain(self) -> None: ...


async def serve(ep: Endpoint, method: str, headers: HeaderMap, body: Body) -> Answer:
    """One request to ``/mcp`` (POST, GET or DELETE; ``asgi.py`` answers the others)."""
    try:
        principal = await ep.admit(headers, paths.MCP)
    except TransportError as exc:
        if method == "POST" and exc.status != 413:  # a declared length over the limit is not read at all
            await body.drain()
        raise
    session_id = headers.get("mcp-session-id")
    if session_id:
        ep.observer.joined(session_id)  # an initialize tells of the session it makes (handshake.py)
    if method == "POST":
        return await post(ep, headers, await body.read(), principal, session_id)  # 413 over mcp.max_body_bytes
    if era.by_header(headers.get("mcp-protocol-version")) is not None:
        raise TransportError(405, INVALID_REQUEST, "Method Not Allowed: this era has no sessions", headers={"Allow": "POST"})
    if method == "GET":
        return await handshake.get(ep, headers, principal)
    return await handshake.delete(ep, headers, principal)


async def post(ep: Endpoint, headers: HeaderMap, body: bytes, principal: Caller, session_id: str | None) -> Answer:
    """A POST, to the route its header, session id and body call for (``era.py``)."""
    if era.by_header(headers.get("mcp-protocol-version")) is not None:
        return await stateless.post(ep, headers, body, principal)
    require_json_body(headers)
    if accepts(headers) == (False, False):
        raise not_acceptable("application/json and text/event-stream")
    messages, batch = handshake.parse(body)
    decision = era.decide(headers.get("mcp-protocol-version"), session_id, messages)
    if decision.route is Route.SESSION:
        return await handshake.post(ep, headers, messages, batch, principal)
    ep.observer.quirk(decision)
    return await sessionless.post(ep, headers, messages, batch, principal, decision)
