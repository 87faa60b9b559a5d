"""What a config means for ``serve`` before it binds: the problems that stop a start, and the risks.

``serve`` and ``check-config`` run the same checks, so ``check-config`` never
says ok to a config that ``serve`` then refuses: the auth/listen rule, every
plugin module importing and defining its ``plugin``, and a state directory
that can be made and written. Every problem is reported at once, each naming
the file and the key. Risks are configs that work but expose more than the
owner likely meant; ``serve`` logs them at start, ``check-config`` exits 3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vpsmcp.config.locations import state_dir
from vpsmcp.config.sections import Config
from vpsmcp.errors import ConfigError, ConfigErrors
from vpsmcp.plugin import load_plugins
from vpsmcp.state import unwritable
from vpsmcp.transport.guard import LOOPBACK_NAMES


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def auth_listen_problem(config: Config) -> str | None:
    """Why ``auth.mode = "none"`` may not serve on this ``server.listen``, if it may not."""
    listen = config.server.listen
    if config.auth.mode == "none" and not is_loopback(listen):
        return f'"none" (no authentication) is only allowed on loopback, but server.listen is {listen}'
    return None


def state_dir_of(config: Config, env: Mapping[str, str]) -> Path:
    return state_dir(config.server.state_dir, env)


def state_dir_problem(path: Path) -> str | None:
    """Why ``serve`` could not make or write its state directory ``path``, if it could not."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a directory"
        if (problem := unwritable(path)) is not None:  # what serve checks (state.py), the same way
            return f"{path} cannot be written by this user (uid {os.getuid()}: {problem}): chown it, or pick another"
        return None
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} does not exist and cannot be created here ({parent} is not writable by uid {os.getuid()})"
    return None


def start_problems(config: Config, source: str, env: Mapping[str, str]) -> ConfigError | None:
    """Everything that would stop ``serve`` before it binds, as one error (``None``: it would start)."""
    errors: list[ConfigError] = []
    if (problem := auth_listen_problem(config)) is not None:
        errors.append(ConfigError(source, "auth.mode", problem))
    try:
        load_plugins(config.plugins.modules, config.plugins.paths, source)
    except ConfigError as exc:
        errors.append(exc)
    if (problem := state_dir_problem(state_dir_of(config, env))) is not None:
        errors.append(ConfigError(source, "server.state_dir", problem))
    if config.store.backend == "redis" and not config.store.url:
        errors.append(ConfigError(source, "store.url", 'empty, but store.backend is "redis": name the server '
                                  "(redis://127.0.0.1:6379/0)"))
    return ConfigErrors.of(errors)


@dataclass(frozen=True, slots=True)
class Risk:
    """A config that works but is likely not what its owner meant."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


def risks(config: Config, source: str) -> list[Risk]:
    found: list[Risk] = []
    listen, public_url = config.server.listen, config.server.public_url
    if not is_loopback(listen) and not public_url:
        found.append(Risk(source, "server.public_url", f"empty while server.listen is {listen}: clients and the "
                          f"OAuth issuer get http://{listen}:{config.server.port}, which no client can reach; "
                          "set the https URL clients use"))
    if public_url.startswith("http://") and not is_loopback(urlsplit(public_url).hostname or ""):
        found.append(Risk(source, "server.public_url", f"{public_url} is plain http off this machine: tokens and "
                          "the owner password would cross the network unencrypted, and Claude refuses it; use https"))
    if config.tools.exec_enabled and not config.tools.exec_allow:
        found.append(Risk(source, "tools.exec_allow", "empty while tools.exec_enabled is true: a client granted "
                          "vps:exec may run any command as vpsmcp's user; list the commands it may run"))
    return found
