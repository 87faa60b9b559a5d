#!/usr/bin/env python3
"""Benchmark MCP tools/call and tools/list: vpsmcp against the floor and the official SDK.

One command, ``python3 bench/run.py``: installs what it needs (a venv in
.cache/bench-venv, wrk from Debian), starts the three servers on loopback,
each pinned to one core with wrk on the other, and measures them interleaved —
round-robin rounds, the server order rotating each round — so that machine
noise falls on all three alike. See bench/README.md for reading the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import spy
from load import Sample, cpu_seconds, memory_mb, run_wrk
from oauth_login import obtain_token
from report import METHODS, Key, Results, table, targets
from servers import (
    Server,
    check,
    floor_server,
    open_session,
    raw_floor_server,
    sdk_server,
    ts_sdk_server,
    vpsmcp_server,
)
from setup_env import CACHE, ROOT, SetupError, venv_python, wrk_path

OUT = CACHE / "bench"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        python, wrk = venv_python(), wrk_path()
    except SetupError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    server_cpu, load_cpu = _cpus()
    load_before = os.getloadavg()[0]
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})  # the runner, wrk and py-spy share the load core
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vpsmcp-bench-") as tmp:
        makers = [vpsmcp_server] if args.profile else [vpsmcp_server, raw_floor_server, floor_server, ts_sdk_server,
                                                        sdk_server]
        servers = [make(python, _workdir(Path(tmp), make.__name__), server_cpu) for make in makers]
        try:
            _start(servers, max(*args.connections, 32))
            if args.profile:
                return _profile(servers[0], wrk, python, args, load_cpu)
            results = _measure(servers, wrk, args, load_cpu)
            answers = {s.name: s.answers for s in servers}
        except RuntimeError as exc:  # a server that did not start or answered wrong, or wrk failing
            print(f"bench: error: {exc}", file=sys.stderr)
            return 1
        finally:
            for server in servers:
                server.stop()
    _print(results, args, _setting(server_cpu, load_cpu, load_before, answers))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians over them (3)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of one wrk run (3)")
    p.add_argument(
        "--connections",
        type=lambda text: tuple(sorted(int(c) for c in text.split(","))),
        default=(1, 32, 128),
        help="comma-separated concurrencies (1,32,128)",
    )
    p.add_argument("--profile", type=float, metavar="SECONDS", help="instead: py-spy vpsmcp under tools/call at c=32")
    return p


def _cpus() -> tuple[int | None, int | None]:
    """(server core, load core): two different cores when there are two."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("bench: warning: one core only; server and wrk will compete for it", file=sys.stderr)
        return None, None
    return cpus[0], cpus[1]


def _workdir(tmp: Path, maker: str) -> Path:
    path = tmp / maker.removesuffix("_server")
    path.mkdir()
    return path


def _start(servers: list[Server], sessions: int) -> None:
    """Start every server, open its sessions (one per connection) and check its answers."""
    for server in servers:
        server.start()
        print(f"bench: {server.name} pid {server.pid} at {server.url}", file=sys.stderr)
    ours = [s for s in servers if s.name == "vpsmcp"]
    token = obtain_token(ours[0].url.removesuffix("/mcp")) if ours else ""
    for server in servers:
        server.token = token
        server.sessions = [open_session(server.url, token) for _ in range(sessions)]
        check(server)


def _measure(servers: list[Server], wrk: str, args: argparse.Namespace, cpu: int | None) -> Results:
    plan = [(method, conns) for method in METHODS for conns in args.connections]
    samples: dict[Key, list[Sample]] = {(s.name, m, c): [] for s in servers for m, c in plan}
    runs = iter(range(1, 1_000_000))  # a fresh JSON-RPC id range per wrk run

    def load(server: Server, method: str, conns: int, seconds: float) -> Sample:
        used = cpu_seconds(server.pid)
        sample = run_wrk(wrk, server.url, method, server.sessions[:conns], conns, seconds, next(runs) * 10**7, cpu,
                         server.token)
        used = cpu_seconds(server.pid) - used
        return dataclasses.replace(sample, cpu_us=used / sample.requests * 1e6 if sample.requests else 0.0)

    memory = {s.name: {"idle": memory_mb(s.pid)[0]} for s in servers}  # sessions open, no load yet
    # Warm-up: first requests pay for lazy imports and cold caches; nobody's figures should.
    for server in servers:
        for method in METHODS:
            load(server, method, 32, 1.0)
    started = time.monotonic()
    for round_no in range(args.rounds):
        # Rotate who goes first, so no server always runs right after the same neighbour.
        order = servers[round_no % len(servers) :] + servers[: round_no % len(servers)]
        for method, conns in plan:
            for server in order:
                samples[(server.name, method, conns)].append(load(server, method, conns, args.seconds))
        print(f"bench: round {round_no + 1}/{args.rounds} done, {time.monotonic() - started:.0f}s", file=sys.stderr)
    for server in servers:
        rss, hwm = memory_mb(server.pid)
        memory[server.name].update(end=rss, peak=hwm)
    return Results(samples, memory, args.connections)


def _profile(server: Server, wrk: str, python: Path, args: argparse.Namespace, cpu: int | None) -> int:
    """Sample vpsmcp with py-spy while wrk drives tools/call at c=32."""
    run_wrk(wrk, server.url, "tools/call", server.sessions[:32], 32, 1.0, 10**7, cpu, server.token)  # warm-up
    output = OUT / "vpsmcp-tools-call.collapsed"
    recorder = spy.record(python.parent / "py-spy", server.pid, output, cpu)
    time.sleep(0.5)  # py-spy attaches before the load starts
    sample = run_wrk(wrk, server.url, "tools/call", server.sessions[:32], 32, args.profile, 2 * 10**7, cpu, server.token)
    spy.finish(recorder)
    print(f"tools/call c=32 under py-spy: {sample.rps:,.0f} req/s, p99 {sample.p99_ms:.2f} ms (sampling slows it)")
    print(spy.summary(output))
    print(f"\ncollapsed stacks: {output} (open in speedscope.app or flamegraph.pl)")
    return 0


def _setting(server_cpu: int | None, load_cpu: int | None, load_before: float, answers: dict[str, str]) -> list[str]:
    """What the figures depend on besides the code: printed above them."""
    pinning = f"servers on cpu {server_cpu}, wrk on cpu {load_cpu}" if load_cpu is not None else "no core pinning"
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"vpsmcp {revision or '?'} (checkout, bench/echo_plugin.py); raw: a bare ASGI app on hypercorn 0.18, floor: "
        "bare Quart 0.22 on it, both canned answers; ts-sdk: @modelcontextprotocol/sdk 1.32 on Node 22, stateful, "
        "express; sdk: mcp 2.3.0 MCPServer, stateful, on uvicorn",
        f"{pinning}; tools/call answered as " + ", ".join(f"{k} {v}" for k, v in answers.items()),
    ]
    if load_before > 0.5:
        # Others' work on the machine lands on all three alike (interleaving), but widens tails.
        lines.append(f"note: load average was {load_before:.2f} before the run: the machine was busy, tails are noisy")
    return lines


def _print(results: Results, args: argparse.Namespace, setting: list[str]) -> None:
    print(f"\nMCP session-bound benchmark: {args.rounds} rounds x {args.seconds:g}s per run, medians over rounds")
    print("\n".join(setting) + "\n")
    print(table(results))
    print("\nTargets (issue):")
    print(targets(results))
    raw = {"/".join(map(str, key)): [asdict(s) for s in runs] for key, runs in results.samples.items()}
    path = OUT / "last-run.json"
    path.write_text(json.dumps({"samples": raw, "memory": results.memory}, indent=1))
    print(f"\nevery run's figures: {path}")


if __name__ == "__main__":
    sys.exit(main())
