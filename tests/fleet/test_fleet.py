"""A hub vpsmcp fronting two others, end to end: three real servers, the official SDK client at the hub.

Each server has its own state and owner password. The hub logs in to each node
as an OAuth client of its own (``vpsmcp fleet add``, the node's owner approving
in the browser); the SDK client logs in to the hub once and uses both nodes'
tools. Then a node revokes the hub's grant, the nodes restart, and a client
granted one node tries the other's tools.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from tests.helpers.fleet_support import NODE_PLUGIN, PLUGIN, SDK_PLUGIN, Machine, fleet_login
from tests.helpers.oauth_flow import grant
from tests.helpers.oauth_server import call_tool, challenge
from tests.helpers.sdk_oauth import REDIRECT_URI, Login, Owner, call_with_login

T = TypeVar("T")
WAIT = 45.0  # seconds the hub may take to come back to a node (its backoff tops out at 30 s)


@dataclass
class Fleet:
    hub: Machine
    web1: Machine
    web2: Machine
    login: Login  # the SDK client's identity at the hub


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("fleet")
    web1 = Machine(base / "web1", "web1-owner-password").prepare(plugins=(PLUGIN, NODE_PLUGIN)).start()
    web2 = Machine(base / "web2", "web2-owner-password").prepare(plugins=(PLUGIN, SDK_PLUGIN)).start()
    hub = Machine(base / "hub", "hub-owner-password").prepare()
    try:
        for name, node in (("web1", web1), ("web2", web2)):
            status, out, err = fleet_login(hub, node, "add", name, node.url + "/mcp")
            assert status == 0, out + err
            assert f"added {name}" in out
        hub.start()
        yield Fleet(hub, web1, web2, Login(Owner(hub.password)))
    finally:
        for machine in (hub, web1, web2):
            machine.stop()


def call(fleet: Fleet, tool: str, arguments: dict[str, Any] | None = None) -> list[str]:
    """One SDK session to the hub calling ``tool``: the texts it answered."""
    return call_with_login(fleet.hub.url + "/mcp", fleet.login, tool, arguments or {})[1]


def until(check: Any, timeout: float = WAIT) -> Any:
    """``check()`` again until it returns something true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def status_page(hub: Machine) -> str:
    """The hub's status page, as its owner sees it after logging in."""
    with httpx.Client(timeout=10, headers={"x-forwarded-for": "198.51.100.77"}) as http:
        page = http.get(f"{hub.url}/status/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        assert http.post(f"{hub.url}/status/login", data={"csrf": csrf, "password": hub.password}).status_code == 303
        return http.get(f"{hub.url}/status").text


def audit(machine: Machine) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (machine.state / "audit.jsonl").read_text().splitlines()]


def test_the_sdk_client_logs_in_to_the_hub_once_and_uses_both_nodes(fleet: Fleet) -> None:
    first = call(fleet, "web1_status")
    second = call(fleet, "web2_status")
    read = call(fleet, "web1_files_read", {"path": str(fleet.web1.tmp / "files" / "motd.txt")})
    assert fleet.login.owner.pages == 1  # one login at the hub, for all three sessions
    assert "uptime" in first[0].lower() and "uptime" in second[0].lower()
    assert "hello from web1" in read[0]


def test_the_hubs_tools_say_which_host_they_act_on_and_need_its_scope(fleet: Fleet) -> None:
    with httpx.Client(timeout=10) as http:
        _, tokens = grant(http, fleet.hub.url, fleet.hub.password)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}
    listed = httpx.post(fleet.hub.url + "/mcp", json=body, timeout=10, headers={
        "authorization": f"Bearer {tokens['access_token']}", "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/list", "accept": "application/json, text/event-stream"})
    tools = {t["name"]: t for t in listed.json()["result"]["tools"]}
    assert tools["web1_status"]["description"].startswith(f"On the host web1 ({fleet.web1.url}/mcp): ")
    assert tools["web2_status"]["_meta"]["io.vpsmcp/scope"] == "fleet:web2 vps:read"
    assert tools["web1_pretend_exec"]["_meta"]["io.vpsmcp/scope"] == "fleet:web1 vps:exec"  # the node's plugin tool
    assert {"fleet:web1", "fleet:web2"} <= set(tokens["scope"].split())


def test_a_client_granted_one_node_cannot_call_the_others_tools(fleet: Fleet) -> None:
    with httpx.Client(timeout=10) as http:
        _, tokens = grant(http, fleet.hub.url, fleet.hub.password, ["fleet:web1", "vps:read"])
    token = tokens["access_token"]
    assert call_tool(fleet.hub.url, token, "web1_status", {}).status_code == 200
    for tool, missing in (("web2_status", "fleet:web2"), ("web1_pretend_exec", "vps:exec")):
        refused = call_tool(fleet.hub.url, token, tool, {"command": "true"})
        assert refused.status_code == 403, refused.text
        asked = challenge(refused)
        assert asked["error"] == "insufficient_scope"
        assert missing in asked["scope"].split()
        assert refused.json()["error"]["data"]["requiredScope"].split()[0] == tool.split("_")[0].replace("web", "fleet:web")


@dataclass
class Heard:
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)


def with_client(fleet: Fleet, work: Callable[[Client], Awaitable[T]], mode: str = "auto", **callbacks: Any) -> T:
    """An SDK session to the hub (logged in as before), ``callbacks`` given to its ``Client``."""

    async def conversation() -> T:
        url = fleet.hub.url + "/mcp"
        provider = OAuthClientProvider(url, OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT_URI)]),
                                       fleet.login.storage, redirect_handler=fleet.login.owner.redirect_handler,
                                       callback_handler=fleet.login.owner.callback_handler)
        with anyio.fail_after(60):
            async with httpx2.AsyncClient(auth=provider, timeout=60) as http:
                async with Client(streamable_http_client(url, http_client=http), mode=mode, **callbacks) as client:
                    return await work(client)

    return anyio.run(conversation)


def call_heard(fleet: Fleet, mode: str, tool: str, arguments: dict[str, Any], heard: Heard) -> tuple[str | None, list[str]]:
    """A call through the hub with progress, log and elicitation callbacks that remember what they heard."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.progress.append((progress, total, message))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        heard.logs.append(params.data)

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        heard.asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def work(client: Client) -> tuple[str | None, list[str]]:
        result = await client.call_tool(tool, arguments, progress_callback=on_progress)
        return client.protocol_version, [getattr(b, "text", "") for b in result.content]

    return with_client(fleet, work, mode, log_level="debug", logging_callback=on_log, elicitation_callback=on_elicit)


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_progress_logs_and_questions_carry_through_the_hub(fleet: Fleet, mode: str, version: str) -> None:
    heard = Heard()
    assert call_heard(fleet, mode, "web2_count_slowly", {"steps": 3}, heard) == (version, ["counted to 3"])
    assert heard.progress == [(1, 3, "step 1 of 3"), (2, 3, "step 2 of 3"), (3, 3, "step 3 of 3")]
    assert {"step": 1, "of": 3} in heard.logs
    asked = Heard()
    assert call_heard(fleet, mode, "web2_greet_person", {}, asked) == (version, ["hello Ada"])
    assert asked.asked == ["What is your name?"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_nodes_resources_and_prompts_appear_on_the_hub_under_its_name(fleet: Fleet, mode: str) -> None:
    async def work(client: Client) -> dict[str, Any]:
        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        read = await client.read_resource("web1+notes://motd")
        fact = await client.read_resource("web1+notes://host/disk")
        prompt = await client.get_prompt("web1_health", {"focus": "disk"})
        return {"resources": resources, "templates": templates, "read": read, "fact": fact, "prompt": prompt}

    seen = with_client(fleet, work, mode)
    assert seen["resources"]["web1+notes://motd"].description.startswith("On the host web1 (")
    assert "web1+notes://host/{key}" in seen["templates"]
    assert not any(uri.startswith("web2+notes://") for uri in seen["resources"])
    assert seen["read"].contents[0].text == "today: maintenance at noon"
    assert str(seen["read"].contents[0].uri) == "notes://motd"  # the node's answer, as the node gave it
    assert seen["fact"].contents[0].text == "fact disk"
    assert seen["prompt"].messages[0].content.text == "How is the host's disk?"


def test_a_caller_that_leaves_cancels_the_call_on_the_node(fleet: Fleet) -> None:
    with httpx.Client(timeout=10) as http:
        _, tokens = grant(http, fleet.hub.url, fleet.hub.password)
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "web2_count_slowly", "arguments": {"steps": 20}, "_meta": {
            "progressToken": "p", "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = {"authorization": f"Bearer {tokens['access_token']}", "mcp-protocol-version": "2026-07-28",
               "mcp-method": "tools/call", "mcp-name": "web2_count_slowly", "accept": "application/json, text/event-stream"}
    with httpx.stream("POST", fleet.hub.url + "/mcp", json=body, headers=headers, timeout=10) as response:
        next(line for line in response.iter_lines() if "notifications/progress" in line)
    cancelled = until(lambda: [r for r in audit(fleet.web2) if r["tool"] == "count_slowly"
                               and r["arguments"] == {"steps": 20}], 10)
    assert cancelled and cancelled[-1]["status"] == "cancelled", cancelled


def test_each_side_audits_the_call_the_hub_naming_the_node_the_node_the_hubs_caller(fleet: Fleet) -> None:
    call(fleet, "web2_status")
    caller = fleet.login.storage.client_info.client_id  # type: ignore[union-attr]
    on_hub = [r for r in audit(fleet.hub) if r["tool"] == "web2_status"][-1]
    assert on_hub["client"] == caller and on_hub["node"] == "web2" and on_hub["status"] == "ok"
    hub_client = fleet.hub.fleet_file()["web2"]["client_id"]
    on_node = [r for r in audit(fleet.web2) if r["tool"] == "status"][-1]
    assert on_node["client"] == hub_client and on_node["on_behalf_of"] == caller
    shown = fleet.web2.cli("audit")
    assert f"on-behalf-of={caller}" in shown.stdout


def doctor_fleet(hub: Machine) -> tuple[int, dict[str, dict[str, Any]]]:
    done = hub.cli("doctor", "--fleet", "--local", "--json", "--stream-wait", "2")
    assert done.stdout, done.stderr
    return done.returncode, {d["node"]: d for d in json.loads(done.stdout)["fleet"]}


def test_the_doctor_checks_each_node_from_the_hub_with_the_hubs_token(fleet: Fleet) -> None:
    status, reports = doctor_fleet(fleet.hub)
    assert set(reports) == {"web1", "web2"}
    for name, report in reports.items():
        checks = {c["name"]: c for c in report["checks"]}
        assert report["url"] == getattr(fleet, name).url + "/mcp"
        assert checks["tool call"]["status"] == "pass", checks["tool call"]
        assert report["verdict"] != "fail", [c for c in report["checks"] if c["status"] == "fail"]
    assert status in (0, 3)


def test_a_node_that_revokes_the_hub_fails_its_calls_naming_fleet_login_while_the_other_works(fleet: Fleet) -> None:
    hub_client = fleet.hub.fleet_file()["web1"]["client_id"]
    revoked = fleet.web1.cli("tokens", "revoke", "--client", hub_client)
    assert revoked.returncode == 0, revoked.stderr
    failing = call(fleet, "web1_status")
    assert "vpsmcp fleet login web1" in failing[0] and "revoked the hub's grant" in failing[0]
    assert "uptime" in call(fleet, "web2_status")[0].lower()
    listed = fleet.hub.cli("fleet", "list")
    assert "web1" in listed.stdout and "LOGGED OUT" in listed.stdout and "vpsmcp fleet login web1" in listed.stdout
    # later calls fail at once, without waiting on the node
    started = time.monotonic()
    assert "vpsmcp fleet login web1" in call(fleet, "web1_status")[0]
    assert time.monotonic() - started < 5
    status, reports = doctor_fleet(fleet.hub)
    assert status == 1 and reports["web1"]["verdict"] == "fail"
    assert "vpsmcp fleet login web1" in reports["web1"]["error"] and reports["web2"]["verdict"] != "fail"
    assert "vpsmcp fleet login web1" in status_page(fleet.hub)
    # the owner logs the hub in again: the running hub takes it up by itself
    status, out, err = fleet_login(fleet.hub, fleet.web1, "login", "web1")
    assert status == 0, out + err
    assert until(lambda: "uptime" in call(fleet, "web1_status")[0].lower())


def test_the_nodes_restart_and_the_hub_reconnects_by_itself(fleet: Fleet) -> None:
    for node in (fleet.web1, fleet.web2):
        node.stop()
    started = time.monotonic()
    down = call(fleet, "web1_status")[0]
    assert "'web1'" in down and time.monotonic() - started < 5, down  # fails fast, naming the node
    for node in (fleet.web1, fleet.web2):
        node.start()
    assert until(lambda: "uptime" in call(fleet, "web1_status")[0].lower())
    assert until(lambda: "uptime" in call(fleet, "web2_status")[0].lower())


def test_no_token_of_the_hub_appears_in_logs_traces_or_the_status_page(fleet: Fleet, tmp_path: Path) -> None:
    secrets = {value for node in fleet.hub.fleet_file().values()
               for key, value in node.items() if key in ("access_token", "refresh_token") and value}
    assert len(secrets) == 4
    assert "uptime" in call(fleet, "web1_status")[0].lower()  # something for the trace to keep
    seen = {"status page": status_page(fleet.hub)}
    assert "web1" in seen["status page"]
    seen["fleet list"] = fleet.hub.cli("fleet", "list").stdout + fleet.hub.cli("fleet", "list", "--json").stdout
    seen["upstreams"] = fleet.hub.cli("upstreams").stdout
    assert "web1" in seen["upstreams"] and "web2" in seen["upstreams"]  # the nodes are the hub's upstreams too
    process = fleet.hub.process
    assert process is not None
    fleet.hub.stop()  # everything it logs and traces is written by the time it has stopped
    seen["hub's log"] = process.output()
    assert "upstream web1 ready" in seen["hub's log"]
    for path in fleet.hub.state.rglob("*"):
        if path.is_file() and path.name != "fleet.json" and not path.name.endswith((".db", ".db-wal", ".db-shm")):
            seen[str(path)] = path.read_text(errors="replace")
    assert any(path.endswith("trace.jsonl") for path in seen)
    assert oct((fleet.hub.state / "fleet.json").stat().st_mode & 0o777) == "0o600"
    leaks = [(where, secret[:6]) for where, text in seen.items() for secret in secrets if secret in text]
    assert not leaks


def test_the_hub_renews_its_token_before_it_expires_without_any_call(tmp_path: Path) -> None:
    node = Machine(tmp_path / "short", "short-owner-password").prepare("access_token_lifetime = 40\n").start()
    hub = Machine(tmp_path / "hub", "hub-owner-password").prepare()
    try:
        status, out, err = fleet_login(hub, node, "add", "short", node.url + "/mcp")
        assert status == 0, out + err
        first = hub.fleet_file()["short"]
        assert first["lifetime"] == 40
        hub.start()
        renewed = until(lambda: (n := hub.fleet_file()["short"])["access_token"] != first["access_token"] and n, 40)
        assert renewed, "the hub never renewed its token"
        assert renewed["refresh_token"] != first["refresh_token"] and not renewed["logged_out"]
        with httpx.Client(timeout=10) as http:
            _, tokens = grant(http, hub.url, hub.password)
        assert "uptime" in call_tool(hub.url, tokens["access_token"], "short_status", {}).text.lower()
    finally:
        hub.stop()
        node.stop()
