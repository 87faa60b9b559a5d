"""A server built with FastMCP (4.x, PyPI), served over Streamable HTTP at /mcp, for the doctor's matrix.

Run as a script with the FastMCP virtualenv that tests/run.sh makes: picks a free
port, serves on it, and prints ``listening on http://127.0.0.1:PORT`` on stderr
(the line tests/helpers/support.py waits for) once the port accepts connections —
printed before, a loaded CI machine had the doctor meet a refused port.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from fastmcp import FastMCP

app = FastMCP("fastmcp-doctor-target")


@app.tool(annotations={"readOnlyHint": True})
def hello() -> str:
    """Say hello (read-only, no arguments: the doctor calls it)."""
    return "hello"


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def announce_when_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
        return


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    threading.Thread(target=announce_when_listening, args=(port,), daemon=True).start()
    app.run(transport="http", host="127.0.0.1", port=port, show_banner=False, log_level="warning")


if __name__ == "__main__":
    main()
