"""What subcommands other than ``serve`` share: finding the config and the state directory."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from vpsmcp.config.locations import find_config, state_dir
from vpsmcp.config.sections import Config, load_config
from vpsmcp.errors import VpsmcpError
from vpsmcp.state import INSTANCES, StateDir


def add_state_flags(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--state-dir``, as ``serve`` takes them."""
    p.add_argument("--config", type=Path, metavar="PATH", help="config file (default: as for serve)")
    p.add_argument("--state-dir", metavar="DIR", help="state directory (default: server.state_dir of the config)")


def add_instance_flag(p: argparse.ArgumentParser) -> None:
    """``--instance`` for the commands that read what each instance keeps apart (audit, trace, upstreams)."""
    p.add_argument("--instance", metavar="NAME",
                   help="only this instance's (server.instance); default: every instance's in the state directory")


def own_dirs(state: StateDir, instance: str | None, holding: str) -> list[tuple[str, Path]]:
    """The instances' own directories a command reads: the one named, else every one holding ``holding``
    (the only instance's, ``""``, first; with no instance at all, the state directory alone)."""
    if instance:
        path = state.path / INSTANCES / instance
        if not path.is_dir():
            known = ", ".join(name for name, _ in state.instances() if name) or "none"
            raise VpsmcpError(f"no instance {instance!r} in {state.path} (instances: {known})")
        return [(instance, path)]
    found = [(name, path) for name, path in state.instances() if any(path.glob(holding + "*"))]
    return found or [("", state.path)]


def configured(explicit: Path | None, env: Mapping[str, str]) -> tuple[Config, Path | None]:
    """The config every command reads: the file named (``--config``), else the one found (``./vpsmcp.toml``,
    then the user's), loaded; the built-in defaults (and no path) when there is none."""
    path = explicit or find_config(env, Path.cwd())
    return (load_config(path) if path else Config()), path


def open_state(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Config, StateDir]:
    """The config these flags name and its (existing or new) state directory."""
    config, _ = configured(args.config, env)
    return config, StateDir.open(state_dir(args.state_dir or config.server.state_dir, env))
