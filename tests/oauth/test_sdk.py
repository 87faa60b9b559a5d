"""The official MCP Python SDK client logs in to a real vpsmcp, from nothing to a tool call.

The client is mcp 2.x's ``OAuthClientProvider``: 401 → protected resource
metadata → server metadata → registration (DCR, or a client ID metadata
document) → authorize → token → MCP, in both protocol eras. The test plays
the owner: it opens the authorize URL the client hands over, fills in the
consent form with the owner password, and passes the redirect back.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.oauth_flow import password_from
from tests.helpers.sdk_oauth import REDIRECT_URI, Login, MemoryStorage, Owner, call_with_login
from tests.helpers.support import ROOT, ServerProcess, clean_env, serve_from_checkout
from tests.helpers.trace_support import trace_lines

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "sdk_plugin.py"


def config_for(tmp: Path, extra: str = "") -> Path:
    config = tmp / "vpsmcp.toml"
    config.write_text(f"[plugins]\nmodules = [{json.dumps(str(PLUGIN))}]\n{extra}")
    return config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("oauth-sdk")
    with serve_from_checkout(tmp, "--config", str(config_for(tmp))) as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


def connect_and_add(server: ServerProcess, storage: MemoryStorage, owner: Owner, mode: str,
                    metadata_url: str | None = None, expired: bool = False) -> tuple[str | None, list[str]]:
    """One client session: (protocol version, texts of add(2, 40))."""
    try:
        return call_with_login(server.url + "/mcp", Login(owner, storage), "add", {"a": 2, "b": 40}, mode,
                               metadata_url, expired)
    except BaseException:
        print(server.output())
        raise


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_sdk_client_logs_in_then_refreshes_and_is_refused_after_revocation(
    server: ServerProcess, mode: str, version: str
) -> None:
    owner, storage = Owner(password_from(server.output())), MemoryStorage()
    assert connect_and_add(server, storage, owner, mode) == (version, ["42"])
    assert owner.pages == 1 and storage.tokens is not None and storage.client_info is not None
    first = storage.tokens

    assert connect_and_add(server, storage, owner, mode, expired=True) == (version, ["42"])
    assert owner.pages == 1, "a refresh must not need the owner again"
    assert storage.tokens.access_token != first.access_token
    assert storage.tokens.refresh_token not in (None, first.refresh_token), "refresh tokens rotate"

    revoked = httpx.post(server.url + "/revoke", data={
        "token": storage.tokens.access_token, "client_id": storage.client_info.client_id,
        **({"client_secret": storage.client_info.client_secret} if storage.client_info.client_secret else {}),
    })
    assert revoked.status_code == 200, revoked.text
    refused = httpx.post(server.url + "/mcp", headers={
        "authorization": f"Bearer {storage.tokens.access_token}", "content-type": "application/json",
        "accept": "application/json, text/event-stream"}, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


# --- client ID metadata documents ------------------------------------------------------------


def make_certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (openssl, as on any VPS)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def metadata_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https server on localhost publishing one client metadata document; yields (its URL, CA file)."""
    tmp = tmp_path_factory.mktemp("cimd")
    cert, key = make_certificate(tmp)
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    url = f"https://localhost:{httpd.server_address[1]}/oauth/client.json"
    documents["/oauth/client.json"] = json.dumps({
        "client_id": url, "client_name": "CIMD test client", "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
    }).encode()
    claude_code = url.replace("client.json", "claude-code-client-metadata")
    documents["/oauth/claude-code-client-metadata"] = json.dumps({  # shaped like Claude Code's (CC#47185)
        "client_id": claude_code, "client_name": "Claude Code", "token_endpoint_auth_method": "none",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    }).encode()
    documents["/oauth/liar.json"] = json.dumps({
        "client_id": "https://claude.ai/oauth/client.json", "redirect_uris": [REDIRECT_URI],
    }).encode()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield url, cert
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def cimd_server(tmp_path_factory: pytest.TempPathFactory, metadata_host: tuple[str, Path]) -> Iterator[ServerProcess]:
    """vpsmcp trusting the test CA and allowed to fetch documents from loopback; in auto mode,
    its probe is the test host's document, so it offers metadata documents once it fetched that."""
    with metadata_server(tmp_path_factory.mktemp("oauth-cimd"), metadata_host[0], metadata_host[1]) as proc:
        wait_for_offer(proc, True)
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


def metadata_server(tmp: Path, probe: str, ca: Path | None, mode: str = "auto") -> ServerProcess:
    config = config_for(tmp, f'[auth]\nclient_metadata_private_hosts = true\nclient_metadata = "{mode}"\n'
                             f"client_metadata_probe = {json.dumps(probe)}\n")
    env = {**clean_env(tmp), **({"SSL_CERT_FILE": str(ca)} if ca else {})}
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(tmp / "state"), "--config", str(config)]
    return ServerProcess(argv, env=env, cwd=tmp)


def wait_for_offer(server: ServerProcess, offered: bool) -> dict[str, Any]:
    """The server metadata once it (no longer) offers metadata documents: the check runs in the background."""
    deadline = time.monotonic() + 10
    while True:
        metadata: dict[str, Any] = httpx.get(server.url + "/.well-known/oauth-authorization-server").json()
        if metadata.get("client_id_metadata_document_supported", False) is offered or time.monotonic() > deadline:
            return metadata
        time.sleep(0.1)


def test_sdk_client_logs_in_with_a_client_id_metadata_document(
    cimd_server: ServerProcess, metadata_host: tuple[str, Path]
) -> None:
    url, _ = metadata_host
    owner, storage = Owner(password_from(cimd_server.output())), MemoryStorage()
    assert connect_and_add(cimd_server, storage, owner, "auto", metadata_url=url) == ("2026-07-28", ["42"])
    assert storage.client_info is not None and storage.client_info.client_id == url


@pytest.mark.parametrize(("redirect_uri", "allowed"), [
    ("http://localhost:49152/callback", True),  # port-less in the document, an ephemeral port in use: RFC 8252 §7.3
    ("http://127.0.0.1:61000/callback", True),
    ("http://localhost:49152/elsewhere", False),
    ("http://evil.example/callback", False),
])
def test_claude_codes_portless_loopback_redirects_match_any_port(
    cimd_server: ServerProcess, metadata_host: tuple[str, Path], redirect_uri: str, allowed: bool
) -> None:
    client_id = metadata_host[0].replace("client.json", "claude-code-client-metadata")
    page = httpx.get(cimd_server.url + "/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert (page.status_code == 200 and "Claude Code" in page.text) if allowed else page.status_code == 400, page.text


def test_metadata_document_that_lies_about_its_client_id_is_refused(
    cimd_server: ServerProcess, metadata_host: tuple[str, Path]
) -> None:
    liar = metadata_host[0].replace("client.json", "liar.json")
    page = httpx.get(cimd_server.url + "/authorize", params={
        "response_type": "code", "client_id": liar, "redirect_uri": REDIRECT_URI, "state": "s",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert page.status_code == 400
    assert "does not name its own URL as client_id" in page.text
    token = httpx.post(cimd_server.url + "/token", data={
        "grant_type": "authorization_code", "code": "nope", "client_id": liar, "code_verifier": "v" * 43,
        "redirect_uri": REDIRECT_URI})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


# --- auto mode: offered only while this server can fetch documents -----------------------------

CLOSED = "https://127.0.0.1:1/oauth/mcp-oauth-client-metadata"  # nothing listens on port 1


def authorize_page(server: ServerProcess, client_id: str) -> httpx.Response:
    return httpx.get(server.url + "/authorize", timeout=60, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "s",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})


def test_with_outbound_https_blocked_auto_mode_stops_offering_and_dcr_still_logs_in(tmp_path: Path) -> None:
    with metadata_server(tmp_path, CLOSED, None) as server:
        metadata = wait_for_offer(server, False)
        assert "client_id_metadata_document_supported" not in metadata, metadata
        assert "none" in metadata["token_endpoint_auth_methods_supported"]
        owner, storage = Owner(password_from(server.output())), MemoryStorage()
        # The SDK would use the document URL if offered; it is not, so it registers dynamically.
        assert connect_and_add(server, storage, owner, "auto", metadata_url=CLOSED) == ("2026-07-28", ["42"])
        assert storage.client_info is not None and storage.client_info.client_id != CLOSED
        page = authorize_page(server, CLOSED)
        assert page.status_code == 502 and "cannot connect" in page.text and "client_metadata" in page.text
        assert "cannot fetch " + CLOSED in server.output()  # said once in the log, with the cause
        entries = trace_lines(tmp_path / "state", lambda entries: any(
            "client metadata document not fetched" in e.get("outcome", "") for e in entries))
        step = next(e for e in entries if "client metadata document not fetched" in e.get("outcome", ""))
        assert step["path"] == "/authorize" and "cannot connect" in step["outcome"], step


@pytest.mark.parametrize(("client_id", "cause"), [
    ("https://vpsmcp-test.invalid/oauth/client.json", "DNS: vpsmcp-test.invalid does not resolve"),
    (CLOSED, "cannot connect"),
])
def test_a_document_that_cannot_be_fetched_names_the_cause(tmp_path: Path, client_id: str, cause: str) -> None:
    with metadata_server(tmp_path, CLOSED, None, mode="on") as server:
        assert wait_for_offer(server, True)["client_id_metadata_document_supported"] is True  # "on" offers anyway
        page = authorize_page(server, client_id)
        assert page.status_code == 502 and cause in page.text, page.text
        assert "Traceback" not in server.output()


def test_an_untrusted_certificate_is_named_as_tls(tmp_path: Path, metadata_host: tuple[str, Path]) -> None:
    with metadata_server(tmp_path, metadata_host[0], None) as server:  # no SSL_CERT_FILE: the test CA is unknown
        assert "client_id_metadata_document_supported" not in wait_for_offer(server, False)
        page = authorize_page(server, metadata_host[0])
        assert page.status_code == 502 and "TLS: the certificate is not trusted" in page.text, page.text


def test_off_never_offers_and_treats_a_url_as_an_unknown_client(tmp_path: Path, metadata_host: tuple[str, Path]) -> None:
    with metadata_server(tmp_path, metadata_host[0], metadata_host[1], mode="off") as server:
        time.sleep(0.5)
        assert "client_id_metadata_document_supported" not in wait_for_offer(server, False)
        assert authorize_page(server, metadata_host[0]).status_code == 400


@pytest.fixture(scope="module")
def stalling_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https host on localhost whose documents stall: ``/silent`` never answers, ``/trickle`` sends a
    byte every half second, ``/linger`` sends its whole document and then holds the connection open
    (no close, no close_notify). Yields (its base URL, CA file)."""
    tmp = tmp_path_factory.mktemp("stalling")
    cert, key = make_certificate(tmp)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    base = f"https://localhost:{listener.getsockname()[1]}"
    stop = threading.Event()

    def serve(raw: socket.socket) -> None:
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                path = conn.recv(4096).split(b" ")[1].decode()
                document = json.dumps({"client_id": base + path, "client_name": "Stalling",
                                       "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}).encode()
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(document)}\r\n\r\n"
                if path == "/trickle":
                    conn.sendall(head.encode())
                    for byte in document:
                        if stop.wait(0.5):
                            return
                        conn.sendall(bytes([byte]))
                elif path == "/linger":
                    conn.sendall(head.encode() + document)
                stop.wait(60)
        except (OSError, IndexError):
            pass

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(raw,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield base, cert
    stop.set()
    listener.close()


@pytest.mark.parametrize(("path", "status"), [("/silent", 502), ("/trickle", 502), ("/linger", 200)])
def test_a_document_host_that_stalls_holds_authorize_no_longer_than_the_fetch_limit(
    tmp_path: Path, stalling_host: tuple[str, Path], path: str, status: int
) -> None:
    base, ca = stalling_host
    with metadata_server(tmp_path, CLOSED, ca, mode="on") as server:
        started = time.monotonic()
        page = authorize_page(server, base + path)
        took = time.monotonic() - started
        assert page.status_code == status, page.text
        assert took < 5.0 + 1.0 + 1.5, f"/authorize took {took:.1f} s for a stalling document host ({path})"
        if status == 502:
            assert "timeout" in page.text, page.text
        assert "Traceback" not in server.output()
