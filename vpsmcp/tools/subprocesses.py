"""Running a program without blocking the event loop, and stopping all of it.

Every command starts in a session (and so a process group) of its own, with
the environment ``process_groups.child_env`` allows. When it finishes, times
out or its call is cancelled, the whole group is stopped — SIGTERM, a grace
period, then SIGKILL — so nothing it started in the background outlives the
call (a program that calls ``setsid`` itself leaves the group and is out of reach). Output is captured up to a byte limit and
counted beyond it; ``on_output`` sees every chunk as it arrives.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from vpsmcp.errors import ToolError
from vpsmcp.process_groups import STOP_GRACE, child_env, signal_group
from vpsmcp.tools.procfs import group_members
from vpsmcp.tools.truncation import Capture, Collector

OutputSink = Callable[[str, bytes], Awaitable[None]]
LINGER = 0.5  # seconds to wait for output after the program exits (a background child may hold the pipe)
CHUNK = 65536
POLL = 0.05
_CLEANUPS: set[asyncio.Future[None]] = set()  # shielded clean-ups must stay referenced until they finish


@dataclass(frozen=True, slots=True)
class Finished:
    """How a command ended and what it printed."""

    argv: tuple[str, ...]
    exit_code: int | None
    signal: str | None
    stdout: Capture
    stderr: Capture
    timed_out: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def require(program: str, purpose: str) -> str:
    """The path of ``program``, or a ``ToolError`` saying what is missing and why it matters."""
    path = shutil.which(program)
    if path is None:
        raise ToolError(f"{program} is not installed on this machine (not found on PATH); {purpose}")
    return path


def plain_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A child's environment with stable English messages and no pager or colours (for parsing)."""
    return child_env(os.environ, {"LC_ALL": "C.UTF-8", "SYSTEMD_PAGER": "", "PAGER": "cat", "SYSTEMD_COLORS": "0",
                                  "NO_COLOR": "1", **(extra or {})})


async def run(
    argv: Sequence[str],
    *,
    timeout: float,
    limit: int,
    cwd: str | None = None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    on_output: OutputSink | None = None,
) -> Finished:
    """Run ``argv`` (no shell) for at most ``timeout`` seconds, keeping ``limit`` bytes of each stream."""
    started = time.monotonic()
    proc = await _start(argv, cwd, stdin is not None, env)
    out, err = Collector(limit), Collector(limit)
    pumps = [
        asyncio.create_task(_pump(proc.stdout, out, "stdout", on_output)),
        asyncio.create_task(_pump(proc.stderr, err, "stderr", on_output)),
    ]
    if stdin is not None:
        pumps.append(asyncio.create_task(_feed(proc, stdin)))
    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            await _finish(proc, pumps)
    except TimeoutError:
        timed_out = True
    finally:
        await _stopped(proc)
        await _drain(pumps)
    code = proc.returncode
    return Finished(
        argv=tuple(argv),
        exit_code=code if code is not None and code >= 0 else None,
        signal=signal.Signals(-code).name if code is not None and code < 0 else None,
        stdout=out.capture(),
        stderr=err.capture(),
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )


async def _start(
    argv: Sequence[str], cwd: str | None, with_stdin: bool, env: Mapping[str, str] | None
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else child_env(os.environ),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolError(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise ToolError(f"permission denied: cannot run {argv[0]}") from None
    except NotADirectoryError:
        raise ToolError(f"not a directory: {cwd}") from None


async def _finish(proc: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> None:
    """Until the program has exited and its output is read.

    Usually the program exits, its pipes close and ``wait()`` returns. A
    background child holding the pipes keeps ``wait()`` (which waits for the
    pipes too) from returning: then the exit is seen on ``returncode``, and the
    output gets ``LINGER`` seconds more.
    """
    waiting = asyncio.ensure_future(proc.wait())
    try:
        while not waiting.done():
            await asyncio.wait([waiting], timeout=POLL)
            if proc.returncode is not None and not waiting.done():
                await asyncio.wait(pumps, timeout=LINGER)
                return
    finally:
        waiting.cancel()


async def _stopped(proc: asyncio.subprocess.Process) -> None:
    """Stop what is left of the command's group, even if this call is cancelled (again) meanwhile.

    A cancelled call can be cancelled a second time while it cleans up (the
    client's cancel, then its session closing); the SIGTERM goes out before
    the first ``await``, and the rest runs shielded, to the SIGKILL.
    """
    signal_group(proc.pid, signal.SIGTERM)
    cleanup = asyncio.ensure_future(stop_group(proc))
    _CLEANUPS.add(cleanup)
    cleanup.add_done_callback(_CLEANUPS.discard)
    await asyncio.shield(cleanup)


async def _drain(pumps: list[asyncio.Task[None]]) -> None:
    """Let the readers take what is left; give up on a pipe that something outside the group holds."""
    _, pending = await asyncio.wait(pumps, timeout=LINGER)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)


async def _pump(
    stream: asyncio.StreamReader | None, sink: Collector, name: str, on_output: OutputSink | None
) -> None:
    if stream is None:
        return
    while chunk := await stream.read(CHUNK):
        sink.add(chunk)
        if on_output is not None:
            await on_output(name, chunk)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program did not read all of its input: its choice


async def stop_group(proc: asyncio.subprocess.Process, grace: float = STOP_GRACE) -> None:
    """Stop every live process in ``proc``'s group (SIGTERM, then SIGKILL after ``grace``) and reap ``proc``."""
    pgid = proc.pid
    if await asyncio.to_thread(group_members, pgid):
        signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while await asyncio.to_thread(group_members, pgid):
            if time.monotonic() >= deadline:
                signal_group(pgid, signal.SIGKILL)
                break
            await asyncio.sleep(POLL)
    while proc.returncode is None:  # the leader is reaped by asyncio's child watcher
        await asyncio.sleep(POLL)
