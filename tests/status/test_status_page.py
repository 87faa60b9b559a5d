"""The owner's status page on a real server: login, CSRF, what it shows, the revoke button, and a browser.

Each test sends its login attempts from its own address (``X-Forwarded-For``
from the trusted loopback proxy), so the login brake of one test never slows
another. The page is rendered by Debian's headless Chromium, which
``tests/run.sh`` installs; without it the test fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.oauth_flow import register, set_password
from tests.helpers.oauth_server import call_tool, oauth_server
from tests.helpers.support import ROOT, ServerProcess
from tests.helpers.trace_support import PASSWORD, challenge, discover, log_in, mcp_session, traced_server

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = traced_server(tmp_path_factory.mktemp("status"))
    try:
        yield proc
    finally:
        proc.stop()


def browser(address: str) -> httpx.Client:
    """A client that keeps cookies, coming from ``address`` (through the trusted proxy)."""
    return httpx.Client(timeout=20, headers={"x-forwarded-for": address})


def log_in_as_owner(http: httpx.Client, base: str, password: str = PASSWORD) -> httpx.Response:
    page = http.get(f"{base}/status/login")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, page.text
    return http.post(f"{base}/status/login", data={"csrf": match.group(1), "password": password})


def page_csrf(http: httpx.Client, base: str) -> str:
    page = http.get(f"{base}/status")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def test_strangers_are_sent_to_the_login_form(server: ServerProcess) -> None:
    with browser("192.0.2.10") as http:
        page = http.get(f"{server.url}/status")
        assert page.status_code == 303 and page.headers["location"] == "/status/login"
        http.cookies.set("vpsmcp_status", "9999999999.forged.00", path="/status")
        assert http.get(f"{server.url}/status").status_code == 303
        refused = http.post(f"{server.url}/status/revoke", data={"client_id": "x", "csrf": "x"})
        assert refused.status_code == 401 and "Log in" in refused.text


def test_login_refuses_a_missing_csrf_token_and_a_wrong_password(server: ServerProcess) -> None:
    with browser("192.0.2.11") as http:
        http.get(f"{server.url}/status/login")
        forged = http.post(f"{server.url}/status/login", data={"password": PASSWORD})
        assert forged.status_code == 400 and "CSRF" in forged.text
        wrong = log_in_as_owner(http, server.url, "not the password at all")
        assert wrong.status_code == 401 and "not the owner password" in wrong.text
        assert "vpsmcp_status=" not in wrong.headers.get("set-cookie", "").replace("vpsmcp_status_login=", "")
        assert http.get(f"{server.url}/status").status_code == 303


def test_login_sets_a_strict_httponly_cookie_for_the_status_page_only(server: ServerProcess) -> None:
    with browser("192.0.2.12") as http:
        answer = log_in_as_owner(http, server.url)
        assert answer.status_code == 303 and answer.headers["location"] == "/status"
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("vpsmcp_status="))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path", "max-age"} <= attributes and "secure" not in attributes  # http public URL
        assert "SameSite=Strict" in cookie and "Path=/status" in cookie
        page = http.get(f"{server.url}/status")
        assert page.status_code == 200 and "vpsmcp status" in page.text
        assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_page_shows_a_client_after_its_flow_and_revoking_it_ends_its_access(server: ServerProcess) -> None:
    challenge(server.url)
    with httpx.Client(timeout=10) as client_http:
        discover(client_http, server.url)
        client, tokens, _ = log_in(client_http, server.url)
        assert call_tool(server.url, tokens["access_token"], http=client_http).status_code == 200
    with browser("192.0.2.13") as http:
        assert log_in_as_owner(http, server.url).status_code == 303
        page = http.get(f"{server.url}/status").text
        row = page[page.index(client.client_id):]
        assert "mcp:read" in row[:800] and "Revoke" in row[:800]
        assert "called tools at" in page  # the flow's verdict, in the recent connections
        forged = http.post(f"{server.url}/status/revoke", data={"client_id": client.client_id})
        assert forged.status_code == 400
        assert call_tool(server.url, tokens["access_token"]).status_code == 200
        revoked = http.post(f"{server.url}/status/revoke",
                            data={"client_id": client.client_id, "csrf": page_csrf(http, server.url)})
        assert revoked.status_code == 303 and revoked.headers["location"] == "/status?revoked=1"
        assert "Revoked 1 grant(s)" in http.get(server.url + revoked.headers["location"]).text
    assert call_tool(server.url, tokens["access_token"]).status_code == 401


def test_personal_access_tokens_are_listed_and_revocable_and_metadata_reach_is_said(server: ServerProcess) -> None:
    state = Path(server.argv[server.argv.index("--state-dir") + 1]) if "--state-dir" in server.argv else None
    config = server.argv[server.argv.index("--config") + 1]
    made = subprocess.run([sys.executable, "-m", "vpsmcp", "tokens", "create", "--name", "cron-job", "--scope", "mcp:read",
                           "--config", config, *(["--state-dir", str(state)] if state else [])],
                          capture_output=True, text=True, timeout=30, cwd=ROOT, env=server.env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.rsplit(" ", 1)[1].strip()
    with browser("192.0.2.14") as http:
        assert log_in_as_owner(http, server.url).status_code == 303
        page = http.get(f"{server.url}/status").text
        assert token not in page
        row = page[page.index("cron-job (personal access token)"):]
        assert "pat:cron-job" in row[:600] and "mcp:read" in row[:600]
        assert "Client metadata documents" in page and "fetch https://claude.ai/oauth/mcp-oauth-client-metadata" in page
        revoked = http.post(f"{server.url}/status/revoke", data={"client_id": "pat:cron-job",
                                                                "csrf": page_csrf(http, server.url)})
        assert revoked.headers["location"] == "/status?revoked=1"


def test_upstreams_are_shown_and_a_new_owner_password_ends_every_login(tmp_path: Path) -> None:
    upstream = json.dumps([sys.executable, str(ROOT / "tests" / "upstreams" / "scripted_stdio.py")])
    proc = traced_server(tmp_path, f'[upstreams.scripted]\nargv = {upstream}\nstart = "boot"\n')
    try:
        with browser("192.0.2.14") as http:
            assert log_in_as_owner(http, proc.url).status_code == 303
            page = http.get(f"{proc.url}/status").text
            row = page[page.index("<td>scripted</td>"):]
            assert "<td>stdio</td>" in row[:200] and re.search(r">(ready|starting)</td>", row[:300]), row[:300]
            set_password(tmp_path / "state", "another long owner password")
            assert http.get(f"{proc.url}/status").status_code == 303
            logout = http.post(f"{proc.url}/status/logout", data={"csrf": "x"})
            assert logout.status_code == 401
    finally:
        proc.stop()


def test_the_login_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    with oauth_server(tmp_path, "", "--public-url", "https://mcp.example.test") as proc:
        page = httpx.get(f"{proc.url}/status/login")
        assert page.status_code == 200 and "Secure" in page.headers["set-cookie"]


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is required for this test (tests/run.sh installs it: apt-get install chromium)"
    return found


def headless(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


def test_chromium_renders_the_page_and_the_login_form_without_javascript(server: ServerProcess, tmp_path: Path) -> None:
    challenge(server.url)
    with httpx.Client(timeout=10) as client_http:
        discover(client_http, server.url)
        client, tokens, _ = log_in(client_http, server.url)
        mcp_session(client_http, server.url, tokens["access_token"])
    with browser("192.0.2.15") as http:
        assert log_in_as_owner(http, server.url).status_code == 303
        html = http.get(f"{server.url}/status").text
    page = tmp_path / "status.html"
    page.write_text(html)
    dom = headless(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert client.client_id in dom and "<svg" in dom and "Recent connections" in dom
    shot = tmp_path / "status.png"
    headless(tmp_path, f"--screenshot={shot}", "--window-size=1280,1800", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    login = headless(tmp_path, "--dump-dom", f"{server.url}/status").stdout  # follows the 303, no script needed
    assert 'type="password"' in login and 'name="csrf"' in login


def test_a_request_shows_on_the_status_page_as_soon_as_it_is_answered(server: ServerProcess) -> None:
    with browser("198.51.100.77") as owner, httpx.Client(timeout=10) as client:
        assert log_in_as_owner(owner, server.url).status_code == 303
        registered = register(client, server.url, client_name="status-promptness")
        started = time.monotonic()
        page = owner.get(f"{server.url}/status")
        took = time.monotonic() - started
    assert registered.client_id in page.text and took < 0.1, took
