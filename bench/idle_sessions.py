#!/usr/bin/env python3
"""What idle handshake-era sessions cost in memory: vpsmcp's RSS before and after opening N of them.

``python3 bench/idle_sessions.py [--sessions 1000]`` starts vpsmcp as ``run.py``
does (the pyz's code from this checkout, OAuth on, a real token), opens
``--sessions`` sessions (``initialize`` and ``notifications/initialized``, each
then left alone) over one kept-alive connection and prints VmRSS before and
after, and the cost per session. The issue's target: +1,000 idle sessions at
most +30 MB. (One connection per session measures hypercorn's connections
instead: a burst of short connections raises RSS by some 14 KiB each, until
it levels off after a few thousand.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

from load import memory_mb
from oauth_login import obtain_token
from servers import headers, open_session, vpsmcp_server
from setup_env import SetupError, venv_python


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=1000, help="sessions to open (1000)")
    args = p.parse_args(argv)
    try:
        python = venv_python()
    except SetupError as exc:
        print(f"idle_sessions: error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vpsmcp-idle-") as tmp:
        server = vpsmcp_server(python, Path(tmp), None, sessions=args.sessions + 10)
        server.start()
        try:
            token = obtain_token(server.url.removesuffix("/mcp"))
            open_session(server.url, token)  # the first session pays for lazy imports and caches, not the others
            time.sleep(0.5)
            before = memory_mb(server.pid)[0]
            connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1].split("/")[0]))
            for _ in range(args.sessions):
                _open(connection, token)
            connection.close()
            time.sleep(0.5)
            after = memory_mb(server.pid)[0]
        finally:
            server.stop()
    added = after - before
    print(f"vpsmcp RSS with 1 session: {before:.1f} MB; with {args.sessions + 1}: {after:.1f} MB; "
          f"+{added:.1f} MB ({added * 1024 * 1024 / args.sessions / 1024:.1f} KiB a session); "
          f"target +30 MB per 1,000: {'PASS' if added * 1000 / args.sessions <= 30 else 'MISS'}")
    return 0


INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "idle", "version": "0"}}})


def _open(connection: http.client.HTTPConnection, token: str) -> None:
    """One session on ``connection``: initialize, then notifications/initialized, then nothing."""
    first = headers(None, token)
    first.pop("MCP-Protocol-Version")
    connection.request("POST", "/mcp", INITIALIZE, first)
    answer = connection.getresponse()
    session_id = answer.getheader("mcp-session-id")
    answer.read()
    if answer.status != 200 or not session_id:
        raise RuntimeError(f"initialize: HTTP {answer.status}")
    connection.request("POST", "/mcp", '{"jsonrpc":"2.0","method":"notifications/initialized"}',
                       headers(session_id, token))
    connection.getresponse().read()


if __name__ == "__main__":
    sys.exit(main())
