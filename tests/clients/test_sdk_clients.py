"""The official MCP Python SDK clients against a real vpsmcp process.

One vpsmcp (port 0, tools from tests/plugins/sdk_plugin.py) serves every test here.
The clients are the SDK's own: ``mcp.Client`` from mcp 2.x over Streamable
HTTP in both protocol eras (auto mode reaches 2026-07-28 through the
``server/discover`` probe; ``mode="legacy"`` does the 2025-11-25 handshake),
its legacy HTTP+SSE client at /sse, and — since mcp 2 dropped WebSocket —
mcp 1.x's WebSocket client at /ws, run from its own virtualenv by
tests/helpers/ws_client_mcp1.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import mcp.types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.sse import sse_client

from tests.helpers.support import ROOT, ServerProcess, converse, serve_from_checkout
from tests.plugins.sdk_plugin import STEP_PAUSE

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "sdk_plugin.py"
WS_SCRIPT = ROOT / "tests" / "helpers" / "ws_client_mcp1.py"
MCP1_VENV = ROOT / ".cache" / "mcp1-venv"
MCP1_PYTHON = MCP1_VENV / "bin" / "python"
MCP1_SETUP = f"python3 -m venv {MCP1_VENV} && {MCP1_PYTHON} -m pip install 'mcp[ws]==1.30.0'"

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
# (Client mode, the protocol version it must end up speaking)
ERAS = [pytest.param("auto", MODERN, id=MODERN), pytest.param("legacy", HANDSHAKE, id=HANDSHAKE)]

TIMEOUT = 30.0  # the most one test's client conversation may take
STOP_LIMIT = 30.0  # the most a server may take to stop before it is killed
SDK_TOOLS = {"add", "count_slowly", "greet_person", "ask_model"}

T = TypeVar("T")


def start_server(tmp: Path) -> ServerProcess:
    """A vpsmcp on port 0 serving tests/plugins/sdk_plugin.py's tools."""
    config = tmp / "vpsmcp.toml"
    config.write_text(f"[plugins]\nmodules = [{json.dumps(str(PLUGIN))}]\n")
    return serve_from_checkout(tmp, "--no-auth", "--config", str(config)).start()


@pytest.fixture(scope="module")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for all the HTTP tests; it must not have logged a traceback when it stops."""
    proc = start_server(tmp_path_factory.mktemp("sdk"))
    try:
        yield proc
    finally:
        proc.stop(timeout=STOP_LIMIT)
    assert "Traceback" not in proc.output(), "vpsmcp logged a traceback:\n" + proc.output()


run = converse


@dataclass
class Recorder:
    """The client-side callbacks; each remembers what it was handed."""

    progress: list[tuple[float, float | None, str | None, float]] = field(default_factory=list)
    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    elicitations: list[types.ElicitRequestParams] = field(default_factory=list)
    samplings: list[types.CreateMessageRequestParams] = field(default_factory=list)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message, time.monotonic()))

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def on_elicit(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitations.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.samplings.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="Paris"),
            model="fake-model-1",
            stop_reason="endTurn",
        )


def client_for(server: ServerProcess, mode: str, recorder: Recorder) -> Client:
    """An SDK client for /mcp with every callback wired to ``recorder``."""
    return Client(
        server.url + "/mcp",
        mode=mode,
        read_timeout_seconds=TIMEOUT,
        logging_callback=recorder.on_log,
        log_level="debug",  # the 2026-07-28 opt-in to log notifications; no effect on handshake connections
        elicitation_callback=recorder.on_elicit,
        sampling_callback=recorder.on_sample,
    )


def texts(result: types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, types.TextContent)]


@dataclass
class Conversation:
    protocol_version: str | None = None
    server_name: str | None = None
    tools: dict[str, types.Tool] = field(default_factory=dict)
    result: types.CallToolResult | None = None
    returned_at: float = 0.0


async def list_and_add(client: Client) -> Conversation:
    async with client:
        seen = Conversation(client.protocol_version, client.server_info.name if client.server_info else None)
        listed = await client.list_tools()
        seen.tools = {tool.name: tool for tool in listed.tools}
        seen.result = await client.call_tool("add", {"a": 2, "b": 40})
    return seen


def check_listed_and_added(seen: Conversation) -> None:
    assert SDK_TOOLS <= seen.tools.keys(), f"tools listed: {sorted(seen.tools)}"
    add = seen.tools["add"]
    assert add.description == "Add two integers."
    assert add.input_schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert seen.result is not None and not seen.result.is_error, seen.result
    assert texts(seen.result) == ["42"]


# --- 1. both eras over Streamable HTTP -------------------------------------------------------------


def test_sdk_client_auto_mode_discovers_2026_07_28_then_lists_and_calls_tools(sdk_server: ServerProcess) -> None:
    seen = run(sdk_server, lambda: list_and_add(Client(sdk_server.url + "/mcp", read_timeout_seconds=TIMEOUT)))
    assert seen.protocol_version == MODERN, "auto mode fell back to the handshake instead of using server/discover"
    assert seen.server_name == "vpsmcp"
    check_listed_and_added(seen)


def test_sdk_client_legacy_mode_handshakes_2025_11_25_then_lists_and_calls_tools(sdk_server: ServerProcess) -> None:
    client = Client(sdk_server.url + "/mcp", mode="legacy", read_timeout_seconds=TIMEOUT)
    seen = run(sdk_server, lambda: list_and_add(client))
    assert seen.protocol_version == HANDSHAKE
    assert seen.server_name == "vpsmcp"
    check_listed_and_added(seen)


# --- 2. progress, logging, elicitation, sampling in both eras ---------------------------------------


async def call_one(client: Client, name: str, arguments: dict[str, Any], recorder: Recorder) -> Conversation:
    async with client:
        seen = Conversation(client.protocol_version)
        seen.result = await client.call_tool(name, arguments, progress_callback=recorder.on_progress)
        seen.returned_at = time.monotonic()
    return seen


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_progress_notifications_arrive_while_the_tool_runs(
    sdk_server: ServerProcess, mode: str, version: str
) -> None:
    recorder = Recorder()
    seen = run(sdk_server, lambda: call_one(client_for(sdk_server, mode, recorder), "count_slowly", {"steps": 3}, recorder))
    assert seen.protocol_version == version
    assert seen.result is not None and texts(seen.result) == ["counted to 3"]
    assert [(p, total, message) for p, total, message, _ in recorder.progress] == [
        (1, 3, "step 1 of 3"),
        (2, 3, "step 2 of 3"),
        (3, 3, "step 3 of 3"),
    ]
    # The tool pauses twice after step 1, so step 1's notification must come at least one pause before the
    # result (the other pause is slack for delivery): it was not held back until the call had finished.
    first_at = recorder.progress[0][3]
    assert seen.returned_at - first_at >= STEP_PAUSE, "progress was delivered only when the tool had finished"


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_log_notifications_reach_the_logging_callback(sdk_server: ServerProcess, mode: str, version: str) -> None:
    recorder = Recorder()
    seen = run(sdk_server, lambda: call_one(client_for(sdk_server, mode, recorder), "count_slowly", {"steps": 2}, recorder))
    assert seen.protocol_version == version
    assert seen.result is not None and texts(seen.result) == ["counted to 2"]
    assert [(log.level, log.logger, log.data) for log in recorder.logs] == [
        ("info", "count_slowly", {"step": 1, "of": 2}),
        ("debug", "count_slowly", "debug detail for step 1"),
        ("info", "count_slowly", {"step": 2, "of": 2}),
        ("debug", "count_slowly", "debug detail for step 2"),
    ]


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_elicitation_is_answered_and_the_answer_reaches_the_tool_result(
    sdk_server: ServerProcess, mode: str, version: str
) -> None:
    recorder = Recorder()
    seen = run(sdk_server, lambda: call_one(client_for(sdk_server, mode, recorder), "greet_person", {}, recorder))
    assert seen.protocol_version == version
    assert seen.result is not None and not seen.result.is_error, seen.result
    assert texts(seen.result) == ["hello Ada"]
    assert len(recorder.elicitations) == 1
    asked = recorder.elicitations[0]
    assert isinstance(asked, types.ElicitRequestFormParams), asked
    assert asked.message == "What is your name?"
    assert asked.requested_schema["required"] == ["name"]


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_sampling_request_is_answered_and_the_answer_reaches_the_tool_result(
    sdk_server: ServerProcess, mode: str, version: str
) -> None:
    recorder = Recorder()
    arguments = {"question": "Capital of France?"}
    seen = run(sdk_server, lambda: call_one(client_for(sdk_server, mode, recorder), "ask_model", arguments, recorder))
    assert seen.protocol_version == version
    assert seen.result is not None and not seen.result.is_error, seen.result
    assert texts(seen.result) == ["model fake-model-1 answered: Paris"]
    assert len(recorder.samplings) == 1
    asked = recorder.samplings[0]
    assert asked.max_tokens == 64
    assert asked.system_prompt == "Answer in one word."
    [message] = asked.messages
    assert message.role == "user"
    assert isinstance(message.content, types.TextContent) and message.content.text == "Capital of France?"


# --- 3. legacy HTTP+SSE ------------------------------------------------------------------------------


def test_sdk_sse_client_connects_to_sse_then_lists_and_calls_tools(sdk_server: ServerProcess) -> None:
    client = Client(sse_client(sdk_server.url + "/sse", timeout=TIMEOUT), mode="legacy", read_timeout_seconds=TIMEOUT)
    seen = run(sdk_server, lambda: list_and_add(client))
    assert seen.protocol_version == HANDSHAKE
    assert seen.server_name == "vpsmcp"
    check_listed_and_added(seen)


# --- 4. WebSocket, with mcp 1.x's client ---------------------------------------------------------------


def run_mcp1_websocket_client(server: ServerProcess) -> dict[str, Any]:
    """Run tests/helpers/ws_client_mcp1.py under the mcp 1.x virtualenv against ``server``'s /ws; its JSON report."""
    if not MCP1_PYTHON.exists():
        pytest.fail(
            f"the mcp 1.x virtualenv for the WebSocket client is missing ({MCP1_VENV}); "
            f"tests/run.sh creates it, or by hand: {MCP1_SETUP}"
        )
    url = "ws://" + server.url.removeprefix("http://") + "/ws"
    done = subprocess.run(
        [str(MCP1_PYTHON), str(WS_SCRIPT), url], capture_output=True, text=True, timeout=TIMEOUT + 10
    )
    assert done.returncode == 0, f"ws_client_mcp1.py failed:\n{done.stderr}\n--- vpsmcp output ---\n{server.output()}"
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["mcp_version"].startswith("1."), f"{MCP1_VENV} has mcp {report['mcp_version']}; recreate it: {MCP1_SETUP}"
    return report


def test_mcp1_websocket_client_initializes_lists_and_calls_tools(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        out = run_mcp1_websocket_client(server)
    finally:
        server.stop(timeout=STOP_LIMIT)
    assert out["protocol_version"] == HANDSHAKE
    assert out["server_info"]["name"] == "vpsmcp"
    assert SDK_TOOLS <= set(out["tools"]), out["tools"]
    assert out["call"]["isError"] is False
    assert out["call"]["content"] == [{"type": "text", "text": "42"}]


def test_server_stops_promptly_and_cleanly_after_a_websocket_session_closed(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        run_mcp1_websocket_client(server)
    finally:
        started = time.monotonic()
        status = server.stop(timeout=STOP_LIMIT)
        took = time.monotonic() - started
    assert status == 0, server.output()
    # The client has closed its connection: nothing is in flight, so there is nothing to wait for.
    assert took < 3, f"SIGTERM took {took:.1f} s to stop vpsmcp after a closed WebSocket session:\n{server.output()}"
    assert "Traceback" not in server.output(), server.output()
