"""Reading a text/event-stream (WHATWG HTML, "Server-sent events", parsing an event stream).

Bytes in, events out, no I/O. Lines end with CRLF, LF or CR; a blank line
dispatches the event; ``data`` lines are joined with newlines; comments
(``:``) are heartbeats and are dropped; an event with no data is not
dispatched. The one promise (held by a property test): any bytes in any
chunking give the same events, and nothing but events.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 64 * 1024 * 1024  # a line longer than this is refused, not buffered forever


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event."""

    event: str
    data: str
    id: str | None


class SseReader:
    """Feed it chunks as they arrive; it returns the events they complete."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """The events ``chunk`` completes; ``ValueError`` for a line over ``MAX_LINE`` bytes."""
        self._buffer += chunk
        events: list[Event] = []
        while True:
            line, found = self._next_line()
            if not found:
                if len(self._buffer) > MAX_LINE:
                    raise ValueError(f"an event stream line longer than {MAX_LINE} bytes")
                return events
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)

    def _next_line(self) -> tuple[bytes, bool]:
        buffer = self._buffer
        ends = [i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0]
        if not ends:
            return b"", False
        end = min(ends)
        if buffer[end : end + 1] == b"\r":
            if end + 1 == len(buffer):
                return b"", False  # a CR at the end may be half of a CRLF: wait for more
            skip = 2 if buffer[end + 1 : end + 2] == b"\n" else 1
        else:
            skip = 1
        self._buffer = buffer[end + skip :]
        return buffer[:end], True

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> Event | None:
        if self._id is not None:
            self.last_id = self._id
        data, name = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return Event(name or "message", "\n".join(data), self.last_id)
