"""Personal access tokens: made by ``vpsmcp tokens create``, used on every transport, revoked, expired.

Against a real ``vpsmcp serve``: the CLI makes the token in the same state
directory, the server picks it up, and the token is used as scripts and
header-only clients use one (a fixed ``Authorization: Bearer``).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers.oauth_server import call_tool, challenge, oauth_server, tool_text
from tests.helpers.support import ROOT, ServerProcess, clean_env

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://localhost:8001"
EXTRA_CONFIG = f'[server]\npublic_url = "{PUBLIC_URL}"'
UPGRADE = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
           "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-protocol": "mcp"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("pat")
    with oauth_server(tmp, EXTRA_CONFIG, "--state-dir", str(tmp / "state")) as proc:
        yield proc, tmp
    assert "Traceback" not in proc.output(), proc.output()


def tokens(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpsmcp", "tokens", *args, "--config", str(tmp / "vpsmcp.toml"),
         "--state-dir", str(tmp / "state")],
        capture_output=True, text=True, timeout=30, env=clean_env(tmp), cwd=ROOT,
    )


def create(tmp: Path, name: str, *scopes: str, expires: str = "90d") -> str:
    made = tokens(tmp, "create", "--name", name, *(a for s in scopes for a in ("--scope", s)), "--expires", expires)
    assert made.returncode == 0, made.stderr
    line = next(line for line in made.stdout.splitlines() if line.startswith("token"))
    token = line.rsplit(" ", 1)[1]
    assert token.startswith("vpsmcp_pat_") and made.stdout.count(token) == 1
    return token


def admitted_on_every_transport(url: str, token: str) -> dict[str, int]:
    """The status each entry point gives ``token``: 401 means refused, anything else admitted."""
    auth = {"authorization": f"Bearer {token}"}
    statuses = {}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "script", "version": "1"}}}
    statuses["/mcp"] = httpx.post(url + "/mcp", json=init, headers={**auth, "accept": "application/json"}).status_code
    with httpx.stream("GET", url + "/sse", headers={**auth, "accept": "text/event-stream"}, timeout=10) as stream:
        statuses["/sse"] = stream.status_code
    statuses["/messages"] = httpx.post(url + "/messages?session_id=none", json=init, headers=auth).status_code
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request("GET", "/ws", headers={**UPGRADE, **auth})
    statuses["/ws"] = conn.getresponse().status
    conn.close()
    return statuses


def test_a_token_works_on_every_transport_until_revoked(served: tuple[ServerProcess, Path]) -> None:
    server, tmp = served
    token = create(tmp, "deploy-script", "mcp:read")
    assert admitted_on_every_transport(server.url, token) == {"/mcp": 200, "/sse": 200, "/messages": 404, "/ws": 101}
    assert tool_text(call_tool(server.url, token)) == "hi"
    revoked = tokens(tmp, "revoke", "--name", "deploy-script")
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(1.2)  # the server looks at the store at most once a second
    assert set(admitted_on_every_transport(server.url, token).values()) == {401}
    assert challenge(call_tool(server.url, token))["error"] == "invalid_token"


def test_a_call_outside_its_scopes_is_403_insufficient_scope(served: tuple[ServerProcess, Path]) -> None:
    server, tmp = served
    token = create(tmp, "reader", "vps:read")
    refused = call_tool(server.url, token, "echo")
    assert refused.status_code == 403
    assert challenge(refused)["error"] == "insufficient_scope"


def test_a_token_expires(served: tuple[ServerProcess, Path]) -> None:
    server, tmp = served
    token = create(tmp, "brief", "mcp:read", expires="2s")
    assert tool_text(call_tool(server.url, token)) == "hi"
    time.sleep(2.2)
    assert call_tool(server.url, token).status_code == 401


def test_a_token_is_stored_hashed_listed_by_name_and_audited_under_it(served: tuple[ServerProcess, Path]) -> None:
    server, tmp = served
    token = create(tmp, "audited", "mcp:read")
    assert tool_text(call_tool(server.url, token, arguments={"text": "audit me"})) == "audit me"
    listed = tokens(tmp, "list")
    assert "pat:audited" in listed.stdout and token not in listed.stdout
    time.sleep(1.2)  # the audit log and the trace are written in groups
    state = tmp / "state"
    for path in state.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    records = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert any(r.get("client") == "pat:audited" and r.get("tool") == "echo" for r in records), records


@pytest.mark.parametrize(("args", "said"), [
    (["--name", "two words", "--scope", "vps:read"], "--name"),
    (["--name", "x", "--scope", "vps:read", "--expires", "forever"], "--expires"),
    (["--name", "x", "--scope", "vps:read", "--expires", "99999d"], "3650d"),
    (["--name", "x", "--scope", 'quote"d'], "--scope"),
    (["--name", "x", "--scope", " "], "at least one --scope"),
])
def test_bad_input_is_one_line_and_exit_2(served: tuple[ServerProcess, Path], args: list[str], said: str) -> None:
    made = tokens(served[1], "create", *args)
    assert made.returncode == 2 and said in made.stderr and len(made.stderr.strip().splitlines()) == 1, made.stderr
    assert "Traceback" not in made.stderr and not made.stdout


def test_a_name_in_use_is_refused_and_an_unknown_one_cannot_be_revoked(served: tuple[ServerProcess, Path]) -> None:
    tmp = served[1]
    create(tmp, "twice", "mcp:read")
    again = tokens(tmp, "create", "--name", "twice", "--scope", "mcp:read")
    assert again.returncode == 2 and "exists" in again.stderr
    unknown = tokens(tmp, "revoke", "--name", "never-made")
    assert unknown.returncode == 2 and "no live personal access token" in unknown.stderr


def test_the_status_page_lists_a_token_the_cli_made_a_moment_after_it_was_last_drawn(tmp_path: Path) -> None:
    """The bearer path looks at the file at most once a second; the owner's page looks every time, so a
    token made just after a reload shows on the next (this raced once in CI: the row was missing)."""
    from types import SimpleNamespace

    from vpsmcp.oauth import personal
    from vpsmcp.oauth.file_store import FileStore
    from vpsmcp.status.page import clients

    served, cli = FileStore(tmp_path / "oauth.json"), FileStore(tmp_path / "oauth.json")
    oauth: Any = SimpleNamespace(store=served)
    now = time.time()
    assert clients(oauth, now) == []
    personal.create(cli, "https://vps.example/mcp", "cron-job", ["mcp:read"], 3600)
    assert [row.name for row in clients(oauth, now + 0.1)] == ["cron-job (personal access token)"]
