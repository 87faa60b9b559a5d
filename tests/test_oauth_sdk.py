"""The official MCP Python SDK client logs in to a real vpsmcp, from nothing to a tool call.

The client is mcp 2.x's ``OAuthClientProvider``: 401 → protected resource
metadata → server metadata → registration (DCR, or a client ID metadata
document) → authorize → token → MCP, in both protocol eras. The test plays
the owner: it opens the authorize URL the client hands over, fills in the
consent form with the owner password, and passes the redirect back.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.oauth_flow import password_from
from tests.sdk_oauth import REDIRECT_URI, Login, MemoryStorage, Owner, call_with_login
from tests.support import ServerProcess, clean_env, serve_from_checkout

pytestmark = pytest.mark.slow

PLUGIN = Path(__file__).resolve().parent / "sdk_plugin.py"


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
    documents["/oauth/liar.json"] = json.dumps({
        "client_id": "https://claude.ai/oauth/client.json", "redirect_uris": [REDIRECT_URI],
    }).encode()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield url, cert
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def cimd_server(tmp_path_factory: pytest.TempPathFactory, metadata_host: tuple[str, Path]) -> Iterator[ServerProcess]:
    """vpsmcp trusting the test CA and allowed to fetch documents from loopback."""
    tmp = tmp_path_factory.mktemp("oauth-cimd")
    config = config_for(tmp, "[auth]\nclient_metadata_private_hosts = true\n")
    env = {**clean_env(tmp), "SSL_CERT_FILE": str(metadata_host[1])}
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(tmp / "state"), "--config", str(config)]
    with ServerProcess(argv, env=env, cwd=tmp) as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


def test_sdk_client_logs_in_with_a_client_id_metadata_document(
    cimd_server: ServerProcess, metadata_host: tuple[str, Path]
) -> None:
    url, _ = metadata_host
    owner, storage = Owner(password_from(cimd_server.output())), MemoryStorage()
    assert connect_and_add(cimd_server, storage, owner, "auto", metadata_url=url) == ("2026-07-28", ["42"])
    assert storage.client_info is not None and storage.client_info.client_id == url


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
