"""A small HTTP/1.1 client on asyncio streams and h11, for URL upstreams.

vpsmcp carries no HTTP client library (the pyz is pure Python and small);
h11 is already there under hypercorn. Connections are kept alive and reused
(an upstream call must not pay a TCP handshake); a response body is read as
it arrives, so an event stream is relayed while it lasts. https uses the
standard library's ``ssl`` with certificate verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

READ_SIZE = 65536
MAX_IDLE = 32  # kept-alive connections per upstream


class HttpError(Exception):
    """The upstream could not be reached or broke the HTTP exchange; the message says how."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, host and port of the upstream's URL."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname or "", parts.port or default)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    def close(self) -> None:
        self.writer.close()


@dataclass
class HttpResponse:
    """A response whose body is read on demand."""

    status: int
    headers: dict[str, str]
    _conn: _Connection

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives."""
        while True:
            event = self._conn.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self._conn.reader.read(READ_SIZE)
                self._conn.h11.receive_data(data)
                if not data and self._conn.h11.their_state is h11.SEND_BODY:
                    raise HttpError("the connection closed in the middle of a response")
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return

    async def read(self, limit: int = 64 * 1024 * 1024) -> bytes:
        body = bytearray()
        async for chunk in self.chunks():
            body += chunk
            if len(body) > limit:
                raise HttpError(f"the response is larger than {limit} bytes")
        return bytes(body)


class HttpClient:
    """Requests to one origin over a pool of kept-alive connections."""

    def __init__(self, origin: Origin, connect_timeout: float = 10.0) -> None:
        self.origin = origin
        self.connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._ssl = ssl.create_default_context() if origin.scheme == "https" else None

    @contextlib.asynccontextmanager
    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> AsyncIterator[HttpResponse]:
        """Send a request; the body of the response must be read inside the block."""
        response = await self.send(method, target, headers, body)
        try:
            yield response
        finally:
            self.done(response)

    async def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> HttpResponse:
        """Send a request and read the response's head; call ``done`` when finished with it."""
        return await self._exchange(method, target, headers, body)

    def done(self, response: HttpResponse) -> None:
        """Keep the connection for the next request if its response was read to the end, else close it."""
        self._release(response._conn)

    async def _exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        wire = [("host", self.origin.host_header), *headers.items()]
        if body or method in ("POST", "PUT"):
            wire.append(("content-length", str(len(body))))
        # A kept-alive connection the server has closed meanwhile fails before any response: one retry, fresh.
        for reused in (bool(self._idle), False):
            conn = self._idle.pop() if reused else await self._connect()
            try:
                self._write(conn, h11.Request(method=method, target=target, headers=wire), body)
                await conn.writer.drain()
                return await self._response(conn)
            except (OSError, h11.LocalProtocolError, HttpError) as exc:
                conn.close()
                if not reused:
                    raise exc if isinstance(exc, HttpError) else HttpError(f"cannot send: {exc}") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _write(conn: _Connection, request: h11.Request, body: bytes) -> None:
        parts = [conn.h11.send(request)]
        if body:
            parts.append(conn.h11.send(h11.Data(data=body)))
        parts.append(conn.h11.send(h11.EndOfMessage()))
        conn.writer.write(b"".join(part for part in parts if part))

    async def _response(self, conn: _Connection) -> HttpResponse:
        try:
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    conn.h11.receive_data(await conn.reader.read(READ_SIZE))
                elif isinstance(event, h11.Response):
                    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
                    return HttpResponse(event.status_code, headers, conn)
                elif isinstance(event, h11.ConnectionClosed):
                    raise HttpError("the connection closed before a response")
        except (OSError, h11.RemoteProtocolError) as exc:
            raise HttpError(f"no valid response from {self.origin.host_header}: {exc}") from None

    async def _connect(self) -> _Connection:
        origin = self.origin
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(origin.host, origin.port, ssl=self._ssl, limit=READ_SIZE),
                self.connect_timeout,
            )
        except (TimeoutError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise HttpError(f"cannot connect to {origin.host_header}: {reason}") from None
        return _Connection(reader, writer)

    def _release(self, conn: _Connection) -> None:
        state = conn.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE and len(self._idle) < MAX_IDLE:
            state.start_next_cycle()
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
