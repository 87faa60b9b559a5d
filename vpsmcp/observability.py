"""The connection trace, the status page and ``/metrics``, for ``create_app``.

``tracer`` is built first and handed to what it observes as they are built
(the dispatcher, the endpoint, the authorization service: ``create_app``);
``observe`` then wraps the app in the trace middleware and serves the pages
that read the trace. Nothing is swapped into an object after it is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

from quart import Quart

from vpsmcp.gateway.gateway import Gateway
from vpsmcp.oauth.owner import LoginLimiter, OwnerLogin, OwnerPassword
from vpsmcp.oauth.service import AuthorizationService
from vpsmcp.oauth.setup import client_address_of
from vpsmcp.server.runtime import Runtime
from vpsmcp.status.page import Sources
from vpsmcp.status.routes import status_routes
from vpsmcp.status.scrape import metrics_routes
from vpsmcp.trace.exposition import Gauges
from vpsmcp.trace.middleware import TraceMiddleware
from vpsmcp.trace.tracer import Tracer
from vpsmcp.transport.endpoint import Endpoint


def tracer(runtime: Runtime) -> Tracer:
    """The trace of the server ``runtime`` describes, in its own directory (``Runtime.own_dir``)."""
    config = runtime.config
    trusted = frozenset(str(ipaddress.ip_address(a)) for a in config.auth.trusted_proxies)
    return Tracer.in_state_dir(runtime.own_dir, config.trace.flows, config.trace.max_bytes, config.trace.keep,
                               trusted)


def observe(app: Quart, runtime: Runtime, tracer: Tracer, endpoint: Endpoint, oauth: AuthorizationService | None,
            gateway: Gateway) -> None:
    """Trace every request of ``app``; serve ``/status`` and, if enabled, ``/metrics``."""
    config = runtime.config
    app.asgi_app = TraceMiddleware(app.asgi_app, tracer)  # type: ignore[method-assign]

    def upstreams() -> tuple[tuple[str, str, int], ...]:
        return tuple((u.name, u.state, u.restarts) for u in gateway.snapshot().upstreams) if gateway.providers else ()

    src = Sources(runtime, tracer, endpoint.sessions, oauth, lambda: gateway.snapshot() if gateway.providers else None)
    login = oauth.login if oauth else OwnerLogin(OwnerPassword(runtime.state.path), LoginLimiter())
    app.register_blueprint(status_routes(src, login, client_address_of(config)))
    if config.metrics.enabled:
        app.register_blueprint(metrics_routes(config.metrics, tracer, lambda: Gauges(
            runtime.uptime(), len(endpoint.sessions), len(tracer.book.flows), upstreams())))
    _flushing(app, tracer)


def _flushing(app: Quart, tracer: Tracer) -> None:
    """Write the trace once a second while serving, and what is left at shutdown."""
    tasks: list[asyncio.Task[None]] = []

    @app.before_serving
    async def start() -> None:
        tasks.append(asyncio.create_task(tracer.run()))

    @app.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tracer.flush()
