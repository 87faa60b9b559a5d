"""The stores instances share (sqlite, redis): several connections on one store; sqlite moving in and back.

``connect()`` gives another connection to one store, as another process (or,
for Redis, another machine) has: two ``SqliteStore`` objects on one file, or
two ``RedisStore`` objects on Debian's redis-server under one key prefix. The
tests that need real processes run ``vpsmcp serve`` twice on one state
directory and the CLI beside them (test_redis_store.py: on two).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.helpers.oauth_flow import (
    authorize_params,
    code_from,
    consent_form,
    consent_page,
    exchange,
    grant,
    password_from,
    pkce_pair,
    refresh,
    register,
    submit,
)
from tests.helpers.oauth_server import call_tool, oauth_server, serve_refused, tool_text
from tests.helpers.support import clean_env
from tests.helpers.trace_support import MCP_HEADERS
from vpsmcp.config.sections import StoreConfig
from vpsmcp.errors import StateError
from vpsmcp.oauth.file_store import FileStore
from vpsmcp.oauth.records import Client, Family, digest
from vpsmcp.oauth.redis_store import RedisStore
from vpsmcp.oauth.serialized import Serialized
from vpsmcp.oauth.sqlite_store import SqliteStore
from vpsmcp.oauth.store import move, open_store

PUBLIC_URL = "http://localhost:8001"
Connect = Callable[[], Any]  # another connection to the test's one store


@pytest.fixture(params=["sqlite", "redis"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Connect:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "db", create=True)
    url, prefix = request.getfixturevalue("redis_url"), f"t{uuid.uuid4().hex[:12]}"
    return lambda: RedisStore(url, prefix)


def family(family_id: str, client_id: str = "c1", **tokens: Any) -> Family:
    now = time.time()
    return Family(family_id, client_id, ("mcp:read",), "https://x/mcp", now, now + 3600, **tokens)


def test_a_revocation_by_another_process_counts_from_the_next_lookup(connect: Connect) -> None:
    served, cli = connect(), connect()
    served.save_family(family("f1", access={digest("t1"): time.time() + 60}))
    seen = served.by_access(digest("t1"))
    assert seen is not None and seen.revoked_at is None  # now cached by the server
    assert cli.revoke(lambda f: f.id == "f1") == 1
    again = served.by_access(digest("t1"))
    assert again is not None and again.revoked_at is not None, "the cache must not outlive another's commit"


def test_a_token_another_process_issued_is_found_at_once(connect: Connect) -> None:
    served, cli = connect(), connect()
    assert served.by_access(digest("t2")) is None
    cli.save_family(family("f2", access={digest("t2"): time.time() + 60}))
    found = served.by_access(digest("t2"))
    assert found is not None and found.id == "f2"


def test_a_rolled_back_transaction_leaves_memory_as_the_store_has_it(connect: Connect) -> None:
    store = connect()
    store.save_family(family("f3", live={digest("r1"): time.time()}))
    with pytest.raises(RuntimeError), store.transaction():
        held = store.by_refresh(digest("r1"))
        assert held is not None
        held.live, held.retired = {}, {digest("r1"): (time.time(), False)}  # rotated in memory …
        raise RuntimeError("… then the request failed")
    after = store.by_refresh(digest("r1"))
    assert after is not None and digest("r1") in after.live


def test_one_write_lock_serialises_two_processes_transactions(connect: Connect) -> None:
    """What a token request relies on: inside a transaction, nobody else commits."""
    first, second = connect(), connect()
    first.save_family(family("f4"))
    order: list[str] = []
    def write() -> None:
        second.save_family(family("f5"))
        order.append("second")

    with first.transaction():
        other = threading.Thread(target=write)
        other.start()
        time.sleep(0.3)
        order.append("first")
    other.join(10)
    assert order == ["first", "second"]


def test_last_use_times_never_overwrite_another_process_revocation(connect: Connect) -> None:
    served, cli = connect(), connect()
    served.save_family(family("f6", access={digest("t6"): time.time() + 60}))
    held = served.by_access(digest("t6"))
    assert held is not None
    served.touch(held, time.time())
    cli.revoke(lambda f: f.id == "f6")
    served.flush()
    stored = connect().family("f6")
    assert stored is not None and stored.revoked_at is not None and stored.last_used_at is not None


def test_a_database_from_a_newer_vpsmcp_is_refused_by_name(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db", create=True)._db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="written by a newer vpsmcp"):
        SqliteStore(tmp_path / "db")


def test_migrate_moves_everything_both_ways_and_keeps_the_old_files(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "oauth.json")
    files.add_client(Client("c1", ("https://app.example/cb",), name="app"))
    files.save_family(family("f7", access={digest("a7"): time.time() + 60}, live={digest("r7"): time.time()},
                             retired={digest("old7"): (time.time(), True)}))
    before = json.loads((tmp_path / "oauth.json").read_text())
    assert "moved 1 client(s), 1 grant(s)" in move(tmp_path, "sqlite", StoreConfig())
    database = SqliteStore(tmp_path / "oauth.sqlite3")
    moved = database.by_refresh(digest("old7"))
    assert moved is not None and moved.retired[digest("old7")][1] is True and database.by_access(digest("a7"))
    assert (tmp_path / "oauth.json.migrated").exists() and not (tmp_path / "oauth.json").exists()
    database.close()
    with pytest.raises(StateError, match="exists already"):
        move(tmp_path, "sqlite", StoreConfig())
    move(tmp_path, "files", StoreConfig())
    back = json.loads((tmp_path / "oauth.json").read_text())
    assert back["clients"] == before["clients"] and back["families"] == before["families"]
    assert (tmp_path / "oauth.sqlite3.migrated").exists() and not (tmp_path / "oauth.sqlite3").exists()


def test_the_cli_keeps_to_a_file_store_until_serve_moves_it(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "oauth.json")
    files.add_client(Client("c1", ("https://app.example/cb",)))
    assert isinstance(cast(Serialized, open_store(StoreConfig(), tmp_path)).inner, FileStore)  # the version before
    moved = open_store(StoreConfig(), tmp_path, move_files=True)
    assert isinstance(moved, SqliteStore) and moved.client("c1") is not None


def run_cli(tmp: Path, state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vpsmcp", *argv, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=30, env=clean_env(tmp), cwd=tmp)


def test_a_file_store_moves_in_at_start_and_every_token_still_works(tmp_path: Path) -> None:
    files = '\n[store]\nbackend = "files"'
    with oauth_server(tmp_path, files, "--public-url", PUBLIC_URL) as old, httpx.Client(timeout=10) as http:
        client, token = grant(http, old.url, password_from(old.output()))
    state = tmp_path / "state"
    assert (state / "oauth.json").exists() and not (state / "oauth.sqlite3").exists()
    with oauth_server(tmp_path, "", "--public-url", PUBLIC_URL) as new, httpx.Client(timeout=10) as http:
        assert tool_text(call_tool(new.url, token["access_token"], http=http)) == "hi"
        assert refresh(http, new.url, client, token["refresh_token"]).status_code == 200
        new.wait_for_line("the OAuth store moved from oauth.json into oauth.sqlite3")
        refused = run_cli(tmp_path, state, "store", "migrate", "--to", "files")
    assert refused.returncode == 1 and "vpsmcp is running" in refused.stderr, refused.stderr
    assert (state / "oauth.json.migrated").exists() and (state / "oauth.sqlite3").exists()
    back = run_cli(tmp_path, state, "store", "migrate", "--to", "files")
    assert back.returncode == 0 and 'set [store] backend = "files"' in back.stdout, back.stdout + back.stderr
    assert "Traceback" not in new.output() + back.stderr


def test_two_instances_share_logins_and_refuse_a_replay_whichever_sees_it(tmp_path: Path) -> None:
    """Log in through one, refresh through the other, replay the spent refresh token on the first."""
    one = oauth_server(tmp_path, "refresh_grace = 0.01", "--public-url", PUBLIC_URL, "--instance", "one").start()
    two = oauth_server(tmp_path, "refresh_grace = 0.01", "--public-url", PUBLIC_URL, "--instance", "two").start()
    try:
        with httpx.Client(timeout=10) as http:
            client, first = grant(http, one.url, password_from(one.output()))  # codes live in the instance
            rotated = refresh(http, two.url, client, first["refresh_token"])
            assert rotated.status_code == 200, rotated.text
            second = rotated.json()
            assert tool_text(call_tool(one.url, second["access_token"], http=http)) == "hi"
            time.sleep(0.05)  # past the grace window
            replayed = refresh(http, one.url, client, first["refresh_token"])
            assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant", replayed.text
            assert call_tool(two.url, second["access_token"], http=http).status_code == 401, "reuse revokes the grant"
            assert refresh(http, two.url, client, second["refresh_token"]).status_code == 400
            assert tool_text(call_tool(two.url, (grant(http, two.url, password_from(one.output()))[1])["access_token"],
                                       http=http)) == "hi"
    finally:
        one.stop()
        two.stop()
    assert "Traceback" not in one.output() + two.output()
    state = tmp_path / "state"
    audit = run_cli(tmp_path, state, "audit", "--json")
    assert [json.loads(line)["instance"] for line in audit.stdout.splitlines()] == ["one", "two"], audit.stdout
    verified = run_cli(tmp_path, state, "audit", "--verify")
    assert verified.returncode == 0, verified.stdout
    assert "audit log of instance one ok: 1 records" in verified.stdout
    assert "audit log of instance two ok: 1 records" in verified.stdout
    traced = run_cli(tmp_path, state, "logs", "--instance", "two")
    assert traced.returncode == 0 and "tools/call echo ok" in traced.stdout, traced.stdout + traced.stderr


def test_a_second_instance_without_a_name_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with oauth_server(tmp_path) as first:
        second = serve_refused(tmp_path, "--config", str(tmp_path / "vpsmcp.toml"))
        assert httpx.get(first.url + "/healthz").status_code == 200  # the first goes on
    assert second.returncode != 0 and "Traceback" not in second.stderr, second.stderr
    assert "another vpsmcp is writing the audit log" in second.stderr and "--instance NAME" in second.stderr


def test_a_client_whose_last_grant_is_swept_counts_as_unused_again(connect: Connect) -> None:
    store = connect()
    store.add_client(Client("c1", ("https://app.example/cb",)))
    store.add_client(Client("c2", ("https://app.example/cb",)))
    store.save_family(family("g1", "c1"))
    store.save_family(family("g2", "c2"))
    store.save_family(family("g3", "c2"))
    assert [c.client_id for c in store.unused_clients()] == []
    store.drop([], ["g1", "g2"])
    assert [c.client_id for c in store.unused_clients()] == ["c1"]  # c2 still holds g3


def mcp_headers(token: str, session_id: str = "") -> dict[str, str]:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    if session_id:
        headers |= {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
    return headers


def test_named_instances_share_codes_and_sessions(tmp_path: Path) -> None:
    """The owner approves on one, the code is exchanged on the other; a session made on one is served by
    the other, and ended on it for both. What a balancer spreading requests needs."""

    one = oauth_server(tmp_path, "", "--public-url", PUBLIC_URL, "--instance", "one").start()
    two = oauth_server(tmp_path, "", "--public-url", PUBLIC_URL, "--instance", "two").start()
    try:
        with httpx.Client(timeout=10) as http:
            client = register(http, one.url)
            verifier, challenge = pkce_pair()
            page = consent_page(http, one.url, authorize_params(client, challenge, None))
            answer = submit(http, one.url, consent_form(page), password_from(one.output()),
                            ["mcp:read", "vps:exec"])
            code = code_from(answer)
            token = exchange(http, two.url, client, code, verifier)  # approved on one, exchanged on two
            assert token.status_code == 200, token.text
            bearer = token.json()["access_token"]
            init = http.post(two.url + "/mcp", headers=mcp_headers(bearer), json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert init.status_code == 200, init.text
            session_id = init.headers["mcp-session-id"]
            assert http.post(one.url + "/mcp", headers=mcp_headers(bearer, session_id),
                             json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
            called = http.post(one.url + "/mcp", headers=mcp_headers(bearer, session_id), json={
                "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}})
            assert called.status_code == 200 and called.json()["result"]["content"][0]["text"] == "x", called.text
            assert http.delete(two.url + "/mcp", headers=mcp_headers(bearer, session_id)).status_code == 200
            gone = http.post(one.url + "/mcp", headers=mcp_headers(bearer, session_id),
                             json={"jsonrpc": "2.0", "id": 3, "method": "ping"})
            assert gone.status_code == 404, "ended on two, so one must not bring it back from the shelf"
            assert exchange(http, one.url, client, code, verifier).status_code == 400, "spent on two: spent for one"
            revoked = http.post(two.url + "/mcp", headers=mcp_headers(bearer), json={
                "jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert revoked.status_code == 401, "the replay on one revoked what the code gave on two"
    finally:
        one.stop()
        two.stop()
    assert "Traceback" not in one.output() + two.output()


def test_a_store_that_cannot_be_read_is_503_for_the_request_not_a_refused_token(tmp_path: Path) -> None:
    from vpsmcp.errors import TokenRefused, TransportError
    from vpsmcp.oauth.bearer import BearerGate
    from vpsmcp.oauth.resources import Resources

    store = SqliteStore(tmp_path / "db", create=True)
    store.save_family(family("f9", access={digest("t9"): time.time() + 60}))
    gate = BearerGate(store, Resources.of("https://x"), lambda: ["mcp:read"])
    assert gate.admit({"authorization": "Bearer t9"}, "/mcp").token_id == "f9"
    store._db.close()  # as good as a database gone away under the server
    with pytest.raises(TransportError) as info:
        gate.admit({"authorization": "Bearer t0"}, "/mcp")
    assert info.value.status == 503 and info.value.headers["Retry-After"] == "5"
    assert not isinstance(info.value, TokenRefused)


def test_failed_logins_brake_on_every_instance(connect: Connect) -> None:
    from vpsmcp.oauth.owner import FREE_ATTEMPTS, SharedLoginLimiter

    one = SharedLoginLimiter(connect())
    two = SharedLoginLimiter(connect())
    for _ in range(FREE_ATTEMPTS):
        assert two.wait("198.51.100.4") == 0.0
        one.failed("198.51.100.4")
    assert two.wait("198.51.100.4") > 0.0, "guesses spread over instances brake as one"
    assert two.wait("198.51.100.5") == 0.0
    two.succeeded("198.51.100.4")
    assert one.wait("198.51.100.4") == 0.0


def test_a_shared_session_carries_its_log_level_and_subscriptions_to_another_instance(connect: Connect) -> None:
    from vpsmcp.protocol.caller import Caller
    from vpsmcp.transport.sessions import SessionStore

    caller = Caller(client_id="c1", token_id="f1", scopes=frozenset({"mcp:read"}))
    one = SessionStore(60, 10, shelf=connect())
    two = SessionStore(60, 10, shelf=connect())
    session = one.create(caller, survives_restart=True)
    session.protocol.version = "2025-11-25"
    one.share(session)
    session.protocol.log_level = "debug"
    session.protocol.subscriptions.add("test://watched")
    one.changed(session)
    one.get(session.id, caller)  # the next request: the change is made by now, and goes to the shelf
    there = two.get(session.id, caller)
    assert (there.protocol.log_level, there.protocol.subscriptions) == ("debug", {"test://watched"})


@pytest.mark.parametrize("name", ["Upper", "has space", "-dash-first", "x" * 33, "../up"])
def test_a_bad_instance_name_stops_serve_naming_the_setting(tmp_path: Path, name: str) -> None:
    refused = serve_refused(tmp_path, f"--instance={name}")
    assert refused.returncode == 2 and "server.instance" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "state" / "instances").exists()


def test_a_metadata_document_one_instance_fetched_serves_another_whose_fetch_fails(connect: Connect) -> None:
    """Approved on one instance, exchanged on another that cannot reach the document's host now."""
    import asyncio

    from vpsmcp.oauth.cimd import CimdResolver, FetchFailed

    url = "https://app.example/oauth/client.json"

    class Fetched(CimdResolver):
        async def fetch(self, url: str) -> tuple[Client, float]:
            return Client(url, ("https://app.example/cb",), "none", None, "the app", "cimd"), 3600.0

    class Unreachable(CimdResolver):
        async def fetch(self, url: str) -> tuple[Client, float]:
            raise FetchFailed(url, "no answer within 5 s (timeout)")

    assert asyncio.run(Fetched(shelf=connect()).resolve(url)).name == "the app"
    other = Unreachable(shelf=connect())
    assert asyncio.run(other.resolve(url)).name == "the app"
    assert Unreachable(shelf=connect()).cached(url) is not None, "authlib's lookup finds it too"
    with pytest.raises(FetchFailed):
        asyncio.run(Unreachable().resolve(url))  # without the shelf, nothing to fall back on
    stale = connect()
    stale.put_document(url, Client(url, ("https://app.example/cb",), name="stale").to_json(), time.time() - 60)
    assert asyncio.run(Unreachable(shelf=connect()).resolve(url)).name == "stale", "past its time, it serves a while"
