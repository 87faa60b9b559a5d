"""What blocks in the store runs off the event loop: a server waiting on its store still serves.

A token request that waits — for another process's write lock on the SQLite
database, or for a Redis that is slow to answer — waits in a worker thread;
meanwhile ``/healthz`` and, on SQLite, bearer-checked tool calls (reads, from
memory) answer at once. Before, the whole server stood still for the wait.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.oauth_flow import grant, password_from, refresh
from tests.helpers.oauth_server import call_tool, oauth_server, tool_text
from tests.helpers.redis_support import RedisServer
from vpsmcp.oauth.records import Family, digest
from vpsmcp.oauth.sqlite_store import SqliteStore

pytestmark = pytest.mark.slow

HOLD = 2.0  # seconds the store is kept waiting
QUICK = 0.5  # what "at once" allows, on a loaded 2-core machine


def timed(call: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def test_the_reader_answers_while_another_thread_is_inside_a_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db", create=True)
    now = time.time()
    store.save_family(Family("f1", "c1", ("mcp:read",), "r", now, now + 3600, access={digest("a1"): now + 600}))
    inside = threading.Event()

    def write() -> None:
        with store.transaction():
            store.save_family(Family("f2", "c1", ("mcp:read",), "r", now, now + 3600))
            inside.set()
            time.sleep(HOLD)

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(5)
    took, found = timed(lambda: store.by_access(digest("a1")))
    assert found is not None and found.id == "f1" and took < QUICK, took
    writer.join(10)
    assert store.family("f2") is not None


def test_a_token_request_waiting_for_another_process_does_not_stop_the_server(tmp_path: Path) -> None:
    with oauth_server(tmp_path) as server, httpx.Client(timeout=30) as http:
        client, token = grant(http, server.url, password_from(server.output()))
        other = sqlite3.connect(tmp_path / "state" / "oauth.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the database's write lock
        answers: list[httpx.Response] = []

        def ask() -> None:
            with httpx.Client(timeout=30) as own:
                answers.append(refresh(own, server.url, client, token["refresh_token"]))

        waiting = threading.Thread(target=ask)
        waiting.start()
        time.sleep(0.3)
        took, health = timed(lambda: http.get(server.url + "/healthz"))
        assert health.status_code == 200 and took < QUICK, took
        took, called = timed(lambda: call_tool(server.url, token["access_token"], http=http))
        assert tool_text(called) == "hi" and took < QUICK, took
        time.sleep(HOLD)
        assert not answers, "the refresh waits for the lock"
        other.execute("COMMIT")
        waiting.join(15)
        assert answers and answers[0].status_code == 200, answers
    assert "Traceback" not in server.output()


def test_a_slow_redis_holds_only_the_requests_that_need_it(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", "", "--enable-debug-command", "yes") as redis_server:
        store = f'\n[store]\nbackend = "redis"\nurl = "{redis_server.url}"\nprefix = "slow"'
        with oauth_server(tmp_path, store) as server, httpx.Client(timeout=30) as http:
            _, token = grant(http, server.url, password_from(server.output()))
            debug: Any = redis_server.client()  # redis-py leaves execute_command untyped
            sleeper = threading.Thread(target=lambda: debug.execute_command("DEBUG", "SLEEP", "1.5"))
            sleeper.start()
            time.sleep(0.2)
            calls: list[tuple[float, httpx.Response]] = []

            def call() -> None:
                with httpx.Client(timeout=30) as own:
                    calls.append(timed(lambda: call_tool(server.url, token["access_token"], http=own)))

            caller = threading.Thread(target=call)
            caller.start()
            time.sleep(0.2)
            took, health = timed(lambda: http.get(server.url + "/healthz"))
            assert health.status_code == 200 and took < QUICK, took
            caller.join(10)
            sleeper.join(10)
            assert calls and tool_text(calls[0][1]) == "hi" and calls[0][0] > 0.8, calls  # it waited, and got through
        assert "Traceback" not in server.output()
