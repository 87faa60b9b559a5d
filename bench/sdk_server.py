"""The official Python SDK (mcp 2.3.0) with the same echo tool, stateful Streamable HTTP.

Run on uvicorn the way ``MCPServer.run_streamable_http_async`` does
(``uvicorn.Config`` + ``uvicorn.Server``), but on a socket bound here so that
port 0 works. Loop and HTTP parser are pinned to asyncio and h11: hypercorn
uses those too, and vpsmcp must stay pure Python, so the comparison is of
frameworks, not of uvloop or httptools.
"""

from __future__ import annotations

import uvicorn
from mcp.server.mcpserver import MCPServer
from serving import announce, bind_any_port

# WARNING, not the SDK's INFO default: no server in the bench logs per session or request.
mcp = MCPServer(name="sdk-bench", version="0", log_level="WARNING")


@mcp.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def main() -> None:
    sock = bind_any_port()
    app = mcp.streamable_http_app()  # stateful (sessions), SSE answers: the SDK's defaults
    config = uvicorn.Config(app, log_level="warning", loop="asyncio", http="h11", lifespan="on")
    announce(sock, "sdk")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
