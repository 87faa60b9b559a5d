"""Raw negative tests of /sse, /messages and /ws (the SDK clients' happy paths are in test_sdk_clients)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import ROOT, ServerProcess, serve_from_checkout


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{ROOT / "tests" / "plugins" / "echo_plugin.py"}"]\n')
    with serve_from_checkout(tmp_path, "--no-auth", "--config", str(config)) as proc:
        yield proc


def test_sse_announces_endpoint_and_answers_on_the_stream(srv: ServerProcess) -> None:
    with httpx.stream("GET", srv.url + "/sse", headers={"accept": "text/event-stream"}, timeout=10) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: endpoint"
        endpoint = next(lines)[len("data: "):]
        assert endpoint.startswith("/messages?session_id=")
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05"}}
        accepted = httpx.post(srv.url + endpoint, json=init)
        assert accepted.status_code == 202
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data[6:])["result"]["protocolVersion"] == "2024-11-05"


@pytest.mark.parametrize(("query", "body", "status"), [
    ("", b"{}", 400),
    ("?session_id=" + "0" * 32, b'{"jsonrpc":"2.0","method":"x"}', 404),
])
def test_messages_without_live_session(srv: ServerProcess, query: str, body: bytes, status: int) -> None:
    response = httpx.post(srv.url + "/messages" + query, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status and "error" in response.json()


def test_messages_rejects_bad_json_and_batches(srv: ServerProcess) -> None:
    with httpx.stream("GET", srv.url + "/sse", timeout=10) as stream:
        lines = stream.iter_lines()
        next(lines)
        endpoint = next(lines)[6:]
        headers = {"content-type": "application/json"}
        assert httpx.post(srv.url + endpoint, content=b"{oops", headers=headers).json()["error"]["code"] == -32700
        assert httpx.post(srv.url + endpoint, content=b"[{}]", headers=headers).status_code == 400


def test_closing_the_sse_stream_ends_the_session(srv: ServerProcess) -> None:
    with httpx.stream("GET", srv.url + "/sse", timeout=10) as stream:
        lines = stream.iter_lines()
        next(lines)
        endpoint = next(lines)[6:]
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for _ in range(50):
        response = httpx.post(srv.url + endpoint, json=ping)
        if response.status_code == 404:
            break
    assert response.status_code == 404


@pytest.mark.parametrize(("headers", "status"), [({"origin": "https://evil.example.com"}, 403), ({"host": "evil.example"}, 421)])
def test_websocket_refuses_hostile_requests_before_upgrade(srv: ServerProcess, headers: dict[str, str], status: int) -> None:
    upgrade = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
               "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-protocol": "mcp", **headers}
    response = httpx.get(srv.url + "/ws", headers=upgrade)
    assert response.status_code == status


@pytest.mark.parametrize(("method", "path", "status", "allow"), [
    ("OPTIONS", "/sse", 200, "GET, OPTIONS"), ("DELETE", "/sse", 405, "GET"), ("POST", "/sse/", 405, "GET"),
    ("OPTIONS", "/messages", 200, "OPTIONS, POST"), ("GET", "/messages", 405, "OPTIONS, POST"),
    ("PUT", "/messages/", 405, "OPTIONS, POST"),
])
def test_sse_and_messages_name_the_methods_they_serve(srv: ServerProcess, method: str, path: str, status: int,
                                                      allow: str) -> None:
    answer = httpx.request(method, srv.url + path, content=b"{}", timeout=10)
    assert (answer.status_code, answer.headers["allow"]) == (status, allow), answer.text
    if status == 405:
        assert answer.json()["error"]["message"].startswith("Method Not Allowed"), answer.text


def test_a_message_over_the_body_limit_is_413_and_the_session_lives_on(srv: ServerProcess) -> None:
    with httpx.stream("GET", srv.url + "/sse", timeout=10) as stream:
        lines = stream.iter_lines()
        next(lines)
        endpoint = next(lines)[6:]
        too_big = iter([b'{"jsonrpc":"2.0","method":"x","params":{"pad":"', b"x" * (4 * 1024 * 1024), b'"}}'])
        answer = httpx.post(srv.url + endpoint, content=too_big,  # chunked: no length to refuse it by
                            headers={"content-type": "application/json"})
        assert answer.status_code == 413 and "larger than" in answer.json()["error"]["message"], answer.text
        ping = httpx.post(srv.url + endpoint, json={"jsonrpc": "2.0", "id": 7, "method": "ping"})
        assert ping.status_code == 202
        assert json.loads(next(line for line in lines if line.startswith("data: "))[6:]) == \
            {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_ws_without_the_upgrade_says_it_is_missing(srv: ServerProcess) -> None:
    """What a proxy that drops Upgrade delivers: 426 naming the headers, not a 404 that reads as 'not offered'."""
    plain = httpx.get(srv.url + "/ws", timeout=10)
    assert plain.status_code == 426 and plain.headers["upgrade"] == "websocket", plain.text
    assert "pass the Upgrade and Connection headers" in plain.json()["error"]["message"]
    posted = httpx.post(srv.url + "/ws", content=b"{}", timeout=10)
    assert posted.status_code == 405 and posted.headers["allow"] == "GET"
