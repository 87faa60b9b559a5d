"""Streamable HTTP in the stateless 2026-07-28 era.

Every POST is self-contained: its version, capabilities and log level travel
in ``params._meta`` and are mirrored in headers that intermediaries route on
(basic/transports/streamable-http). No sessions; GET and DELETE get 405; a
client closing the stream cancels the call. Checks run in the order the
official SDK runs them, so clients see the same error for the same mistake.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Callable
from typing import Any

from vpsmcp import paths
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context, progress_token
from vpsmcp.protocol.dispatch import META
from vpsmcp.protocol.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
    ErrorResponse,
    Request,
)
from vpsmcp.protocol.versions import STATELESS_VERSIONS, SUPPORTED_VERSIONS, Era
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import Endpoint, HeaderMap, accepts, not_acceptable, require_json_body
from vpsmcp.transport.exchange import StreamPeer, event_stream, json_answer, relay, run_request, settled
from vpsmcp.transport.streams import OutboundStream

# basic/transports/streamable-http, "Error Handling": the HTTP status of each error.
STATUS_OF_CODE = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
NAMED_BY = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
ROUTING_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name")


def status_of(error: ErrorResponse) -> int:
    return STATUS_OF_CODE.get(error.code, 200)


async def post(ep: Endpoint, headers: HeaderMap, body: bytes, principal: Caller) -> Answer:
    """A POST whose ``MCP-Protocol-Version`` names this era: one request or notification, strictly checked."""
    require_json_body(headers)
    if not accepts(headers)[0]:
        raise not_acceptable("application/json")
    try:
        message = jsonrpc.parse(body)
    except JsonRpcError as exc:
        raise TransportError.of(exc) from None
    if isinstance(message, jsonrpc.Notification):
        return Answer.empty(202)
    if not isinstance(message, Request):
        raise TransportError(400, INVALID_REQUEST, "Invalid request: send one JSON-RPC request per POST")
    ep.authorize(principal, [message], paths.MCP)
    stream = OutboundStream(pending={message.id})
    ctx = checked_envelope(ep, message, headers, principal, stream, strict=True)
    return await answer(ep, headers, [start_call(ep, message, ctx, stream)], stream, False, status_of)


def checked_envelope(
    ep: Endpoint, request: Request, headers: HeaderMap, principal: Caller, stream: OutboundStream, *, strict: bool
) -> Context:
    """``envelope``, its error raised as the HTTP answer this era gives it."""
    try:
        return envelope(ep, request, headers, principal, stream, strict=strict)
    except JsonRpcError as exc:
        raise TransportError.of(exc, STATUS_OF_CODE.get(exc.code, 400), request.id) from None


def start_call(ep: Endpoint, request: Request, ctx: Context, stream: OutboundStream) -> asyncio.Task[None]:
    """Run one request of this era (no session) as a task answering on ``stream``."""
    return asyncio.create_task(run_request(ep.dispatcher, request, ctx, None, stream))


async def answer(
    ep: Endpoint,
    headers: HeaderMap,
    tasks: list[asyncio.Task[None]],
    stream: OutboundStream,
    batch: bool,
    status: Callable[[ErrorResponse], int] | None,
) -> Answer:
    """JSON when the calls finish quietly, else an event stream; with no session to come back
    to, the client closing the POST (or the stream) cancels the calls."""
    try:
        if not accepts(headers)[1] or await settled(stream, ep.heartbeat):
            await asyncio.gather(*tasks)
            return json_answer(stream, batch, status)
    except asyncio.CancelledError:  # the client closed the POST before any answer
        for task in tasks:
            task.cancel()
        raise
    return event_stream(_cancel_on_close(tasks, relay(stream, ep.heartbeat, ids=False)))


def envelope(
    ep: Endpoint, request: Request, headers: HeaderMap, principal: Caller, stream: OutboundStream, *, strict: bool
) -> Context:
    """Validate routing headers against the body and build the request's context.

    ``strict=False`` serves a body of this era under another era's header or
    none (anthropics/claude-code#93290): the version header may disagree, and
    a missing ``Mcp-Method``/``Mcp-Name``/``Mcp-Param-*`` is tolerated, but one
    that is present must still match the body (400 / -32020).
    """
    for name in ROUTING_HEADERS:
        if name in headers.repeated:
            raise JsonRpcError(HEADER_MISMATCH, f"{name} header appears more than once")
    meta = request.params.get("_meta")
    version = meta.get(META + "protocolVersion") if isinstance(meta, dict) else None
    capabilities = meta.get(META + "clientCapabilities") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(version, str) or not isinstance(capabilities, dict):
        raise JsonRpcError(
            INVALID_PARAMS,
            f"params._meta must carry {META}protocolVersion and {META}clientCapabilities",
        )
    if strict and headers.get("mcp-protocol-version") != version:
        raise JsonRpcError(HEADER_MISMATCH, "MCP-Protocol-Version header does not match params._meta protocolVersion")
    if version not in STATELESS_VERSIONS:
        raise JsonRpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            data={"supported": list(SUPPORTED_VERSIONS), "requested": version},
        )
    method = headers.get("mcp-method")
    if (strict or method is not None) and method != request.method:
        raise JsonRpcError(HEADER_MISMATCH, "Mcp-Method header does not match the request's method")
    if request.method in NAMED_BY:
        named = request.params.get(NAMED_BY[request.method])
        sent = headers.get("mcp-name")
        if (strict or sent is not None) and (sent or "").strip(" \t") != named:
            raise JsonRpcError(HEADER_MISMATCH, f"Mcp-Name header does not match params.{NAMED_BY[request.method]}")
    if request.method == "tools/call":
        _check_param_headers(ep, request, headers, strict)
    level = meta.get(META + "logLevel")
    return Context(
        request_id=request.id,
        version=version,
        era=Era.STATELESS,
        peer=StreamPeer(stream, None),
        caller=principal,
        client_capabilities=capabilities,
        log_level=level if isinstance(level, str) else None,
        progress_token=progress_token(request.params),
    )


def _check_param_headers(ep: Endpoint, request: Request, headers: HeaderMap, strict: bool) -> None:
    """``Mcp-Param-<Token>`` mirrors each argument whose schema names it with ``x-mcp-header``
    (when not ``strict``, only a header that is present is compared)."""
    tool = ep.dispatcher.registry.tool(str(request.params.get("name")))
    if tool is None:
        return
    arguments = request.params.get("arguments") or {}
    for name, prop in tool.input_schema.get("properties", {}).items():
        token = prop.get("x-mcp-header") if isinstance(prop, dict) else None
        if not isinstance(token, str):
            continue
        header = headers.get(f"mcp-param-{token.lower()}")
        present = isinstance(arguments, dict) and name in arguments
        if header is None and (not present or not strict):
            continue
        if header is None or not present or _decode_header(header) != _header_text(arguments[name]):
            raise JsonRpcError(HEADER_MISMATCH, f"Mcp-Param-{token} header does not match argument {name!r}")


def _decode_header(value: str) -> str | None:
    value = value.strip(" \t")
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _cancel_on_close(tasks: list[asyncio.Task[None]], body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Closing the stream is cancellation in this era: stop the calls."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
