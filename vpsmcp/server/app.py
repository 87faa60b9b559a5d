"""The Quart application factory: importing this module starts nothing."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from quart import Blueprint, Quart

from vpsmcp import __version__, observability, paths
from vpsmcp.access import Gate, OpenGate
from vpsmcp.audit.log import AuditLog
from vpsmcp.config.check import auth_listen_problem
from vpsmcp.errors import ConfigError, StateError
from vpsmcp.fleet.node import providers as fleet_nodes
from vpsmcp.gateway import status as upstream_status
from vpsmcp.gateway.gateway import Gateway
from vpsmcp.logs import log
from vpsmcp.oauth.events import AuthEvents
from vpsmcp.oauth.routes import oauth_routes
from vpsmcp.oauth.service import AuthorizationService
from vpsmcp.oauth.setup import build_gate, build_service, client_address_of
from vpsmcp.plugin import load_plugins
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import Notification
from vpsmcp.protocol.registry import Provider, Registry, registry_scopes
from vpsmcp.protocol.request_state import RequestStateCodec
from vpsmcp.server.host_header import HostCheck
from vpsmcp.server.http_connection import InlineHTTPConnection
from vpsmcp.server.runtime import Runtime
from vpsmcp.tools import builtin_provider
from vpsmcp.transport import http_errors, saved_sessions
from vpsmcp.transport.asgi import McpApp
from vpsmcp.transport.endpoint import Endpoint
from vpsmcp.transport.guard import Guard
from vpsmcp.transport.saved_sessions import SessionShelf
from vpsmcp.transport.sessions import SessionStore

SWEEP_INTERVAL = 30.0
BODY_TIMEOUT = 60.0  # seconds a request body may take to arrive (408 after)


def create_app(runtime: Runtime, providers: list[Provider] | None = None) -> Quart:
    """Build the ASGI app for ``runtime``; ``providers`` default to the configured plugins."""
    config = runtime.config
    app = Quart("vpsmcp")
    app.asgi_http_class = InlineHTTPConnection
    # Streams must live as long as the client wants them; each stream ends itself.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT
    app.config["MAX_CONTENT_LENGTH"] = config.mcp.max_body_bytes
    if providers is None:
        plugins = load_plugins(config.plugins.modules, config.plugins.paths, runtime.config_source)
        providers = [builtin_provider(config.tools, runtime.state.path), *(p.provider for p in plugins)]
    gateway = Gateway(config.upstreams, runtime.env, runtime.own_dir / upstream_status.FILE_NAME,
                      nodes=fleet_nodes(runtime.state.path))
    registry = Registry([*providers, *gateway.providers])
    gateway.clashes = lambda: registry.clashes
    for clash in registry.clashes:
        log.warning("%s", clash)
    tracer = observability.tracer(runtime)  # built first, and handed to what it observes
    gate, oauth = _gate(runtime, registry, tracer)
    audit = AuditLog.open(runtime.own_dir, config.audit, config.server.instance)
    app.after_serving(audit.aclose)
    endpoint = Endpoint(
        dispatcher=Dispatcher(
            registry,
            RequestStateCodec(runtime.secret_key),
            instructions=config.mcp.instructions or None,
            page_size=config.mcp.page_size,
            observers=(audit, tracer),  # the audit first: a call it cannot record is withheld from the trace too
        ),
        sessions=SessionStore(config.mcp.session_idle_timeout, config.mcp.max_sessions,
                              config.mcp.max_sessions_per_credential, config.mcp.max_sessions_per_client,
                              shelf=_shelf(runtime, oauth)),
        guard=Guard.build(runtime.public_url, config.server.listen, config.mcp.allowed_origins, config.mcp.max_body_bytes),
        gate=gate,
        heartbeat=config.mcp.heartbeat,
        observer=tracer,
    )
    http_errors.register(app)
    app.register_blueprint(_health(runtime))
    if oauth is not None:
        app.register_blueprint(oauth_routes(oauth, client_address_of(config)))
    # the MCP transports as a lean ASGI app in front of Quart (transport/asgi.py); the trace middleware wraps both
    app.asgi_app = McpApp(app.asgi_app, endpoint, config.mcp.max_body_bytes, BODY_TIMEOUT)  # type: ignore[method-assign]
    observability.observe(app, runtime, tracer, endpoint, oauth, gateway)
    app.asgi_app = HostCheck(app.asgi_app)  # type: ignore[method-assign]  # outermost: before Quart builds a URL
    _housekeeping(app, runtime, endpoint, oauth)
    _run_gateway(app, gateway, registry, endpoint)
    return app


def _shelf(runtime: Runtime, oauth: AuthorizationService | None) -> SessionShelf | None:
    """Named instances share their sessions in the store (sqlite), so any of them serves any session;
    the only instance keeps them to itself and writes nothing per initialize."""
    if runtime.config.server.instance and oauth is not None and isinstance(oauth.store, SessionShelf):
        return oauth.store
    return None


def _run_gateway(app: Quart, gateway: Gateway, registry: Registry, endpoint: Endpoint) -> None:
    """Upstreams live as long as the server; a change in their lists is announced to open sessions."""

    def announce(kinds: frozenset[str]) -> None:
        for kind in sorted(kinds):
            endpoint.sessions.broadcast(Notification(f"notifications/{kind}/list_changed"))

    registry.watch(announce)
    app.before_serving(gateway.start)
    app.after_serving(gateway.stop)


def _gate(runtime: Runtime, registry: Registry, events: AuthEvents) -> tuple[Gate, AuthorizationService | None]:
    """OAuth, or (``auth.mode = "none"``) an open endpoint that may only face loopback."""
    if runtime.config.auth.mode == "oauth":
        service = build_service(runtime, lambda: registry_scopes(registry), events)
        return build_gate(service), service
    if (problem := auth_listen_problem(runtime.config)) is not None:
        raise ConfigError(runtime.config_source, "auth.mode", problem)
    log.warning("auth.mode is \"none\": the MCP endpoint has no authentication (local development only)")
    return OpenGate(), None


def _housekeeping(app: Quart, runtime: Runtime, endpoint: Endpoint, oauth: AuthorizationService | None) -> None:
    """Serve again the sessions the last graceful stop kept (``saved_sessions.py``), expire idle
    sessions, check whether client metadata documents can be fetched (``cimd_offer.py``);
    on shutdown, end the streams that would otherwise never end, and after ``server.shutdown_timeout``
    end the calls still running with an error that says why (``protocol/inflight.py``)."""
    tasks: list[asyncio.Task[None]] = []

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            endpoint.sessions.sweep()
            if oauth is not None:
                try:
                    await asyncio.to_thread(oauth.sweep)  # its commits block (serialized.py)
                except StateError as exc:  # a full disk: log it, and sweep again next time
                    log.error("%s", exc)

    async def on_shutdown() -> None:
        await runtime.shutting_down.wait()
        for session in endpoint.sessions.all():
            session.standalone.close()
        grace = runtime.config.server.shutdown_timeout
        await asyncio.sleep(grace)
        cut = endpoint.dispatcher.inflight.cut(
            f"vpsmcp is shutting down (a restart?) and cut this request short after {grace:g} s; it may have "
            "partly run. Retry once the server is back.")
        if cut:
            log.warning("shutting down: %d request(s) still running after %g s were ended with an error", cut, grace)

    @app.before_serving
    async def start() -> None:
        endpoint.sessions.saved = saved_sessions.load(runtime.own_dir, runtime.config.mcp.session_idle_timeout)
        tasks.extend([asyncio.create_task(sweep()), asyncio.create_task(on_shutdown())])
        if oauth is not None:
            tasks.append(asyncio.create_task(oauth.cimd_offer.run()))

    @app.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        saved_sessions.save(runtime.own_dir, endpoint.sessions.keep())
        endpoint.sessions.close_all()
        if oauth is not None:
            oauth.store.close()


def _health(runtime: Runtime) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get(paths.HEALTHZ)
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(runtime.uptime(), 3),
            "auth": runtime.config.auth.mode,  # "none" is shown so nobody runs it open by accident
        }

    return bp
