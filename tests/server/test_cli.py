from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.support import clean_env
from vpsmcp import __version__
from vpsmcp.cli import main


@pytest.mark.parametrize("command", ["serve", "init", "check-config", "version"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: vpsmcp {command}" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: vpsmcp" in capsys.readouterr().err


def test_version_names_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"vpsmcp {__version__} (Python 3.")
    assert "quart 0.22.0" in out and "hypercorn 0.18.0" in out


SERVER_PACKAGES = ("quart", "flask", "werkzeug", "hypercorn", "authlib", "jinja2", "h11")


@pytest.mark.parametrize("argv", [
    ["version"], ["logs"], ["audit"], ["audit", "--verify"], ["tokens", "list"], ["clients", "list"],
    ["upstreams"], ["check-config"], ["doctor", "--help"], ["install", "--help"],
])
def test_commands_other_than_serve_answer_without_loading_the_server(argv: list[str], tmp_path: Path) -> None:
    """Only ``serve`` (and ``stdio``) need Quart, hypercorn and authlib; every other command must not
    pay the 0.3 s their import takes."""
    state = ["--state-dir", str(tmp_path / "state")] if argv[0] in ("logs", "audit", "tokens", "clients", "upstreams") else []
    probe = ("import sys\nfrom vpsmcp.cli import main\n"
             f"try:\n    main({[*argv, *state]!r})\nexcept SystemExit:\n    pass\n"
             f"print([m for m in {SERVER_PACKAGES!r} if m in sys.modules], file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env=clean_env(tmp_path))
    assert done.stderr.splitlines()[-1] == "[]", done.stderr
