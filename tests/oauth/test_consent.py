"""The owner's consent page refuses wrong passwords, slows guessing down and cannot be forged.

Against one real ``vpsmcp serve`` (OAuth on). Each test comes from an
address of its own (``X-Forwarded-For`` from the trusted proxy 127.0.0.1), so
the login brake one test provokes does not slow another.

Origins: a consent POST from another site carries no CSRF cookie (the cookie
is ``SameSite=Lax``, ``HttpOnly``, scoped to ``/authorize``) and is refused
before the password is looked at; the token endpoint answers any origin
(CORS ``*``), as browser-based MCP clients need, because a code is worthless
without the PKCE verifier only its client holds.
"""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pytest

from tests.helpers.oauth_flow import (
    authorize_params,
    code_from,
    consent_form,
    consent_page,
    exchange,
    pkce_pair,
    register,
    submit,
)
from tests.helpers.oauth_server import error_page, fresh_address, redirect_query
from tests.helpers.support import ServerProcess
from vpsmcp.errors import PageError
from vpsmcp.oauth.consent import seal, unseal

pytestmark = pytest.mark.slow

FORGED = "CSRF check failed"
EVIL = "https://evil.example"


def browser() -> httpx.Client:
    """A client with its own cookie jar, at an address no other test uses."""
    return httpx.Client(timeout=10, headers={"X-Forwarded-For": fresh_address()})


def consent(http: httpx.Client, base: str) -> dict[str, str]:
    """The hidden fields of a fresh consent page (the CSRF cookie is now in ``http``'s jar)."""
    page = consent_page(http, base, authorize_params(register(http, base), pkce_pair()[1]))
    assert page.status_code == 200, page.text
    return consent_form(page)


def test_wrong_password_shows_the_form_again(server: ServerProcess, http: httpx.Client) -> None:
    answer = submit(http, server.url, consent(http, server.url), "not the password", ["mcp:read"])
    error_page(answer, 401, "That is not the owner password.")
    assert set(consent_form(answer)) == {"request", "csrf"}


def test_granting_nothing_shows_the_form_again(server: ServerProcess, http: httpx.Client, password: str) -> None:
    answer = submit(http, server.url, consent(http, server.url), password, [])
    error_page(answer, 400, "Tick at least one thing")
    assert set(consent_form(answer)) == {"request", "csrf"}


def test_deny_redirects_access_denied(server: ServerProcess, http: httpx.Client) -> None:
    form = consent(http, server.url)
    query = redirect_query(submit(http, server.url, form, "", None, decision="deny"))
    assert query["error"] == "access_denied" and query["iss"] == server.url and "code" not in query


def test_repeated_wrong_passwords_hit_the_brake(server: ServerProcess, http: httpx.Client, password: str) -> None:
    form = consent(http, server.url)
    for _ in range(5):
        error_page(submit(http, server.url, form, "a guess", ["mcp:read"]), 401, "not the owner password")
    error_page(submit(http, server.url, form, "a guess", ["mcp:read"]), 429, "Too many failed attempts")
    error_page(submit(http, server.url, form, password, ["mcp:read"]), 429, "Too many failed attempts")
    with browser() as elsewhere:  # another address is not slowed down
        code_from(submit(elsewhere, server.url, consent(elsewhere, server.url), password, ["mcp:read"]))
    time.sleep(1.1)  # the first delay after the free attempts is one second
    code_from(submit(http, server.url, form, password, ["mcp:read"]))


def test_consent_cookie_stays_on_this_site(server: ServerProcess, http: httpx.Client) -> None:
    page = consent_page(http, server.url, authorize_params(register(http, server.url), pkce_pair()[1]))
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/authorize" in cookie
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_consent_post_without_the_csrf_cookie_is_refused(server: ServerProcess, http: httpx.Client,
                                                        password: str) -> None:
    form = consent(http, server.url)
    with browser() as other:
        error_page(submit(other, server.url, form, password, ["mcp:read"]), 400, FORGED)


def test_cross_site_consent_post_is_refused(server: ServerProcess, http: httpx.Client, password: str) -> None:
    """What a browser sends when another site posts the form: its Origin, and no Lax cookie."""
    form = consent(http, server.url)
    with browser() as victim:
        answer = victim.post(server.url + "/authorize", headers={"Origin": EVIL},
                             data={**form, "password": password, "decision": "allow", "scope": ["mcp:read"]})
    error_page(answer, 400, FORGED)


def test_csrf_field_must_equal_the_cookie(server: ServerProcess, http: httpx.Client, password: str) -> None:
    form = consent(http, server.url)
    other_form = consent(http, server.url)  # the jar now holds the second page's cookie
    error_page(submit(http, server.url, {**form, "csrf": other_form["csrf"]}, password, ["mcp:read"]), 400, FORGED)
    error_page(submit(http, server.url, form, password, ["mcp:read"]), 400, FORGED)


@pytest.mark.parametrize("tamper", ["redirect_uri", "scope", "mac", "garbage", "non-ascii csrf", "non-ascii mac"])
def test_tampered_consent_form_is_refused(server: ServerProcess, http: httpx.Client, password: str,
                                          tamper: str) -> None:
    form = consent(http, server.url)
    body, _, mac = form["request"].partition(".")
    sealed = json.loads(base64.urlsafe_b64decode(body))
    if tamper in ("redirect_uri", "scope"):
        sealed["p"][tamper] = "http://127.0.0.1:7/stolen" if tamper == "redirect_uri" else "vps:exec"
        form["request"] = base64.urlsafe_b64encode(json.dumps(sealed).encode()).decode() + "." + mac
    elif tamper == "mac":
        form["request"] = body + "." + mac[::-1]
    elif tamper == "garbage":
        form["request"] = "not a sealed request"
    elif tamper == "non-ascii csrf":
        form["csrf"] = "çà" + form["csrf"]
    else:
        form["request"] = body + ".é" + mac[1:]
    error_page(submit(http, server.url, form, password, ["mcp:read", "vps:exec"]), 400, FORGED)


def test_token_endpoint_answers_browser_clients_of_any_origin(server: ServerProcess, http: httpx.Client,
                                                              password: str) -> None:
    client = register(http, server.url)
    verifier, challenge = pkce_pair()
    page = consent_page(http, server.url, authorize_params(client, challenge))
    code = code_from(submit(http, server.url, consent_form(page), password, ["mcp:read"]))
    preflight = http.options(server.url + "/token", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    http.headers["Origin"] = EVIL
    answer = exchange(http, server.url, client, code, verifier)
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers  # no cookies cross origins


CHECKBOX = re.compile(r'<input type="checkbox" name="scope" value="([^"]+)"( checked)?>')


def test_risky_scopes_start_unticked_even_when_the_client_asks_for_them(server: ServerProcess,
                                                                      http: httpx.Client) -> None:
    # Literal names, not scopes.DANGEROUS: a test reading the set it checks could not fail.
    params = authorize_params(register(http, server.url), pkce_pair()[1], scope="vps:read vps:files:write vps:control")
    boxes = {name: bool(checked) for name, checked in CHECKBOX.findall(consent_page(http, server.url, params).text)}
    assert boxes == {"vps:read": True, "vps:files:write": False, "vps:control": False}


def test_a_scope_this_server_does_not_offer_is_never_granted(server: ServerProcess, http: httpx.Client,
                                                             password: str) -> None:
    client = register(http, server.url)
    verifier, challenge = pkce_pair()
    page = consent_page(http, server.url, authorize_params(client, challenge, scope="vps:read made:up"))
    assert [name for name, _ in CHECKBOX.findall(page.text)] == ["vps:read"]
    # A form ticking what was never offered (unknown, and vps:exec, whose tool is off) grants only what was.
    answer = submit(http, server.url, consent_form(page), password, ["vps:read", "made:up", "vps:exec"])
    token = exchange(http, server.url, client, code_from(answer), verifier)
    assert token.status_code == 200 and token.json()["scope"].split() == ["vps:read"]


@pytest.mark.parametrize(("age", "usable"), [(14 * 60, True), (15 * 60 + 1, False), (24 * 3600, False)])
def test_a_consent_form_expires_after_fifteen_minutes(age: float, usable: bool) -> None:
    sealed = seal("key", {"client_id": "c"}, "csrf", now=time.time() - age)
    if usable:
        assert unseal("key", sealed, "csrf", "csrf") == {"client_id": "c"}
    else:
        with pytest.raises(PageError, match="expired"):
            unseal("key", sealed, "csrf", "csrf")
