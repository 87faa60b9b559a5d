"""A node's entries as the hub offers them: the scopes they need, how they are described, what a call carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vpsmcp.fleet.node import NodeProvider
from vpsmcp.fleet.nodes import Fleet, Node
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Registry, Tool, allowed, registry_scopes
from vpsmcp.protocol.versions import Era


def provider(tmp_path: Path) -> NodeProvider:
    return NodeProvider(Node("web1", "https://web1.example/mcp", "oauth", "t"), Fleet(tmp_path))


def entry(scope: str | None = None) -> dict[str, Any]:
    return {"name": "status", "description": "The machine.", **({"_meta": {"io.vpsmcp/scope": scope}} if scope else {})}


def test_an_entry_needs_the_nodes_scope_and_the_one_the_node_names_or_exec_when_it_names_none(tmp_path: Path) -> None:
    node = provider(tmp_path)
    assert node.scope_of(entry("vps:read")) == "fleet:web1 vps:read"
    assert node.scope_of(entry("fleet:db vps:read")) == "fleet:web1 fleet:db vps:read"  # a node that is a hub
    assert node.scope_of(entry()) == "fleet:web1 vps:exec"
    assert node.scope_of(entry("  ")) == "fleet:web1 vps:exec"
    assert node.description_of("The machine.") == "On the host web1 (https://web1.example/mcp): The machine."


def test_a_scope_with_several_names_needs_each_of_them() -> None:
    assert allowed("fleet:web1 vps:read", frozenset({"fleet:web1", "vps:read"}))
    assert not allowed("fleet:web1 vps:read", frozenset({"fleet:web2", "vps:read"}))
    assert not allowed("fleet:web1 vps:read", frozenset({"fleet:web1"}))
    assert not allowed("fleet:web1 vps:read", frozenset({"fleet:web1 vps:read"}))  # one granted name is no pair
    assert allowed("fleet:web1 vps:read", None)


def test_what_a_token_may_ask_for_names_each_scope_once(tmp_path: Path) -> None:
    async def handler(ctx: Context, args: dict[str, Any]) -> str:
        return ""

    class Fixed:
        scope = "fleet:web1"

        def tools(self) -> list[Tool]:
            return [Tool("web1_status", "", {}, handler, scope="fleet:web1 vps:read")]

        def resources(self) -> list[Any]:
            return []

        resource_templates = prompts = resources

    assert registry_scopes(Registry([Fixed()])) == ["vps:read", "fleet:web1"]


def test_a_call_tells_the_node_who_asked_the_hub_and_keeps_its_own_meta(tmp_path: Path) -> None:
    node = provider(tmp_path)
    ctx = Context(1, "2025-11-25", Era.HANDSHAKE, None, Caller(client_id="claude-123", scopes=frozenset()))  # type: ignore[arg-type]
    sent = node.outgoing(ctx, {"name": "status", "arguments": {}, "_meta": {"progressToken": 4}})
    assert sent["_meta"] == {"progressToken": 4, "io.vpsmcp/on-behalf-of": "claude-123"}
    nobody = Context(1, "2025-11-25", Era.HANDSHAKE, None)  # type: ignore[arg-type]
    assert "_meta" not in node.outgoing(nobody, {"name": "status", "arguments": {}})
