from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from vpsmcp.cli import main
from vpsmcp.config.sections import (
    Config,
    dump_config,
    iter_settings,
    load_config,
    parse_config,
    settings_table,
    with_overrides,
)
from vpsmcp.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("bogus = 1", "bogus", "unknown key"),
        ("[server]\nprot = 80", "server.prot", "unknown key (expected one of: listen, port"),
        ("server = 3", "server", "expected a table [server], got 3"),
        ('[server]\nport = "80"', "server.port", "expected an integer, got '80'"),
        ("[server]\nport = true", "server.port", "expected an integer, got true"),
        ("[server]\nport = 70000", "server.port", "a port number from 0 to 65535"),
        ('[server]\nlisten = "example.com"', "server.listen", "an IP address"),
        ('[server]\npublic_url = "mcp.example.com"', "server.public_url", "an absolute http(s) URL"),
        ('[server]\npublic_url = "https://h.example/mcp"', "server.public_url", "no path"),
        ("[server]\nshutdown_timeout = 0", "server.shutdown_timeout", "greater than 0"),
        ('[server]\nshutdown_timeout = "soon"', "server.shutdown_timeout", "expected a number"),
        ('[log]\nformat = "xml"', "log.format", "one of 'text', 'json'"),
        ('[log]\naccess = "yes"', "log.access", "expected true or false"),
        ('[auth]\nsecret_key = "short"', "auth.secret_key", "at least 32 characters"),
    ],
)
def test_bad_values_name_file_and_key(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/vpsmcp/vpsmcp.toml")
    message = str(info.value)
    assert message.startswith(f"/etc/vpsmcp/vpsmcp.toml: {key}: "), message
    assert expected in message


def test_invalid_toml_names_file_and_position() -> None:
    with pytest.raises(ConfigError, match=r"^x\.toml: not valid TOML: .*line 2"):
        parse_config("[server]\nport = = 1", "x.toml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: no such file"):
        load_config(tmp_path / "nope.toml")


def test_empty_file_is_the_default() -> None:
    assert parse_config("", "empty.toml") == Config()


def test_dump_round_trips_every_setting() -> None:
    config = with_overrides(
        Config(),
        {"server.port": 0, "server.public_url": "https://mcp.example.com", "auth.secret_key": "k" * 40},
        "test",
    )
    assert parse_config(dump_config(config), "dumped") == config


def test_config_objects_are_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]


def test_override_is_checked_like_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^command line: server\.port: expected a port number"):
        with_overrides(Config(), {"server.port": -1}, "command line")


def test_init_writes_complete_private_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "vpsmcp.toml"
    assert main(["init", "--config", str(path), "--port", "9000", "--public-url", "https://mcp.example.com"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    for key, _ in iter_settings():
        if ".NAME." in key:
            continue  # a table of tables ([upstreams.NAME]) has no entries by default
        section, name = key.split(".")
        assert f"[{section}]" in text and re.search(rf"^{name} = ", text, re.M), key
    config = load_config(path)
    assert config.server.port == 9000
    assert config.server.public_url == "https://mcp.example.com"
    assert len(config.auth.secret_key) >= 32
    assert dump_config(config) == text


def test_init_generates_a_new_secret_each_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    main(["init", "--config", str(a)])
    main(["init", "--config", str(b)])
    assert load_config(a).auth.secret_key != load_config(b).auth.secret_key


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vpsmcp.toml"
    path.write_text("# mine\n")
    assert main(["init", "--config", str(path)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"
    assert main(["init", "--config", str(path), "--force"]) == 0
    assert load_config(path).server.listen == "127.0.0.1"


def test_init_rejects_bad_flag_values_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vpsmcp.toml"
    assert main(["init", "--config", str(path), "--public-url", "ftp://x"]) == 2
    assert "command line: server.public_url: expected an absolute http(s) URL" in capsys.readouterr().err
    assert not path.exists()


def test_init_defaults_to_user_config_path(tmp_path: Path) -> None:
    assert main(["init"], env={"HOME": str(tmp_path)}) == 0
    assert (tmp_path / ".config" / "vpsmcp" / "vpsmcp.toml").is_file()


def test_check_config_reports_error_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vpsmcp.toml"
    path.write_text("[server]\nport = 99999\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: server.port: expected a port number" in err


def test_check_config_accepts_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vpsmcp.toml"
    main(["init", "--config", str(path)])
    assert main(["check-config", "--config", str(path)]) == 0
    assert f"{path}: ok" in capsys.readouterr().out


def test_check_config_finds_file_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vpsmcp.toml").write_text("[log]\nlevel = 'loud'\n")
    assert main(["check-config"], env={"HOME": str(tmp_path / "home")}) == 2
    assert "vpsmcp.toml: log.level: expected one of" in capsys.readouterr().err


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    for key, f in iter_settings():
        assert f.metadata["doc"], key
    assert settings_table() in doc, "docs/CONFIGURATION.md is stale: run python docs/update_configuration.py"
