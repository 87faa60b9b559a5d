"""The deprecated HTTP+SSE transport of 2024-11-05, for clients that still use it.

``GET /sse`` opens the session's one event stream; its first event,
``endpoint``, names the URL to POST messages to (``/messages?session_id=…``).
Every answer travels on the stream; a POST only gets ``202 Accepted``. The
stream *is* the session: when the client goes, the session ends.
A POST to ``/sse`` gets 405, which is how Claude tells this transport apart,
but only once the caller is known: without a token it gets the 401 challenge
first, as ``GET /mcp`` does, or a client that logs in on 401 stops there
(opencode; a bare 405 hangs Claude at "Checking connection",
anthropics/claude-ai-mcp#499).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Blueprint, Response, request

from vpsmcp import paths
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Request
from vpsmcp.transport import inbound, sse
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.exchange import event_stream, start
from vpsmcp.transport.http_body import drain_body, read_body
from vpsmcp.transport.http_errors import to_quart
from vpsmcp.transport.sessions import HttpSession


def legacy_sse_routes(ep: Endpoint) -> Blueprint:
    bp = Blueprint("legacy_sse", __name__)

    @bp.route(paths.SSE, methods=["GET"], strict_slashes=False)
    async def open_stream() -> Response:
        headers = HeaderMap.of(request.scope["headers"])
        principal = ep.admit(headers, paths.SSE)
        if not accepts(headers)[1]:
            raise not_acceptable("text/event-stream")
        session = ep.sessions.create(principal)
        session.protocol.version = "2024-11-05"
        return to_quart(event_stream(_stream(ep, session)))

    @bp.route(paths.SSE, methods=["POST", "PUT", "PATCH", "DELETE"], strict_slashes=False)
    async def not_the_stream() -> Response:
        headers = HeaderMap.of(request.scope["headers"])
        try:
            ep.admit(headers, paths.SSE)  # 401 before 405
        finally:
            await drain_body()
        raise TransportError(405, INVALID_REQUEST, "Method Not Allowed: GET /sse opens the stream", headers={"Allow": "GET"})

    @bp.route(paths.MESSAGES, methods=["POST"], strict_slashes=False)
    async def post_message() -> Response:
        headers = HeaderMap.of(request.scope["headers"])
        try:
            principal = ep.admit(headers, paths.SSE)
        except TransportError:
            await drain_body()
            raise
        require_json_body(headers)
        session = ep.sessions.get(request.args.get("session_id"), principal)
        body = await read_body()
        try:
            message = jsonrpc.parse(body)
        except JsonRpcError as exc:
            raise TransportError.of(exc) from None
        if isinstance(message, list):
            raise TransportError(400, INVALID_REQUEST, "batches are not part of the 2024-11-05 HTTP+SSE transport")
        if isinstance(message, Request):
            ep.authorize(principal, [message], paths.SSE)
            ctx = inbound.context(message, session, session.standalone, principal)
            start(session.running, ep.dispatcher, message, ctx, session.protocol, session.standalone)
        else:
            inbound.receive(session, message)
        return Response("Accepted", status=202, content_type="text/plain")

    return bp


async def _stream(ep: Endpoint, session: HttpSession) -> AsyncIterator[bytes]:
    session.readers += 1
    try:
        endpoint_url = f"{paths.MESSAGES}?session_id={session.id}"
        yield f"event: endpoint\ndata: {endpoint_url}\n\n".encode()
        async for event in session.standalone.read(0, ep.heartbeat):
            yield sse.HEARTBEAT if event is None else sse.event(event.data)
    finally:
        session.readers -= 1
        ep.sessions.remove(session.id)
