#!/usr/bin/env python3
"""What each part of vpsmcp costs per request: the app driven in-process, parts switched off in turn.

``python3 bench/parts.py`` runs each variant below in its own process (the
bench venv's Python, pinned to one core), drives its ASGI app directly — no
sockets, no hypercorn, so only the app's own work is timed — with one session
sending N requests in a row, and reports CPU time per request (the audit
writer thread included) for tools/call and tools/list, interleaved over rounds,
next to the floor app's. A part's cost is its row's distance from "vpsmcp".
The switches replace a part with nothing; none is a product mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from setup_env import BENCH, ROOT, SetupError, venv_python

VARIANTS = {
    "floor": "bench/floor.py's app (the anchor)",
    "vpsmcp": "as deployed: OAuth bearer check, audit log, trace",
    "no audit": "the audit log's observer does nothing",
    "no trace": "a silent observer instead of the tracer, and no trace middleware",
    "no auth": 'auth.mode = "none"',
    "bare": "no audit, no trace, no auth",
}
CALL = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}'
LIST = b'{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20000, help="requests per measurement (20000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are printed (3)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child, args.requests))
        return 0
    try:
        python = venv_python()
    except SetupError as exc:
        print(f"parts: error: {exc}", file=sys.stderr)
        return 2
    cpu = min(os.sched_getaffinity(0))
    results: dict[str, dict[str, list[float]]] = {v: {"call": [], "list": []} for v in VARIANTS}
    for round_no in range(args.rounds):
        for variant in VARIANTS:
            out = subprocess.run(
                [str(python), __file__, "--child", variant, "--requests", str(args.requests)],
                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}:{BENCH}"},
                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), check=False,
            )
            if out.returncode != 0:
                print(f"parts: {variant} failed:\n{out.stderr}", file=sys.stderr)
                return 1
            for method, us in json.loads(out.stdout.splitlines()[-1]).items():
                results[variant][method].append(us)
        print(f"parts: round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    _print(results, args)
    return 0


def _print(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    print(f"\nCPU per request, app driven in-process ({args.requests} requests x {args.rounds} rounds, medians)")
    print(f"{'variant':10} {'tools/call us':>14} {'over floor':>11} {'tools/list us':>14} {'over floor':>11}  what")
    floor = {m: statistics.median(v) for m, v in results["floor"].items()}
    for variant, what in VARIANTS.items():
        call, lst = (statistics.median(results[variant][m]) for m in ("call", "list"))
        print(f"{variant:10} {call:14.1f} {call - floor['call']:+11.1f} {lst:14.1f} {lst - floor['list']:+11.1f}  {what}")


# --- the child: one variant, in the bench venv ---------------------------------------


async def _child(variant: str, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vpsmcp-parts-") as tmp:
        app, token = _floor_app() if variant == "floor" else _vpsmcp_app(variant, Path(tmp))
        await app.startup()
        try:
            figures = {name: await _measure(app, token, body, requests) for name, body in (("call", CALL), ("list", LIST))}
        finally:
            await app.shutdown()
    print(json.dumps(figures))


def _floor_app() -> tuple[Any, str]:
    import floor

    return floor.create_app(), ""


def _vpsmcp_app(variant: str, tmp: Path) -> tuple[Any, str]:
    from servers import write_echo_config

    from vpsmcp import observability
    from vpsmcp.audit.log import AuditLog
    from vpsmcp.config.sections import load_config, with_overrides
    from vpsmcp.oauth.records import Family, digest, new_secret
    from vpsmcp.oauth.store import open_store
    from vpsmcp.server import app as app_module
    from vpsmcp.server.runtime import Runtime
    from vpsmcp.state import StateDir

    if variant in ("no audit", "bare"):
        _silence(AuditLog, "answered" if hasattr(AuditLog, "answered") else "record")
    if variant in ("no trace", "bare"):
        if hasattr(observability, "tracer"):  # the tracer is handed to what it observes: hand a silent one
            observability.tracer = lambda runtime: _Unheard()  # type: ignore[assignment]
            observability.observe = lambda *args, **kwargs: None  # type: ignore[assignment]
        else:  # before the observers were handed in, observe() swapped them in
            app_module.observe = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    config_path = write_echo_config(tmp / "vpsmcp.toml")
    config = load_config(config_path)
    if variant in ("no auth", "bare"):
        config = with_overrides(config, {"auth.mode": "none"}, "parts.py")
    state = StateDir.open(tmp / "state")
    public_url = "http://127.0.0.1:9"
    token = new_secret("bench_")
    store = open_store(config.store, state.path)  # a token as the authorization server would have issued it
    now = time.time()
    store.save_family(Family("bench", "bench", ("mcp:read",), public_url + "/mcp", now, now + 86400,
                             access={digest(token): now + 86400}))
    store.close()
    runtime = Runtime(config, state, state.secret_key(""), public_url, str(config_path))
    return app_module.create_app(runtime), token


def _silence(cls: type, name: str) -> None:
    setattr(cls, name, lambda self, *args: None)


class _Unheard:
    """Every observer hook the app calls, doing nothing (the "no trace" variant)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


async def _measure(app: Any, token: str, body: bytes, requests: int) -> float:
    headers = {"host": "127.0.0.1:9", "content-type": "application/json", "accept": "application/json, text/event-stream",
               "authorization": f"Bearer {token}"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "parts", "version": "0"}}}
    status, answer = await _request(app, headers, json.dumps(init).encode())
    session = dict(answer).get(b"mcp-session-id", b"").decode()
    headers = {**headers, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    await _request(app, headers, b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    status, _ = await _request(app, headers, body)
    if status != 200:
        raise RuntimeError(f"answered HTTP {status}")
    for _ in range(requests // 10):  # warm-up
        await _request(app, headers, body)
    started = time.process_time()
    for _ in range(requests):
        await _request(app, headers, body)
    return (time.process_time() - started) / requests * 1e6


async def _request(app: Any, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One POST /mcp through the ASGI app; then one turn of the loop, as a server's loop would take."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/mcp", "raw_path": b"/mcp", "query_string": b"", "root_path": "",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 9), "extensions": {}}
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    gone = asyncio.Event()
    start: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)

    await app(scope, receive, send)
    await asyncio.sleep(0)
    return int(start.get("status", 0)), list(start.get("headers", []))


if __name__ == "__main__":
    sys.exit(main())
