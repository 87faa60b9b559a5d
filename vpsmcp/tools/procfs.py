"""Reading the Linux ``/proc`` filesystem: processes, CPU, memory, load, uptime.

Everything here is plain synchronous reads of small virtual files; callers run
it in a worker thread (``asyncio.to_thread``) so the event loop never waits on
it. Processes vanish while they are read: a missing or unreadable entry is
skipped, never an error.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STATES = {
    "R": "running", "S": "sleeping", "D": "disk-sleep", "Z": "zombie", "T": "stopped",
    "t": "tracing-stop", "X": "dead", "I": "idle", "P": "parked", "W": "paging", "K": "wakekill",
}


@dataclass(frozen=True, slots=True)
class Process:
    """One process as /proc/PID shows it."""

    pid: int
    ppid: int
    pgid: int
    state: str
    name: str
    user: str
    cpu_ticks: int
    start_ticks: int
    rss_bytes: int
    command: str

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


@lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The name of ``uid``, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def read_process(pid: int) -> Process | None:
    """The process ``pid``, or ``None`` when it is gone or unreadable."""
    base = PROC / str(pid)
    try:
        raw = (base / "stat").read_text(errors="replace")
        uid = base.stat().st_uid
        cmdline = (base / "cmdline").read_bytes()
    except OSError:
        return None
    name, _, rest = raw.partition(" (")[2].rpartition(")")
    fields = rest.split()
    if len(fields) < 22:
        return None
    command = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or f"[{name}]"
    return Process(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        state=fields[0],
        name=name,
        user=user_name(uid),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
        rss_bytes=int(fields[21]) * PAGE_SIZE,
        command=command,
    )


def thread_group(tid: int) -> int | None:
    """The process (thread group) a task id belongs to: a thread's id names its process too,
    and ``kill`` on it signals the whole process. ``None`` when it is gone."""
    try:
        for line in (PROC / str(tid) / "status").read_text(errors="replace").splitlines():
            if line.startswith("Tgid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def ancestors(pid: int) -> list[int]:
    """``pid``'s parent, its parent, … up to PID 1 (inclusive)."""
    chain: list[int] = []
    current = read_process(pid)
    while current is not None and current.ppid > 0 and current.ppid not in chain:
        chain.append(current.ppid)
        current = read_process(current.ppid)
    return chain


def pids() -> list[int]:
    """The ids of every process now running."""
    return sorted(int(entry) for entry in os.listdir(PROC) if entry.isdigit())


def processes() -> list[Process]:
    """Every readable process."""
    found = (read_process(pid) for pid in pids())
    return [p for p in found if p is not None]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid`` (reads only each /proc/PID/stat)."""
    members = []
    for pid in pids():
        try:
            fields = (PROC / str(pid) / "stat").read_text(errors="replace").rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(pid)
    return members


def cpu_times() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in first[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    values: dict[str, int] = {}
    for line in (PROC / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return values


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = (PROC / "loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def uptime() -> float:
    """Seconds since boot."""
    return float((PROC / "uptime").read_text().split()[0])


def boot_time() -> float:
    """The epoch time of boot, from /proc/stat's btime."""
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0
