"""The network: interfaces and addresses, routes (``ip -j``), sockets (/proc), and a bounded
connectivity check — a DNS lookup and a TCP connect, each with a time limit."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import READ
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer, Effect
from vpsmcp.tools.rendering import fields, joined, result, table
from vpsmcp.tools.sockets import Socket, sockets
from vpsmcp.tools.subprocesses import plain_env, require, run
from vpsmcp.tools.toolbox import Toolbox
from vpsmcp.tools.truncation import page

CHECK_ADDRESSES = 4  # addresses tried by one connectivity check
SOCKET = s.obj(
    {
        "protocol": s.string(enum=("tcp", "udp")), "family": s.string(enum=("ipv4", "ipv6")),
        "address": s.string(), "port": s.integer(), "remote_address": s.string(), "remote_port": s.integer(),
        "state": s.string(), "pid": s.nullable(s.integer()),
        "process": s.nullable(s.string("Unknown when the socket belongs to another user (needs root).")),
    },
    required=("protocol", "family", "address", "port", "remote_address", "remote_port", "state", "pid", "process"),
)
INTERFACE = s.obj(
    {
        "name": s.string(), "state": s.string(), "mtu": s.nullable(s.integer()), "mac": s.nullable(s.string()),
        "flags": s.strings(),
        "addresses": s.array(s.obj({"family": s.string(), "address": s.string(), "prefix": s.integer(),
                                    "scope": s.nullable(s.string())})),
    },
    required=("name", "state", "mtu", "mac", "flags", "addresses"),
)
ROUTE = s.obj({"family": s.string(), "destination": s.string(), "gateway": s.nullable(s.string()),
               "device": s.nullable(s.string()), "source": s.nullable(s.string()), "metric": s.nullable(s.integer())},
              required=("family", "destination", "gateway", "device", "source", "metric"))
SOCKETS_INPUTS = s.inputs({"all": s.boolean("Every socket, not only listening ones.", default=False),
                           **s.paging(200, 5000)})
CHECK_INPUTS = s.inputs({
    "host": s.string("Host name or address."),
    "port": s.integer("TCP port to connect to; without it only DNS is checked.", minimum=1, maximum=65535),
    "timeout": s.number("Seconds for each step.", default=5.0, minimum=0.1, maximum=30.0),
}, required=("host",))
CHECK = s.obj(
    {
        "host": s.string(), "port": s.nullable(s.integer()),
        "dns": s.obj({"ok": s.boolean(), "addresses": s.strings(), "ms": s.number(), "error": s.nullable(s.string())}),
        "tcp": s.array(s.obj({"address": s.string(), "ok": s.boolean(), "ms": s.number(),
                              "error": s.nullable(s.string())})),
    },
    required=("host", "port", "dns", "tcp"),
)


def tools(box: Toolbox) -> list[Tool]:
    """network_interfaces, network_routes, network_sockets, network_check."""
    observe = Declarer(READ, box.timeout)

    async def interfaces(ctx: Context, args: Args) -> ToolResult:
        found = [_interface(raw) for raw in await _ip(box, "addr")]
        rows = [{**i, "addresses": [f"{a['address']}/{a['prefix']}" for a in i["addresses"]]} for i in found]
        return result({"interfaces": found}, table(rows, ["name", "state", "mtu", "mac", "addresses"]), box.limit)

    async def routes(ctx: Context, args: Args) -> ToolResult:
        found = [_route(r, "ipv4") for r in await _ip(box, "route")]
        found += [_route(r, "ipv6") for r in await _ip(box, "-6", "route")]
        return result({"routes": found}, table(found, ["family", "destination", "gateway", "device", "source"]),
                      box.limit)

    async def open_sockets(ctx: Context, args: Args) -> ToolResult:
        found = socket_rows(await asyncio.to_thread(sockets, not args.flag("all")))
        chunk = page(found, args.integer("offset"), args.integer("limit"))
        data = {"sockets": chunk.items, "total": chunk.total, "next_offset": chunk.next_offset}
        columns = ["protocol", "address", "port", "remote_address", "remote_port", "state", "pid", "process"]
        return result(data, joined(table(chunk.items, columns), chunk.note("sockets")), box.limit)

    async def check(ctx: Context, args: Args) -> ToolResult:
        data = await connectivity(args.text("host"), args.integer_or_none("port"), args.number("timeout"))
        return result(data, _render_check(data), box.limit)

    return [
        observe("network_interfaces", "Network interfaces", "Interfaces with state, MTU, MAC and addresses.",
                interfaces, s.inputs({}), s.obj({"interfaces": s.array(INTERFACE)}, required=("interfaces",))),
        observe("network_routes", "Routes", "The IPv4 and IPv6 routing tables.", routes, s.inputs({}),
                s.obj({"routes": s.array(ROUTE)}, required=("routes",))),
        observe("network_sockets", "Sockets", "Listening TCP and UDP sockets (or all, with all: true) and the "
                "process holding each.", open_sockets, SOCKETS_INPUTS, s.listing("sockets", SOCKET)),
        observe("network_check", "Connectivity check", "Resolve a host name and, given a port, open a TCP "
                "connection to it, each step with a time limit.", check, CHECK_INPUTS, CHECK,
                effect=Effect(read_only=True, open_world=True)),
    ]


def socket_rows(found: Sequence[Socket]) -> list[dict[str, Any]]:
    """Sockets as output rows."""
    return [{k: getattr(sock, k) for k in SOCKET["properties"]} for sock in found]


async def _ip(box: Toolbox, *argv: str) -> list[dict[str, Any]]:
    ip = require("ip", "the network tools read interfaces and routes with it (apt-get install iproute2)")
    done = await run([ip, "-j", *argv], timeout=box.timeout, limit=4 * 1024 * 1024, env=plain_env())
    if not done.ok:
        raise ToolError(f"ip {' '.join(argv)} failed: {done.stderr.text('').strip() or done.exit_code}")
    parsed = json.loads(done.stdout.data or b"[]")
    return [entry for entry in parsed if isinstance(entry, dict)]


def _interface(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("ifname", ""), "state": str(raw.get("operstate", "UNKNOWN")).lower(),
        "mtu": raw.get("mtu"), "mac": raw.get("address"), "flags": list(raw.get("flags", [])),
        "addresses": [
            {"family": {"inet": "ipv4", "inet6": "ipv6"}.get(a.get("family"), str(a.get("family"))),
             "address": a.get("local", ""), "prefix": a.get("prefixlen", 0), "scope": a.get("scope")}
            for a in raw.get("addr_info", []) if "local" in a
        ],
    }


def _route(raw: dict[str, Any], family: str) -> dict[str, Any]:
    return {"family": family, "destination": raw.get("dst", ""), "gateway": raw.get("gateway"),
            "device": raw.get("dev"), "source": raw.get("prefsrc"), "metric": raw.get("metric")}


async def connectivity(host: str, port: int | None, timeout: float) -> dict[str, Any]:
    """DNS, then TCP to at most ``CHECK_ADDRESSES`` of the addresses found, stopping at the first that answers."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    dns: dict[str, Any] = {"ok": False, "addresses": [], "ms": 0.0, "error": None}
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        dns.update(ok=True, addresses=list(dict.fromkeys(str(info[4][0]) for info in infos)))
    except TimeoutError:
        dns["error"] = f"no answer within {timeout:g} s"
    except (socket.gaierror, UnicodeError) as exc:
        dns["error"] = str(exc)
    dns["ms"] = round((time.monotonic() - started) * 1000, 1)
    attempts: list[dict[str, Any]] = []
    if port is not None:
        for address in dns["addresses"][:CHECK_ADDRESSES]:
            attempts.append(await _connect(address, port, timeout))
            if attempts[-1]["ok"]:
                break
    return {"host": host, "port": port, "dns": dns, "tcp": attempts}


async def _connect(address: str, port: int, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    error = None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        writer.close()
        await writer.wait_closed()
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except OSError as exc:
        error = os.strerror(exc.errno) if exc.errno else str(exc)
    return {"address": address, "ok": error is None, "ms": round((time.monotonic() - started) * 1000, 1),
            "error": error}


def _render_check(data: dict[str, Any]) -> str:
    dns = data["dns"]
    lines = {"dns": f"{', '.join(dns['addresses'])} ({dns['ms']} ms)" if dns["ok"] else f"failed: {dns['error']}"}
    for attempt in data["tcp"]:
        outcome = "connected" if attempt["ok"] else f"failed: {attempt['error']}"
        lines[f"tcp {attempt['address']}:{data['port']}"] = f"{outcome} ({attempt['ms']} ms)"
    return fields(lines)
