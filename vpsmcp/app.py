"""The Quart application factory: importing this module starts nothing."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart

from vpsmcp import __version__
from vpsmcp.runtime import Runtime


def create_app(runtime: Runtime) -> Quart:
    """Build the ASGI app for ``runtime``."""
    app = Quart("vpsmcp")
    # Streams must live as long as the client wants them; each stream ends itself.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = 60
    app.register_blueprint(_health(runtime))
    return app


def _health(runtime: Runtime) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "uptime_s": round(runtime.uptime(), 3)}

    return bp
