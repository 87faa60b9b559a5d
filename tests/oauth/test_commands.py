"""``vpsmcp passwd``, ``clients`` and ``tokens``, called as the CLI is (``cli.main(argv, env)``)."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest

from vpsmcp.cli import main
from vpsmcp.config.sections import StoreConfig
from vpsmcp.oauth.owner import ITERATIONS, OwnerPassword
from vpsmcp.oauth.records import Family
from vpsmcp.oauth.store import open_store
from vpsmcp.state import StateDir


def run(state: Path, *argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main([*argv, "--state-dir", str(state)], env={"HOME": str(state.parent)})


def test_passwd_from_stdin_sets_the_owner_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "s", "passwd", "--password-stdin", stdin="a long enough secret\n", monkeypatch=monkeypatch) == 0
    assert "owner password set" in capsys.readouterr().out
    password = OwnerPassword(tmp_path / "s")
    assert password.check("a long enough secret") and not password.check("a long enough secreT")
    assert (tmp_path / "s" / "owner_password").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "s" / "owner_password").read_text())["iterations"] == ITERATIONS  # a person chose it


def test_a_generated_password_is_128_random_bits_hashed_once(tmp_path: Path) -> None:
    """The first start's password needs no slow hash (owner.py says why); one typed by a person gets it."""
    (tmp_path / "s").mkdir()
    password = OwnerPassword(tmp_path / "s")
    shown = password.generate()
    assert len(base64.urlsafe_b64decode(shown + "==")) == 16 and shown != password.generate()
    shown = password.generate()
    record = json.loads(password.path.read_text())
    assert record["iterations"] == 1 and shown not in password.path.read_text()
    assert password.check(shown) and not password.check(shown[:-1])
    assert password.path.stat().st_mode & 0o777 == 0o600


def test_a_short_password_is_refused_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "s", "passwd", "--password-stdin", stdin="short\n", monkeypatch=monkeypatch) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    assert not OwnerPassword(tmp_path / "s").is_set()


def test_clients_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "s"
    assert run(state, "clients", "add", "--name", "My app", "--redirect-uri", "https://app.example/cb") == 0
    out = capsys.readouterr().out
    client_id = re.search(r"client_id: (\S+)", out)
    assert client_id and re.search(r"client_secret \(shown only now\): \S{40,}", out)
    stored = open_store(StoreConfig(), state).client(client_id.group(1))
    assert stored is not None and stored.source == "cli" and str(stored.secret_digest) not in out

    assert run(state, "clients", "list") == 0
    listed = capsys.readouterr().out
    assert client_id.group(1) in listed and "My app (app.example)" in listed and "never" in listed

    store = open_store(StoreConfig(), state)
    now = time.time()
    store.save_family(Family("g1", client_id.group(1), ("vps:read",), "https://x", now, now + 60))
    assert run(state, "clients", "remove", client_id.group(1)) == 0
    reloaded = open_store(StoreConfig(), state)
    assert reloaded.client(client_id.group(1)) is None
    family = reloaded.family("g1")
    assert family is not None and family.revoked_at is not None, "removing a client revokes its grants"


@pytest.mark.parametrize(("argv", "problem"), [
    (["clients", "add", "--name", "x", "--redirect-uri", "http://evil.example/cb"], "must be https"),
    (["clients", "add", "--name", "x", "--redirect-uri", "javascript:alert(1)"], "must be https"),
    (["clients", "remove", "nobody"], "no client 'nobody'"),
    (["tokens", "revoke", "--client", "nobody"], "nothing to revoke"),
])
def test_bad_requests_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              argv: list[str], problem: str) -> None:
    assert run(tmp_path / "s", *argv) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1


def test_tokens_list_shows_state_and_scopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(StoreConfig(), StateDir.open(tmp_path / "s").path)
    now = time.time()
    store.save_family(Family("live", "c1", ("vps:read", "mcp:read"), "https://x", now, now + 60))
    store.save_family(Family("gone", "c2", ("vps:exec",), "https://x", now, now + 60, revoked_at=now))
    assert run(tmp_path / "s", "tokens", "list") == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "active" in rows["live"] and "vps:read mcp:read" in rows["live"]
    assert "revoked" in rows["gone"]
    assert run(tmp_path / "s", "tokens", "list", "--client", "c2") == 0
    assert "live" not in capsys.readouterr().out
