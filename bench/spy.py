"""``run.py --profile``: where vpsmcp's CPU goes under load, sampled by py-spy.

py-spy samples the server from outside (no instrumentation, so the profile
shows the server as the benchmark measures it) and writes collapsed stacks,
which speedscope or flamegraph.pl open as they are. The summary printed here
is self time (the innermost frame) and inclusive time (anywhere in the stack).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

AREAS = ("vpsmcp", "quart", "werkzeug", "hypercorn", "h11", "asyncio", "json", "logging")


def record(py_spy: Path, pid: int, output: Path, cpu: int | None) -> subprocess.Popen[bytes]:
    """Start sampling ``pid``; stop it with ``finish``."""
    argv = [str(py_spy), "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--function",
            "--format", "raw", "--output", str(output)]  # fmt: skip
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )


def finish(proc: subprocess.Popen[bytes]) -> None:
    """py-spy writes its output when interrupted, as on Ctrl-C."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    if proc.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"py-spy failed (exit {proc.returncode}): {err.decode(errors='replace')}")


def summary(collapsed: Path, top: int = 25) -> str:
    """Self and inclusive time by function, and self time by library."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_time[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "py-spy recorded no samples"
    out = [f"{total} samples"]
    out.append("\nself time by library:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in areas.most_common()]
    out.append(f"\ntop {top} by self time:")
    out += [f"  {100 * n / total:5.1f}%  {_short(f)}" for f, n in self_time.most_common(top)]
    # A lower bound: py-spy often starts a coroutine's stack at the frame the event loop
    # resumed, so callers above it are missing. cli.py and __main__ are the loop's root.
    out.append(f"\ntop {top} vpsmcp functions by inclusive time (a lower bound):")
    ours = [(f, n) for f, n in inclusive.most_common() if _area(f) == "vpsmcp" and not _is_root(f)][:top]
    out += [f"  {100 * n / total:5.1f}%  {_short(f)}" for f, n in ours]
    return "\n".join(out)


def _area(frame: str) -> str:
    """Which library a frame ``func (path:line)`` belongs to."""
    path = frame.rpartition("(")[2]
    if "site-packages" not in path and "/vpsmcp/" in path:
        return "vpsmcp"
    for area in AREAS:
        if f"/{area}/" in path or path.startswith(f"{area}/") or f"/{area}.py" in path:
            return area
    return "other (stdlib, C, ...)"


def _is_root(frame: str) -> bool:
    return "vpsmcp/cli.py" in frame or "vpsmcp/__main__.py" in frame


def _short(frame: str) -> str:
    """``func (…/package/module.py:line)`` with the path cut to its last two parts."""
    name, _, where = frame.partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})"
