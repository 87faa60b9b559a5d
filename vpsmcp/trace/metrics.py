"""Counters the server keeps about itself: requests, latency, tool calls, and a per-minute timeline.

Plain integers and dicts updated on the request path (a few hundred
nanoseconds a request); ``exposition.py`` writes them in the Prometheus text
format and the status page draws the timeline. Labels are bounded: routes are
labels from ``steps.classify``, tools only names the registry knows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Seconds; an event stream is timed to its first byte, not to its end.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TIMELINE_MINUTES = 6 * 60


@dataclass(slots=True)
class Histogram:
    """Counts per bucket (the last is +Inf, not cumulative), their sum and number."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


@dataclass(slots=True)
class Timeline:
    """Requests and errors per minute over the last ``TIMELINE_MINUTES``, in a ring."""

    minutes: list[int] = field(default_factory=lambda: [-1] * TIMELINE_MINUTES)
    requests: list[int] = field(default_factory=lambda: [0] * TIMELINE_MINUTES)
    errors: list[int] = field(default_factory=lambda: [0] * TIMELINE_MINUTES)

    def add(self, now: float, error: bool) -> None:
        minute = int(now // 60)
        slot = minute % TIMELINE_MINUTES
        if self.minutes[slot] != minute:
            self.minutes[slot], self.requests[slot], self.errors[slot] = minute, 0, 0
        self.requests[slot] += 1
        self.errors[slot] += error

    def series(self, now: float, minutes: int = TIMELINE_MINUTES) -> list[tuple[int, int, int]]:
        """``(minute, requests, errors)`` for each of the last ``minutes`` minutes, oldest first."""
        last = int(now // 60)
        out = []
        for minute in range(last - minutes + 1, last + 1):
            slot = minute % TIMELINE_MINUTES
            fresh = self.minutes[slot] == minute
            out.append((minute, self.requests[slot] if fresh else 0, self.errors[slot] if fresh else 0))
        return out


@dataclass(slots=True)
class Metrics:
    """Everything counted since start-up."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)  # (route, status)
    latency: dict[str, Histogram] = field(default_factory=dict)  # route
    tool_calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (tool, outcome)
    quirks: dict[str, int] = field(default_factory=dict)  # client quirks served (transport/era.py), by kind
    timeline: Timeline = field(default_factory=Timeline)
    in_flight: int = 0
    streams: int = 0  # event streams and WebSockets open now

    def answered(self, route: str, status: int, seconds: float, now: float, error: bool) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram()
        histogram.observe(seconds)
        self.timeline.add(now, error)

    def quirk(self, kind: str) -> None:
        self.quirks[kind] = self.quirks.get(kind, 0) + 1

    def tool_called(self, tool: str, outcome: str) -> None:
        key = (tool, outcome)
        self.tool_calls[key] = self.tool_calls.get(key, 0) + 1
