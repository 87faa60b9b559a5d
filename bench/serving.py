"""What the floor and SDK server scripts share: a socket on port 0 and its announcement.

Each server binds its own socket so port 0 works, then prints the line vpsmcp
prints (``listening on http://127.0.0.1:PORT``), so the runner finds all three
servers the same way.
"""

from __future__ import annotations

import socket
import sys

HOST = "127.0.0.1"


def bind_any_port() -> socket.socket:
    """A listening loopback socket on a free port, with the options vpsmcp sets."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((HOST, 0))
    sock.listen(1024)
    return sock


def announce(sock: socket.socket, name: str) -> None:
    port = sock.getsockname()[1]
    print(f"{name} listening on http://{HOST}:{port}", file=sys.stderr, flush=True)
