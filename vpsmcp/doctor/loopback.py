"""The redirect listener of ``--login``: a one-page HTTP server on 127.0.0.1 (RFC 8252 §7.3).

The browser comes back to ``http://127.0.0.1:PORT/callback?code=…&state=…``;
the listener hands the query to the waiting doctor (or ``vpsmcp fleet``) and shows a line saying the
terminal takes it from here. It binds to loopback only and to a port the
system picks, and stops when the doctor is done.
"""

from __future__ import annotations

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

CALLBACK = "/callback"
PAGE = ("<!doctype html><meta charset=utf-8><title>{who}</title>"
        "<p>{who} got the answer. You can close this tab; the terminal shows the rest.</p>")


class RedirectListener:
    """Receives the authorization response; ``wait`` returns its query parameters."""

    def __init__(self, who: str = "vpsmcp doctor") -> None:
        answers: queue.Queue[dict[str, str]] = queue.Queue()
        self.answers = answers
        page = PAGE.format(who=who).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                parts = urlsplit(self.path)
                if parts.path != CALLBACK:
                    self.send_error(404)
                    return
                answers.put({k: v[0] for k, v in parse_qs(parts.query).items()})
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:
                return  # the query holds the code: never log it

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="doctor-redirect")

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{CALLBACK}"

    def wait(self, timeout: float) -> dict[str, str] | None:
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def __enter__(self) -> RedirectListener:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
