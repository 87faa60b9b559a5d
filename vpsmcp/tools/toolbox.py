"""What every built-in tool is handed: the ``[tools]`` settings and what follows from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vpsmcp.config.sections import ToolsConfig
from vpsmcp.tools.confinement import Roots


@dataclass(frozen=True, slots=True)
class Toolbox:
    """The settings of the built-in tools, resolved once at start-up."""

    config: ToolsConfig
    roots: Roots
    backup_dir: Path

    @classmethod
    def build(cls, config: ToolsConfig, state_dir: Path) -> Toolbox:
        backup_dir = Path(config.backup_dir) if config.backup_dir else state_dir / "backups"
        return cls(config, Roots.of(config.roots), backup_dir)

    @property
    def limit(self) -> int:
        """Most characters of output one call returns."""
        return self.config.output_limit

    @property
    def timeout(self) -> float:
        """Seconds a tool call may take."""
        return self.config.timeout
