"""Where vpsmcp looks for its config and keeps its state when not told.

Follows the XDG base directory convention for a user run; an installed
service passes ``--config /etc/vpsmcp/vpsmcp.toml`` and sets ``state_dir``.
The environment is passed in, never read here, so tests choose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

CONFIG_NAME = "vpsmcp.toml"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def default_state_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/vpsmcp``, else ``~/.local/share/vpsmcp``."""
    base = env.get("XDG_DATA_HOME") or str(_home(env) / ".local" / "share")
    return Path(base) / "vpsmcp"


def state_dir(configured: str, env: Mapping[str, str]) -> Path:
    """The state directory: ``server.state_dir`` when the config sets it, else the default."""
    return Path(configured) if configured else default_state_dir(env)


def user_config_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/vpsmcp/vpsmcp.toml``, else ``~/.config/vpsmcp/vpsmcp.toml``."""
    base = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(base) / "vpsmcp" / CONFIG_NAME


def find_config(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file a plain ``vpsmcp serve`` uses: ``./vpsmcp.toml``, then the user's."""
    for candidate in (cwd / CONFIG_NAME, user_config_path(env)):
        if candidate.is_file():
            return candidate
    return None
