"""What a running server knows about itself, built once at start-up."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vpsmcp.config.sections import Config
from vpsmcp.state import StateDir


@dataclass(slots=True)
class Runtime:
    """The config, state and lifetime of one ``serve``; handed to every part of the app.

    ``shutting_down`` is set on SIGTERM/SIGINT so long-lived streams can end
    cleanly instead of being cut when the graceful timeout runs out.
    """

    config: Config
    state: StateDir
    secret_key: str
    public_url: str
    config_source: str = "built-in defaults"
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)  # what main() was given; upstreams inherit from it
    started: float = field(default_factory=time.monotonic)
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    own_dir: Path = field(init=False)  # this instance's own files (``StateDir.own``): audit, trace, sessions

    def __post_init__(self) -> None:
        self.own_dir = self.state.own(self.config.server.instance)

    def uptime(self) -> float:
        """Seconds since start-up."""
        return time.monotonic() - self.started
