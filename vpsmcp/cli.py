"""The command line: ``python3 vpsmcp.pyz COMMAND`` or ``python3 -m vpsmcp COMMAND``.

A thin edge over library code. ``main(argv) -> int`` is what tests call; it is
the one place where a ``VpsmcpError`` becomes a line on stderr and an exit
status. Each feature adds its own commands (``FEATURE/commands.py``:
``add_commands(sub)``); ``version`` alone lives here. Every command works without a terminal: nothing prompts unless a
flag could not answer instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata

from vpsmcp import __version__
from vpsmcp.audit import commands as audit_commands
from vpsmcp.doctor import commands as doctor_commands
from vpsmcp.errors import VpsmcpError
from vpsmcp.fleet import commands as fleet_commands
from vpsmcp.gateway import commands as gateway_commands
from vpsmcp.install import commands as install_commands
from vpsmcp.oauth import commands as oauth_commands
from vpsmcp.server import commands as server_commands
from vpsmcp.trace import commands as trace_commands

Command = Callable[[argparse.Namespace, Mapping[str, str]], int]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    try:
        return command(args, os.environ if env is None else env)
    except VpsmcpError as exc:
        for line in str(exc).splitlines() or [""]:  # several problems (ConfigErrors): one line each
            print(f"vpsmcp: error: {line}", file=sys.stderr)
        return exc.exit_status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpsmcp",
        description="A remote MCP endpoint with its own OAuth server, for your VPS.",
    )
    parser.add_argument("--version", action="version", version=f"vpsmcp {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    server_commands.add_commands(sub)
    oauth_commands.add_commands(sub)
    install_commands.add_commands(sub)
    gateway_commands.add_commands(sub)
    trace_commands.add_commands(sub)
    audit_commands.add_commands(sub)
    doctor_commands.add_commands(sub)
    fleet_commands.add_commands(sub)

    p = sub.add_parser("version", help="print versions", description="Print vpsmcp's and its runtime's versions.")
    p.set_defaults(command=_version)
    return parser


def _version(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("quart", "hypercorn", "authlib"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} missing")
    print(f"vpsmcp {__version__} ({', '.join(parts)})")
    return 0
