"""The access line, written by hypercorn's logger hook once a response has been sent.

Apart from ``logs.py`` so that only ``serve`` imports hypercorn: every other
command logs through ``logs.setup_logging`` without loading the server.
"""

from __future__ import annotations

from typing import Any

from hypercorn.logging import Logger as HypercornLogger

from vpsmcp.logs import SCOPE_REQUEST


class AccessLogger(HypercornLogger):
    """hypercorn's logger hook, writing our access line.

    Configure hypercorn with ``accesslog=access_log`` (or ``None`` for no
    access log) and ``errorlog=logging.getLogger("hypercorn.error")``; given
    logger objects, hypercorn uses them as they are.
    """

    async def access(self, request: Any, response: Any, request_time: float) -> None:
        if self.access_logger is None:
            return
        headers = dict(request.get("headers", ()))
        status = response["status"] if response else (101 if request["type"] == "websocket" else 0)
        fields = {
            "method": request.get("method", "WS"),
            "path": request.get("path", ""),
            "status": status,
            "duration_ms": round(request_time * 1000, 2),
            "client": (request.get("client") or ("-",))[0],
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1"),
        }
        traced = request.get(SCOPE_REQUEST)
        for name in ("client_id", "session_id"):
            if (value := getattr(traced, name, None)) is not None:
                fields[name] = value
        self.access_logger.info("access", extra={"fields": fields})
