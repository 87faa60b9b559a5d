"""vpsmcp behind a real nginx with TLS, configured by the shipped site (tests/helpers/nginx_support.py).

What a reverse proxy breaks, checked end to end over https with a token
from vpsmcp's own OAuth flow: events held back by buffering (arrival times
prove each event comes when it is written), idle streams cut at nginx's
read timeout (heartbeats keep them open; without them the same stream is
cut), WebSocket upgrades, and URLs that leak the internal http address.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp.types as types
import pytest
import wsproto
import wsproto.events
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.nginx_support import Nginx, TlsFiles, buffering, nginx_bin, proxied
from tests.helpers.oauth_flow import grant, set_password
from tests.helpers.support import ROOT, ServerProcess
from vpsmcp.config.sections import Config
from vpsmcp.install.site import Site

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "echo_plugin.py"
PASSWORD = "correct horse battery staple"
MODERN = "2026-07-28"
META = "io.modelcontextprotocol/"
STEP = 1.0  # seconds between two progress events of the spaced call
READ_TIMEOUT = 3  # nginx's proxy_read/send_timeout in these tests, in seconds
HEARTBEAT = 0.5
SSE = {"accept": "text/event-stream"}
UPGRADE = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
           "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-protocol": "mcp"}


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Nginx, str]]:
    """vpsmcp (heartbeat 0.5 s) behind nginx (timeouts 3 s), and an access token."""
    with proxy(tmp_path_factory.mktemp("nginx"), HEARTBEAT) as (server, nginx, token):
        yield server, nginx, token
    assert "Traceback" not in server.output(), server.output()


@contextlib.contextmanager
def proxy(tmp: Path, heartbeat: float, edit: Callable[[str], str] | None = None) -> Iterator[tuple[ServerProcess, Nginx, str]]:
    """vpsmcp with echo_plugin behind nginx (timeouts 3 s), and a token obtained through nginx."""
    config = tmp / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n[mcp]\nheartbeat = {heartbeat}\n')
    set_password(tmp / "state", PASSWORD)
    timeout = f"{READ_TIMEOUT}s"
    with proxied(tmp, "--config", str(config), read_timeout=timeout, send_timeout=timeout, edit=edit) as (server, nginx):
        with nginx.client(timeout=10) as http:
            token = str(grant(http, nginx.base_url, PASSWORD)[1]["access_token"])
        yield server, nginx, token


def call_slowly(nginx: Nginx, token: str, steps: int, delay: float) -> list[tuple[float, dict[str, Any]]]:
    """tools/call of echo_plugin's ``slow`` (stateless era) over SSE; each event with its arrival time."""
    params = {"name": "slow", "arguments": {"steps": steps, "delay": delay}, "_meta": {
        "progressToken": "p", META + "protocolVersion": MODERN, META + "clientCapabilities": {}}}
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "slow"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    events = []
    start = time.monotonic()
    with nginx.client(timeout=30) as http, http.stream("POST", "/mcp", json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        try:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    events.append((time.monotonic() - start, json.loads(line[6:])))
        except httpx.RemoteProtocolError:
            pass  # nginx cut the stream: the caller sees what arrived before
    return events


def test_sse_events_arrive_through_nginx_one_by_one(behind: tuple[ServerProcess, Nginx, str]) -> None:
    _, nginx, token = behind
    events = call_slowly(nginx, token, steps=4, delay=STEP)
    progress = [t for t, e in events if e.get("method") == "notifications/progress"]
    done = [t for t, e in events if "result" in e]
    assert len(progress) == 4 and len(done) == 1, events
    gaps = [b - a for a, b in itertools.pairwise(progress)]
    # Buffered, they would all arrive together at the end; here each comes about STEP after the last.
    assert all(gap > STEP * 0.6 for gap in gaps), gaps
    assert done[0] - progress[0] > 3 * STEP * 0.8, (progress, done)


def test_a_stream_silent_longer_than_nginx_read_timeout_survives_on_heartbeats(
    behind: tuple[ServerProcess, Nginx, str],
) -> None:
    _, nginx, token = behind
    events = call_slowly(nginx, token, steps=1, delay=READ_TIMEOUT * 2)
    results = [e["result"] for _, e in events if "result" in e]
    assert results and results[0]["content"][0]["text"] == "done after 1 steps", events


def test_without_heartbeats_nginx_cuts_the_same_stream_at_its_read_timeout(tmp_path: Path) -> None:
    with proxy(tmp_path, heartbeat=60.0) as (_, nginx, token):
        started = time.monotonic()
        events = call_slowly(nginx, token, steps=1, delay=READ_TIMEOUT * 2)
        elapsed = time.monotonic() - started
    assert not [e for _, e in events if "result" in e], events
    assert READ_TIMEOUT * 0.8 < elapsed < READ_TIMEOUT * 2, elapsed


def test_a_buffering_proxy_holds_events_back_until_the_end(tmp_path: Path) -> None:
    """The control for the timing test above: ``buffering`` (for the doctor's tests) really buffers."""
    with proxy(tmp_path, HEARTBEAT, edit=buffering) as (_, nginx, token):
        events = call_slowly(nginx, token, steps=3, delay=STEP)
    times = [t for t, _ in events]
    assert len(events) == 4 and times[-1] - times[0] < STEP * 0.5, events


def test_websocket_works_through_nginx(behind: tuple[ServerProcess, Nginx, str]) -> None:
    _, nginx, token = behind
    conn, ws = websocket(nginx, token)
    try:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert "result" in exchange(conn, ws, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        conn.sendall(ws.send(wsproto.events.TextMessage(json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}))))
        call = {"name": "echo", "arguments": {"text": "through nginx"}}
        answer = exchange(conn, ws, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
        assert answer["result"]["content"][0]["text"] == "through nginx"
    finally:
        conn.close()


def websocket(nginx: Nginx, token: str) -> tuple[Any, wsproto.WSConnection]:
    conn = nginx.connect()
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    conn.sendall(ws.send(wsproto.events.Request(
        host=f"{nginx.hostname}:{nginx.https_port}", target="/ws", subprotocols=["mcp"],
        extra_headers=[(b"authorization", f"Bearer {token}".encode())])))
    accepted = next(receive(conn, ws))
    assert isinstance(accepted, wsproto.events.AcceptConnection), accepted
    assert accepted.subprotocol == "mcp"
    return conn, ws


def receive(conn: Any, ws: wsproto.WSConnection) -> Iterator[wsproto.events.Event]:
    while True:
        data = conn.recv(65536)
        assert data, "nginx closed the connection"
        ws.receive_data(data)
        yield from ws.events()


def exchange(conn: Any, ws: wsproto.WSConnection, message: dict[str, Any]) -> dict[str, Any]:
    conn.sendall(ws.send(wsproto.events.TextMessage(json.dumps(message))))
    for event in receive(conn, ws):
        if isinstance(event, wsproto.events.TextMessage):
            reply: dict[str, Any] = json.loads(event.data)
            if reply.get("id") == message["id"]:
                return reply
    raise AssertionError("unreachable")


def test_every_url_in_metadata_and_challenges_is_the_public_https_one(behind: tuple[ServerProcess, Nginx, str]) -> None:
    server, nginx, _ = behind
    found: list[str] = []
    with nginx.client(timeout=10) as http:
        for path, headers in (("/mcp", SSE), ("/sse", SSE), ("/ws", UPGRADE)):
            response = http.get(path, headers=headers)
            assert response.status_code == 401, (path, response.text)
            challenge = response.headers["www-authenticate"]
            metadata = re.search(r'resource_metadata="([^"]+)"', challenge)
            assert metadata, challenge
            found.append(metadata.group(1))
            document = http.get(metadata.group(1))
            assert document.status_code == 200, document.text
            found += urls_in(document.json())
        issuer = http.get("/.well-known/oauth-authorization-server")
        assert issuer.status_code == 200
        found += urls_in(issuer.json())
    internal = server.url.split("//")[1]
    assert found and all(url.startswith(nginx.base_url + "/") or url == nginx.base_url for url in found), found
    assert not [url for url in found if internal in url]


def urls_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, dict):
        return [url for item in value.values() for url in urls_in(item)]
    if isinstance(value, list):
        return [url for item in value for url in urls_in(item)]
    return []


def test_plain_http_redirects_to_the_public_https_url(behind: tuple[ServerProcess, Nginx, str]) -> None:
    _, nginx, _ = behind
    response = httpx.get(f"http://{nginx.address}:{nginx.http_port}/mcp?x=1",
                         headers={"host": nginx.hostname}, timeout=10)
    assert response.status_code == 301
    assert response.headers["location"] == f"{nginx.base_url}/mcp?x=1"


def test_nginx_refuses_a_body_larger_than_vpsmcp_would(behind: tuple[ServerProcess, Nginx, str]) -> None:
    _, nginx, token = behind
    with nginx.client(timeout=10) as http:
        big = b"x" * (4 * 1024 * 1024 + 1)
        response = http.post("/mcp", content=big, headers={"authorization": f"Bearer {token}",
                                                           "content-type": "application/json"})
    assert response.status_code == 413 and "nginx" in response.text  # refused by nginx, before vpsmcp
    with nginx.client(timeout=10) as http:  # and nginx's limit is not below vpsmcp's: the largest body passes it
        response = http.post("/mcp", content=b" " * (4 * 1024 * 1024), headers={
            "authorization": f"Bearer {token}", "content-type": "application/json",
            "accept": "application/json, text/event-stream"})
    assert response.status_code == 400 and response.json()["error"]["code"] == -32700  # vpsmcp's parse error


def test_a_token_travels_only_in_the_header_and_unknown_tokens_get_the_challenge(
    behind: tuple[ServerProcess, Nginx, str],
) -> None:
    _, nginx, _ = behind
    forged = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
    with nginx.client(timeout=10) as http:
        response = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                             headers={"authorization": f"Bearer {forged}", "accept": "application/json, text/event-stream"})
    assert response.status_code == 401
    assert f'resource_metadata="{nginx.base_url}/.well-known/oauth-protected-resource/mcp"' in response.headers[
        "www-authenticate"]


def test_the_official_sdk_client_calls_a_tool_over_https_through_nginx(behind: tuple[ServerProcess, Nginx, str]) -> None:
    _, nginx, token = behind

    async def conversation() -> str:
        with anyio.fail_after(30):
            async with nginx.sdk_http_client(headers={"authorization": f"Bearer {token}"}, timeout=20) as http:
                async with Client(streamable_http_client(nginx.base_url + "/mcp", http_client=http)) as client:
                    result = await client.call_tool("echo", {"text": "over https"})
        block = result.content[0]
        assert isinstance(block, types.TextContent)
        return block.text

    assert anyio.run(conversation) == "over https"


def test_requests_after_a_refused_websocket_upgrade_are_served(behind: tuple[ServerProcess, Nginx, str]) -> None:
    """A refused upgrade must not spoil the upstream connection for the next request (no upstream keepalive)."""
    server, nginx, token = behind
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        META + "protocolVersion": MODERN, META + "clientCapabilities": {}}}}
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": MODERN, "mcp-method": "tools/list"}
    with nginx.client(timeout=10) as http:
        for _ in range(10):
            assert http.get("/ws", headers=UPGRADE).status_code == 401
            response = http.post("/mcp", json=ping, headers=headers)
            assert response.status_code == 200, response.text
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("with_certificate", [True, False], ids=["https-site", "acme-only-site"])
def test_the_site_install_writes_passes_nginx_t(tmp_path: Path, with_certificate: bool) -> None:
    """The production rendering (ports 80/443, IPv4 and IPv6, certbot's paths) is valid nginx configuration."""
    tls = TlsFiles.make(tmp_path / "tls", "mcp.example.com")
    site = Site.public("https://mcp.example.com", Config(), str(tls.certificate), str(tls.key), str(tmp_path))
    (tmp_path / "site.conf").write_text(site.render() if with_certificate else site.render_acme())
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{\n    include {tmp_path / 'site.conf'};\n}}\n")
    done = subprocess.run([nginx_bin(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr
    assert "[warn]" not in done.stderr, done.stderr


def test_claudes_mismatched_and_sessionless_requests_are_served_through_nginx(
    behind: tuple[ServerProcess, Nginx, str],
) -> None:
    """The requests of anthropics/claude-code#93290 and anthropics/claude-ai-mcp#99, through nginx with TLS."""
    _, nginx, token = behind
    auth = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream",
            "user-agent": "Claude-User"}
    meta = {META + "protocolVersion": MODERN, META + "clientCapabilities": {}}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "via nginx"}, "_meta": meta}}
    with nginx.client(timeout=10) as http:
        for version in ({"mcp-protocol-version": "2025-11-25"}, {}):  # the mismatched header, and none
            answer = http.post("/mcp", json=call, headers={**auth, **version})
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["content"][0]["text"] == "via nginx"
            notified = http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized",
                                               "params": {"_meta": meta}}, headers={**auth, **version})
            assert notified.status_code == 202
        sessionless = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        listed = http.post("/mcp", json=sessionless, headers={**auth, "mcp-protocol-version": "2025-11-25"})
        assert listed.status_code == 200 and "echo" in [t["name"] for t in listed.json()["result"]["tools"]]
        initialized = http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=auth)
        assert initialized.status_code == 202
