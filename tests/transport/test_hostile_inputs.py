"""Inputs that made a real server answer 500 (most before any login) each get their 4xx and a clear body.

Sent over raw sockets where a client library would refuse to send them. The
server's log must hold no traceback afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.oauth_flow import grant, password_from
from tests.helpers.oauth_server import oauth_server
from tests.helpers.support import ROOT, ServerProcess, clean_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with oauth_server(tmp_path_factory.mktemp("hostile")) as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


def raw(server: ServerProcess, head: bytes) -> int:
    """The status of a request written byte for byte."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


@pytest.mark.parametrize("path", ["/healthz", "/mcp", "/authorize", "/.well-known/oauth-authorization-server"])
def test_a_host_label_longer_than_63_characters_is_400(server: ServerProcess, path: str) -> None:
    assert raw(server, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + b"a" * 64 + b".example\r\n\r\n") == 400


def test_an_origin_that_is_no_url_is_403(server: ServerProcess) -> None:
    answer = httpx.post(server.url + "/mcp", headers={"origin": "http://[::1", "content-type": "application/json"},
                        content=b"{}")
    assert answer.status_code == 403 and "Origin" in answer.json()["error"]["message"]


CALLBACK = "redirect_uri=http://127.0.0.1:9/cb&"


@pytest.mark.parametrize("query", [CALLBACK + "response_type=%00", "redirect_uri=%5C", CALLBACK + "resource=%F0%9F%98%80",
                                   CALLBACK + "state=ok&scope=%22", CALLBACK + "code_challenge=%E2%80%8B"])
def test_authorize_parameters_oauth_does_not_allow_are_a_400_page(server: ServerProcess, query: str) -> None:
    client_id = httpx.post(server.url + "/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]}).json()["client_id"]
    page = httpx.get(f"{server.url}/authorize?client_id={client_id}&{query}")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html"), page.text
    assert "location" not in page.headers


def test_a_token_request_with_a_nul_is_a_400(server: ServerProcess) -> None:
    answer = httpx.post(server.url + "/token", data={"grant_type": "authorization_code\0", "code": "x"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/c\\b", 'https://x.example/"q"', "https://x.example/ space",
                                 "https://bücher.example/cb"])
def test_a_redirect_uri_with_characters_no_uri_has_is_refused_at_registration(server: ServerProcess, uri: str) -> None:
    answer = httpx.post(server.url + "/register", json={"redirect_uris": [uri]})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri", answer.text


def test_a_last_event_id_with_a_non_ascii_digit_is_not_ours(server: ServerProcess) -> None:
    with httpx.Client(timeout=10) as http:
        token = grant(http, server.url, password_from(server.output()))[1]["access_token"]
    auth = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}
    init = httpx.post(server.url + "/mcp", headers=auth, json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}})
    session = init.headers["mcp-session-id"]
    head = (f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
            f"Mcp-Session-Id: {session}\r\n").encode() + b"Last-Event-ID: 1/\xb2\r\n\r\n"
    assert raw(server, head) == 200  # not a position of ours: the session's own stream opens


# --- the body limit (mcp.max_body_bytes, 4 MiB here) at each of its layers; nginx's is in test_nginx.py ---

LIMIT = 4 * 1024 * 1024


def chunked(size: int) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), so no header check can see its size."""
    for _ in range(size // 65536 + 1):
        yield b" " * 65536


def test_a_declared_length_over_the_limit_is_413_before_authentication_and_before_the_body(
        server: ServerProcess) -> None:
    head = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{")  # no token, and almost none of the body
    assert raw(server, head) == 413


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("path", "kind"), [("/mcp", "application/json"), ("/register", "application/json"),
                                            ("/token", FORM), ("/revoke", FORM), ("/authorize", FORM)])
def test_a_chunked_body_over_the_limit_is_413_on_every_route(server: ServerProcess, path: str, kind: str) -> None:
    with httpx.Client(timeout=30) as http:
        token = grant(http, server.url, password_from(server.output()))[1]["access_token"]
        answer = http.post(server.url + path, content=chunked(LIMIT + 1),
                           headers={"authorization": f"Bearer {token}", "content-type": kind,
                                    "accept": "application/json, text/event-stream"})
    assert answer.status_code == 413, (path, answer.status_code, answer.text[:200])


def upgrade(token: str, protocols: bytes) -> bytes:
    return (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            ).encode() + b"Sec-WebSocket-Protocol: " + protocols + b"\r\n\r\n"


def test_a_websocket_protocol_that_is_not_ascii_is_a_400_not_a_dropped_connection(server: ServerProcess) -> None:
    assert raw(server, upgrade("nope", b"mcp, \xe9t\xe9")) == 401  # before any login, as for every other request
    with httpx.Client(timeout=10) as http:
        token = grant(http, server.url, password_from(server.output()))[1]["access_token"]
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(upgrade(token, b"mcp, \xe9t\xe9"))
        answer = b""
        while chunk := sock.recv(65536):  # the refusal closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"Sec-WebSocket-Protocol must be" in answer, answer
    assert raw(server, upgrade(token, b"mcp")) == 101


def test_check_config_names_an_upstream_url_that_is_no_url(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[upstreams.x]\nurl = "http://[::1"\n')
    checked = subprocess.run([sys.executable, "-m", "vpsmcp", "check-config", "--config", str(config)],
                             capture_output=True, text=True, timeout=30, cwd=ROOT, env=clean_env(tmp_path))
    assert checked.returncode == 2 and "upstreams.x.url" in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr and len(checked.stderr.strip().splitlines()) == 1
