"""A server built with FastMCP (4.x, PyPI), served over Streamable HTTP at /mcp, for the doctor's matrix.

Run as a script with the FastMCP virtualenv that tests/run.sh makes: picks a free
port, prints ``listening on http://127.0.0.1:PORT`` on stderr (the line
tests/helpers/support.py waits for) and serves until killed.
"""

from __future__ import annotations

import socket
import sys

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


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    app.run(transport="http", host="127.0.0.1", port=port, show_banner=False, log_level="warning")


if __name__ == "__main__":
    main()
