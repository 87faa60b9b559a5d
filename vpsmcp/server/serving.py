"""Run the app under hypercorn, programmatically, until SIGTERM or SIGINT.

The listening socket is created here rather than by hypercorn so that port 0
works: the real port is known before serving starts and is announced on
stderr (``listening on http://127.0.0.1:PORT``). On a signal hypercorn stops
accepting, lets in-flight requests finish for ``shutdown_timeout`` seconds,
and ``Runtime.shutting_down`` tells streams to close themselves.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from vpsmcp import __version__
from vpsmcp.errors import VpsmcpError
from vpsmcp.logs import access_log, log
from vpsmcp.server import sd_notify
from vpsmcp.server.access_log import AccessLogger
from vpsmcp.server.app import create_app
from vpsmcp.server.next_step import connect_line
from vpsmcp.server.runtime import Runtime
from vpsmcp.transport import ws_headers

ANSWER_GRACE = 2.0  # seconds after shutdown_timeout for the errors of cut requests to be written


def bind_socket(address: str, port: int) -> socket.socket:
    """A listening TCP socket on ``address:port`` (port 0: any free port)."""
    host = "127.0.0.1" if address == "localhost" else address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise VpsmcpError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(runtime: Runtime, sock: socket.socket, first_start: Callable[[], bool] | None = None) -> None:
    """Serve ``runtime``'s app on ``sock`` until a signal asks to stop.

    ``first_start`` runs once the app has been built (a plugin that fails to import has stopped
    the start by then): the owner password is made and shown there, with the next step, and it
    says whether it did; on other starts the next step is one log line."""
    listening = base_url(sock)
    ws_headers.install()
    hconfig = HypercornConfig()
    hconfig.bind = [f"fd://{sock.detach()}"]
    # vpsmcp ends the requests still running after shutdown_timeout with an error (app.py); hypercorn's
    # own cut, an empty 500, comes only if even those answers cannot be written.
    hconfig.graceful_timeout = runtime.config.server.shutdown_timeout + ANSWER_GRACE
    hconfig.include_server_header = False
    hconfig.logger_class = AccessLogger
    hconfig.accesslog = access_log if runtime.config.log.access else None
    hconfig.errorlog = logging.getLogger("hypercorn.error")
    hconfig.keep_alive_timeout = runtime.config.server.keep_alive_timeout

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runtime.shutting_down.set)
    app = create_app(runtime)  # first: a refusal to start (bad config, unreadable store) must not follow "listening"
    shown = first_start is not None and first_start()
    log.info(
        "vpsmcp %s listening on %s",
        __version__,
        listening,
        extra={"fields": {"public_url": runtime.public_url}},
    )
    if not shown:
        log.info("%s", connect_line(runtime.public_url))
    # Everything built so far lives as long as the process: keep it out of the
    # cyclic collector, whose full passes over it stalled requests for tens of ms.
    gc.collect()
    gc.freeze()
    async def stop_when_asked() -> None:
        await runtime.shutting_down.wait()
        sd_notify.notify("STOPPING=1")

    async def ready() -> None:  # registered last: runs once every other start-up hook has
        sd_notify.notify(f"READY=1\nSTATUS=serving on {listening}")

    app.before_serving(ready)
    await hypercorn_serve(app, hconfig, shutdown_trigger=stop_when_asked)
    log.info("vpsmcp stopped")
