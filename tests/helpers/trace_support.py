"""Helpers for the trace, status page and metrics tests: a traced OAuth server and reading its trace."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
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
    pkce_pair,
    register,
    set_password,
    submit,
)
from tests.helpers.oauth_server import oauth_server
from tests.helpers.support import ServerProcess
from vpsmcp.cli import main

PASSWORD = "correct horse battery staple"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def traced_server(tmp: Path, config: str = "", *args: str) -> ServerProcess:
    """A started OAuth server whose owner password is ``PASSWORD``; ``config`` is extra TOML."""
    (tmp / "state").mkdir(exist_ok=True)
    set_password(tmp / "state", PASSWORD)
    return oauth_server(tmp, config, *args).start()


def trace_lines(state: Path, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
    """The trace file's entries once ``until`` holds for them (the server writes about once a second)."""
    deadline = time.monotonic() + timeout
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        path = state / "trace.jsonl"
        entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if until(entries):
            return entries
        time.sleep(0.1)
    raise AssertionError(f"the trace never held what was expected:\n{json.dumps(entries, indent=1)}")


def logs(capsys: pytest.CaptureFixture[str], state: Path, *args: str) -> tuple[int, str, str]:
    """``vpsmcp logs --state-dir STATE ARGS``: status, stdout, stderr."""
    status = main(["logs", "--state-dir", str(state), *args], env={"HOME": str(state.parent)})
    out = capsys.readouterr()
    return status, out.out, out.err


def challenge(base: str) -> None:
    """The first thing a connector does: an MCP request with no token (on its own connection)."""
    response = httpx.post(f"{base}/mcp", headers=MCP_HEADERS, json={"jsonrpc": "2.0", "id": 0, "method": "ping"})
    assert response.status_code == 401, response.text


def discover(http: httpx.Client, base: str) -> None:
    assert http.get(f"{base}/.well-known/oauth-protected-resource/mcp").status_code == 200
    assert http.get(f"{base}/.well-known/oauth-authorization-server").status_code == 200


def log_in(http: httpx.Client, base: str, **metadata: Any) -> tuple[Registered, dict[str, Any], list[str]]:
    """Register, consent with every scope offered, exchange: the client, its tokens, and every secret seen."""
    client = register(http, base, **metadata)
    verifier, code_challenge = pkce_pair()
    page = consent_page(http, base, authorize_params(client, code_challenge))
    assert page.status_code == 200, page.text
    offered = [line.split('value="')[1].split('"')[0] for line in page.text.splitlines() if 'name="scope"' in line]
    code = code_from(submit(http, base, consent_form(page), PASSWORD, offered))
    tokens = exchange(http, base, client, code, verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    secrets = [PASSWORD, code, verifier, body["access_token"], body["refresh_token"], client.client_secret or ""]
    return client, body, [s for s in secrets if s]


def mcp_session(http: httpx.Client, base: str, token: str) -> None:
    """initialize, notifications/initialized, tools/list and tools/call echo, in the handshake era."""
    auth = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    init = http.post(f"{base}/mcp", headers=auth, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "trace-test", "version": "1"}}})
    assert init.status_code == 200, init.text
    auth["mcp-session-id"] = init.headers["mcp-session-id"]
    assert http.post(f"{base}/mcp", headers=auth, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
                     ).status_code == 202
    for n, (method, params) in enumerate([("tools/list", {}), ("tools/call", {"name": "echo", "arguments": {"text": "x"}})]):
        answer = http.post(f"{base}/mcp", headers=auth, json={"jsonrpc": "2.0", "id": 2 + n, "method": method,
                                                              "params": params})
        assert answer.status_code == 200 and "error" not in answer.json(), answer.text
