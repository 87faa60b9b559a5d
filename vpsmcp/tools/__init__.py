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

    arguments.py    checking a tool call's arguments against its input schema, and reading them…
    backups.py      copies of files taken before a tool changes or deletes them
    confinement.py  keeping file access inside the configured roots, against tricks and races
    containers.py   containers through the Docker or Podman command line: list, inspect, logs,…
    declaration.py  declaring a built-in tool: schema, annotations, scope, time limit, error wording
    execute.py      the ``exec`` tool: run a command on the machine, off unless the owner turns it…
    file_search.py  finding files under the allowed roots by name and by content
    file_writes.py  changing files under the allowed roots: write (overwrite, create, append),…
    files.py        looking at files under the allowed roots: list, stat, read (with ranges;…
    logs.py         logs: the systemd journal through ``journalctl``, and the tail of a log file…
    network.py      the network: interfaces and addresses, routes (``ip -j``), sockets (/proc),…
    processes.py    processes: list and filter them (with CPU use measured over a short interval),…
    procfs.py       reading the Linux ``/proc`` filesystem: processes, CPU, memory, load, uptime
    rendering.py    the readable text that goes with a tool's structured result
    schemas.py      JSON Schema fragments for the built-in tools' inputs and outputs
    services.py     systemd services: list units, show one, and…
    sockets.py      sockets from ``/proc/net/{tcp,tcp6,udp,udp6}``, and which process holds each
    status.py       the machine at a glance: what it is, how busy, how full, what is running and…
    subprocesses.py running a program without blocking the event loop, and stopping all of it
    systemd.py      talking to systemd through ``systemctl``, and reading what it prints
    toolbox.py      what every built-in tool is handed: the ``[tools]`` settings and what follows…
    truncation.py   long output, cut with a clear marker that says how to get the rest
"""

from __future__ import annotations

from pathlib import Path

from vpsmcp.config.sections import ToolsConfig
from vpsmcp.protocol.registry import StaticProvider, Tool
from vpsmcp.tool_names import expand
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
