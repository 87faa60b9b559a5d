"""A Streamable HTTP upstream, as a client (basic/transports, "Streamable HTTP").

Every message is a POST. A request's answer is JSON or an event stream that
carries, besides the response, whatever the server says about that request
(progress, log messages, questions): those are delivered as related to it,
which is how concurrent callers are told apart. After ``initialize`` every
request carries ``Mcp-Session-Id`` and ``MCP-Protocol-Version``; a GET stream
brings what the server says outside any request (``list_changed``). A 404 for
our session means it expired: the link is lost, and the supervisor starts a
new one with a fresh ``initialize`` rather than sending the stale id forever
(claude-code#48557). Only the configured static headers are sent: never a
client's token; a fleet node gets, besides, the hub's own token (a ``Credential``), renewed
once when the node answers 401.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.http_client import HttpClient, HttpError, HttpResponse, Origin
from vpsmcp.gateway.link import Credential, Wire
from vpsmcp.gateway.sse_reader import SseReader
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import INTERNAL_ERROR, ErrorResponse, Message, Request, RequestId

LISTEN_RETRY = 1.0  # seconds before the GET stream is opened again after it ended


class StreamableLink:
    """One Streamable HTTP session with an upstream."""

    def __init__(self, name: str, url: str, headers: Mapping[str, str], wire: Wire,
                 credential: Credential | None = None) -> None:
        self.name = name
        self.url = url
        parts = urlsplit(url)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.static = dict(headers)
        self.wire = wire
        self.credential = credential
        self.http = HttpClient(Origin.of(url))
        self.session_id: str | None = None
        self.version: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def describe(self) -> str:
        return self.url + (f" session {self.session_id[:8]}…" if self.session_id else "")

    async def open(self) -> None:
        """Nothing to do before the first POST (``initialize``) opens a connection."""

    def negotiated(self, version: str) -> None:
        """``initialize`` is done: say the version from now on, and listen for what the server says unasked."""
        self.version = version
        self._spawn(self._listen())

    def _headers(self, accept: str, authorization: str = "") -> dict[str, str]:
        headers = {**self.static, "accept": accept, "content-type": "application/json"}
        if authorization:
            headers["authorization"] = authorization
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        if self.version:
            headers["mcp-protocol-version"] = self.version
        return headers

    async def send(self, message: Message) -> None:
        """POST one message; a request's answer is read on in the background."""
        related = message.id if isinstance(message, Request) else None
        body = jsonrpc.encode(message)
        authorization = await self._authorization()
        response = await self._post(body, authorization)
        if response.status == 401 and self.credential is not None:
            await self._finish(response)
            response = await self._post(body, await self._authorization(refused=authorization))
            if response.status == 401:
                await self._finish(response)
                problem = f"refused the hub's token right after it was renewed (HTTP 401): {self.credential.fix}"
                self._lose(problem)
                raise UpstreamError(self.name, problem)
        if isinstance(message, Request) and message.method == "initialize":
            self.session_id = response.headers.get("mcp-session-id") or None
        if response.status in (200, 202) and related is not None:
            self._spawn(self._answer(response, related))
            return
        await self._finish(response)
        if response.status == 404 and self.session_id:
            self._lose("ended our session (HTTP 404)")
        if response.status not in (200, 202):
            raise UpstreamError(self.name, f"answered HTTP {response.status} to a {_kind(message)}")

    async def _post(self, body: bytes, authorization: str) -> HttpResponse:
        try:
            return await self.http.send("POST", self.target,
                                        self._headers("application/json, text/event-stream", authorization), body)
        except HttpError as exc:
            self._lose(f"cannot be reached: {exc}")
            raise UpstreamError(self.name, f"cannot be reached: {exc}") from None

    async def _authorization(self, refused: str | None = None) -> str:
        """The credential's header value (renewed after a 401 to ``refused``); one that cannot be had
        loses the link, so the supervisor fails calls at once with the reason until it can."""
        if self.credential is None:
            return ""
        try:
            return await (self.credential.header() if refused is None else self.credential.renew(refused))
        except UpstreamError as exc:
            self._lose(exc.problem)
            raise

    async def _answer(self, response: HttpResponse, related: RequestId) -> None:
        """Deliver what answers a request: a JSON body, or the events of its stream."""
        answered = False
        try:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                reader = SseReader()
                async for chunk in response.chunks():
                    for event in reader.feed(chunk):
                        answered |= self._deliver(event.data.encode(), related)
            else:
                answered = self._deliver(await response.read(), related)
        except (HttpError, OSError, ValueError):
            pass
        finally:
            self.http.done(response)
        if not answered:
            self.wire.deliver(ErrorResponse(related, INTERNAL_ERROR, "the upstream's answer ended without a response"), related)

    def _deliver(self, body: bytes, related: RequestId | None) -> bool:
        """Hand each message on; True if one of them answers ``related``."""
        if not body.strip():
            return False
        try:
            parsed = jsonrpc.parse(body)
        except JsonRpcError:
            return False
        answered = False
        for message in parsed if isinstance(parsed, list) else [parsed]:
            answered |= not isinstance(message, Request) and getattr(message, "id", None) == related
            self.wire.deliver(message, related)
        return answered

    async def _listen(self) -> None:
        """The GET stream: messages the server sends outside any request (a 405 means it has none)."""
        refused: str | None = None
        while not self._closed:
            try:
                authorization = await self._authorization(refused)
            except UpstreamError:
                return
            refused = None
            try:
                async with self.http.request("GET", self.target, self._headers("text/event-stream", authorization)) as response:
                    if response.status == 405:
                        return
                    if response.status == 404 and self.session_id:
                        self._lose("ended our session (HTTP 404)")
                        return
                    if response.status == 401 and self.credential is not None:
                        refused = authorization  # renewed before the next try, a second apart
                        await response.read()
                    else:
                        reader = SseReader()
                        async for chunk in response.chunks():
                            for event in reader.feed(chunk):
                                self._deliver(event.data.encode(), None)
            except (HttpError, OSError, ValueError):
                pass
            await asyncio.sleep(LISTEN_RETRY)

    async def _finish(self, response: HttpResponse) -> None:
        try:
            await response.read()
        except (HttpError, OSError):
            pass
        finally:
            self.http.done(response)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lose(self, reason: str) -> None:
        if not self._closed:
            self._closed = True
            self.wire.lost(reason)

    async def close(self) -> None:
        """End the session (DELETE, as the spec asks of a client that leaves) and every connection."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self.session_id:
            with contextlib.suppress(HttpError, OSError, TimeoutError, UpstreamError):
                async with asyncio.timeout(2.0):
                    authorization = await self.credential.header() if self.credential is not None else ""
                    async with self.http.request("DELETE", self.target,
                                                 self._headers("application/json", authorization)) as response:
                        await response.read()
        self.http.close()


def _kind(message: Message) -> str:
    return f"{message.method} request" if isinstance(message, Request) else type(message).__name__.lower()
