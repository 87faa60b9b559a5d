"""The hub as an OAuth client of a node: discovery, registration, the code and refresh grants, revocation.

Blocking (``urllib``), run by ``vpsmcp fleet`` and, for refreshes, in a worker
thread of the server. The node is found as any MCP client finds it: a tokenless
request answered 401 with ``resource_metadata`` (RFC 9728), that document's
authorization server, its RFC 8414 metadata. A token error comes back as
``Refused`` with the OAuth ``error`` code (``invalid_grant``: the node revoked
the grant), a network failure as ``Unreachable``; neither carries a token.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

TIMEOUT = 10.0  # seconds for each request to a node
RESOURCE_METADATA = re.compile(r'resource_metadata="([^"]+)"')


class Unreachable(Exception):
    """The node could not be asked (connection, TLS, timeout, not JSON): the message says how."""


class Refused(Exception):
    """The node answered an OAuth request with an error: ``error`` is its code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class Discovery:
    """What the hub needs to log in to a node."""

    resource: str  # the node's resource identifier (RFC 8707), from its metadata
    metadata: dict[str, Any]  # the authorization server's RFC 8414 document
    scopes: tuple[str, ...]  # what the node offers


def discover(mcp_url: str, context: ssl.SSLContext | None = None) -> Discovery:
    status, headers, _ = send("POST", mcp_url, b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                               {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                               context)
    found = RESOURCE_METADATA.search(headers.get("www-authenticate", ""))
    if status != 401 or not found:
        raise Unreachable(f"{mcp_url} answered HTTP {status} without a token, not 401 with resource_metadata: "
                          "is it a vpsmcp with OAuth on (auth.mode = \"oauth\")?")
    resource = _json(*send("GET", found.group(1), None, {"Accept": "application/json"}, context), found.group(1))
    servers = resource.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise Unreachable(f"{found.group(1)} names no authorization server")
    issuer = servers[0]
    parts = urlsplit(issuer)
    well_known = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server"
                             + parts.path.rstrip("/"), "", ""))
    metadata = _json(*send("GET", well_known, None, {"Accept": "application/json"}, context), well_known)
    for key in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(metadata.get(key), str):
            raise Unreachable(f"{well_known} has no {key}")
    scopes = resource.get("scopes_supported") or metadata.get("scopes_supported") or []
    identifier = resource.get("resource")
    if not isinstance(identifier, str) or _origin(identifier) != _origin(mcp_url):
        # RFC 9728 §3.3: the metadata is for the resource at this URL; a token for another would not be the node's
        scheme, host, port = _origin(mcp_url)
        raise Unreachable(f"{found.group(1)} describes the resource {identifier!r}, not one at {scheme}://{host}:{port}: "
                          "is server.public_url on the node this URL?")
    return Discovery(identifier, metadata, tuple(s for s in scopes if isinstance(s, str)))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def register(endpoint: str, metadata: dict[str, Any], context: ssl.SSLContext | None = None) -> dict[str, Any]:
    body = json.dumps(metadata).encode()
    status, headers, data = send("POST", endpoint, body, {"Content-Type": "application/json",
                                                            "Accept": "application/json"}, context)
    document = _json(status, headers, data, endpoint, ok=(200, 201))
    if not isinstance(document.get("client_id"), str):
        raise Unreachable(f"{endpoint} registered no client_id")
    return document


def token(endpoint: str, form: dict[str, str], context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """A token request; ``Refused`` with the node's error code when it says no."""
    document = _json(*send("POST", endpoint, urlencode(form).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                            context), endpoint, ok=(200,))
    if not isinstance(document.get("access_token"), str):
        raise Unreachable(f"{endpoint} answered without an access_token")
    return document


def revoke(endpoint: str, form: dict[str, str], context: ssl.SSLContext | None = None) -> None:
    _json(*send("POST", endpoint, urlencode(form).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}, context),
          endpoint, ok=(200,), empty=True)


def client_form(client_id: str, client_secret: str) -> dict[str, str]:
    """How the hub authenticates at the token endpoint (``client_secret_post``, or a public client)."""
    return {"client_id": client_id, **({"client_secret": client_secret} if client_secret else {})}


def send(method: str, url: str, body: bytes | None, headers: dict[str, str],
          context: ssl.SSLContext | None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, body, {**headers, "User-Agent": "vpsmcp-fleet"}, method=method)
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"cannot reach {url}: {reason}") from None


def _json(status: int, headers: dict[str, str], data: bytes, url: str, ok: tuple[int, ...] = (200,),
          empty: bool = False) -> dict[str, Any]:
    try:
        document = json.loads(data) if data.strip() or not empty else {}
    except ValueError:
        document = None
    if status not in ok:
        if isinstance(document, dict) and isinstance(document.get("error"), str):
            raise Refused(status, document["error"], str(document.get("error_description") or ""))
        raise Unreachable(f"{url} answered HTTP {status}")
    if not isinstance(document, dict):
        raise Unreachable(f"{url} answered something that is not a JSON object")
    return document


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a token request is never sent on somewhere else
