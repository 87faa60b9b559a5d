"""``vpsmcp serve``, ``init`` and ``check-config``: the server's own commands.

``serve`` loads the config (``--config``, else the one found), applies the
flags over it, opens the state directory, logs the risks it will run with,
binds, and serves until SIGTERM or SIGINT. ``check-config`` runs every check
``serve`` runs before it binds; ``init`` writes a complete config with fresh
secrets.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpsmcp.atomic import write_atomic
from vpsmcp.cli_common import configured
from vpsmcp.config.check import risks, start_problems
from vpsmcp.config.locations import state_dir, user_config_path
from vpsmcp.config.sections import Config, dump_config, parse_config, with_overrides
from vpsmcp.errors import VpsmcpError
from vpsmcp.logs import log, setup_logging
from vpsmcp.server.runtime import Runtime
from vpsmcp.state import StateDir


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server", description="Run the server until SIGTERM or SIGINT.")
    _config_flag(p)
    _server_flags(p)
    p.add_argument("--log-format", choices=("text", "json"), help="log line format (log.format)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="least severe level logged")
    p.set_defaults(command=_serve)

    p = sub.add_parser(
        "init",
        help="write a complete config file",
        description="Write a config file with every default spelled out and fresh secrets.",
    )
    p.add_argument("--config", type=Path, metavar="PATH", help="where to write (default: the user config path)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    _server_flags(p)
    p.set_defaults(command=_init)

    p = sub.add_parser("check-config", help="validate a config file", description="Validate a config file.")
    _config_flag(p)
    p.set_defaults(command=_check_config)



def _config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: ./vpsmcp.toml, then ~/.config/vpsmcp/vpsmcp.toml, else built-in defaults)",
    )


def _server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", metavar="ADDR", help="address to listen on (server.listen)")
    p.add_argument("--port", type=int, metavar="N", help="port to listen on, 0 for any (server.port)")
    p.add_argument("--public-url", metavar="URL", help="https URL clients use (server.public_url)")
    p.add_argument("--state-dir", metavar="DIR", help="state directory (server.state_dir)")
    p.add_argument("--instance", metavar="NAME", help="this instance's name, when several share the state directory "
                   "(server.instance)")
    p.add_argument(
        "--no-auth",
        dest="auth_mode",
        action="store_const",
        const="none",
        help="no authentication, for local development on loopback (auth.mode = \"none\")",
    )


def _flag_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "server.listen": args.listen,
        "server.port": args.port,
        "server.public_url": args.public_url,
        "server.state_dir": args.state_dir,
        "server.instance": getattr(args, "instance", None),
        "auth.mode": args.auth_mode,
        "log.format": getattr(args, "log_format", None),
        "log.level": getattr(args, "log_level", None),
    }


def _serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import asyncio  # here: asyncio costs 15 ms at start, and most commands never run a loop

    # Only serve loads the server (Quart, hypercorn, authlib): every other command answers at once.
    from vpsmcp.oauth import store
    from vpsmcp.oauth.setup import ensure_owner_password
    from vpsmcp.server.serving import base_url, bind_socket, serve

    config, path = configured(args.config, env)
    config = with_overrides(config, _flag_overrides(args), "command line")
    setup_logging(config.log.format, config.log.level)
    if path is None:
        log.info("no config file found; using the built-in defaults (run 'vpsmcp init' to write one)")
    state = StateDir.open(state_dir(config.server.state_dir, env))
    state.prepare_for_serving()
    if state.created:
        log.info("created state directory %s", state.path)
    for risk in risks(config, str(path) if path else "built-in defaults"):
        log.warning("%s", risk)
    secret_key = state.secret_key(config.auth.secret_key)
    sock = bind_socket(config.server.listen, config.server.port)
    runtime = Runtime(config, state, secret_key, config.server.public_url or base_url(sock),
                      str(path) if path else "built-in defaults", env)
    first_start = (lambda: ensure_owner_password(runtime)) if config.auth.mode == "oauth" else None
    with store.running(state.path):  # `vpsmcp store migrate` waits for no server to hold it
        asyncio.run(serve(runtime, sock, first_start))
    return 0


def _init(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path: Path = args.config or user_config_path(env)
    if path.exists() and not args.force:
        raise VpsmcpError(f"{path} exists; pass --force to overwrite it")
    config = with_overrides(Config(), _flag_overrides(args), "command line")
    config = with_overrides(config, {"auth.secret_key": secrets.token_urlsafe(32)}, "init")
    text = dump_config(config)
    parse_config(text, str(path))  # what we write must load back
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise VpsmcpError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _check_config(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Every check ``serve`` runs before it binds (config_check.py): 0 ok, 2 errors (all of them), 3 risks."""
    config, path = configured(args.config, env)
    source = str(path) if path else "built-in defaults"
    problems = start_problems(config, source, env)
    if problems is not None:
        raise problems
    found = risks(config, source)
    for risk in found:
        print(f"vpsmcp: warning: {risk}", file=sys.stderr)
    what = str(path) if path else "no config file found; the built-in defaults apply:"
    print(f"{what} ok" if path is None else f"{what}: ok", end="")
    print(f", with {len(found)} warning{'s' if len(found) != 1 else ''} (above)" if found else "")
    return 3 if found else 0
