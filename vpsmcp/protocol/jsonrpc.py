"""JSON-RPC 2.0 messages: parse bytes into frozen records, encode them back.

No I/O. The parser's one promise (held by a property test): any byte string
yields a message, a batch of messages, or a ``JsonRpcError`` — never another
exception. MCP narrows JSON-RPC: ``params`` is an object, and an ``id`` is a
string or an integer, never null (MCP basic/index, "Requests").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vpsmcp.errors import JsonRpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002
# -32001, in JSON-RPC's implementation-defined range (§5.1): what the official SDKs answer both for an
# unknown session (with HTTP 404) and for a refused credential (with HTTP 401/403); one code, two names.
SERVER_ERROR = -32001
SESSION_NOT_FOUND = SERVER_ERROR
UNAUTHORIZED = SERVER_ERROR
# 2026-07-28 (basic/transports/streamable-http, "Errors").
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022

RequestId = str | int


@dataclass(frozen=True, slots=True)
class Request:
    """A call that expects a response."""

    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    """A one-way message."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer to the request with ``id``."""

    id: RequestId
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A failed answer; ``id`` is ``None`` when the request could not be read."""

    id: RequestId | None
    code: int
    message: str
    data: Any = None


Message = Request | Notification | Response | ErrorResponse


def parse(body: bytes) -> Message | list[Message]:
    """Parse one HTTP body or WebSocket frame: a message or a non-empty batch."""
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise JsonRpcError(PARSE_ERROR, f"Parse error: {_reason(exc)}") from None
    if isinstance(value, list):
        if not value:
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: empty batch")
        return [message_from(item) for item in value]
    return message_from(value)


def message_from(value: Any) -> Message:
    """Validate one decoded JSON value as a JSON-RPC message."""
    if not isinstance(value, dict):
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: a message must be a JSON object")
    raw_id = value.get("id")
    msg_id = raw_id if _valid_id(raw_id) else None
    if value.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"', id=msg_id)
    if "method" in value:
        return _call(value, msg_id)
    if msg_id is None:
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: no method, and no valid id")
    if "result" in value and isinstance(value["result"], dict):
        return Response(msg_id, value["result"])
    error = value.get("error")
    if isinstance(error, dict) and _is_int(error.get("code")) and isinstance(error.get("message"), str):
        return ErrorResponse(msg_id, error["code"], error["message"], error.get("data"))
    raise JsonRpcError(INVALID_REQUEST, "Invalid request: a response needs a result object or an error")


def _call(value: dict[str, Any], msg_id: RequestId | None) -> Request | Notification:
    method = value["method"]
    if not isinstance(method, str) or not method:
        raise JsonRpcError(INVALID_REQUEST, 'Invalid request: "method" must be a non-empty string', id=msg_id)
    params = value.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise JsonRpcError(INVALID_REQUEST, 'Invalid request: "params" must be an object', id=msg_id)
    if "id" not in value:
        return Notification(method, params)
    if msg_id is None:
        raise JsonRpcError(INVALID_REQUEST, 'Invalid request: "id" must be a string or an integer')
    return Request(msg_id, method, params)


def to_dict(message: Message) -> dict[str, Any]:
    """The JSON object for ``message``."""
    if isinstance(message, Request):
        return {"jsonrpc": "2.0", "id": message.id, "method": message.method, "params": message.params}
    if isinstance(message, Notification):
        return {"jsonrpc": "2.0", "method": message.method, "params": message.params}
    if isinstance(message, Response):
        return {"jsonrpc": "2.0", "id": message.id, "result": message.result}
    error: dict[str, Any] = {"code": message.code, "message": message.message}
    if message.data is not None:
        error["data"] = message.data
    return {"jsonrpc": "2.0", "id": message.id, "error": error}


def encode(message: Message | list[Message]) -> bytes:
    """Compact UTF-8 JSON for one message or a batch.

    A lone surrogate (``"\\ud800"`` in a client's id or arguments, echoed back)
    has no UTF-8 form; such a message is written with ``\\u`` escapes instead,
    which is valid JSON that decodes to the very same string, so it is answered
    rather than failing to encode and leaving the client waiting.
    """
    value: Any = [to_dict(m) for m in message] if isinstance(message, list) else to_dict(message)
    text = _ENCODER.encode(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(value).encode()


def error_response(error: JsonRpcError, request_id: RequestId | None = None) -> ErrorResponse:
    """The wire form of ``error``, answering ``request_id`` (or the id it carries)."""
    return ErrorResponse(request_id if request_id is not None else error.id, error.code, error.message, error.data)


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or _is_int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads/dumps with options construct a new coder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return str(exc).split(":")[0]
