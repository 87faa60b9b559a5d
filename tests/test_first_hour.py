"""What a new owner sees in the first hour (issue 15): every message true, each saying the next step.

Run as a new user would: ``python -m vpsmcp`` from the checkout, a fresh HOME and
state directory, the words read off stderr and stdout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, ServerProcess, clean_env, serve_from_checkout


def vpsmcp(tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vpsmcp", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp, env=clean_env(tmp))


def test_the_first_start_ends_with_the_url_to_give_a_client_and_every_start_says_it_in_one_line(
        tmp_path: Path) -> None:
    with serve_from_checkout(tmp_path) as first:
        port = first.url.rsplit(":", 1)[1]
    lines = first.lines
    shown = next(i for i, line in enumerate(lines) if "shown only this once" in line)
    next_step = lines[shown + 2]
    assert next_step.startswith("vpsmcp: next: MCP endpoint http://127.0.0.1:") and next_step.count("/mcp") == 2
    assert f"claude mcp add --transport http vpsmcp http://127.0.0.1:{port}/mcp" in next_step
    assert "https" in next_step  # claude.ai needs https: said on loopback
    with serve_from_checkout(tmp_path, "--public-url", "https://mcp.example.com") as again:
        pass
    said = [line for line in again.lines if "MCP endpoint" in line]
    assert len(said) == 1 and said[0].endswith(
        "MCP endpoint https://mcp.example.com/mcp — in Claude: Settings → Connectors → Add custom connector → "
        "https://mcp.example.com/mcp"), said
    assert "shown only this once" not in again.output()


def test_a_start_that_fails_on_a_missing_plugin_shows_no_password(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[plugins]\nmodules = ["no_such_module_here"]\n')
    done = vpsmcp(tmp_path, "serve", "--port", "0", "--state-dir", str(tmp_path / "state"), "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "no_such_module_here" in done.stderr and "shown only this once" not in done.stderr
    assert "Traceback" not in done.stderr
