"""The root of every error vpsmcp raises on purpose.

Each error knows how it is shown: the CLI turns any ``VpsmcpError`` into one
line on stderr and a non-zero exit status, and the HTTP layer renders the
subclasses that carry a wire form. Nothing else catches them::

    VpsmcpError
     ├── ConfigError          a config file or flag is wrong (names file and key)
     └── StateError           the state directory cannot be created or used
"""

from __future__ import annotations


class VpsmcpError(Exception):
    """Base class: an expected failure with a message meant for a person."""

    exit_status = 1


class ConfigError(VpsmcpError):
    """A configuration value is wrong; the message names the file and key path."""

    exit_status = 2

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class StateError(VpsmcpError):
    """The state directory (tokens, sessions, audit log) is unusable."""
