"""An incremental Server-Sent Events parser that notes when each item arrived.

WHATWG HTML, "Server-sent events", §9.2.6 (interpreting an event stream):
lines end in CRLF, LF or CR; a blank line dispatches the event; a line
starting with a colon is a comment (what servers send as keep-alives). The
arrival time of every event and comment is what reveals a buffering proxy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    """One event (``comment`` False) or one comment line, with its arrival time (monotonic)."""

    at: float
    comment: bool
    event: str = "message"
    data: str = ""
    id: str | None = None

    def message(self) -> Any:
        """The data as JSON, or ``None``."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class EventParser:
    """Feed bytes as they arrive; get back the items they complete."""

    def __init__(self) -> None:
        self._buffer = ""
        self._pending_cr = False
        self._decoder_tail = b""
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, chunk: bytes, at: float | None = None) -> list[Item]:
        now = time.monotonic() if at is None else at
        text = self._decode(chunk)
        items: list[Item] = []
        for line in self._lines(text):
            item = self._line(line, now)
            if item is not None:
                items.append(item)
        return items

    def _decode(self, chunk: bytes) -> str:
        data = self._decoder_tail + chunk
        for cut in range(len(data), max(len(data) - 4, -1), -1):
            try:
                text = data[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._decoder_tail = data[cut:]
            return text
        self._decoder_tail = b""
        return data.decode("utf-8", "replace")

    def _lines(self, text: str) -> list[str]:
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._buffer = self._buffer.split("\n")
        return lines

    def _line(self, line: str, now: float) -> Item | None:
        if line == "":
            return self._dispatch(now)
        if line.startswith(":"):
            return Item(now, True, data=line[1:].strip())
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value or "message"
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self, now: float) -> Item | None:
        # An event with no data line (a lone ``retry:``) is not dispatched (§9.2.6).
        item = Item(now, False, self._event, "\n".join(self._data), self._id) if self._data else None
        self._event, self._data, self._id = "message", [], None
        return item
