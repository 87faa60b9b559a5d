"""The official Python SDK (mcp 2.3.0) serving MCP behind its own OAuth authorization server.

Run as a script: binds 127.0.0.1 on a free port, prints ``listening on
http://127.0.0.1:PORT`` on stderr (the line tests/helpers/support.py waits for) and
serves ``/mcp`` statefully on uvicorn, with the SDK's authorization server
routes (metadata, registration, ``/authorize``, ``/token``, ``/revoke``) and
its protected resource metadata, all from ``MCPServer(auth=…,
auth_server_provider=…)``. What this file adds is what the SDK leaves to its
user: an in-memory provider and a login page at ``/login`` with one button.

A fault, named as the first argument, is one thing the server then gets
wrong, applied by an ASGI layer around the SDK's own application (each seen
in public threads; the doctor must name it and nothing else):

- ``no-resource-metadata``: the 401 challenge without ``resource_metadata``;
- ``relative-resource-metadata``: ``resource_metadata`` as a path, not a URL;
- ``issuer-slash``: the authorization server metadata's ``issuer`` with a
  trailing slash the metadata URL does not have;
- ``tokenless-get-405``: a GET without a token answered 405, not 401 (a
  client that probes with GET, as mcp-remote does, never sees the challenge);
- ``claude-only-redirects``: registration admits only Claude's callback and
  http loopback, refusing ChatGPT's (danielealbano/android-remote-control-mcp#166);
- ``strict-version-header``: a request whose ``MCP-Protocol-Version`` header
  disagrees with the version its body names answered -32020 (what Claude's
  connector meets, anthropics/claude-code#93290).

PUBLIC_URL (optional) is the URL it is reached at behind a proxy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    IdentityAssertionParams,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE = "mcp"
FAULTS = ("no-resource-metadata", "relative-resource-metadata", "issuer-slash", "tokenless-get-405",
          "claude-only-redirects", "strict-version-header")
ADMITTED = re.compile(r"(https://claude\.ai/|https://claude\.com/|http://(127\.0\.0\.1|localhost)[:/])")


class MemoryProvider:
    """The SDK's OAuthAuthorizationServerProvider, kept in memory; ``/authorize`` leads to ``/login``."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.pending: dict[str, tuple[str, AuthorizationParams]] = {}  # login key -> client id, request
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        key = secrets.token_urlsafe(16)
        self.pending[key] = (str(client.client_id), params)
        return f"{self.base}/login?key={key}"

    def approve(self, key: str) -> str:
        """The person pressed Allow: a code, and the client's redirect carrying it."""
        client_id, params = self.pending.pop(key)
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code, scopes=params.scopes or [SCOPE], expires_at=time.time() + 300, client_id=client_id,
            code_challenge=params.code_challenge, redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly, resource=params.resource)
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull,
                                      authorization_code: str) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: AuthorizationCode) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        return self._issue(str(client.client_id), authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        self.refresh.pop(refresh_token.token, None)
        return self._issue(str(client.client_id), scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        access = self.access.get(token)
        if access is None or (access.expires_at is not None and access.expires_at < time.time()):
            return None
        return access

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """Both tokens of the grant go, whichever is given."""
        for store in (self.access, self.refresh):
            for key in [k for k, v in store.items() if v.client_id == token.client_id]:
                del store[key]

    async def exchange_identity_assertion(self, client: OAuthClientInformationFull,
                                          params: IdentityAssertionParams) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "no identity assertions here")

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = int(time.time()) + 3600
        self.access[access] = AccessToken(token=access, client_id=client_id, scopes=scopes, expires_at=expires,
                                          resource=resource)
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes, resource=resource)
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=3600, scope=" ".join(scopes),
                          refresh_token=refresh)


def build(base: str, allowed_hosts: list[str]) -> App:
    provider, started = MemoryProvider(base), time.monotonic()
    server = MCPServer(
        name="sdk-auth-upstream", version="1", log_level="WARNING", auth_server_provider=provider,
        # From strings, so the issuer keeps its empty path (AnyHttpUrl(...) would add a slash).
        auth=AuthSettings.model_validate({
            "issuer_url": base, "resource_server_url": f"{base}/mcp", "required_scopes": [SCOPE],
            "validate_token_resource": True,
            "client_registration_options": {"enabled": True, "valid_scopes": [SCOPE], "default_scopes": [SCOPE]},
            "revocation_options": {"enabled": True}}))

    @server.tool()
    async def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def uptime() -> str:
        """How long this server has run (read-only, no arguments: what the doctor calls)."""
        return f"up {time.monotonic() - started:.0f} s"

    async def login(request: Request) -> Response:
        if request.method == "GET":
            key = request.query_params.get("key", "")
            return HTMLResponse(f'<form method="post"><input type="hidden" name="key" value="{key}">'
                                f'<button name="decision" value="allow">Allow</button></form>')
        form = await request.form()
        key = str(form.get("key", ""))
        if key not in provider.pending:
            return HTMLResponse("unknown login", status_code=400)
        return RedirectResponse(provider.approve(key), status_code=302)

    server.custom_route("/login", methods=["GET", "POST"])(login)

    security = TransportSecuritySettings(allowed_hosts=allowed_hosts, allowed_origins=[]) if allowed_hosts else None
    return server.streamable_http_app(transport_security=security)


def faulty(app: App, fault: str) -> App:
    """``app`` with one fault, rewriting what the SDK's application answers or answering first."""

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope["path"]
        if fault == "tokenless-get-405" and scope["method"] == "GET" and path == "/mcp" \
                and "authorization" not in headers:
            await _answer(send, 405, b"", [(b"allow", b"POST, DELETE")])
            return
        if fault == "strict-version-header" and scope["method"] == "POST" and path == "/mcp":
            body = await _read(receive)
            named = _body_version(body)
            if named is not None and headers.get("mcp-protocol-version", named) != named:
                error = {"jsonrpc": "2.0", "id": _id(body), "error": {
                    "code": -32020, "message": "MCP-Protocol-Version header does not match the request body"}}
                await _answer(send, 400, json.dumps(error).encode(), [(b"content-type", b"application/json")])
                return
            receive = _replay(body, receive)
        if fault == "claude-only-redirects" and scope["method"] == "POST" and path == "/register":
            body = await _read(receive)
            try:
                uris = json.loads(body).get("redirect_uris") or []
            except (ValueError, AttributeError):
                uris = []
            if not all(isinstance(u, str) and ADMITTED.match(u) for u in uris):
                error = {"error": "invalid_redirect_uri", "error_description": "redirect_uri not allowed"}
                await _answer(send, 400, json.dumps(error).encode(), [(b"content-type", b"application/json")])
                return
            receive = _replay(body, receive)
        if fault in ("no-resource-metadata", "relative-resource-metadata", "issuer-slash"):
            send = _rewriting(send, fault, path)
        await app(scope, receive, send)

    return layer


def _rewriting(send: Send, fault: str, path: str) -> Send:
    metadata = path.startswith("/.well-known/oauth-authorization-server")
    held: list[Message] = []

    async def rewrite(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 401 and fault != "issuer-slash":
            headers = []
            for name, value in message["headers"]:
                if name.lower() == b"www-authenticate":
                    text = value.decode("latin-1")
                    if fault == "no-resource-metadata":
                        text = re.sub(r',?\s*resource_metadata="[^"]*"', "", text)
                    else:
                        text = re.sub(r'resource_metadata="https?://[^/"]+', 'resource_metadata="', text)
                    value = text.encode("latin-1")
                headers.append((name, value))
            message = {**message, "headers": headers}
        if fault == "issuer-slash" and metadata:
            held.append(message)  # the whole answer, to rewrite its JSON and its length
            if message["type"] == "http.response.body" and not message.get("more_body"):
                start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
                document = json.loads(body)
                document["issuer"] = document["issuer"].rstrip("/") + "/"
                body = json.dumps(document).encode()
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return rewrite


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """The body read already, then the connection's own messages (its disconnect, when it comes)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def _body_version(body: bytes) -> str | None:
    try:
        message = json.loads(body)
        version = message["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"]
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def _id(body: bytes) -> Any:
    try:
        return json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    fault = sys.argv[1] if len(sys.argv) > 1 else ""
    if fault and fault not in FAULTS:
        sys.exit(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    base = os.environ.get("PUBLIC_URL") or f"http://127.0.0.1:{port}"
    allowed = [h for h in os.environ.get("SDK_ALLOWED_HOSTS", "").split(",") if h]
    app = build(base, allowed)
    if fault:
        app = faulty(app, fault)
    config = uvicorn.Config(app, log_level="warning", loop="asyncio", http="h11", lifespan="on")
    print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
