"""The gateway's pieces with plain values: the SSE reader, call routing, the provider, the registry, a session.

The session runs over an in-memory link (``Pipe``): what the gateway sends
is recorded, and the test plays the upstream by delivering messages. Real
processes and sockets are in test_gateway_upstreams.py and test_gateway_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsmcp import scopes
from vpsmcp.config.sections import UpstreamConfig
from vpsmcp.gateway.calls import Calls
from vpsmcp.gateway.catalog import Catalog
from vpsmcp.gateway.link import Wire
from vpsmcp.gateway.provider import UpstreamProvider
from vpsmcp.gateway.session import UpstreamSession
from vpsmcp.gateway.sse_reader import Event, SseReader
from vpsmcp.gateway.supervisor import CALLERS, MOVES, State
from vpsmcp.protocol.context import Context, InputRequired
from vpsmcp.protocol.jsonrpc import ErrorResponse, Message, Notification, Request, Response
from vpsmcp.protocol.registry import Registry, registry_scopes
from vpsmcp.protocol.versions import Era

# --- SSE reader ----------------------------------------------------------------------


def test_sse_events_are_read_across_any_line_ending() -> None:
    reader = SseReader()
    events = reader.feed(b": hi\r\nevent: endpoint\rdata: /m?s=1\n\nid: 7\ndata: a\ndata: b\r\n\r\n")
    assert events == [Event("endpoint", "/m?s=1", None), Event("message", "a\nb", "7")]


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_sse_reader_gives_the_same_events_however_the_bytes_are_chunked(data: bytes, cuts: list[int]) -> None:
    whole = SseReader().feed(data)
    reader, pieces, at = SseReader(), list[bytes](), 0
    for cut in cuts:
        pieces.append(data[at : at + cut])
        at += cut
    pieces.append(data[at:])
    chunked = [event for piece in pieces for event in reader.feed(piece)]
    assert chunked == whole
    assert all(isinstance(event, Event) for event in whole)


# --- routing ---------------------------------------------------------------------------


def ctx(era: Era = Era.HANDSHAKE, **kwargs: Any) -> Context:
    return Context(**{"request_id": 1, "version": "2025-11-25", "era": era, "peer": NoPeer(), **kwargs})


class NoPeer:
    async def notify(self, method: str, params: dict[str, Any]) -> None:
        pass

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"answered": method}


def test_messages_find_their_call_by_id_progress_token_or_stream_and_never_by_guessing() -> None:
    calls = Calls()
    listing = calls.open("tools/list", None)  # the gateway's own: never asked anything
    first = calls.open("tools/call", ctx())
    assert calls.owner(Response(first.id, {}), None) is first
    assert calls.owner(Notification("notifications/progress", {"progressToken": listing.id}), None) is listing
    assert calls.owner(Request("q", "elicitation/create", {}), None) is first  # the only client call
    second = calls.open("tools/call", ctx())
    assert calls.owner(Request("q", "elicitation/create", {}), None) is None  # two callers: refuse, never guess
    assert calls.owner(Notification("notifications/message", {}), second.id) is second  # on second's stream
    assert calls.owner(Response("not-ours", {}), None) is None


def test_the_supervisor_table_covers_every_state() -> None:
    assert set(CALLERS) == set(State)
    assert all((state, State.STOPPED) in MOVES for state in State)
    assert (State.RESTARTING, State.READY) not in MOVES, "a restart must initialize before serving"


# --- provider and registry -------------------------------------------------------------

TOOLS = ({"name": "read", "inputSchema": {"type": "object"}}, {"name": "write"}, {"name": "write_all"}, {"bad": 1})


def provider(**settings: Any) -> UpstreamProvider:
    config = UpstreamConfig(argv=("unused",), **settings)
    made = UpstreamProvider("fs", config, lambda wire: pytest.fail("no link may be made"))
    made.upstream.catalog = Catalog(tools=TOOLS, prompts=({"name": "hello", "arguments": [{"name": "who", "required": True}]},))
    made.upstream.listed = True
    return made


def test_tools_are_prefixed_filtered_and_scoped_to_their_upstream() -> None:
    offered = provider(deny=("write_*",))
    assert [t.name for t in offered.tools()] == ["fs__read", "fs__write"]
    assert {t.scope for t in offered.tools()} == {scopes.upstream("fs")}
    assert [t.name for t in provider(prefix="", allow=("write*",)).tools()] == ["write", "write_all"]
    [prompt] = provider(prefix="{name}.").prompts()
    assert prompt.name == "fs.hello" and prompt.arguments[0].required and prompt.scope == "upstream:fs"


def test_the_registry_follows_a_provider_whose_lists_change_and_tells_its_watchers() -> None:
    changing = provider()
    registry = Registry([changing])
    heard: list[frozenset[str]] = []
    registry.watch(heard.append)
    assert registry.tool("fs__extra") is None
    changing.upstream.catalog = Catalog(tools=(*TOOLS, {"name": "extra"}))
    changing.upstream.on_change(frozenset({"tools"}))
    assert registry.tool("fs__extra") is not None and heard == [frozenset({"tools"})]


def test_an_upstream_scope_is_offered_before_its_upstream_has_listed_anything() -> None:
    lazy = UpstreamProvider("git", UpstreamConfig(argv=("git-mcp",)), lambda wire: pytest.fail("not started"))
    assert "upstream:git" in registry_scopes(Registry([lazy]))


# --- a session over an in-memory link ----------------------------------------------------


class Pipe:
    """A link whose far end is the test."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.sent: list[Message] = []

    async def open(self) -> None:
        pass

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        pass

    def describe(self) -> str:
        return "pipe"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def run(work: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(work, 5))


def test_concurrent_calls_get_their_own_answers_whatever_order_they_come_in() -> None:
    async def scenario() -> None:
        session = UpstreamSession("up", Pipe, (), lambda kind: None)
        pipe = session.link
        assert isinstance(pipe, Pipe)
        one = asyncio.create_task(session.request("tools/call", {"name": "a"}, ctx(request_id="same")))
        two = asyncio.create_task(session.request("tools/call", {"name": "b"}, ctx(request_id="same")))
        await settle()
        first, second = pipe.sent
        assert isinstance(first, Request) and isinstance(second, Request) and first.id != second.id
        pipe.wire.deliver(Response(second.id, {"for": "b"}), None)
        pipe.wire.deliver(Response(first.id, {"for": "a"}), None)
        assert await one == {"for": "a"} and await two == {"for": "b"}

    run(scenario())


def test_a_stateless_callers_question_is_refused_upstream_and_the_call_cancelled_until_the_retry() -> None:
    async def scenario() -> None:
        session = UpstreamSession("up", Pipe, ("elicitation",), lambda kind: None)
        pipe = session.link
        assert isinstance(pipe, Pipe)
        caller = ctx(Era.STATELESS, client_capabilities={"elicitation": {}})
        call = asyncio.create_task(session.request("tools/call", {"name": "greet"}, caller))
        await settle()
        [sent] = pipe.sent
        assert isinstance(sent, Request)
        pipe.wire.deliver(Request("u1", "elicitation/create", {"message": "Name?", "requestedSchema": {}}), None)
        with pytest.raises(InputRequired) as asked:
            await call
        assert asked.value.requests == {
            "elicitation/create#0": {"method": "elicitation/create",
                                     "params": {"mode": "form", "message": "Name?", "requestedSchema": {}}}
        }
        await settle()
        refusal, cancelled = pipe.sent[1:]
        assert isinstance(refusal, ErrorResponse) and refusal.id == "u1"
        assert cancelled == Notification("notifications/cancelled", {"requestId": sent.id, "reason": "cancelled by the caller"})

    run(scenario())


def test_a_cancelled_caller_cancels_the_upstream_call() -> None:
    async def scenario() -> None:
        session = UpstreamSession("up", Pipe, (), lambda kind: None)
        pipe = session.link
        assert isinstance(pipe, Pipe)
        call = asyncio.create_task(session.request("tools/call", {"name": "slow"}, ctx()))
        await settle()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await settle()
        sent, cancelled = pipe.sent
        assert isinstance(sent, Request) and isinstance(cancelled, Notification)
        assert cancelled.params["requestId"] == sent.id

    run(scenario())
