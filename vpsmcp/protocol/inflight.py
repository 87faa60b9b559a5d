"""The requests being handled, so that a shutdown ends each one with an error instead of cutting it off.

On SIGTERM hypercorn lets requests finish for its graceful timeout and then
cancels them, which answered a call still running with an empty 500 (and,
for an event stream, a cut connection). vpsmcp ends them itself a little
before that: ``cut`` cancels every request still running and makes each
answer a JSON-RPC error saying why, which a client can read and act on.
"""

from __future__ import annotations

import asyncio
from typing import Any


class InFlight:
    """The tasks of the requests being handled, and why they were cut, once they were."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.cut_reason: str | None = None

    def __len__(self) -> int:
        return len(self._tasks)

    def add(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)

    def discard(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)

    def cut(self, reason: str) -> int:
        """Cancel every request still running; each answers an error carrying ``reason``. How many were cut."""
        self.cut_reason = reason
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return len(tasks)
