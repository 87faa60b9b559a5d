"""The three servers under test: how each is started, found, checked and stopped.

Every server announces ``listening on http://127.0.0.1:PORT`` on stderr (vpsmcp
does so itself; floor.py and sdk_server.py copy it), so one start-up path fits
all three. Output goes to a log file rather than a pipe: nothing in the
runner has to keep draining it while the load runs.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oauth_login import set_password
from setup_env import BENCH, ROOT, node_path

LISTENING = re.compile(r"listening on (http://[\w.:\[\]-]+:\d+)")
PROTOCOL_VERSION = "2025-11-25"
ECHO_TEXT = "hello from wrk"  # the text mcp_load.lua sends; floor.py's canned answer holds it too


@dataclass
class Server:
    """One server process, pinned to ``cpu`` when given."""

    name: str
    argv: list[str]
    workdir: Path
    env: dict[str, str]
    cpu: int | None = None
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    sessions: list[str] = field(default_factory=list)
    answers: str = ""  # Content-Type of its tools/call answer: JSON or an event stream
    token: str = ""  # vpsmcp's bearer token; every server is sent it (the others ignore it)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        cpu = self.cpu
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env,
                preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
            )
        self.url = self._wait_for_url(timeout) + "/mcp"

    def _wait_for_url(self, timeout: float) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start; its output:\n{self.log_path.read_text(errors='replace')}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM this server's process (by pid), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def vpsmcp_server(python: Path, workdir: Path, cpu: int | None, sessions: int = 1000) -> Server:
    """vpsmcp from the checkout, configured by ``write_echo_config``, with OAuth on."""
    config = write_echo_config(workdir / "vpsmcp.toml", sessions)
    argv = [str(python), "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(workdir / "state"), "--config", str(config)]
    env = _env(workdir, ROOT)
    set_password(python, workdir / "state", env, workdir)  # served with OAuth on, as deployed
    return Server("vpsmcp", argv, workdir, env, cpu)


def write_echo_config(path: Path, sessions: int = 1000) -> Path:
    """vpsmcp's config for the bench: the echo plugin, no access log (none of the others log requests),
    and only the echo tool, like the other two: the built-in tools would make tools/list 25 times longer.
    One token stands for every connection's client, so its grant may hold a session per connection
    (the default 50 would end the first sessions as the 128th opens)."""
    groups = ", ".join(f'"{g}"' for g in _tool_groups())
    path.write_text(
        f'[log]\naccess = false\n\n[plugins]\nmodules = ["{BENCH / "echo_plugin.py"}"]\n\n[tools]\ndisabled = [{groups}]\n'
        f"\n[mcp]\nmax_sessions = {sessions}\nmax_sessions_per_credential = {sessions}\n"
        f"max_sessions_per_client = {sessions}\n"
    )
    return path


def _tool_groups() -> list[str]:
    """The built-in tool groups, read from vpsmcp/tool_names.py (dependency-free) by path:
    this runner's Python does not have vpsmcp's dependencies."""
    spec = importlib.util.spec_from_file_location("vpsmcp_tool_names", ROOT / "vpsmcp" / "tool_names.py")
    assert spec and spec.loader
    catalog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(catalog)
    return list(catalog.GROUPS)


def floor_server(python: Path, workdir: Path, cpu: int | None) -> Server:
    return Server("floor", [str(python), str(BENCH / "floor.py")], workdir, _env(workdir, BENCH), cpu)


def raw_floor_server(python: Path, workdir: Path, cpu: int | None) -> Server:
    return Server("raw", [str(python), str(BENCH / "raw_floor.py")], workdir, _env(workdir, BENCH), cpu)


def sdk_server(python: Path, workdir: Path, cpu: int | None) -> Server:
    return Server("sdk", [str(python), str(BENCH / "sdk_server.py")], workdir, _env(workdir, BENCH), cpu)


def ts_sdk_server(python: Path, workdir: Path, cpu: int | None) -> Server:
    """The TypeScript SDK on Node 22 (``setup_env.node_path``), its modules beside that node."""
    node = node_path()
    env = {**_env(workdir, BENCH), "NODE_PATH": str(node.parents[2]), "NODE_ENV": "production"}
    script = node.parents[3] / "ts_sdk_server.mjs"  # beside node_modules: ES modules resolve the SDK from there
    script.write_bytes((BENCH / "ts_sdk_server.mjs").read_bytes())
    return Server("ts-sdk", [str(node), str(script)], workdir, env, cpu)


def _env(home: Path, pythonpath: Path) -> dict[str, str]:
    """A small environment: nothing from the caller's shell changes how a server behaves."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env.update(HOME=str(home), PYTHONPATH=str(pythonpath), PYTHONDONTWRITEBYTECODE="1")
    return env


# --- a minimal MCP client (handshake era), for sessions and the correctness check ---


def headers(session_id: str | None = None, token: str = "") -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
    }
    if session_id:
        out["Mcp-Session-Id"] = session_id
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def post(url: str, message: dict[str, Any], session_id: str | None = None, token: str = "") -> tuple[int, dict[str, str], str]:
    """One POST; returns status, lower-cased headers and the body text."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        hdrs = headers(session_id, token)
        if "id" not in message or message.get("method") == "initialize":
            hdrs.pop("MCP-Protocol-Version")  # not sent before a version is negotiated
        conn.request("POST", parts.path, json.dumps(message), hdrs)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def reply(content_type: str, body: str) -> dict[str, Any]:
    """The JSON-RPC response in a body that is JSON or an event stream."""
    if content_type.startswith("text/event-stream"):
        for line in body.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if "result" in message or "error" in message:
                    return dict(message)
        raise ValueError(f"no response in event stream: {body!r}")
    return dict(json.loads(body))


def open_session(url: str, token: str = "") -> str:
    """initialize, then notifications/initialized; returns the Mcp-Session-Id."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
    }
    status, hdrs, body = post(url, init, None, token)
    session_id = hdrs.get("mcp-session-id")
    if status != 200 or not session_id:
        raise RuntimeError(f"initialize at {url}: HTTP {status}, session {session_id!r}: {body[:500]}")
    status, _, body = post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id, token)
    if status not in (200, 202):
        raise RuntimeError(f"notifications/initialized at {url}: HTTP {status}: {body[:500]}")
    return session_id


def check(server: Server) -> None:
    """One tools/call and one tools/list must come back right before any load is trusted."""
    session_id = server.sessions[0]
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": ECHO_TEXT}}}
    status, hdrs, body = post(server.url, call, session_id, server.token)
    result = reply(hdrs.get("content-type", ""), body).get("result", {}) if status == 200 else {}
    texts = [c.get("text") for c in result.get("content", [])]
    if texts != [ECHO_TEXT] or result.get("isError"):
        raise RuntimeError(f"{server.name}: tools/call echo answered HTTP {status}: {body[:500]}")
    server.answers = hdrs.get("content-type", "").split(";")[0]
    status, hdrs, body = post(server.url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, session_id, server.token)
    result = reply(hdrs.get("content-type", ""), body).get("result", {}) if status == 200 else {}
    if [t.get("name") for t in result.get("tools", [])] != ["echo"]:
        raise RuntimeError(f"{server.name}: tools/list answered HTTP {status}: {body[:500]}")
