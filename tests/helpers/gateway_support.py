"""What the gateway tests share: the real upstreams, and a vpsmcp serving them.

The npm servers (``@modelcontextprotocol/server-everything`` and
``server-filesystem``) are installed by tests/run.sh into
``.cache/upstreams/`` (``VPSMCP_UPSTREAMS_DIR``) and run with the Node.js 22
it installs for the conformance suites; a missing one fails the test.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import mcp.types as types
import pytest
import tomli_w
from mcp import Client
from mcp.client.session import ClientRequestContext

from tests.clients.test_conformance import node_bin
from tests.helpers.support import ROOT, ServerProcess, clean_env, converse, serve_from_checkout

UPSTREAMS = ROOT / "tests" / "upstreams"
SCRIPTED = UPSTREAMS / "scripted_stdio.py"
SDK_HTTP = UPSTREAMS / "sdk_http.py"
TIMEOUT = 30.0
T = TypeVar("T")


def npm_server(package: str) -> list[str]:
    """The argv that runs an npm MCP server installed by tests/run.sh."""
    base = Path(os.environ.get("VPSMCP_UPSTREAMS_DIR") or ROOT / ".cache" / "upstreams")
    script = base / "node_modules" / "@modelcontextprotocol" / package / "dist" / "index.js"
    if not script.is_file():
        pytest.fail(f"@modelcontextprotocol/{package} is not installed at {script}: run tests/run.sh, which installs it")
    return [str(node_bin()), str(script)]


def scripted(name: str) -> dict[str, object]:
    """An ``[upstreams.NAME]`` table for tests/upstreams/scripted_stdio.py."""
    return {"argv": [sys.executable, str(SCRIPTED), name]}


def start_sdk_upstream(tmp: Path, *mode: str) -> ServerProcess:
    """The official-SDK upstream on a free port: Streamable HTTP at /mcp, or (``"sse"``) HTTP+SSE at /sse."""
    return ServerProcess([sys.executable, str(SDK_HTTP), *mode], env=clean_env(tmp), cwd=tmp).start()


def serve_gateway(tmp: Path, upstreams: dict[str, dict[str, object]], **extra: Any) -> ServerProcess:
    """A ``--no-auth`` vpsmcp whose content is ``upstreams`` (and ``extra`` config sections)."""
    config = tmp / "vpsmcp.toml"
    config.write_text(tomli_w.dumps({"upstreams": upstreams, **extra}))
    return serve_from_checkout(tmp, "--config", str(config), "--no-auth").start()


run = converse  # the gateway tests' name for it


class Recorder:
    """Client callbacks that answer and remember."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None]] = []
        self.logs: list[Any] = []
        self.elicitations: list[types.ElicitRequestParams] = []
        self.samplings: list[types.CreateMessageRequestParams] = []

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total))

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.data)

    async def on_elicit(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitations.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada", "check": True, "email": "ada@example.com"})

    async def on_sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.samplings.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="fake-model", stop_reason="endTurn"
        )

    def client(self, server: ServerProcess, mode: str = "legacy", message_handler: Any = None) -> Client:
        return Client(
            server.url + "/mcp",
            mode=mode,
            message_handler=message_handler,
            read_timeout_seconds=TIMEOUT,
            logging_callback=self.on_log,
            log_level="debug",
            elicitation_callback=self.on_elicit,
            sampling_callback=self.on_sample,
        )


def texts(result: types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, types.TextContent)]


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
