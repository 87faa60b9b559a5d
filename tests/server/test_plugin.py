from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Literal

import pytest

from vpsmcp.errors import ConfigError
from vpsmcp.plugin import Plugin, load_plugins, schema_from_signature
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.versions import Era


def test_schema_from_signature_covers_common_types() -> None:
    def tool(ctx: Context, name: str, count: int, ratio: float, on: bool, tags: list[str],
             mode: Literal["a", "b"] = "a", note: str | None = None) -> None: ...

    assert schema_from_signature(tool) == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "on": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mode": {"enum": ["a", "b"], "default": "a"},
            "note": {"type": "string"},
        },
        "required": ["name", "count", "ratio", "on", "tags"],
    }


def test_plain_functions_run_off_the_event_loop() -> None:
    plugin = Plugin()
    seen: list[str] = []

    @plugin.tool()
    def blocking(ctx: Context) -> str:
        seen.append(threading.current_thread().name)
        return "ok"

    tool = plugin.provider.tools()[0]

    class Peer:
        async def notify(self, method: str, params: dict[str, object]) -> None: ...
        async def request(self, method: str, params: dict[str, object]) -> dict[str, object]:
            return {}

    ctx = Context(request_id=1, version="2025-11-25", era=Era.HANDSHAKE, peer=Peer())
    async def run() -> object:
        return await tool.handler(ctx, {})

    assert asyncio.run(run()) == "ok"
    assert seen and seen[0] != threading.main_thread().name


def test_load_plugin_from_file_and_module(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("from vpsmcp.plugin import Plugin\nplugin = Plugin('mine')\n")
    by_path = load_plugins([str(tmp_path / "mine.py")], [], "cfg.toml")
    by_name = load_plugins(["mine"], [str(tmp_path)], "cfg.toml")
    assert by_path[0].name == by_name[0].name == "mine"


@pytest.mark.parametrize(("source", "problem"), [
    ("raise RuntimeError('broken at import')", "cannot load plugin 'bad': RuntimeError: broken at import"),
    ("x = 1", "plugin 'bad' defines no `plugin = Plugin()`"),
])
def test_broken_plugin_names_config_key(tmp_path: Path, source: str, problem: str) -> None:
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(ConfigError) as info:
        load_plugins(["bad"], [str(tmp_path)], "/etc/vpsmcp/vpsmcp.toml")
    assert str(info.value) == f"/etc/vpsmcp/vpsmcp.toml: plugins.modules[0]: {problem}"


def test_missing_plugin_module_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"plugins.modules\[0\]: cannot load plugin 'no_such_mod_xyz'"):
        load_plugins(["no_such_mod_xyz"], [], "c.toml")
