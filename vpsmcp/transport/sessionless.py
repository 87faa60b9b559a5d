"""POSTs to ``/mcp`` without a session that the strict rules would refuse, served (see ``era.py``).

Two routes meet here, both without a session:

- ``Route.BODY``: a 2026-07-28 body under a handshake-era version header or
  none (anthropics/claude-code#93290). Each request is served as the stateless
  era serves it, with that era's envelope checks except the version header;
- ``Route.SESSIONLESS``: a handshake-era request without ``Mcp-Session-Id``
  (anthropics/claude-ai-mcp#99). It is answered in its own era with no session
  behind it: lists, reads and calls work; asking the client and subscriptions
  need a session and say so; a notification is accepted (202).

Either way the answer is JSON, or an event stream when the calls talk or take
long, and a client that closes the POST cancels the calls: there is no
session it could come back to for their answers.
"""

from __future__ import annotations

from vpsmcp import paths
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context, progress_token
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST, Message, Request
from vpsmcp.protocol.versions import DEFAULT_HTTP_VERSION, HANDSHAKE_VERSIONS, Era
from vpsmcp.transport import stateless
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import Endpoint, HeaderMap
from vpsmcp.transport.era import Decision, Route, body_version_of
from vpsmcp.transport.exchange import StreamPeer
from vpsmcp.transport.handshake import BATCH_VERSION
from vpsmcp.transport.streams import OutboundStream


async def post(
    ep: Endpoint, headers: HeaderMap, messages: list[Message], batch: bool, principal: Caller, decision: Decision
) -> Answer:
    """Serve ``messages`` as ``decision`` says; notifications and responses alone get 202."""
    version = _handshake_version(headers)
    if batch and decision.route is Route.SESSIONLESS and version != BATCH_VERSION:
        raise TransportError(400, INVALID_REQUEST, f"batches are not allowed in version {version}")
    requests = [m for m in messages if isinstance(m, Request)]
    ep.authorize(principal, requests, paths.MCP)
    if not requests:
        return Answer.empty(202)
    stream = OutboundStream(pending={r.id for r in requests})
    tasks = []
    for request in requests:
        if body_version_of(request) is None:
            ctx = _handshake_context(request, version, principal, stream)
        elif not batch:
            ctx = stateless.checked_envelope(ep, request, headers, principal, stream, strict=False)
        else:
            try:
                ctx = stateless.envelope(ep, request, headers, principal, stream, strict=False)
            except JsonRpcError as exc:  # one bad member of a batch is answered alone
                stream.put(jsonrpc.error_response(exc, request.id))
                continue
        tasks.append(stateless.start_call(ep, request, ctx, stream))
    single_stateless = not batch and decision.route is Route.BODY
    return await stateless.answer(ep, headers, tasks, stream, batch, stateless.status_of if single_stateless else None)


def _handshake_version(headers: HeaderMap) -> str:
    """What a handshake-era request without a session speaks: its header, else the
    transport's default (basic/transports, "Protocol Version Header")."""
    version = headers.get("mcp-protocol-version")
    return version if version in HANDSHAKE_VERSIONS else DEFAULT_HTTP_VERSION


def _handshake_context(request: Request, version: str, principal: Caller, stream: OutboundStream) -> Context:
    """A handshake-era request's context with no session: no client capabilities to ask with."""
    return Context(
        request_id=request.id,
        version=version,
        era=Era.HANDSHAKE,
        peer=StreamPeer(stream, None),
        caller=principal,
        progress_token=progress_token(request.params),
    )
