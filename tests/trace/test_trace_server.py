"""A real server traces every connection, and ``vpsmcp logs`` tells how far each client got.

Clients are driven over raw HTTP (``tests/helpers/oauth_flow.py``) against a real
``vpsmcp serve`` with OAuth on; the trace is read back from the state
directory, the way the owner reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.helpers.oauth_flow import register
from tests.helpers.oauth_server import call_tool
from tests.helpers.support import ROOT, ServerProcess, clean_env, serve_from_checkout
from tests.helpers.trace_support import (
    MCP_HEADERS,
    challenge,
    discover,
    log_in,
    logs,
    mcp_session,
    trace_lines,
    traced_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = traced_server(tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


def state_of(server: ServerProcess) -> Path:
    return Path(server.argv[server.argv.index("--state-dir") + 1])


def test_a_client_that_stops_after_registration_is_reported_as_such(
    server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    challenge(server.url)
    with httpx.Client(timeout=10) as http:
        discover(http, server.url)
        client = register(http, server.url)
    trace_lines(state_of(server), lambda lines: any(line.get("stage") == "registered" for line in lines))
    status, out, _ = logs(capsys, state_of(server))
    assert status == 0
    assert f"client {client.client_id}" in out
    for words in ("401 challenge sent", "resource metadata sent", "server metadata sent",
                  f"registered client {client.client_id}"):
        assert words in out
    assert re.search(r"⇒ registered at \d\d:\d\d, never came back to /authorize", out), out


def test_a_full_flow_shows_every_step_and_no_secret_reaches_the_trace(
    server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    challenge(server.url)
    with httpx.Client(timeout=10) as http:
        discover(http, server.url)
        client, tokens, secrets = log_in(http, server.url, token_endpoint_auth_method="client_secret_post")
        mcp_session(http, server.url, tokens["access_token"])
    state = state_of(server)
    trace_lines(state, lambda lines: any(line.get("stage") == "called" for line in lines))
    status, out, _ = logs(capsys, state, "--client", client.client_id)
    assert status == 0
    expected = ["401 challenge sent", "resource metadata sent", "server metadata sent", "registered client",
                "consent page shown", "owner approved", "token issued", "initialize ok", "accepted",
                "tools/list ok", "tools/call echo ok", "⇒ called tools at"]
    positions = [out.find(words) for words in expected]
    assert -1 not in positions and positions == sorted(positions), out
    assert client.client_secret and len(secrets) == 6
    written = b"".join(p.read_bytes() for p in state.glob("trace.jsonl*"))
    for secret in secrets:
        assert secret.encode() not in written
    assert b"?" not in written  # no query string: the authorize request's parameters stay out
    assert stat.S_IMODE(os.stat(state / "trace.jsonl").st_mode) == 0o600


def test_a_revoked_token_shows_as_the_flows_latest_failure(
    server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(timeout=10) as http:
        client, tokens, _ = log_in(http, server.url)
        assert call_tool(server.url, tokens["access_token"], http=http).status_code == 200
        revoked = http.post(f"{server.url}/revoke", data={"token": tokens["access_token"], "client_id": client.client_id,
                                                         "client_secret": client.client_secret or ""})
        assert revoked.status_code == 200, revoked.text
    assert call_tool(server.url, tokens["access_token"]).status_code == 401
    state = state_of(server)
    trace_lines(state, lambda lines: any(line.get("outcome") == "401 token refused" for line in lines))
    _, out, _ = logs(capsys, state, "--client", client.client_id)
    assert "token revoked" in out
    assert re.search(r"⇒ called tools at \d\d:\d\d; last: POST /mcp → 401 token refused at \d\d:\d\d", out), out


def test_logs_filters_by_flow_and_refuses_an_unknown_one(server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    with httpx.Client(timeout=10) as http:
        first = register(http, server.url)
        second = register(http, server.url, client_name="other")
    lines = trace_lines(state_of(server), lambda lines: sum(line.get("stage") == "registered" for line in lines) == 2)
    flow = next(line["flow"] for line in lines if line.get("client") == second.client_id)
    _, out, _ = logs(capsys, state_of(server), "--flow", flow[:5])
    assert second.client_id in out and first.client_id not in out
    status, out, err = logs(capsys, state_of(server), "--flow", "zzzz")
    assert status == 1 and out == "" and "no flow matching --flow zzzz" in err


@contextlib.contextmanager
def following(server: ServerProcess) -> Iterator[IO[str]]:
    """``vpsmcp logs --follow`` on ``server``'s state, started; its output. It must end on SIGINT with 0."""
    state = state_of(server)
    follower = subprocess.Popen(
        [sys.executable, "-m", "vpsmcp", "logs", "--follow", "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env(state.parent), cwd=ROOT,
    )
    assert follower.stdout is not None
    try:
        assert "following" in follower.stdout.readline()
        yield follower.stdout
    finally:
        follower.send_signal(signal.SIGINT)
        status = follower.wait(10)
        follower.stdout.close()
    assert status == 0


def test_logs_follow_prints_steps_as_they_happen(server: ServerProcess) -> None:
    with following(server) as output, httpx.Client(timeout=10) as http:
        client = register(http, server.url)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and client.client_id not in line:
            line = output.readline()
        assert re.search(rf"POST /register +201 +registered client {client.client_id}", line), line


def test_logs_follow_shows_a_request_within_100_ms_of_its_end(server: ServerProcess) -> None:
    delays = []
    with following(server) as output, httpx.Client(timeout=10) as http:
        for _ in range(5):
            client = register(http, server.url)
            answered = time.monotonic()
            line = ""
            while client.client_id not in line:
                line = output.readline()
            delays.append(time.monotonic() - answered)
    assert sorted(delays)[2] < 0.1, f"median {sorted(delays)[2] * 1000:.0f} ms (all: {delays})"


def test_the_doctors_own_requests_are_labelled_as_the_doctors(server: ServerProcess) -> None:
    state = state_of(server)
    subprocess.run([sys.executable, "-m", "vpsmcp", "doctor", server.url + "/mcp", "--local", "--timeout", "5",
                    "--stream-wait", "1"], capture_output=True, text=True, timeout=120, env=clean_env(state.parent),
                   cwd=ROOT)
    time.sleep(0.2)  # the last step's flush
    shown = subprocess.run([sys.executable, "-m", "vpsmcp", "logs", "--state-dir", str(state)], capture_output=True,
                           text=True, timeout=60, env=clean_env(state.parent), cwd=ROOT).stdout
    heads = [line for line in shown.splitlines() if line.startswith("flow ")]
    assert heads and all("vpsmcp doctor's probes" in head for head in heads), shown
    assert "client vpsmcp-doctor-unknown-client" not in shown
    assert shown.count("⇒ vpsmcp doctor testing this server") == len(heads), shown


def test_a_call_answered_on_a_stream_gets_its_outcome_as_a_later_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f"[plugins]\nmodules = [{json.dumps(str(ROOT / 'tests' / 'plugins' / 'echo_plugin.py'))}]\n")
    headers = {**MCP_HEADERS, "user-agent": "stream-test"}
    with serve_from_checkout(tmp_path, "--no-auth", "--config", str(config)) as server, \
            httpx.Client(timeout=20, headers=headers) as http:
        init = http.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}})
        session = {"mcp-session-id": init.headers["mcp-session-id"]}
        slow = http.post(f"{server.url}/mcp", headers=session, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                                     "params": {"name": "slow", "arguments": {"steps": 2}}})
        assert slow.headers["content-type"].startswith("text/event-stream")
        trace_lines(tmp_path / "state", lambda lines: any("tools/call slow ok" in line.get("outcome", "")
                                                          for line in lines))
    _, out, _ = logs(capsys, tmp_path / "state")
    first, then = out.index("answering on an event stream"), out.index("tools/call slow ok")
    assert out.index("initialize ok") < first < then and "⇒ called tools at" in out


def test_an_empty_state_directory_has_no_connections_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = logs(capsys, tmp_path / "state")
    assert status == 0 and out.startswith("no connections traced yet")


def test_the_access_line_names_the_client_and_the_session_the_trace_saw(tmp_path: Path) -> None:
    """Who and which session come from the trace's record of the request, one place for both."""
    proc = traced_server(tmp_path, "", "--log-format", "json")
    try:
        with httpx.Client(timeout=10) as http:
            client, tokens, _ = log_in(http, proc.url)
            mcp_session(http, proc.url, tokens["access_token"])
        # each access line is written once its answer has gone, so the last may follow the client's read
        proc.wait_for_line(r'"method": "POST", "path": "/mcp".*"session_id"', count=4)
        access = [json.loads(line) for line in proc.output().splitlines() if '"message": "access"' in line]
    finally:
        proc.stop()
    posts = [a for a in access if a["path"] == "/mcp" and a["method"] == "POST"]
    assert len(posts) == 4 and all(a["client_id"] == client.client_id for a in posts), posts
    sessions = {a["session_id"] for a in posts}
    assert len(sessions) == 1 and next(iter(sessions)), posts  # the initialize too: the session it made
    assert all("client_id" not in a for a in access if a["path"].startswith("/.well-known")), access
