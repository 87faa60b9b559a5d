"""The ASGI middleware that sees every request: ``app.asgi_app = TraceMiddleware(app.asgi_app, tracer)``.

It wraps ``send`` to learn the status when the answer starts, and puts the
request's ``Pending`` in ``CURRENT`` for the observers. Nothing it does
touches the disk or parses a body, except an OAuth error body (to name the
error code), so its cost on ``/mcp`` is a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from vpsmcp.logs import SCOPE_REQUEST
from vpsmcp.trace.pending import CURRENT, Pending
from vpsmcp.trace.steps import classify
from vpsmcp.trace.tracer import Tracer

Message = dict[str, Any]
App = Callable[[Any, Any, Any], Awaitable[None]]  # ASGI: (scope, receive, send)

_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})


class TraceMiddleware:
    """Traces HTTP and WebSocket requests; passes lifespan events through untouched."""

    def __init__(self, app: App, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        tracer = self.tracer
        pending = Pending(scope, *classify(scope["path"], scope.get("method", "WS")), time.monotonic(),
                          trusted=tracer.trusted)

        async def traced(message: Message) -> None:
            kind = message["type"]
            if kind in _STARTS:
                tracer.started(pending, message["status"], message["headers"])
            elif kind == "http.response.body":
                if pending.capture is not None and not pending.committed:
                    tracer.body(pending, message.get("body", b""), message.get("more_body", False))
            elif kind == "websocket.accept":
                tracer.started(pending, 101, None)
            elif kind == "websocket.close" and not pending.status:
                tracer.started(pending, 403, None)  # closed before accepting: the handshake is refused
            await send(message)

        scope[SCOPE_REQUEST] = pending  # the access line reads who and which session here (logs.py)
        tracer.metrics.in_flight += 1
        token = CURRENT.set(pending)
        try:
            await self.app(scope, receive, traced)
        finally:
            CURRENT.reset(token)
            tracer.metrics.in_flight -= 1
            tracer.ended(pending)
