"""An upstream that is slow to start, or hangs while starting, costs only its own calls (issue 14, item 14).

Before: every ``tools/call`` and list first waited up to ``list_timeout`` for
any upstream still starting (an echo of a healthy upstream took 5 s), and a
slow upstream's tools read "Unknown tool" until it had first started. The
upstreams are real processes over real pipes (tests/upstreams/scripted_stdio.py,
behind ``sleep`` for the slow one; a process that never speaks for the hung one).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.gateway_support import SCRIPTED, scripted, serve_gateway
from tests.helpers.support import ServerProcess

pytestmark = pytest.mark.slow

META = "io.modelcontextprotocol/"
SLOW_START = 3.0
HUNG_START_TIMEOUT = 8.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[ServerProcess]:
    upstreams: dict[str, dict[str, object]] = {
        "hung": {"argv": [sys.executable, "-c", "import time; time.sleep(600)"], "start": "boot",
                 "start_timeout": HUNG_START_TIMEOUT},
        "slow": {"argv": ["sh", "-c", f'sleep {SLOW_START}; exec "$0" "$@"', sys.executable, str(SCRIPTED), "slow"]},
        "b": scripted("b"),
    }
    server = serve_gateway(tmp_path, upstreams)
    try:
        yield server
    finally:
        server.stop()


def request(server: ServerProcess, method: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], float]:
    """One 2026-07-28 request (no handshake to time); its JSON-RPC answer and how long it took."""
    body_params = {**(params or {}), "_meta": {META + "protocolVersion": "2026-07-28", META + "clientCapabilities": {}}}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if method == "tools/call":
        headers["mcp-name"] = str(body_params["name"])
    started = time.monotonic()
    response = httpx.post(server.url + "/mcp", headers=headers, timeout=60,
                          content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": body_params}))
    return response.json(), time.monotonic() - started


def echo(server: ServerProcess, tool: str) -> tuple[dict[str, Any], float]:
    return request(server, "tools/call", {"name": tool, "arguments": {"text": "hi"}})


def test_a_hanging_upstream_costs_only_its_own_calls_and_a_slow_one_is_waited_for(gateway: ServerProcess) -> None:
    # While "hung" is starting (and never will), a healthy upstream's calls do not wait for it.
    answer, took = echo(gateway, "b__echo")
    assert answer["result"]["content"] == [{"type": "text", "text": "hi"}], answer
    assert took < 2.5, f"b__echo took {took:.1f} s while another upstream was starting"
    answer, took = echo(gateway, "b__echo")
    assert took < 1.0, f"the second b__echo took {took:.1f} s"

    # The first call of a lazily started, slow upstream waits for its start instead of "Unknown tool".
    answer, took = echo(gateway, "slow__echo")
    assert answer.get("result", {}).get("content") == [{"type": "text", "text": "hi"}], answer
    assert took >= SLOW_START - 0.5

    # Lists wait for a starting upstream only in its first list_timeout (5 s); after it they answer without it.
    time.sleep(max(0.0, 5.5 - took))
    listed, took = request(gateway, "tools/list")
    names = {tool["name"] for tool in listed["result"]["tools"]}
    assert {"b__echo", "slow__echo"} <= names and not any(name.startswith("hung__") for name in names)
    assert took < 1.0, f"tools/list took {took:.1f} s, waiting for the hung upstream again"

    # A call naming the hung upstream's tool waits for its start, then says why there is no such tool.
    answer, took = echo(gateway, "hung__echo")
    message = answer["error"]["message"]
    assert message.startswith("Unknown tool: hung__echo; upstream 'hung', which would offer it, has not started"), message
    assert "did not start within 8 s" in message, message
    # ... and once it is restarting, such a call fails at once.
    answer, took = echo(gateway, "hung__echo")
    assert took < 1.0 and "did not start within 8 s" in answer["error"]["message"], (took, answer)
    answer, took = echo(gateway, "b__echo")
    assert took < 1.0
