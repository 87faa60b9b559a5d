"""The resource server's side: who holds this bearer token, and the challenges.

MCP basic/authorization and RFC 6750 §3: a request without a token gets 401
with ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"`` so the
client can discover how to log in; ``error="invalid_token"`` is added only
when a token was sent. A call needing a scope the token lacks gets 403
``insufficient_scope`` naming the scopes to ask for (step-up).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from vpsmcp.errors import ScopeRequired, StateError, TokenRefused, TransportError
from vpsmcp.logs import log
from vpsmcp.oauth.records import digest
from vpsmcp.oauth.resources import Resources
from vpsmcp.oauth.store import OAuthStore
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import INTERNAL_ERROR, UNAUTHORIZED


class BearerGate:
    """``access.Gate`` for OAuth: admits holders of live tokens for this server."""

    def __init__(self, store: OAuthStore, resources: Resources, scopes: Callable[[], list[str]]) -> None:
        self.store = store
        self.resources = resources
        self.scopes = scopes
        self.blocking = bool(getattr(store, "remote", False))  # a lookup is a round trip: off the event loop

    def admit(self, headers: Mapping[str, str], resource: str) -> Caller:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self.challenge(resource, sent="authorization" in headers)
        token_digest = digest(token)
        now = time.time()
        try:
            self.store.refresh(now)
            family = self.store.by_access(token_digest)
            if family is None:  # perhaps made a moment ago by `vpsmcp tokens create`
                self.store.refresh(now, force=True)
                family = self.store.by_access(token_digest)
        except StateError as exc:  # the store cannot be read now: this request waits, the token is not refused
            log.error("bearer check: %s", exc)
            raise TransportError(503, INTERNAL_ERROR, "Service Unavailable: the token store cannot be read now; "
                                 "retry shortly", headers={"Retry-After": "5"}) from None
        if family is None or family.revoked_at is not None or family.access.get(token_digest, 0.0) <= now:
            raise self.challenge(resource, "The access token is invalid, expired or revoked")
        if not self.resources.accepts(family.resource):
            raise self.challenge(resource, f"The access token was issued for {family.resource}, not this server")
        self.store.touch(family, now)
        return Caller(client_id=family.client_id, token_id=family.id, scopes=frozenset(family.scopes))

    def challenge(self, resource: str, invalid: str | None = None, sent: bool = False) -> TokenRefused:
        """401 with the discovery pointer; ``invalid`` says why a sent token failed; ``sent``: some
        other credential came (a ``Basic`` header), answered with the plain challenge."""
        params = [f'resource_metadata="{self.resources.metadata_url(resource)}"', f'scope="{" ".join(self.scopes())}"']
        if invalid:
            params = ['error="invalid_token"', f'error_description="{invalid}"', *params]
        return TokenRefused(
            UNAUTHORIZED,
            f"Unauthorized: {invalid}" if invalid else "Unauthorized: this server needs an OAuth access token",
            {"WWW-Authenticate": "Bearer " + ", ".join(params)},
            sent=sent or invalid is not None,
        )

    def refuse_scope(self, principal: Caller, scope: str, resource: str) -> ScopeRequired:
        """403 step-up: ask for what the token has plus ``scope``."""
        wanted = sorted({*(principal.scopes or ()), *scope.split()})
        header = (
            f'Bearer error="insufficient_scope", scope="{" ".join(wanted)}", '
            f'resource_metadata="{self.resources.metadata_url(resource)}", '
            f'error_description="This call needs the scope {scope}"'
        )
        return ScopeRequired(UNAUTHORIZED, f"Forbidden: this call needs the scope {scope}", scope,
                             {"WWW-Authenticate": header})
