"""Building the authorization server for a running app, from the config."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable
from typing import Any

from vpsmcp.config.sections import Config
from vpsmcp.oauth.authorization import Lifetimes
from vpsmcp.oauth.bearer import BearerGate
from vpsmcp.oauth.cimd import CimdResolver, DocumentShelf
from vpsmcp.oauth.cimd_offer import CimdOffer
from vpsmcp.oauth.codes import CodeShelf, SharedCodeBook
from vpsmcp.oauth.events import NO_AUTH_EVENTS, AuthEvents
from vpsmcp.oauth.owner import FailureShelf, LoginLimiter, OwnerPassword, SharedLoginLimiter
from vpsmcp.oauth.rate_limit import RateLimit
from vpsmcp.oauth.resources import Resources
from vpsmcp.oauth.service import REGISTRATION_WINDOW, AuthorizationService
from vpsmcp.oauth.store import open_store
from vpsmcp.server.next_step import connect_line
from vpsmcp.server.runtime import Runtime


def build_service(runtime: Runtime, scopes: Callable[[], list[str]],
                  events: AuthEvents = NO_AUTH_EVENTS) -> AuthorizationService:
    auth = runtime.config.auth
    store = open_store(runtime.config.store, runtime.state.path, move_files=True)
    cimd = CimdResolver(allow_private=auth.client_metadata_private_hosts,  # documents shared by instances
                        shelf=store if isinstance(store, DocumentShelf) else None)
    service = AuthorizationService(
        store=store,
        resources=Resources.of(runtime.public_url),
        lifetimes=Lifetimes(auth.access_token_lifetime, auth.refresh_token_lifetime, auth.refresh_grace),
        password=OwnerPassword(runtime.state.path),
        secret_key=runtime.secret_key,
        scopes=scopes,
        registration_ttl=auth.registration_ttl,
        cimd=cimd,
        registration_limits=(RateLimit(auth.registrations_per_address, REGISTRATION_WINDOW),
                             RateLimit(auth.registrations_overall, REGISTRATION_WINDOW)),
        max_unused=auth.max_unused_registrations,
        cimd_offer=CimdOffer(auth.client_metadata, auth.client_metadata_probe, cimd),
        events=events,
        limiter=SharedLoginLimiter(store) if isinstance(store, FailureShelf) else LoginLimiter(),
    )
    if isinstance(store, CodeShelf):  # sqlite, redis: a code approved on one instance is exchanged on any
        service.server.codes = SharedCodeBook(store)
    return service


def build_gate(service: AuthorizationService) -> BearerGate:
    return BearerGate(service.store, service.resources, service.scopes)


def ensure_owner_password(runtime: Runtime) -> bool:
    """First start with OAuth on: make a password and show it once, on stderr only (never the log),
    ending with the one thing to do next. Whether it did (``False``: a password existed)."""
    password = OwnerPassword(runtime.state.path)
    if password.is_set():
        return False
    generated = password.generate()
    advice = "type it on the consent page when a client connects; change it with 'vpsmcp passwd'"
    next_step = connect_line(runtime.public_url)
    if runtime.config.log.format == "json":
        line = json.dumps({"level": "WARNING", "message": "owner password, shown only this once", "password": generated,
                           "advice": advice, "next": next_step}, ensure_ascii=False)
    else:
        line = f"vpsmcp: the owner password, shown only this once: {generated}\nvpsmcp: {advice}\nvpsmcp: next: {next_step}"
    print(line, file=sys.stderr, flush=True)
    return True


def client_address_of(config: Config) -> Callable[[Any], str]:
    """The caller's address: the peer, or X-Forwarded-For's last hop when the peer is a trusted proxy."""
    trusted = frozenset(str(ipaddress.ip_address(a)) for a in config.auth.trusted_proxies)

    def address(request: Any) -> str:
        peer = str(request.remote_addr or "")
        forwarded = request.headers.get("X-Forwarded-For", "")
        if peer in trusted and forwarded:
            return str(forwarded.split(",")[-1].strip())
        return peer

    return address
