"""HTTP requests with a deadline, on the standard library alone (the pyz carries no client).

Every request the doctor sends goes through ``Probe``: each has a deadline
for the whole exchange, not just per socket read, so no server can hold the
doctor; redirects are returned, never followed (MCP clients do not follow
them either). The target's host is pinned to the address the DNS step chose —
an IPv4 address, as Claude's connector only dials IPv4 — while ``Host`` and
SNI keep the name. Failures become ``ProbeError`` with a kind and plain words.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vpsmcp.doctor.model import ProbeError
from vpsmcp.doctor.target import DEFAULT_PORTS
from vpsmcp.trace.verdict import DOCTOR_MARK

MAX_BODY = 1 << 20
READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    seconds: float

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def excerpt(self, limit: int = 160) -> str:
        text = self.body.decode("utf-8", "replace").strip().replace("\n", " ")
        return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Opened:
    """An answer whose headers have arrived and whose body is read piece by piece."""

    status: int
    headers: tuple[tuple[str, str], ...]
    seconds: float
    response: http.client.HTTPResponse
    connection: http.client.HTTPConnection

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def read_some(self, until: float) -> bytes | None:
        """What arrives next (``b""`` at the end), or ``None`` when the deadline ``until`` passes first.

        After ``None`` the connection is unusable (socket timeouts poison it): close it.
        """
        remaining = until - time.monotonic()
        if remaining <= 0 or self.connection.sock is None:
            return None
        self.connection.sock.settimeout(remaining)
        try:
            return self.response.read1(READ_SIZE)
        except TimeoutError:
            return None
        except (OSError, http.client.HTTPException):
            return b""

    def read_all(self, until: float, max_body: int = MAX_BODY) -> bytes:
        """The rest of the body (cut at ``max_body``); ``ProbeError`` if it does not end by ``until``."""
        chunks: list[bytes] = []
        size = 0
        while size < max_body:
            chunk = self.read_some(until)
            if chunk is None:
                raise ProbeError("timeout", "the answer did not finish in time")
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)[:max_body]

    def close(self) -> None:
        self.connection.close()


class _Connection(http.client.HTTPConnection):
    """``HTTPConnection`` that dials a chosen address and speaks TLS when given a context."""

    def __init__(self, host: str, port: int, timeout: float, address: str | None, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.tls = tls
        self.default_port = DEFAULT_PORTS["https" if tls else "http"]  # Host: without the default port

    def connect(self) -> None:
        sock = socket.create_connection((self.address or self.host, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock
        except BaseException:
            sock.close()
            raise


@dataclass
class Probe:
    """The doctor's HTTP client; ``timeout`` bounds each exchange."""

    timeout: float
    ca_file: str | None = None
    user_agent: str = f"Claude-User {DOCTOR_MARK}"  # Claude's, marked: vpsmcp's trace labels the flow
    pins: dict[str, str] = field(default_factory=dict)
    dates: list[tuple[float, str]] = field(default_factory=list)
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        if not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        return context

    def socket(self, url: str, timeout: float | None = None) -> socket.socket:
        """A connected (and for https, TLS) socket to the URL's host."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        conn = _Connection(host, port, timeout or self.timeout, self.pins.get(host), self._tls(parts.scheme))
        with _errors(timeout or self.timeout):
            conn.connect()
        assert conn.sock is not None
        return conn.sock

    def open(self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None,
             timeout: float | None = None) -> Opened:
        """Send a request and wait (at most ``timeout``) for the answer's headers."""
        limit = timeout or self.timeout
        start = time.monotonic()
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        conn = _Connection(host, port, limit, self.pins.get(host), self._tls(parts.scheme))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        try:
            with _errors(limit):
                conn.request(method, target, body=body, headers=sent)
                assert conn.sock is not None
                conn.sock.settimeout(max(0.001, limit - (time.monotonic() - start)))
                response = conn.getresponse()
        except ProbeError:
            conn.close()
            raise
        answer = Opened(response.status, tuple(response.getheaders()), time.monotonic() - start, response, conn)
        if date := answer.header("date"):
            self.dates.append((time.time(), date))
        return answer

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None,
                timeout: float | None = None, max_body: int = MAX_BODY) -> Reply:
        """A whole exchange, bounded by ``timeout``; the body is cut at ``max_body`` bytes."""
        limit = timeout or self.timeout
        start = time.monotonic()
        until = start + limit
        opened = self.open(method, url, headers, body, limit)
        try:
            data = b"" if method == "HEAD" else opened.read_all(until, max_body)
        finally:
            opened.close()
        return Reply(opened.status, opened.headers, data, time.monotonic() - start)

    def _tls(self, scheme: str) -> ssl.SSLContext | None:
        return self.context() if scheme == "https" else None


class _errors:
    """Turn the standard library's many failures into ``ProbeError``s with plain words."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, socket.gaierror):
            raise ProbeError("dns", f"the name does not resolve ({exc.strerror})") from None
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise ProbeError("tls", f"the certificate is not trusted: {exc.verify_message}") from None
        if isinstance(exc, ssl.SSLError):
            raise ProbeError("tls", f"the TLS handshake failed: {exc.reason or exc}") from None
        if isinstance(exc, (TimeoutError, socket.timeout)):
            raise ProbeError("timeout", f"no answer within {self.timeout:g} s") from None
        if isinstance(exc, ConnectionRefusedError):
            raise ProbeError("connect", "the connection was refused (nothing listens on that port)") from None
        if isinstance(exc, http.client.HTTPException):
            raise ProbeError("http", "the connection closed without an HTTP answer") from None
        if isinstance(exc, OSError):
            raise ProbeError("connect", f"cannot connect: {exc.strerror or exc}") from None
