"""The acceptance of issue 15 on a real systemd host: Debian 12 booted with systemd as PID 1.

The host is a debootstrapped bookworm (tests/run.sh makes it once into
.cache/debian-bookworm: systemd, nginx, python3, curl), copied for each test
and booted by ``systemd-nspawn --boot --private-network``; commands run
inside with ``nsenter`` into its PID 1. There, with Debian's own nginx and
systemd, the built ``vpsmcp.pyz``:

- fails to install while another program holds port 443, naming it, and
  leaves the machine without the broken site;
- installs once the port is free, and a client (``vpsmcp doctor`` with a
  personal access token, the whole MCP conversation through nginx with TLS)
  passes;
- after a reboot, nginx never answers 502: the unit is ``Type=notify`` and
  ordered before nginx, so the site answers only once vpsmcp does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.nginx_support import TlsFiles
from tests.helpers.support import ROOT

pytestmark = pytest.mark.slow

HOST = "mcp.example.test"
CACHED_ROOT = Path(os.environ.get("VPSMCP_DEBIAN_ROOT") or ROOT / ".cache" / "debian-bookworm")
BOOT_TIMEOUT = 60.0
PYZ = "/root/vpsmcp.pyz"


class Container:
    """One booted copy of the cached Debian root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.pid1 = 0

    def boot(self, until_running: bool = True) -> Container:
        """Start it; return once systemd says the boot is done (or, not ``until_running``, once PID 1 runs)."""
        with open(self.root.parent / "nspawn.log", "ab") as log:  # the child keeps its own descriptor
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit", "--private-network"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline and self.nspawn.poll() is None:
            children = subprocess.run(["pgrep", "-P", str(self.nspawn.pid)], capture_output=True, text=True).stdout.split()
            if children:
                self.pid1 = int(children[0])
                if not until_running:
                    return self
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return self
            time.sleep(0.2)
        raise AssertionError(f"the container did not boot:\n{(self.root.parent / 'nspawn.log').read_text()[-3000:]}")

    def run(self, *argv: str, check: bool = True, stdin: str | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["nsenter", "-t", str(self.pid1), "-a", *argv], capture_output=True, text=True,
                              input=stdin, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def power_off(self) -> None:
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        self.run("systemctl", "poweroff", check=False)
        try:
            self.nspawn.wait(60)
        except subprocess.TimeoutExpired:
            self.nspawn.kill()
            self.nspawn.wait()


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyz")
    subprocess.run(["/usr/bin/python3", str(ROOT / "build.py"), "--output", str(out / "vpsmcp.pyz")], check=True,
                   capture_output=True, cwd=ROOT, timeout=300)
    return out / "vpsmcp.pyz"


@pytest.fixture
def host(tmp_path: Path, pyz: Path) -> Iterator[Container]:
    for tool in ("systemd-nspawn", "nsenter", "pgrep"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: tests/run.sh installs systemd-container and util-linux")
    if not (CACHED_ROOT / "usr" / "lib" / "systemd" / "systemd").exists():
        pytest.fail(f"no Debian root at {CACHED_ROOT}: tests/run.sh makes it with debootstrap")
    nspawn_run = Path("/run/systemd/nspawn")
    nspawn_run.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(nspawn_run)]).returncode != 0:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(nspawn_run)], check=True)
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(CACHED_ROOT), str(root)], check=True)
    tls = TlsFiles.make(tmp_path / "tls", hostname=HOST)
    (root / "etc/ssl/vpsmcp-test").mkdir(parents=True)
    shutil.copy(tls.certificate, root / "etc/ssl/vpsmcp-test/server.pem")
    shutil.copy(tls.key, root / "etc/ssl/vpsmcp-test/server.key")
    shutil.copy(tls.ca_path, root / "usr/local/share/ca-certificates/vpsmcp-test.crt")
    shutil.copy(pyz, root / PYZ.lstrip("/"))
    with open(root / "etc/hosts", "a") as hosts:
        hosts.write(f"127.0.0.1 {HOST}\n")
    container = Container(root).boot()
    container.run("update-ca-certificates")
    try:
        yield container
    finally:
        container.power_off()


def install(host: Container, *more: str) -> subprocess.CompletedProcess[str]:
    return host.run("python3", PYZ, "install", "--public-url", f"https://{HOST}", "--certificate",
                    "/etc/ssl/vpsmcp-test/server.pem", "--certificate-key", "/etc/ssl/vpsmcp-test/server.key",
                    *more, check=False)


def test_install_on_a_real_systemd_host_fails_on_a_taken_port_then_passes_and_survives_a_reboot(
        host: Container) -> None:
    host.run("systemd-run", "--unit=squatter", "python3", "-m", "http.server", "--bind", "0.0.0.0", "443")
    time.sleep(1)
    refused = install(host)
    assert refused.returncode != 0, refused.stdout
    assert "port 443 is held by python3" in refused.stderr and "Address already in use" in refused.stderr, refused.stderr
    assert "put back" in refused.stderr
    assert not (host.root / "etc/nginx/sites-enabled/vpsmcp.conf").exists()  # the broken site is not left enabled
    assert host.run("systemctl", "is-active", "vpsmcp.service", check=False).stdout.strip() != "active"
    assert host.run("systemctl", "is-enabled", "vpsmcp.service", check=False).stdout.strip() != "enabled"

    host.run("systemctl", "stop", "squatter")
    installed = install(host)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"check https://{HOST}/healthz through the local nginx" in installed.stdout
    token = next(line.rsplit(": ", 1)[1] for line in host.run(
        "runuser", "-u", "vpsmcp", "--", "python3", "/usr/local/lib/vpsmcp/vpsmcp.pyz", "tokens", "create",
        "--name", "acceptance", "--scope", "vps:read", "--config", "/etc/vpsmcp/vpsmcp.toml").stdout.splitlines()
        if line.startswith("token ("))
    doctor = host.run("python3", PYZ, "doctor", f"https://{HOST}/mcp", "--local", "--token-stdin",
                      "--stream-wait", "20", check=False, stdin=token + "\n")
    assert doctor.returncode == 0 and "0 failed" in doctor.stdout, doctor.stdout + doctor.stderr

    host.power_off()
    host.boot(until_running=False)  # the same disk: a reboot; asked through nginx from its first moment
    codes = host.run("sh", "-c", "n=0; for i in $(seq 1200); do "
                     f"c=$(curl -s -o /dev/null -w '%{{http_code}}' https://{HOST}/healthz); echo $c; "
                     '[ "$c" = 200 ] && n=$((n+1)); [ $n -ge 10 ] && break; sleep 0.05; done').stdout.split()
    assert "502" not in codes and codes[-1] == "200", codes  # 000 (nothing listens yet) is fine, 502 is not
    assert codes.count("000") > 0 or len(codes) >= 10
    assert host.run("systemctl", "show", "-p", "Type", "vpsmcp.service").stdout.strip() == "Type=notify"
    challenge = host.run("curl", "-s", "-D", "-", "-o", "/dev/null", "-X", "POST", f"https://{HOST}/mcp").stdout
    assert challenge.startswith("HTTP/1.1 401") and "resource_metadata=" in challenge, challenge


def test_two_instances_on_a_real_systemd_host_upgrade_in_turn_with_no_gap_and_uninstall(host: Container) -> None:
    """install --instances 2: two template units behind the one site; a stopped instance leaves the
    site serving; an upgrade restarts them in turn while a client asks all the time, and never misses."""
    installed = install(host, "--instances", "2")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for port in (8765, 8766):
        assert host.run("systemctl", "is-active", f"vpsmcp@{port}.service").stdout.strip() == "active"
        assert host.run("systemctl", "is-enabled", f"vpsmcp@{port}.service").stdout.strip() == "enabled"
    assert host.run("systemctl", "is-enabled", "vpsmcp.service", check=False).stdout.strip() != "enabled"
    site = (host.root / "etc/nginx/sites-available/vpsmcp.conf").read_text()
    assert "server 127.0.0.1:8765 max_fails=0;" in site and "server 127.0.0.1:8766 max_fails=0;" in site
    assert (host.root / "var/lib/vpsmcp/instances/8766").is_dir(), "each instance keeps its own audit and trace"

    host.run("systemctl", "stop", "vpsmcp@8765.service")
    assert host.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"https://{HOST}/healthz").stdout == "200"
    host.run("systemctl", "start", "vpsmcp@8765.service")

    host.run("python3", "-c", "import shutil, zipfile; shutil.copy('/usr/local/lib/vpsmcp/vpsmcp.pyz', '/root/new.pyz'); "
             "zipfile.ZipFile('/root/new.pyz', 'a').writestr('upgrade-marker', 'x')")
    asking = subprocess.Popen(["nsenter", "-t", str(host.pid1), "-a", "sh", "-c",
                               f"while [ ! -e /root/stop ]; do curl -s -o /dev/null -w '%{{http_code}}\\n' "
                               f"https://{HOST}/healthz; sleep 0.02; done"], stdout=subprocess.PIPE, text=True)
    upgraded = host.run("python3", PYZ, "upgrade", "/root/new.pyz", check=False)
    (host.root / "root/stop").write_text("")
    codes = asking.communicate(timeout=30)[0].split()
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert upgraded.stdout.count("systemctl restart vpsmcp@") == 2, upgraded.stdout
    assert len(codes) >= 10 and set(codes) == {"200"}, codes  # never a gap: one instance always answered

    removed = host.run("python3", PYZ, "uninstall", check=False)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for port in (8765, 8766):
        assert host.run("systemctl", "is-active", f"vpsmcp@{port}.service", check=False).stdout.strip() != "active"
    assert not (host.root / "etc/systemd/system/vpsmcp@.service").exists()
