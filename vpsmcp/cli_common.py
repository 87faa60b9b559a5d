"""What subcommands other than ``serve`` share: finding the config and the state directory."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from vpsmcp.config import Config, load_config
from vpsmcp.locations import default_state_dir, find_config
from vpsmcp.state import StateDir


def add_state_flags(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--state-dir``, as ``serve`` takes them."""
    p.add_argument("--config", type=Path, metavar="PATH", help="config file (default: as for serve)")
    p.add_argument("--state-dir", metavar="DIR", help="state directory (default: server.state_dir of the config)")


def open_state(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Config, StateDir]:
    """The config these flags name and its (existing or new) state directory."""
    path: Path | None = args.config or find_config(env, Path.cwd())
    config = load_config(path) if path else Config()
    chosen = args.state_dir or config.server.state_dir
    return config, StateDir.open(Path(chosen) if chosen else default_state_dir(env))
