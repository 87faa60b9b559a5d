"""How the upstreams are doing, as ``vpsmcp upstreams`` shows it.

The serving process writes a snapshot to ``upstreams.json`` in the state
directory (atomically, 0600) whenever it changes; the command reads it in
another process. The snapshot names the pid that wrote it, so a file left
by a server that has stopped is recognised as stale.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vpsmcp.atomic import write_atomic

FILE_NAME = "upstreams.json"


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """One upstream at one moment."""

    name: str
    transport: str
    target: str  # the command or the URL
    state: str
    since: float  # wall-clock time of the last state change
    tools: int  # tools offered (after allow/deny)
    restarts: int
    last_error: str
    link: str  # "pid 123", a URL and session, or "not started"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every upstream, as written by the server with ``pid``."""

    pid: int
    written: float
    upstreams: tuple[UpstreamStatus, ...]
    clashes: tuple[str, ...] = ()

    def stale(self) -> bool:
        """Whether the process that wrote it is gone."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def write(path: Path, snapshot: Snapshot) -> None:
    write_atomic(path, json.dumps(asdict(snapshot), indent=1).encode())


def read(path: Path) -> Snapshot | None:
    """The snapshot at ``path``; ``None`` when there is none or it cannot be read."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        upstreams = tuple(UpstreamStatus(**entry) for entry in data["upstreams"])
        return Snapshot(int(data["pid"]), float(data["written"]), upstreams, tuple(data.get("clashes", ())))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def render(snapshot: Snapshot | None, configured: list[str], now: float | None = None) -> str:
    """The table ``vpsmcp upstreams`` prints."""
    now = time.time() if now is None else now
    rows = [("NAME", "STATE", "FOR", "TOOLS", "RESTARTS", "LINK", "LAST ERROR")]
    known = {u.name: u for u in snapshot.upstreams} if snapshot else {}
    for name in configured:
        u = known.get(name)
        if u is None:
            rows.append((name, "not running", "-", "-", "-", "-", ""))
        else:
            rows.append((name, u.state, _age(now - u.since), str(u.tools), str(u.restarts), u.link, u.last_error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    # every cell but the last (the error, of any length) padded to its column
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows]
    if snapshot and snapshot.clashes:
        lines += ["", *(f"clash: {clash}" for clash in snapshot.clashes)]
    return "\n".join(line.rstrip() for line in lines)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
