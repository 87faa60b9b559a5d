"""Long output, cut with a clear marker that says how to get the rest.

Every built-in tool returns at most ``tools.output_limit`` characters of text
and pages its lists: the model sees what was left out and which argument
fetches the next part, instead of a silently shortened answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def marker(shown: int, total: int, unit: str, hint: str) -> str:
    """The line that ends cut output."""
    return f"[output cut: {shown} of {total} {unit} shown; {hint}]"


def clip_text(text: str, limit: int, hint: str) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters (marker included), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    note = marker(0, len(text), "characters", hint)
    keep = max(0, limit - len(note) - 1)
    return text[:keep] + "\n" + marker(keep, len(text), "characters", hint), True


@dataclass(frozen=True, slots=True)
class Capture:
    """The first ``limit`` bytes of a stream, and how many bytes it had in all."""

    data: bytes
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self, hint: str) -> str:
        """The captured bytes as text, with a marker when some were dropped."""
        decoded = self.data.decode("utf-8", "replace")
        if not self.truncated:
            return decoded
        return decoded + "\n" + marker(len(self.data), self.total, "bytes", hint)


class Collector:
    """Keeps the first ``limit`` bytes written to it and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._kept = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - self._kept
        if room > 0:
            self._parts.append(chunk[:room])
            self._kept += min(room, len(chunk))

    def capture(self) -> Capture:
        return Capture(b"".join(self._parts), self.total)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    offset: int
    total: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if end < self.total else None

    def note(self, what: str) -> str:
        """A line saying what was left out, or ``""`` when nothing was."""
        if self.next_offset is None and self.offset == 0:
            return ""
        shown = f"{what} {self.offset + 1}-{self.offset + len(self.items)} of {self.total}"
        if self.next_offset is None:
            return f"[{shown}]"
        return f"[{shown} shown; call again with offset={self.next_offset} for more]"


def page(items: Sequence[T], offset: int, limit: int) -> Page[T]:
    """Entries ``offset`` … ``offset + limit`` of ``items``."""
    return Page(list(items[offset : offset + limit]), offset, len(items))
