"""What the authorization server remembers: clients and token families.

A *token family* is one grant by the owner to one client: the scopes and the
resource it covers, every access token issued under it, and its refresh
tokens as they rotate (RFC 9700 §4.14.2). Revoking a family revokes all of
them at once, which is what refresh-token reuse calls for. Tokens are kept
only as SHA-256 digests: they are 256-bit random strings, so a plain digest
is enough to make a stolen store useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

ACCESS_PREFIX = "vpsmcp_at_"
REFRESH_PREFIX = "vpsmcp_rt_"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
RETAIN_ENDED = 7 * 86400.0  # an ended grant is kept this long (the sweep drops it then), for replays and the audit


def new_secret(prefix: str = "") -> str:
    """A fresh 256-bit random credential."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How a credential is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client (RFC 7591 metadata we act on), from DCR, the CLI or a CIMD document."""

    client_id: str
    redirect_uris: tuple[str, ...]
    auth_method: str = "none"
    secret_digest: str | None = None
    name: str = ""
    source: str = "dcr"
    created_at: float = field(default_factory=time.time)
    fingerprint: str = ""

    # -- authlib's ClientMixin -------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_matches(registered, redirect_uri) for registered in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_digest is None:
            return False
        return hmac.compare_digest(self.secret_digest, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """A client authenticates the way it registered, at the token and revocation endpoints alike."""
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    @property
    def redirect_host(self) -> str:
        """The host the owner sees on the consent page."""
        hosts = sorted({urlsplit(uri).hostname or uri for uri in self.redirect_uris})
        return ", ".join(hosts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Client:
        return cls(**{**data, "redirect_uris": tuple(data["redirect_uris"])})


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match, except the port of a loopback http redirect (RFC 8252 §7.3)."""
    if registered == requested:
        return True
    try:
        r, q = urlsplit(registered), urlsplit(requested)
    except ValueError:  # the requested one is whatever the authorize request said
        return False
    if r.scheme != "http" or q.scheme != "http" or r.hostname not in LOOPBACK_HOSTS:
        return False
    return (r.hostname, r.path, r.query) == (q.hostname, q.path, q.query) and not q.fragment


@dataclass(slots=True)
class Family:
    """One grant and every token issued under it (see the module docstring).

    ``live`` are the refresh tokens that may be used now (usually one; two
    after a grace-window use), ``retired`` those rotated away, each with the
    time it was retired and whether its one grace use is spent.
    """

    id: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    created_at: float
    refresh_expires_at: float
    access: dict[str, float] = field(default_factory=dict)
    live: dict[str, float] = field(default_factory=dict)
    retired: dict[str, tuple[float, bool]] = field(default_factory=dict)
    revoked_at: float | None = None
    last_used_at: float | None = None

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    def revoke(self, now: float) -> bool:
        """End the grant: every access and refresh token in it stops working (RFC 9700 §4.14.2).
        Whether it was live until now."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = now
        return True

    def expired(self, now: float) -> bool:
        """Nothing in it can be used any more."""
        return self.revoked_at is not None or (
            now >= self.refresh_expires_at and all(exp <= now for exp in self.access.values())
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retired"] = {k: list(v) for k, v in self.retired.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Family:
        retired = {k: (float(v[0]), bool(v[1])) for k, v in data.get("retired", {}).items()}
        return cls(**{**data, "scopes": tuple(data["scopes"]), "retired": retired})
