"""The Prometheus text exposition format (version 0.0.4) of the server's metrics.

``# HELP`` and ``# TYPE`` before each family, label values escaped
(backslash, double quote, newline), histogram buckets cumulative with
``le="+Inf"`` equal to ``_count``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vpsmcp.trace.metrics import BUCKETS, Metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Gauges:
    """What is read at scrape time rather than counted."""

    uptime: float
    sessions: int
    flows: int
    upstreams: tuple[tuple[str, str, int], ...] = ()  # (name, state, restarts)


def render(metrics: Metrics, gauges: Gauges) -> str:
    lines = _Lines()
    family = lines.family
    family("vpsmcp_http_requests_total", "counter", "HTTP requests answered, by route and status.",
           ((f'route="{_esc(r)}",status="{s}"', n) for (r, s), n in sorted(metrics.requests.items())))
    _histogram(lines, metrics)
    family("vpsmcp_http_requests_in_flight", "gauge", "HTTP requests being served now.", [("", metrics.in_flight)])
    family("vpsmcp_open_streams", "gauge", "Event streams and WebSockets open now.", [("", metrics.streams)])
    family("vpsmcp_sessions", "gauge", "Handshake-era MCP sessions open now.", [("", gauges.sessions)])
    family("vpsmcp_tool_calls_total", "counter", "tools/call answers, by tool and outcome.",
           ((f'tool="{_esc(t)}",outcome="{_esc(o)}"', n) for (t, o), n in sorted(metrics.tool_calls.items())))
    family("vpsmcp_client_quirks_total", "counter",
           "Requests served despite a documented client quirk (version_header: claude-code#93290; "
           "no_session: claude-ai-mcp#99).",
           ((f'quirk="{_esc(k)}"', n) for k, n in sorted(metrics.quirks.items())))
    family("vpsmcp_upstream_restarts_total", "counter", "Restarts of each gateway upstream.",
           ((f'upstream="{_esc(name)}"', restarts) for name, _, restarts in gauges.upstreams))
    family("vpsmcp_upstream_up", "gauge", "1 when a gateway upstream is ready.",
           ((f'upstream="{_esc(name)}"', int(state == "ready")) for name, state, _ in gauges.upstreams))
    family("vpsmcp_trace_flows", "gauge", "Connection flows held in memory.", [("", gauges.flows)])
    family("vpsmcp_uptime_seconds", "gauge", "Seconds since the server started.", [("", round(gauges.uptime, 3))])
    return "\n".join(lines) + "\n"


class _Lines(list[str]):
    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> None:
        self.append(f"# HELP {name} {help_text}")
        self.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")


def _histogram(lines: list[str], metrics: Metrics) -> None:
    name = "vpsmcp_http_request_duration_seconds"
    lines.append(f"# HELP {name} Time to the first byte of the answer, by route (an event stream counts until it starts).")
    lines.append(f"# TYPE {name} histogram")
    for route, histogram in sorted(metrics.latency.items()):
        label = f'route="{_esc(route)}"'
        running = 0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], histogram.counts, strict=True):
            running += count
            lines.append(f'{name}_bucket{{{label},le="{bound}"}} {running}')
        lines.append(f"{name}_sum{{{label}}} {histogram.total:.6f}")
        lines.append(f"{name}_count{{{label}}} {histogram.count}")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
