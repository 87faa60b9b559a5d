"""Streamable HTTP in the handshake era (2025-03-26 … 2025-11-25), with sessions.

POST carries messages (basic/transports, "Sending Messages to the Server"),
GET opens the server's stream or resumes one (``Last-Event-ID``), DELETE ends
the session. ``initialize`` creates a session, whatever session header came
with it, so a client holding a stale id recovers by initializing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from vpsmcp import paths
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Message, Request
from vpsmcp.protocol.versions import HANDSHAKE_VERSIONS, at_least
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import RETRY_MS, Endpoint, HeaderMap, accepts, not_acceptable
from vpsmcp.transport.exchange import event_stream, json_answer, relay, settled, start
from vpsmcp.transport.inbound import context, receive
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.streams import OutboundStream, parse_event_id

BATCH_VERSION = "2025-03-26"  # the only version with JSON-RPC batches


async def post(ep: Endpoint, headers: HeaderMap, messages: list[Message], batch: bool, principal: Caller) -> Answer:
    """A POST of this era: an ``initialize``, or messages in the session ``Mcp-Session-Id`` names."""
    sse_ok = accepts(headers)[1]
    initialize = [m for m in messages if isinstance(m, Request) and m.method == "initialize"]
    if initialize:
        if batch:
            raise TransportError(400, INVALID_REQUEST, "initialize must not be part of a batch")
        return await _initialize(ep, initialize[0], principal)
    session = ep.sessions.get(headers.get("mcp-session-id"), principal)
    check_version(headers)
    if batch and session.protocol.version != BATCH_VERSION:
        raise TransportError(400, INVALID_REQUEST, f"batches are not allowed in version {session.protocol.version}")
    requests = [m for m in messages if isinstance(m, Request)]
    ep.authorize(principal, requests, paths.MCP)
    if any(r.method in SESSION_STATE for r in requests):
        ep.sessions.changed(session)  # what the other instances hold of it is put there again
    for message in messages:
        receive(session, message)
    if not requests:
        return Answer.empty(202)
    stream = OutboundStream(pending={r.id for r in requests})
    for request in requests:
        start(session.running, ep.dispatcher, request, context(request, session, stream, principal), session.protocol, stream)
    if not sse_ok or await settled(stream, ep.heartbeat):
        if not stream.done:
            async for _ in stream.read(0, None):
                pass
        return json_answer(stream, batch)
    session.keep(stream)
    priming = RETRY_MS if at_least(session.protocol.version, "2025-11-25") else None
    return event_stream(_reading(session, relay(stream, ep.heartbeat, ids=True, priming_retry_ms=priming)))


SESSION_STATE = frozenset({"logging/setLevel", "resources/subscribe", "resources/unsubscribe"})  # change a session


async def get(ep: Endpoint, headers: HeaderMap, principal: Caller) -> Answer:
    session = ep.sessions.get(headers.get("mcp-session-id"), principal)
    if not accepts(headers)[1]:
        raise not_acceptable("text/event-stream")
    stream, after = session.standalone, session.standalone.last_seq
    last = headers.get("last-event-id")
    position = parse_event_id(last) if last else None
    if position is not None and (found := session.find_stream(position[0])) is not None:
        stream, after = found, position[1]
    if stream is session.standalone:
        stream.detach_readers()  # a new GET replaces the old one rather than getting 409
    priming = RETRY_MS if at_least(session.protocol.version, "2025-11-25") else None
    return event_stream(_reading(session, relay(stream, ep.heartbeat, after=after, ids=True, priming_retry_ms=priming)))


async def delete(ep: Endpoint, headers: HeaderMap, principal: Caller) -> Answer:
    session = ep.sessions.get(headers.get("mcp-session-id"), principal)
    ep.sessions.remove(session.id)
    return Answer.empty(200)


def parse(body: bytes) -> tuple[list[Message], bool]:
    """The messages of a POST body, and whether they came as a batch; 400 if it is not JSON-RPC."""
    try:
        parsed = jsonrpc.parse(body)
    except JsonRpcError as exc:
        raise TransportError.of(exc) from None
    return (parsed, True) if isinstance(parsed, list) else ([parsed], False)


def check_version(headers: HeaderMap) -> None:
    """An unsupported MCP-Protocol-Version is 400; an absent one is fine (Claude sends none)."""
    version = headers.get("mcp-protocol-version")
    if version is not None and version not in HANDSHAKE_VERSIONS:
        raise TransportError(
            400, INVALID_REQUEST, f"Unsupported MCP-Protocol-Version {version!r}",
            data={"supported": list(HANDSHAKE_VERSIONS), "requested": version},
        )


async def _initialize(ep: Endpoint, request: Request, principal: Caller) -> Answer:
    session = ep.sessions.create(principal, survives_restart=True)
    stream = OutboundStream(pending={request.id})
    ctx = context(request, session, stream, principal)
    try:
        result = await ep.dispatcher.handle(request, ctx, session.protocol)
    except JsonRpcError as exc:
        ep.sessions.remove(session.id)
        raise TransportError.of(exc, id=request.id) from None
    ep.observer.joined(session.id)
    ep.sessions.share(session)  # several instances: the balancer may send its next request to another
    body = jsonrpc.encode(jsonrpc.Response(request.id, result))
    return Answer.json(body, headers={"Mcp-Session-Id": session.id})


async def _reading(session: HttpSession, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Count the connection as a reader, so the session does not expire under it."""
    session.readers += 1
    try:
        async for chunk in body:
            yield chunk
    finally:
        session.readers -= 1
