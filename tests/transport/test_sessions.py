"""The session store and outbound streams, without HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import Notification, Response
from vpsmcp.protocol.session import Phase
from vpsmcp.transport import saved_sessions, sessions
from vpsmcp.transport.endpoint import HeaderMap
from vpsmcp.transport.sessions import SessionStore
from vpsmcp.transport.streams import OutboundStream, parse_event_id

ALICE = Caller(client_id="alice", token_id="t1")
MALLORY = Caller(client_id="mallory", token_id="t2")


def test_session_is_bound_to_its_credential() -> None:
    store = SessionStore(60, 10)
    session = store.create(ALICE)
    assert store.get(session.id, ALICE) is session
    with pytest.raises(TransportError) as info:
        store.get(session.id, MALLORY)
    assert info.value.status == 404


def test_one_credential_cannot_fill_the_store_its_idlest_session_goes_first() -> None:
    store = SessionStore(60, 10, per_credential=3)
    alice = [store.create(ALICE) for _ in range(3)]
    alice[1].last_seen -= 50  # the longest idle
    mallory = store.create(MALLORY)
    fourth = store.create(ALICE)  # past Alice's cap: her idlest session ends, nobody else's
    with pytest.raises(TransportError) as gone:
        store.get(alice[1].id, ALICE)
    assert gone.value.status == 404
    assert {store.get(s.id, ALICE).id for s in (alice[0], alice[2], fourth)} == {alice[0].id, alice[2].id, fourth.id}
    assert store.get(mallory.id, MALLORY) is mallory and len(store) == 4


def test_a_credential_whose_sessions_are_all_being_read_gets_503() -> None:
    store = SessionStore(60, 10, per_credential=2)
    for session in (store.create(ALICE), store.create(ALICE)):
        session.readers = 1  # a GET stream is open on each
    with pytest.raises(TransportError) as full:
        store.create(ALICE)
    assert full.value.status == 503 and full.value.headers["Retry-After"] == "30"
    assert store.create(MALLORY).binding == MALLORY.binding


def test_one_client_with_many_grants_cannot_fill_the_store_either() -> None:
    store = SessionStore(60, 10, per_credential=3, per_client=4)
    grants = [Caller(client_id="alice", token_id=f"g{i}") for i in range(4)]
    held = [store.create(grant) for grant in grants]  # one session per grant: under each grant's cap
    held[2].last_seen -= 50
    mallory = store.create(MALLORY)
    fifth = store.create(Caller(client_id="alice", token_id="g9"))  # a new grant, past the client's cap
    with pytest.raises(TransportError) as gone:
        store.get(held[2].id, grants[2])
    assert gone.value.status == 404
    assert store.get(fifth.id, Caller(client_id="alice", token_id="g9")) is fifth
    assert store.get(mallory.id, MALLORY) is mallory and len(store) == 5
    for session in store.all():
        if session.client == "alice":
            session.readers = 1
    with pytest.raises(TransportError) as full:
        store.create(Caller(client_id="alice", token_id="g10"))
    assert full.value.status == 503 and "for this client" in full.value.message


def test_without_authentication_the_shared_anonymous_caller_has_no_cap_of_its_own() -> None:
    store = SessionStore(60, 10, per_credential=2)
    anonymous = [store.create(Caller()) for _ in range(5)]
    assert all(store.get(s.id, Caller()) is s for s in anonymous)


def test_closing_a_session_cancels_calls_and_fails_waiting_requests() -> None:
    async def scenario() -> None:
        store = SessionStore(60, 10)
        session = store.create(ALICE)
        running = asyncio.create_task(asyncio.sleep(10))
        session.running[1] = running
        waiting: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        session.waiting["q"] = waiting
        store.remove(session.id)
        await asyncio.sleep(0)
        assert running.cancelled()
        with pytest.raises(JsonRpcError, match="session closed"):
            waiting.result()
        assert session.standalone.closed

    asyncio.run(scenario())


def test_only_kept_streams_are_resumable_and_their_number_is_capped() -> None:
    session = SessionStore(60, 10).create(ALICE)
    streams = [OutboundStream() for _ in range(sessions.MAX_STREAMS + 5)]
    for stream in streams:
        session.keep(stream)
    assert len(session.streams) == sessions.MAX_STREAMS
    assert session.find_stream(streams[0].stream_id) is None
    assert session.find_stream(streams[-1].stream_id) is streams[-1]


def test_finished_streams_age_from_when_they_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    session = SessionStore(60, 10).create(ALICE)
    stream = OutboundStream(pending={1})
    session.keep(stream)
    stream.put(Response(1, {}))
    assert stream.done and stream.finished_at is not None
    session.sweep_streams(stream.finished_at + sessions.DONE_STREAM_KEEP - 1)
    assert session.streams
    session.sweep_streams(stream.finished_at + sessions.DONE_STREAM_KEEP + 1)
    assert not session.streams


def test_stream_replays_after_a_sequence_and_ends_when_done() -> None:
    async def scenario() -> list[int]:
        stream = OutboundStream(pending={1})
        stream.put(Notification("a"))
        stream.put(Notification("b"))
        stream.put(Response(1, {}))
        return [e.seq async for e in stream.read(1) if e is not None]

    assert asyncio.run(scenario()) == [2, 3]


def test_idle_reader_gets_heartbeats() -> None:
    async def scenario() -> list[object]:
        stream = OutboundStream(standalone=True)
        seen: list[object] = []
        async for event in stream.read(0, 0.01):
            seen.append(event)
            if len(seen) == 2:
                stream.close()
        return seen

    assert asyncio.run(scenario()) == [None, None]


@pytest.mark.parametrize(("value", "parsed"), [("12/3", ("12", 3)), ("x", None), ("/3", None), ("1/a", None)])
def test_event_ids(value: str, parsed: tuple[str, int] | None) -> None:
    assert parse_event_id(value) == parsed


def test_header_map_lowercases_and_notes_repeats() -> None:
    headers = HeaderMap.of([(b"Mcp-Method", b"tools/list"), (b"MCP-METHOD", b"x"), (b"Host", b"h")])
    assert headers["mcp-method"] == "tools/list" and headers["host"] == "h"
    assert headers.repeated == frozenset({"mcp-method"})


def test_a_kept_session_is_served_again_only_to_its_credential_and_only_until_it_would_have_expired(
        tmp_path: Path) -> None:
    old = SessionStore(60, 10)
    session = old.create(ALICE, survives_restart=True)
    session.protocol.advance("initialize")
    session.protocol.log_level = "debug"
    idle = old.create(ALICE, survives_restart=True)
    idle.protocol.advance("initialize")
    idle.last_seen -= 55
    old.create(ALICE)  # a WebSocket or HTTP+SSE session: its connection is its session, nothing to keep
    saved_sessions.save(tmp_path, old.keep())
    later = time.time() + 10  # the server was down 10 s: the 55 s idle session has expired meanwhile
    new = SessionStore(60, 10)
    new.saved = saved_sessions.load(tmp_path, 60, now=later)
    assert len(new.saved) == 1 and not (tmp_path / saved_sessions.FILE).exists()
    with pytest.raises(TransportError) as foreign:
        new.get(session.id, MALLORY)
    assert foreign.value.status == 404
    revived = new.get(session.id, ALICE)
    assert revived.protocol.phase is Phase.OPEN and revived.protocol.log_level == "debug"
    assert new.get(session.id, ALICE) is revived


def test_a_kept_sessions_file_that_is_not_ours_is_ignored_with_one_line(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / saved_sessions.FILE).write_text('{"format": 1, "sessions": {"x": {"binding": 3}}}')
    assert saved_sessions.load(tmp_path, 60) == {}
    assert "is not what vpsmcp writes" in caplog.text
