"""Claude's connector as public threads document it, replayed against a real vpsmcp.

Claude's hosted connector (claude.ai, and Claude Desktop and Claude Code through
a claude.ai connector) is not a spec-perfect client. Each test sends what a
public thread reports it sends, names the thread, and checks that vpsmcp serves
it. Keys: CAI#n = anthropics/claude-ai-mcp issue n; CC#n = anthropics/claude-code
issue n. Where the spec's strict answer differs, Claude wins, and the test says so.
"""

from __future__ import annotations

import re
import threading
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
    password_from,
    pkce_pair,
    refresh,
    register,
    submit,
)
from tests.helpers.oauth_server import challenge, fresh_address, oauth_server
from tests.helpers.support import ServerProcess
from tests.helpers.trace_support import trace_lines
from vpsmcp.cli import main

pytestmark = pytest.mark.slow

META = "io.modelcontextprotocol/"
CALLBACK = "https://claude.ai/api/mcp/auth_callback"
PUBLIC_URL = "http://localhost:8001"  # fixed, so tokens keep their audience across a restart
BODY_ERA = "2026-07-28"
CLAUDE_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json",
                  "user-agent": "Claude-User"}


@pytest.fixture(scope="module")
def claude_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("claude")
    with oauth_server(tmp, "[metrics]\nenabled = true", "--public-url", PUBLIC_URL) as proc:
        yield proc, tmp
    assert "Traceback" not in proc.output(), proc.output()


@pytest.fixture(scope="module")
def server(claude_server: tuple[ServerProcess, Path]) -> ServerProcess:
    return claude_server[0]


@pytest.fixture(scope="module")
def login(server: ServerProcess) -> dict[str, Any]:
    """One login as Claude does it (see test_login_as_claude_registers_and_gets_a_refresh_token)."""
    with httpx.Client(timeout=10) as http:
        client, token = claude_login(http, server)
    return {"client": client, **token}


def claude_login(http: httpx.Client, server: ServerProcess, address: str | None = None) -> tuple[Registered, dict[str, Any]]:
    """401 → metadata → DCR with client_secret_post → consent with the challenge's scope → token."""
    headers = {"x-forwarded-for": address or fresh_address()}
    unauthenticated = httpx.post(server.url + "/mcp", headers={**CLAUDE_HEADERS, **headers},
                                 json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
    assert unauthenticated.status_code == 401
    scope = challenge(unauthenticated)["scope"]
    client = register(http, server.url, CALLBACK, client_name="Claude", token_endpoint_auth_method="client_secret_post",
                      grant_types=["authorization_code", "refresh_token"], response_types=["code"])
    assert client.client_secret, "Claude registers with client_secret_post and needs a secret back"
    verifier, pkce = pkce_pair()
    page = consent_page(http, server.url, authorize_params(client, pkce, scope, resource=PUBLIC_URL + "/mcp"))
    assert page.status_code == 200, page.text
    answer = submit(http, server.url, consent_form(page), password_from(server.output()), ["mcp:read"])
    assert answer.headers["location"].startswith(CALLBACK + "?")
    response = exchange(http, server.url, client, code_from(answer), verifier, resource=PUBLIC_URL + "/mcp")
    assert response.status_code == 200, response.text
    return client, response.json()


def body_era(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    """A 2026-07-28 message as Claude sends it after ``server/discover`` (CC#93290)."""
    meta = {META + "protocolVersion": BODY_ERA, META + "clientCapabilities": {},
            META + "clientInfo": {"name": "claude-ai", "version": "0.1.0"}}
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": {**(params or {}), "_meta": meta}}
    if id is not None:
        message["id"] = id
    return message


def post(server: ServerProcess, token: str, body: Any, **headers: str) -> httpx.Response:
    sent = {**CLAUDE_HEADERS, "authorization": f"Bearer {token}", **headers}
    return httpx.post(server.url + "/mcp", headers={k: v for k, v in sent.items() if v}, json=body, timeout=10)


# -- logging in -----------------------------------------------------------------------

def test_discovery_answers_an_httpx_client_without_accept_or_user_agent(server: ServerProcess) -> None:
    # Claude.ai's discovery has been seen as python-httpx/0.28.1 (CC#30511); auth requests carry no Accept.
    with httpx.Client(timeout=10, headers={"user-agent": "python-httpx/0.28.1"}) as http:
        del http.headers["accept"]
        unauthenticated = http.post(server.url + "/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "ping"})
        assert unauthenticated.status_code == 401
        metadata_url = challenge(unauthenticated)["resource_metadata"]
        assert metadata_url == PUBLIC_URL + "/.well-known/oauth-protected-resource/mcp"  # absolute (CAI#136)
        prm = http.get(server.url + "/.well-known/oauth-protected-resource/mcp").json()
        assert prm["resource"] == PUBLIC_URL + "/mcp" and "offline_access" not in prm["scopes_supported"]
        metadata = http.get(server.url + "/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == prm["authorization_servers"][0]
        assert "client_secret_post" in metadata["token_endpoint_auth_methods_supported"]


def test_login_as_claude_registers_and_gets_a_refresh_token(login: dict[str, Any]) -> None:
    # DCR with client_secret_post, name "Claude", the claude.ai callback (CC#5826); the scope from the
    # 401 and never offline_access (CAI#840), yet a refresh token comes back.
    assert login["refresh_token"] and login["access_token"]
    assert "offline_access" not in login["scope"]
    assert login["expires_in"] >= 24 * 3600  # the connector is reported not to refresh (CAI#228)


def test_two_refreshes_at_once_from_two_addresses_log_nobody_out(server: ServerProcess) -> None:
    # Claude refreshes from two egress IPs at the same moment (CAI#228; FastMCP#4264's failure).
    with httpx.Client(timeout=10) as http:
        client, token = claude_login(http, server)
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def refresh_from(address: str) -> None:
        with httpx.Client(timeout=10, headers={"x-forwarded-for": address}) as http:
            start.wait()
            answers.append(refresh(http, server.url, client, token["refresh_token"]))

    threads = [threading.Thread(target=refresh_from, args=(a,)) for a in ("160.79.104.10", "160.79.105.20")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    for answer in answers:  # both new tokens work: nobody was logged out
        assert post(server, answer.json()["access_token"], body_era("tools/list")).status_code == 200
    with httpx.Client(timeout=10) as http:
        assert refresh(http, server.url, client, answers[0].json()["refresh_token"]).status_code == 200


def test_a_token_stays_valid_across_a_restart(tmp_path: Path) -> None:
    # The connector does not refresh (CAI#228): a token must last its whole expires_in, restarts included.
    with oauth_server(tmp_path, "", "--public-url", PUBLIC_URL) as first, httpx.Client(timeout=10) as http:
        _, token = claude_login(http, first)
    with oauth_server(tmp_path, "", "--public-url", PUBLIC_URL) as again:
        response = post(again, token["access_token"], body_era("tools/call", {"name": "echo", "arguments": {"text": "hi"}}),
                        **{"mcp-protocol-version": "2025-11-25"})
        assert response.status_code == 200, response.text
        assert response.json()["result"]["content"][0]["text"] == "hi"


# -- the 2026-07-28 body under a 2025-11-25 header (CC#93290) ----------------------

@pytest.mark.parametrize("header", ["2025-11-25", "2025-06-18", None], ids=["2025-11-25", "2025-06-18", "no-header"])
def test_a_2026_body_is_served_by_its_body_whatever_the_header(server: ServerProcess, login: dict[str, Any],
                                                               header: str | None) -> None:
    # The spec's answer to a header that disagrees with _meta is 400 / -32020 (SEP-2575); Claude sends
    # exactly that after server/discover and shows "connected" while every call fails, so Claude wins.
    version = {"mcp-protocol-version": header or ""}
    listed = post(server, login["access_token"], body_era("tools/list"), **version, **{"mcp-method": "tools/list"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["result"]["resultType"] == "complete"
    assert "echo" in [t["name"] for t in listed.json()["result"]["tools"]]
    called = post(server, login["access_token"], body_era("tools/call", {"name": "echo", "arguments": {"text": "hey"}}),
                  **version)  # no Mcp-Method or Mcp-Name either: tolerated when the header is not this era's
    assert called.status_code == 200, called.text
    assert called.json()["result"]["content"][0]["text"] == "hey"
    assert "mcp-session-id" not in called.headers
    notified = post(server, login["access_token"], body_era("notifications/initialized", id=None), **version)
    assert notified.status_code == 202


def test_server_discover_is_answered_under_either_header(server: ServerProcess, login: dict[str, Any]) -> None:
    for header in ("2026-07-28", "2025-11-25"):
        found = post(server, login["access_token"], body_era("server/discover"),
                     **{"mcp-protocol-version": header, "mcp-method": "server/discover"})
        assert found.status_code == 200, found.text
        assert "2026-07-28" in found.json()["result"]["supportedVersions"]


def test_a_batch_of_2026_bodies_is_answered_member_by_member(server: ServerProcess, login: dict[str, Any]) -> None:
    batch = [body_era("tools/list", id=1), body_era("tools/call", {"name": "echo", "arguments": {"text": "b"}}, id=2),
             body_era("resources/list", id=3)]
    answer = post(server, login["access_token"], batch, **{"mcp-protocol-version": "2025-11-25"})
    assert answer.status_code == 200, answer.text
    by_id = {reply["id"]: reply for reply in answer.json()}
    assert set(by_id) == {1, 2, 3} and by_id[2]["result"]["content"][0]["text"] == "b"


@pytest.mark.parametrize(("headers", "why"), [
    ({"mcp-method": "tools/list"}, "Mcp-Method"),
    ({"mcp-name": "other"}, "Mcp-Name"),
])
def test_other_mismatches_keep_the_spec_answer(server: ServerProcess, login: dict[str, Any], headers: dict[str, str],
                                               why: str) -> None:
    call = body_era("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    answer = post(server, login["access_token"], call, **{"mcp-protocol-version": "2025-11-25", **headers})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32020 and why in answer.text


def test_a_2026_body_missing_its_capabilities_is_invalid_params(server: ServerProcess, login: dict[str, Any]) -> None:
    call = body_era("tools/list")
    del call["params"]["_meta"][META + "clientCapabilities"]
    answer = post(server, login["access_token"], call, **{"mcp-protocol-version": "2025-11-25"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32602


def test_errors_of_a_2026_body_travel_with_that_eras_http_status(server: ServerProcess, login: dict[str, Any]) -> None:
    answer = post(server, login["access_token"], body_era("no/such/method"), **{"mcp-protocol-version": "2025-11-25"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == -32601  # 2026-07-28: unknown method → 404
    handshake_era = post(server, login["access_token"], {"jsonrpc": "2.0", "id": 1, "method": "no/such/method"})
    assert handshake_era.status_code == 200 and handshake_era.json()["error"]["code"] == -32601  # never a 404 here


def test_the_strict_header_still_gets_the_strict_answer(server: ServerProcess, login: dict[str, Any]) -> None:
    # A client that says 2026-07-28 in the header gets every check of that era (the conformance suite's case).
    answer = post(server, login["access_token"], body_era("tools/list"), **{"mcp-protocol-version": "2026-07-28"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32020  # no Mcp-Method


def test_without_a_token_the_quirk_path_still_challenges(server: ServerProcess) -> None:
    answer = httpx.post(server.url + "/mcp", headers={**CLAUDE_HEADERS, "mcp-protocol-version": "2025-11-25"},
                        json=body_era("tools/list"))
    assert answer.status_code == 401 and "resource_metadata" in answer.headers["www-authenticate"]


# -- the handshake era as Claude speaks it -------------------------------------------

def initialize(server: ServerProcess, token: str, **headers: str) -> str:
    answer = post(server, token, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "Anthropic", "version": "1"}}},
        **headers)
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def handshake(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id is not None:
        message["id"] = id
    return message


def test_handshake_without_any_version_header_and_accept_anything(server: ServerProcess, login: dict[str, Any]) -> None:
    # No MCP-Protocol-Version header after initialize (CAI#70); Accept: */* (CAI#76).
    token = login["access_token"]
    session = initialize(server, token, accept="*/*")
    listed = post(server, token, handshake("tools/list"), accept="*/*", **{"mcp-session-id": session})
    assert listed.status_code == 200 and "tools" in listed.json()["result"]
    assert "resultType" not in listed.json()["result"]


def test_requests_without_the_session_id_are_served(server: ServerProcess, login: dict[str, Any]) -> None:
    # After initialize, some of the connector's requests come without the session id (CAI#99). The spec's
    # SHOULD is 400; the connector never recovers from it, so they are served without a session.
    token = login["access_token"]
    initialize(server, token)
    headers = {"mcp-protocol-version": "2025-11-25"}
    assert post(server, token, handshake("notifications/initialized", id=None), **headers).status_code == 202
    listed = post(server, token, handshake("tools/list"), **headers)
    assert listed.status_code == 200 and "echo" in [t["name"] for t in listed.json()["result"]["tools"]]
    called = post(server, token, handshake("tools/call", {"name": "echo", "arguments": {"text": "no session"}}))
    assert called.status_code == 200 and called.json()["result"]["content"][0]["text"] == "no session"
    assert post(server, token, handshake("ping")).json()["result"] == {}


def test_what_needs_a_session_says_so_without_one(server: ServerProcess, login: dict[str, Any]) -> None:
    answer = post(server, login["access_token"], handshake("resources/subscribe", {"uri": "test://x"}))
    assert answer.status_code == 200 and "session" in answer.json()["error"]["message"]


def test_a_present_but_unknown_session_is_still_404(server: ServerProcess, login: dict[str, Any]) -> None:
    answer = post(server, login["access_token"], handshake("tools/list"), **{"mcp-session-id": "f" * 32})
    assert answer.status_code == 404


def test_a_session_stays_bound_to_its_credential(server: ServerProcess, login: dict[str, Any]) -> None:
    session = initialize(server, login["access_token"])
    with httpx.Client(timeout=10) as http:
        _, other = claude_login(http, server)
    answer = post(server, other["access_token"], handshake("tools/list"), **{"mcp-session-id": session})
    assert answer.status_code == 404


def test_sessionless_batches_follow_the_header_version(server: ServerProcess, login: dict[str, Any]) -> None:
    batch = [handshake("tools/list", id=1), handshake("ping", id=2)]
    # Without a header the transport's default, 2025-03-26, is the one version with batches.
    assert len(post(server, login["access_token"], batch).json()) == 2
    refused = post(server, login["access_token"], batch, **{"mcp-protocol-version": "2025-11-25"})
    assert refused.status_code == 400 and "batches" in refused.json()["error"]["message"]


def test_post_sse_without_a_token_is_401_before_405(server: ServerProcess, login: dict[str, Any]) -> None:
    # A bare 405 stops clients that log in on 401 (opencode) and hangs Claude (CAI#499).
    bare = httpx.post(server.url + "/sse", headers=CLAUDE_HEADERS, json=handshake("initialize"))
    assert bare.status_code == 401
    assert challenge(bare)["resource_metadata"] == PUBLIC_URL + "/.well-known/oauth-protected-resource/sse"
    authorized = httpx.post(server.url + "/sse", headers={**CLAUDE_HEADERS, "authorization": f"Bearer {login['access_token']}"},
                            json=handshake("initialize"))
    assert authorized.status_code == 405 and authorized.headers["allow"] == "GET"


# -- the quirks are recorded ---------------------------------------------------------

def test_quirks_are_traced_once_per_flow_printed_by_logs_and_counted(
    claude_server: tuple[ServerProcess, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, tmp = claude_server
    address = "160.79.104.77"
    with httpx.Client(timeout=10, headers={"x-forwarded-for": address}) as http:
        client, token = claude_login(http, server, address)
    for _ in range(3):
        assert post(server, token["access_token"], body_era("tools/list"),
                    **{"mcp-protocol-version": "2025-11-25", "x-forwarded-for": address}).status_code == 200
    said = "header said 2025-11-25, body said 2026-07-28: served as 2026-07-28"
    state = tmp / "state"

    def mine(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in entries if e.get("client") == client.client_id and said in e.get("outcome", "")]

    def plain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in entries if e.get("client") == client.client_id and e.get("outcome") == "tools/list ok"]

    # Marked once, though three requests carried it: the next one is a plain step of its own.
    entries = trace_lines(state, lambda entries: bool(mine(entries)) and bool(plain(entries)))
    assert len(mine(entries)) == 1, entries
    assert main(["logs", "--state-dir", str(state), "--client", client.client_id], env={"HOME": str(tmp)}) == 0
    assert said in capsys.readouterr().out
    assert post(server, token["access_token"], handshake("tools/list")).status_code == 200  # no session id
    metrics = httpx.get(server.url + "/metrics").text
    counted = re.search(r'^vpsmcp_client_quirks_total\{quirk="version_header"\} (\d+)$', metrics, re.MULTILINE)
    assert counted and int(counted.group(1)) >= 3, metrics
    assert re.search(r'^vpsmcp_client_quirks_total\{quirk="no_session"\} [1-9]\d*$', metrics, re.MULTILINE), metrics
