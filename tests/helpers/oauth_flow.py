"""Drive vpsmcp's OAuth flow over raw HTTP, as a client and as the owner at the consent page.

``obtain_token`` is the whole flow in one call; the steps are separate so
negative tests can break any one of them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.helpers.support import ROOT, clean_env

REDIRECT_URI = "http://127.0.0.1:9/callback"
PASSWORD_LINE = re.compile(r'owner password, shown only this once(?:: |", "password": ")([^\s"]+)')
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def set_password(state_dir: Path, password: str) -> None:
    """``vpsmcp passwd --password-stdin`` for a state directory."""
    subprocess.run(
        [sys.executable, "-m", "vpsmcp", "passwd", "--password-stdin", "--state-dir", str(state_dir)],
        input=password + "\n", text=True, check=True, capture_output=True, env=clean_env(state_dir.parent), cwd=ROOT,
    )


def password_from(output: str) -> str:
    """The password a first ``serve`` printed."""
    match = PASSWORD_LINE.search(output)
    assert match, f"no owner password in:\n{output}"
    return match.group(1)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Registered:
    client_id: str
    client_secret: str | None
    redirect_uri: str


def register(http: httpx.Client, base: str, redirect_uri: str = REDIRECT_URI, **metadata: Any) -> Registered:
    response = http.post(f"{base}/register", json={"redirect_uris": [redirect_uri], "client_name": "test", **metadata})
    assert response.status_code == 201, response.text
    body = response.json()
    return Registered(body["client_id"], body.get("client_secret"), redirect_uri)


def consent_page(http: httpx.Client, base: str, params: dict[str, str]) -> httpx.Response:
    return http.get(f"{base}/authorize", params=params)


def consent_form(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of a consent page."""
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page.text)}


def authorize_params(client: Registered, challenge: str, scope: str | None = None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "st-" + secrets.token_hex(4),
    }
    if scope:
        params["scope"] = scope
    return {**params, **extra}


def submit(http: httpx.Client, base: str, form: dict[str, str], password: str, scopes: list[str] | None,
           decision: str = "allow") -> httpx.Response:
    data: dict[str, Any] = {**form, "password": password, "decision": decision, "scope": scopes or []}
    return http.post(f"{base}/authorize", data=data)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "code" in query, response.headers["location"]
    return query["code"][0]


def exchange(http: httpx.Client, base: str, client: Registered, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
            "client_id": client.client_id, "code_verifier": verifier, **extra}
    if client.client_secret:
        data["client_secret"] = client.client_secret
    return http.post(f"{base}/token", data=data)


def refresh(http: httpx.Client, base: str, client: Registered, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id}
    if client.client_secret:
        data["client_secret"] = client.client_secret
    return http.post(f"{base}/token", data=data)


def grant(http: httpx.Client, base: str, password: str, scopes: list[str] | None = None,
          resource: str | None = None) -> tuple[Registered, dict[str, Any]]:
    """Register, consent as the owner (granting ``scopes``, default: all offered) and exchange."""
    client = register(http, base)
    verifier, challenge = pkce_pair()
    extra = {"resource": resource} if resource else {}
    page = consent_page(http, base, authorize_params(client, challenge, " ".join(scopes or []) or None, **extra))
    assert page.status_code == 200, page.text
    offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
    answer = submit(http, base, consent_form(page), password, scopes or offered)
    response = exchange(http, base, client, code_from(answer), verifier)
    assert response.status_code == 200, response.text
    return client, response.json()


def obtain_token(base_url: str, password: str, scopes: list[str] | None = None,
                 verify: ssl.SSLContext | bool = True) -> str:
    """An access token for ``base_url`` (the server's public URL, no path), the whole flow in one call."""
    with httpx.Client(verify=verify, timeout=10) as http:
        return str(grant(http, base_url.rstrip("/"), password, scopes)[1]["access_token"])
