"""Small MCP servers that get one thing wrong, for the doctor's tests (standard library only).

``FakeMcpServer(Behaviour(...))`` listens on 127.0.0.1 port 0 in a thread.
By default it is a well-behaved handshake-era server with OAuth discovery;
each field of ``Behaviour`` breaks it in one way a real deployment has been
seen to break: a 401 without ``WWW-Authenticate`` (the seed's failure), an
issuer that differs from the resource metadata's, a ``server/discover`` that
is never answered, a redirect from ``/mcp`` to ``/mcp/``.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

PRM = "/.well-known/oauth-protected-resource"
AS_METADATA = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class Behaviour:
    auth: bool = True  # /mcp needs a token
    challenge: bool = True  # ... and its 401 carries WWW-Authenticate
    prm_issuer_suffix: str = ""  # appended to authorization_servers[0] (e.g. "/")
    hang_discover: bool = False  # server/discover is never answered
    redirect: bool = False  # /mcp redirects to /mcp/ (307), as some frameworks do
    prm_resource: str = ""  # the resource its metadata names instead of its own /mcp


class FakeMcpServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.release = threading.Event()
        self.sessions: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeMcpServer:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def prm(self) -> dict[str, Any]:
        return {"resource": self.behaviour.prm_resource or self.base + "/mcp", "authorization_servers": [self.base + self.behaviour.prm_issuer_suffix],
                "scopes_supported": ["read"]}

    def as_metadata(self) -> dict[str, Any]:
        return {"issuer": self.base, "authorization_endpoint": self.base + "/authorize",
                "token_endpoint": self.base + "/token", "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"]}

    def answer(self, message: dict[str, Any], session: str | None) -> tuple[int, dict[str, str], Any]:
        """A handshake-era answer: status, extra headers, body."""
        method, id = message.get("method"), message.get("id")
        if method == "initialize":
            new = uuid.uuid4().hex
            self.sessions.add(new)
            result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "fake", "version": "1"}}
            return 200, {"Mcp-Session-Id": new}, {"jsonrpc": "2.0", "id": id, "result": result}
        if session is None:
            return 400, {}, {"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "no session"}}
        if session not in self.sessions:
            return 404, {}, {"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "unknown session"}}
        if id is None:
            return 202, {}, None
        if method == "tools/list":
            return 200, {}, {"jsonrpc": "2.0", "id": id, "result": {"tools": []}}
        return 200, {}, {"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}


def _handler(fake: FakeMcpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            if fake.behaviour.auth and path in (PRM + "/mcp", PRM):
                return self._json(200, fake.prm())
            if fake.behaviour.auth and path == AS_METADATA:
                return self._json(200, fake.as_metadata())
            if path == "/mcp":
                return self._json(405, {"error": "no GET stream"})
            self._json(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if fake.behaviour.redirect and self.path == "/mcp":
                return self._json(307, None, {"Location": "/mcp/"})
            if self.path.split("?")[0] != "/mcp":
                return self._json(404, {"error": "not found"})
            if fake.behaviour.auth and not self.headers.get("authorization"):
                return self._unauthorized()
            message = json.loads(body)
            if message.get("method") == "server/discover":
                if fake.behaviour.hang_discover:
                    fake.release.wait(60)
                    self.close_connection = True
                    return None
                return self._json(400, {"jsonrpc": "2.0", "id": message.get("id"),
                                        "error": {"code": -32600, "message": "handshake era only"}})
            status, headers, answer = fake.answer(message, self.headers.get("mcp-session-id"))
            self._json(status, answer, headers)

        def do_DELETE(self) -> None:  # noqa: N802
            fake.sessions.discard(self.headers.get("mcp-session-id") or "")
            self._json(200, None)

        def _unauthorized(self) -> None:
            headers = {}
            if fake.behaviour.challenge:
                headers["WWW-Authenticate"] = f'Bearer resource_metadata="{fake.base}{PRM}/mcp", scope="read"'
            self._json(401, {"error": "unauthorized"}, headers)

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
