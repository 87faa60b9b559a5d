"""``GET /metrics`` for Prometheus, when ``[metrics] enabled = true`` (else the route does not exist: 404).

Who may scrape: with ``metrics.token`` set, whoever sends it as a bearer
token (compared in constant time); without, only a peer on loopback whose
request came through no proxy — behind nginx every request arrives from
loopback, so the forwarding headers are what tell an outside scraper apart.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from quart import Blueprint, Response, request

from vpsmcp import paths
from vpsmcp.access import proxied_by
from vpsmcp.config.sections import MetricsConfig
from vpsmcp.errors import VpsmcpError
from vpsmcp.trace.exposition import CONTENT_TYPE, Gauges, render
from vpsmcp.trace.tracer import Tracer


class ScrapeRefused(VpsmcpError):
    """A request for /metrics that may not have them: 401 (no or wrong token) or 403 (not loopback)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def metrics_routes(config: MetricsConfig, tracer: Tracer, gauges: Callable[[], Gauges]) -> Blueprint:
    bp = Blueprint("metrics", __name__)

    @bp.get(paths.METRICS)
    async def metrics() -> Response:
        admit(config, request.headers.get("Authorization", ""), (request.scope.get("client") or ("",))[0],
              proxied_by(name.lower() for name in request.headers.keys()))
        text = render(tracer.metrics, gauges())
        return Response(text, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    @bp.errorhandler(ScrapeRefused)
    async def refused(error: ScrapeRefused) -> Response:
        return Response(str(error) + "\n", status=error.status, content_type="text/plain; charset=utf-8",
                        headers=error.headers)

    return bp


def admit(config: MetricsConfig, authorization: str, peer: str, forwarded: str | None) -> None:
    """Raise ``ScrapeRefused`` unless this request may read the metrics (see the module docstring)."""
    if config.token:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.token.encode()):
            raise ScrapeRefused(401, "Unauthorized: send the metrics.token as a bearer token",
                                {"WWW-Authenticate": 'Bearer realm="metrics"'})
        return
    if forwarded or not _loopback(peer):
        raise ScrapeRefused(403, "Forbidden: /metrics answers loopback only; set metrics.token to scrape from elsewhere")


def _loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
