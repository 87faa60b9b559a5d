"""The raw floor: an ASGI app on hypercorn 0.18 with no framework at all, answering canned bytes.

The same answers as ``floor.py`` (which runs them through Quart), chosen by the
same substring test: the difference between the two is what Quart's request
machinery costs, and the difference to vpsmcp what vpsmcp itself does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from floor import INITIALIZE, SESSION_ID, TOOLS_CALL, TOOLS_LIST
from hypercorn.asyncio import serve
from hypercorn.config import Config
from serving import announce, bind_any_port

JSON = [(b"content-type", b"application/json")]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    if b'"id"' not in body:
        status, headers, answer = 202, [], b""
    elif b'"initialize"' in body:
        status, headers, answer = 200, [*JSON, (b"mcp-session-id", SESSION_ID.encode())], INITIALIZE
    else:
        status, headers, answer = 200, JSON, TOOLS_LIST if b'"tools/list"' in body else TOOLS_CALL
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


async def main() -> None:
    sock = bind_any_port()
    config = Config()
    announce(sock, "raw floor")
    config.bind = [f"fd://{sock.detach()}"]
    config.include_server_header = False
    config.keep_alive_timeout = 75
    config.accesslog = None
    await serve(app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main())
