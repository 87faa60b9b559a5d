"""Taking in MCP messages on a session, the same for every transport that has one.

The handshake-era POST, the legacy ``/messages`` POST, WebSocket frames and
stdio lines all end here: a request runs as a task (``exchange.start``) with
its ``context``, a notification or a response to the server's own request is
``receive``d into the session, and a transport that carries one message per
unit (a frame, a line) hands it whole to ``receive_one``.
"""

from __future__ import annotations

from vpsmcp.errors import JsonRpcError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context, progress_token
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, ErrorResponse, Message, Notification, Request
from vpsmcp.protocol.versions import Era
from vpsmcp.transport.exchange import StreamPeer, start
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.streams import OutboundStream


def receive_one(dispatcher: Dispatcher, session: HttpSession, raw: bytes, principal: Caller) -> None:
    """One message from a transport that carries one per unit (a WebSocket frame, a stdio line):
    a request runs as a task answering on the session's stream, where parse errors go too."""
    stream = session.standalone
    try:
        message = jsonrpc.parse(raw)
        if isinstance(message, list):
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: send one message at a time, not a batch")
    except JsonRpcError as exc:
        stream.put(jsonrpc.error_response(exc))
        return
    if isinstance(message, Request):
        start(session.running, dispatcher, message, context(message, session, stream, principal), session.protocol, stream)
    else:
        receive(session, message)


def receive(session: HttpSession, message: Message) -> None:
    """Take in the notifications and responses of a POST."""
    if isinstance(message, Notification):
        if message.method == "notifications/initialized":
            session.protocol.initialized = True
        elif message.method == "notifications/cancelled":
            task = session.running.get(message.params.get("requestId"))  # type: ignore[arg-type]
            if task is not None:
                task.cancel()
    elif isinstance(message, ErrorResponse):
        if message.id is not None:
            session.answer(message.id, None, JsonRpcError(message.code, message.message, message.data))
    elif isinstance(message, jsonrpc.Response):
        session.answer(message.id, message.result, None)


def context(request: Request, session: HttpSession, stream: OutboundStream, principal: Caller) -> Context:
    """The context of a handshake-era request made in ``session``; its messages go to ``stream``."""
    return Context(
        request_id=request.id,
        version=session.protocol.version,
        era=Era.HANDSHAKE,
        peer=StreamPeer(stream, session),
        caller=principal,
        client_capabilities=session.protocol.client_capabilities,
        log_level=session.protocol.log_level,
        progress_token=progress_token(request.params),
    )
