"""Routes of the Streamable HTTP endpoint: ``/mcp`` and ``/mcp/`` (no redirect).

A POST whose ``MCP-Protocol-Version`` is present and not a handshake version
is served by the stateless era, like the official SDK routes it; everything
else by the handshake era. Each view is: admit → hand to the era → respond.
"""

from __future__ import annotations

import asyncio
import contextlib

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, RequestTimeout

from vpsmcp.errors import TransportError
from vpsmcp.logs import SCOPE_SESSION_ID
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST
from vpsmcp.protocol.versions import HANDSHAKE_VERSIONS
from vpsmcp.transport import handshake, stateless
from vpsmcp.transport.endpoint import Endpoint, HeaderMap

PATH = "/mcp"


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
            request.scope[SCOPE_SESSION_ID] = session_id  # type: ignore[literal-required]
        version = headers.get("mcp-protocol-version")
        stateless_era = version is not None and version not in HANDSHAKE_VERSIONS
        if request.method == "POST":
            body = await read_body()
            if len(body) > ep.guard.max_body:
                raise TransportError(413, INVALID_REQUEST, f"Request body larger than {ep.guard.max_body} bytes")
            if stateless_era:
                return await stateless.post(ep, headers, body, principal)
            response = await handshake.post(ep, headers, body, principal)
            if not session_id and response.status_code == 200:  # an initialize: log the new session
                request.scope[SCOPE_SESSION_ID] = response.headers.get("mcp-session-id")  # type: ignore[literal-required]
            return response
        if stateless_era:
            raise TransportError(405, INVALID_REQUEST, "Method Not Allowed: this era has no sessions", headers={"Allow": "POST"})
        if request.method == "GET":
            return await handshake.get(ep, headers, principal)
        return await handshake.delete(ep, headers, principal)

    for path in (PATH, PATH + "/"):
        app.add_url_rule(path, "mcp" + path.replace("/", "_"), mcp, methods=["POST", "GET", "DELETE"], strict_slashes=False)


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
