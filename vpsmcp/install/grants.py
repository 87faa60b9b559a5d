"""Least-privilege grants for the tools the owner enabled, generated from the config.

The unit (``systemd/vpsmcp.service``) starts fully hardened. For each
enabled tool that cannot work inside that, install writes exactly what it
needs, with the reason beside it:

- a drop-in (``vpsmcp.service.d/tools.conf``) relaxing a sandbox setting or
  adding a supplementary group (``systemd-journal`` to read the journal);
- a polkit rule letting the service user start, stop, restart and reload the
  services named in ``[tools] services_allow``, and nothing else.

Why polkit and no sudoers lines: sudo works by setuid, which the unit
forbids (``NoNewPrivileges``, an empty capability set, ``@privileged``
system calls filtered), and a command run by sudo would still live inside
the sandbox, its file system read-only. With polkit, the service asks
systemd over D-Bus and systemd acts outside the sandbox, for the units the
rule names. Deliberately not granted, since each is as good as root:
enabling or disabling unit files (the same permission links and masks any
unit file), starting units not named (``systemd-run`` starts a transient
unit with the same verb), and signalling other users' processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vpsmcp.config.sections import Config
from vpsmcp.tool_names import TOOL_NAMES, expand

PROCESS_VIEW = ("status", "processes_list", "network_sockets")
CONTROL_VERBS = ("start", "stop", "restart", "reload", "try-restart", "reload-or-restart")


@dataclass(frozen=True, slots=True)
class Need:
    """One relaxation: the tools that need it, why, and the unit lines or group it takes."""

    tools: tuple[str, ...]
    why: str
    lines: tuple[str, ...] = ()
    group: str = ""


NEEDS = (
    Need(PROCESS_VIEW, "see every process, not only vpsmcp's own", ("ProtectProc=default",)),
    Need(("network_interfaces", "network_routes"), "ask the kernel for interfaces and routes",
         ("RestrictAddressFamilies=AF_NETLINK",)),
    Need(("logs_journal",), "read the system journal", group="systemd-journal"),
    Need(("containers_list", "containers_inspect", "containers_logs", "containers_control"),
         "talk to the Docker daemon (the docker group is as good as root: disable the containers "
         "tools in [tools] disabled to withhold it)", group="docker"),
    Need(("exec",), "run the owner's commands, which may compile code as they run (Node.js, Java)",
         ("MemoryDenyWriteExecute=no",)),
)
FILE_WRITERS = ("files_write", "files_mkdir", "files_move", "files_delete", "exec")


@dataclass(frozen=True, slots=True)
class Grants:
    """What install writes for the enabled tools; None: no such file is needed."""

    dropin: str | None
    polkit_rule: str | None
    notes: tuple[str, ...]


def enabled_tools(config: Config) -> frozenset[str]:
    """The built-in tools this config offers: all but the disabled, and exec only when enabled."""
    enabled = TOOL_NAMES - expand(config.tools.disabled)
    return enabled if config.tools.exec_enabled else enabled - {"exec"}


def grants_for(config: Config, user: str, groups: frozenset[str], has_polkit: bool) -> Grants:
    """The grants for ``config``'s enabled tools on a system that has ``groups``."""
    tools = enabled_tools(config)
    lines: list[str] = []
    notes: list[str] = []
    for need in NEEDS:
        users = [t for t in need.tools if t in tools]
        if not users:
            continue
        if need.group and need.group not in groups:
            notes.append(f"{', '.join(users)}: no {need.group} group on this system, so none granted")
            continue
        granted = need.lines + ((f"SupplementaryGroups={need.group}",) if need.group else ())
        lines += [f"# {', '.join(users)}: {need.why}", *granted]
    lines += _path_lines(config, tools)
    rule, rule_notes = _polkit_rule(config, tools, user, has_polkit)
    return Grants(_dropin(lines), rule, tuple(notes + rule_notes))


def _path_lines(config: Config, tools: frozenset[str]) -> list[str]:
    """Where the files tools and exec read and write: the roots, made visible and writable."""
    lines: list[str] = []
    roots = config.tools.roots
    if any(_under(root, ("/home", "/root", "/run/user")) for root in roots) and tools & {"files_read", "files_list", "exec"}:
        lines += ["# files tools, exec: a root is under /home or /root, which the unit hides", "ProtectHome=read-only"]
    writers = sorted(tools & set(FILE_WRITERS))
    writable = list(roots) + ([config.tools.backup_dir] if config.tools.backup_dir and config.tools.backups else [])
    if writers and writable:
        lines.append(f"# {', '.join(writers)}: write inside the roots (the unit makes the rest read-only)")
        lines += [f"ReadWritePaths=-{path}" for path in writable]
    stdio = sorted(name for name, up in config.upstreams.items() if up.argv)
    if stdio:
        lines += [
            f"# stdio upstreams ({', '.join(stdio)}): Node.js and other JITs write the code they run",
            "MemoryDenyWriteExecute=no",
        ]
    return lines


def _under(path: str, tops: tuple[str, ...]) -> bool:
    return any(path == top or path.startswith(top + "/") for top in tops)


def _dropin(lines: list[str]) -> str | None:
    if not lines:
        return None
    head = [
        "# Generated by `vpsmcp install` from [tools] and [upstreams] in /etc/vpsmcp/vpsmcp.toml: each",
        "# setting relaxes vpsmcp.service's hardening only as far as an enabled tool needs.",
        "# Rewritten or removed by every install; keep your own changes in another file here.",
        "[Service]",
    ]
    return "\n".join(head + lines) + "\n"


def _polkit_rule(config: Config, tools: frozenset[str], user: str, has_polkit: bool) -> tuple[str | None, list[str]]:
    if "services_control" not in tools:
        return None, []
    units = sorted({u if "." in u else f"{u}.service" for u in config.tools.services_allow})
    if not units:
        return None, ["services_control: no service may be controlled until [tools] services_allow names some"]
    if not has_polkit:
        return None, ["services_control: polkit is not installed, so no service may be controlled (apt-get install polkitd)"]
    rule = f"""// Generated by `vpsmcp install` from [tools] services_allow in /etc/vpsmcp/vpsmcp.toml:
// the vpsmcp service may start, stop, restart and reload these units, nothing else.
// Rewritten or removed by every install.
polkit.addRule(function(action, subject) {{
    var units = {json.dumps(units)};
    var verbs = {json.dumps(list(CONTROL_VERBS))};
    if (action.id == "org.freedesktop.systemd1.manage-units" && subject.user == {json.dumps(user)} &&
        units.indexOf(action.lookup("unit")) >= 0 && verbs.indexOf(action.lookup("verb")) >= 0) {{
        return polkit.Result.YES;
    }}
    return polkit.Result.NOT_HANDLED;
}});
"""
    return rule, []
