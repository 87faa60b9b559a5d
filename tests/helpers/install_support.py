"""Helpers for the install tests: a throwaway root laid out like a Debian VPS, and a simulated host.

``Host`` stands in for systemd as PID 1, which a test machine does not have:
it records each command and leaves on disk what the real command would (a
passwd line, the enable link), so a second install sees the machine as the
first left it.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpsmcp.errors import InstallError
from vpsmcp.install.install import InstallRequest, plan_install
from vpsmcp.install.layout import System
from vpsmcp.install.plan import Plan, Target, carry_out
from vpsmcp.install.units import WANTS

URL = "https://mcp.example.com"
SITE = "/etc/nginx/sites-available/vpsmcp.conf"
SITE_LINK = "/etc/nginx/sites-enabled/vpsmcp.conf"


def fake_pyz(version: str = "1") -> bytes:
    """A zipapp shaped like vpsmcp's (install copies it; nothing here runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        # Fixed timestamps: the same version must give the same bytes.
        zf.writestr(zipfile.ZipInfo("__main__.py", (1980, 1, 1, 0, 0, 0)), "print('vpsmcp')\n")
        zf.writestr(zipfile.ZipInfo("vpsmcp/__init__.py", (1980, 1, 1, 0, 0, 0)), f"__version__ = {version!r}\n")
    return b"#!/usr/bin/env python3\n" + buffer.getvalue()


@dataclass
class Host:
    """The running system, simulated: records commands and leaves their traces under the root."""

    root: Path
    fail: str = ""  # a command starting with this fails
    unhealthy: int = 0  # this many health checks fail
    unreachable: str = ""  # the site check through nginx fails with this cause
    commands: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # commands and checks, in the order they came

    def run(self, argv: Sequence[str], stdin: bytes | None = None) -> None:
        line = " ".join(argv)
        self.commands.append(line)
        self.events.append(line)
        if self.fail and line.startswith(self.fail):
            raise InstallError(f"`{line}` failed (exit 1): simulated")
        if argv[0] == "useradd":
            with open(self.root / "etc/passwd", "a") as passwd:
                passwd.write(f"{argv[-1]}:x:999:999::/var/lib/vpsmcp:/usr/sbin/nologin\n")
        if tuple(argv[:2]) in (("systemctl", "enable"), ("systemctl", "disable")):  # the link systemctl keeps
            link = self.root / WANTS.lstrip("/") / argv[-1]
            link.parent.mkdir(parents=True, exist_ok=True)
            if argv[1] == "disable":
                link.unlink(missing_ok=True)
            elif not link.is_symlink():
                template = argv[-1].split("@", 1)[0] + "@.service" if "@" in argv[-1] else argv[-1]
                link.symlink_to(f"/etc/systemd/system/{template}")

    def check_health(self, url: str) -> None:
        self.checks.append(url)
        self.events.append(url)
        if self.unhealthy:
            self.unhealthy -= 1
            raise InstallError(f"{url} did not answer (simulated)")

    def check_site(self, url: str) -> None:
        self.checks.append(url)
        self.events.append(url)
        if self.unreachable:
            raise InstallError(f"{url}: {self.unreachable}")


def make_root(tmp_path: Path) -> Path:
    """An empty Debian-like system: nginx with sites-enabled, polkit, systemd's groups."""
    root = tmp_path / "root"
    for directory in ("etc/nginx/sites-available", "etc/nginx/sites-enabled", "etc/polkit-1/rules.d",
                      "etc/systemd/system", "usr/bin"):
        (root / directory).mkdir(parents=True)
    (root / "usr/bin/python3").write_text("")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nadm:x:4:\nsystemd-journal:x:999:\n")
    return root


def install(root: Path, host: Host, **request: Any) -> tuple[Plan, str | None]:
    result = plan_install(InstallRequest(fake_pyz(), **request), System(root))
    carry_out(result.plan, Target(root, host), lambda step: None)
    return result.plan, result.password


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and link under ``root`` with its mode and content."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(root))] = (info.st_mode, content)
    return found


def at(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
