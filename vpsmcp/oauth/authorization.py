"""The authorization server: authlib's grants with vpsmcp's rules.

- authorization code + PKCE S256 only (``pkce``), codes single-use even when
  the exchange fails (``codes``), exact redirect URIs (``records``);
- refresh tokens rotate on every use; the token just rotated away still works
  once within a short grace window (Claude refreshes from two egress
  addresses at once); any other reuse revokes the whole family (RFC 9700 §4.14.2);
- tokens bound to one of this server's resources (RFC 8707), ``invalid_target``
  otherwise;
- an unknown ``client_id`` at the token endpoint is 401 ``invalid_client``,
  which makes Claude register again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidClientError,
    OAuth2Error,
    grants,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint

from vpsmcp.oauth.adapter import Answer, SnapshotRequest
from vpsmcp.oauth.codes import AuthCode, CodeBook
from vpsmcp.oauth.pkce import S256CodeChallenge
from vpsmcp.oauth.records import ACCESS_PREFIX, REFRESH_PREFIX, Client, Family, digest, new_secret
from vpsmcp.oauth.resources import Resources
from vpsmcp.oauth.store import OAuthStore

log = logging.getLogger("vpsmcp.oauth")

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 §2: the ``resource`` is not one this server protects."""

    error = "invalid_target"


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long credentials live, in seconds."""

    access: float
    refresh: float
    refresh_grace: float


@dataclass(frozen=True, slots=True)
class OwnerGrant:
    """authlib's "user": what the owner granted (scopes, for which resource)."""

    scopes: tuple[str, ...]
    resource: str


@dataclass(frozen=True, slots=True)
class RefreshCredential:
    """A refresh token found in its family; ``live`` is false for a grace-window use."""

    family: Family
    token_digest: str
    live: bool

    def check_client(self, client: Client) -> bool:
        return self.family.client_id == client.client_id

    def get_scope(self) -> str:
        return self.family.scope


class VpsmcpAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's ``AuthorizationServer`` over an ``OAuthStore``."""

    def __init__(
        self,
        store: OAuthStore,
        resources: Resources,
        lifetimes: Lifetimes,
        extra_client: Callable[[str], Client | None] = lambda client_id: None,
    ) -> None:
        super().__init__()
        self.store = store
        self.resources = resources
        self.lifetimes = lifetimes
        self.codes = CodeBook()
        self._extra_client = extra_client
        self.register_token_generator("default", self._generate)
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(Revocation)

    # -- authlib hooks ---------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return self.store.client(client_id) or self._extra_client(client_id)

    def authenticate_client(self, request: SnapshotRequest, methods: list[str], endpoint: str = "token") -> Client:
        try:
            basic_id, _ = extract_basic_authorization(request.headers)
        except ValueError:  # authlib decodes the credentials as UTF-8 unguarded
            raise InvalidClientError(status_code=401, description="Malformed Basic credentials") from None
        client_id = basic_id or request.payload.client_id
        if client_id and self.query_client(client_id) is None:
            raise InvalidClientError(status_code=401, description="Unknown client_id: register again")
        try:
            client: Client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            error.status_code = 401
            raise
        return client

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scopes are dropped at the consent step, not refused (clients ask for odd ones)."""

    def create_oauth2_request(self, request: SnapshotRequest) -> SnapshotRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Answer:
        return Answer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def save_token(self, token: dict[str, Any], request: SnapshotRequest) -> None:
        now = time.time()
        if request.payload.grant_type == "authorization_code":
            owner: OwnerGrant = request.user
            family = Family(
                id=secrets.token_hex(8),
                client_id=request.client.client_id,
                scopes=owner.scopes,
                resource=owner.resource,
                created_at=now,
                refresh_expires_at=now + self.lifetimes.refresh,
            )
            self._add_tokens(family, token, now, rotate=False)
            self.store.save_family(family)
            self.codes.issued(request.authorization_code.digest, family.id)
        else:
            credential: RefreshCredential = request.refresh_token
            self._add_tokens(credential.family, token, now, rotate=credential.live)
            self.store.save_family(credential.family)

    def _add_tokens(self, family: Family, token: dict[str, Any], now: float, rotate: bool) -> None:
        family.access = {d: exp for d, exp in family.access.items() if exp > now}
        family.access[digest(token["access_token"])] = now + self.lifetimes.access
        if rotate:
            family.retired.update(dict.fromkeys(family.live, (now, False)))
            family.live = {}
        family.retired = {d: r for d, r in family.retired.items() if now - r[0] <= self.lifetimes.refresh}
        family.live[digest(token["refresh_token"])] = now
        family.refresh_expires_at = now + self.lifetimes.refresh
        family.last_used_at = now

    def _generate(self, grant_type: str, client: Client, user: Any = None, scope: str | None = None,
                  expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        token = {
            "token_type": "Bearer",
            "access_token": new_secret(ACCESS_PREFIX),
            "expires_in": int(self.lifetimes.access),
            "refresh_token": new_secret(REFRESH_PREFIX),
        }
        if isinstance(user, OwnerGrant):
            token["scope"] = " ".join(user.scopes)
        return token

    def revoke_replayed(self, code: str) -> None:
        """A spent code came back: revoke what it was exchanged for (RFC 6749 §4.1.2)."""
        family = self.store.family(self.codes.replayed(code) or "")
        if family is not None and self.store.revoke_family(family):
            log.warning("authorization code replayed: revoked grant %s of client %s", family.id, family.client_id)

    # -- refresh rotation --------------------------------------------------------
    def refresh_credential(self, token: str) -> RefreshCredential | None:
        """The family a refresh token belongs to, applying rotation, grace and reuse rules."""
        token_digest = digest(token)
        family = self.store.by_refresh(token_digest)
        now = time.time()
        if family is None or family.revoked_at is not None or now >= family.refresh_expires_at:
            return None
        if token_digest in family.live:
            return RefreshCredential(family, token_digest, live=True)
        retired_at, grace_used = family.retired[token_digest]
        if not grace_used and now - retired_at <= self.lifetimes.refresh_grace:
            family.retired[token_digest] = (retired_at, True)
            return RefreshCredential(family, token_digest, live=False)
        self.store.revoke_family(family)
        log.warning("refresh token reused outside the grace window: revoked grant %s of client %s",
                    family.id, family.client_id)
        return None


def _check_resource(server: VpsmcpAuthorizationServer, request: SnapshotRequest, bound: str) -> None:
    """RFC 8707 §2.2: a ``resource`` at the token endpoint must be the one the grant is for."""
    asked = request.form.get("resource")
    if asked and server.resources.canonical(asked) != bound:
        raise InvalidTargetError(f"This grant is for {bound}, not {asked}")


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request: SnapshotRequest) -> None:
        owner: OwnerGrant = request.user
        data = request.payload.data
        self.server.codes.put(
            code,
            AuthCode(
                client_id=request.client.client_id,
                redirect_uri=data.get("redirect_uri", ""),
                scopes=owner.scopes,
                resource=owner.resource,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=self.server.codes.expiry(),
            ),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        record: AuthCode | None = self.server.codes.take(code, client.client_id)
        if record is None:
            self.server.revoke_replayed(code)
        return record

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        """Already spent by ``query_authorization_code``."""

    def authenticate_user(self, authorization_code: AuthCode) -> OwnerGrant:
        return OwnerGrant(authorization_code.scopes, authorization_code.resource)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_resource(self.server, self.request, self.request.authorization_code.resource)


class RotatingRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        return self.server.refresh_credential(refresh_token)  # type: ignore[no-any-return]

    def authenticate_user(self, credential: RefreshCredential) -> OwnerGrant:
        return OwnerGrant(credential.family.scopes, credential.family.resource)

    def revoke_old_credential(self, credential: RefreshCredential) -> None:
        """Rotation happens in ``save_token``, together with the new tokens."""

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_resource(self.server, self.request, self.request.refresh_token.family.resource)


@dataclass(frozen=True, slots=True)
class _Revocable:
    family: Family

    def check_client(self, client: Client) -> bool:
        return self.family.client_id == client.client_id


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: revoking either token of a grant revokes the whole grant."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Revocable | None:
        store: OAuthStore = self.server.store
        token_digest = digest(token_string)
        family = store.by_access(token_digest) or store.by_refresh(token_digest)
        return _Revocable(family) if family else None

    def revoke_token(self, token: _Revocable, request: SnapshotRequest) -> None:
        self.server.store.revoke_family(token.family)
