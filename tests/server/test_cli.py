from __future__ import annotations

import pytest

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
