"""``vpsmcp upstreams`` (how the gateway's upstreams are doing) and ``vpsmcp stdio`` (serve over stdio).

``upstreams`` reads the status the running server keeps in its state
directory; with ``--check`` it starts every upstream itself, reports, and
stops them. ``stdio`` serves the configured plugins and upstreams to one
local client over stdin/stdout, the way Claude Desktop starts a server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpsmcp.cli_common import add_instance_flag, add_state_flags, configured, open_state, own_dirs
from vpsmcp.config.sections import Config
from vpsmcp.gateway import status
from vpsmcp.logs import setup_logging

if TYPE_CHECKING:
    from vpsmcp.gateway.gateway import Gateway
    from vpsmcp.protocol.dispatch import Dispatcher


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "upstreams",
        help="show the gateway's upstream MCP servers",
        description="List the upstreams with their state, tools, restarts and last error.",
    )
    add_state_flags(p)
    add_instance_flag(p)
    p.add_argument("--check", action="store_true", help="start every upstream now, report, and stop them")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(command=_upstreams)

    p = sub.add_parser(
        "stdio",
        help="serve plugins and upstreams over stdio",
        description="Serve MCP on stdin/stdout (newline-delimited JSON-RPC) for one local client; logs go to stderr.",
    )
    p.add_argument("--config", type=Path, metavar="PATH", help="config file (default: as for serve)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning")
    p.set_defaults(command=_stdio)


def _upstreams(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import asyncio  # here: asyncio costs 15 ms at start, and most commands never run a loop

    from vpsmcp.fleet.nodes import Fleet  # the fleet's nodes are upstreams of the running server too

    config, state = open_state(args, env)
    names = [*config.upstreams, *Fleet(state.path).read()]
    if not names:
        print("no upstreams configured (add [upstreams.NAME] tables to the config)")
        return 0
    if args.check:
        if not config.upstreams:
            print("no upstreams configured; the fleet's nodes are checked by vpsmcp doctor --fleet")
            return 0
        setup_logging("text", "warning")
        _print_status(asyncio.run(_check(config, env)), "", list(config.upstreams), args.json)
        return 0
    instances = own_dirs(state, args.instance, status.FILE_NAME)
    for name, own in instances:
        if len(instances) > 1:  # several instances, each with its own upstreams
            print(f"instance {name or '(unnamed)'}:")
        snapshot = status.read(own / status.FILE_NAME)
        note = _staleness(snapshot, own)
        _print_status(None if note else snapshot, note, names, args.json)
    return 0


def _print_status(snapshot: status.Snapshot | None, note: str, names: list[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(snapshot) if snapshot else {"upstreams": [], "note": note}, indent=1))
    else:
        print(status.render(snapshot, names) + (f"\n\n{note}" if note else ""))


def _staleness(snapshot: status.Snapshot | None, state_dir: Path) -> str:
    if snapshot is None:
        return f"no status in {state_dir}: vpsmcp serve is not running with this state directory (try --check)"
    if snapshot.stale():
        return f"the server that wrote {state_dir / status.FILE_NAME} (pid {snapshot.pid}) is gone (try --check)"
    return ""


async def _check(config: Config, env: Mapping[str, str]) -> status.Snapshot:
    import asyncio

    from vpsmcp.gateway.gateway import Gateway

    gateway = Gateway(config.upstreams, env)
    try:
        for provider in gateway.providers:
            provider.upstream.begin()
        waits = [p.upstream.pending() for p in gateway.providers]
        limit = max(c.start_timeout for c in config.upstreams.values())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(w for w in waits if w is not None)), limit)
        return gateway.snapshot()
    finally:
        await gateway.stop()


def _stdio(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import asyncio  # here: asyncio costs 15 ms at start, and most commands never run a loop

    from vpsmcp.gateway.gateway import Gateway  # the gateway and the core, only for the commands that run them
    from vpsmcp.plugin import load_plugins
    from vpsmcp.protocol.dispatch import Dispatcher
    from vpsmcp.protocol.registry import Registry
    from vpsmcp.protocol.request_state import RequestStateCodec

    config, path = configured(args.config, env)
    setup_logging(config.log.format, args.log_level, sys.stderr)
    source = str(path) if path else "built-in defaults"
    providers = [p.provider for p in load_plugins(config.plugins.modules, config.plugins.paths, source)]
    gateway = Gateway(config.upstreams, env)
    registry = Registry([*providers, *gateway.providers])
    # The stateless era needs no state here (stdio is a handshake transport): a key per process will do.
    dispatcher = Dispatcher(registry, RequestStateCodec(secrets.token_urlsafe(32)),
                            instructions=config.mcp.instructions or None, page_size=config.mcp.page_size)
    asyncio.run(_serve_stdio(dispatcher, gateway))
    return 0


async def _serve_stdio(dispatcher: Dispatcher, gateway: Gateway) -> None:
    from vpsmcp.transport.stdio import serve_stdio

    await gateway.start()
    try:
        await serve_stdio(dispatcher)
    finally:
        await gateway.stop()
