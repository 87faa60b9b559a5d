"""The other transports: HTTP+SSE of 2024-11-05 at ``/sse`` and MCP over WebSocket at ``/ws``.

Older clients still use ``/sse``: its stream opens with an ``endpoint`` event
naming where to POST, and answers travel on the stream. Each protected path
needs its own challenge and metadata: a client configured with ``/sse``
refuses metadata whose ``resource`` is ``/mcp``. A server that offers neither
is fine (skipped): a 404, 405 or 403 on a path it does not serve is "not
offered", never "blocked by a proxy" — the official Python SDK answers an
upgrade at ``/ws`` with 403. vpsmcp offers both, so there such an answer
means the proxy in front.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urljoin

from vpsmcp.doctor import fixes, rpc
from vpsmcp.doctor.challenge import bearer_of
from vpsmcp.doctor.fixes import Fix
from vpsmcp.doctor.model import Outcome, ProbeError, failed, passed, skipped, warned
from vpsmcp.doctor.probe import Opened
from vpsmcp.doctor.refusals import refused
from vpsmcp.doctor.run import Run, StepSpec
from vpsmcp.doctor.sse import EventParser, Item
from vpsmcp.doctor.streaming import compression, open_stream
from vpsmcp.doctor.target import canonical
from vpsmcp.doctor.websocket import WebSocket

GROUP = "legacy"
LEGACY_VERSION = "2024-11-05"
OWN_METADATA = Fix(
    "serve protected resource metadata for {origin}/sse (and /ws) with that resource, and point their "
    "401 challenges at it: clients refuse metadata for another resource"
)


NOT_OFFERED = frozenset({403, 404, 405})  # what servers answer on a path they do not serve


def _absent(run: Run, path: str, status: int = 404) -> Outcome:
    if run.facts.vpsmcp is not None:
        fix = fixes.WEBSOCKET if path == "/ws" else fixes.LEGACY_PATH
        return warned(f"{path} answers {status}", f"vpsmcp serves {path}, so the proxy in front does not pass it",
                      run.fix(fix))
    return skipped(f"not offered ({path} answers {status}); only older clients need it")


def legacy_sse(run: Run) -> Outcome:
    url = run.target.at("/sse")
    if run.facts.auth == "oauth" and not run.facts.token:
        return _challenge(run, url)
    if (skip := run.needs_access()) is not None:
        return skip
    opened = open_stream(run, "/sse", run.auth_headers())
    if isinstance(opened, Outcome):
        return opened
    try:
        if opened.status == 404:
            return _absent(run, "/sse")
        if opened.status != 200:
            return refused(run, "GET /sse", opened.status, opened.header, "")
        if (compressed := compression(run, opened)) is not None:
            return compressed
        return _converse(run, opened, url)
    finally:
        opened.close()


def _converse(run: Run, opened: Opened, url: str) -> Outcome:
    """Read the endpoint event, POST initialize there, and wait for the answer on the stream."""
    until = time.monotonic() + run.options.timeout
    parser = EventParser()
    pending: list[Item] = []
    endpoint = _next(opened, parser, pending, until, lambda item: item.event == "endpoint")
    if endpoint is None:
        return failed(f"GET /sse: no endpoint event within {run.options.timeout:g} s",
                      "a 2024-11-05 stream starts with it: a proxy that buffers holds it back", run.fix(fixes.BUFFERING))
    message = rpc.request(1, "initialize", {"protocolVersion": LEGACY_VERSION, "capabilities": {},
                                            "clientInfo": rpc.CLIENT_INFO})
    post_url = urljoin(url, endpoint.data.strip())
    reply = run.probe.request("POST", post_url, {"Content-Type": "application/json", **run.auth_headers()},
                              json.dumps(message).encode())
    if reply.status not in (200, 202):
        return failed(f"POST {endpoint.data.strip()}: HTTP {reply.status} {reply.excerpt(80)!r}",
                      "messages do not reach the session", run.fix(fixes.LEGACY_PATH))
    answer = _next(opened, parser, pending, until, lambda item: _is_response(item.message(), 1))
    if answer is None:
        return failed("initialize was accepted but never answered on the stream", "the stream does not carry answers",
                      run.fix(fixes.BUFFERING))
    version = ((answer.message() or {}).get("result") or {}).get("protocolVersion")
    return passed(f"endpoint event, then initialize answered on the stream ({version})")


def _next(opened: Opened, parser: EventParser, pending: list[Item], until: float, wanted: Any) -> Item | None:
    while True:
        while pending:
            item = pending.pop(0)
            if not item.comment and wanted(item):
                return item
        chunk = opened.read_some(until)
        if not chunk:
            return None
        pending.extend(parser.feed(chunk))


def _is_response(message: Any, id: int) -> bool:
    return isinstance(message, dict) and message.get("id") == id and ("result" in message or "error" in message)


def _challenge(run: Run, url: str) -> Outcome:
    """Without a token: 401 whose metadata names ``/sse`` itself."""
    opened = run.probe.open("GET", url, {"Accept": "text/event-stream"})
    opened.close()
    if opened.status == 404:
        return _absent(run, "/sse")
    bearer = bearer_of(opened.header("www-authenticate"))
    metadata_url = bearer.params.get("resource_metadata") if bearer else None
    if opened.status != 401 or not metadata_url:
        return failed(f"GET /sse without a token: HTTP {opened.status}, no resource_metadata",
                      "clients of /sse cannot find where to log in", run.fix(fixes.CHALLENGE))
    return _own_metadata(run, "/sse", url, metadata_url)


def _own_metadata(run: Run, path: str, url: str, metadata_url: str) -> Outcome:
    document = run.probe.request("GET", metadata_url, {"Accept": "application/json"}).json()
    resource = document.get("resource") if isinstance(document, dict) else None
    if not isinstance(resource, str) or canonical(resource) != canonical(url):
        return failed(f"{path}'s challenge leads to metadata for {resource}", f"clients configured with {path} "
                      "refuse it", run.fix(OWN_METADATA))
    return passed(f"401 without a token, with its own metadata (resource {resource})")


def websocket(run: Run) -> Outcome:
    url = run.target.at("/ws")
    handshake, ws = WebSocket.connect(run.probe, url, run.auth_headers(), "mcp", run.options.timeout)
    if ws is None:
        if handshake.status in NOT_OFFERED:
            return _absent(run, "/ws", handshake.status)
        bearer = bearer_of(handshake.headers.get("www-authenticate"))
        if handshake.status == 401 and not run.facts.token and bearer and "resource_metadata" in bearer.params:
            return _own_metadata(run, "/ws", url, bearer.params["resource_metadata"])
        if handshake.status == 101:
            return failed("101 with a wrong Sec-WebSocket-Accept", "clients drop the connection (RFC 6455 §4.1)")
        if handshake.status in (401, 403) and run.facts.token:  # it reached the server, which refused the token
            return failed(f"the upgrade got HTTP {handshake.status} with the token", "the token is not accepted at /ws")
        return failed(f"the upgrade got HTTP {handshake.status}", "the WebSocket does not reach the server",
                      run.fix(fixes.WEBSOCKET))
    try:
        if not run.authorized:
            return failed("upgraded without a token", "anyone can use the WebSocket", run.fix(fixes.CHALLENGE))
        return _ws_initialize(run, ws, handshake.subprotocol)
    finally:
        ws.close()


def _ws_initialize(run: Run, ws: WebSocket, subprotocol: str | None) -> Outcome:
    ws.send_text(json.dumps(rpc.initialize()))
    until = time.monotonic() + run.options.timeout
    try:
        while (text := ws.receive_text(until)) is not None:
            message = _json(text)
            if _is_response(message, 1):
                version = (message.get("result") or {}).get("protocolVersion")
                if subprotocol != "mcp":
                    return warned(f"initialize answered ({version}), but subprotocol {subprotocol!r}",
                                  "clients ask for the subprotocol mcp")
                return passed(f"upgraded (subprotocol mcp); initialize answered ({version})")
    except ProbeError as exc:
        return failed(f"initialize over /ws: {exc}", "the WebSocket does not carry MCP", run.fix(fixes.WEBSOCKET))
    return failed("the server closed the WebSocket without answering", "the WebSocket does not carry MCP")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


STEPS = (
    StepSpec(GROUP, "legacy SSE", legacy_sse),
    StepSpec(GROUP, "WebSocket", websocket),
)
