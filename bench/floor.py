"""The floor: the cheapest MCP-shaped app on vpsmcp's stack (Quart 0.22 on hypercorn 0.18).

It reads the body and answers with canned bytes chosen by a substring test: no
JSON parsing, no sessions, no dispatch. Whatever vpsmcp spends above this
figure is vpsmcp's own code; below it nothing on this stack can go.
"""

from __future__ import annotations

import asyncio
import json

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request
from serving import announce, bind_any_port

ECHO_TEXT = "hello from wrk"  # what mcp_load.lua sends; the canned answer must match it
SESSION_ID = "floor-session"


def _canned(result: dict[str, object]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}, separators=(",", ":")).encode()


INITIALIZE = _canned(
    {
        "protocolVersion": "2025-11-25",
        "capabilities": {"tools": {"listChanged": True}},
        "serverInfo": {"name": "floor", "version": "0"},
    }
)
TOOLS_LIST = _canned(
    {
        "tools": [
            {
                "name": "echo",
                "description": "Return the text unchanged.",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            }
        ]
    }
)
TOOLS_CALL = _canned({"content": [{"type": "text", "text": ECHO_TEXT}], "isError": False})


def create_app() -> Quart:
    app = Quart("floor")

    @app.post("/mcp")
    async def mcp() -> Response:
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        if b'"id"' not in body:
            return Response("", status=202)  # a notification
        if b'"initialize"' in body:
            return Response(INITIALIZE, content_type="application/json", headers={"Mcp-Session-Id": SESSION_ID})
        if b'"tools/list"' in body:
            return Response(TOOLS_LIST, content_type="application/json")
        return Response(TOOLS_CALL, content_type="application/json")

    return app


async def main() -> None:
    sock = bind_any_port()
    config = Config()
    # The hypercorn settings vpsmcp's server.py uses, minus its access log (off in the bench too).
    announce(sock, "floor")
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns the descriptor from here on
    config.include_server_header = False
    config.keep_alive_timeout = 75
    config.accesslog = None
    await serve(create_app(), config)


if __name__ == "__main__":
    asyncio.run(main())
