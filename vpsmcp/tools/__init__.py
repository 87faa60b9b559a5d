"""The built-in tools for operating the machine, as one registry provider.

One module per group, each exposing ``tools(box) -> list[Tool]``:

- ``status``: the machine at a glance
- ``processes``: list and signal processes
- ``services``: systemd units (``systemctl``)
- ``logs``: the journal (``journalctl``) and log files under the roots
- ``files``, ``file_search``, ``file_writes``: files under the roots (``confinement``)
- ``execute``: the ``exec`` tool (off unless ``tools.exec_enabled``)
- ``containers``: Docker or Podman
- ``network``: interfaces, routes, sockets, a connectivity check

A tool switched off in ``[tools] disabled`` (by name or group) is left out of
the provider: neither listed nor callable.
"""

from __future__ import annotations

from pathlib import Path

from vpsmcp.config.sections import ToolsConfig
from vpsmcp.protocol.registry import StaticProvider, Tool
from vpsmcp.tools import (
    containers,
    execute,
    file_search,
    file_writes,
    files,
    logs,
    network,
    processes,
    services,
    status,
)
from vpsmcp.tool_names import expand
from vpsmcp.tools.toolbox import Toolbox


def all_tools(box: Toolbox) -> list[Tool]:
    """Every built-in tool, before the config switches any off."""
    return [
        *status.tools(box),
        *processes.tools(box),
        *services.tools(box),
        *logs.tools(box),
        *files.tools(box),
        *file_search.tools(box),
        *file_writes.tools(box),
        *execute.tools(box),
        *containers.tools(box),
        *network.tools(box),
    ]


def builtin_provider(config: ToolsConfig, state_dir: Path) -> StaticProvider:
    """The built-in tools the config leaves on."""
    off = expand(config.disabled) | (set() if config.exec_enabled else {"exec"})
    box = Toolbox.build(config, state_dir)
    return StaticProvider(tool_list=[tool for tool in all_tools(box) if tool.name not in off])
