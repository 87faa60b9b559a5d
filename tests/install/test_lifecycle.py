"""upgrade, rollback and uninstall after an install, in a throwaway root (see tests/helpers/install_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.install_support import SITE, SITE_LINK, URL, Host, at, fake_pyz, install, make_root, tree, write
from vpsmcp.cli import main
from vpsmcp.errors import InstallError
from vpsmcp.install.layout import CONFIG, DROPIN, OWNER_PASSWORD, PREVIOUS_PYZ, PYZ, UNIT, System
from vpsmcp.install.plan import Target, carry_out
from vpsmcp.install.remove import plan_uninstall
from vpsmcp.install.units import TEMPLATE_UNIT, WANTS
from vpsmcp.install.upgrade import carry_out_swap, plan_rollback, plan_upgrade

RESTART = "systemctl restart vpsmcp.service"
HEALTH = "http://127.0.0.1:8765/healthz"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    root = make_root(tmp_path)
    install(root, Host(root), public_url=URL)
    return root


def upgrade(root: Path, host: Host, new: bytes) -> None:
    carry_out_swap(plan_upgrade(new, System(root)), Target(root, host), lambda step: None)


def test_upgrade_swaps_the_pyz_keeps_the_previous_and_checks_health(installed: Path) -> None:
    host = Host(installed)
    upgrade(installed, host, fake_pyz("2"))
    assert at(installed, PYZ).read_bytes() == fake_pyz("2")
    assert at(installed, PREVIOUS_PYZ).read_bytes() == fake_pyz("1")
    assert (host.commands, host.checks) == ([RESTART], [HEALTH])


def test_rollback_swaps_back_and_can_itself_be_undone(installed: Path) -> None:
    upgrade(installed, Host(installed), fake_pyz("2"))
    for expected in ("1", "2"):
        host = Host(installed)
        carry_out_swap(plan_rollback(System(installed)), Target(installed, host), lambda step: None)
        assert at(installed, PYZ).read_bytes() == fake_pyz(expected)
        assert (host.commands, host.checks) == ([RESTART], [HEALTH])


def test_upgrade_to_the_installed_pyz_changes_nothing(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(installed)
    pyz = write(installed.parent / "same.pyz", fake_pyz("1"))
    assert main(["upgrade", "--root", str(installed), str(pyz)]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert tree(installed) == before


def test_an_upgrade_that_fails_its_health_check_puts_the_previous_version_back_and_restarts_it(installed: Path) -> None:
    host = Host(installed, unhealthy=1)
    with pytest.raises(InstallError, match="did not answer.*put back and runs again"):
        upgrade(installed, host, fake_pyz("2"))
    assert at(installed, PYZ).read_bytes() == fake_pyz("1")
    assert not at(installed, PREVIOUS_PYZ).exists()
    assert (host.commands, host.checks) == ([RESTART, RESTART], [HEALTH, HEALTH])


def test_upgrade_refuses_a_file_that_is_not_a_pyz_and_changes_nothing(installed: Path) -> None:
    before = tree(installed)
    with pytest.raises(InstallError, match="not a zipapp"):
        plan_upgrade(b"garbage", System(installed))
    assert tree(installed) == before


def test_upgrade_and_rollback_need_an_install(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(InstallError, match="not installed"):
        plan_upgrade(fake_pyz("2"), System(root))
    with pytest.raises(InstallError, match="not installed"):
        plan_rollback(System(root))


def test_rollback_without_a_previous_version_says_so(installed: Path) -> None:
    with pytest.raises(InstallError, match="no previous version"):
        plan_rollback(System(installed))


def test_upgrade_needs_a_pyz_or_rollback_but_not_both(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyz = write(installed.parent / "new.pyz", fake_pyz("2"))
    assert main(["upgrade", "--root", str(installed)]) == 1
    assert main(["upgrade", "--root", str(installed), "--rollback", str(pyz)]) == 1
    assert capsys.readouterr().err.count("not both") == 2


def test_uninstall_removes_what_install_wrote_and_keeps_the_state(installed: Path) -> None:
    host = Host(installed)
    plan = plan_uninstall(System(installed), purge=False)
    carry_out(plan, Target(installed, host), lambda step: None)
    for path in (PYZ, UNIT, DROPIN, SITE, SITE_LINK):
        assert not at(installed, path).exists(), path
    assert at(installed, CONFIG).is_file() and at(installed, OWNER_PASSWORD).is_file()
    assert host.commands == [
        "nginx -t",
        "systemctl reload nginx.service",
        "systemctl disable --now vpsmcp.service",
        "systemctl daemon-reload",
    ]
    assert any("--purge" in note for note in plan.notes)


def test_uninstall_purge_removes_the_state_the_config_and_the_user(installed: Path) -> None:
    host = Host(installed)
    carry_out(plan_uninstall(System(installed), purge=True), Target(installed, host), lambda step: None)
    assert not at(installed, CONFIG).parent.exists() and not at(installed, OWNER_PASSWORD).parent.exists()
    assert "userdel vpsmcp" in host.commands


def test_uninstall_that_fails_nginx_check_keeps_the_site_and_the_service(installed: Path) -> None:
    before = tree(installed)
    host = Host(installed, fail="nginx -t")
    with pytest.raises(InstallError, match="put back"):
        carry_out(plan_uninstall(System(installed), purge=False), Target(installed, host), lambda step: None)
    assert tree(installed) == before
    assert host.commands == ["nginx -t"]


def test_uninstall_where_nothing_is_installed_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root(tmp_path)
    assert main(["uninstall", "--root", str(root)]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_several_instances_are_upgraded_in_turn_and_all_uninstalled(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    install(root, Host(root), public_url=URL, instances=2)
    host = Host(root)
    upgrade(root, host, fake_pyz("2"))
    assert host.events == ["systemctl restart vpsmcp@8765.service", "http://127.0.0.1:8765/healthz",
                           "systemctl restart vpsmcp@8766.service", "http://127.0.0.1:8766/healthz"]
    host = Host(root, unhealthy=1)  # the first instance does not come back on the new version
    with pytest.raises(InstallError, match="put back and runs again"):
        upgrade(root, host, fake_pyz("3"))
    assert at(root, PYZ).read_bytes() == fake_pyz("2")
    assert host.commands[-2:] == ["systemctl restart vpsmcp@8765.service", "systemctl restart vpsmcp@8766.service"]
    host = Host(root)
    carry_out(plan_uninstall(System(root), purge=False), Target(root, host), lambda step: None)
    assert "systemctl disable --now vpsmcp@8765.service" in host.commands
    assert "systemctl disable --now vpsmcp@8766.service" in host.commands
    assert not at(root, TEMPLATE_UNIT).exists() and not list(at(root, WANTS).glob("vpsmcp*"))
