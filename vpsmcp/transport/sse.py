"""Server-Sent Events framing (WHATWG HTML, "Server-sent events")."""

from __future__ import annotations

# Every event stream carries these: no proxy may buffer, cache or transform it.
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


def event(data: bytes, name: str = "message", event_id: str | None = None) -> bytes:
    """One event; ``data`` is a single line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\n".encode() + b"data: " + data + b"\n\n"


def priming(event_id: str, retry_ms: int) -> bytes:
    """An event with an id and empty data, so a client can resume from the start (2025-11-25)."""
    return f"id: {event_id}\nretry: {retry_ms}\ndata: \n\n".encode()


def retry(retry_ms: int) -> bytes:
    """Tell the client how long to wait before reconnecting."""
    return f"retry: {retry_ms}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"
