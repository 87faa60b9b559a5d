"""MCP over WebSocket at ``/ws``: subprotocol ``mcp``, one JSON-RPC message per text frame.

The connection is the session (handshake era). Messages the server sends —
responses, notifications, requests to the client — go through the session's
stream and a single writer, so frames never interleave. When the stream ends
(the session closed, or the server is shutting down) the writer closes the
socket with 1001 "going away".

Keepalive is an MCP ``ping`` request every ``heartbeat`` seconds of silence
(basic/utilities/ping), not a WebSocket ping frame: hypercorn's frame pinger
outlives a closed connection by up to its interval and so delays shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib

from quart import Blueprint, Response, websocket

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Request
from vpsmcp.transport import inbound
from vpsmcp.transport.endpoint import Endpoint, HeaderMap
from vpsmcp.transport.http_errors import answer_of, to_quart
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.ws_headers import is_token

SUBPROTOCOL = "mcp"
GOING_AWAY = 1001


def websocket_routes(ep: Endpoint) -> Blueprint:
    bp = Blueprint("websocket", __name__)

    @bp.websocket(paths.WS)
    async def ws() -> Response | None:
        try:
            principal = ep.admit(HeaderMap.of(websocket.scope["headers"]), paths.WS)
        except TransportError as exc:
            return _refuse(exc)
        offered = websocket.requested_subprotocols
        if not all(map(is_token, offered)):
            return _refuse(TransportError(400, INVALID_REQUEST, "Bad Request: Sec-WebSocket-Protocol must be "
                                          "comma-separated tokens (ASCII letters, digits and !#$%&'*+.^_`|~-)"))
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        session = ep.sessions.create(principal)
        session.readers += 1
        writer = asyncio.create_task(_write(session, ep.heartbeat))
        try:
            while True:
                frame = await websocket.receive()
                inbound.receive_one(ep.dispatcher, session, frame.encode() if isinstance(frame, str) else frame, principal)
        finally:
            session.readers -= 1
            ep.sessions.remove(session.id)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return None

    return bp


def _refuse(exc: TransportError) -> Response:
    """Refused before the upgrade: a plain HTTP answer, and the connection ends with it —
    hypercorn would read the client's next request on it as WebSocket data."""
    answer = answer_of(exc)
    answer.headers["Connection"] = "close"
    return to_quart(answer)


async def _write(session: HttpSession, heartbeat: float) -> None:
    async for event in session.standalone.read(0, heartbeat):
        if event is None:
            session.standalone.put(Request(session.next_request_id(), "ping", {}))
        else:
            await websocket.send(event.data.decode())
    await websocket.close(GOING_AWAY, "session closed")
