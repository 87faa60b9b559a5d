"""The MCP transports as a lean ASGI application, in front of the Quart app in the same process.

``/mcp`` (and ``/mcp/``), ``/sse``, ``/messages`` and ``/ws`` are served
straight from ASGI events: the request's headers into a ``HeaderMap``, its
body read here (bounded by ``mcp.max_body_bytes``, within the body timeout),
the ``Answer`` the transport builds sent as ``http.response.*`` events — no
Quart request or response objects. Everything else (OAuth, metadata, the
status page, lifespan) goes on to Quart.

What Quart did for these paths is done here, as strictly: a method a path
does not serve is 405 with ``Allow`` (OPTIONS is answered with ``Allow``), a
body over the limit 413, one that does not arrive in time 408, every
``TransportError`` rendered by ``http_errors.answer_of``, an unexpected
exception logged and answered 500 with a JSON-RPC body. The request is
handled in the task the server gave it, with one receiver task that cancels
it when the client goes away (so a closed event stream ends its relay and
cancels what it waits for). A WebSocket connection to ``/ws`` is handed
whole to ``websocket.serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST
from vpsmcp.transport import legacy_sse, streamable, websocket
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.endpoint import Endpoint, HeaderMap
from vpsmcp.transport.http_errors import answer_of

log = logging.getLogger("vpsmcp.transport")

App = Callable[[Any, Any, Any], Awaitable[None]]  # ASGI: (scope, receive, send)
MCP = frozenset({paths.MCP, paths.MCP + "/"})
SSE = frozenset({paths.SSE, paths.SSE + "/"})
MESSAGES = frozenset({paths.MESSAGES, paths.MESSAGES + "/"})
HTTP_PATHS = MCP | SSE | MESSAGES | {paths.WS}  # /ws over plain HTTP: 426, the upgrade did not arrive
ALLOW = {"Allow": "DELETE, GET, OPTIONS, POST"}  # of /mcp
INTERNAL = b'{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":"Internal error"}}' % INTERNAL_ERROR


class ClientGone(Exception):
    """The client went away before its body arrived: there is no one to answer."""


class McpApp:
    """The MCP transports from raw ASGI events; any other request to ``app``."""

    def __init__(self, app: App, endpoint: Endpoint, max_body: int, body_timeout: float) -> None:
        self.app = app
        self.endpoint = endpoint
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in HTTP_PATHS:
            if scope["type"] == "websocket" and scope["path"] == paths.WS:
                await websocket.serve(self.endpoint, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        handler = asyncio.current_task()
        assert handler is not None
        body = Body(self, receive, handler)
        try:
            await _send(send, await self._answer(scope, body))
        except ClientGone:
            return
        except asyncio.CancelledError:
            if body.client_gone and handler.uncancel() == 0:
                return  # the client went away, and that was the only reason to stop
            raise
        finally:
            body.stop_watching()

    async def _answer(self, scope: Any, body: Body) -> Answer:
        method, path = scope["method"], scope["path"]
        try:
            if path in MCP:
                return await self._mcp(method, scope, body)
            if path in SSE:
                return await self._sse(method, scope, body)
            if path == paths.WS:
                return await _not_upgraded(method, body)
            return await self._messages(method, scope, body)
        except TransportError as exc:
            return answer_of(exc)
        except ClientGone:
            raise
        except Exception:
            log.exception("%s %s failed", method, path)
            return Answer.json(INTERNAL, 500)

    async def _mcp(self, method: str, scope: Any, body: Body) -> Answer:
        if method not in {"POST", "GET", "DELETE"}:
            return await _not_served(method, body, ALLOW)
        if method != "POST":
            body.watch()  # no body to read: listen for the client leaving from the start
        return await streamable.serve(self.endpoint, method, HeaderMap.of(scope["headers"]), body)

    async def _sse(self, method: str, scope: Any, body: Body) -> Answer:
        if method == "OPTIONS":
            return await _not_served(method, body, {"Allow": "GET, OPTIONS"})
        headers = HeaderMap.of(scope["headers"])
        if method == "GET":
            body.watch()  # the stream is the session: it ends when the client goes
            return await legacy_sse.open_stream(self.endpoint, headers)
        return await legacy_sse.not_the_stream(self.endpoint, headers, body)

    async def _messages(self, method: str, scope: Any, body: Body) -> Answer:
        if method != "POST":
            return await _not_served(method, body, {"Allow": "OPTIONS, POST"})
        session_id = parse_qs(scope["query_string"].decode("latin-1")).get("session_id", [None])[0]
        return await legacy_sse.post_message(self.endpoint, HeaderMap.of(scope["headers"]), session_id, body)


async def _not_upgraded(method: str, body: Body) -> Answer:
    """``/ws`` reached without the upgrade (a proxy that drops ``Upgrade``, or a plain client): 426
    says what is missing (RFC 9110 §15.5.22); the doctor reads it as the proxy's doing."""
    if method != "GET":
        return await _not_served(method, body, {"Allow": "GET"})
    await body.drain()
    raise TransportError(426, INVALID_REQUEST, "Upgrade Required: /ws speaks MCP over WebSocket; send the "
                         "upgrade (a proxy in between must pass the Upgrade and Connection headers)",
                         headers={"Upgrade": "websocket", "Connection": "Upgrade"})


async def _not_served(method: str, body: Body, allow: dict[str, str]) -> Answer:
    """OPTIONS: which methods the path serves; any other method it does not serve: 405."""
    await body.drain()
    if method == "OPTIONS":
        return Answer(200, b"", dict(allow))
    raise TransportError(405, INVALID_REQUEST, "Method Not Allowed", headers=dict(allow))


class Body:
    """A POST's body, read when the transport asks for it (after the credential is checked), then
    the receiver that cancels the handler when the client goes away."""

    def __init__(self, app: McpApp, receive: Any, handler: asyncio.Task[None]) -> None:
        self.app = app
        self.receive = receive
        self.handler = handler
        self.client_gone = False
        self._watcher: asyncio.Future[None] | None = None

    async def read(self) -> bytes:
        """The whole body: 413 past ``mcp.max_body_bytes``, 408 after the body timeout."""
        chunks: list[bytes] = []
        size, limit = 0, self.app.max_body
        try:
            async with asyncio.timeout(self.app.body_timeout):
                while True:
                    message = await self.receive()
                    if message["type"] != "http.request":  # the client went away mid-body
                        raise ClientGone
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:  # answered now; the server drops the connection with the rest unread
                        raise TransportError(413, INVALID_REQUEST, f"Request body larger than {limit} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise TransportError(408, INVALID_REQUEST, "Request Timeout: the body did not arrive in time") from None
        self.watch()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def drain(self) -> None:
        """Read and drop a refused request's body (up to the limit): answered before it is read,
        the server closes the keep-alive connection, and a client reusing it sees it drop."""
        with contextlib.suppress(TransportError):
            await self.read()

    def watch(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch())

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()  # nobody waits for it: it only listens

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.client_gone = True
        self.handler.cancel()


async def _send(send: Any, answer: Answer) -> None:
    headers = answer.asgi_headers()
    body = answer.body
    if isinstance(body, bytes):
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    try:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
