"""Sliding-window limits: how many times something may happen per key in a window, and when it may again.

Registration is open to anyone (RFC 7591), so it is limited per client
address and overall; a flood then costs a few counters, not the store.
Memory is bounded: the keys seen longest ago are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

MAX_KEYS = 10_000


@dataclass
class RateLimit:
    """At most ``limit`` events per key in ``window`` seconds."""

    limit: int
    window: float
    _events: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one event for ``key``; 0 if allowed, else the seconds until one is (nothing counted)."""
        now = time.monotonic() if now is None else now
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > MAX_KEYS:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(0.001, self.window - (now - events[0]))
        events.append(now)
        return 0.0
