"""The authorization server as the app sees it: one object, built once per app.

It owns the store, the authlib core, the CIMD resolver, the owner password
and the login brake, and offers what the HTTP views need, each step plain
enough for a view to read validate → call → render.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from authlib.oauth2.rfc6749 import OAuth2Error

from vpsmcp.oauth import registration
from vpsmcp.oauth.adapter import Answer, SnapshotRequest
from vpsmcp.oauth.authorization import InvalidTargetError, Lifetimes, OwnerGrant, VpsmcpAuthorizationServer
from vpsmcp.oauth.cimd import MIN_TTL, CimdResolver, FetchFailed, is_metadata_url
from vpsmcp.oauth.cimd_offer import CimdOffer
from vpsmcp.oauth.events import NO_AUTH_EVENTS, AuthEvents
from vpsmcp.oauth.owner import LoginLimiter, OwnerLogin, OwnerPassword, SharedLoginLimiter
from vpsmcp.oauth.rate_limit import RateLimit
from vpsmcp.oauth.records import RETAIN_ENDED, Client
from vpsmcp.oauth.resources import Resources
from vpsmcp.oauth.store import OAuthStore

log = logging.getLogger("vpsmcp.oauth")
T = TypeVar("T")

REGISTRATION_WINDOW = 600.0  # seconds the registration limits count over


@dataclass
class AuthorizationService:
    """Everything behind ``/authorize``, ``/token``, ``/register`` and ``/revoke``."""

    store: OAuthStore
    resources: Resources
    lifetimes: Lifetimes
    password: OwnerPassword
    secret_key: str
    scopes: Callable[[], list[str]]
    registration_ttl: float
    cimd: CimdResolver
    cimd_offer: CimdOffer
    limiter: LoginLimiter | SharedLoginLimiter = field(default_factory=LoginLimiter)
    registration_limits: tuple[RateLimit, RateLimit] = field(
        default_factory=lambda: (RateLimit(30, REGISTRATION_WINDOW), RateLimit(300, REGISTRATION_WINDOW)))
    max_unused: int = 500
    events: AuthEvents = NO_AUTH_EVENTS  # the connection trace listens here (vpsmcp/oauth/events.py)
    server: VpsmcpAuthorizationServer = field(init=False)

    def __post_init__(self) -> None:
        self.server = VpsmcpAuthorizationServer(self.store, self.resources, self.lifetimes, self.cimd.cached)

    async def ensure_client(self, client_id: str | None) -> None:
        """Fetch the metadata document of a CIMD ``client_id`` before authlib looks it up.

        If it cannot be fetched now, a client that already holds a live grant
        keeps refreshing (its tokens need no redirect URIs); anyone else sees the
        cause, on the page at ``/authorize`` and in the trace.
        """
        self.events.client(client_id)
        if client_id and self.store.client(client_id) is None:  # perhaps added by `vpsmcp clients add` just now
            self.store.refresh(time.time(), force=True)
        if not (self.cimd_offer.accepted and is_metadata_url(client_id)) or self.store.client(str(client_id)):
            return
        try:
            await self.cimd.resolve(str(client_id))
        except FetchFailed as failed:
            if self.store.has_live_grant(str(client_id), time.time()):
                self.cimd.remember(Client(str(client_id), (), "none", None, "", "cimd"), MIN_TTL)
                return
            self.events.client(client_id, "client metadata document not fetched", failed.cause)
            raise

    def consent_grant(self, request: SnapshotRequest) -> Any:
        """The validated authorize request; ``OAuth2Error`` (maybe with a redirect) if not."""
        grant = self.server.get_consent_grant(request)
        resource = request.payload.data.get("resource")
        if resource and not self.resources.accepts(resource):
            raise InvalidTargetError(f"{resource} is not a resource of this server", redirect_uri=grant.redirect_uri,
                                     state=request.payload.state)
        return grant

    def client_of(self, grant: Any) -> Client:
        return grant.client  # type: ignore[no-any-return]

    @property
    def login(self) -> OwnerLogin:
        """The owner's password check, shared with the status page."""
        return OwnerLogin(self.password, self.limiter)

    def approve(self, request: SnapshotRequest, grant: Any, scopes: list[str]) -> Answer:
        resource = request.payload.data.get("resource") or self.resources.base
        owner = OwnerGrant(tuple(scopes), self.resources.canonical(resource))
        self.events.client(self.client_of(grant).client_id, "owner approved", " ".join(scopes))
        return self.with_iss(self.server.create_authorization_response(request, grant_user=owner, grant=grant))

    def deny(self, request: SnapshotRequest, grant: Any) -> Answer:
        self.events.client(self.client_of(grant).client_id, "owner denied")
        return self.with_iss(self.server.create_authorization_response(request, grant_user=None, grant=grant))

    def error_redirect(self, error: OAuth2Error) -> Answer:
        return self.with_iss(Answer(*error()))

    def with_iss(self, answer: Answer) -> Answer:
        """RFC 9207: every authorization response names its issuer."""
        location = answer.location
        if location is None:
            return answer
        sep = "&" if "?" in location else "?"
        headers = [(k, v) for k, v in answer.headers if k.lower() != "location"]
        headers.append(("Location", f"{location}{sep}iss={quote(self.resources.issuer, safe='')}"))
        return Answer(answer.status, answer.body, headers)

    async def token(self, request: SnapshotRequest) -> Answer:
        """One transaction from reading the code or refresh token to storing what replaces it."""
        await self.ensure_client(request.payload.client_id)
        return await self.off_the_loop(self.server.create_token_response, request)

    async def revoke(self, request: SnapshotRequest) -> Answer:
        await self.ensure_client(request.payload.client_id)
        return await self.off_the_loop(self.server.create_endpoint_response, "revocation", request)

    async def off_the_loop(self, change: Callable[..., T], *args: Any) -> T:
        """``change(*args)`` as one transaction, in a worker thread: its commit, or a wait for another
        process's write lock or for Redis, blocks; the event loop serves meanwhile."""
        def in_transaction() -> T:
            with self.store.transaction():
                return change(*args)

        return await asyncio.to_thread(in_transaction)

    def admit_registration(self, address: str) -> None:
        """``RegistrationLimited`` when ``address``, or everyone together, registered too often of late."""
        per_address, overall = self.registration_limits
        wait = per_address.hit(address) or overall.hit("")
        if wait:
            raise registration.RegistrationLimited(wait)

    def register(self, body: Any) -> dict[str, Any]:
        """RFC 7591 §3: validate, reuse or create, and cap unused registrations: look-alike ones
        (the same redirect URIs, whatever the name) and all of them together."""
        metadata = registration.parse_metadata(body)
        unused = self.store.unused_clients()
        alike = [c for c in unused if c.fingerprint == registration.fingerprint(metadata)]
        found = registration.reusable(metadata, alike, time.time())
        if found is not None:
            self.events.client(found.client_id, "registered", f"client {found.client_id} (reused: same metadata)")
            return registration.response(found, metadata, None)
        redirects = tuple(metadata["redirect_uris"])
        surplus = registration.surplus([c for c in unused if c.source == "dcr" and c.redirect_uris == redirects])
        dynamic = [c for c in unused if c.source == "dcr" and c not in surplus]
        surplus += sorted(dynamic, key=lambda c: c.created_at)[: max(0, len(dynamic) - (self.max_unused - 1))]
        if surplus:
            self.store.drop([c.client_id for c in surplus], [])
        client, secret = registration.new_client(metadata)
        self.store.add_client(client)
        log.info("registered client %s (%s)", client.client_id, client.name or "unnamed")
        self.events.client(client.client_id, "registered", f"client {client.client_id}")
        return registration.response(client, metadata, secret)

    def sweep(self) -> None:
        """Drop unused registrations past their time and grants long ended; write last-use times."""
        now = time.time()
        self.server.codes.sweep()
        stale_clients = [
            c.client_id for c in self.store.unused_clients()
            if c.source == "dcr" and now - c.created_at > self.registration_ttl
        ]
        ended = [f.id for f in self.store.ended_before(now - RETAIN_ENDED) if f.expired(now)]
        if stale_clients or ended:
            self.store.drop(stale_clients, ended)
        self.store.flush()
