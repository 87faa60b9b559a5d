# mypy: ignore-errors
# (Runs under the separate mcp 1.x virtualenv, .cache/mcp1-venv; the project's
# own environment has mcp 2.x, which has no mcp.client.websocket to type-check.)
"""Talk to a vpsmcp WebSocket endpoint with the official mcp 1.x WebSocket client.

Usage: ``.cache/mcp1-venv/bin/python tests/helpers/ws_client_mcp1.py ws://127.0.0.1:PORT/ws``

Connects with ``mcp.client.websocket.websocket_client`` (subprotocol ``mcp``),
initializes, lists the tools, calls ``add`` with a=2, b=40 and prints one JSON
object on stdout. Any failure exits non-zero with a traceback on stderr.
tests/clients/test_sdk_clients.py runs it; mcp 2.x removed the WebSocket client.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from typing import Any

import anyio

# websocket_client is marked deprecated in mcp 1.28+; the warning would only clutter stderr.
warnings.simplefilter("ignore", DeprecationWarning)

from mcp import ClientSession  # noqa: E402
from mcp.client.websocket import websocket_client  # noqa: E402

TIMEOUT = 20.0


async def main(url: str) -> dict[str, Any]:
    with anyio.fail_after(TIMEOUT):
        async with websocket_client(url) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                call = await session.call_tool("add", {"a": 2, "b": 40})
    return {
        "mcp_version": version("mcp"),
        "protocol_version": init.protocolVersion,
        "server_info": init.serverInfo.model_dump(mode="json", exclude_none=True),
        "tools": sorted(tool.name for tool in tools.tools),
        "call": call.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ws_client_mcp1.py ws://HOST:PORT/ws")
    print(json.dumps(anyio.run(main, sys.argv[1])))
