"""The names of the built-in tools, by group, without importing any of them.

``[tools] disabled`` names tools or whole groups; the config check reads this
table, so a typo is refused when the file is loaded, not when a tool is missed.
It sits at the top level, below ``config``, ``install`` and ``tools`` alike.
A test holds it equal to what the tool modules actually build.
"""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "processes": ("processes_list", "processes_signal"),
    "services": ("services_list", "services_status", "services_control"),
    "logs": ("logs_journal", "logs_tail"),
    "files": (
        "files_list",
        "files_stat",
        "files_read",
        "files_search",
        "files_write",
        "files_mkdir",
        "files_move",
        "files_delete",
    ),
    "exec": ("exec",),
    "containers": ("containers_list", "containers_inspect", "containers_logs", "containers_control"),
    "network": ("network_interfaces", "network_routes", "network_sockets", "network_check"),
}

TOOL_NAMES = frozenset(name for names in GROUPS.values() for name in names)


def expand(names: tuple[str, ...]) -> frozenset[str]:
    """The tool names meant by ``names``, each a tool or a group."""
    return frozenset(tool for name in names for tool in GROUPS.get(name, (name,)))


def unknown(names: tuple[str, ...]) -> list[str]:
    """The entries of ``names`` that are neither a group nor a tool."""
    return [name for name in names if name not in GROUPS and name not in TOOL_NAMES]
