"""Reading a request body on the MCP routes: cheaper than Quart's wait, and drained when refused."""

from __future__ import annotations

import asyncio
import contextlib

from quart import request
from werkzeug.exceptions import HTTPException, RequestTimeout


async def read_body() -> bytes:
    """The request body, as ``request.get_data(cache=False)`` reads it, for a cheaper wait.

    Quart's ``get_data`` waits under ``asyncio.wait_for``: a task, a timer and
    a trip round the event loop for every request, a measurable share of a
    tools/call. ``asyncio.timeout`` is the same deadline (``BODY_TIMEOUT``, then
    408 as Quart answers) with a timer only; a body that has arrived costs no wait.
    Quart's body still enforces ``MAX_CONTENT_LENGTH`` (413).
    """
    try:
        async with asyncio.timeout(request.body_timeout):
            data: bytes = await request.body
    except TimeoutError:
        raise RequestTimeout() from None
    request.body.clear()
    return data


async def drain_body() -> None:
    """Read and drop a refused request's body: answered before it is read, hypercorn
    closes the keep-alive connection, and a client reusing it sees it drop."""
    with contextlib.suppress(HTTPException):
        await read_body()
