from __future__ import annotations

import json
import signal
import stat
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.support import ServerProcess, clean_env, serve_from_checkout
from vpsmcp import __version__


def test_healthz_answers_with_version_and_uptime(server: ServerProcess) -> None:
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["uptime_s"] >= 0
    assert body["auth"] == "oauth", "OAuth is the default"


def test_access_log_is_json_without_query_or_secrets(server: ServerProcess) -> None:
    httpx.get(server.url + "/healthz?code=SECRETCODE", headers={"User-Agent": "probe/1.0", "Authorization": "Bearer TOKENVALUE"})
    line = server.wait_for_line(r'"message": "access"')
    entry = json.loads(line)
    assert entry["method"] == "GET"
    assert entry["path"] == "/healthz"
    assert entry["status"] == 200
    assert entry["user_agent"] == "probe/1.0"
    assert isinstance(entry["duration_ms"], float)
    assert "SECRETCODE" not in server.output() and "TOKENVALUE" not in server.output()


def test_every_log_line_is_json(server: ServerProcess) -> None:
    httpx.get(server.url + "/healthz")
    server.wait_for_line("access")
    assert server.stop() == 0
    for line in server.lines:
        json.loads(line)


def test_unknown_path_is_404(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/nothing-here").status_code == 404


def test_sigterm_and_sigint_stop_cleanly(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with serve_from_checkout(tmp_path) as proc:
            assert httpx.get(proc.url + "/healthz").status_code == 200
            started = time.monotonic()
            assert proc.stop(sig) == 0
            assert time.monotonic() - started < 5
            assert "Traceback" not in proc.output()


def test_first_run_without_config_creates_private_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", "0"]
    with ServerProcess(argv, env=clean_env(home), cwd=tmp_path) as proc:
        assert httpx.get(proc.url + "/healthz").status_code == 200
        assert proc.url.startswith("http://127.0.0.1:")
    state = home / ".local" / "share" / "vpsmcp"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "secret_key").stat().st_mode) == 0o600
    out = proc.output()
    assert "no config file found; using the built-in defaults" in out
    assert f"created state directory {state}" in out


def test_config_file_and_flag_override(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[server]\nport = 1\npublic_url = "https://mcp.example.com"\n[log]\nformat = "json"\n')
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--config", str(config), "--port", "0",
            "--state-dir", str(tmp_path / "s")]
    with ServerProcess(argv, env=clean_env(tmp_path), cwd=tmp_path) as proc:
        line = proc.wait_for_line("listening on")
        assert json.loads(line)["public_url"] == "https://mcp.example.com"


def test_bad_config_stops_serve_with_named_key(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "vpsmcp.toml"
    config.write_text("[server]\nlisten = 'everywhere'\n")
    result = subprocess.run(
        [sys.executable, "-m", "vpsmcp", "serve", "--config", str(config)],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert f"{config}: server.listen: expected an IP address" in result.stderr


def test_port_in_use_is_a_clear_error(server: ServerProcess, tmp_path: Path) -> None:
    import subprocess

    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "vpsmcp", "serve", "--port", port, "--state-dir", str(tmp_path / "s2")],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
