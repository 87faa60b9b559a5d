"""The authorization server refuses what it must, each refusal in the wire form the RFCs give it.

Against one real ``vpsmcp serve`` (OAuth on): PKCE (RFC 7636, S256 only),
single-use codes (RFC 6749 §4.1.2, §10.5), exact redirect URIs with
loopback-port leniency (RFC 8252 §7.3), resource indicators (RFC 8707),
client authentication and registration (RFC 7591 §3.2.2). Errors that go to
the redirect URI are asserted there (``error=``, ``state``, ``iss``); the
rest as a page or an OAuth JSON ``error``. The owner's login is in
test_oauth_consent.py, the resource server's side in test_oauth_resource.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers.oauth_flow import (
    REDIRECT_URI,
    Registered,
    authorize_params,
    code_from,
    consent_form,
    consent_page,
    exchange,
    pkce_pair,
    refresh,
    register,
    submit,
)
from tests.helpers.oauth_server import call_tool, error_page, oauth_error, redirect_query
from tests.helpers.support import ServerProcess
from vpsmcp.oauth.adapter import snapshot
from vpsmcp.oauth.authorization import Lifetimes, OwnerGrant, VpsmcpAuthorizationServer
from vpsmcp.oauth.codes import CodeBook
from vpsmcp.oauth.file_store import FileStore
from vpsmcp.oauth.registration import new_client, parse_metadata
from vpsmcp.oauth.resources import Resources

pytestmark = pytest.mark.slow


def approved_code(http: httpx.Client, base: str, password: str, client: Registered | None = None) -> tuple[Registered, str, str]:
    """(client, verifier, code): a code the owner approved."""
    client = client or register(http, base)
    verifier, challenge = pkce_pair()
    page = consent_page(http, base, authorize_params(client, challenge))
    assert page.status_code == 200, page.text
    return client, verifier, code_from(submit(http, base, consent_form(page), password, ["mcp:read"]))


# --- PKCE -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"code_challenge": "", "code_challenge_method": ""},
    {"code_challenge_method": "plain"},
    {"code_challenge_method": ""},
])
def test_authorize_without_an_s256_challenge_redirects_invalid_request(
    server: ServerProcess, http: httpx.Client, change: dict[str, str]
) -> None:
    client = register(http, server.url)
    params = {k: v for k, v in {**authorize_params(client, pkce_pair()[1]), **change}.items() if v}
    query = redirect_query(consent_page(http, server.url, params))
    assert query["error"] == "invalid_request"
    assert query["state"] == params["state"] and query["iss"] == server.url


def test_wrong_verifier_is_invalid_grant_and_spends_the_code(server: ServerProcess, http: httpx.Client,
                                                             password: str) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    oauth_error(exchange(http, server.url, client, code, pkce_pair()[0]), 400, "invalid_grant")
    oauth_error(exchange(http, server.url, client, code, verifier), 400, "invalid_grant")


def test_missing_verifier_is_invalid_request_and_spends_the_code(server: ServerProcess, http: httpx.Client,
                                                                 password: str) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    oauth_error(exchange(http, server.url, client, code, ""), 400, "invalid_request")
    oauth_error(exchange(http, server.url, client, code, verifier), 400, "invalid_grant")


def test_code_is_single_use_and_a_replay_revokes_what_it_was_exchanged_for(
    server: ServerProcess, http: httpx.Client, password: str
) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    first = exchange(http, server.url, client, code, verifier)
    assert first.status_code == 200
    assert call_tool(server.url, first.json()["access_token"]).status_code == 200
    oauth_error(exchange(http, server.url, client, code, verifier), 400, "invalid_grant")
    assert call_tool(server.url, first.json()["access_token"]).status_code == 401, "RFC 6749 §4.1.2"
    oauth_error(refresh(http, server.url, client, first.json()["refresh_token"]), 400, "invalid_grant")


def test_code_of_another_client_is_invalid_grant(server: ServerProcess, http: httpx.Client, password: str) -> None:
    _, verifier, code = approved_code(http, server.url, password)
    other = register(http, server.url, client_name="other")
    oauth_error(exchange(http, server.url, other, code, verifier), 400, "invalid_grant")


# The literal minute, not the imported constant: a constant raised to an hour would pass against itself.
@pytest.mark.parametrize(("elapsed", "status"), [(59, 200), (60, 400), (61, 400)])
def test_code_lives_one_minute(tmp_path: Path, elapsed: float, status: int) -> None:
    """The core alone, on a clock the test turns (no minute of sleep)."""
    now = [1_000_000.0]
    base = "https://vps.example"
    core = VpsmcpAuthorizationServer(FileStore(tmp_path / "oauth.json"), Resources.of(base), Lifetimes(60, 60, 1))
    core.codes = CodeBook(clock=lambda: now[0])
    client, _ = new_client(parse_metadata({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}))
    core.store.add_client(client)
    verifier, challenge = pkce_pair()
    params = authorize_params(Registered(client.client_id, None, REDIRECT_URI), challenge)
    request = snapshot("GET", base + "/authorize", {}, params, {})
    grant = core.get_consent_grant(request)
    approval = core.create_authorization_response(request, grant_user=OwnerGrant(("mcp:read",), base + "/mcp"),
                                                  grant=grant)
    code = parse_qs(urlsplit(approval.location or "").query)["code"][0]
    now[0] += elapsed
    answer = core.create_token_response(snapshot("POST", base + "/token", {}, {}, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id, "code_verifier": verifier}))
    assert answer.status == status, answer.body
    if status != 200:
        assert answer.body["error"] == "invalid_grant"


# --- redirect URIs and resources ------------------------------------------------------------


@pytest.mark.parametrize(("redirect_uri", "allowed"), [
    ("http://127.0.0.1:54321/callback", True),  # RFC 8252 §7.3: any port on loopback
    ("http://127.0.0.1:54321/other", False),
    ("http://localhost:9/callback", False),
    ("https://evil.example/callback", False),
    (REDIRECT_URI + "#frag", False),
])
def test_redirect_uri_must_match_but_for_the_loopback_port(
    server: ServerProcess, http: httpx.Client, password: str, redirect_uri: str, allowed: bool
) -> None:
    client = replace(register(http, server.url), redirect_uri=redirect_uri)
    verifier, challenge = pkce_pair()
    page = consent_page(http, server.url, authorize_params(client, challenge))
    if not allowed:
        error_page(page, 400, f"Redirect URI {redirect_uri} is not supported by client.")
        return
    answer = submit(http, server.url, consent_form(page), password, ["mcp:read"])
    code = redirect_query(answer, redirect_uri)["code"]
    assert exchange(http, server.url, client, code, verifier).status_code == 200


@pytest.mark.parametrize(("registered", "requested"), [
    ("https://app.example:8443/callback", "https://app.example:9443/callback"),
    ("https://app.example:8443/callback", "https://app.example/callback"),
    ("https://127.0.0.1:8443/callback", "https://127.0.0.1:9443/callback"),  # only http loopback may change its port
])
def test_the_port_of_a_redirect_uri_off_loopback_must_match(
    server: ServerProcess, http: httpx.Client, registered: str, requested: str
) -> None:
    client = replace(register(http, server.url, redirect_uri=registered), redirect_uri=requested)
    page = consent_page(http, server.url, authorize_params(client, pkce_pair()[1]))
    error_page(page, 400, f"Redirect URI {requested} is not supported by client.")


def test_redirect_uri_differing_at_token_is_invalid_grant(server: ServerProcess, http: httpx.Client,
                                                          password: str) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    moved = replace(client, redirect_uri="http://127.0.0.1:10/callback")
    oauth_error(exchange(http, server.url, moved, code, verifier), 400, "invalid_grant")


def test_resource_of_another_server_at_authorize_redirects_invalid_target(server: ServerProcess,
                                                                          http: httpx.Client) -> None:
    client = register(http, server.url)
    params = authorize_params(client, pkce_pair()[1], resource="https://elsewhere.example/mcp")
    query = redirect_query(consent_page(http, server.url, params))
    assert query["error"] == "invalid_target" and query["state"] == params["state"]


def test_resource_of_another_server_at_token_is_invalid_target(server: ServerProcess, http: httpx.Client,
                                                               password: str) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    answer = exchange(http, server.url, client, code, verifier, resource="https://elsewhere.example/mcp")
    oauth_error(answer, 400, "invalid_target")


# --- clients --------------------------------------------------------------------------------


def test_unknown_client_at_token_is_401_invalid_client(server: ServerProcess, http: httpx.Client) -> None:
    ghost = Registered("no-such-client", None, REDIRECT_URI)
    oauth_error(exchange(http, server.url, ghost, "code", pkce_pair()[0]), 401, "invalid_client")


def test_wrong_client_secret_is_401_invalid_client(server: ServerProcess, http: httpx.Client, password: str) -> None:
    client, verifier, code = approved_code(http, server.url, password)
    assert client.client_secret, "registered as a confidential client"
    oauth_error(exchange(http, server.url, replace(client, client_secret="wrong"), code, verifier), 401, "invalid_client")


@pytest.mark.parametrize("client_id", ["no-such-client", "https://[::1/client.json", "https://app.example:99999/c.json"])
def test_unknown_client_at_authorize_gets_a_page(server: ServerProcess, http: httpx.Client, client_id: str) -> None:
    ghost = Registered(client_id, None, REDIRECT_URI)
    error_page(consent_page(http, server.url, authorize_params(ghost, pkce_pair()[1])), 400,
               "The client does not exist on this server.")
    oauth_error(exchange(http, server.url, ghost, "code", pkce_pair()[0]), 401, "invalid_client")


def test_basic_credentials_that_are_not_utf8_are_invalid_client(server: ServerProcess, http: httpx.Client) -> None:
    credentials = base64.b64encode(b"\xff\xfe:secret").decode()
    answer = http.post(server.url + "/token", headers={"authorization": f"Basic {credentials}"},
                       data={"grant_type": "authorization_code", "code": "x", "code_verifier": pkce_pair()[0]})
    oauth_error(answer, 401, "invalid_client")


def test_malformed_redirect_uri_at_authorize_gets_a_page(server: ServerProcess, http: httpx.Client) -> None:
    client = replace(register(http, server.url), redirect_uri="http://[bad/callback")
    error_page(consent_page(http, server.url, authorize_params(client, pkce_pair()[1])), 400, "Redirect URI")


@pytest.mark.parametrize(("body", "error"), [
    (b"not json", "invalid_client_metadata"),
    (b"[]", "invalid_client_metadata"),
    (b'"a string"', "invalid_client_metadata"),
    (b'{"client_name": "no redirect"}', "invalid_redirect_uri"),
    (b'{"redirect_uris": "http://127.0.0.1:9/callback"}', "invalid_redirect_uri"),
    (b'{"redirect_uris": []}', "invalid_redirect_uri"),
    (b'{"redirect_uris": ["javascript:alert(1)"]}', "invalid_redirect_uri"),
    (b'{"redirect_uris": ["http://app.example/callback"]}', "invalid_redirect_uri"),
    (b'{"redirect_uris": ["https://app.example/cb#x"]}', "invalid_redirect_uri"),
    (b'{"redirect_uris": [42]}', "invalid_redirect_uri"),
    (b'{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}',
     "invalid_client_metadata"),
    (b'{"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}',
     "invalid_client_metadata"),
    (b'{"redirect_uris": ["https://app.example/cb"], "client_name": 7}', "invalid_client_metadata"),
    (b'{"redirect_uris": ["https://[bad/cb"]}', "invalid_redirect_uri"),
    (b'{"redirect_uris": ["https://app.example:99999/cb"]}', "invalid_redirect_uri"),
    (b'{"a":' * 5000, "invalid_client_metadata"),
])
def test_malformed_registration_is_refused(server: ServerProcess, http: httpx.Client, body: bytes, error: str) -> None:
    answer = http.post(server.url + "/register", content=body, headers={"content-type": "application/json"})
    oauth_error(answer, 400, error)
    assert "error_description" in answer.json()


def test_registration_tolerates_unknown_metadata(server: ServerProcess, http: httpx.Client) -> None:
    answer = http.post(server.url + "/register", json={
        "redirect_uris": ["https://app.example/cb"], "client_name": "tolerated", "software_id": "x",
        "logo_uri": "https://app.example/logo.png", "scope": "mcp:read offline_access", "x-vendor": {"a": [1]},
    })
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["redirect_uris"] == ["https://app.example/cb"] and body["client_id"]
    assert isinstance(body["client_secret_expires_at"], int)
    assert answer.headers["cache-control"] == "no-store"


def test_oversized_registration_is_refused(server: ServerProcess, http: httpx.Client) -> None:
    body = json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": "x", "padding": "p" * 70_000})
    oauth_error(http.post(server.url + "/register", content=body), 400, "invalid_client_metadata")


def test_a_client_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id is typed after options (``vpsmcp logs --client ID``); one starting ``-`` read as an option
    and failed a CI run. The generator is made to draw a dashed id first."""
    drawn = iter(["-ICCMhqRkqJ2v3Tz9yFJGQ", "ICCMhqRkqJ2v3Tz9yFJGQ"])
    monkeypatch.setattr("vpsmcp.oauth.registration.secrets.token_urlsafe", lambda n: next(drawn))
    client, _ = new_client(parse_metadata({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}))
    assert client.client_id == "ICCMhqRkqJ2v3Tz9yFJGQ"
