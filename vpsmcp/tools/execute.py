"""The ``exec`` tool: run a command on the machine, off unless the owner turns it on.

A command is a list of arguments run without a shell, so ``;``, ``|``, ``$()``
and quotes in an argument are plain text. A shell command line is refused
unless ``tools.exec_allow_shell`` is on, and always when ``tools.exec_allow``
restricts commands (a line like ``git status; rm -rf ~`` cannot be judged by
a pattern). An allowlist pattern is a command line too, split like one
(``shlex``), and matched argument by argument: each word is a shell pattern
for one argument, and a last word ``*`` stands for any further arguments
(``git *``). An argument that holds a ``/`` is normalised before it is
matched, so ``cat /srv/*`` admits ``cat /srv/app/log`` but not
``cat /srv/../etc/shadow`` (it is ``/etc/shadow``). The working directory must be inside the
roots. While the command runs, its output streams to the client as progress
notifications; on timeout or cancellation its whole process group is
stopped (commands.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import shlex
import time
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import EXEC
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer, Effect
from vpsmcp.tools.rendering import joined, result
from vpsmcp.tools.subprocesses import run
from vpsmcp.tools.toolbox import Toolbox

PROGRESS_EVERY = 0.25  # seconds between progress notifications carrying new output
HEARTBEAT_EVERY = 5.0  # seconds between notifications when there is no new output
PROGRESS_CHARS = 4000  # most output characters one notification carries
OUTPUT = s.obj(
    {
        "command": s.string("The command line that ran."), "cwd": s.string(),
        "exit_code": s.nullable(s.integer("null when a signal ended it.")),
        "signal": s.nullable(s.string()), "timed_out": s.boolean(), "duration_seconds": s.number(),
        "stdout": s.string(), "stderr": s.string(), "stdout_bytes": s.integer(), "stderr_bytes": s.integer(),
        "truncated": s.boolean("Output beyond tools.output_limit was cut."),
    },
    required=("command", "cwd", "exit_code", "signal", "timed_out", "duration_seconds", "stdout", "stderr",
              "stdout_bytes", "stderr_bytes", "truncated"),
)


def tools(box: Toolbox) -> list[Tool]:
    """exec."""
    config = box.config

    async def execute(ctx: Context, args: Args) -> ToolResult:
        argv, line = _command(box, args)
        timeout = args.number_or_none("timeout") or config.exec_timeout
        cwd = await asyncio.to_thread(_cwd, box, args.text_or_none("cwd"))
        stdin = args.text_or_none("stdin")
        reporter = _Reporter(ctx)
        ticking = asyncio.create_task(reporter.tick())
        try:
            done = await run(argv, timeout=timeout, limit=box.limit, cwd=cwd, on_output=reporter.feed,
                             stdin=stdin.encode() if stdin is not None else None)
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
        hint = "redirect the output to a file under the roots and read it with files_read"
        data = {
            "command": line, "cwd": cwd, "exit_code": done.exit_code, "signal": done.signal,
            "timed_out": done.timed_out, "duration_seconds": round(done.duration, 3),
            "stdout": done.stdout.text(hint), "stderr": done.stderr.text(hint),
            "stdout_bytes": done.stdout.total, "stderr_bytes": done.stderr.total,
            "truncated": done.stdout.truncated or done.stderr.truncated,
        }
        return result(data, _render(data, timeout), 2 * box.limit + 1000, hint)

    return [
        Declarer(EXEC, None, Effect(read_only=False, destructive=True, idempotent=False, open_world=True))(
            "exec", "Run a command", "Run a command on the server and return its exit status and output; the "
            "output also streams as progress notifications while it runs.", execute, _inputs(box), OUTPUT),
    ]


def _inputs(box: Toolbox) -> s.Schema:
    return s.inputs({
        "command": {**s.strings("The program and its arguments, e.g. [\"ls\", \"-la\"]; no shell is involved."),
                    "minItems": 1},
        "shell": s.string("A command line for /bin/sh -c (only when tools.exec_allow_shell is on)."),
        "cwd": s.string("Working directory under the allowed roots. Default: the first root."),
        "timeout": s.number(f"Seconds before the command is stopped. Default {box.config.exec_timeout:g}.",
                            minimum=0.1, maximum=box.config.exec_max_timeout),
        "stdin": s.string("Text given to the command on standard input."),
    })


def _command(box: Toolbox, args: Args) -> tuple[list[str], str]:
    """The argv to run and the command line it stands for, once the config allows it."""
    command, shell = args.strings("command"), args.text_or_none("shell")
    if bool(command) == (shell is not None):
        raise ToolError("pass either command (a list of arguments) or shell (a command line), not both or neither")
    if shell is not None:
        if not box.config.exec_allow_shell:
            raise ToolError("shell command lines are off (tools.exec_allow_shell): pass command as a list of arguments")
        if box.config.exec_allow:
            raise ToolError("shell command lines cannot be checked against tools.exec_allow: pass command as a list")
        return ["/bin/sh", "-c", shell], shell
    line = shlex.join(command)
    allow = box.config.exec_allow
    if allow and not any(allowed(command, pattern) for pattern in allow):
        raise ToolError(f"refused: {line!r} matches none of the commands tools.exec_allow permits ({', '.join(allow)})")
    return command, line


def allowed(argv: list[str], pattern: str) -> bool:
    """Whether ``argv`` is a command ``pattern`` permits (see the module docstring)."""
    words = shlex.split(pattern)
    rest = bool(words) and words[-1] == "*"
    if rest:
        words = words[:-1]
    if len(argv) < len(words) or (not rest and len(argv) != len(words)):
        return False
    return all(fnmatch.fnmatchcase(_normalised(arg), word) for arg, word in zip(argv, words, strict=False))  # a trailing * matches more


def _normalised(argument: str) -> str:
    """A path-like argument as the kernel will walk it: ``.``, ``..`` and doubled slashes resolved."""
    if "/" not in argument:
        return argument
    normal = os.path.normpath(argument)
    return normal + "/" if argument.endswith("/") and normal != "/" else normal


def _cwd(box: Toolbox, path: str | None) -> str:
    """The real path of the working directory, checked to be a directory inside the roots."""
    with box.roots.open(path or ".", kind="dir") as (fd, _):
        return os.readlink(f"/proc/self/fd/{fd}")


class _Reporter:
    """Turns a command's output into progress notifications, at most a few per second."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pending: list[str] = []
        self.count = 0
        self.started = time.monotonic()
        self.last_sent = self.started

    async def feed(self, stream: str, chunk: bytes) -> None:
        text = chunk.decode("utf-8", "replace")
        self.pending.append(text if stream == "stdout" else f"[stderr] {text}")

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            now = time.monotonic()
            if self.pending or now - self.last_sent >= HEARTBEAT_EVERY:
                await self.send(now)

    async def send(self, now: float) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        if len(text) > PROGRESS_CHARS:
            text = f"[{len(text) - PROGRESS_CHARS} characters skipped]\n" + text[-PROGRESS_CHARS:]
        self.count += 1
        self.last_sent = now
        await self.ctx.progress(self.count, None, text or f"running for {now - self.started:.0f} s")


def _render(data: dict[str, Any], timeout: float) -> str:
    if data["timed_out"]:
        head = f"timed out after {timeout:g} s; the command's process group was stopped"
    elif data["signal"]:
        head = f"killed by {data['signal']} after {data['duration_seconds']} s"
    else:
        head = f"exit status {data['exit_code']} after {data['duration_seconds']} s"
    return joined(f"$ {data['command']}\n{head}", data["stdout"] and "--- stdout ---\n" + data["stdout"],
                  data["stderr"] and "--- stderr ---\n" + data["stderr"])
