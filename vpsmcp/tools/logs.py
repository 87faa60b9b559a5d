"""Logs: the systemd journal through ``journalctl``, and the tail of a log file under the roots.

Reading the whole journal needs the ``systemd-journal`` (or ``adm``) group;
without it journalctl shows only vpsmcp's own messages, and the result says
so. A log file is read backwards from its end, in blocks, never more than
``tools.max_read_bytes``.
"""

from __future__ import annotations

import asyncio
import datetime
import glob
import json
import os
import stat
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import READ
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer
from vpsmcp.tools.rendering import joined, result
from vpsmcp.tools.subprocesses import plain_env, require, run
from vpsmcp.tools.systemd import failure_text, unit_name
from vpsmcp.tools.toolbox import Toolbox

PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
BLOCK = 64 * 1024
PARTIAL_VIEW = "not seeing messages from other users and the system"
ENTRY = s.obj({"time": s.string(), "unit": s.nullable(s.string()), "identifier": s.nullable(s.string()),
               "priority": s.nullable(s.string()), "pid": s.nullable(s.integer()), "message": s.string()},
              required=("time", "unit", "identifier", "priority", "pid", "message"))
JOURNAL_OUTPUT = s.obj({"entries": s.array(ENTRY), "count": s.integer(), "note": s.nullable(s.string())},
                       required=("entries", "count", "note"))
TAIL_OUTPUT = s.obj(
    {"path": s.string(), "size": s.integer(), "lines": s.strings(), "count": s.integer(),
     "complete": s.boolean("False when the byte limit stopped the read before enough lines were found.")},
    required=("path", "size", "lines", "count", "complete"),
)


def tools(box: Toolbox) -> list[Tool]:
    """logs_journal, logs_tail."""

    async def journal(ctx: Context, args: Args) -> ToolResult:
        data = await read_journal(box, args)
        lines = [f"{e['time']} {e['identifier'] or e['unit'] or '-'}[{e['pid'] or '-'}]: {e['message']}"
                 for e in data["entries"]]
        return result(data, joined("\n".join(lines) or "(no entries)", data["note"] or ""), box.limit)

    async def tail(ctx: Context, args: Args) -> ToolResult:
        data = await asyncio.to_thread(
            _tail, box, args.text("path"), args.integer("lines"), args.text_or_none("match")
        )
        note = "" if data["complete"] else f"[stopped after {box.config.max_read_bytes} bytes (tools.max_read_bytes)]"
        return result(data, joined("\n".join(data["lines"]), note), box.limit, "ask for fewer lines")

    journal_inputs = s.inputs({
        "unit": s.string("Only this unit's messages (nginx → nginx.service)."),
        "since": s.string("Start time as journalctl takes it: '2024-05-01 10:00', '-1h', 'today'."),
        "until": s.string("End time, in the same forms."),
        "priority": s.string("This priority and more severe.", enum=PRIORITIES),
        "lines": s.integer("Most recent entries to return.", default=100, minimum=1, maximum=10000),
    })
    tail_inputs = s.inputs({
        "path": s.string("A log file under the allowed roots."),
        "lines": s.integer("Lines from the end.", default=100, minimum=1, maximum=100000),
        "match": s.string("Only lines containing this text."),
    }, required=("path",))
    observe = Declarer(READ, box.timeout)
    return [
        observe("logs_journal", "Read the journal", "systemd journal entries, newest last: for one unit or the "
                "whole system, by time range and priority.", journal, journal_inputs, JOURNAL_OUTPUT),
        observe("logs_tail", "Tail a log file", "The last lines of a log file under the allowed roots, "
                "optionally only those containing some text.", tail, tail_inputs, TAIL_OUTPUT),
    ]


async def read_journal(box: Toolbox, args: Args) -> dict[str, Any]:
    """Run journalctl for the call's filters and parse its JSON lines."""
    path = require("journalctl", "logs_journal reads the systemd journal with it")
    if not journal_present():
        raise ToolError(f"there is no systemd journal on this machine (no journal files in {' or '.join(JOURNAL_DIRS)})")
    argv = [path, "--no-pager", "--output=json", f"--lines={args.integer('lines')}"]
    for key in ("since", "until"):
        if (value := args.text_or_none(key)) is not None:
            argv.append(f"--{key}={value}")  # one argument: a value cannot become an option
    if (unit := args.text_or_none("unit")) is not None:
        argv.append(f"--unit={unit_name(unit)}")
    if (priority := args.text_or_none("priority")) is not None:
        argv.append(f"--priority={priority}")
    done = await run(argv, timeout=box.timeout, limit=16 * 1024 * 1024, env=plain_env())
    stderr = done.stderr.text("").strip()
    if not done.ok:
        raise ToolError(failure_text("journalctl", stderr, done.exit_code))
    entries = parse_journal(done.stdout.data.decode(errors="replace"))
    note = None
    if PARTIAL_VIEW in stderr:
        note = ("permission denied: only vpsmcp's own messages are visible; the service user needs the "
                "systemd-journal group (`vpsmcp install` adds it while logs_journal is enabled)")
    return {"entries": entries, "count": len(entries), "note": note}


def journal_present() -> bool:
    """Whether journal files exist (``True`` too when we may not look: journalctl will tell)."""
    for directory in JOURNAL_DIRS:
        try:
            if glob.glob(os.path.join(glob.escape(directory), "*", "*.journal*")):
                return True
            if any(not os.access(os.path.join(directory, d), os.R_OK | os.X_OK) for d in os.listdir(directory)):
                return True
        except OSError:
            continue
    return False


def parse_journal(output: str) -> list[dict[str, Any]]:
    """``journalctl --output=json`` lines as entries; a line that is not JSON is skipped."""
    entries = []
    for line in output.splitlines():
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if isinstance(raw, dict):
            entries.append(_entry(raw))
    return entries


def _entry(raw: dict[str, Any]) -> dict[str, Any]:
    micros = int(raw.get("__REALTIME_TIMESTAMP", "0") or 0)
    when = datetime.datetime.fromtimestamp(micros / 1e6, datetime.UTC)
    message = raw.get("MESSAGE", "")
    if isinstance(message, list):  # not UTF-8: journalctl gives the bytes as numbers
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    priority = str(raw.get("PRIORITY", ""))
    pid = str(raw.get("_PID", ""))
    return {
        "time": when.isoformat(timespec="milliseconds"),
        "unit": raw.get("_SYSTEMD_UNIT") or raw.get("UNIT"),
        "identifier": raw.get("SYSLOG_IDENTIFIER"),
        "priority": PRIORITIES[int(priority)] if priority.isdigit() and int(priority) < 8 else None,
        "pid": int(pid) if pid.isdigit() else None,
        "message": str(message),
    }


def _tail(box: Toolbox, path: str, count: int, match: str | None) -> dict[str, Any]:
    limit = box.config.max_read_bytes
    with box.roots.open(path, os.O_RDONLY | os.O_NONBLOCK) as (fd, shown):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"{shown} is not a regular file")
        pos, buffer = info.st_size, b""
        while pos > 0 and info.st_size - pos < limit and (match or buffer.count(b"\n") <= count):
            step = min(BLOCK, pos, limit - (info.st_size - pos))
            pos -= step
            buffer = os.pread(fd, step, pos) + buffer
    lines = buffer.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if pos > 0 and lines:
        lines.pop(0)  # cut in the middle
    if match:
        lines = [line for line in lines if match in line]
    chosen = lines[-count:]
    return {"path": shown, "size": info.st_size, "lines": chosen, "count": len(chosen),
            "complete": pos == 0 or len(chosen) >= count}
