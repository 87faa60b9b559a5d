"""Routes of the Streamable HTTP endpoint: ``/mcp`` and ``/mcp/`` (no redirect).

A POST whose ``MCP-Protocol-Version`` is present and not a handshake version
is served by the stateless era, like the official SDK routes it; any other
POST goes where ``era.decide`` sends it, by its session id and its body.
Each view is: admit → hand to the era → respond.
"""

from __future__ import annotations

import asyncio
import contextlib

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, RequestTimeout

from vpsmcp import paths
from vpsmcp.access import Principal
from vpsmcp.errors import TransportError
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST
from vpsmcp.transport import era, handshake, sessionless, stateless
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.era import Route

PATH = paths.MCP


def add_streamable_routes(app: Quart, ep: Endpoint) -> None:
    """Serve ``/mcp``. Registered on the app, not a blueprint: Quart resolves
    blueprint hooks on every request, and this is the hot path."""

    async def mcp() -> Response:
        headers = HeaderMap.of(request.scope["headers"])
        try:
            principal = ep.admit(headers, PATH)
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

    for path in (PATH, PATH + "/"):
        app.add_url_rule(path, "mcp" + path.replace("/", "_"), mcp, methods=["POST", "GET", "DELETE"], strict_slashes=False)


async def post(ep: Endpoint, headers: HeaderMap, body: bytes, principal: Principal, session_id: str | None) -> Response:
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


async def read_body() -> bytes:
    """The request body, as ``request.get_data(cache=False)`` reads it, for a cheaper wait.

    Quart's ``get_data`` waits under ``asyncio.wait_for``: a task, a timer and
    a trip round the event loop for every request, a measurable share of a
    tools/call. ``asyncio.timeout`` is the same deadline (``BODY_TIMEOUT``, then
    408 as Quart answers) with a timer only; a body that has arrived costs no wait.
    Quart's body still enforces ``MAX_CONTENT_LENGTH`` (413).
    """
    try:
        async with asyncio.timeout(request.body_timeout):
            data: bytes = await request.body
    except TimeoutError:
        raise RequestTimeout() from None
    request.body.clear()
    return data


async def drain_body() -> None:
    """Read and drop a refused request's body: answered before it is read, hypercorn
    closes the keep-alive connection, and a client reusing it sees it drop."""
    with contextlib.suppress(HTTPException):
        await read_body()
