"""An HTTP answer of the MCP endpoint in no framework's types: a status, headers and a body.

The transports build ``Answer``s and the lean ASGI endpoint (``asgi.py``)
sends them as ASGI events; the error handlers Quart keeps for the paths under
the transports' (``/mcp/x``) turn them into Quart responses (``http_errors.to_quart``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

JSON = "application/json"


@dataclass(slots=True)
class Answer:
    """``body`` is the whole body, or an event stream's chunks as they come."""

    status: int = 200
    body: bytes | AsyncIterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, body, {"Content-Type": JSON, **(headers or {})})

    def asgi_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI sends them; a whole body's length among them."""
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        if isinstance(self.body, bytes):
            headers.append((b"content-length", str(len(self.body)).encode()))
        return headers

    @classmethod
    def empty(cls, status: int) -> Answer:
        """202 for notifications and responses, 200 for a DELETE: no body."""
        return cls(status)
