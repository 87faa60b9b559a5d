"""systemd services: list units, show one, and start/stop/restart/reload/enable/disable one.

Control needs the control scope and the unit named in ``[tools]
services_allow`` — the same list ``vpsmcp install`` turns into a polkit rule,
so the tool refuses exactly what the system would refuse, and says why.
"""

from __future__ import annotations

from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import CONTROL, READ
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer, Effect
from vpsmcp.tools.rendering import fields, joined, result, table
from vpsmcp.tools.systemd import parse_show, parse_units, show_argv, status_of, systemctl, unit_name
from vpsmcp.tools.toolbox import Toolbox
from vpsmcp.tools.truncation import page

ACTIONS = ("start", "stop", "restart", "reload", "enable", "disable")
STATES = ("all", "active", "running", "failed", "inactive")
UNIT = s.obj({"unit": s.string(), "load": s.string(), "active": s.string(), "sub": s.string(),
              "description": s.string()}, required=("unit", "load", "active", "sub", "description"))
LIST_INPUTS = s.inputs({
    "state": s.string("Which units: all, active, running, failed or inactive.", default="all", enum=STATES),
    "match": s.string("Text the unit name or description must contain (any case)."),
    **s.paging(200, 2000),
})
UNIT_INPUT = s.string("A unit name; .service is added when it has no type (nginx → nginx.service).")
CONTROL_INPUTS = s.inputs({"unit": UNIT_INPUT, "action": s.string(enum=ACTIONS)}, required=("unit", "action"))
STATUS = s.obj(
    {
        "unit": s.string(), "description": s.string(), "load": s.string(), "active": s.string(), "sub": s.string(),
        "enabled": s.string(), "main_pid": s.nullable(s.integer()), "since": s.nullable(s.string()),
        "restarts": s.nullable(s.integer()), "result": s.string(), "memory_bytes": s.nullable(s.integer()),
        "tasks": s.nullable(s.integer()), "unit_file": s.nullable(s.string()),
    },
    required=("unit", "description", "load", "active", "sub", "enabled", "main_pid", "since", "restarts", "result",
              "memory_bytes", "tasks", "unit_file"),
)


def tools(box: Toolbox) -> list[Tool]:
    """services_list, services_status, services_control."""
    allowed = frozenset(unit_name(name) for name in box.config.services_allow)

    async def list_units(ctx: Context, args: Args) -> ToolResult:
        done = await systemctl(box, "list-units", "--type=service", "--all", "--plain", "--no-legend",
                               "--output=json")
        units = [u for u in parse_units(done.stdout.data.decode(errors="replace")) if _wanted(u, args)]
        chunk = page(units, args.integer("offset"), args.integer("limit"))
        data = {"units": chunk.items, "total": chunk.total, "next_offset": chunk.next_offset}
        text = table(chunk.items, ["unit", "load", "active", "sub", "description"], "(no units)")
        return result(data, joined(text, chunk.note("units")), box.limit)

    async def unit_status(ctx: Context, args: Args) -> ToolResult:
        data = await _status(box, unit_name(args.text("unit")))
        return result(data, fields(data), box.limit)

    async def control(ctx: Context, args: Args) -> ToolResult:
        unit, action = unit_name(args.text("unit")), args.text("action")
        if unit not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ToolError(f"refused: {unit} is not in [tools] services_allow (allowed: {names})")
        await systemctl(box, action, "--", unit)
        data = {"action": action, **await _status(box, unit)}
        return result(data, fields(data), box.limit)

    observe = Declarer(READ, box.timeout)
    return [
        observe("services_list", "List services", "systemd service units with their load, active and sub state.",
                list_units, LIST_INPUTS, s.listing("units", UNIT)),
        observe("services_status", "Service status", "One unit's state, main PID, restarts, memory and unit "
                "file.", unit_status, s.inputs({"unit": UNIT_INPUT}, ("unit",)), STATUS),
        Declarer(CONTROL, box.timeout, Effect(read_only=False, destructive=True, idempotent=False))(
            "services_control", "Control a service", "Start, stop, restart, reload, enable or disable a "
            "systemd unit named in [tools] services_allow.", control, CONTROL_INPUTS,
            s.obj({**STATUS["properties"], "action": s.string()}, required=(*STATUS["required"], "action"))),
    ]


def _wanted(unit: dict[str, Any], args: Args) -> bool:
    state, match = args.text("state"), (args.text_or_none("match") or "").casefold()
    if match and match not in (unit["unit"] + " " + unit["description"]).casefold():
        return False
    if state == "running":
        return bool(unit["sub"] == "running")
    return state == "all" or unit["active"] == state


async def _status(box: Toolbox, unit: str) -> dict[str, Any]:
    done = await systemctl(box, *show_argv(unit))
    data = status_of(parse_show(done.stdout.data.decode(errors="replace")))
    if data["load"] == "not-found":
        raise ToolError(f"no unit named {unit}")
    return data
