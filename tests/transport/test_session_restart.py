"""A handshake-era session outlives a graceful restart of vpsmcp (issue 14, item 15; transport/saved_sessions.py).

The official SDK client (like Claude's connector, claude-ai-mcp#450) does not
re-initialize after a 404 for its session: after a restart it was stuck
until restarted itself. Here the SDK's own ``mcp.Client`` keeps one session
across ``SIGTERM`` and a new start on the same port and state directory.
"""

from __future__ import annotations

import json
import signal
import stat
import sys
from pathlib import Path

import anyio
import httpx
import mcp.types as types
import pytest
from mcp import Client

from tests.helpers.nginx_support import free_port
from tests.helpers.support import ROOT, ServerProcess, clean_env

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "sdk_plugin.py"
ACCEPT = "application/json, text/event-stream"


class Restartable:
    """vpsmcp on a fixed port and state directory, stopped and started again at will."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        (tmp / "vpsmcp.toml").write_text(f"[plugins]\nmodules = [{json.dumps(str(PLUGIN))}]\n")
        self.server = self._start()

    def _start(self) -> ServerProcess:
        argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", str(self.port), "--state-dir",
                str(self.tmp / "state"), "--no-auth", "--config", str(self.tmp / "vpsmcp.toml")]
        return ServerProcess(argv, env=clean_env(self.tmp), cwd=self.tmp).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.server.stop(sig)
        self.server = self._start()

    def stop(self) -> None:
        self.server.stop()


def initialize(url: str) -> str:
    answer = httpx.post(url + "/mcp", headers={"accept": ACCEPT}, timeout=10, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def ping(url: str, session: str) -> int:
    return httpx.post(url + "/mcp", headers={"accept": ACCEPT, "mcp-session-id": session}, timeout=10,
                      json={"jsonrpc": "2.0", "id": 2, "method": "ping"}).status_code


def test_the_official_sdk_client_keeps_its_session_across_a_graceful_restart(tmp_path: Path) -> None:
    vps = Restartable(tmp_path)
    try:
        async def conversation() -> list[list[str]]:
            async with Client(vps.url + "/mcp", mode="legacy") as client:
                before = await client.call_tool("add", {"a": 1, "b": 2})
                await anyio.to_thread.run_sync(vps.restart)
                after = await client.call_tool("add", {"a": 2, "b": 3})  # the same session id, a new process
                return [[block.text for block in r.content if isinstance(block, types.TextContent)]
                        for r in (before, after)]

        assert anyio.run(conversation) == [["3"], ["5"]]
        assert not (tmp_path / "state" / "sessions.json").exists()  # read once, then removed
    finally:
        vps.stop()


def test_what_is_kept_is_0600_holds_no_session_id_and_a_crash_keeps_nothing(tmp_path: Path) -> None:
    vps = Restartable(tmp_path)
    try:
        kept, deleted = initialize(vps.url), initialize(vps.url)
        assert httpx.delete(vps.url + "/mcp", headers={"mcp-session-id": deleted}, timeout=10).status_code in (200, 204)
        vps.server.stop()
        saved = tmp_path / "state" / "sessions.json"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        text = saved.read_text()
        assert kept not in text and deleted not in text and len(json.loads(text)["sessions"]) == 1
        vps.server = vps._start()
        assert ping(vps.url, kept) == 200
        assert ping(vps.url, deleted) == 404  # ended by its client: stays ended
        assert ping(vps.url, "0" * 32) == 404
        vps.restart(signal.SIGKILL)  # a crash keeps nothing: the client gets the 404 the spec prescribes
        assert ping(vps.url, kept) == 404
    finally:
        vps.stop()
