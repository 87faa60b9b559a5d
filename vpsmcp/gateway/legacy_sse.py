"""A 2024-11-05 HTTP+SSE upstream, as a client (the deprecated "HTTP with SSE" transport).

``GET`` the URL opens the one event stream; its first event, ``endpoint``,
names where to POST messages, and every answer comes back on the stream.
Nothing ties a message on the stream to the request it concerns, so calls
are told apart only by id and progress token (see ``calls``). The endpoint
must be on the same origin as the URL: a server cannot send our messages
(and the configured headers, maybe a credential) elsewhere. The stream
ending is the session ending: the link is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.http_client import HttpClient, HttpError, HttpResponse, Origin
from vpsmcp.gateway.link import Wire
from vpsmcp.gateway.sse_reader import SseReader
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import Message


class LegacySseLink:
    """One HTTP+SSE session: the event stream, and POSTs to its endpoint."""

    def __init__(self, name: str, url: str, headers: Mapping[str, str], wire: Wire) -> None:
        self.name = name
        self.url = url
        self.static = dict(headers)
        self.wire = wire
        self.origin = Origin.of(url)
        self.stream_http = HttpClient(self.origin)  # holds the stream's one connection
        self.post_http = HttpClient(self.origin)
        self.endpoint = ""
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        return f"{self.url} → {self.endpoint or '?'}"

    async def open(self) -> None:
        """Open the stream and wait for its ``endpoint`` event."""
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = await self.stream_http.send("GET", target, {**self.static, "accept": "text/event-stream"})
        except HttpError as exc:
            raise UpstreamError(self.name, f"cannot be reached: {exc}") from None
        if response.status != 200:
            self.stream_http.done(response)
            raise UpstreamError(self.name, f"answered HTTP {response.status} to the GET that opens its event stream")
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(response, found))
        self.endpoint = await found

    async def _read(self, response: HttpResponse, found: asyncio.Future[str]) -> None:
        reader = SseReader()
        try:
            async for chunk in response.chunks():
                for event in reader.feed(chunk):
                    if event.event == "endpoint" and not found.done():
                        found.set_result(self._endpoint(event.data))
                    elif event.event == "message":
                        self._deliver(event.data.encode())
            reason = "ended its event stream"
        except (HttpError, OSError, ValueError) as exc:
            reason = f"broke its event stream: {exc}"
        except UpstreamError as exc:
            reason = exc.problem
            found.set_exception(exc)
        finally:
            self.stream_http.done(response)
        if not found.done():
            found.set_exception(UpstreamError(self.name, f"{reason} before naming its endpoint"))
        if not self._closed:
            self._closed = True
            self.wire.lost(reason)

    def _endpoint(self, data: str) -> str:
        endpoint = urljoin(self.url, data.strip())
        if Origin.of(endpoint) != self.origin:
            raise UpstreamError(self.name, f"named an endpoint on another origin ({endpoint}); refused")
        parts = urlsplit(endpoint)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _deliver(self, body: bytes) -> None:
        try:
            parsed = jsonrpc.parse(body)
        except JsonRpcError:
            return
        for message in parsed if isinstance(parsed, list) else [parsed]:
            self.wire.deliver(message, None)

    async def send(self, message: Message) -> None:
        headers = {**self.static, "content-type": "application/json", "accept": "application/json"}
        try:
            async with self.post_http.request("POST", self.endpoint, headers, jsonrpc.encode(message)) as response:
                await response.read()
        except HttpError as exc:
            raise UpstreamError(self.name, f"cannot be reached: {exc}") from None
        if response.status not in (200, 202, 204):
            raise UpstreamError(self.name, f"answered HTTP {response.status} to a message POST")

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.stream_http.close()
        self.post_http.close()
