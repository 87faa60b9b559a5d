"""The built-in tools as a whole: names, scopes, annotations, schemas, and switching tools off."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.helpers.tool_server import start_tool_server, tools_config
from vpsmcp.config.sections import ToolsConfig, parse_config
from vpsmcp.errors import ConfigError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import Request
from vpsmcp.protocol.registry import Registry, Tool
from vpsmcp.protocol.request_state import RequestStateCodec
from vpsmcp.protocol.versions import Era
from vpsmcp.scopes import CONTROL, EXEC, FILES_WRITE, READ
from vpsmcp.tool_names import GROUPS, TOOL_NAMES
from vpsmcp.tools import all_tools, builtin_provider
from vpsmcp.tools.toolbox import Toolbox


@pytest.fixture
def every(tmp_path: Path) -> list[Tool]:
    return all_tools(Toolbox.build(ToolsConfig(), tmp_path))


def test_the_catalog_names_exactly_the_tools_built(every: list[Tool]) -> None:
    assert [t.name for t in every] == [name for names in GROUPS.values() for name in names]
    assert {t.name for t in every} == TOOL_NAMES


def test_each_tool_names_a_scope_and_all_three_hints(every: list[Tool]) -> None:
    for tool in every:
        hints = tool.annotations or {}
        assert {"readOnlyHint", "destructiveHint", "idempotentHint"} <= hints.keys(), tool.name
        expected = READ if hints["readOnlyHint"] else {"files": FILES_WRITE, "exec": EXEC}.get(
            tool.name.split("_")[0], CONTROL)
        assert tool.scope == expected, tool.name
        assert tool.description and tool.title


def test_every_schema_is_valid_json_schema_and_inputs_refuse_unknown_keys(every: list[Tool]) -> None:
    for tool in every:
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object" and tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None, tool.name
        Draft202012Validator.check_schema(tool.output_schema)


def test_exec_and_disabled_tools_and_groups_are_left_out(tmp_path: Path) -> None:
    names = {t.name for t in builtin_provider(ToolsConfig(disabled=("containers", "files_delete")), tmp_path).tools()}
    assert names == TOOL_NAMES - set(GROUPS["containers"]) - {"files_delete", "exec"}
    with_exec = {t.name for t in builtin_provider(ToolsConfig(exec_enabled=True), tmp_path).tools()}
    assert "exec" in with_exec


def test_an_unknown_name_in_disabled_is_refused_when_the_config_loads() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config('[tools]\ndisabled = ["containers", "file_delete"]\n', "vpsmcp.toml")
    assert str(refused.value).startswith("vpsmcp.toml: tools.disabled: expected names of built-in tools or groups")
    assert "'file_delete'" in str(refused.value)


def test_a_caller_with_the_read_scope_sees_and_calls_only_observing_tools(tmp_path: Path) -> None:
    dispatcher = Dispatcher(Registry([builtin_provider(ToolsConfig(exec_enabled=True), tmp_path)]),
                            RequestStateCodec("k" * 40))

    class Peer:
        async def notify(self, method: str, params: dict[str, Any]) -> None: ...
        async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
            return {}

    def handle(method: str, params: dict[str, Any]) -> dict[str, Any]:
        ctx = Context(request_id=1, version="2025-11-25", era=Era.HANDSHAKE, peer=Peer(), caller=Caller(scopes=frozenset({READ})))
        return asyncio.run(dispatcher.handle(Request(1, method, params), ctx))

    listed = {t["name"] for t in handle("tools/list", {})["tools"]}
    assert listed == {t.name for t in all_tools(Toolbox.build(ToolsConfig(), tmp_path)) if t.scope == READ}
    assert "files_write" not in listed and "exec" not in listed and "processes_signal" not in listed


def test_disabled_tools_are_neither_listed_nor_callable_over_http(tmp_path: Path) -> None:
    server = start_tool_server(tmp_path, tools_config([tmp_path], disabled=["containers", "files_delete"]))
    (tmp_path / "keep").write_text("x")
    try:
        listed = server.tools()
        assert not {"containers_list", "files_delete"} & listed.keys() and "files_read" in listed
        assert "Unknown tool: files_delete" in str(server.refused("files_delete", {"path": "keep"}))
        assert "Unknown tool: containers_list" in str(server.refused("containers_list"))
    finally:
        records = server.check_audit()
    assert (tmp_path / "keep").exists()
    assert [(r["tool"], r["status"]) for r in records] == [("files_delete", "refused"), ("containers_list", "refused")]
