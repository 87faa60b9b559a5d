"""Where an installed vpsmcp lives, and what the target system already has.

The paths are fixed: the unit file ``systemd/vpsmcp.service`` names the
first three, and a test holds the two together. Every question about the
system is answered from files under the root (``/etc/passwd``, not the
running system's user database), so ``--root`` plans against the staged
tree and not the machine it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vpsmcp.errors import InstallError
from vpsmcp.oauth.owner import PASSWORD_FILE

USER = "vpsmcp"
PYZ = "/usr/local/lib/vpsmcp/vpsmcp.pyz"
PREVIOUS_PYZ = "/usr/local/lib/vpsmcp/vpsmcp.pyz.previous"
CONFIG = "/etc/vpsmcp/vpsmcp.toml"
STATE_DIR = "/var/lib/vpsmcp"
OWNER_PASSWORD = f"{STATE_DIR}/{PASSWORD_FILE}"
UNIT = "/etc/systemd/system/vpsmcp.service"
DROPIN_DIR = "/etc/systemd/system/vpsmcp.service.d"
DROPIN = f"{DROPIN_DIR}/tools.conf"
ENABLED_LINK = "/etc/systemd/system/multi-user.target.wants/vpsmcp.service"
POLKIT_RULE = "/etc/polkit-1/rules.d/50-vpsmcp.rules"
ACME_ROOT = "/var/www/letsencrypt"
PYTHON = "/usr/bin/python3"


def letsencrypt_paths(hostname: str) -> tuple[str, str]:
    """Where ``certbot certonly -d HOST`` puts the chain and the key."""
    live = f"/etc/letsencrypt/live/{hostname}"
    return f"{live}/fullchain.pem", f"{live}/privkey.pem"


@dataclass(frozen=True, slots=True)
class NginxLayout:
    """Where a site goes: Debian's sites-available + a link in sites-enabled, or conf.d."""

    site: str
    enabled_link: str | None  # None: conf.d, read as it is

    @classmethod
    def find(cls, root: Path) -> NginxLayout:
        if (root / "etc/nginx/sites-enabled").is_dir():
            return cls("/etc/nginx/sites-available/vpsmcp.conf", "/etc/nginx/sites-enabled/vpsmcp.conf")
        if (root / "etc/nginx/conf.d").is_dir():
            return cls("/etc/nginx/conf.d/vpsmcp.conf", None)
        raise InstallError("nginx is not installed (no /etc/nginx/sites-enabled or conf.d): apt-get install nginx")

    def paths(self) -> tuple[str, ...]:
        return (self.site,) + ((self.enabled_link,) if self.enabled_link else ())


@dataclass(frozen=True, slots=True)
class System:
    """Facts about the target system, read from files under ``root``."""

    root: Path

    def path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist (or is not a file)."""
        try:
            return self.path(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise InstallError(f"cannot read {self.path(path)}: {exc.strerror or exc}") from None

    def mode(self, path: str) -> int | None:
        target = self.path(path)
        return target.stat().st_mode & 0o7777 if target.exists() else None

    def exists(self, path: str) -> bool:
        target = self.path(path)
        return target.exists() or target.is_symlink()

    def link(self, path: str) -> str | None:
        target = self.path(path)
        return str(target.readlink()) if target.is_symlink() else None

    def has_user(self, name: str) -> bool:
        return name in self._names("etc/passwd")

    def groups(self) -> frozenset[str]:
        return self._names("etc/group")

    def has_polkit(self) -> bool:
        return self.path(POLKIT_RULE).parent.is_dir()

    def _names(self, table: str) -> frozenset[str]:
        text = (self.read(table) or b"").decode("utf-8", "replace")
        return frozenset(line.split(":", 1)[0] for line in text.splitlines() if ":" in line)
