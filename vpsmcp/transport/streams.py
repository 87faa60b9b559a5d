"""Outbound message streams, decoupled from the HTTP connections that carry them.

Request tasks append messages to an ``OutboundStream``; a connection reads
from it with a cursor. In the handshake era a dropped connection is not a
cancellation (basic/transports): messages keep accumulating, and a GET with
``Last-Event-ID`` resumes reading where the client left off. Each event's id
is ``<stream id>/<sequence>``, so the id alone names the stream to replay.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from vpsmcp.protocol.jsonrpc import ErrorResponse, Message, Response, encode

MAX_BUFFERED = 1000
_ids = itertools.count(1)


@dataclass(slots=True)
class StoredEvent:
    """One message as sent, with its event id."""

    seq: int
    message: Message
    data: bytes


@dataclass(eq=False)
class OutboundStream:
    """An ordered, bounded, replayable sequence of messages to one client."""

    stream_id: str = field(default_factory=lambda: str(next(_ids)))
    events: deque[StoredEvent] = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED))
    pending: set[str | int] = field(default_factory=set)  # request ids still to be answered
    standalone: bool = False  # the GET stream: never done until closed
    closed: bool = False
    finished_at: float | None = None  # monotonic time it became done
    _seq: int = 0
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)
    _detach: int = 0  # bumped to make current readers let go (server-initiated disconnect)

    @property
    def last_seq(self) -> int:
        return self._seq

    def event_id(self, seq: int) -> str:
        return f"{self.stream_id}/{seq}"

    def put(self, message: Message) -> None:
        """Append a message; a response also settles its request."""
        self._seq += 1
        self.events.append(StoredEvent(self._seq, message, encode(message)))
        if isinstance(message, (Response, ErrorResponse)) and message.id is not None:
            self.pending.discard(message.id)
        self._changed()

    def settle(self, request_id: str | int) -> None:
        """A request ended without a response (it was cancelled)."""
        self.pending.discard(request_id)
        self._changed()

    @property
    def done(self) -> bool:
        """Closed, or every request it carries has been answered."""
        return self.closed or (not self.standalone and not self.pending)

    def close(self) -> None:
        self.closed = True
        self._changed()

    def detach_readers(self) -> None:
        """End current readers' connections; the stream itself goes on (SEP-1699 polling)."""
        self._detach += 1
        self._changed()

    def _changed(self) -> None:
        if self.finished_at is None and self.done:
            self.finished_at = time.monotonic()
        # Waking is free when nobody waits, which is the usual case for a quick call.
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the next change; False when ``timeout`` seconds passed without one."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True

    async def read(self, after: int = 0, heartbeat: float | None = None) -> AsyncIterator[StoredEvent | None]:
        """Events after sequence ``after``; ``None`` when ``heartbeat`` seconds pass idle."""
        detach = self._detach
        while True:
            for stored in list(self.events):
                if stored.seq > after:
                    after = stored.seq
                    yield stored
            if self.done or self._detach != detach:
                return
            if not await self.wait(heartbeat):
                yield None


def parse_event_id(value: str) -> tuple[str, int] | None:
    """``(stream id, sequence)`` from a ``Last-Event-ID``, or ``None`` if it is not ours."""
    stream_id, _, seq = value.partition("/")
    if not stream_id or not (seq.isascii() and seq.isdigit()):  # "²".isdigit() is True; int("²") fails
        return None
    return stream_id, int(seq)
