"""The fleet file: the other vpsmcp servers this hub fronts, and the hub's credential for each.

``fleet.json`` in the state directory (0600), one record per node: its MCP URL,
the endpoints the hub talks OAuth to, the hub's client registration there, and
the tokens the node issued to the hub. A refresh token cannot be stored hashed
(the hub must send it), so the file is the secret, readable by the service's
user only; nothing else writes a token anywhere (not the log, the trace, the
status page or ``vpsmcp fleet``).

Everyone who changes it — ``vpsmcp fleet`` and every instance of the server,
renewing tokens — does so under ``fleet.lock`` (``flock``), reading the file
again inside the lock: a refresh token rotates once, whoever renews it first,
and the others find the new one. Run as root (``vpsmcp fleet add`` on an
installed hub), both files are given the state directory's owner, so the
service's user still reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vpsmcp.atomic import write_atomic_at
from vpsmcp.errors import FleetError, StateError

FILE_NAME = "fleet.json"
LOCK_NAME = "fleet.lock"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,31}\Z")  # becomes a tool prefix (NAME_) and a scope (fleet:NAME)


@dataclass(frozen=True, slots=True)
class Node:
    """One node and the hub's credential for it. ``kind``: ``oauth`` (a login the node's owner
    approved; refreshed) or ``token`` (a personal access token made on the node). ``logged_out``:
    why the hub has no usable credential any more (the node revoked it), empty while it has one."""

    name: str
    url: str
    kind: Literal["oauth", "token"]
    access_token: str
    expires_at: float = 0.0  # 0: does not expire (a personal access token without an end)
    lifetime: float = 0.0  # seconds the access token was issued for
    refresh_token: str = ""
    token_endpoint: str = ""
    revocation_endpoint: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""
    added_at: float = 0.0
    renewed_at: float = 0.0
    logged_out: str = ""

    def login_command(self) -> str:
        return f"vpsmcp fleet login {self.name}"


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise FleetError(f"{name!r} is no node name: a letter, then up to 31 letters, digits and '-' "
                         "(it becomes the tools' prefix and the scope fleet:NAME)")
    return name


class Fleet:
    """The fleet file of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self.lock_path = state_dir / LOCK_NAME

    def read(self) -> dict[str, Node]:
        """The nodes as the file holds them now (no lock: a reader sees one whole version)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return _parse(self.path, text)

    @contextlib.contextmanager
    def changing(self) -> Iterator[dict[str, Node]]:
        """The nodes under the lock; what the block leaves in the dict is written back atomically
        (only if it changed, and not at all if the block raised)."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open {self.lock_path}: {exc.strerror or exc}") from None
        try:
            owner = self._owner()
            if owner is not None:
                os.fchown(fd, *owner)
            fcntl.flock(fd, fcntl.LOCK_EX)
            nodes = self.read()
            before = dict(nodes)
            yield nodes
            if nodes != before:
                self._write(nodes)
        finally:
            os.close(fd)

    def _write(self, nodes: dict[str, Node]) -> None:
        document = {"version": 1, "nodes": {name: dataclasses.asdict(node) for name, node in sorted(nodes.items())}}
        try:
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                write_atomic_at(directory, self.path.name, json.dumps(document, indent=1).encode() + b"\n",
                                owner=self._owner())
            finally:
                os.close(directory)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _owner(self) -> tuple[int, int] | None:
        """(uid, gid) of the state directory when root writes into someone else's, else ``None``."""
        if os.geteuid() != 0:
            return None
        info = self.path.parent.stat()
        return None if info.st_uid == 0 else (info.st_uid, info.st_gid)


def _parse(path: Path, text: str) -> dict[str, Node]:
    try:
        document = json.loads(text)
        records = document["nodes"]
        fields = {f.name for f in dataclasses.fields(Node)}
        nodes = {name: Node(**{k: v for k, v in record.items() if k in fields}) for name, record in records.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"{path} is not a fleet file vpsmcp can read ({type(exc).__name__}: {exc}); "
                         "move it away and add the nodes again (vpsmcp fleet add)") from None
    return nodes


def expiring(node: Node, now: float | None = None) -> bool:
    """Whether the access token should be renewed now: in the last quarter of its life."""
    if node.expires_at == 0:
        return False
    left = node.expires_at - (time.time() if now is None else now)
    return left < max(30.0, node.lifetime / 4)


def as_record(node: Node) -> dict[str, Any]:
    """What may be shown of a node: everything but its secrets."""
    return {"name": node.name, "url": node.url, "kind": node.kind, "scope": node.scope,
            "expires_at": node.expires_at or None, "renewed_at": node.renewed_at or None,
            "logged_out": node.logged_out or None, "client_id": node.client_id or None}
