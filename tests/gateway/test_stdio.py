"""``vpsmcp stdio``: the official SDK's stdio client against a vpsmcp started as its child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext

from tests.helpers.support import ROOT, clean_env

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "sdk_plugin.py"


def test_sdk_stdio_client_lists_calls_and_answers_an_elicitation(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f"[plugins]\nmodules = [{json.dumps(str(PLUGIN))}]\n")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vpsmcp", "stdio", "--config", str(config)], env=clean_env(tmp_path)
    )
    asked: list[str] = []

    async def on_elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def conversation() -> tuple[str | None, set[str], list[str], list[str]]:
        with anyio.fail_after(30):
            async with Client(params, mode="legacy", elicitation_callback=on_elicit) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                added = await client.call_tool("add", {"a": 2, "b": 40})
                greeted = await client.call_tool("greet_person", {})
                return (client.protocol_version, names,
                        [b.text for b in added.content if isinstance(b, types.TextContent)],
                        [b.text for b in greeted.content if isinstance(b, types.TextContent)])

    version, names, added, greeted = anyio.run(conversation)
    assert version == "2025-11-25"
    assert {"add", "greet_person"} <= names
    assert added == ["42"] and greeted == ["hello Ada"] and asked == ["What is your name?"]


def test_stdio_writes_nothing_but_json_rpc_to_stdout(tmp_path: Path) -> None:
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    batch = [{"jsonrpc": "2.0", "id": 3, "method": "ping"}]
    stdin = "".join(json.dumps(line) + "\n" for line in lines) + "not json\n" + json.dumps(batch) + "\n"
    done = subprocess.run([sys.executable, "-m", "vpsmcp", "stdio", "--log-level", "debug"], input=stdin,
                          capture_output=True, text=True, timeout=30, env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    answers = {reply["id"]: reply for reply in replies if reply.get("id") is not None}
    errors = sorted(reply["error"]["code"] for reply in replies if reply.get("id") is None)
    assert set(answers) == {1, 2}, "the batch's ping is not run"
    assert answers[1]["result"]["serverInfo"]["name"] == "vpsmcp"
    assert errors == [-32700, -32600], "bad JSON, then a batch: one error each"
