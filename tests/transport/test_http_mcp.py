"""Streamable HTTP against a real server: statuses, sessions, streams, both eras."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.support import ROOT, ServerProcess, serve_from_checkout

PLUGIN = ROOT / "tests" / "plugins" / "echo_plugin.py"
ACCEPT = "application/json, text/event-stream"
META = "io.modelcontextprotocol/"


def start(tmp: Path, extra: str = "") -> ServerProcess:
    config = tmp / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n{extra}')
    return serve_from_checkout(tmp, "--no-auth", "--config", str(config)).start()


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start(tmp_path, "[mcp]\nheartbeat = 0.3\n")
    yield proc
    proc.stop()


def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id is not None:
        message["id"] = id
    return message


def post(url: str, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> httpx.Response:
    sent = {"content-type": "application/json", "accept": ACCEPT, **(headers or {})}
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(url + "/mcp", content=content, headers=sent, timeout=10)


def initialize(url: str, version: str = "2025-11-25") -> str:
    response = post(url, rpc("initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    assert all(0x21 <= ord(c) <= 0x7E for c in session) and len(session) >= 32
    assert post(url, rpc("notifications/initialized", id=None), {"mcp-session-id": session}).status_code == 202
    return session


def stateless(url: str, method: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
              meta: dict[str, Any] | None = None) -> httpx.Response:
    body_params = dict(params or {})
    body_params["_meta"] = meta if meta is not None else {
        META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}}
    sent = {"mcp-protocol-version": "2026-07-28", "mcp-method": method, **(headers or {})}
    if method == "tools/call" and "mcp-name" not in sent:
        sent["mcp-name"] = str(body_params.get("name"))
    return post(url, rpc(method, body_params, id=7), sent)


def outcome(tmp: Path, marker: Path, timeout: float = 10.0) -> str:
    """The audited status of the ``slow`` call that was to write ``marker``, waiting for its record.

    Waiting on the record rather than sleeping and then finding no marker: on a slow machine
    the sleep could end before the call would have finished, and the test pass for nothing.
    """
    log = tmp / "state" / "audit.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            record = json.loads(line)
            if (record.get("arguments") or {}).get("marker") == str(marker):
                return str(record["status"])
        time.sleep(0.02)
    raise AssertionError(f"no audit record of the call writing {marker} after {timeout} s")


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    return dict(body["error"])


# --- handshake era -------------------------------------------------------------


def test_quick_call_answers_json_with_session(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    response = post(srv.url, rpc("tools/call", {"name": "echo", "arguments": {"text": "hi"}}), {"mcp-session-id": session})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"]["content"] == [{"type": "text", "text": "hi"}]


def test_mcp_with_trailing_slash_is_served_without_redirect(srv: ServerProcess) -> None:
    response = httpx.post(srv.url + "/mcp/", json=rpc("initialize", {"protocolVersion": "2025-06-18"}),
                          headers={"accept": ACCEPT})
    assert response.status_code == 200 and "mcp-session-id" in response.headers


def test_progress_streams_as_sse_with_priming_event(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    response = post(srv.url, rpc("tools/call", {"name": "slow", "arguments": {"steps": 3, "delay": 0.05},
                                                "_meta": {"progressToken": "tok"}}), {"mcp-session-id": session})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["x-accel-buffering"] == "no" and "no-cache" in response.headers["cache-control"]
    assert response.text.startswith("id: ") and "retry: 1000\ndata: \n\n" in response.text
    events = sse_events(response)
    progress = [e["params"]["progress"] for e in events if e.get("method") == "notifications/progress"]
    assert progress == [1, 2, 3]
    assert events[-1]["result"]["content"][0]["text"] == "done after 3 steps"


def test_no_priming_event_before_2025_11_25(srv: ServerProcess) -> None:
    session = initialize(srv.url, "2025-06-18")
    response = post(srv.url, rpc("tools/call", {"name": "slow", "arguments": {"steps": 1, "delay": 0.05},
                                                "_meta": {"progressToken": 1}}), {"mcp-session-id": session})
    assert response.text.startswith("id: ") and "retry:" not in response.text


def test_dropped_stream_resumes_with_last_event_id(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-session-id": session}
    body = rpc("tools/call", {"name": "slow", "arguments": {"steps": 3, "delay": 0.3}, "_meta": {"progressToken": 1}}, id=5)
    last_id = ""
    with httpx.stream("POST", srv.url + "/mcp", json=body, headers=headers, timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("id: ") and not line.endswith("/0"):
                last_id = line[4:]
                break  # drop the connection after the first real event
    assert last_id
    resumed = httpx.get(srv.url + "/mcp", headers={"accept": "text/event-stream", "mcp-session-id": session,
                                                   "last-event-id": last_id}, timeout=10)
    events = sse_events(resumed)
    assert events[-1]["id"] == 5 and events[-1]["result"]["content"][0]["text"] == "done after 3 steps"
    assert [e["params"]["progress"] for e in events if e.get("method") == "notifications/progress"] == [2, 3]


def test_cancelled_notification_stops_the_call(srv: ServerProcess, tmp_path: Path) -> None:
    session = initialize(srv.url)
    marker = tmp_path / "finished"
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-session-id": session}
    body = rpc("tools/call", {"name": "slow", "arguments": {"steps": 4, "delay": 0.25, "marker": str(marker)},
                              "_meta": {"progressToken": 1}}, id=9)
    with httpx.stream("POST", srv.url + "/mcp", json=body, headers=headers, timeout=10) as response:
        lines = response.iter_lines()
        next(line for line in lines if "notifications/progress" in line)
        cancel = post(srv.url, rpc("notifications/cancelled", {"requestId": 9}, id=None), {"mcp-session-id": session})
        assert cancel.status_code == 202
        rest = list(lines)
    assert not any('"id":9' in line for line in rest)  # no response for a cancelled request
    assert outcome(tmp_path, marker) == "cancelled" and not marker.exists()


def test_get_stream_sends_heartbeats_and_a_second_get_replaces_the_first(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    headers = {"accept": "text/event-stream", "mcp-session-id": session}
    with httpx.stream("GET", srv.url + "/mcp", headers=headers, timeout=10) as first:
        assert first.status_code == 200
        lines = first.iter_lines()
        assert next(line for line in lines if line.startswith(": keep-alive")) == ": keep-alive"
        with httpx.stream("GET", srv.url + "/mcp", headers=headers, timeout=10) as second:
            assert second.status_code == 200
            list(lines)  # the first stream ends instead of the second getting 409


def test_delete_ends_session_then_404(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    assert httpx.delete(srv.url + "/mcp", headers={"mcp-session-id": session}).status_code == 200
    response = post(srv.url, rpc("tools/list"), {"mcp-session-id": session})
    assert response.status_code == 404 and error_of(response)["code"] == -32001


def test_unknown_session_is_404_and_missing_is_served_without_one(srv: ServerProcess) -> None:
    # The spec's SHOULD is 400 for a missing id; Claude's connector sends some requests without it
    # (anthropics/claude-ai-mcp#99), so they are served sessionless (tests/clients/test_claude_connector.py).
    assert post(srv.url, rpc("tools/list"), {"mcp-session-id": "f" * 32}).status_code == 404
    missing = post(srv.url, rpc("tools/list"))
    assert missing.status_code == 200 and "tools" in missing.json()["result"]


def test_initialize_with_stale_session_id_starts_fresh(srv: ServerProcess) -> None:
    response = post(srv.url, rpc("initialize", {"protocolVersion": "2025-11-25"}), {"mcp-session-id": "stale"})
    assert response.status_code == 200 and response.headers["mcp-session-id"] != "stale"


def test_expired_session_is_404(tmp_path: Path) -> None:
    with start(tmp_path, "[mcp]\nsession_idle_timeout = 0.5\n") as proc:
        session = initialize(proc.url)
        time.sleep(0.8)
        assert post(proc.url, rpc("tools/list"), {"mcp-session-id": session}).status_code == 404


def test_session_cap_answers_503(tmp_path: Path) -> None:
    with start(tmp_path, "[mcp]\nmax_sessions = 2\n") as proc:
        initialize(proc.url)
        initialize(proc.url)
        response = post(proc.url, rpc("initialize", {"protocolVersion": "2025-11-25"}))
        assert response.status_code == 503 and response.headers["retry-after"] == "30"
        assert error_of(response)["message"].startswith("Too many sessions")


def test_batch_only_in_2025_03_26(srv: ServerProcess) -> None:
    batch = [rpc("ping", id=1), rpc("tools/call", {"name": "echo", "arguments": {"text": "b"}}, id=2)]
    old = initialize(srv.url, "2025-03-26")
    response = post(srv.url, batch, {"mcp-session-id": old})
    assert sorted(r["id"] for r in response.json()) == [1, 2]
    new = initialize(srv.url, "2025-06-18")
    assert post(srv.url, batch, {"mcp-session-id": new}).status_code == 400


def test_notification_only_body_is_202_without_body(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    response = post(srv.url, rpc("notifications/roots/list_changed", id=None), {"mcp-session-id": session})
    assert response.status_code == 202 and response.content == b""


def test_claude_style_request_without_version_header_and_any_accept(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    response = post(srv.url, rpc("tools/list"), {"mcp-session-id": session, "accept": "*/*"})
    assert response.status_code == 200 and response.json()["result"]["tools"]


@pytest.mark.parametrize(("headers", "raw", "status", "code"), [
    ({}, b"{not json", 400, -32700),
    ({}, b'{"jsonrpc":"1.0","id":1,"method":"x"}', 400, -32600),
    ({"content-type": "text/plain"}, None, 415, -32600),
    ({"accept": "text/html"}, None, 406, -32600),
    ({"origin": "https://evil.example.com"}, None, 403, -32600),
    ({"host": "evil.example.com"}, None, 421, -32600),
])
def test_bad_requests_get_status_and_jsonrpc_error(srv: ServerProcess, headers: dict[str, str], raw: bytes | None,
                                                   status: int, code: int) -> None:
    response = post(srv.url, rpc("initialize", {"protocolVersion": "2025-11-25"}), headers, raw)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_allowed_origins_pass(srv: ServerProcess) -> None:
    for origin in ("https://claude.ai", srv.url):
        assert post(srv.url, rpc("initialize", {"protocolVersion": "2025-11-25"}), {"origin": origin}).status_code == 200


def test_oversized_body_is_413(tmp_path: Path) -> None:
    with start(tmp_path, "[mcp]\nmax_body_bytes = 1024\n") as proc:
        big = rpc("initialize", {"protocolVersion": "2025-11-25", "pad": "x" * 2000})
        response = post(proc.url, big)
        assert response.status_code == 413 and error_of(response)["code"] == -32600


def test_unsupported_methods_on_mcp_paths_get_405_with_allow(srv: ServerProcess) -> None:
    response = httpx.put(srv.url + "/mcp", content=b"{}")
    assert response.status_code == 405 and "POST" in response.headers["allow"]
    assert response.json()["error"]["code"] == -32600  # a JSON-RPC body, never an HTML page
    options = httpx.options(srv.url + "/mcp/")
    assert options.status_code == 200 and options.headers["allow"] == "DELETE, GET, OPTIONS, POST"
    assert httpx.post(srv.url + "/sse", content=b"{}").status_code == 405


def test_sigterm_lets_a_running_call_finish(tmp_path: Path) -> None:
    proc = start(tmp_path)
    session = initialize(proc.url)
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-session-id": session}
    body = rpc("tools/call", {"name": "slow", "arguments": {"steps": 3, "delay": 0.3}, "_meta": {"progressToken": 1}}, id=3)
    with httpx.stream("POST", proc.url + "/mcp", json=body, headers=headers, timeout=10) as response:
        lines = response.iter_lines()
        next(line for line in lines if "progress" in line)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        rest = "\n".join(lines)
    assert "done after 3 steps" in rest
    assert proc.stop() == 0


def test_a_call_still_running_when_the_shutdown_timeout_ends_gets_an_error_not_an_empty_500(tmp_path: Path) -> None:
    proc = start(tmp_path, "[server]\nshutdown_timeout = 1\n")
    assert proc.proc is not None
    results: list[httpx.Response] = []
    session = initialize(proc.url)
    calls = [  # answered as JSON (no progress asked for), as an event stream, and in the stateless era
        lambda: post(proc.url, rpc("tools/call", {"name": "slow", "arguments": {"steps": 100, "delay": 0.1}}),
                     {"mcp-session-id": session}),
        lambda: post(proc.url, rpc("tools/call", {"name": "slow", "arguments": {"steps": 100, "delay": 0.1},
                                                  "_meta": {"progressToken": 1}}), {"mcp-session-id": session}),
        lambda: stateless(proc.url, "tools/call", {"name": "slow", "arguments": {"steps": 100, "delay": 0.1}}),
    ]
    workers = [threading.Thread(target=lambda c=c: results.append(c())) for c in calls]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # the three calls are running (one that had not begun would fail to connect, not pass)
    proc.proc.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.join(15)
    assert len(results) == 3
    for response in results:
        assert response.status_code == 200, (response.status_code, response.text)
        [answer] = [m for m in sse_events(response) if "id" in m] if "event-stream" in response.headers.get(
            "content-type", "") else [response.json()]
        assert "shutting down" in answer["error"]["message"] and "Retry" in answer["error"]["message"], answer
    assert proc.stop() == 0
    assert "Traceback" not in proc.output(), proc.output()


# --- stateless era (2026-07-28) ------------------------------------------------


def test_stateless_call_carries_result_type_and_server_info(srv: ServerProcess) -> None:
    response = stateless(srv.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    assert response.status_code == 200 and "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["resultType"] == "complete" and result["_meta"][META + "serverInfo"]["name"] == "vpsmcp"


def test_stateless_list_is_cacheable(srv: ServerProcess) -> None:
    result = stateless(srv.url, "tools/list").json()["result"]
    assert result["ttlMs"] == 0 and result["cacheScope"] == "private"


def test_stateless_logs_only_with_log_level(srv: ServerProcess) -> None:
    call = {"name": "slow", "arguments": {"steps": 1, "delay": 0.01}}
    quiet = stateless(srv.url, "tools/call", {**call, "_meta": None})
    assert "notifications/message" not in quiet.text
    meta = {META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}, META + "logLevel": "info",
            "progressToken": 1}
    loud = stateless(srv.url, "tools/call", call, meta=meta)
    assert [e["method"] for e in sse_events(loud) if "method" in e] == ["notifications/progress", "notifications/message"]


@pytest.mark.parametrize(("method", "headers", "meta", "status", "code"), [
    ("tools/list", {"mcp-method": "prompts/list"}, None, 400, -32020),
    ("tools/list", {"mcp-method": "TOOLS/LIST"}, None, 400, -32020),
    ("tools/call", {"mcp-name": "other"}, None, 400, -32020),
    ("tools/list", {}, {}, 400, -32602),
    ("tools/list", {}, {META + "protocolVersion": "2026-07-28"}, 400, -32602),
    ("tools/list", {}, {META + "protocolVersion": "2027-01-01", META + "clientCapabilities": {}}, 400, -32020),
    ("ping", {}, None, 404, -32601),
    ("initialize", {}, None, 404, -32601),
])
def test_stateless_envelope_errors(srv: ServerProcess, method: str, headers: dict[str, str], meta: dict[str, Any] | None,
                                   status: int, code: int) -> None:
    params = {"name": "echo", "arguments": {"text": "a"}} if method == "tools/call" else {}
    response = stateless(srv.url, method, params, headers, meta)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert response.json()["id"] == 7


def test_unsupported_version_lists_supported(srv: ServerProcess) -> None:
    meta = {META + "protocolVersion": "v999.0.0", META + "clientCapabilities": {}}
    response = stateless(srv.url, "tools/list", headers={"mcp-protocol-version": "v999.0.0"}, meta=meta)
    error = error_of(response)
    assert response.status_code == 400 and error["code"] == -32022
    assert "2026-07-28" in error["data"]["supported"] and error["data"]["requested"] == "v999.0.0"


def test_stateless_get_and_delete_are_405(srv: ServerProcess) -> None:
    for method in ("GET", "DELETE"):
        response = httpx.request(method, srv.url + "/mcp", headers={"mcp-protocol-version": "2026-07-28"})
        assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_stateless_notification_is_202(srv: ServerProcess) -> None:
    response = post(srv.url, rpc("notifications/cancelled", {}, id=None), {"mcp-protocol-version": "2026-07-28"})
    assert response.status_code == 202


def test_stateless_closing_the_stream_cancels_the_call(srv: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    params = {"name": "slow", "arguments": {"steps": 3, "delay": 0.3, "marker": str(marker)}}
    meta = {META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}, "progressToken": 1}
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": "2026-07-28",
               "mcp-method": "tools/call", "mcp-name": "slow"}
    with httpx.stream("POST", srv.url + "/mcp", json=rpc("tools/call", {**params, "_meta": meta}), headers=headers,
                      timeout=10) as response:
        next(line for line in response.iter_lines() if "progress" in line)
    assert outcome(tmp_path, marker) == "cancelled" and not marker.exists()


# --- requests that wait: the body arrives late, or the client leaves (http_connection.py) ---


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> socket.socket:
    """A connected socket that has sent a POST's head, and none of its body."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = {"host": f"{host}:{port}", "content-type": "application/json", "content-length": str(len(body)), **headers}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    sock.sendall(f"POST /mcp HTTP/1.1\r\n{lines}\r\n".encode())
    return sock


def test_a_body_arriving_in_pieces_is_answered(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    body = json.dumps(rpc("tools/call", {"name": "echo", "arguments": {"text": "in pieces"}}, id=9)).encode()
    with raw_post(srv.url, body, {"accept": ACCEPT, "mcp-session-id": session}) as sock:
        sock.sendall(body[:10])
        time.sleep(0.3)  # the server has started on the request and waits for the rest
        sock.sendall(body[10:])
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        payload = answer.read()
    assert answer.status == 200, payload
    assert json.loads(payload)["result"]["content"][0]["text"] == "in pieces"


def test_a_client_leaving_mid_body_costs_nothing(srv: ServerProcess) -> None:
    session = initialize(srv.url)
    body = json.dumps(rpc("tools/call", {"name": "echo", "arguments": {"text": "never"}}, id=9)).encode()
    with raw_post(srv.url, body, {"accept": ACCEPT, "mcp-session-id": session}) as sock:
        sock.sendall(body[:10])
        time.sleep(0.2)
    assert post(srv.url, rpc("ping"), {"mcp-session-id": session}).json()["result"] == {}
    assert "Traceback" not in srv.output()


def test_stateless_json_only_client_leaving_cancels_the_call(srv: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    params = {"name": "slow", "arguments": {"steps": 3, "delay": 0.3, "marker": str(marker)},
              "_meta": {META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}}}
    body = json.dumps(rpc("tools/call", params, id=7)).encode()
    headers = {"accept": "application/json", "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call",
               "mcp-name": "slow"}
    with raw_post(srv.url, body, headers) as sock:
        sock.sendall(body)
        time.sleep(0.3)  # the call is running; its answer can only be JSON, so nothing has been sent
    assert outcome(tmp_path, marker) == "cancelled", "the client went away: its call was cancelled, not finished"
    assert not marker.exists()
    assert "Traceback" not in srv.output()


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "event-stream"])
def test_a_request_whose_id_is_a_lone_surrogate_is_answered(srv: ServerProcess, streamed: bool) -> None:
    # Progress makes the answer an event stream; without, it is JSON. Either way the id comes back.
    call = (b'"name":"slow","arguments":{"steps":1,"delay":0.01}' if streamed
            else b'"name":"echo","arguments":{"text":"\\udfff"}')
    body = (b'{"jsonrpc":"2.0","id":"\\ud800","method":"tools/call","params":{' + call + b',"_meta":{"progressToken":"p",'
            b'"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "slow" if streamed else "echo"}
    answer = httpx.post(srv.url + "/mcp", content=body, headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream" if streamed else "application/json")
    replies = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: {")] if streamed \
        else [answer.json()]
    reply = next(r for r in replies if "result" in r)
    assert reply["id"] == "\ud800"
    assert streamed or reply["result"]["content"][0]["text"] == "\udfff"
