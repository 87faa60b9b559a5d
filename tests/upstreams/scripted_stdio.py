"""A small hand-written stdio MCP server whose tools misbehave on request, for the gateway's fault tests.

Run as a script (``python scripted_stdio.py [NAME]``). Standard library only:
each request is served on its own thread, so a call that sleeps or never
answers does not hold up the others. Tools:

- ``echo(text)``: the text back; ``whoami()``: the server's name and pid;
- ``sleep(seconds)``: answers after a while (to be killed or cancelled in between);
- ``hang()``: never answers;
- ``garbage()``: writes a line that is not JSON-RPC to stdout;
- ``grow()``: adds a tool ``extra`` and says so with ``notifications/tools/list_changed``;
- ``cancelled()``: the request ids this server was told (``notifications/cancelled``) to give up.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

NAME = sys.argv[1] if len(sys.argv) > 1 else "scripted"
lock = threading.Lock()
cancelled: list[Any] = []
tools = ["echo", "whoami", "sleep", "hang", "garbage", "grow", "cancelled"]


def send(message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


def call(name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    if name == "echo":
        return text(str(arguments.get("text", "")))
    if name == "whoami":
        return text(f"{NAME} {os.getpid()}")
    if name == "sleep":
        time.sleep(float(arguments.get("seconds", 1)))
        return text("slept")
    if name == "hang":
        return None
    if name == "garbage":
        with lock:
            sys.stdout.write("this is not JSON-RPC\n")
            sys.stdout.flush()
        return None
    if name == "grow":
        if "extra" not in tools:
            tools.append("extra")
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        return text("grown")
    if name == "extra":
        return text("extra works")
    if name == "cancelled":
        return text(json.dumps(cancelled))
    return {"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}


def handle(message: dict[str, Any]) -> None:
    method, params, msg_id = message.get("method"), message.get("params") or {}, message.get("id")
    result: dict[str, Any] | None
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": NAME, "version": "1"},
        }
    elif method == "tools/list":
        schema = {"type": "object", "properties": {"text": {"type": "string"}, "seconds": {"type": "number"}}}
        result = {"tools": [{"name": t, "description": f"{t} tool", "inputSchema": schema} for t in tools]}
    elif method == "tools/call":
        result = call(str(params.get("name")), params.get("arguments") or {})
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"Method not found: {method}"}})
        return
    if result is not None:
        send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def main() -> None:
    print(f"{NAME} starting, pid {os.getpid()}", file=sys.stderr, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("method") == "notifications/cancelled":
            cancelled.append(message["params"].get("requestId"))
        elif "method" in message and "id" in message:
            threading.Thread(target=handle, args=(message,), daemon=True).start()


if __name__ == "__main__":
    main()
