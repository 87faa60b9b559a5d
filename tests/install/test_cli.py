"""The install commands at the command line: --dry-run shows everything and changes nothing;
the templates refuse what could inject nginx configuration; the pyz carries its deployment files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_pyz import SYSTEM_PYTHON, build
from tests.helpers.install_support import URL, fake_pyz, make_root, tree, write
from tests.helpers.support import ROOT
from vpsmcp.cli import main
from vpsmcp.errors import InstallError
from vpsmcp.install.layout import CONFIG, PYZ, UNIT
from vpsmcp.install.templates import deploy_file, render

EVERY_STEP = [
    "run `useradd --system --user-group --home-dir /var/lib/vpsmcp --no-create-home --shell /usr/sbin/nologin vpsmcp`",
    "make directory /usr/local/lib/vpsmcp (mode 0755)",
    f"write {PYZ} (mode 0644,",
    f"write {CONFIG} (mode 0644,",
    f"write {UNIT} (mode 0644,",
    "write /etc/systemd/system/vpsmcp.service.d/tools.conf (mode 0644,",
    "write /var/lib/vpsmcp/owner_password (mode 0600,",
    "run `chown -R vpsmcp:vpsmcp /var/lib/vpsmcp`",
    "make directory /var/www/letsencrypt (mode 0755)",
    "write /etc/nginx/sites-available/vpsmcp.conf (mode 0644,",
    "link /etc/nginx/sites-enabled/vpsmcp.conf -> /etc/nginx/sites-available/vpsmcp.conf",
    "run `nginx -t`",
    "run `systemctl daemon-reload`",
    "run `systemctl enable --now vpsmcp.service`",
    "check http://127.0.0.1:8765/healthz",
    "run `systemctl reload-or-restart nginx.service`",
]


def test_dry_run_prints_every_file_and_command_in_order_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    pyz = write(tmp_path / "vpsmcp.pyz", fake_pyz())
    before = tree(root)
    assert main(["install", "--dry-run", "--root", str(root), "--pyz", str(pyz), "--public-url", URL]) == 0
    out = capsys.readouterr().out
    positions = [out.find(step) for step in EVERY_STEP]
    assert -1 not in positions, [step for step in EVERY_STEP if step not in out]
    assert positions == sorted(positions)
    assert "    | ExecStart=/usr/bin/python3 -I /usr/local/lib/vpsmcp/vpsmcp.pyz serve" in out  # contents shown
    assert '    | public_url = "https://mcp.example.com"' in out
    assert "owner password:" not in out and "shown here once" in out
    assert tree(root) == before


def test_dry_run_of_upgrade_and_uninstall_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root(tmp_path)
    pyz = write(tmp_path / "vpsmcp.pyz", fake_pyz())
    assert main(["install", "--root", str(root), "--pyz", str(pyz), "--public-url", URL]) == 0
    before = tree(root)
    capsys.readouterr()
    new = write(tmp_path / "new.pyz", fake_pyz("2"))
    assert main(["upgrade", "--dry-run", "--root", str(root), str(new)]) == 0
    assert main(["uninstall", "--dry-run", "--purge", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "write /usr/local/lib/vpsmcp/vpsmcp.pyz.previous" in out and "run `systemctl restart vpsmcp.service`" in out
    assert "remove /var/lib/vpsmcp and everything in it: --purge" in out
    assert tree(root) == before


def test_acting_on_this_machine_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for argv in (["install", "--public-url", URL], ["upgrade", "--rollback"], ["uninstall"]):
        assert main(argv) == 1
        assert "run it as root" in capsys.readouterr().err


def test_root_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["uninstall", "--root", str(tmp_path / "missing")]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_render_repeats_a_line_for_each_value() -> None:
    text = render("a\nlisten @L@ ssl;\nserver_name @N@;\n", {"L": ("443", "[::]:443"), "N": "x.example"})
    assert text == "a\nlisten 443 ssl;\nlisten [::]:443 ssl;\nserver_name x.example;\n"


@pytest.mark.parametrize(
    ("template", "values", "problem"),
    [
        ("@A@ @B@\n", {"A": "1"}, "no value for @B@"),
        ("@A@\n", {"A": "1", "B": "2"}, "@B@ does not occur"),
        ("@A@ @B@\n", {"A": ("1", "2"), "B": ("3",)}, "repeats for both"),
    ],
)
def test_render_refuses_a_template_and_values_that_do_not_match(
    template: str, values: dict[str, str | tuple[str, ...]], problem: str
) -> None:
    with pytest.raises(InstallError, match=problem):
        render(template, values)


@pytest.mark.parametrize("value", ["a;b", "a}b", "a{b", "a b", "a\nb", "$host", "a#b", 'a"b', ""])
def test_render_refuses_values_that_could_inject_nginx_configuration(value: str) -> None:
    with pytest.raises(InstallError, match="holds a space"):
        render("server_name @N@;\n", {"N": value})


@pytest.mark.slow
def test_the_pyz_installs_itself_reading_its_deployment_files_from_the_zip(tmp_path: Path) -> None:
    pyz = tmp_path / "vpsmcp.pyz"
    assert build.main(["--output", str(pyz)]) == 0
    root = make_root(tmp_path)
    # No --pyz: the pyz installs the file it runs from; cwd outside the checkout, so nothing leaks in.
    done = subprocess.run([SYSTEM_PYTHON, "-I", str(pyz), "install", "--root", str(root), "--public-url", URL],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "owner password: " in done.stdout
    installed = root / PYZ.lstrip("/")
    assert installed.read_bytes() == pyz.read_bytes()
    assert (root / UNIT.lstrip("/")).read_text() == (ROOT / "systemd" / "vpsmcp.service").read_text() == deploy_file(
        "vpsmcp.service")
    check = subprocess.run([SYSTEM_PYTHON, "-I", str(installed), "check-config", "--config", str(root / CONFIG.lstrip("/"))],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip().endswith(": ok"), check.stderr
