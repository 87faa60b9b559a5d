"""A bearer token for the benchmark: vpsmcp's whole OAuth flow, standard library only.

The benchmark measures vpsmcp as it is deployed, with its bearer check on
every request. This registers a client, consents as the owner and exchanges
the code, the way tests/helpers/oauth_flow.py does with httpx.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PASSWORD = "bench-owner-password"
REDIRECT = "http://127.0.0.1:9/callback"


def set_password(python: Path, state_dir: Path, env: dict[str, str], cwd: Path) -> None:
    subprocess.run([str(python), "-m", "vpsmcp", "passwd", "--password-stdin", "--state-dir", str(state_dir)],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=env, cwd=cwd)


def _request(base: str, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body or None, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def obtain_token(base: str) -> str:
    """An access token for the server at ``base`` (no path), with every scope it offers."""
    return str(obtain_grant(base)[1]["access_token"])


def obtain_grant(base: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    """A new client registered at ``base``, the token response of its whole flow, and the seconds
    the code exchange took (the one step of the flow that writes tokens to the store)."""
    status, _, body = _request(base, "POST", "/register", json.dumps({"redirect_uris": [REDIRECT]}),
                               {"Content-Type": "application/json"})
    client = json.loads(body)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
                       "code_challenge": challenge, "code_challenge_method": "S256", "state": "bench"})
    status, headers, page = _request(base, "GET", "/authorize?" + query)
    if status != 200:
        raise RuntimeError(f"authorize page: HTTP {status}: {page[:300]}")
    form = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)}
    scopes = re.findall(r'name="scope" value="([^"]+)"', page)
    body = urlencode([*form.items(), ("password", PASSWORD), ("decision", "allow"), *(("scope", s) for s in scopes)])
    cookie = headers["set-cookie"].split(";")[0]
    status, headers, page = _request(base, "POST", "/authorize", body,
                                     {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    if status != 302:
        raise RuntimeError(f"consent: HTTP {status}: {page[:300]}")
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
    token_form = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                            "client_id": client["client_id"], "client_secret": client["client_secret"],
                            "code_verifier": verifier})
    started = time.perf_counter()
    status, _, body = _request(base, "POST", "/token", token_form, {"Content-Type": "application/x-www-form-urlencoded"})
    took = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"token: HTTP {status}: {body[:300]}")
    return client, json.loads(body), took
