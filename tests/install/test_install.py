"""install, carried out for real into a throwaway root (see tests/helpers/install_support.py).

Files are written under a temporary directory laid out like a Debian VPS;
what would act on the running system (useradd, systemctl, nginx -t, the
health check) goes through a simulated host that records it.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from tests.helpers.install_support import SITE, SITE_LINK, URL, Host, at, fake_pyz, install, make_root, tree, write
from vpsmcp.cli import main
from vpsmcp.config.sections import load_config
from vpsmcp.errors import InstallError
from vpsmcp.install.install import InstallRequest, plan_install
from vpsmcp.install.layout import CONFIG, OWNER_PASSWORD, PYZ, UNIT, System
from vpsmcp.install.templates import deploy_file
from vpsmcp.install.units import TEMPLATE_UNIT
from vpsmcp.oauth.owner import verify_password


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path)


def test_install_writes_the_program_config_unit_password_and_site(root: Path) -> None:
    host = Host(root)
    _, password = install(root, host, public_url=URL)
    assert at(root, PYZ).read_bytes() == fake_pyz()
    assert at(root, UNIT).read_text() == deploy_file("vpsmcp.service")
    config = load_config(at(root, CONFIG))
    assert (config.server.public_url, config.server.listen, config.server.state_dir) == (URL, "127.0.0.1", "/var/lib/vpsmcp")
    assert config.auth.trusted_proxies == ("127.0.0.1",) and config.auth.secret_key == ""
    assert stat.S_IMODE(at(root, CONFIG).stat().st_mode) == 0o644  # no secret in it
    state = at(root, OWNER_PASSWORD)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert password is not None and verify_password(password, state.read_text())
    assert os.readlink(at(root, SITE_LINK)) == SITE


def test_install_runs_commands_in_the_order_that_keeps_the_machine_consistent(root: Path) -> None:
    host = Host(root)
    install(root, host, public_url=URL)
    assert host.commands == [
        "useradd --system --user-group --home-dir /var/lib/vpsmcp --no-create-home --shell /usr/sbin/nologin vpsmcp",
        "chown -R vpsmcp:vpsmcp /var/lib/vpsmcp",
        "nginx -t",
        "systemctl daemon-reload",
        "systemctl enable --now vpsmcp.service",
        "systemctl reload-or-restart nginx.service",
    ]
    assert host.checks == ["http://127.0.0.1:8765/healthz"]


def test_second_install_changes_nothing_and_says_so(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(root, Host(root), public_url=URL)
    before = tree(root)
    again = plan_install(InstallRequest(fake_pyz()), System(root))
    assert again.plan.steps == () and again.password is None
    assert {CONFIG, UNIT, PYZ, SITE} <= set(again.plan.unchanged)
    assert main(["install", "--root", str(root), "--pyz", str(write(root.parent / "v.pyz", fake_pyz()))]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert tree(root) == before


def test_without_a_certificate_the_site_serves_only_certbot_and_says_the_step_left(root: Path) -> None:
    plan, _ = install(root, Host(root), public_url=URL)
    site = at(root, SITE).read_text()
    assert "ssl" not in site and "proxy_pass" not in site and "/.well-known/acme-challenge/" in site
    assert any("certbot certonly --webroot -w /var/www/letsencrypt -d mcp.example.com" in note for note in plan.notes)
    assert any(f"{URL}/mcp" in note for note in plan.notes)


def test_once_the_certificate_exists_install_switches_the_site_to_https_only(root: Path) -> None:
    install(root, Host(root), public_url=URL)
    live = at(root, "/etc/letsencrypt/live/mcp.example.com")
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_text("chain")
    (live / "privkey.pem").write_text("key")
    host = Host(root)
    plan, _ = install(root, host)
    site = at(root, SITE).read_text()
    assert "listen 443 ssl;" in site and "ssl_certificate /etc/letsencrypt/live/mcp.example.com/fullchain.pem;" in site
    assert "proxy_pass http://vpsmcp_backend;" in site and "client_max_body_size 4194304;" in site
    assert host.commands == ["nginx -t", "systemctl reload-or-restart nginx.service"]  # vpsmcp itself untouched
    assert not any("certbot" in note for note in plan.notes)


def installed_then_certified(root: Path) -> dict[str, tuple[int, bytes]]:
    """Install (the certbot-only site), then give it a certificate; the tree as it was before the certificate."""
    install(root, Host(root), public_url=URL)
    before = tree(root)
    live = at(root, "/etc/letsencrypt/live/mcp.example.com")
    live.mkdir(parents=True)
    for name in ("fullchain.pem", "privkey.pem"):
        (live / name).write_text("x")
    return before


def test_a_site_that_a_client_cannot_reach_through_nginx_fails_install_and_the_previous_site_is_served(
        root: Path) -> None:
    before = installed_then_certified(root)
    host = Host(root, unreachable="port 443 is held by apache2 (pid 812), not nginx")
    with pytest.raises(InstallError, match="held by apache2.*put back.*ran `systemctl reload-or-restart nginx.service` again"):
        install(root, host)
    assert {k: v for k, v in tree(root).items() if not k.startswith("etc/letsencrypt")} == before
    assert host.commands == ["nginx -t", "systemctl reload-or-restart nginx.service",
                             "systemctl reload-or-restart nginx.service"]  # the second serves the old site again
    assert host.checks == [URL + "/healthz"]


def test_a_failed_nginx_check_puts_the_previous_site_back(root: Path) -> None:
    before = installed_then_certified(root)
    host = Host(root, fail="nginx -t")
    with pytest.raises(InstallError, match="nginx -t.*failed.*put back"):
        install(root, host)
    assert {k: v for k, v in tree(root).items() if not k.startswith("etc/letsencrypt")} == before
    assert "systemctl reload-or-restart nginx.service" not in host.commands


def test_a_failed_first_install_leaves_no_file_behind(root: Path) -> None:
    before = tree(root)
    with pytest.raises(InstallError, match="put back.*not undone: run `useradd"):
        install(root, Host(root, fail="nginx -t"), public_url=URL)
    assert tree(root) == before | {"etc/passwd": tree(root)["etc/passwd"]}


def test_a_first_install_failing_after_the_service_started_stops_and_disables_it_again(root: Path) -> None:
    host = Host(root, unhealthy=1)  # vpsmcp.service started, then did not answer
    with pytest.raises(InstallError, match="undid with `systemctl disable --now vpsmcp.service`"):
        install(root, host, public_url=URL)
    enable = host.commands.index("systemctl enable --now vpsmcp.service")
    disable = host.commands.index("systemctl disable --now vpsmcp.service")
    assert enable < disable < host.commands.index("systemctl daemon-reload", enable)  # then systemd forgets the unit
    assert not at(root, UNIT).exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mcp.example.com", "must be https"),
        ("https://mcp.example.com/mcp", "no path"),
        ("https://mcp.example.com;evil", "holds a space, quote, ';'"),
        ("mcp.example.com", "absolute http"),
    ],
)
def test_a_public_url_that_is_not_an_https_host_is_refused_before_anything_is_written(
    root: Path, url: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(root)
    pyz = write(root.parent / "v.pyz", fake_pyz())
    assert main(["install", "--root", str(root), "--pyz", str(pyz), "--public-url", url]) != 0
    assert problem in capsys.readouterr().err
    assert tree(root) == before


def test_install_never_edits_an_existing_config(root: Path) -> None:
    install(root, Host(root), public_url=URL)
    with pytest.raises(InstallError, match="install never edits an existing config"):
        plan_install(InstallRequest(fake_pyz(), public_url="https://other.example.com"), System(root))


def test_first_install_needs_a_public_url(root: Path) -> None:
    with pytest.raises(InstallError, match="--public-url"):
        plan_install(InstallRequest(fake_pyz()), System(root))


def test_install_refuses_what_is_not_a_vpsmcp_pyz(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_zip = write(root.parent / "a.pyz", b"#!/bin/sh\n")
    other_zip = root.parent / "b.pyz"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("__main__.py", "")
    for path, problem in ((not_zip, "not a zipapp"), (other_zip, "not vpsmcp's pyz")):
        assert main(["install", "--root", str(root), "--pyz", str(path), "--public-url", URL]) == 1
        assert problem in capsys.readouterr().err


def test_install_without_nginx_says_what_to_install(root: Path) -> None:
    for directory in ("sites-enabled", "sites-available"):
        at(root, f"/etc/nginx/{directory}").rmdir()
    with pytest.raises(InstallError, match="apt-get install nginx"):
        plan_install(InstallRequest(fake_pyz(), public_url=URL), System(root))


def test_conf_d_layout_gets_the_site_without_a_link(root: Path) -> None:
    for directory in ("sites-enabled", "sites-available"):
        at(root, f"/etc/nginx/{directory}").rmdir()
    at(root, "/etc/nginx/conf.d").mkdir()
    install(root, Host(root), public_url=URL)
    assert at(root, "/etc/nginx/conf.d/vpsmcp.conf").is_file()



def test_install_with_instances_runs_a_template_unit_on_consecutive_ports_behind_one_site(root: Path) -> None:
    live = at(root, "/etc/letsencrypt/live/mcp.example.com")
    live.mkdir(parents=True)
    for name in ("fullchain.pem", "privkey.pem"):
        (live / name).write_text("x")
    host = Host(root)
    install(root, host, public_url=URL, instances=3)
    unit = at(root, TEMPLATE_UNIT).read_text()
    assert "serve --config /etc/vpsmcp/vpsmcp.toml --instance %i --port %i\n" in unit
    assert unit.replace(" --instance %i --port %i", "").replace(" (instance on port %i)", "") == deploy_file("vpsmcp.service")
    assert not at(root, UNIT).exists()
    ports = (8765, 8766, 8767)
    started = [e for e in host.events if "vpsmcp@" in e or "127.0.0.1" in e]
    assert started == [x for p in ports for x in (f"systemctl enable --now vpsmcp@{p}.service",
                                                 f"http://127.0.0.1:{p}/healthz")]
    assert host.events.index("systemctl reload-or-restart nginx.service") > host.events.index(started[-1])
    assert host.events[-1] == URL + "/healthz", "and a client reaches them through nginx"
    site = at(root, SITE).read_text()
    assert [line.strip() for line in site.splitlines() if line.strip().startswith("server 127.")] == [
        f"server 127.0.0.1:{p} max_fails=0;" for p in ports]
    again = Host(root)
    plan, _ = install(root, again, public_url=URL)  # no --instances: as installed
    assert again.commands == [] and not plan.steps


def test_install_moves_between_one_unit_and_instances_freeing_the_port_first(root: Path) -> None:
    install(root, Host(root), public_url=URL)
    host = Host(root)
    install(root, host, public_url=URL, instances=2)
    assert host.commands.index("systemctl disable --now vpsmcp.service") < \
        host.commands.index("systemctl enable --now vpsmcp@8765.service")
    assert not at(root, UNIT).exists() and at(root, TEMPLATE_UNIT).exists()
    back = Host(root)
    install(root, back, public_url=URL, instances=1)
    assert back.commands.index("systemctl disable --now vpsmcp@8766.service") < \
        back.commands.index("systemctl enable --now vpsmcp.service")
    assert at(root, UNIT).exists() and not at(root, TEMPLATE_UNIT).exists()
    assert "127.0.0.1:8766" not in at(root, SITE).read_text()


@pytest.mark.parametrize("instances", [0, 17])
def test_install_refuses_a_number_of_instances_it_cannot_run(root: Path, instances: int) -> None:
    with pytest.raises(InstallError, match="--instances"):
        install(root, Host(root), public_url=URL, instances=instances)
    assert not at(root, PYZ).exists()
