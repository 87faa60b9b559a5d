"""A registration flood costs counters, not the store: limits per address and overall, caps on what is kept.

Dynamic registration is open to anyone (RFC 7591). Against a real server with
small limits: 429 with ``Retry-After`` past them, look-alike unused registrations
capped whatever their ``client_name``, all unused ones capped together, and the
size of what one registration may store bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.oauth_server import oauth_server
from tests.helpers.support import ServerProcess
from vpsmcp.config.sections import StoreConfig
from vpsmcp.oauth.store import open_store

pytestmark = pytest.mark.slow

LIMITS = "registrations_per_address = 3\nregistrations_overall = 5\nmax_unused_registrations = 4"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with oauth_server(tmp_path, LIMITS) as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


def register(server: ServerProcess, address: str, uri: str = "http://127.0.0.1:9/cb", name: str = "t") -> httpx.Response:
    return httpx.post(server.url + "/register", headers={"x-forwarded-for": address},
                      json={"redirect_uris": [uri], "client_name": name})


def stored_clients(server: ServerProcess) -> list[dict[str, object]]:
    state = Path(server.argv[server.argv.index("--state-dir") + 1])
    return [json.loads(json.dumps(c.to_json())) for c in open_store(StoreConfig(), state).clients()]  # while it runs


def test_limits_per_address_and_overall_answer_429_with_retry_after(server: ServerProcess) -> None:
    assert [register(server, "198.51.100.1", f"http://127.0.0.1:9/{n}").status_code for n in range(3)] == [201] * 3
    limited = register(server, "198.51.100.1", "http://127.0.0.1:9/x")
    assert limited.status_code == 429 and limited.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(limited.headers["retry-after"]) <= 600
    assert [register(server, "198.51.100.2", f"http://127.0.0.1:9/b{n}").status_code for n in range(2)] == [201] * 2
    overall = register(server, "198.51.100.3", "http://127.0.0.1:9/c")  # a new address, but 5 came in 10 minutes
    assert overall.status_code == 429 and "retry-after" in overall.headers


def test_a_new_client_name_does_not_escape_the_look_alike_cap(tmp_path: Path) -> None:
    with oauth_server(tmp_path, "registrations_per_address = 100\nregistrations_overall = 100") as proc:
        for n in range(8):
            assert register(proc, "198.51.100.9", name=f"name {n}").status_code == 201
        same = [c for c in stored_clients(proc) if c["redirect_uris"] == ["http://127.0.0.1:9/cb"]]
        assert len(same) == 3, same  # registration.MAX_UNUSED_ALIKE, the newest kept


def test_unused_registrations_are_capped_together(tmp_path: Path) -> None:
    with oauth_server(tmp_path, "registrations_per_address = 100\nregistrations_overall = 100\n"
                                "max_unused_registrations = 4") as proc:
        ids = [register(proc, "198.51.100.8", f"http://127.0.0.1:9/{n}").json()["client_id"] for n in range(9)]
        kept = [c["client_id"] for c in stored_clients(proc)]
        assert kept == ids[-4:]  # the oldest unused ones went


@pytest.mark.parametrize(("uris", "said"), [
    ([f"http://127.0.0.1:9/{n}" for n in range(11)], "1 to 10"),
    (["http://127.0.0.1:9/" + "x" * 1000], "at most 1000 characters"),
])
def test_what_one_registration_stores_is_bounded(server: ServerProcess, uris: list[str], said: str) -> None:
    answer = httpx.post(server.url + "/register", headers={"x-forwarded-for": "198.51.100.7"}, json={"redirect_uris": uris})
    assert answer.status_code == 400 and said in answer.json()["error_description"], answer.text
