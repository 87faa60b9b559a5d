"""Processes: list and filter them (with CPU use measured over a short interval), and signal one.

Signalling needs the control scope. vpsmcp refuses to signal PID 1, itself
and its ancestors (the service manager, a shell it runs under), by any of
their task ids: ``/proc/PID/task/TID`` names a thread, and a signal to a
thread's id reaches its whole process. Its own children (a tool's subprocess,
a stdio upstream) may be signalled: a call then fails, and an upstream is
restarted with backoff, as after any crash. Anything else the operating
system allows it (its own user's processes, or all of them as root) — a
refusal comes back as "permission denied".
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import CONTROL, READ
from vpsmcp.tools import procfs
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer, Effect
from vpsmcp.tools.rendering import fields, joined, result, size, table
from vpsmcp.tools.toolbox import Toolbox
from vpsmcp.tools.truncation import page

SAMPLE_SECONDS = 0.5  # the interval CPU use is measured over
COMMAND_CHARS = 500
SIGNALS = ("TERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2", "STOP", "CONT")
SORTS = {
    "cpu": lambda p: -p["cpu_percent"],
    "memory": lambda p: -p["memory_bytes"],
    "pid": lambda p: p["pid"],
}
PROCESS = s.obj(
    {
        "pid": s.integer(),
        "ppid": s.integer(),
        "user": s.string(),
        "state": s.string(),
        "name": s.string(),
        "cpu_percent": s.number("CPU use over the last half second; 100 is one full core."),
        "memory_bytes": s.integer("Resident memory."),
        "memory_percent": s.number(),
        "started": s.string("ISO 8601, UTC."),
        "command": s.string(),
    },
    required=("pid", "ppid", "user", "state", "name", "cpu_percent", "memory_bytes", "memory_percent", "started",
              "command"),
)


def tools(box: Toolbox) -> list[Tool]:
    """processes_list, processes_signal."""

    async def list_processes(ctx: Context, args: Args) -> ToolResult:
        found = await sampled()
        wanted = (args.text_or_none("match") or "").casefold()
        user = args.text_or_none("user")
        rows = [p for p in found if wanted in (p["name"] + " " + p["command"]).casefold()
                and (user is None or p["user"] == user)]
        rows.sort(key=SORTS[args.text("sort")])
        chunk = page(rows, args.integer("offset"), args.integer("limit"))
        data = {"processes": chunk.items, "total": chunk.total, "next_offset": chunk.next_offset}
        return result(data, joined(render(chunk.items), chunk.note("processes")), box.limit)

    async def send_signal(ctx: Context, args: Args) -> ToolResult:
        data = await asyncio.to_thread(_signal, args.integer("pid"), args.text("signal"))
        return result(data, fields(data), box.limit)

    list_inputs = s.inputs({
        "match": s.string("Text the process name or command line must contain (any case)."),
        "user": s.string("Only this user's processes."),
        "sort": s.string("Order: cpu, memory (largest first) or pid.", default="cpu", enum=tuple(SORTS)),
        **s.paging(50, 1000),
    })
    signal_inputs = s.inputs(
        {"pid": s.integer(minimum=1), "signal": s.string("Signal name.", default="TERM", enum=SIGNALS)},
        required=("pid",),
    )
    signal_output = s.obj({"pid": s.integer(), "signal": s.string(), "name": s.string(), "command": s.string()},
                          required=("pid", "signal", "name", "command"))
    return [
        Declarer(READ, box.timeout)(
            "processes_list", "List processes", "Processes with user, state, CPU and memory use; filter by "
            "name or user, sort by cpu, memory or pid.", list_processes, list_inputs,
            s.listing("processes", PROCESS)),
        Declarer(CONTROL, box.timeout, Effect(read_only=False, destructive=True, idempotent=False))(
            "processes_signal", "Signal a process", "Send a signal (TERM by default) to a process.",
            send_signal, signal_inputs, signal_output),
    ]


async def sampled(interval: float = SAMPLE_SECONDS) -> list[dict[str, Any]]:
    """Every process, with its CPU use measured over ``interval`` seconds."""
    before = {p.pid: p.cpu_ticks for p in await asyncio.to_thread(procfs.processes)}
    await asyncio.sleep(interval)
    now = await asyncio.to_thread(procfs.processes)
    total = (await asyncio.to_thread(procfs.meminfo)).get("MemTotal", 0) or 1
    boot = await asyncio.to_thread(procfs.boot_time)
    return [_describe(p, (p.cpu_ticks - before.get(p.pid, p.cpu_ticks)) / procfs.CLOCK_TICKS / interval * 100,
                      total, boot) for p in now]


def _describe(p: procfs.Process, cpu: float, mem_total: int, boot: float) -> dict[str, Any]:
    started = datetime.datetime.fromtimestamp(boot + p.start_ticks / procfs.CLOCK_TICKS, datetime.UTC)
    return {
        "pid": p.pid, "ppid": p.ppid, "user": p.user, "state": procfs.STATES.get(p.state, p.state),
        "name": p.name, "cpu_percent": round(cpu, 1), "memory_bytes": p.rss_bytes,
        "memory_percent": round(p.rss_bytes / mem_total * 100, 1),
        "started": started.isoformat(timespec="seconds"), "command": p.command[:COMMAND_CHARS],
    }


def _refuse_protected(pid: int) -> None:
    """PID 1, vpsmcp and its ancestors, named by their process id or any of their threads' ids."""
    own = os.getpid()
    process = procfs.thread_group(pid) or pid
    if process == 1 or pid == 1:
        raise ToolError(f"refused: pid {pid} is init" + (" (a thread of pid 1)" if pid != 1 else ""))
    if process == own:
        raise ToolError(f"refused: pid {pid} is vpsmcp itself" + (f" (a thread of pid {own})" if pid != own else ""))
    if process in procfs.ancestors(own):
        raise ToolError(f"refused: pid {pid} is an ancestor of vpsmcp (pid {own}), which stopping would stop vpsmcp")


def render(rows: list[dict[str, Any]]) -> str:
    """Processes as a table."""
    shown = [{**r, "cpu": f"{r['cpu_percent']:.1f}", "mem": size(r["memory_bytes"])} for r in rows]
    return table(shown, ["pid", "user", "state", "cpu", "mem", "command"], "(no processes)")


def _signal(pid: int, name: str) -> dict[str, Any]:
    _refuse_protected(pid)
    target = procfs.read_process(pid)
    if target is None:
        raise ToolError(f"no process with pid {pid}")
    try:
        os.kill(pid, getattr(signal, "SIG" + name))
    except ProcessLookupError:
        raise ToolError(f"no process with pid {pid} (it ended)") from None
    except PermissionError:
        raise ToolError(
            f"permission denied: pid {pid} ({target.name}) belongs to {target.user}; vpsmcp runs as "
            f"{procfs.user_name(os.geteuid())} and may signal only its own user's processes"
        ) from None
    return {"pid": pid, "signal": "SIG" + name, "name": target.name, "command": target.command[:COMMAND_CHARS]}
