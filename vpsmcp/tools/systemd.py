"""Talking to systemd through ``systemctl``, and reading what it prints.

The parsers take plain text so they can be tested with recorded output: the
one part of the tools that cannot run here for real is systemd as PID 1.
Before any call, ``require_systemd`` checks that systemd is the init system
(``/run/systemd/system`` exists, as ``sd_booted()`` checks) and says so
plainly when it is not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.tools.procfs import read_process, user_name
from vpsmcp.tools.subprocesses import Finished, plain_env, require, run
from vpsmcp.tools.toolbox import Toolbox

BOOTED_MARK = "/run/systemd/system"
UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._:\\-]{0,254}\Z")
DENIED = ("access denied", "interactive authentication required", "permission denied", "not authorized")
SHOW_PROPERTIES = (
    "Id", "Description", "LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID",
    "ActiveEnterTimestamp", "ExecMainStartTimestamp", "NRestarts", "Result", "MemoryCurrent",
    "TasksCurrent", "FragmentPath",
)


def unit_name(name: str) -> str:
    """``name`` checked, with ``.service`` added when it has no unit type."""
    if not UNIT_NAME.match(name):
        raise ToolError(f"{name!r} is not a unit name (letters, digits and @._:-\\, not starting with '-')")
    return name if "." in name else f"{name}.service"


def require_systemd() -> str:
    """The path of systemctl on a system whose init is systemd, else a ``ToolError`` saying why not."""
    if not os.path.isdir(BOOTED_MARK):
        init = read_process(1)
        name = f" (PID 1 is {init.name})" if init else ""
        raise ToolError(f"systemd is not running on this machine{name}, so there are no services to manage")
    return require("systemctl", "the services tools manage systemd units with it")


async def systemctl(box: Toolbox, *argv: str) -> Finished:
    """Run ``systemctl ARGV`` (never asking for a password); a refusal becomes "permission denied"."""
    path = require_systemd()
    done = await run([path, "--no-ask-password", "--no-pager", *argv], timeout=box.timeout, limit=4 * 1024 * 1024,
                     env=plain_env())
    if not done.ok:
        raise ToolError(failure_text("systemctl " + " ".join(argv), done.stderr.text("").strip(), done.exit_code))
    return done


def failure_text(what: str, stderr: str, code: int | None) -> str:
    """One line for a failed systemctl or journalctl call."""
    if any(word in stderr.lower() for word in DENIED):
        return (f"permission denied: {what}: {stderr} (vpsmcp runs as {user_name(os.geteuid())}; `vpsmcp install` "
                "grants control of the services named in [tools] services_allow through polkit)")
    return f"{what} failed (exit status {code}): {stderr or 'no message'}"


def parse_units(output: str) -> list[dict[str, Any]]:
    """``systemctl list-units --output=json`` (systemd 246+), or the plain table of older versions."""
    text = output.strip()
    if text.startswith("["):
        return [
            {"unit": u.get("unit", ""), "load": u.get("load", ""), "active": u.get("active", ""),
             "sub": u.get("sub", ""), "description": u.get("description", "")}
            for u in json.loads(text) if isinstance(u, dict)
        ]
    units = []
    for line in text.splitlines():
        parts = line.lstrip("● *").split(None, 4)
        if len(parts) >= 4:
            units.append({"unit": parts[0], "load": parts[1], "active": parts[2], "sub": parts[3],
                          "description": parts[4] if len(parts) > 4 else ""})
    return units


def parse_show(output: str) -> dict[str, str]:
    """``systemctl show`` output: ``Key=value`` lines."""
    values = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def status_of(values: dict[str, str]) -> dict[str, Any]:
    """The fields of ``systemctl show`` an operator looks at, typed."""
    def number(key: str) -> int | None:
        value = values.get(key, "")
        return int(value) if value.isdigit() and int(value) < 2**63 else None  # [not set] is 2^64-1

    return {
        "unit": values.get("Id", ""), "description": values.get("Description", ""),
        "load": values.get("LoadState", ""), "active": values.get("ActiveState", ""),
        "sub": values.get("SubState", ""), "enabled": values.get("UnitFileState", ""),
        "main_pid": number("MainPID") or None, "since": values.get("ActiveEnterTimestamp") or None,
        "restarts": number("NRestarts"), "result": values.get("Result", ""),
        "memory_bytes": number("MemoryCurrent"), "tasks": number("TasksCurrent"),
        "unit_file": values.get("FragmentPath") or None,
    }


def show_argv(unit: str, properties: Sequence[str] = SHOW_PROPERTIES) -> list[str]:
    """The arguments of ``systemctl show`` for ``unit``."""
    return ["show", "--property=" + ",".join(properties), "--", unit]
