"""MCP over stdio, as a server (basic/transports, "stdio"): ``vpsmcp stdio``.

One newline-delimited JSON-RPC message per line on stdin and stdout; the
process is the session (handshake era), started by a local client such as
Claude Desktop or by another vpsmcp as a gateway upstream. Nothing but MCP
messages ever reaches stdout: logs go to stderr. Everything the server says
goes through the session's stream and one writer, so lines never interleave.
The session ends when stdin does; calls still running are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import BinaryIO

from vpsmcp.protocol.caller import ANONYMOUS
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import Notification
from vpsmcp.protocol.session import Phase
from vpsmcp.transport import inbound
from vpsmcp.transport.sessions import HttpSession

LINE_LIMIT = 64 * 1024 * 1024


async def serve_stdio(dispatcher: Dispatcher, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Serve ``dispatcher`` on stdin/stdout until stdin ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin or sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, stdout or sys.stdout.buffer
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    session = HttpSession("stdio", ANONYMOUS.binding)
    dispatcher.registry.watch(lambda kinds: announce(session, kinds))
    writing = asyncio.create_task(_write(session, writer))
    try:
        while line := await reader.readline():
            if line.strip():
                inbound.receive_one(dispatcher, session, line, ANONYMOUS)
    finally:
        session.close()  # cancels running calls, ends the stream: the writer drains what is left
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await asyncio.wait_for(writing, 5.0)
        transport.close()


def announce(session: HttpSession, kinds: frozenset[str]) -> None:
    """Tell the client a list changed (the registry's watcher)."""
    if session.protocol.phase is Phase.OPEN:
        for kind in sorted(kinds):
            session.standalone.put(Notification(f"notifications/{kind}/list_changed"))


async def _write(session: HttpSession, writer: asyncio.StreamWriter) -> None:
    async for event in session.standalone.read(0, None):
        if event is not None:
            writer.write(event.data + b"\n")
            await writer.drain()
