"""One load measurement: wrk against one server, and the server's memory from /proc."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from setup_env import BENCH

LUA = BENCH / "mcp_load.lua"
MARKER = "BENCH-RESULT "


@dataclass(frozen=True)
class Sample:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx answers
    cpu_us: float = 0.0  # the server's CPU time (user + system, all its threads) per request answered

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far, every thread of it (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_wrk(
    wrk: str, url: str, method: str, sessions: list[str], connections: int, seconds: float, id_base: int, cpu: int | None,
    token: str = "",
) -> Sample:
    """Drive ``url`` with ``connections`` keep-alive connections for ``seconds``."""
    argv = [
        wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency",
        "-s", str(LUA), url, "--", method, ",".join(sessions), str(id_base), token or "-",
    ]  # fmt: skip
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        # One wrk thread: it is an event loop, and it has one core to itself (the server has the other).
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    return sample_of(result)


def sample_of(result: subprocess.CompletedProcess[str]) -> Sample:
    """The ``BENCH-RESULT`` line a wrk script's ``done`` printed, as a ``Sample``."""
    line = next((text for text in result.stdout.splitlines() if text.startswith(MARKER)), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(line[len(MARKER) :])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Sample(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3, errors)


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB: resident now, and the peak since it started."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB → MB (MiB)
    return fields["VmRSS"], fields["VmHWM"]
