"""A real vpsmcp serving the built-in tools, an official SDK client to call them, and the audit check.

``ToolServer.call`` remembers every call it makes; ``check_audit`` stops the
server (which flushes the audit log) and holds the log to those calls: one
record per call, each tool named as often as it was called, and an intact
chain (``vpsmcp audit --verify``).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import mcp.types as types
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.helpers.support import ServerProcess, converse, serve_from_checkout
from vpsmcp import cli

TIMEOUT = 30.0
MODES = ("auto", "legacy")  # 2026-07-28 through server/discover; the 2025-11-25 handshake
T = TypeVar("T")
ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass
class ToolServer:
    """A running ``vpsmcp serve --no-auth`` with ``[tools]`` from the test, and the calls made to it."""

    proc: ServerProcess
    state: Path
    calls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.proc.url + "/mcp"

    def run(self, conversation: Callable[[], Awaitable[T]], timeout: float = TIMEOUT) -> T:
        """Run an async client conversation with a deadline; on failure show what the server logged."""
        return converse(self.proc, conversation, timeout)

    def client(self, mode: str = "auto") -> Client:
        return Client(self.url, mode=mode, read_timeout_seconds=TIMEOUT)

    def call(self, name: str, arguments: dict[str, Any] | None = None, mode: str = "auto") -> types.CallToolResult:
        """One tools/call over a fresh SDK client session."""

        async def conversation() -> types.CallToolResult:
            async with self.client(mode) as client:
                self.calls.append(name)
                return await client.call_tool(name, arguments or {})

        return self.run(conversation)

    def refused(self, name: str, arguments: dict[str, Any] | None = None) -> MCPError:
        """A call the server must refuse with a JSON-RPC error (unknown tool, say); the error."""
        try:
            self.call(name, arguments)
        except MCPError as exc:
            return exc
        except BaseExceptionGroup as group:  # the SDK client's task group wraps it
            found = _first(group)
            if found is None:
                raise
            return found
        raise AssertionError(f"{name} was not refused")

    def tools(self, mode: str = "auto") -> dict[str, types.Tool]:
        async def conversation() -> dict[str, types.Tool]:
            async with self.client(mode) as client:
                return {tool.name: tool for tool in (await client.list_tools()).tools}

        return self.run(conversation)

    def check_audit(self) -> list[dict[str, Any]]:
        """Stop the server; the audit log must hold exactly the calls made, in an intact chain. Its records."""
        self.proc.stop(timeout=TIMEOUT)
        lines = (self.state / "audit.jsonl").read_text().splitlines() if (self.state / "audit.jsonl").exists() else []
        records = [json.loads(line) for line in lines]
        assert collections.Counter(r["tool"] for r in records) == collections.Counter(self.calls), (
            f"audited {[r['tool'] for r in records]}, called {self.calls}"
        )
        assert cli.main(["audit", "--verify", "--state-dir", str(self.state)]) == 0
        return records


def _first(group: BaseExceptionGroup[BaseException]) -> MCPError | None:
    """The first ``MCPError`` inside nested exception groups."""
    for exc in group.exceptions:
        if isinstance(exc, MCPError):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := _first(exc)) is not None:
            return found
    return None


def tools_config(roots: Sequence[Path] = (), **settings: Any) -> str:
    """A ``[tools]`` table."""
    values = {"roots": [str(r) for r in roots], **settings}
    return "[tools]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def start_tool_server(tmp: Path, config: str) -> ToolServer:
    """``vpsmcp serve --no-auth`` on port 0 with ``config`` as its file."""
    path = tmp / "vpsmcp.toml"
    path.write_text(config)
    proc = serve_from_checkout(tmp, "--no-auth", "--config", str(path)).start()
    return ToolServer(proc, tmp / "state")


def serving(tmp: Path, config: str) -> Iterator[ToolServer]:
    """A fixture body: the server for a module's tests, its audit log checked when they are done."""
    server = start_tool_server(tmp, config)
    try:
        yield server
    finally:
        if server.proc.proc is not None and server.proc.proc.poll() is None:
            server.check_audit()
    assert "Traceback" not in server.proc.output(), server.proc.output()


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def error_text(result: types.CallToolResult) -> str:
    """The text of a tool error (``isError``); fails when the call succeeded."""
    assert result.is_error, f"expected a tool error, got {result}"
    return text_of(result)


def data(result: types.CallToolResult) -> dict[str, Any]:
    """The structured content of a successful call."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


def call_many(server: ToolServer, name: str, calls: Sequence[dict[str, Any]]) -> list[types.CallToolResult]:
    """Many calls of one tool over a single client session (for races and streams of calls)."""

    async def conversation() -> list[types.CallToolResult]:
        results = []
        async with server.client() as client:
            for arguments in calls:
                server.calls.append(name)
                results.append(await client.call_tool(name, arguments))
        return results

    return server.run(conversation, timeout=TIMEOUT * 4)
