"""MCP messages over HTTP as a connector sends them, and their answers (JSON or an event stream).

A POST may be answered with ``application/json`` or ``text/event-stream``
(basic/transports, "Sending Messages to the Server"); on a stream the
response comes after any notifications, and this reads up to it. The
2026-07-28 era carries version and capabilities in ``params._meta`` and
mirrors them in the ``MCP-Protocol-Version``/``Mcp-Method``/``Mcp-Name`` headers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vpsmcp import __version__
from vpsmcp.doctor.model import ProbeError
from vpsmcp.doctor.probe import Probe
from vpsmcp.doctor.sse import EventParser

HANDSHAKE_VERSION = "2025-11-25"  # what Claude's connector sends in initialize
MODERN_VERSION = "2026-07-28"
MODERN_ERRORS = (-32020, -32021, -32022)  # header mismatch, missing capability, unsupported version
CLIENT_INFO = {"name": "vpsmcp-doctor", "version": __version__}
ACCEPT_BOTH = "application/json, text/event-stream"
NAMED_BY = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def request(id: int, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = dict(params)
    return message


def notification(method: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method}


def initialize(id: int = 1) -> dict[str, Any]:
    """The handshake-era opening, as Claude sends it (2025-11-25, no capabilities to speak of)."""
    return request(id, "initialize", {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO})


def modern(id: int, method: str, params: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request and its routing headers: the ``_meta`` envelope plus its mirror."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }
    body = request(id, method, {**(params or {}), "_meta": meta})
    headers = {"MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": method}
    if method in NAMED_BY and params and NAMED_BY[method] in params:
        headers["Mcp-Name"] = str(params[NAMED_BY[method]])
    return body, headers


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer to a POSTed message: the status, headers, and the JSON-RPC message found."""

    status: int
    headers: tuple[tuple[str, str], ...]
    message: Any
    text: str
    streamed: bool
    seconds: float

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def result(self) -> dict[str, Any] | None:
        result = self.message.get("result") if isinstance(self.message, dict) else None
        return result if isinstance(result, dict) else None

    @property
    def error(self) -> dict[str, Any] | None:
        error = self.message.get("error") if isinstance(self.message, dict) else None
        return error if isinstance(error, dict) else None

    def describe(self) -> str:
        """``HTTP 400, JSON-RPC -32600 "…"`` — what a person needs to recognise the answer."""
        parts = [f"HTTP {self.status}"]
        if self.error is not None:
            parts.append(f"JSON-RPC {self.error.get('code')} {str(self.error.get('message', ''))[:100]!r}")
        elif self.result is None and self.text:
            parts.append(repr(self.text[:100]))
        return ", ".join(parts)


def post(probe: Probe, url: str, message: Mapping[str, Any], headers: Mapping[str, str] | None = None,
         timeout: float | None = None) -> Answer:
    """POST one message and read the answer: the JSON body, or the stream up to the response."""
    limit = timeout or probe.timeout
    start = time.monotonic()
    sent = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **(headers or {})}
    opened = probe.open("POST", url, sent, json.dumps(message).encode(), limit)
    try:
        media = (opened.header("content-type") or "").split(";")[0].strip().lower()
        if media == "text/event-stream":
            found, text = _response_on_stream(opened.read_some, start + limit, message.get("id"))
        else:
            body = opened.read_all(start + limit)
            text = body.decode("utf-8", "replace").strip()
            try:
                found = json.loads(body) if body else None
            except ValueError:
                found = None
    finally:
        opened.close()
    return Answer(opened.status, opened.headers, found, text, media == "text/event-stream", time.monotonic() - start)


def _response_on_stream(read: Callable[[float], bytes | None], until: float, id: Any) -> tuple[Any, str]:
    parser = EventParser()
    while True:
        chunk = read(until)
        if chunk is None:
            raise ProbeError("timeout", "the event stream did not carry the response in time")
        if not chunk:
            return None, "the event stream ended without the response"
        for item in parser.feed(chunk):
            message = item.message()
            if isinstance(message, dict) and message.get("id") == id and ("result" in message or "error" in message):
                return message, item.data
