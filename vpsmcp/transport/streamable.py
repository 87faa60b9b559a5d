"""Routes of the Streamable HTTP endpoint: ``/mcp`` and ``/mcp/`` (no redirect).

A POST whose ``MCP-Protocol-Version`` is present and not a handshake version
is served by the stateless era, like the official SDK routes it; any other
POST goes where ``era.decide`` sends it, by its session id and its body.
Each view is: admit → hand to the era → respond.
"""

from __future__ import annotations

from quart import Quart, Response, request

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST
from vpsmcp.transport import era, handshake, sessionless, stateless
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.era import Route
from vpsmcp.transport.http_body import drain_body, read_body


def add_streamable_routes(app: Quart, ep: Endpoint) -> None:
    """Serve ``/mcp``. Registered on the app, not a blueprint: Quart resolves
    blueprint hooks on every request, and this is the hot path."""

    async def mcp() -> Response:
        headers = HeaderMap.of(request.scope["headers"])
        try:
            principal = ep.admit(headers, paths.MCP)
        except TransportError:
            if request.method == "POST":
                await drain_body()
            raise
        session_id = headers.get("mcp-session-id")
        if session_id:
            ep.observer.joined(session_id)  # an initialize tells of the session it makes (handshake.py)
        if request.method == "POST":
            body = await read_body()  # over mcp.max_body_bytes: the guard (declared) or Quart (streamed) said 413
            return await post(ep, headers, body, principal, session_id)
        if era.by_header(headers.get("mcp-protocol-version")) is not None:
            raise TransportError(405, INVALID_REQUEST, "Method Not Allowed: this era has no sessions", headers={"Allow": "POST"})
        if request.method == "GET":
            return await handshake.get(ep, headers, principal)
        return await handshake.delete(ep, headers, principal)

    for path in (paths.MCP, paths.MCP + "/"):
        app.add_url_rule(path, "mcp" + path.replace("/", "_"), mcp, methods=["POST", "GET", "DELETE"], strict_slashes=False)


async def post(ep: Endpoint, headers: HeaderMap, body: bytes, principal: Caller, session_id: str | None) -> Response:
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
