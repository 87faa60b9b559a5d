"""A real vpsmcp with OAuth on, for the negative and crash tests, and what they send it.

The server loads ``scoped_plugin.py`` (a ``mcp:read`` tool and a ``vps:exec``
one) and trusts 127.0.0.1 as a reverse proxy, so a test can give itself a
client address of its own with ``X-Forwarded-For`` and the login brake of one
test never slows another down.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.helpers.oauth_flow import REDIRECT_URI
from tests.helpers.support import ROOT, ServerProcess, clean_env, serve_from_checkout

PLUGIN = ROOT / "tests" / "plugins" / "scoped_plugin.py"
META = "io.modelcontextprotocol/"
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_ADDRESSES = (f"198.51.100.{n % 250 + 1}" for n in itertools.count())


def oauth_server(tmp: Path, auth: str = "", *args: str) -> ServerProcess:
    """An unstarted ``vpsmcp serve`` with state under ``tmp``; ``auth`` is extra ``[auth]`` lines.

    The registration limits are raised (a module's tests register many clients from one
    address) unless ``auth`` sets them; ``test_oauth_negative`` tests the defaults' behaviour.
    """
    config = tmp / "vpsmcp.toml"
    limits = "" if "registrations_" in auth else "registrations_per_address = 100000\nregistrations_overall = 100000\n"
    config.write_text(
        f"[plugins]\nmodules = [{json.dumps(str(PLUGIN))}]\n[auth]\ntrusted_proxies = [\"127.0.0.1\"]\n{limits}{auth}\n"
    )
    return serve_from_checkout(tmp, "--config", str(config), *args)


def serve_refused(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``serve`` on ``tmp``'s state expected to refuse to start: what it printed, and its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(tmp / "state"), *args],
        capture_output=True, text=True, timeout=30, env=clean_env(tmp), cwd=tmp,
    )


def call_tool(url: str, token: str | None, tool: str = "echo", arguments: dict[str, Any] | None = None,
              http: httpx.Client | None = None) -> httpx.Response:
    """One stateless-era ``tools/call`` POST to ``url``/mcp, with ``token`` as the bearer."""
    arguments = arguments if arguments is not None else {"text": "hi"}
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": tool,
               "accept": "application/json, text/event-stream"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}}}}
    if http is None:
        return httpx.post(url + "/mcp", headers=headers, json=body, timeout=10)
    return http.post(url + "/mcp", headers=headers, json=body)


def tool_text(response: httpx.Response) -> str:
    """The text of a successful ``tools/call`` answered as JSON."""
    assert response.status_code == 200, (response.status_code, response.text)
    return str(response.json()["result"]["content"][0]["text"])


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: Bearer …`` challenge."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer "), header
    return dict(CHALLENGE_PARAM.findall(header))


def fresh_address() -> str:
    """A client address no other test of this run uses (for ``X-Forwarded-For``)."""
    return next(_ADDRESSES)


def redirect_query(response: httpx.Response, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
    """The parameters of an authorization response redirected to ``redirect_uri``."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def error_page(response: httpx.Response, status: int, text: str) -> None:
    """An HTML page (never a redirect) with ``status`` saying ``text``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert text in response.text, response.text


def oauth_error(response: httpx.Response, status: int, error: str) -> None:
    """An OAuth JSON error (RFC 6749 §5.2, RFC 7591 §3.2.2)."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
