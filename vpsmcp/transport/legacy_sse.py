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

Served by ``asgi.py`` from raw ASGI events, as ``/mcp`` is: each function
here takes the request's parts and returns an ``Answer``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from vpsmcp import paths
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Request
from vpsmcp.transport import inbound, sse
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.exchange import event_stream, start
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.streamable import Body


async def open_stream(ep: Endpoint, headers: HeaderMap) -> Answer:
    """``GET /sse``: a new session, and its stream."""
    principal = await ep.admit(headers, paths.SSE)
    if not accepts(headers)[1]:
        raise not_acceptable("text/event-stream")
    session = ep.sessions.create(principal)
    session.protocol.version = "2024-11-05"
    return event_stream(_stream(ep, session))


async def not_the_stream(ep: Endpoint, headers: HeaderMap, body: Body) -> Answer:
    """Any other method on ``/sse``: 405, once the caller is known (401 before 405)."""
    try:
        await ep.admit(headers, paths.SSE)
    finally:
        await body.drain()
    raise TransportError(405, INVALID_REQUEST, "Method Not Allowed: GET /sse opens the stream", headers={"Allow": "GET"})


async def post_message(ep: Endpoint, headers: HeaderMap, session_id: str | None, body: Body) -> Answer:
    """``POST /messages?session_id=…``: one message into the session; answers go on its stream."""
    try:
        principal = await ep.admit(headers, paths.SSE)
    except TransportError:
        await body.drain()
        raise
    require_json_body(headers)
    session = ep.sessions.get(session_id, principal)
    raw = await body.read()  # 413 over mcp.max_body_bytes, 408 past the body timeout
    try:
        message = jsonrpc.parse(raw)
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
    return Answer(202, b"Accepted", {"Content-Type": "text/plain; charset=utf-8"})


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
