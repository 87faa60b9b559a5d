"""Upstreams that fail: killed mid-call, never answering, writing garbage, missing, clashing.

The misbehaving upstream is tests/upstreams/scripted_stdio.py, a real
process spoken to over real pipes; the client is the official SDK's. Every
fault must stay with its upstream: the caller gets an error naming it,
vpsmcp keeps serving the others, and the upstream comes back by itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.gateway_support import Recorder, run, scripted, serve_gateway, start_sdk_upstream, texts, wait_until
from tests.helpers.support import ROOT, ServerProcess, clean_env

pytestmark = pytest.mark.slow

HANG_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("faults")
    upstreams: dict[str, dict[str, object]] = {
        "a": {**scripted("a"), "request_timeout": HANG_TIMEOUT, "start": "boot"},
        "b": scripted("b"),
        "g": scripted("g"),
        "dead": {"argv": [str(tmp / "no-such-server")]},
        "c1": {**scripted("c1"), "prefix": "", "allow": ["echo", "whoami"]},
        "c2": {**scripted("c2"), "prefix": "", "allow": ["echo"]},
    }
    server = serve_gateway(tmp, upstreams)
    try:
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.output(), server.output()


def call(server: ServerProcess, name: str, arguments: dict[str, object] | None = None) -> types.CallToolResult:
    async def conversation() -> types.CallToolResult:
        async with Recorder().client(server) as client:
            return await client.call_tool(name, arguments or {})

    return run(server, conversation)


def pid_of(server: ServerProcess, upstream: str) -> int:
    [answer] = texts(call(server, f"{upstream}__whoami"))
    return int(answer.split()[1])


def upstreams_command(server: ServerProcess, *flags: str) -> str:
    tmp = Path(server.cwd or ".")
    argv = [sys.executable, "-m", "vpsmcp", "upstreams", "--config", str(tmp / "vpsmcp.toml"),
            "--state-dir", str(tmp / "state"), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(tmp), cwd=tmp, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_upstream_killed_mid_call_fails_the_call_then_restarts_and_serves_the_next(faulty: ServerProcess) -> None:
    before = pid_of(faulty, "b")

    async def conversation() -> types.CallToolResult:
        async with Recorder().client(faulty) as client:
            async with anyio.create_task_group() as group:
                results: list[types.CallToolResult] = []

                async def slow() -> None:
                    results.append(await client.call_tool("b__sleep", {"seconds": 20}))

                group.start_soon(slow)
                await anyio.sleep(0.5)
                os.kill(before, signal.SIGKILL)
            return results[0]

    result = run(faulty, conversation)
    assert result.is_error
    assert texts(result) == [f"upstream 'b' broke off during tools/call: exited with status -{signal.SIGKILL}"]
    wait_until(lambda: not call(faulty, "b__whoami").is_error, what="b to come back")
    after = pid_of(faulty, "b")
    assert after != before
    assert texts(call(faulty, "b__echo", {"text": "again"})) == ["again"]


def test_an_upstream_that_never_answers_times_out_without_holding_up_others(faulty: ServerProcess) -> None:
    async def conversation() -> tuple[types.CallToolResult, float, list[str]]:
        async with Recorder().client(faulty) as client:
            hung: list[types.CallToolResult] = []
            async with anyio.create_task_group() as group:

                async def hang() -> None:
                    hung.append(await client.call_tool("a__hang", {}))

                group.start_soon(hang)
                await anyio.sleep(0.2)
                started = time.monotonic()
                others = [*texts(await client.call_tool("a__echo", {"text": "same upstream"})),
                          *texts(await client.call_tool("b__echo", {"text": "other upstream"}))]
                took = time.monotonic() - started
            return hung[0], took, others

    hung, took, others = run(faulty, conversation)
    assert others == ["same upstream", "other upstream"]
    assert took < 1.0, f"calls waited {took:.2f} s behind a hung call"
    assert hung.is_error and texts(hung) == [f"upstream 'a' did not answer tools/call within {HANG_TIMEOUT:g} s"]
    cancelled = json.loads(texts(call(faulty, "a__cancelled"))[0])
    assert cancelled, "the gateway did not send notifications/cancelled for the timed-out call"


def test_garbage_on_stdout_is_logged_and_the_upstream_restarted(faulty: ServerProcess) -> None:
    before = pid_of(faulty, "g")
    result = call(faulty, "g__garbage")
    assert result.is_error
    [message] = texts(result)
    assert message.startswith("upstream 'g' broke off during tools/call: wrote something that is not JSON-RPC")
    faulty.wait_for_line(r"upstream g wrote something that is not JSON-RPC to stdout .*'this is not JSON-RPC'")
    wait_until(lambda: not call(faulty, "g__whoami").is_error, what="g to come back")
    assert pid_of(faulty, "g") != before
    assert faulty.proc is not None and faulty.proc.poll() is None, "vpsmcp died"


def test_a_dead_upstream_fails_fast_and_lists_leave_it_out(faulty: ServerProcess) -> None:
    async def conversation() -> tuple[set[str], float]:
        async with Recorder().client(faulty) as client:
            started = time.monotonic()
            names = {tool.name for tool in (await client.list_tools()).tools}
            return names, time.monotonic() - started

    names, took = run(faulty, conversation)
    assert "a__echo" in names and "b__echo" in names
    assert not any(name.startswith("dead__") for name in names)
    assert took < 2.0, f"tools/list took {took:.2f} s with a dead upstream"
    faulty.wait_for_line(r"upstream dead cannot be started \(.*no-such-server: No such file or directory\)")


def test_a_clash_of_names_is_reported_and_the_first_upstream_served(faulty: ServerProcess) -> None:
    assert texts(call(faulty, "echo", {"text": "x"})) == ["x"]
    [who] = texts(call(faulty, "whoami"))
    assert who.startswith("c1 ")
    faulty.wait_for_line(r"tool 'echo' is offered twice; the first one is served")
    wait_until(lambda: "clash: tool 'echo'" in upstreams_command(faulty), what="the clash in vpsmcp upstreams")


def test_upstreams_command_shows_state_tools_restarts_and_last_error(faulty: ServerProcess) -> None:
    call(faulty, "a__echo", {"text": "x"})
    wait_until(lambda: "dead" in upstreams_command(faulty) and "No such file" in upstreams_command(faulty))
    rows = {line.split()[0]: line for line in upstreams_command(faulty).splitlines()[1:] if line.strip()}
    assert rows["a"].split()[1:2] == ["ready"] and rows["a"].split()[3] == "7", rows["a"]
    assert rows["c2"].split()[3] == "1", rows["c2"]  # allow = ["echo"]
    assert "restarting" in rows["dead"] and "No such file or directory" in rows["dead"], rows["dead"]
    report = json.loads(upstreams_command(faulty, "--json"))
    assert {u["name"] for u in report["upstreams"]} == {"a", "b", "g", "dead", "c1", "c2"}


def test_upstreams_command_without_a_server_says_so_and_check_starts_them(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f'[upstreams.x]\nargv = [{json.dumps(sys.executable)}, {json.dumps(str(ROOT / "tests/upstreams/scripted_stdio.py"))}]\n')
    base = [sys.executable, "-m", "vpsmcp", "upstreams", "--config", str(config), "--state-dir", str(tmp_path / "s")]
    env = clean_env(tmp_path)
    idle = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert "not running" in idle.stdout and "vpsmcp serve is not running" in idle.stdout
    checked = subprocess.run([*base, "--check"], capture_output=True, text=True, env=env, timeout=60)
    [row] = [line for line in checked.stdout.splitlines() if line.startswith("x ")]
    assert row.split()[1] == "ready" and row.split()[3] == "7", checked.stdout


def test_upstream_processes_stop_with_the_service(tmp_path: Path) -> None:
    server = serve_gateway(tmp_path, {"s": scripted("s")})
    try:
        pid = pid_of(server, "s")
    finally:
        assert server.stop() == 0
    wait_until(lambda: not _alive(pid), timeout=5, what=f"upstream pid {pid} to end")
    assert "Traceback" not in server.output()


def test_only_the_configured_headers_reach_an_http_upstream_never_the_clients_token(tmp_path: Path) -> None:
    sdk = start_sdk_upstream(tmp_path)
    server = serve_gateway(tmp_path, {"py": {"url": sdk.url + "/mcp", "headers": {"X-Upstream-Key": "k1"}}})
    try:
        async def conversation() -> dict[str, str]:
            own = {"Authorization": "Bearer client-token-123", "Cookie": "session=client"}
            http = httpx2.AsyncClient(headers=own, timeout=30)
            client = Client(streamable_http_client(server.url + "/mcp", http_client=http), mode="legacy")
            async with http, client:
                seen: dict[str, str] = json.loads(texts(await client.call_tool("py__seen_headers", {}))[0])
                return seen

        seen = run(server, conversation)
    finally:
        server.stop()
        sdk.stop()
    assert seen.get("x-upstream-key") == "k1"
    assert "authorization" not in seen and "cookie" not in seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_legacy_sse_upstream_serves_calls_and_its_questions(tmp_path: Path) -> None:
    sdk = start_sdk_upstream(tmp_path, "sse")
    server = serve_gateway(tmp_path, {"old": {"url": sdk.url + "/sse", "transport": "sse"}})
    recorder = Recorder()
    try:
        async def conversation() -> tuple[list[str], list[str]]:
            async with recorder.client(server) as client:
                added = texts(await client.call_tool("old__add", {"a": 1, "b": 2}))
                greeted = texts(await client.call_tool("old__greet", {}))
                return added, greeted

        added, greeted = run(server, conversation)
    finally:
        server.stop()
        sdk.stop()
    assert added == ["3"] and greeted == ["hello Ada"]
    assert [e.message for e in recorder.elicitations] == ["What is your name?"]
