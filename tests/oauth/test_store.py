"""The OAuth store survives kill -9 and refuses to run on a file it cannot read.

The crash test kills a real ``vpsmcp serve`` with SIGKILL while two client
threads make it issue tokens as fast as they can (refresh rotations, and
whole register → consent → exchange grants), once a thousand have been
acknowledged, restarts it on the same state directory, and checks that every
token a client received before the kill still works: the store writes each
token durably before the response leaves.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.disk_support import fill, small_disk
from tests.helpers.oauth_flow import Registered, grant, password_from, refresh
from tests.helpers.oauth_server import call_tool, oauth_server, serve_refused, tool_text
from tests.helpers.support import ROOT, clean_env

pytestmark = pytest.mark.slow

Issued = tuple[Registered, dict[str, Any]]
PUBLIC_URL = "http://localhost:8001"  # the same audience before and after the restart (port 0 changes)


class Issuer:
    """Client threads that ask ``url`` for tokens until the server dies; what they received."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.password = password
        self.rotated: list[Issued] = []
        self.granted: list[Issued] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(loop,), daemon=True)
                        for loop in (self._rotations, self._grants)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)
        assert not self.errors, self.errors

    def _run(self, loop: Callable[[httpx.Client], None]) -> None:
        with httpx.Client(timeout=10) as http:
            try:
                loop(http)
            except httpx.TransportError:
                pass  # the server was killed: the loop ends here
            except BaseException as exc:
                self.errors.append(exc)

    def _rotations(self, http: httpx.Client) -> None:
        client, token = grant(http, self.url, self.password)
        self.rotated.append((client, token))
        while True:
            answer = refresh(http, self.url, client, token["refresh_token"])
            assert answer.status_code == 200, answer.text
            token = answer.json()
            self.rotated.append((client, token))

    def _grants(self, http: httpx.Client) -> None:
        while True:
            self.granted.append(grant(http, self.url, self.password))


BACKENDS = {"sqlite": "", "files": '\n[store]\nbackend = "files"'}  # extra config after the [auth] lines
TOKEN_OPERATIONS = 1000  # rotations and whole grants acknowledged before the SIGKILL


def store_lines(backend: str, request: pytest.FixtureRequest) -> str:
    if backend != "redis":
        return BACKENDS[backend]
    url = request.getfixturevalue("redis_url")
    return f'\n[store]\nbackend = "redis"\nurl = "{url}"\nprefix = "{request.node.name}"'


@pytest.mark.parametrize("backend", [*sorted(BACKENDS), "redis"])
def test_every_token_received_before_a_sigkill_works_after_the_restart(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    lines = store_lines(backend, request)
    server = oauth_server(tmp_path, lines, "--public-url", PUBLIC_URL).start()
    issuer = Issuer(server.url, password_from(server.output()))
    issuer.start()
    deadline = time.monotonic() + 90
    while len(issuer.rotated) + len(issuer.granted) < TOKEN_OPERATIONS or len(issuer.granted) < 3:
        assert time.monotonic() < deadline and not issuer.errors, (len(issuer.rotated), issuer.errors)
        time.sleep(0.01)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    issuer.join()

    with oauth_server(tmp_path, lines, "--public-url", PUBLIC_URL) as again:
        with httpx.Client(timeout=10) as http:
            for _, token in issuer.rotated + issuer.granted:
                assert tool_text(call_tool(again.url, token["access_token"], http=http)) == "hi"
            client, latest = issuer.rotated[-1]
            assert refresh(http, again.url, client, latest["refresh_token"]).status_code == 200
            for client, token in issuer.granted:
                assert refresh(http, again.url, client, token["refresh_token"]).status_code == 200
    assert "Traceback" not in again.output(), again.output()


@pytest.mark.parametrize("content", [
    b"",
    b'{"format": 1, "clients": [',
    b"\xff\xfe not even text",
    b"[]",
    b'"a string"',
    b'{"format": 99, "clients": [], "families": []}',
    b'{"format": 1, "clients": null, "families": []}',
    b'{"format": 1, "clients": [{"client_id": "x"}], "families": []}',
    b'{"format": 1, "clients": [], "families": [{"id": "f", "surprise": 1}]}',
])
def test_unreadable_store_stops_serve_naming_the_file_and_keeps_it(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    store = state / "oauth.json"
    store.write_bytes(content)
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[store]\nbackend = "files"\n')
    done = serve_refused(tmp_path, "--config", str(config))
    assert done.returncode != 0
    assert f"{store}: not a vpsmcp OAuth store" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "listening on" not in done.stderr, done.stderr
    assert store.read_bytes() == content


@pytest.mark.parametrize("content", [b"\x00" * 4096, b"SQLite format 3\x00" + b"\xff" * 200, b"not a database"])
def test_an_unreadable_database_stops_serve_naming_it_and_keeps_it(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    database = state / "oauth.sqlite3"
    database.write_bytes(content)
    done = serve_refused(tmp_path)
    assert done.returncode != 0
    assert f"{database}: not a usable vpsmcp OAuth store" in done.stderr and "move it away" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "listening on" not in done.stderr, done.stderr
    assert database.read_bytes() == content


def test_state_files_are_private(tmp_path: Path) -> None:
    with oauth_server(tmp_path) as server:
        with httpx.Client(timeout=10) as http:
            client, _ = grant(http, server.url, password_from(server.output()))
        state = tmp_path / "state"
        subprocess.run(
            [sys.executable, "-m", "vpsmcp", "clients", "add", "--name", "cli", "--redirect-uri",
             "https://app.example/cb", "--state-dir", str(state)],
            check=True, capture_output=True, env=clean_env(tmp_path), cwd=ROOT,
        )
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir() if p.is_file()}
    assert {"oauth.sqlite3", "owner_password", "secret_key"} <= set(files), files
    assert all(mode == 0o600 for mode in files.values()), files  # the database's -wal and -shm too
    store = b"".join(p.read_bytes() for p in state.glob("oauth.sqlite3*"))
    assert client.client_secret and client.client_secret.encode() not in store, "secrets are stored as digests only"
    assert os.stat(state / "oauth.sqlite3").st_uid == os.getuid()


def test_a_read_only_state_directory_is_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test bind-mounts the state directory read-only: run it as root (tests/run.sh does in CI)")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "secret_key").write_text("k" * 43 + "\n")
    subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(state)], check=True)
        refused = serve_refused(tmp_path)
    finally:
        subprocess.run(["umount", str(state)], check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert f"state directory {state} cannot be written (Read-only file system)" in line and "--state-dir" in line


def test_temporary_files_a_killed_writer_left_are_removed_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    leftovers = [state / ".oauth.json.tmp-4194399", state / ".audit.head.tmp-4194999-0a1b2c3d"]  # above pid_max
    alive = state / f".oauth.json.tmp-{os.getpid()}"  # this process is alive: its file may be a write in progress
    for path in (*leftovers, alive):
        path.write_bytes(b"half")
    with oauth_server(tmp_path) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
    assert [p.exists() for p in leftovers] == [False, False] and alive.exists()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_full_disk_is_503_with_retry_after_and_changes_nothing(tmp_path: Path, backend: str) -> None:
    # No grace to speak of: a token rotated in memory by the failed try would make the retry a reuse.
    with small_disk(tmp_path) as disk, oauth_server(disk, "refresh_grace = 0.01" + BACKENDS[backend],
                                                    "--public-url", PUBLIC_URL) as server:
        with httpx.Client(timeout=10) as http:
            client, token = grant(http, server.url, password_from(server.output()))
            filler = fill(disk)
            registered = http.post(server.url + "/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})
            assert registered.status_code == 503 and registered.headers["retry-after"] == "30", registered.text
            assert registered.json()["error"] == "temporarily_unavailable"
            refused = refresh(http, server.url, client, token["refresh_token"])
            assert refused.status_code == 503 and refused.json()["error"] == "temporarily_unavailable"
            filler.unlink()
            time.sleep(0.1)
            again = refresh(http, server.url, client, token["refresh_token"])  # not rotated by the failed try
            assert again.status_code == 200, again.text
            assert tool_text(call_tool(server.url, again.json()["access_token"], http=http)) == "hi"
    assert "Traceback" not in server.output(), server.output()
