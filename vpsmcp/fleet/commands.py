"""``vpsmcp fleet``: the nodes this hub fronts — list, add, log in again, remove.

``list`` (the default) shows each node, the hub's credential for it and, when
the server runs, how its link is doing (from the gateway's status file); a
node that revoked the hub's grant says so with the command to run. ``add``
and ``login`` log the hub in to a node (``fleet/login.py``); ``remove``
revokes the hub's grant at the node and forgets it. No command prints a token.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from vpsmcp.cli_common import add_state_flags, open_state, own_dirs
from vpsmcp.config.check import is_loopback
from vpsmcp.errors import FleetError
from vpsmcp.fleet import oauth
from vpsmcp.fleet.nodes import Fleet, Node, as_record, check_name
from vpsmcp.gateway import status

RESTART = "restart vpsmcp (systemctl restart vpsmcp) to"


def add_commands(sub: Any) -> None:
    p = sub.add_parser("fleet", help="the other vpsmcp servers this one fronts (a hub)",
                       description="Put other vpsmcp servers behind this one: their tools appear here as NAME_tool, "
                                   "each needing the scope fleet:NAME.")
    p.set_defaults(command=_list, config=None, state_dir=None, json=False)  # `vpsmcp fleet` alone lists
    actions = p.add_subparsers(dest="action", metavar="{list,add,login,remove}")

    q = actions.add_parser("list", help="the nodes, the hub's credential for each and how each link is doing")
    add_state_flags(q)
    q.add_argument("--json", action="store_true", help="print JSON instead of lines")
    q.set_defaults(command=_list)

    for action, text in (("add", "log the hub in to a node and add it"), ("login", "log the hub in to a node again")):
        q = actions.add_parser(action, help=text)
        add_state_flags(q)
        q.add_argument("name", help="the node's name here: its tools become NAME_tool, its scope fleet:NAME")
        if action == "add":
            q.add_argument("url", help="the node's MCP URL, https://node.example/mcp")
        q.add_argument("--token-stdin", action="store_true",
                       help="instead of a browser login: a personal access token made on the node, on stdin")
        q.add_argument("--no-browser", dest="open_browser", action="store_false", help="only print the login URL")
        q.add_argument("--login-timeout", type=float, default=300.0, metavar="S",
                       help="how long to wait for the browser (300)")
        q.set_defaults(command=_add if action == "add" else _login)

    q = actions.add_parser("remove", help="revoke the hub's grant at a node and forget the node")
    add_state_flags(q)
    q.add_argument("name")
    q.set_defaults(command=_remove)


def _list(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, state = open_state(args, env)
    nodes = Fleet(state.path).read()
    links = _links(state)
    if args.json:
        print(json.dumps([{**as_record(n), "link": links.get(n.name)} for n in nodes.values()], indent=1))
        return 0
    if not nodes:
        print("no fleet nodes (vpsmcp fleet add NAME https://node/mcp)")
        return 0
    for node in nodes.values():
        print(f"{node.name}  {node.url}  {_credential(node)}")
        link = links.get(node.name)
        if link is not None:
            error = f", last error: {link['last_error']}" if link.get("last_error") else ""
            print(f"  link: {link['state']} with {link['tools']} tools{error}")
    return 0


def _credential(node: Node) -> str:
    if node.logged_out:
        return f"LOGGED OUT: the node {node.logged_out}; run `{node.login_command()}`"
    if node.kind == "token":
        return "personal access token"
    left = node.expires_at - time.time()
    return f"logged in (scopes {node.scope or '-'}; token renewed {_stamp(node.renewed_at)}, {left:.0f} s left)"


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if when else "never"


def _links(state: Any) -> dict[str, dict[str, Any]]:
    """How the running server's links to the nodes are doing, by node name (its first instance's view)."""
    found: dict[str, dict[str, Any]] = {}
    for _, own in own_dirs(state, None, status.FILE_NAME):
        snapshot = status.read(own / status.FILE_NAME)
        for row in snapshot.upstreams if snapshot is not None else ():
            found.setdefault(row.name, {"state": row.state, "tools": row.tools, "last_error": row.last_error})
    return found


def _add(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config, state = open_state(args, env)
    name, url = check_name(args.name), _check_url(args.url)
    if name in config.upstreams:
        raise FleetError(f"{name!r} is already the name of an upstream ([upstreams.{name}]): pick another")
    fleet = Fleet(state.path)
    if name in fleet.read():
        raise FleetError(f"{name!r} is in the fleet already: `vpsmcp fleet login {name}` logs in again, "
                         f"`vpsmcp fleet remove {name}` forgets it")
    node = _obtain(args, name, url)
    with fleet.changing() as nodes:
        if name in nodes:
            raise FleetError(f"{name!r} was added meanwhile by someone else")
        nodes[name] = node
    print(f"added {name} ({node.url}), scopes {node.scope or '(those of the token)'}; {RESTART} offer its tools "
          f"as {name}_*, to clients granted fleet:{name}")
    return 0


def _login(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, state = open_state(args, env)
    fleet = Fleet(state.path)
    old = fleet.read().get(args.name)
    if old is None:
        raise FleetError(f"no fleet node {args.name!r} (vpsmcp fleet add {args.name} https://node/mcp)")
    node = _obtain(args, old.name, old.url)
    with fleet.changing() as nodes:
        nodes[old.name] = replace(node, added_at=old.added_at)
    print(f"logged in to {old.name} again; a running vpsmcp uses the new grant from its next try (within 30 s)")
    return 0


def _obtain(args: argparse.Namespace, name: str, url: str) -> Node:
    from vpsmcp.fleet.login import log_in, stdin_if_terminal, with_token  # a browser login's modules, only here

    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise FleetError("--token-stdin: the first line of stdin is empty")
        return with_token(name, url, token)
    return log_in(name, url, sys.stderr, args.open_browser, args.login_timeout, stdin_if_terminal())


def _remove(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, state = open_state(args, env)
    fleet = Fleet(state.path)
    with fleet.changing() as nodes:
        node = nodes.pop(args.name, None)
        if node is None:
            raise FleetError(f"no fleet node {args.name!r}")
    note = _revoke(node)
    print(f"removed {node.name}; {note}; {RESTART} drop its tools")
    return 0


def _revoke(node: Node) -> str:
    """Revoke the hub's grant at the node (the refresh token ends the whole grant), as well as it can."""
    if node.kind == "token":
        return "its personal access token stays valid on the node: revoke it there (vpsmcp tokens revoke)"
    if not node.revocation_endpoint:
        return "the node offers no revocation: its grant ends when the tokens expire"
    hint, value = ("refresh_token", node.refresh_token) if node.refresh_token else ("access_token", node.access_token)
    try:
        oauth.revoke(node.revocation_endpoint, {"token": value, "token_type_hint": hint,
                                                **oauth.client_form(node.client_id, node.client_secret)})
    except (oauth.Unreachable, oauth.Refused) as exc:
        return f"the node could not revoke the hub's grant ({exc}): revoke it there (vpsmcp tokens revoke)"
    return "the node revoked the hub's grant"


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FleetError(f"{url!r} is not an http(s) URL of a node's MCP endpoint (https://node.example/mcp)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise FleetError(f"{url}: the hub's token would cross the network in the clear; use the node's https URL")
    return url if parts.path not in ("", "/") else url.rstrip("/") + "/mcp"
