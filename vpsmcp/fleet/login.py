"""How the hub gets its credential for a node: a login the node's owner approves, or a token made there.

``vpsmcp fleet add NAME URL`` (and ``fleet login NAME``) registers the hub at
the node as a native client with a loopback redirect (RFC 8252, as the
doctor's ``--login`` does), asks for every scope the node offers (the owner
ticks what the hub may do), prints the authorization URL and waits for the
browser. When the browser runs on another machine (the usual case: the hub is
a VPS), its redirect to ``127.0.0.1`` cannot load there; the owner pastes the
address it shows into the terminal instead. The code is exchanged with the
PKCE verifier and ``resource``; the tokens go to the fleet file, never to the
terminal.

``--token-stdin`` takes a personal access token made on the node
(``vpsmcp tokens create``) from stdin (not argv: ``ps`` shows argv), checked
with one request before it is kept.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import TextIO, TypeVar
from urllib.parse import parse_qs, urlsplit

from vpsmcp.doctor.loopback import RedirectListener
from vpsmcp.doctor.oauth_client import authorize_url, pkce_pair
from vpsmcp.errors import FleetError
from vpsmcp.fleet import oauth
from vpsmcp.fleet.credentials import with_tokens
from vpsmcp.fleet.nodes import Node

T = TypeVar("T")


def log_in(name: str, url: str, out: TextIO, open_browser: bool, timeout: float,
           paste: TextIO | None = None) -> Node:
    """Log in to the node at ``url`` as the hub; the node's owner approves in a browser."""
    found = _discover(name, url)
    document = found.metadata
    endpoint = document.get("registration_endpoint")
    if not isinstance(endpoint, str):
        raise FleetError(f"node {name!r} offers no client registration: make a personal access token on it "
                         f"(vpsmcp tokens create) and run `vpsmcp fleet add {name} {url} --token-stdin`")
    with RedirectListener("vpsmcp fleet") as listener:
        client = _call(name, lambda: oauth.register(endpoint, {
            "client_name": f"vpsmcp hub {socket.gethostname()}"[:100], "redirect_uris": [listener.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "application_type": "native",
        }))
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        address = authorize_url(str(document["authorization_endpoint"]), str(client["client_id"]),
                                listener.redirect_uri, challenge, state, " ".join(found.scopes), found.resource)
        print(f"Log in to {name} as its owner and allow the hub, in a browser (waiting up to {timeout:g} s):\n"
              f"{address}\n"
              "If that browser is on another machine, it ends on a page that does not load: "
              "paste that page's address here and press Enter.", file=out, flush=True)
        if open_browser:
            webbrowser.open(address)
        if paste is not None:
            _read_pasted(paste, listener)
        answer = listener.wait(timeout)
    if answer is None:
        raise FleetError(f"no login to {name} within {timeout:g} s: run `vpsmcp fleet login {name}` again")
    code = _code_of(name, answer, state, document)
    tokens = _call(name, lambda: oauth.token(str(document["token_endpoint"]), {
        "grant_type": "authorization_code", "code": code, "redirect_uri": listener.redirect_uri,
        "code_verifier": verifier, "resource": found.resource,
        **oauth.client_form(str(client["client_id"]), str(client.get("client_secret") or "")),
    }))
    revocation = document.get("revocation_endpoint")
    node = Node(name=name, url=url, kind="oauth", access_token="", token_endpoint=str(document["token_endpoint"]),
                revocation_endpoint=revocation if isinstance(revocation, str) else "",
                client_id=str(client["client_id"]), client_secret=str(client.get("client_secret") or ""),
                added_at=time.time())
    return with_tokens(node, tokens)


def with_token(name: str, url: str, token: str) -> Node:
    """A node reached with a personal access token made there, after one request shows it works."""
    _discover(name, url)  # it is a node with OAuth, and reachable
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-11-25"}
    status, _, _ = _call(name, lambda: oauth.send("POST", url, b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                                                    headers, None))
    if status in (401, 403):
        raise FleetError(f"node {name!r} refused that token (HTTP {status}): make one on the node with "
                         "vpsmcp tokens create --name hub --scope ... and pass it on stdin")
    return Node(name=name, url=url, kind="token", access_token=token, added_at=time.time(), renewed_at=time.time())


def _discover(name: str, url: str) -> oauth.Discovery:
    return _call(name, lambda: oauth.discover(url))


def _call(name: str, ask: Callable[[], T]) -> T:
    try:
        return ask()
    except (oauth.Unreachable, oauth.Refused) as exc:
        raise FleetError(f"node {name!r}: {exc}") from None


def _code_of(name: str, answer: dict[str, str], state: str, document: dict[str, object]) -> str:
    if not hmac.compare_digest(answer.get("state", "").encode(), state.encode()):
        raise FleetError(f"the answer from {name}'s login is not the one this login asked for (state differs): "
                         "log in again")
    if "error" in answer:
        raise FleetError(f"{name} refused the login: {answer['error']} {answer.get('error_description', '')}".strip())
    if document.get("authorization_response_iss_parameter_supported") and answer.get("iss") != document.get("issuer"):
        raise FleetError(f"the answer's issuer is {answer.get('iss')!r}, not {name}'s ({document.get('issuer')!r})")
    if "code" not in answer:
        raise FleetError(f"the answer from {name}'s login carries no code: log in again")
    return answer["code"]


def _read_pasted(paste: TextIO, listener: RedirectListener) -> None:
    """Lines pasted into the terminal: the first that is a redirect with a query is the answer."""
    def read() -> None:
        for line in paste:
            query = urlsplit(line.strip()).query
            if query:
                listener.answers.put({k: v[0] for k, v in parse_qs(query).items()})
                return

    threading.Thread(target=read, daemon=True, name="fleet-paste").start()


def stdin_if_terminal() -> TextIO | None:
    return sys.stdin if sys.stdin.isatty() else None
