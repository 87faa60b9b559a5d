"""``vpsmcp passwd``, ``vpsmcp clients …``, ``vpsmcp tokens …`` and ``vpsmcp store migrate``.

They work on the state directory directly, with or without a running
server; the server sees their changes from its next request (``sqlite``) or within a second (``files``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Mapping
from typing import Any

from vpsmcp import paths
from vpsmcp.cli_common import add_state_flags, configured, open_state
from vpsmcp.errors import VpsmcpError
from vpsmcp.oauth import personal
from vpsmcp.oauth.owner import OwnerPassword
from vpsmcp.oauth.records import Family
from vpsmcp.oauth.resources import Resources
from vpsmcp.oauth.store import OAuthStore, move, open_store


class UsageError(VpsmcpError):
    """A command was asked something it cannot do."""

    exit_status = 2


def add_commands(sub: Any) -> None:
    p = sub.add_parser("passwd", help="set the owner password", description="Set the password the owner types on the consent page.")
    add_state_flags(p)
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(command=_passwd)

    p = sub.add_parser("clients", help="list, add or remove OAuth clients", description="Manage OAuth clients.")
    csub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = csub.add_parser("list", help="list clients with their last use")
    add_state_flags(q)
    q.set_defaults(command=_clients_list)
    q = csub.add_parser("add", help="pre-register a client (prints its id and secret once)")
    add_state_flags(q)
    q.add_argument("--name", required=True, help="name shown on the consent page")
    q.add_argument("--redirect-uri", action="append", required=True, metavar="URI", help="allowed redirect URI (repeatable)")
    q.add_argument("--public", action="store_true", help="no secret (a native app using PKCE only)")
    q.set_defaults(command=_clients_add)
    q = csub.add_parser("remove", help="remove a client and revoke its tokens")
    add_state_flags(q)
    q.add_argument("client_id")
    q.set_defaults(command=_clients_remove)

    p = sub.add_parser("tokens", help="list, create or revoke grants and personal access tokens",
                       description="List or revoke what clients were granted; make personal access tokens.")
    tsub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = tsub.add_parser("create", help="make a personal access token (printed once) for what cannot do OAuth")
    add_state_flags(q)
    q.add_argument("--name", required=True, help="what the token is for; shown in tokens list, the audit log and /status")
    q.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                   help="a scope it grants, e.g. vps:read (repeatable, or several separated by spaces)")
    q.add_argument("--expires", default="90d", metavar="TIME", help="lifetime: 90d, 12h, 30m (default 90d)")
    q.set_defaults(command=_tokens_create)
    q = tsub.add_parser("list", help="list grants (one per authorization) with scopes and last use")
    add_state_flags(q)
    q.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    q.set_defaults(command=_tokens_list)
    q = tsub.add_parser("revoke", help="revoke a client's grants, or one grant")
    add_state_flags(q)
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--client", metavar="CLIENT_ID", help="every grant of this client")
    who.add_argument("--grant", metavar="GRANT_ID", help="one grant (see tokens list)")
    who.add_argument("--name", metavar="NAME", help="the personal access token of this name")
    q.set_defaults(command=_tokens_revoke)

    p = sub.add_parser("store", help="move the OAuth store between backends",
                       description="The OAuth store's backend ([store] backend): sqlite or files.")
    ssub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = ssub.add_parser("migrate", help="move every client, grant and token into the other backend (server stopped)")
    add_state_flags(q)
    q.add_argument("--to", required=True, type=_backend, metavar="sqlite|files|redis://…",
                   help="the backend to move to: sqlite, files, or a Redis URL (the keys get [store] prefix)")
    q.set_defaults(command=_store_migrate)


def _passwd(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, state = open_state(args, env)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New owner password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ; nothing changed")
    OwnerPassword(state.path).set(password)
    print("owner password set")
    return 0


def _store(args: argparse.Namespace, env: Mapping[str, str]) -> OAuthStore:
    config, state = open_state(args, env)
    return open_store(config.store, state.path)


def _clients_list(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    store = _store(args, env)
    last_use = _last_use(store.families())
    print(f"{'CLIENT ID':44} {'SOURCE':6} {'LAST USE':19} NAME / REDIRECT HOSTS")
    for c in store.clients():
        print(f"{c.client_id:44} {c.source:6} {_when(last_use.get(c.client_id)):19} {c.name or '-'} ({c.redirect_host})")
    return 0


def _clients_add(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.oauth.registration import (  # authlib
        InvalidClientMetadata,
        InvalidRedirectUri,
        new_client,
        parse_metadata,
    )

    try:
        metadata = parse_metadata({
            "redirect_uris": args.redirect_uri, "client_name": args.name,
            "token_endpoint_auth_method": "none" if args.public else "client_secret_post",
        })
    except (InvalidClientMetadata, InvalidRedirectUri) as exc:
        raise UsageError(str(exc.description)) from None
    client, secret = new_client(metadata, source="cli")
    _store(args, env).add_client(client)
    print(f"client_id: {client.client_id}")
    if secret:
        print(f"client_secret (shown only now): {secret}")
    return 0


def _clients_remove(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not _store(args, env).remove_client(args.client_id):
        raise UsageError(f"no client {args.client_id!r} (see: vpsmcp clients list)")
    print(f"removed {args.client_id} and revoked its tokens")
    return 0


def _tokens_list(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    store = _store(args, env)
    now = time.time()
    print(f"{'GRANT':16} {'CLIENT ID':44} {'STATE':8} {'LAST USE':19} SCOPES")
    for f in store.families():
        if args.client and f.client_id != args.client:
            continue
        state = "revoked" if f.revoked_at else "expired" if f.expired(now) else "active"
        print(f"{f.id:16} {f.client_id:44} {state:8} {_when(f.last_used_at):19} {f.scope}")
    return 0


def _tokens_create(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config, state = open_state(args, env)
    server = config.server
    public_url = server.public_url or (f"http://{server.listen}:{server.port}" if server.port else "")
    if not public_url:
        raise UsageError("server.port is 0 and server.public_url is unset: set server.public_url, which the token is bound to")
    scopes = [s for text in args.scope for s in text.split()]
    try:
        lifetime = personal.parse_lifetime(args.expires)
        family, token = personal.create(open_store(config.store, state.path), Resources.of(public_url).resource(paths.MCP),
                                        args.name, scopes, lifetime)
    except personal.PersonalTokenError as exc:
        raise UsageError(str(exc)) from None
    print(f"personal access token {args.name!r} for {family.resource}, scopes {family.scope}, "
          f"valid until {_when(family.refresh_expires_at)}")
    print(f"token (shown only now; send it as 'Authorization: Bearer TOKEN'): {token}")
    return 0


def _tokens_revoke(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.name:
        if not personal.revoke(_store(args, env), args.name):
            raise UsageError(f"no live personal access token named {args.name!r} (see: vpsmcp tokens list)")
        print(f"revoked personal access token {args.name!r}")
        return 0
    count = _store(args, env).revoke(lambda f: f.id == args.grant or f.client_id == args.client)
    if not count:
        raise UsageError("nothing to revoke: no active grant matches (see: vpsmcp tokens list)")
    print(f"revoked {count} grant(s)")
    return 0


def _backend(value: str) -> str:
    if value in ("sqlite", "files") or value.split("://", 1)[0] in ("redis", "rediss", "unix") and "://" in value:
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: expected sqlite, files, or a redis://, rediss:// or unix:/// URL")


def _store_migrate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config, path = configured(args.config, env)
    _, state = open_state(args, env)
    print(move(state.path, args.to, config.store))
    where = path or "the config file (vpsmcp init writes one)"
    if args.to in ("sqlite", "files"):
        if config.store.backend != args.to:
            print(f"next: set [store] backend = \"{args.to}\" in {where}, then start vpsmcp again")
    elif config.store.backend != "redis" or config.store.url != args.to:
        from vpsmcp.oauth.redis_store import shown

        url = shown(args.to)
        secret = " (the password where *** stands)" if url != args.to else ""
        print(f"next: set [store] backend = \"redis\" and url = \"{url}\"{secret} in {where}, then start vpsmcp again")
    return 0


def _last_use(families: list[Family]) -> dict[str, float]:
    last: dict[str, float] = {}
    for f in families:
        if f.last_used_at:
            last[f.client_id] = max(last.get(f.client_id, 0.0), f.last_used_at)
    return last


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "never"
