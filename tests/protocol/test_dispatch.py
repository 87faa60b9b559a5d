"""The protocol core with plain values: no HTTP, a recording peer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vpsmcp.errors import JsonRpcError, ToolError
from vpsmcp.plugin import Plugin
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.dispatch import SERVER_INFO_KEY, Dispatcher
from vpsmcp.protocol.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, RESOURCE_NOT_FOUND, Request
from vpsmcp.protocol.registry import Registry
from vpsmcp.protocol.request_state import RequestStateCodec
from vpsmcp.protocol.session import Phase, Session
from vpsmcp.protocol.versions import Era

plugin = Plugin()


@plugin.tool()
async def add(ctx: Context, a: int, b: int = 1) -> dict[str, int]:
    """Add two numbers."""
    return {"sum": a + b}


@plugin.tool(scope="mcp:exec")
async def dangerous(ctx: Context) -> str:
    """Needs a scope."""
    return "ran"


@plugin.tool()
async def fails(ctx: Context) -> str:
    """Always fails."""
    raise ToolError("disk on fire")


@plugin.tool()
async def crashes(ctx: Context) -> str:
    """A bug."""
    raise KeyError("oops")


@plugin.tool()
async def greet(ctx: Context) -> str:
    """Asks twice."""
    first = await ctx.elicit("first?", {"type": "object"}, key="first")
    second = await ctx.elicit("second?", {"type": "object"}, key="second")
    return f"{first['content']['v']} {second['content']['v']}"


@plugin.tool()
async def needs_sampling(ctx: Context) -> str:
    """Samples."""
    answer = await ctx.sample([{"role": "user", "content": {"type": "text", "text": "hi"}}], 10)
    return str(answer["content"]["text"])


@plugin.resource("test://static", mime_type="text/plain")
async def static(ctx: Context, uri: str) -> dict[str, str]:
    return {"uri": uri, "mimeType": "text/plain", "text": "static text"}


@plugin.resource("test://item/{id}")
async def item(ctx: Context, uri: str, id: str) -> dict[str, str]:
    return {"uri": uri, "text": f"item {id}"}


@plugin.prompt()
async def summarize(ctx: Context, topic: str, tone: str = "plain") -> list[dict[str, Any]]:
    """Summarize a topic."""
    return [{"role": "user", "content": {"type": "text", "text": f"{tone}: {topic}"}}]


@plugin.resource("test://plain")
async def plain(ctx: Context, uri: str) -> str:
    return "just text"


@plugin.resource("test://bytes")
async def raw(ctx: Context, uri: str) -> bytes:
    return b"\x00\x01"


@plugin.prompt()
async def ask_plainly(ctx: Context, topic: str) -> str:
    return f"Tell me about {topic}"


class Peer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        self.sent.append((method, params))

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((method, params))
        return self.answers[method]


def dispatcher(page_size: int = 100) -> Dispatcher:
    return Dispatcher(Registry([plugin.provider]), RequestStateCodec("s" * 40), page_size=page_size)


def ctx(era: Era = Era.HANDSHAKE, peer: Peer | None = None, **kw: Any) -> Context:
    version = "2026-07-28" if era is Era.STATELESS else "2025-11-25"
    kw.setdefault("client_capabilities", {"elicitation": {}, "sampling": {}, "roots": {}})
    if "scopes" in kw:
        kw["caller"] = Caller(scopes=kw.pop("scopes"))
    return Context(request_id=1, version=version, era=era, peer=peer or Peer(), **kw)


def call(d: Dispatcher, method: str, params: dict[str, Any] | None = None, c: Context | None = None,
         session: Session | None = None) -> dict[str, Any]:
    return asyncio.run(d.handle(Request(1, method, params or {}), c or ctx(), session))


@pytest.mark.parametrize(("requested", "answered"), [
    ("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"),
    ("2025-11-25", "2025-11-25"), ("1999-01-01", "2025-11-25"), (None, "2025-11-25"), ("2026-07-28", "2025-11-25"),
])
def test_initialize_negotiates_version(requested: str | None, answered: str) -> None:
    session = Session()
    result = call(dispatcher(), "initialize", {"protocolVersion": requested, "capabilities": {"sampling": {}}}, session=session)
    assert result["protocolVersion"] == answered
    assert session.version == answered and session.phase is Phase.OPEN
    assert session.client_capabilities == {"sampling": {}}
    assert result["serverInfo"]["name"] == "vpsmcp"


def test_new_session_accepts_only_initialize_and_ping() -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "tools/list", session=Session())
    assert info.value.code == INVALID_REQUEST
    assert call(dispatcher(), "ping", session=Session()) == {}


def test_open_session_refuses_second_initialize() -> None:
    session = Session(phase=Phase.OPEN)
    with pytest.raises(JsonRpcError):
        call(dispatcher(), "initialize", {"protocolVersion": "2025-11-25"}, session=session)


def test_discover_lists_versions_and_is_cacheable() -> None:
    result = call(dispatcher(), "server/discover", c=ctx(Era.STATELESS))
    assert "2026-07-28" in result["supportedVersions"] and "2025-11-25" in result["supportedVersions"]
    assert result["resultType"] == "complete" and result["ttlMs"] == 0 and result["cacheScope"] == "private"
    assert result["_meta"][SERVER_INFO_KEY]["name"] == "vpsmcp"


@pytest.mark.parametrize("method", ["initialize", "ping", "logging/setLevel", "resources/subscribe", "nope/x"])
def test_stateless_era_has_no_handshake_methods(method: str) -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), method, c=ctx(Era.STATELESS))
    assert info.value.code == METHOD_NOT_FOUND


def test_discover_is_not_a_handshake_method() -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "server/discover")
    assert info.value.code == METHOD_NOT_FOUND


def test_tools_list_describes_schema_from_signature_and_hides_unscoped() -> None:
    tools = {t["name"]: t for t in call(dispatcher(), "tools/list", c=ctx(scopes=frozenset({"mcp:read"})))["tools"]}
    assert "dangerous" not in tools
    assert tools["add"]["description"] == "Add two numbers."
    assert tools["add"]["inputSchema"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1}},
        "required": ["a"],
    }


def test_pagination_walks_every_tool_once() -> None:
    d = dispatcher(page_size=2)
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = call(d, "tools/list", params)
        names += [t["name"] for t in page["tools"]]
        if "nextCursor" not in page:
            break
        params = {"cursor": page["nextCursor"]}
    assert sorted(names) == sorted(t.name for t in plugin.provider.tools())


def test_bad_cursor_is_invalid_params() -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "tools/list", {"cursor": "not-a-cursor"})
    assert info.value.code == INVALID_PARAMS


def test_tool_call_returns_structured_and_text() -> None:
    result = call(dispatcher(), "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    assert result["structuredContent"] == {"sum": 5} and result["isError"] is False
    assert '"sum": 5' in result["content"][0]["text"]


@pytest.mark.parametrize(("arguments", "problem"), [
    ({}, "missing required argument(s): a"),
    ({"a": "two"}, "argument 'a': expected integer"),
    ({"a": 1, "c": 2}, "unknown argument(s): c"),
])
def test_bad_arguments_are_tool_errors_the_model_can_read(arguments: dict[str, Any], problem: str) -> None:
    result = call(dispatcher(), "tools/call", {"name": "add", "arguments": arguments})
    assert result["isError"] is True and problem in result["content"][0]["text"]


def test_tool_error_and_crash_are_results_not_protocol_errors() -> None:
    assert call(dispatcher(), "tools/call", {"name": "fails"})["content"][0]["text"] == "disk on fire"
    crashed = call(dispatcher(), "tools/call", {"name": "crashes"})
    assert crashed["isError"] is True and "oops" not in crashed["content"][0]["text"]


@pytest.mark.parametrize("name", ["nope", "dangerous"])
def test_unknown_or_unscoped_tool_is_invalid_params(name: str) -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "tools/call", {"name": name}, c=ctx(scopes=frozenset({"mcp:read"})))
    assert info.value.code == INVALID_PARAMS


def test_handshake_era_asks_the_client_directly() -> None:
    peer = Peer()
    peer.answers["elicitation/create"] = {"action": "accept", "content": {"v": "x"}}
    assert call(dispatcher(), "tools/call", {"name": "greet"}, c=ctx(peer=peer))["content"][0]["text"] == "x x"
    assert [m for m, _ in peer.sent] == ["elicitation/create", "elicitation/create"]


def test_stateless_era_asks_with_input_required_rounds() -> None:
    d = dispatcher()
    first = call(d, "tools/call", {"name": "greet"}, c=ctx(Era.STATELESS))
    assert first["resultType"] == "input_required"
    assert list(first["inputRequests"]) == ["first"]
    assert first["inputRequests"]["first"]["params"]["mode"] == "form"
    second = call(d, "tools/call", {"name": "greet", "requestState": first["requestState"],
                                    "inputResponses": {"first": {"action": "accept", "content": {"v": "a"}}}},
                  c=ctx(Era.STATELESS))
    assert list(second["inputRequests"]) == ["second"] and second["requestState"] != first["requestState"]
    third = call(d, "tools/call", {"name": "greet", "requestState": second["requestState"],
                                   "inputResponses": {"second": {"action": "accept", "content": {"v": "b"}}}},
                 c=ctx(Era.STATELESS))
    assert third["content"][0]["text"] == "a b" and third["resultType"] == "complete"


@pytest.mark.parametrize("state", ["v1.tampered", "garbage", 12])
def test_tampered_request_state_is_an_error(state: object) -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "tools/call", {"name": "greet", "requestState": state}, c=ctx(Era.STATELESS))
    assert info.value.code == INVALID_PARAMS


def test_request_state_is_bound_to_its_tool() -> None:
    d = dispatcher()
    state = call(d, "tools/call", {"name": "greet"}, c=ctx(Era.STATELESS))["requestState"]
    with pytest.raises(JsonRpcError):
        call(d, "tools/call", {"name": "needs_sampling", "requestState": state}, c=ctx(Era.STATELESS))


def test_missing_client_capability_is_error_32021() -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "tools/call", {"name": "needs_sampling"}, c=ctx(Era.STATELESS, client_capabilities={}))
    assert info.value.code == -32021
    assert info.value.data == {"requiredCapabilities": {"sampling": {}}}


def test_a_reader_returning_text_or_bytes_and_a_prompt_returning_text_are_valid_mcp() -> None:
    d = dispatcher()
    assert call(d, "resources/read", {"uri": "test://plain"})["contents"] == [{"uri": "test://plain", "text": "just text"}]
    assert call(d, "resources/read", {"uri": "test://bytes"})["contents"] == [{"uri": "test://bytes", "blob": "AAE="}]
    assert call(d, "prompts/get", {"name": "ask_plainly", "arguments": {"topic": "disks"}})["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Tell me about disks"}}]


def test_resources_read_static_and_template() -> None:
    d = dispatcher()
    assert call(d, "resources/read", {"uri": "test://static"})["contents"][0]["text"] == "static text"
    assert call(d, "resources/read", {"uri": "test://item/42"})["contents"][0]["text"] == "item 42"
    templates = call(d, "resources/templates/list")["resourceTemplates"]
    assert templates == [{"uriTemplate": "test://item/{id}", "name": "item", "_meta": {"io.vpsmcp/scope": "mcp:read"}}]


@pytest.mark.parametrize(("era", "code"), [(Era.HANDSHAKE, RESOURCE_NOT_FOUND), (Era.STATELESS, INVALID_PARAMS)])
def test_unknown_resource_error_code_depends_on_era(era: Era, code: int) -> None:
    with pytest.raises(JsonRpcError) as info:
        call(dispatcher(), "resources/read", {"uri": "test://missing"}, c=ctx(era))
    assert info.value.code == code and info.value.data == {"uri": "test://missing"}


def test_prompts_get_checks_required_arguments() -> None:
    d = dispatcher()
    assert call(d, "prompts/list")["prompts"][0]["arguments"] == [
        {"name": "topic", "description": "", "required": True},
        {"name": "tone", "description": "", "required": False},
    ]
    got = call(d, "prompts/get", {"name": "summarize", "arguments": {"topic": "logs"}})
    assert got["messages"][0]["content"]["text"] == "plain: logs"
    with pytest.raises(JsonRpcError, match="Missing required arguments: topic"):
        call(d, "prompts/get", {"name": "summarize", "arguments": {}})


def test_set_level_filters_log_notifications() -> None:
    session = Session(phase=Phase.OPEN)
    call(dispatcher(), "logging/setLevel", {"level": "warning"}, session=session)
    assert session.log_level == "warning"
    with pytest.raises(JsonRpcError):
        call(dispatcher(), "logging/setLevel", {"level": "loud"}, session=session)
    c = ctx(log_level="warning")
    assert not c.wants_log("info") and c.wants_log("error")
    assert not ctx(Era.STATELESS).wants_log("emergency")


def test_progress_only_with_a_token() -> None:
    peer = Peer()
    asyncio.run(ctx(peer=peer).progress(1, 2))
    asyncio.run(ctx(peer=peer, progress_token="t").progress(1, 2, "half"))
    assert peer.sent == [("notifications/progress", {"progressToken": "t", "progress": 1, "total": 2, "message": "half"})]


def test_completion_for_unknown_ref_type_is_invalid_params() -> None:
    with pytest.raises(JsonRpcError):
        call(dispatcher(), "completion/complete", {"ref": {"type": "ref/other"}, "argument": {"name": "a", "value": ""}})
    result = call(dispatcher(), "completion/complete", {"ref": {"type": "ref/prompt", "name": "summarize"},
                                                        "argument": {"name": "topic", "value": "l"}})
    assert result == {"completion": {"values": [], "total": 0, "hasMore": False}}


@plugin.prompt()
async def personal(ctx: Context) -> list[dict[str, Any]]:
    """Asks before rendering."""
    answer = await ctx.elicit("context?", {"type": "object"}, key="user_context")
    return [{"role": "user", "content": {"type": "text", "text": answer["content"]["c"]}}]


def test_prompts_can_ask_in_the_stateless_era() -> None:
    d = dispatcher()
    first = call(d, "prompts/get", {"name": "personal"}, c=ctx(Era.STATELESS))
    assert first["resultType"] == "input_required" and list(first["inputRequests"]) == ["user_context"]
    done = call(d, "prompts/get", {"name": "personal", "requestState": first["requestState"],
                                   "inputResponses": {"user_context": {"action": "accept", "content": {"c": "ctx"}}}},
                c=ctx(Era.STATELESS))
    assert done["messages"][0]["content"]["text"] == "ctx" and done["resultType"] == "complete"


class Recorder:
    """A ``DispatchObserver`` that keeps what it is told; ``broken`` makes it fail to record."""

    def __init__(self, broken: bool = False, refuse: str | None = None) -> None:
        self.told: list[Any] = []
        self.broken, self.refuse = broken, refuse

    def admit(self, request: Request) -> str | None:
        return self.refuse

    def answered(self, answer: Any) -> None:
        self.told.append(answer)
        if self.broken:
            from vpsmcp.errors import StateError
            raise StateError("the disk is full")


def observed(*observers: Recorder) -> Dispatcher:
    return Dispatcher(Registry([plugin.provider]), RequestStateCodec("s" * 40), observers=observers)


def test_every_request_ends_in_one_outcome_told_to_each_observer_in_order() -> None:
    from vpsmcp.protocol.outcomes import Outcome

    first, second = Recorder(), Recorder()
    d = observed(first, second)
    call(d, "tools/call", {"name": "add", "arguments": {"a": 1}})
    call(d, "tools/call", {"name": "fails"})
    call(d, "tools/call", {"name": "crashes"})  # a tool's bug is its error result, not the dispatcher's
    with pytest.raises(JsonRpcError):
        call(d, "tools/call", {"name": "made_up"})
    with pytest.raises(JsonRpcError):
        call(d, "no/such/method")
    call(d, "tools/call", {"name": "greet"}, ctx(Era.STATELESS))
    call(d, "ping")
    words = [(a.method, a.name, a.known, a.words) for a in first.told]
    assert words == [("tools/call", "add", True, "ok"), ("tools/call", "fails", True, "tool_error"),
                     ("tools/call", "crashes", True, "tool_error"),
                     ("tools/call", "made_up", False, f"refused {INVALID_PARAMS}"),
                     ("no/such/method", None, False, f"refused {METHOD_NOT_FOUND}"),
                     ("tools/call", "greet", True, "input_required"), ("ping", None, False, "ok")]
    assert first.told == second.told and first.told[1].detail == "disk on fire"
    assert {a.outcome for a in first.told} <= set(Outcome)


def test_a_call_one_observer_cannot_record_is_withheld_and_the_next_observer_hears_so() -> None:
    from vpsmcp.protocol.outcomes import Outcome

    audit, trace = Recorder(broken=True), Recorder()
    with pytest.raises(JsonRpcError) as info:
        call(observed(audit, trace), "tools/call", {"name": "add", "arguments": {"a": 1}})
    assert "its answer is withheld" in info.value.message and "the disk is full" in info.value.message
    assert audit.told[0].outcome is Outcome.OK
    assert trace.told[0].outcome is Outcome.REFUSED and trace.told[0].detail == info.value.message


def test_a_call_an_observer_refuses_does_not_run_and_is_told_as_refused() -> None:
    audit = Recorder(refuse="the audit log cannot be written")
    with pytest.raises(JsonRpcError) as info:
        call(observed(audit), "tools/call", {"name": "dangerous"})
    assert info.value.message == "Refused, not run: the audit log cannot be written"
    assert [a.words for a in audit.told] == ["refused -32603"]
