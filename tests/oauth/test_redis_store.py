"""The redis backend with real parts: Debian's redis-server, and ``vpsmcp serve`` processes that share it.

Two servers with state directories of their own stand for two machines: all
they share is the Redis server. A restart of Redis during traffic must cost
503s while it is down and nothing after; a server that cannot reach it must
not start, and say why in one line without the password.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.oauth_flow import (
    Registered,
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
from tests.helpers.redis_support import RedisServer
from tests.helpers.support import ServerProcess, clean_env
from tests.helpers.trace_support import MCP_HEADERS
from vpsmcp.config.sections import StoreConfig
from vpsmcp.errors import StateError
from vpsmcp.oauth.file_store import FileStore
from vpsmcp.oauth.records import Client, Family, digest
from vpsmcp.oauth.redis_store import RedisStore
from vpsmcp.oauth.store import move

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://localhost:8001"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def store_lines(url: str, prefix: str) -> str:
    return f'\n[store]\nbackend = "redis"\nurl = "{url}"\nprefix = "{prefix}"'


def machine(tmp: Path, url: str, prefix: str, name: str, auth: str = "") -> ServerProcess:
    """A ``vpsmcp serve`` with a state directory of its own (another machine), on the shared Redis."""
    (tmp / name).mkdir()
    return oauth_server(tmp / name, auth + store_lines(url, prefix), "--public-url", PUBLIC_URL,
                        "--instance", name).start()


def session_headers(token: str, session_id: str = "") -> dict[str, str]:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    if session_id:
        headers |= {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
    return headers


def test_two_machines_share_logins_codes_and_sessions_and_refuse_replays(tmp_path: Path, redis_url: str) -> None:
    prefix = f"m{uuid.uuid4().hex[:8]}"
    one = machine(tmp_path, redis_url, prefix, "one", "refresh_grace = 0.01")
    two = machine(tmp_path, redis_url, prefix, "two", "refresh_grace = 0.01")
    try:
        with httpx.Client(timeout=10) as http:
            client = register(http, one.url)
            verifier, challenge = pkce_pair()
            page = consent_page(http, one.url, authorize_params(client, challenge, None))
            code = code_from(submit(http, one.url, consent_form(page), password_from(one.output()), ["mcp:read"]))
            token = exchange(http, two.url, client, code, verifier)  # approved on one, exchanged on two
            assert token.status_code == 200, token.text
            first = token.json()
            assert tool_text(call_tool(one.url, first["access_token"], http=http)) == "hi"
            rotated = refresh(http, one.url, client, first["refresh_token"])
            assert rotated.status_code == 200, rotated.text
            second = rotated.json()

            init = http.post(two.url + "/mcp", headers=session_headers(second["access_token"]), json=INITIALIZE)
            session_id = init.headers["mcp-session-id"]
            called = http.post(one.url + "/mcp", headers=session_headers(second["access_token"], session_id), json={
                "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}})
            assert called.status_code == 200 and called.json()["result"]["content"][0]["text"] == "x", called.text
            assert http.delete(one.url + "/mcp", headers=session_headers(second["access_token"], session_id)).status_code == 200
            gone = http.post(two.url + "/mcp", headers=session_headers(second["access_token"], session_id),
                             json={"jsonrpc": "2.0", "id": 3, "method": "ping"})
            assert gone.status_code == 404, "ended on one: ended for two"

            time.sleep(0.05)  # past the grace window
            replayed = refresh(http, two.url, client, first["refresh_token"])
            assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant", replayed.text
            assert call_tool(one.url, second["access_token"], http=http).status_code == 401, "reuse revokes the grant"

            client2 = register(http, two.url)
            verifier, challenge = pkce_pair()
            page = consent_page(http, two.url, authorize_params(client2, challenge, None))
            code = code_from(submit(http, two.url, consent_form(page), password_from(two.output()), ["mcp:read"]))
            assert exchange(http, one.url, client2, code, verifier).status_code == 200
            assert exchange(http, two.url, client2, code, verifier).status_code == 400, "spent on one: spent for two"
    finally:
        one.stop()
        two.stop()
    assert "Traceback" not in one.output() + two.output()
    assert not (tmp_path / "one" / "state" / "oauth.sqlite3").exists(), "nothing of the store on the machine"


class Traffic:
    """Clients calling a tool and rotating their refresh tokens until told to stop; every status they got."""

    def __init__(self, url: str, grants: list[tuple[Registered, dict[str, Any]]]) -> None:
        self.url, self.grants = url, list(grants)
        self.statuses: list[tuple[float, int, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(grants))]

    def _run(self, i: int) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                client, token = self.grants[i]
                called = call_tool(self.url, token["access_token"], http=http)
                self.statuses.append((time.monotonic(), called.status_code, called.headers.get("retry-after", "")))
                answer = refresh(http, self.url, client, token["refresh_token"])
                self.statuses.append((time.monotonic(), answer.status_code, answer.headers.get("retry-after", "")))
                if answer.status_code == 200:
                    self.grants[i] = (client, answer.json())
                time.sleep(0.02)


def test_redis_restarted_during_traffic_is_503_meanwhile_and_the_service_resumes_by_itself(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis_server:
        server = oauth_server(tmp_path, store_lines(redis_server.url, "r"), "--public-url", PUBLIC_URL).start()
        try:
            with httpx.Client(timeout=10) as http:
                grants = [grant(http, server.url, password_from(server.output())) for _ in range(4)]
            traffic = Traffic(server.url, grants)
            for thread in traffic.threads:
                thread.start()
            time.sleep(2)
            down = time.monotonic()
            redis_server.stop()
            time.sleep(3)
            up = time.monotonic()
            redis_server.start()
            time.sleep(3)
            traffic.stop.set()
            for thread in traffic.threads:
                thread.join(15)
            statuses = {status for _, status, _ in traffic.statuses}
            assert statuses <= {200, 503}, sorted(statuses)
            outage = [(at, retry) for at, status, retry in traffic.statuses if status == 503]
            assert outage and all(down <= at <= up + 2.5 and retry.isdigit() for at, retry in outage), outage
            after = [status for at, status, _ in traffic.statuses if at > up + 2.5]
            assert after and set(after) == {200}, "the service resumes by itself"
            with httpx.Client(timeout=10) as http:
                for client, token in traffic.grants:  # nothing half-written: each client's latest works
                    assert tool_text(call_tool(server.url, token["access_token"], http=http)) == "hi"
                    assert refresh(http, server.url, client, token["refresh_token"]).status_code == 200
        finally:
            server.stop()
    output = server.output()
    assert "Traceback" not in output, output


def test_an_unreachable_redis_stops_serve_in_one_line_naming_the_url_and_the_cause(tmp_path: Path) -> None:
    from tests.helpers.nginx_support import free_port

    url = f"redis://:s3cret-word@127.0.0.1:{free_port()}/0"
    config = tmp_path / "vpsmcp.toml"
    config.write_text(store_lines(url, "x"))
    refused = serve_refused(tmp_path, "--config", str(config))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
    assert f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in refused.stderr and "refused" in refused.stderr.lower()
    assert "s3cret-word" not in refused.stderr + refused.stdout


@pytest.mark.parametrize(("lines", "words"), [
    ('[store]\nbackend = "redis"\n', 'store.url: empty, but store.backend is "redis"'),
    ('[store]\nbackend = "redis"\nurl = "http://127.0.0.1:6379"\n', "store.url: expected a redis://"),
    ('[store]\nprefix = "has space"\n', "store.prefix: expected a key prefix"),
])
def test_a_redis_setting_that_cannot_work_is_named_by_check_config(tmp_path: Path, lines: str, words: str) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(lines)
    checked = subprocess.run([sys.executable, "-m", "vpsmcp", "check-config", "--config", str(config)],
                             capture_output=True, text=True, timeout=30, env=clean_env(tmp_path), cwd=tmp_path)
    assert checked.returncode == 2 and words in checked.stderr and str(config) in checked.stderr, checked.stderr


def family(family_id: str, **tokens: Any) -> Family:
    now = time.time()
    return Family(family_id, "c1", ("mcp:read",), "https://x/mcp", now, now + 3600, **tokens)


def test_migrate_moves_everything_into_redis_and_back(tmp_path: Path, redis_url: str) -> None:
    import json

    files = FileStore(tmp_path / "oauth.json")
    files.add_client(Client("c1", ("https://app.example/cb",), name="app"))
    files.save_family(family("f1", access={digest("a1"): time.time() + 60}, live={digest("r1"): time.time()},
                             retired={digest("old1"): (time.time(), True)}))
    before = json.loads((tmp_path / "oauth.json").read_text())
    prefix = f"g{uuid.uuid4().hex[:8]}"
    said = move(tmp_path, redis_url, StoreConfig(prefix=prefix))
    assert "moved 1 client(s), 1 grant(s)" in said and f"({prefix}:*)" in said, said
    shared = RedisStore(redis_url, prefix)
    moved = shared.by_refresh(digest("old1"))
    assert moved is not None and moved.retired[digest("old1")][1] is True and shared.by_access(digest("a1"))
    assert (tmp_path / "oauth.json.migrated").exists() and not (tmp_path / "oauth.json").exists()
    (tmp_path / "other").mkdir()
    FileStore(tmp_path / "other" / "oauth.json").add_client(Client("c2", ("https://app.example/cb",)))
    with pytest.raises(StateError, match="holds a vpsmcp store"):
        move(tmp_path / "other", redis_url, StoreConfig(prefix=prefix))
    assert (tmp_path / "other" / "oauth.json").exists(), "a refused move leaves the source as it was"
    move(tmp_path, "files", StoreConfig(backend="redis", url=redis_url, prefix=prefix))
    back = json.loads((tmp_path / "oauth.json").read_text())
    assert back["clients"] == before["clients"] and back["families"] == before["families"]
    assert shared.client("c1") is not None, "a Redis source keeps its keys"


def test_a_lock_redis_kept_through_its_restart_is_freed_by_its_holder_not_waited_out(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis_server:
        store = RedisStore(redis_server.url, "lock")
        with pytest.raises(StateError, match="cannot be written"), store.transaction():
            store.save_family(family("f1"))
            redis_server.client().pexpire("lock:lock", 10_000)  # a lock with life left when Redis comes back
            redis_server.restart()  # the lock is on disk; the EXEC and the release meet a new connection … or none
            redis_server.stop()
        redis_server.start()
        assert redis_server.client().exists("lock:lock"), "the restarted Redis still holds the lock"
        back_within(store, 2.0)
        started = time.monotonic()
        store.save_family(family("f2"))
        assert time.monotonic() - started < 1.0, "waited out the lock's life"
        assert store.family("f2") is not None and RedisStore(redis_server.url, "lock").family("f1") is None


def back_within(store: RedisStore, seconds: float) -> None:
    """Wait for the store to take its server for up again (its probe pings every half second)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            store.client("anyone")
            return
        except StateError:
            assert time.monotonic() < deadline, f"the store did not come back within {seconds} s"
            time.sleep(0.05)


def test_a_redis_that_stops_answering_costs_one_timeout_then_fails_at_once_until_it_answers(tmp_path: Path) -> None:
    """The store's calls run on the event loop: a server that hangs must not hold every request for the timeout."""
    from vpsmcp.oauth.redis_store import TIMEOUT

    with RedisServer(tmp_path / "redis", "", "--enable-debug-command", "yes") as redis_server:
        store = RedisStore(redis_server.url, "slow")
        store.save_family(family("f1", access={digest("a1"): time.time() + 600}))
        debug: Any = redis_server.client()  # redis-py leaves execute_command untyped
        sleeper = threading.Thread(target=lambda: debug.execute_command("DEBUG", "SLEEP", "4"))
        sleeper.start()
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(StateError, match="cannot be read: Timeout"):
            store.by_access(digest("a1"))
        assert TIMEOUT - 0.2 < time.monotonic() - started < TIMEOUT + 1.0  # one timeout, not one per retry
        started = time.monotonic()
        for _ in range(50):
            with pytest.raises(StateError, match="trying again every"):
                store.by_access(digest("a1"))
        assert time.monotonic() - started < 0.2, "each call while down fails at once"
        sleeper.join(10)
        back_within(store, 2.0)
        found = store.by_access(digest("a1"))
        assert found is not None and found.id == "f1"
        store.close()


def test_an_ended_grant_stays_in_redis_as_long_as_the_sweep_keeps_it(redis_url: str) -> None:
    """Redis expires a family's keys only past the sweep's retention: a replay of its tokens must
    still find the revoked grant as long as the sqlite store would."""
    from vpsmcp.oauth.records import RETAIN_ENDED

    store = RedisStore(redis_url, f"e{uuid.uuid4().hex[:8]}")
    ended = family("f1", live={digest("r1"): time.time()})
    ended.revoke(time.time())
    store.save_family(ended)
    raw = store._redis
    for key in (store.key("family", "f1"), store.key("tokens", "f1"), store.key("token", digest("r1"))):
        assert raw.ttl(key) > RETAIN_ENDED, key
    found = RedisStore(redis_url, store.prefix).by_refresh(digest("r1"))
    assert found is not None and found.revoked_at is not None
    store.close()


@pytest.mark.parametrize("to", ["http://127.0.0.1:6379", "redis", "postgres://db"])
def test_store_migrate_to_something_that_is_no_backend_is_refused_naming_what_it_takes(tmp_path: Path, to: str) -> None:
    refused = subprocess.run([sys.executable, "-m", "vpsmcp", "store", "migrate", "--to", to, "--state-dir",
                              str(tmp_path / "state")], capture_output=True, text=True, timeout=30,
                             env=clean_env(tmp_path), cwd=tmp_path)
    assert refused.returncode == 2 and "expected sqlite, files, or a redis://" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "state").exists()
