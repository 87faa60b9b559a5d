"""A ``Host`` header no URL can hold is refused with 400 before the framework sees it.

Werkzeug builds each request's URL adapter from ``Host`` and raises on a name
IDNA cannot encode (a label over 63 characters, an empty one), which made any
path answer 500 with a traceback. RFC 9110 §7.2: a request whose Host is
invalid gets 400. This thin ASGI wrapper is the one place that judges it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

App = Callable[[Any, Any, Any], Awaitable[None]]


def invalid_host(value: bytes) -> str | None:
    """Why ``value`` (a Host header) is not a host, or ``None`` when it is one."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return "Host is not ASCII"
    host = text.rsplit("]", 1)[0] + "]" if text.startswith("[") else text.rsplit(":", 1)[0]
    if host.startswith("["):
        return None if host.endswith("]") and len(host) > 2 else "Host has an unclosed IPv6 address"
    try:
        host.encode("idna")
    except UnicodeError:
        return "Host is not a valid name (a label is empty or longer than 63 characters)"
    return None


class HostCheck:
    """ASGI middleware: 400 for HTTP and WebSocket requests whose Host is invalid."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            for name, value in scope.get("headers", ()):
                if name == b"host":
                    problem = invalid_host(value)
                    if problem is not None:
                        await _refuse(scope, send, problem)
                        return
                    break
        await self.app(scope, receive, send)


async def _refuse(scope: Any, send: Any, problem: str) -> None:
    body = json.dumps({"error": "invalid_request", "error_description": f"Bad Request: {problem}"}).encode()
    prefix = ""
    if scope["type"] == "websocket":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})  # the server answers the handshake with 403
            return
        prefix = "websocket."
    await send({"type": prefix + "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": prefix + "http.response.body", "body": body})
