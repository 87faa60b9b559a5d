"""The OAuth 2.1 client side the doctor plays: registration, PKCE, the authorization request, tokens.

Requests as MCP clients send them (MCP authorization; SDK client/auth):
JSON registration (RFC 7591), S256 PKCE (RFC 7636 §4.2), ``resource``
(RFC 8707) in the authorization and token requests, form-encoded token and
revocation requests (RFC 6749 §4.1.3, RFC 7009) with ``client_id`` in the body,
each authenticated the way the registration answered
(``token_endpoint_auth_method``: the secret in the body, in a Basic header, or
none at all for a public client, RFC 6749 §2.3.1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from vpsmcp.doctor.probe import Probe, Reply

CLAUDE_CALLBACKS = ("https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback")
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(probe: Probe, endpoint: str, metadata: Mapping[str, Any]) -> Reply:
    body = json.dumps(dict(metadata)).encode()
    return probe.request("POST", endpoint, {"Content-Type": "application/json", "Accept": "application/json"}, body)


def claude_registration(scope: str) -> dict[str, Any]:
    """The registration Claude's connector sends (CC#5826: client_secret_post)."""
    metadata: dict[str, Any] = {
        "client_name": "Claude (vpsmcp doctor)",
        "redirect_uris": list(CLAUDE_CALLBACKS),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    if scope:
        metadata["scope"] = scope
    return metadata


# ChatGPT's connectors register a callback of their own per connector (makeplane/plane-mcp-server#165,
# kunickiaj/codemem#1286); Codex's ``mcp login`` a loopback port with a callback id in the path
# (openai/codex#30460: base64url of a hash of the server URL).
CHATGPT_CALLBACK = "https://chatgpt.com/connector/oauth/vpsmcpdoctor1"
CODEX_CALLBACK = "http://127.0.0.1:33418/callback/vpsmcpdoctor1"


def other_registration(name: str, callback: str, scope: str) -> dict[str, Any]:
    """A registration as another client sends it: its name and callback, the server's default auth method."""
    metadata: dict[str, Any] = {
        "client_name": f"{name} (vpsmcp doctor)", "redirect_uris": [callback],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    }
    if scope:
        metadata["scope"] = scope
    return metadata


def authorize_url(endpoint: str, client_id: str, redirect_uri: str, challenge: str, state: str,
                  scope: str, resource: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": resource,
    }
    if scope:
        params["scope"] = scope
    return endpoint + ("&" if urlsplit(endpoint).query else "?") + urlencode(params)


def exchange_code(probe: Probe, endpoint: str, client: Mapping[str, Any], code: str, redirect_uri: str,
                  verifier: str, resource: str) -> Reply:
    form: dict[str, str] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": str(client["client_id"]),
        "code_verifier": verifier,
        "resource": resource,
    }
    return authenticated(probe, endpoint, client, form)


def revoke(probe: Probe, endpoint: str, client: Mapping[str, Any], token: str, hint: str,
           empty_secret: bool = False) -> Reply:
    """RFC 7009 §2.1; ``empty_secret`` adds ``client_secret=`` for a public client, for the servers that
    demand the field even then (python-sdk#3508)."""
    form = {"token": token, "token_type_hint": hint, "client_id": str(client["client_id"])}
    if empty_secret and auth_method(client) == "none":
        form["client_secret"] = ""
    return authenticated(probe, endpoint, client, form)


def token_request(probe: Probe, endpoint: str, form: Mapping[str, str]) -> Reply:
    return probe.request("POST", endpoint, FORM, urlencode(dict(form)).encode())


def auth_method(client: Mapping[str, Any]) -> str:
    """How the registration says this client authenticates (RFC 7591 §2: client_secret_basic when unsaid,
    unless no secret was issued)."""
    method = client.get("token_endpoint_auth_method")
    if isinstance(method, str) and method:
        return method
    return "client_secret_basic" if client.get("client_secret") else "none"


def authenticated(probe: Probe, endpoint: str, client: Mapping[str, Any], form: dict[str, str]) -> Reply:
    """A form POST to the token or revocation endpoint, with the client's credentials as registered."""
    headers, secret = dict(FORM), client.get("client_secret")
    method = auth_method(client)
    if method == "client_secret_basic" and isinstance(secret, str) and secret:
        pair = f"{quote(str(client['client_id']), safe='')}:{quote(secret, safe='')}"  # RFC 6749 §2.3.1
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif method != "none" and isinstance(secret, str) and secret:
        form["client_secret"] = secret
    return probe.request("POST", endpoint, headers, urlencode(form).encode())


def oauth_error(reply: Reply) -> str:
    """``invalid_grant: description`` from an OAuth error body, else the status and an excerpt."""
    body = reply.json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        description = body.get("error_description")
        return error + (f": {description}" if isinstance(description, str) and description else "")
    return f"HTTP {reply.status} {reply.excerpt(100)!r}"
