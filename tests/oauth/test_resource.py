"""The resource server admits live tokens for itself and challenges everything else.

Against real ``vpsmcp serve`` processes: the RFC 6750 §3 / RFC 9728 §5.1
challenge on every transport, 403 step-up for a missing scope, tokens bound
to the public URL (RFC 8707), expiry, revocation (RFC 7009 and the CLI),
refresh rotation with its grace window and family revocation (RFC 9700
§4.14.2), and the no-authentication mode's limits.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
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
from tests.helpers.oauth_server import call_tool, challenge, oauth_error, oauth_server, tool_text
from tests.helpers.support import ROOT, ServerProcess, clean_env

pytestmark = pytest.mark.slow

PRM = "/.well-known/oauth-protected-resource"
# Two public URLs for one state directory; loopback, because authlib refuses plain http elsewhere.
OLD_URL, NEW_URL = "http://localhost:8001", "http://localhost:8002"
UPGRADE = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
           "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-protocol": "mcp"}
ENTRY_POINTS = [  # (method, path, headers, the resource it protects)
    ("POST", "/mcp", {"content-type": "application/json", "accept": "application/json, text/event-stream"}, "/mcp"),
    ("GET", "/sse", {"accept": "text/event-stream"}, "/sse"),
    ("POST", "/messages?session_id=x", {"content-type": "application/json"}, "/sse"),
    ("GET", "/ws", UPGRADE, "/ws"),
    ("POST", "/sse", {"content-type": "application/json"}, "/sse"),  # 401 before 405 (claude-ai-mcp#499)
]


@pytest.fixture(scope="module")
def brief(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Access tokens live 3 s, the refresh grace window is 1 s."""
    tmp = tmp_path_factory.mktemp("oauth-brief")
    with oauth_server(tmp, "access_token_lifetime = 3\nrefresh_grace = 1") as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """No forwarding header: the no-auth server here refuses proxied requests."""
    with httpx.Client(timeout=10) as client:
        yield client


def granted(server: ServerProcess, http: httpx.Client, scopes: list[str] | None = None) -> tuple[Registered, dict[str, Any]]:
    return grant(http, server.url, password_from(server.output()), scopes)


def state_dir(server: ServerProcess) -> Path:
    return Path(server.argv[server.argv.index("--state-dir") + 1])


# --- challenges -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "headers", "resource"), ENTRY_POINTS)
def test_request_without_a_token_is_told_where_to_log_in(
    server: ServerProcess, method: str, path: str, headers: dict[str, str], resource: str
) -> None:
    answer = httpx.request(method, server.url + path, headers=headers, content=b"{}" if method == "POST" else None)
    assert answer.status_code == 401, answer.text
    params = challenge(answer)
    assert "error" not in params
    assert params["resource_metadata"] == server.url + PRM + resource
    assert {"mcp:read", "vps:exec"} <= set(params["scope"].split())
    metadata = httpx.get(params["resource_metadata"]).json()
    assert metadata["resource"] == server.url + resource and metadata["authorization_servers"] == [server.url]


@pytest.mark.parametrize("path", ["/mcp", "/messages?session_id=x"])
def test_the_connection_survives_a_401_for_the_next_request(server: ServerProcess, path: str) -> None:
    """The challenge is answered after the body is read, so the keep-alive connection stays usable."""
    connections = set()
    with httpx.Client(timeout=10) as http:
        for _ in range(5):
            answer = http.post(server.url + path, content=b"[" + b'{"jsonrpc": "2.0", "id": 1, "method": "ping"},' * 20000
                               + b"{}]", headers={"content-type": "application/json"})
            assert answer.status_code == 401
            connections.add(answer.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(connections) == 1, "every request went over the first connection"


@pytest.mark.parametrize(("method", "path", "headers", "resource"), ENTRY_POINTS)
def test_unknown_token_is_invalid_token(
    server: ServerProcess, method: str, path: str, headers: dict[str, str], resource: str
) -> None:
    headers = {**headers, "authorization": "Bearer vpsmcp_at_not-a-token"}
    answer = httpx.request(method, server.url + path, headers=headers, content=b"{}" if method == "POST" else None)
    assert answer.status_code == 401, answer.text
    params = challenge(answer)
    assert params["error"] == "invalid_token" and params["resource_metadata"] == server.url + PRM + resource


def test_token_in_the_query_string_is_not_accepted(server: ServerProcess, http: httpx.Client) -> None:
    """MCP basic/authorization: access tokens MUST NOT travel in the URI query string."""
    token = granted(server, http)[1]["access_token"]
    answer = http.post(server.url + "/mcp", params={"access_token": token}, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                       headers={"accept": "application/json, text/event-stream"})
    assert answer.status_code == 401 and "error" not in challenge(answer)


def test_owner_may_grant_less_and_a_missing_scope_is_a_403_step_up(server: ServerProcess, http: httpx.Client) -> None:
    client = register(http, server.url)
    verifier, challenge_ = pkce_pair()
    page = consent_page(http, server.url, authorize_params(client, challenge_, "mcp:read vps:exec"))
    assert re.findall(r'name="scope" value="([^"]+)"', page.text) == ["vps:exec", "mcp:read"]
    answer = submit(http, server.url, consent_form(page), password_from(server.output()), ["mcp:read"])
    token = exchange(http, server.url, client, code_from(answer), verifier).json()
    assert token["scope"] == "mcp:read"
    assert tool_text(call_tool(server.url, token["access_token"])) == "hi"
    refused = call_tool(server.url, token["access_token"], "pretend_exec", {"command": "ls"})
    assert refused.status_code == 403, refused.text
    params = challenge(refused)
    assert params["error"] == "insufficient_scope" and set(params["scope"].split()) == {"mcp:read", "vps:exec"}
    assert params["resource_metadata"] == server.url + PRM + "/mcp"
    assert refused.json()["error"]["data"] == {"requiredScope": "vps:exec"}
    wider = granted(server, http, ["mcp:read", "vps:exec"])[1]["access_token"]
    assert tool_text(call_tool(server.url, wider, "pretend_exec", {"command": "ls"})) == "would run ls"


@pytest.mark.parametrize(("tool", "arguments", "scope"), [
    ("files_write", {"path": "x.txt", "content": "x"}, "vps:files:write"),
    ("services_control", {"unit": "nginx.service", "action": "restart"}, "vps:control"),
    ("processes_signal", {"pid": 1, "signal": "TERM"}, "vps:control"),
])
def test_a_built_in_tool_outside_the_granted_scopes_is_a_403_step_up_and_never_runs(
    server: ServerProcess, http: httpx.Client, tool: str, arguments: dict[str, Any], scope: str
) -> None:
    token = granted(server, http, ["vps:read"])[1]["access_token"]
    refused = call_tool(server.url, token, tool, arguments)
    assert refused.status_code == 403, refused.text
    params = challenge(refused)
    assert params["error"] == "insufficient_scope" and set(params["scope"].split()) == {"vps:read", scope}
    assert refused.json()["error"]["data"] == {"requiredScope": scope}


def test_token_for_another_public_url_is_refused_after_a_restart(tmp_path: Path, http: httpx.Client) -> None:
    with oauth_server(tmp_path, "", "--public-url", OLD_URL) as first:
        password = password_from(first.output())
        token = grant(http, first.url, password)[1]["access_token"]
        assert tool_text(call_tool(first.url, token)) == "hi"
    with oauth_server(tmp_path, "", "--public-url", NEW_URL) as moved:
        refused = call_tool(moved.url, token)
        assert refused.status_code == 401
        params = challenge(refused)
        assert params["error"] == "invalid_token" and f"issued for {OLD_URL}" in params["error_description"]
    with oauth_server(tmp_path, "", "--public-url", OLD_URL) as back:
        assert tool_text(call_tool(back.url, token)) == "hi", "refused for its audience, not for the restart"


# --- expiry and revocation ------------------------------------------------------------------


def test_expired_access_token_is_invalid_token(brief: ServerProcess, http: httpx.Client) -> None:
    token = granted(brief, http)[1]
    assert token["expires_in"] == 3
    assert tool_text(call_tool(brief.url, token["access_token"])) == "hi"
    time.sleep(3.2)
    refused = call_tool(brief.url, token["access_token"])
    assert refused.status_code == 401 and challenge(refused)["error"] == "invalid_token"


def revoke(http: httpx.Client, base: str, client: Registered, token: str) -> httpx.Response:
    data = {"token": token, "client_id": client.client_id}
    if client.client_secret:
        data["client_secret"] = client.client_secret
    return http.post(base + "/revoke", data=data)


def test_revoked_token_is_invalid_token_and_takes_its_refresh_token_along(server: ServerProcess,
                                                                         http: httpx.Client) -> None:
    client, token = granted(server, http)
    assert tool_text(call_tool(server.url, token["access_token"])) == "hi"
    assert revoke(http, server.url, client, token["access_token"]).status_code == 200
    refused = call_tool(server.url, token["access_token"])
    assert refused.status_code == 401 and challenge(refused)["error"] == "invalid_token"
    oauth_error(refresh(http, server.url, client, token["refresh_token"]), 400, "invalid_grant")
    assert revoke(http, server.url, client, "vpsmcp_at_unknown").status_code == 200  # RFC 7009 §2.2


def test_a_client_cannot_revoke_another_clients_token(server: ServerProcess, http: httpx.Client) -> None:
    _, token = granted(server, http)
    other = register(http, server.url, client_name="other")
    revoke(http, server.url, other, token["access_token"])
    assert tool_text(call_tool(server.url, token["access_token"])) == "hi"


def test_cli_revocation_reaches_the_running_server_within_a_second(server: ServerProcess, http: httpx.Client) -> None:
    client, token = granted(server, http)
    _, bystander = granted(server, http)
    assert tool_text(call_tool(server.url, token["access_token"])) == "hi"
    subprocess.run(
        [sys.executable, "-m", "vpsmcp", "tokens", "revoke", "--client", client.client_id,
         "--state-dir", str(state_dir(server))],
        check=True, capture_output=True, env=clean_env(state_dir(server).parent), cwd=ROOT,
    )
    revoked_at = time.monotonic()
    while call_tool(server.url, token["access_token"]).status_code != 401:
        assert time.monotonic() - revoked_at < 1.5, "the server did not pick up the revocation"
        time.sleep(0.05)
    assert tool_text(call_tool(server.url, bystander["access_token"])) == "hi"


# --- refresh rotation -----------------------------------------------------------------------


def rotate(http: httpx.Client, base: str, client: Registered, refresh_token: str) -> dict[str, Any]:
    answer = refresh(http, base, client, refresh_token)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["refresh_token"] != refresh_token
    return body


def assert_family_revoked(base: str, http: httpx.Client, client: Registered, tokens: list[dict[str, Any]]) -> None:
    for token in tokens:
        refused = call_tool(base, token["access_token"])
        assert refused.status_code == 401 and challenge(refused)["error"] == "invalid_token"
        oauth_error(refresh(http, base, client, token["refresh_token"]), 400, "invalid_grant")


def test_rotated_refresh_token_works_once_in_the_grace_window_then_revokes_the_family(
    server: ServerProcess, http: httpx.Client
) -> None:
    client, first = granted(server, http)
    second = rotate(http, server.url, client, first["refresh_token"])
    twin = rotate(http, server.url, client, first["refresh_token"])  # the other egress address, within the window
    for token in (first, second, twin):
        assert tool_text(call_tool(server.url, token["access_token"])) == "hi"
    oauth_error(refresh(http, server.url, client, first["refresh_token"]), 400, "invalid_grant")
    assert_family_revoked(server.url, http, client, [first, second, twin])


def test_rotated_refresh_token_reused_after_the_window_revokes_the_family(brief: ServerProcess,
                                                                          http: httpx.Client) -> None:
    client, first = granted(brief, http)
    second = rotate(http, brief.url, client, first["refresh_token"])
    assert tool_text(call_tool(brief.url, second["access_token"])) == "hi"
    time.sleep(1.2)
    oauth_error(refresh(http, brief.url, client, first["refresh_token"]), 400, "invalid_grant")
    assert_family_revoked(brief.url, http, client, [second])  # well before its 3 s expiry


def test_refresh_token_of_another_client_is_invalid_grant(server: ServerProcess, http: httpx.Client) -> None:
    client, token = granted(server, http)
    other = register(http, server.url, client_name="other")
    oauth_error(refresh(http, server.url, other, token["refresh_token"]), 400, "invalid_grant")
    rotate(http, server.url, client, token["refresh_token"])


# --- no authentication ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with oauth_server(tmp_path_factory.mktemp("no-auth"), "", "--no-auth") as proc:
        yield proc


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP", "Via", "X-Forwarded-Port"])
def test_open_endpoint_refuses_requests_through_a_proxy(open_server: ServerProcess, header: str) -> None:
    assert tool_text(call_tool(open_server.url, None)) == "hi"
    refused = httpx.post(open_server.url + "/mcp", headers={header.lower(): "for=203.0.113.9"}, json={})
    assert refused.status_code == 403
    assert 'auth.mode is "none"' in refused.json()["error"]["message"]


@pytest.mark.parametrize("path", [PRM, PRM + "/mcp", "/.well-known/oauth-authorization-server",
                                  "/.well-known/openid-configuration", "/authorize", "/token", "/register"])
def test_open_endpoint_offers_no_authorization_server(open_server: ServerProcess, path: str) -> None:
    assert httpx.get(open_server.url + path).status_code == 404
    assert httpx.post(open_server.url + path, data={}).status_code in (404, 405)


def test_open_endpoint_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vpsmcp", "serve", "--no-auth", "--listen", "0.0.0.0", "--port", "0",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=30, env=clean_env(tmp_path), cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "auth.mode" in done.stderr and "loopback" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "listening on" not in done.stderr, done.stderr
