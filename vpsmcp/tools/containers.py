"""Containers through the Docker or Podman command line: list, inspect, logs, start/stop/restart.

The CLI prints JSON (``--format '{{json .}}'``, ``inspect``), parsed here with
both tools' spellings. When the CLI is missing, or its engine is not running,
or vpsmcp may not reach the engine's socket, the error says which. An
environment variable's value can hold a secret, so inspect shows only names.
"""

from __future__ import annotations

import json
import re
import shutil
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
from vpsmcp.tools.subprocesses import Finished, plain_env, run
from vpsmcp.tools.toolbox import Toolbox
from vpsmcp.tools.truncation import page

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")
ACTIONS = ("start", "stop", "restart")
NOT_RUNNING = ("cannot connect to the docker daemon", "is the docker daemon running", "cannot connect to podman",
               "connection refused")
CONTAINER = s.obj({"id": s.string(), "name": s.string(), "image": s.string(), "state": s.string(),
                   "status": s.string(), "ports": s.string(), "created": s.string()},
                  required=("id", "name", "image", "state", "status", "ports", "created"))
DETAILS = s.obj(
    {"id": s.string(), "name": s.string(), "image": s.string(), "state": s.string(), "running": s.boolean(),
     "started": s.nullable(s.string()), "exit_code": s.nullable(s.integer()), "health": s.nullable(s.string()),
     "restart_policy": s.nullable(s.string()), "command": s.strings(), "env_names": s.strings(),
     "ports": s.array(s.obj({"container": s.string(), "host": s.string()})), "mounts": s.strings(),
     "networks": s.strings(), "labels": s.obj({})},
    required=("id", "name", "image", "state", "running", "command", "env_names", "ports", "mounts", "networks"),
)
NAME_INPUT = s.string("Container name or id.")
LIST_INPUTS = s.inputs({"all": s.boolean("Stopped ones too.", default=True), **s.paging(100, 1000)})
LOGS_INPUTS = s.inputs(
    {"name": NAME_INPUT, "lines": s.integer(default=100, minimum=1, maximum=10000),
     "since": s.string("Only newer lines: a timestamp or a duration such as 10m.")},
    required=("name",),
)
CONTROL_INPUTS = s.inputs({"name": NAME_INPUT, "action": s.string(enum=ACTIONS)}, ("name", "action"))
LOGS = s.obj({"name": s.string(), "stdout": s.string(), "stderr": s.string()}, required=("name", "stdout", "stderr"))


def tools(box: Toolbox) -> list[Tool]:
    """containers_list, containers_inspect, containers_logs, containers_control."""

    async def list_containers(ctx: Context, args: Args) -> ToolResult:
        argv = ["ps", "--no-trunc", "--format", "{{json .}}"] + (["--all"] if args.flag("all") else [])
        done = await container_cli(box, *argv)
        found = parse_ps(done.stdout.data.decode(errors="replace"))
        chunk = page(found, args.integer("offset"), args.integer("limit"))
        data = {"containers": chunk.items, "total": chunk.total, "next_offset": chunk.next_offset}
        text = table([{**c, "id": c["id"][:12]} for c in chunk.items], ["id", "name", "image", "status", "ports"])
        return result(data, joined(text, chunk.note("containers")), box.limit)

    async def inspect(ctx: Context, args: Args) -> ToolResult:
        done = await container_cli(box, "inspect", "--type", "container", "--", _name(args.text("name")))
        data = parse_inspect(done.stdout.data.decode(errors="replace"))
        return result(data, fields(data), box.limit)

    async def logs(ctx: Context, args: Args) -> ToolResult:
        argv = ["logs", "--timestamps", f"--tail={args.integer('lines')}"]
        if (since := args.text_or_none("since")) is not None:
            argv.append(f"--since={since}")
        name = _name(args.text("name"))
        done = await container_cli(box, *argv, "--", name)
        hint = "ask for fewer lines"
        data = {"name": name, "stdout": done.stdout.text(hint), "stderr": done.stderr.text(hint)}
        return result(data, joined(data["stdout"], data["stderr"] and "--- stderr ---\n" + data["stderr"]), box.limit,
                      hint)

    async def control(ctx: Context, args: Args) -> ToolResult:
        name, action = _name(args.text("name")), args.text("action")
        await container_cli(box, action, "--", name)
        done = await container_cli(box, "inspect", "--type", "container", "--", name)
        data = {"action": action, **parse_inspect(done.stdout.data.decode(errors="replace"))}
        return result(data, fields(data), box.limit)

    observe = Declarer(READ, box.timeout)
    return [
        observe("containers_list", "List containers", "Containers with image, state and ports.", list_containers,
                LIST_INPUTS, s.listing("containers", CONTAINER)),
        observe("containers_inspect", "Inspect a container", "A container's state, health, command, ports, "
                "mounts, networks and environment variable names.", inspect, s.inputs({"name": NAME_INPUT}, ("name",)),
                DETAILS),
        observe("containers_logs", "Container logs", "The last lines a container wrote, with timestamps.", logs,
                LOGS_INPUTS, LOGS),
        Declarer(CONTROL, box.timeout, Effect(read_only=False, destructive=True, idempotent=False))(
            "containers_control", "Control a container", "Start, stop or restart a container.", control,
            CONTROL_INPUTS, s.obj({**DETAILS["properties"], "action": s.string()},
                                  required=(*DETAILS["required"], "action"))),
    ]


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ToolError(f"{value!r} is not a container name or id")
    return value


def cli_path(choice: str) -> str:
    """The container CLI to use, or a ``ToolError`` naming what is missing."""
    for program in ("docker", "podman") if choice == "auto" else (choice,):
        if path := shutil.which(program):
            return path
    wanted = "docker or podman" if choice == "auto" else choice
    raise ToolError(f"no container engine CLI on this machine: {wanted} is not installed (tools.container_cli)")


async def container_cli(box: Toolbox, *argv: str) -> Finished:
    """Run the container CLI; a failure becomes one line saying what went wrong."""
    path = cli_path(box.config.container_cli)
    done = await run([path, *argv], timeout=box.timeout, limit=8 * 1024 * 1024, env=plain_env())
    if not done.ok:
        raise ToolError(failure_text(path.rsplit("/", 1)[-1], argv, done.stderr.text("").strip(), done.exit_code))
    return done


def failure_text(program: str, argv: tuple[str, ...], stderr: str, code: int | None) -> str:
    """One line for a failed container CLI call."""
    lowered = stderr.lower()
    if "permission denied" in lowered:
        return (f"permission denied: {program} cannot reach its engine: {stderr} (the service user needs access to "
                "the engine's socket — for Docker the docker group, which is as good as root)")
    if any(mark in lowered for mark in NOT_RUNNING):
        return f"the {program} engine is not running or not reachable: {stderr}"
    if "no such container" in lowered or "no such object" in lowered:
        return f"no container named {argv[-1]!r}"
    return f"{program} {argv[0]} failed (exit status {code}): {stderr or 'no message'}"


def parse_ps(output: str) -> list[dict[str, Any]]:
    """``ps --format '{{json .}}'``: one object per line (Docker) or one array (Podman)."""
    text = output.strip()
    raws: list[Any] = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return [_row(raw) for raw in raws if isinstance(raw, dict)]


def _row(raw: dict[str, Any]) -> dict[str, Any]:
    names = raw.get("Names", "")
    ports = raw.get("Ports", "")
    if isinstance(ports, list):  # Podman: [{host_ip, host_port, container_port, protocol}]
        ports = ", ".join(f"{p.get('host_port')}->{p.get('container_port')}/{p.get('protocol', 'tcp')}"
                          for p in ports if isinstance(p, dict))
    return {
        "id": str(raw.get("ID") or raw.get("Id") or ""),
        "name": ", ".join(names) if isinstance(names, list) else str(names),
        "image": str(raw.get("Image", "")), "state": str(raw.get("State", "")),
        "status": str(raw.get("Status", "")), "ports": str(ports or ""),
        "created": str(raw.get("CreatedAt") or raw.get("Created") or ""),
    }


def parse_inspect(output: str) -> dict[str, Any]:
    """The first object of ``inspect`` output, reduced to what an operator reads (env values left out)."""
    found = json.loads(output or "[]")
    if not isinstance(found, list) or not found or not isinstance(found[0], dict):
        raise ToolError("the container CLI printed no container")
    raw: dict[str, Any] = found[0]
    state, config, host = raw.get("State") or {}, raw.get("Config") or {}, raw.get("HostConfig") or {}
    bindings = (raw.get("NetworkSettings") or {}).get("Ports") or {}
    health = state.get("Health") or {}
    return {
        "id": str(raw.get("Id", "")), "name": str(raw.get("Name", "")).lstrip("/"),
        "image": str(config.get("Image", raw.get("Image", ""))), "state": str(state.get("Status", "")),
        "running": bool(state.get("Running")), "started": state.get("StartedAt"),
        "exit_code": state.get("ExitCode"), "health": health.get("Status"),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name"),
        "command": [str(p) for p in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])],
        "env_names": [str(e).split("=", 1)[0] for e in config.get("Env") or []],
        "ports": [{"container": str(port), "host": f"{b.get('HostIp', '')}:{b.get('HostPort', '')}"}
                  for port, binds in bindings.items() for b in binds or [] if isinstance(b, dict)],
        "mounts": [f"{m.get('Source', '')} -> {m.get('Destination', '')}" for m in raw.get("Mounts") or []],
        "networks": sorted(((raw.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
        "labels": dict(config.get("Labels") or {}),
    }
