"""The shipped unit: systemd accepts it, it is hardened, and it runs what install puts in place.

``systemd-analyze verify`` and ``security --offline`` read unit files
without systemd running as PID 1, so these run in any container; the
systemd package provides them (tests/run.sh installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.support import ROOT
from vpsmcp.config.sections import Config, ToolsConfig, UpstreamConfig
from vpsmcp.install.grants import grants_for
from vpsmcp.install.layout import CONFIG, PYTHON, PYZ, STATE_DIR, USER

UNIT = ROOT / "systemd" / "vpsmcp.service"
# The exposure `systemd-analyze security` gives the shipped unit is 1.2 ("OK"); 2.0 leaves room
# for systemd versions that weigh settings differently, and fails if hardening is dropped.
MAX_EXPOSURE = 2.0
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectProc": "invisible",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
    "StateDirectory": "vpsmcp",
    "StateDirectoryMode": "0700",
    "ConfigurationDirectory": "vpsmcp",
    "UMask": "0077",
    "Restart": "on-failure",
    "LimitNOFILE": "65536",
    "KillSignal": "SIGTERM",
}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd (tests/run.sh does)")
    return found


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file; a key may repeat (SystemCallFilter)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def verify(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), "verify", str(directory / "vpsmcp.service")],
        capture_output=True, text=True, timeout=60, cwd=directory,
    )


def test_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    shutil.copy(UNIT, tmp_path / "vpsmcp.service")
    done = verify(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_unit_has_every_hardening_key() -> None:
    settings = unit_settings(UNIT.read_text())
    for key, value in HARDENING.items():
        assert settings.get(key, [None])[-1] == value, f"{key}={value} missing from the unit"
    assert settings["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    shutil.copy(UNIT, tmp_path / "vpsmcp.service")
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(tmp_path / "vpsmcp.service")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    found = re.search(r"Overall exposure level for vpsmcp\.service: (\d+\.\d+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_unit_runs_the_paths_install_writes() -> None:
    settings = unit_settings(UNIT.read_text())
    assert settings["ExecStart"] == [f"{PYTHON} -I {PYZ} serve --config {CONFIG}"]
    assert settings["User"] == [USER]
    assert STATE_DIR == f"/var/lib/{settings['StateDirectory'][0]}"
    assert CONFIG.startswith(f"/etc/{settings['ConfigurationDirectory'][0]}/")


def test_unit_stops_gracefully_after_vpsmcp_has_had_its_shutdown_timeout() -> None:
    settings = unit_settings(UNIT.read_text())
    assert settings["KillMode"] == ["mixed"]  # SIGTERM to vpsmcp alone: it stops its own children
    assert float(settings["TimeoutStopSec"][0]) > Config().server.shutdown_timeout


def test_unit_with_every_tool_grant_passes_verify(tmp_path: Path) -> None:
    config = Config(
        tools=ToolsConfig(roots=("/home/owner/project", "/srv/www"), exec_enabled=True, services_allow=("nginx",)),
        upstreams={"files": UpstreamConfig(argv=("npx", "-y", "server"))},
    )
    grants = grants_for(config, USER, frozenset({"systemd-journal", "docker"}), has_polkit=True)
    assert grants.dropin is not None
    shutil.copy(UNIT, tmp_path / "vpsmcp.service")
    (tmp_path / "vpsmcp.service.d").mkdir()
    (tmp_path / "vpsmcp.service.d" / "tools.conf").write_text(grants.dropin)
    done = verify(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
