"""What subcommands other than ``serve`` share: finding the config and the state directory."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from vpsmcp.config.locations import find_config, state_dir
from vpsmcp.config.sections import Config, load_config
from vpsmcp.state import StateDir


def add_state_flags(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--state-dir``, as ``serve`` takes them."""
    p.add_argument("--config", type=Path, metavar="PATH", help="config file (default: as for serve)")
    p.add_argument("--state-dir", metavar="DIR", help="state directory (default: server.state_dir of the config)")


def configured(explicit: Path | None, env: Mapping[str, str]) -> tuple[Config, Path | None]:
    """The config every command reads: the file named (``--config``), else the one found (``./vpsmcp.toml``,
    then the user's), loaded; the built-in defaults (and no path) when there is none."""
    path = explicit or find_config(env, Path.cwd())
    return (load_config(path) if path else Config()), path


def open_state(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Config, StateDir]:
    """The config these flags name and its (existing or new) state directory."""
    config, _ = configured(args.config, env)
    return config, StateDir.open(state_dir(args.state_dir or config.server.state_dir, env))
