"""An upstream built with the official Python SDK (mcp 2.3.0), served over Streamable HTTP (or legacy SSE).

Run as a script: binds 127.0.0.1 on a free port, prints ``listening on
http://127.0.0.1:PORT`` on stderr (the line tests/helpers/support.py waits for) and
serves ``/mcp`` statefully on uvicorn. Its tools exercise what the gateway
relays: progress and log messages, an elicitation, a sampling request, and
one call that never answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import mcp.types as types
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel

server = MCPServer(name="sdk-upstream", version="1", log_level="WARNING")


class Person(BaseModel):
    name: str


@server.tool()
async def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
async def count_slowly(steps: int, ctx: Context) -> str:
    """Count to ``steps``, reporting progress and logging each step."""
    for step in range(1, steps + 1):
        await asyncio.sleep(0.2)
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
        await ctx.info(f"counted {step}")
    return f"counted to {steps}"


@server.tool()
async def greet(ctx: Context) -> str:
    """Ask the person's name (elicitation), then greet them."""
    answer = await ctx.elicit("What is your name?", Person)
    if answer.action != "accept" or answer.data is None:
        return f"no name ({answer.action})"
    return f"hello {answer.data.name}"


@server.tool()
async def ask_model(question: str, ctx: Context) -> str:
    """Ask the client's model (sampling) and report its answer."""
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=question))
    result = await ctx.session.create_message([message], max_tokens=32, related_request_id=ctx.request_id)
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else "?"
    return f"{result.model} says {text}"


@server.tool()
async def seen_headers(ctx: Context) -> str:
    """The request headers this call arrived with, as JSON (to show what the gateway passes on)."""
    return json.dumps({k.lower(): v for k, v in (ctx.headers or {}).items()})


@server.tool()
async def never_answers() -> str:
    """Sleep for an hour: a call the gateway must time out."""
    await asyncio.sleep(3600)
    return "too late"


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    # ``sse``: the 2024-11-05 HTTP+SSE transport at /sse instead of Streamable HTTP at /mcp;
    # ``stateless``: Streamable HTTP without sessions, answering JSON (stateless_http, json_response).
    # SDK_ALLOWED_HOSTS: the Host values its DNS-rebinding protection lets through behind a proxy
    # (how an operator puts it behind nginx under a public name).
    mode = sys.argv[1:]
    allowed = [h for h in os.environ.get("SDK_ALLOWED_HOSTS", "").split(",") if h]
    security = TransportSecuritySettings(allowed_hosts=allowed, allowed_origins=[]) if allowed else None
    if mode == ["sse"]:
        app = server.sse_app()
    elif mode == ["stateless"]:
        app = server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    else:
        app = server.streamable_http_app(transport_security=security)
    config = uvicorn.Config(app, log_level="warning", loop="asyncio", http="h11", lifespan="on")
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
