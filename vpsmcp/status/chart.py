"""The status page's chart: requests and errors over the last hours, as geometry for inline SVG.

Computed here, drawn by ``templates/chart.svg`` — no script, so the chart
shows in any browser and in a screenshot. Each bar covers ``BAR_MINUTES``;
errors (``steps.is_error``: failures other than the first 401 challenge) are
drawn in red over the requests of the same bar.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

BAR_MINUTES = 5
BAR_WIDTH = 10
HEIGHT = 120
LEFT = 44  # room for the scale's labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    requests_y: float
    requests_h: float
    errors_y: float
    errors_h: float
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: int
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    top: int  # the scale's maximum (requests per bar)
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    requests: int
    errors: int


def chart(series: Sequence[tuple[int, int, int]]) -> Chart:
    """``series`` is ``(minute, requests, errors)`` per minute, oldest first (``Timeline.series``)."""
    groups = [series[i : i + BAR_MINUTES] for i in range(0, len(series), BAR_MINUTES)]
    totals = [(g[0][0], sum(r for _, r, _ in g), sum(e for _, _, e in g)) for g in groups if g]
    top = max([1, *(r for _, r, _ in totals)])
    bars, ticks = [], []
    for i, (minute, requests, errors) in enumerate(totals):
        x = LEFT + i * BAR_WIDTH
        rh, eh = HEIGHT * requests / top, HEIGHT * errors / top
        start = _clock(minute)
        end = _clock(minute + BAR_MINUTES)
        title = f"{start}–{end}: {requests} request(s), {errors} error(s)"
        bars.append(Bar(x, round(HEIGHT - rh, 1), round(rh, 1), round(HEIGHT - eh, 1), round(eh, 1), title))
        if minute % 60 == 0:
            ticks.append(Tick(x, start))
    width = LEFT + len(totals) * BAR_WIDTH
    return Chart(width, HEIGHT, top, tuple(bars), tuple(ticks), sum(t[1] for t in totals), sum(t[2] for t in totals))


def _clock(minute: int) -> str:
    return time.strftime("%H:%M", time.localtime(minute * 60))
