"""Quart's ASGI HTTP connection, handling the request in the task hypercorn gave it.

Quart runs each request as two new tasks, one feeding it the body and one
handling it, waits for the first to end and then for the other's
cancellation, so that a client going away cancels the handler. Doing without
one task, the wait and the gathering gave 3-4 % more tools/call and
tools/list at 32 clients (``bench/run.py``). This connection handles the request in the
task it is called in and starts one task, the receiver: it feeds the body
and, when the client goes away, cancels the handler — the task it was started
from — as Quart's receiver ends Quart's handler. Installed as the app's
``asgi_http_class``, Quart's seam for exactly this.
"""

from __future__ import annotations

import asyncio

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Request


class InlineHTTPConnection(ASGIHTTPConnection):
    """One HTTP request, handled in the calling task; a client that leaves cancels it."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        handler = asyncio.current_task()
        assert handler is not None
        receiver = asyncio.ensure_future(self._receive(request, receive, handler))
        try:
            await self.handle_request(request, send)
        except asyncio.CancelledError:
            if receiver.done() and handler.uncancel() == 0:
                receiver.result()  # the receiver failing is raised, as Quart raises it
                return  # the client went away, and that was the only reason to stop
            raise
        finally:
            receiver.cancel()  # nobody waits for it: it is only reading

    async def _receive(self, request: Request, receive: ASGIReceiveCallable, handler: asyncio.Task[None]) -> None:
        try:
            await self.handle_messages(request, receive)  # returns when the client has gone
        except Exception:
            handler.cancel()
            raise
        handler.cancel()  # not when this is cancelled: then the request is over, the task is hypercorn's again
