"""Real upstreams behind a real vpsmcp, driven by the official SDK client in both protocol eras.

One vpsmcp serves four upstreams: ``@modelcontextprotocol/server-everything``
and ``server-filesystem`` from npm over stdio, a Python server built with the
official SDK over Streamable HTTP, and the scripted stdio server. Calls,
progress, log messages, an elicitation and a sampling request must travel
from upstream to the SDK client and back, in the handshake era (2025-11-25,
where vpsmcp asks the client on the session) and in the stateless era
(2026-07-28, where the upstream's question becomes an ``input_required``
result and the client's retry answers it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import mcp.types as types
import pytest

from tests.helpers.gateway_support import Recorder, npm_server, run, scripted, serve_gateway, start_sdk_upstream, texts
from tests.helpers.support import ServerProcess

pytestmark = pytest.mark.slow

MODERN, HANDSHAKE = "2026-07-28", "2025-11-25"
ERAS = [pytest.param("auto", MODERN, id=MODERN), pytest.param("legacy", HANDSHAKE, id=HANDSHAKE)]


@dataclass
class Setup:
    server: ServerProcess
    files: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("gateway")
    files = tmp / "files"
    files.mkdir()
    (files / "note.txt").write_text("hello from the filesystem upstream\n")
    sdk = start_sdk_upstream(tmp)
    upstreams: dict[str, dict[str, object]] = {
        "ev": {"argv": [*npm_server("server-everything"), "stdio"], "deny": ["get-env"], "start": "boot"},
        "fs": {"argv": [*npm_server("server-filesystem"), str(files)]},
        "py": {"url": sdk.url + "/mcp"},
        "box": scripted("box"),
    }
    server = serve_gateway(tmp, upstreams)
    try:
        yield Setup(server, files)
    finally:
        server.stop()
        sdk.stop()
    assert "Traceback" not in server.output(), server.output()


def call(setup: Setup, mode: str, name: str, arguments: dict[str, object], recorder: Recorder | None = None) -> tuple[str | None, types.CallToolResult]:
    recorder = recorder or Recorder()

    async def conversation() -> tuple[str | None, types.CallToolResult]:
        async with recorder.client(setup.server, mode) as client:
            result = await client.call_tool(name, arguments, progress_callback=recorder.on_progress)
            return client.protocol_version, result

    return run(setup.server, conversation)


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_tools_of_every_upstream_are_listed_under_their_prefix(gateway: Setup, mode: str, version: str) -> None:
    async def conversation() -> set[str]:
        async with Recorder().client(gateway.server, mode) as client:
            assert client.protocol_version == version
            return {tool.name for tool in (await client.list_tools()).tools}

    names = run(gateway.server, conversation)
    assert {"ev__echo", "ev__trigger-elicitation-request", "fs__read_text_file", "py__add", "box__echo"} <= names
    assert "ev__get-env" not in names, "a denied tool was listed"
    assert not any(name in names for name in ("echo", "add", "read_text_file")), "an unprefixed name leaked"


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_calls_reach_stdio_and_http_upstreams(gateway: Setup, mode: str, version: str) -> None:
    assert texts(call(gateway, mode, "ev__echo", {"message": "hi"})[1]) == ["Echo: hi"]
    path = str(gateway.files / "note.txt")
    assert texts(call(gateway, mode, "fs__read_text_file", {"path": path})[1]) == ["hello from the filesystem upstream\n"]
    seen, result = call(gateway, mode, "py__add", {"a": 2, "b": 40})
    assert seen == version and texts(result) == ["42"] and not result.is_error


def test_a_denied_tool_cannot_be_called(gateway: Setup) -> None:
    async def conversation() -> str:
        async with Recorder().client(gateway.server) as client:
            try:
                await client.call_tool("ev__get-env", {})
            except Exception as exc:  # the SDK raises its own error type for a JSON-RPC error
                return str(exc)
            return "called"

    assert run(gateway.server, conversation) == "Unknown tool: ev__get-env"


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_progress_and_log_messages_are_relayed_to_the_caller(gateway: Setup, mode: str, version: str) -> None:
    recorder = Recorder()
    _, result = call(gateway, mode, "py__count_slowly", {"steps": 2}, recorder)
    assert texts(result) == ["counted to 2"]
    assert recorder.progress == [(1, 2), (2, 2)]
    assert [log for log in recorder.logs if "counted" in str(log)] == ["counted 1", "counted 2"]
    recorder = Recorder()
    _, result = call(gateway, mode, "ev__trigger-long-running-operation", {"duration": 0.3, "steps": 3}, recorder)
    assert not result.is_error, result
    assert recorder.progress == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_an_upstream_elicitation_round_trips_through_the_client(gateway: Setup, mode: str, version: str) -> None:
    recorder = Recorder()
    seen, result = call(gateway, mode, "py__greet", {}, recorder)
    assert seen == version
    assert texts(result) == ["hello Ada"], result
    assert [e.message for e in recorder.elicitations] == ["What is your name?"]
    recorder = Recorder()
    _, result = call(gateway, mode, "ev__trigger-elicitation-request", {}, recorder)
    assert not result.is_error, result
    assert "Ada" in "".join(texts(result))
    assert len(recorder.elicitations) == 1


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_an_upstream_sampling_request_round_trips_through_the_client(gateway: Setup, mode: str, version: str) -> None:
    recorder = Recorder()
    seen, result = call(gateway, mode, "py__ask_model", {"question": "Capital of France?"}, recorder)
    assert seen == version
    assert texts(result) == ["fake-model says Paris"], result
    [asked] = recorder.samplings
    assert isinstance(asked.messages[0].content, types.TextContent)
    assert asked.messages[0].content.text == "Capital of France?"
    recorder = Recorder()
    _, result = call(gateway, mode, "ev__trigger-sampling-request", {"prompt": "Capital?"}, recorder)
    assert "Paris" in "".join(texts(result)) and len(recorder.samplings) == 1


@pytest.mark.parametrize(("mode", "version"), ERAS)
def test_resources_and_prompts_of_an_upstream_are_served(gateway: Setup, mode: str, version: str) -> None:
    async def conversation() -> tuple[list[str], str, list[str], str]:
        async with Recorder().client(gateway.server, mode) as client:
            resources = [str(r.uri) for r in (await client.list_resources()).resources]
            read = await client.read_resource("demo://resource/dynamic/text/1")
            prompts = [p.name for p in (await client.list_prompts()).prompts]
            got = await client.get_prompt("ev__args-prompt", {"city": "Paris"})
            content = read.contents[0]
            message = got.messages[0].content
            return (resources, content.text if isinstance(content, types.TextResourceContents) else "",
                    prompts, message.text if isinstance(message, types.TextContent) else "")

    resources, read, prompts, message = run(gateway.server, conversation)
    assert any(uri.startswith("demo://resource/static/document/") for uri in resources)
    assert "1" in read
    assert {"ev__simple-prompt", "ev__args-prompt"} <= set(prompts)
    assert message == "What's weather in Paris?"


def test_concurrent_calls_share_one_initialized_upstream_process(gateway: Setup) -> None:
    async def conversation() -> list[list[str]]:
        async with Recorder().client(gateway.server) as client:
            answers: list[list[str]] = []

            async def one(i: int) -> None:
                echoed = await client.call_tool("box__echo", {"text": f"call {i}"})
                who = await client.call_tool("box__whoami", {})
                answers.append([*texts(echoed), *texts(who)])

            async with anyio.create_task_group() as group:
                for i in range(20):
                    group.start_soon(one, i)
            return answers

    answers = run(gateway.server, conversation)
    assert sorted(a[0] for a in answers) == sorted(f"call {i}" for i in range(20)), "a caller got another's answer"
    assert len({a[1] for a in answers}) == 1, "calls were spread over several upstream processes"
    assert gateway.server.output().count("upstream box ready") == 1, "the upstream was initialized more than once"


def test_a_list_change_upstream_is_followed_and_announced_to_open_sessions(gateway: Setup) -> None:
    async def conversation() -> tuple[bool, bool, list[str]]:
        changed = anyio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async with Recorder().client(gateway.server, message_handler=on_message) as client:
            before = "box__extra" in {t.name for t in (await client.list_tools()).tools}
            await client.call_tool("box__grow", {})
            with anyio.fail_after(10):
                await changed.wait()
            tools = [t.name for t in (await client.list_tools()).tools]
            extra = texts(await client.call_tool("box__extra", {}))
            return before, "box__extra" in tools, extra

    before, after, extra = run(gateway.server, conversation)
    assert (before, after) == (False, True)
    assert extra == ["extra works"]
