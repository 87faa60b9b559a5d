"""The printed comparison: medians over rounds, side by side, and the issue's targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from load import Sample

SERVERS = ("vpsmcp", "raw", "floor", "ts-sdk", "sdk")  # the run's servers, in the table's order
ANCHORS = ("raw", "floor", "ts-sdk", "sdk")  # vpsmcp's figures are also given as a ratio to each
METHODS = ("tools/call", "tools/list")
Key = tuple[str, str, int]  # (server, method, connections)


def p50_ms(s: Sample) -> float:
    return s.p50_ms


def p99_ms(s: Sample) -> float:
    return s.p99_ms


def req_per_s(s: Sample) -> float:
    return s.rps


def cpu_us(s: Sample) -> float:
    return s.cpu_us


@dataclass
class Results:
    """Every sample of the run, and each server's memory."""

    samples: dict[Key, list[Sample]]
    memory: dict[str, dict[str, float]]  # server → {"idle", "end", "peak"} in MB
    connections: tuple[int, ...]

    def median(self, server: str, method: str, conns: int, metric: Callable[[Sample], float]) -> float:
        return statistics.median(metric(s) for s in self.samples[(server, method, conns)])

    def errors(self, server: str) -> int:
        return sum(s.errors for (name, _, _), runs in self.samples.items() if name == server for s in runs)


def rows(results: Results) -> list[tuple[str, dict[str, float]]]:
    """(label, figure per server) for every metric the table shows."""
    out: list[tuple[str, dict[str, float]]] = []
    low = min(results.connections)
    for method in METHODS:
        for conns in results.connections:
            metrics: list[tuple[str, Callable[[Sample], float]]] = [("p99 ms", p99_ms), ("req/s", req_per_s),
                                                                     ("CPU us/req", cpu_us)]
            if conns == low:
                metrics.insert(0, ("p50 ms", p50_ms))  # the latency of one request alone
            for label, metric in metrics:
                out.append((f"{method} c={conns} {label}", {s: results.median(s, method, conns, metric) for s in SERVERS}))
    for kind, label in (("idle", "RSS before load MB"), ("peak", "peak RSS (VmHWM) MB"), ("end", "RSS after load MB")):
        out.append((label, {s: results.memory[s][kind] for s in SERVERS}))
    out.append(("errors (socket, timeout, non-2xx)", {s: float(results.errors(s)) for s in SERVERS}))
    return out


def table(results: Results) -> str:
    header = f"{'metric':<36}" + "".join(f"{s:>9}" for s in SERVERS) + "".join(f"{'/' + a:>9}" for a in ANCHORS)
    lines = [header, "-" * len(header)]
    for label, fig in rows(results):
        lines.append(f"{label:<36}" + "".join(f"{_num(fig[s]):>9}" for s in SERVERS)
                     + "".join(f"{_ratio(fig['vpsmcp'], fig[a]):>9}" for a in ANCHORS))
    return "\n".join(lines) + "\n(the last columns: vpsmcp's figure divided by that server's)"


def targets(results: Results) -> str:
    """The issue's targets for vpsmcp, each PASS or MISS, for both methods."""
    lines = [f"{'target':<58}{'vpsmcp':>10}{'limit':>10}  result"]
    low, mid, high = min(results.connections), 32, max(results.connections)
    for method in METHODS:
        if mid in results.connections:
            ratio = results.median("vpsmcp", method, mid, req_per_s) / results.median("ts-sdk", method, mid, req_per_s)
            lines.append(_target(f"{method} throughput at c={mid} >= 1.25x ts-sdk", ratio, 1.25, ratio >= 1.25, "x"))
            ratio = results.median("vpsmcp", method, mid, cpu_us) / results.median("ts-sdk", method, mid, cpu_us)
            lines.append(_target(f"{method} CPU per request at c={mid} <= 0.8x ts-sdk's", ratio, 0.8, ratio <= 0.8, "x"))
        p50 = results.median("vpsmcp", method, low, p50_ms) / results.median("ts-sdk", method, low, p50_ms)
        lines.append(_target(f"{method} p50 at c={low} <= ts-sdk's", p50, 1.0, p50 <= 1.0, "x"))
        ratio = results.median("vpsmcp", method, high, p99_ms) / results.median("floor", method, high, p99_ms)
        lines.append(_target(f"{method} p99 at c={high} <= 2x floor's p99", ratio, 2.0, ratio <= 2.0, "x"))
    peak = results.memory["vpsmcp"]["peak"]
    lines.append(_target("peak RSS under load <= 60 MB", peak, 60.0, peak <= 60.0, " MB"))
    return "\n".join(lines)


def _target(label: str, value: float, limit: float, ok: bool, unit: str) -> str:
    return f"{label:<58}{_num(value) + unit:>10}{_num(limit) + unit:>10}  {'PASS' if ok else 'MISS'}"


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"
