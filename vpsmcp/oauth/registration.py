"""Dynamic client registration (RFC 7591), written by hand.

authlib's ``rfc7591`` imports ``authlib.jose`` and with it the compiled
``cryptography`` package, which a pure-Python zipapp cannot carry; the part
MCP clients use is small. We act on a few metadata fields and tolerate, and
drop, the rest. Claude registers on every fresh connection, often twice
(claude-ai-mcp#966), so an identical public registration made minutes ago
and never used is answered with the same client, confidential ones are
capped per identical metadata, and registrations never used are swept.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error

from vpsmcp.oauth.records import LOOPBACK_HOSTS, Client, digest, new_secret

AUTH_METHODS = ("client_secret_post", "client_secret_basic", "none")
GRANT_TYPES = ("authorization_code", "refresh_token")
MAX_REDIRECT_URIS = 10
MAX_NAME = 200
MAX_URI = 1000  # so a registration stores at most about 10 KB
REUSE_WINDOW = 600.0
MAX_UNUSED_ALIKE = 3
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})


class InvalidClientMetadata(OAuth2Error):  # type: ignore[misc]
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuth2Error):  # type: ignore[misc]
    """RFC 7591 §3.2.2."""

    error = "invalid_redirect_uri"


class RegistrationLimited(OAuth2Error):  # type: ignore[misc]
    """Too many registrations of late (``service.admit_registration``): 429 with ``Retry-After``."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, wait: float) -> None:
        self.wait = max(1, int(wait + 0.999))
        super().__init__(description=f"too many registrations of late; try again in {self.wait} s")

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.wait))]


_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 §2


def check_redirect_uri(uri: Any) -> str:
    """An acceptable redirect URI: https, http on loopback, or a private-use scheme (RFC 8252 §7)."""
    if not isinstance(uri, str) or len(uri) > MAX_URI:
        raise InvalidRedirectUri(f"redirect_uris must be strings of at most {MAX_URI} characters")
    if not _URI_CHARACTERS.fullmatch(uri):
        raise InvalidRedirectUri("a redirect URI may hold only the characters of RFC 3986 (no spaces, quotes, "
                                 "backslashes or non-ASCII; percent-encode them)")
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        raise InvalidRedirectUri(f"redirect URI {uri!r} is not a URL ({exc})") from None
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri(f"redirect URI {uri!r} must not have a fragment")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    if "." in parts.scheme and parts.scheme.lower() not in FORBIDDEN_SCHEMES:
        return uri
    raise InvalidRedirectUri(
        f"redirect URI {uri!r} must be https, http on 127.0.0.1/localhost/[::1], or a reverse-domain app scheme"
    )


def parse_metadata(body: Any) -> dict[str, Any]:
    """The metadata we act on, validated; anything else in the request is ignored."""
    if not isinstance(body, dict):
        raise InvalidClientMetadata("The registration request must be a JSON object")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"redirect_uris must be a list of 1 to {MAX_REDIRECT_URIS} URIs")
    method = body.get("token_endpoint_auth_method", "client_secret_post")
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    grant_types = _string_list(body, "grant_types", list(GRANT_TYPES))
    if "authorization_code" not in grant_types:
        raise InvalidClientMetadata("grant_types must include authorization_code")
    if "code" not in _string_list(body, "response_types", ["code"]):
        raise InvalidClientMetadata("response_types must include code")
    name = body.get("client_name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidClientMetadata(f"client_name must be a string of at most {MAX_NAME} characters")
    return {
        "redirect_uris": [check_redirect_uri(u) for u in uris],
        "token_endpoint_auth_method": method,
        "grant_types": [g for g in GRANT_TYPES if g in grant_types] or ["authorization_code"],
        "response_types": ["code"],
        "client_name": name.strip(),
    }


def _string_list(body: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{key} must be a list of strings")
    return value


def fingerprint(metadata: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()


def new_client_id() -> str:
    """128 random bits, never starting with ``-``: the id is typed after options such as
    ``vpsmcp logs --client ID``, where a leading dash reads as another option."""
    while (client_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return client_id


def new_client(metadata: dict[str, Any], source: str = "dcr") -> tuple[Client, str | None]:
    """A client for validated ``metadata`` and its secret (``None`` for a public client)."""
    secret = None if metadata["token_endpoint_auth_method"] == "none" else new_secret()
    client = Client(
        client_id=new_client_id(),
        redirect_uris=tuple(metadata["redirect_uris"]),
        auth_method=metadata["token_endpoint_auth_method"],
        secret_digest=digest(secret) if secret else None,
        name=metadata["client_name"],
        source=source,
        fingerprint=fingerprint(metadata),
    )
    return client, secret


def reusable(metadata: dict[str, Any], alike_unused: Iterable[Client], now: float) -> Client | None:
    """A public client just registered with the same metadata and never used."""
    if metadata["token_endpoint_auth_method"] != "none":
        return None
    recent = [c for c in alike_unused if now - c.created_at <= REUSE_WINDOW]
    return max(recent, key=lambda c: c.created_at) if recent else None


def surplus(alike_unused: list[Client]) -> list[Client]:
    """The oldest unused registrations beyond the cap for one set of metadata."""
    ordered = sorted(alike_unused, key=lambda c: c.created_at)
    return ordered[: max(0, len(ordered) - (MAX_UNUSED_ALIKE - 1))]


def response(client: Client, metadata: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the metadata as registered, plus the credentials."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at),
        **metadata,
    }
    if not body["client_name"]:
        del body["client_name"]
    if secret is not None:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0
    return body


