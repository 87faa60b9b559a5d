"""A stdio upstream: a child process speaking newline-delimited JSON-RPC (basic/transports, "stdio").

The server MUST NOT write anything to stdout that is not a valid MCP message,
so a line that does not parse means the stream can no longer be trusted: it
is logged and the link is lost (the supervisor starts a fresh process).
stderr is the server's log and goes to ours, line by line. The child runs in
its own process group, so ``npx``-style launchers and their children are all
stopped together: stdin closed first (the spec's polite way), then SIGTERM,
then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence

from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.link import Wire
from vpsmcp.process_groups import STOP_GRACE, signal_group
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import Message

log = logging.getLogger("vpsmcp.upstream")

LINE_LIMIT = 64 * 1024 * 1024  # the largest message read from stdout
WRITE_BUFFER_LIMIT = 16 * 1024 * 1024  # unread stdin beyond this: the server has stopped reading
SHOWN = 200  # characters of a bad line that reach the log


class StdioLink:
    """One child process and its three pipes."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: str, wire: Wire) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd or None
        self.wire = wire
        self.proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: list[bytes] = []
        self._lost = False

    def describe(self) -> str:
        return f"pid {self.proc.pid}" if self.proc else "not started"

    async def open(self) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                limit=LINE_LIMIT,
                start_new_session=True,
            )
        except OSError as exc:
            raise UpstreamError(self.name, f"cannot be started ({self.argv[0]}: {exc.strerror or exc})") from None
        self._tasks = [asyncio.create_task(self._read_stdout()), asyncio.create_task(self._read_stderr())]

    async def send(self, message: Message) -> None:
        """Queue the line; lines queued in one turn of the event loop go out in one write (one syscall)."""
        stdin = self.proc.stdin if self.proc else None
        if stdin is None or stdin.is_closing():
            raise UpstreamError(self.name, "is not running")
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(jsonrpc.encode(message) + b"\n")

    def _flush(self) -> None:
        lines, self._outgoing = self._outgoing, []
        stdin = self.proc.stdin if self.proc else None
        if stdin is None or stdin.is_closing():
            return
        stdin.write(b"".join(lines))
        if stdin.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            self._lose("stopped reading its stdin")

    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._lose(f"wrote a line longer than {LINE_LIMIT} bytes to stdout")
                return
            if not line:
                break
            if not line.strip():
                continue
            try:
                message = jsonrpc.parse(line)
            except JsonRpcError as exc:
                shown = line[:SHOWN].decode("utf-8", "replace").rstrip()
                self._lose(f"wrote something that is not JSON-RPC to stdout ({exc.message}): {shown!r}")
                return
            for each in message if isinstance(message, list) else [message]:
                self.wire.deliver(each, None)
        status = await self.proc.wait()
        self._lose(f"exited with status {status}")

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        fields = {"upstream": self.name, "pid": self.proc.pid}
        while True:
            try:
                line = await self.proc.stderr.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.info("%s: %s", self.name, text[:2000], extra={"fields": fields})

    def _lose(self, reason: str) -> None:
        if self._lost:
            return
        self._lost = True
        self._signal(signal.SIGKILL)  # a broken one, or what an exited leader left behind
        self.wire.lost(reason)

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the whole process group (the group outlives its leader while children remain)."""
        if self.proc is not None:
            signal_group(self.proc.pid, sig)

    async def close(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL the process group, each after a grace period."""
        proc, self._lost = self.proc, True
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    await asyncio.wait_for(proc.wait(), STOP_GRACE)
                    break
                except TimeoutError:
                    self._signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
        self._signal(signal.SIGKILL)  # whatever the group's leader left behind
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
