"""Personal access tokens: bearer tokens the owner makes for what cannot do OAuth.

Scripts, other clients' header settings, another vpsmcp using this one as an
upstream, and Claude's static request headers (anthropics/claude-ai-mcp#112)
send a fixed ``Authorization: Bearer …``. A personal access token is a token
family of its own (``records.Family``) whose client id is ``pat:NAME``: one
access token, no refresh token, the scopes the owner chose, bound to this
server's resource. So the bearer check, step-up, revocation, the audit log and
the status page treat it as they treat an OAuth grant, under its name. The
token is shown once and stored only as its digest.
"""

from __future__ import annotations

import re
import secrets
import time

from vpsmcp.oauth.records import Family, digest, new_secret
from vpsmcp.oauth.store import OAuthStore

TOKEN_PREFIX = "vpsmcp_pat_"
CLIENT_PREFIX = "pat:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3
LIFETIME = re.compile(r"(\d{1,6})([smhd])")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LIFETIME = 3650 * 86400.0


class PersonalTokenError(ValueError):
    """A personal access token cannot be made or found as asked; the message says why."""


def client_id_of(name: str) -> str:
    return CLIENT_PREFIX + name


def name_of(client_id: str | None) -> str | None:
    """The token's name when ``client_id`` is a personal access token's, else ``None``."""
    if client_id and client_id.startswith(CLIENT_PREFIX):
        return client_id[len(CLIENT_PREFIX):]
    return None


def parse_lifetime(text: str) -> float:
    """``90d``, ``12h`` or ``30m`` in seconds, at most ten years."""
    match = LIFETIME.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise PersonalTokenError(f"--expires {text!r}: write a number and a unit, such as 90d, 12h or 30m")
    seconds = int(match.group(1)) * UNIT[match.group(2)]
    if seconds > MAX_LIFETIME:
        raise PersonalTokenError(f"--expires {text!r}: at most 3650d")
    return float(seconds)


def active(store: OAuthStore, now: float) -> list[Family]:
    """The personal access tokens that still work."""
    return [f for f in store.families() if name_of(f.client_id) is not None and not f.expired(now)]


def create(store: OAuthStore, resource: str, name: str, scopes: list[str], lifetime: float) -> tuple[Family, str]:
    """Make a token named ``name`` for ``resource``; returns its family and the token, which is not kept."""
    if not NAME.fullmatch(name):
        raise PersonalTokenError(f"--name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not scopes:
        raise PersonalTokenError("name at least one --scope (e.g. --scope vps:read)")
    bad = [s for s in scopes if not SCOPE_TOKEN.fullmatch(s)]
    if bad:
        raise PersonalTokenError(f"--scope {bad[0]!r} is not a scope")
    now = time.time()
    if any(name_of(f.client_id) == name for f in active(store, now)):
        raise PersonalTokenError(f"a personal access token named {name!r} exists: revoke it first (vpsmcp tokens revoke --name {name})")
    token = new_secret(TOKEN_PREFIX)
    expires = now + lifetime
    family = Family(
        id=secrets.token_hex(8), client_id=client_id_of(name), scopes=tuple(dict.fromkeys(scopes)), resource=resource,
        created_at=now, refresh_expires_at=expires, access={digest(token): expires},
    )
    store.save_family(family)
    return family, token


def revoke(store: OAuthStore, name: str) -> int:
    """Revoke the live tokens named ``name``; how many."""
    now = time.time()
    return store.revoke(lambda f: not f.expired(now) and name_of(f.client_id) == name)
