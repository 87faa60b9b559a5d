"""Telling systemd that vpsmcp is ready (``Type=notify``): one datagram to ``$NOTIFY_SOCKET``.

The unit is ``Type=notify`` and ordered ``Before=nginx.service``, so at boot
``systemctl start`` returns, and nginx starts, only once vpsmcp answers:
no 502s while it is still starting. The protocol is a few lines
(sd_notify(3)): a datagram ``READY=1`` to the Unix socket named in the
environment, ``@`` meaning the abstract namespace. Without ``NOTIFY_SOCKET``
(not under systemd) nothing is sent.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``, ``STATUS=…``) to systemd; whether it was sent."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode())
    except OSError:
        return False  # systemd went away: nothing to tell
    return True
