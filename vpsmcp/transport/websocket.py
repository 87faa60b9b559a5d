"""MCP over WebSocket at ``/ws``: subprotocol ``mcp``, one JSON-RPC message per text frame.

Served by ``asgi.py`` from the ASGI WebSocket events. The connection is the
session (handshake era). Messages the server sends — responses,
notifications, requests to the client — go through the session's stream and
a single writer, so frames never interleave. When the stream ends (the
session closed, or the server is shutting down) the writer closes the socket
with 1001 "going away".

A request refused before the upgrade gets a plain HTTP answer (the ASGI
``websocket.http.response`` extension, which hypercorn offers), and the
connection ends with it: hypercorn would read the client's next request on
it as WebSocket data.

Keepalive is an MCP ``ping`` request every ``heartbeat`` seconds of silence
(basic/utilities/ping), not a WebSocket ping frame: hypercorn's frame pinger
outlives a closed connection by up to its interval and so delays shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Request
from vpsmcp.transport import inbound
from vpsmcp.transport.endpoint import Endpoint, HeaderMap
from vpsmcp.transport.http_errors import answer_of
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.ws_headers import is_token

SUBPROTOCOL = "mcp"
GOING_AWAY = 1001
HTTP_RESPONSE = "websocket.http.response"  # the ASGI extension for answering before the upgrade


async def serve(ep: Endpoint, scope: Any, receive: Any, send: Any) -> None:
    """One WebSocket connection to ``/ws``, from ``websocket.connect`` to its end."""
    if (await receive())["type"] != "websocket.connect":
        return
    offered: list[str] = list(scope.get("subprotocols") or ())
    try:
        principal = await ep.admit(HeaderMap.of(scope["headers"]), paths.WS)
        if not all(map(is_token, offered)):
            raise TransportError(400, INVALID_REQUEST, "Bad Request: Sec-WebSocket-Protocol must be comma-separated "
                                 "tokens (ASCII letters, digits and !#$%&'*+.^_`|~-)")
    except TransportError as exc:
        await _refuse(scope, send, exc)
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL if SUBPROTOCOL in offered else None})
    session = ep.sessions.create(principal)
    session.readers += 1
    writer = asyncio.create_task(_write(session, ep.heartbeat, send))
    try:
        while (message := await receive())["type"] == "websocket.receive":
            text = message.get("text")
            frame = text.encode() if text is not None else message.get("bytes") or b""
            inbound.receive_one(ep.dispatcher, session, frame, principal)
    finally:  # websocket.disconnect, or the server cancelled the connection
        session.readers -= 1
        ep.sessions.remove(session.id)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def _refuse(scope: Any, send: Any, exc: TransportError) -> None:
    """Refused before the upgrade: the error as a plain HTTP answer that closes the connection."""
    if HTTP_RESPONSE not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})  # the server answers 403 itself
        return
    answer = answer_of(exc)
    headers = [*answer.asgi_headers(), (b"connection", b"close")]
    await send({"type": "websocket.http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": answer.body, "more_body": False})  # bytes: an error


async def _write(session: HttpSession, heartbeat: float, send: Any) -> None:
    async for event in session.standalone.read(0, heartbeat):
        if event is None:
            session.standalone.put(Request(session.next_request_id(), "ping", {}))
        else:
            await send({"type": "websocket.send", "text": event.data.decode()})
    await send({"type": "websocket.close", "code": GOING_AWAY, "reason": "session closed"})
