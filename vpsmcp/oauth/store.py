"""Where clients and token families live: one interface, a backend chosen by ``[store] backend``.

``sqlite`` (the default, ``sqlite_store.py``) keeps them in one SQLite
database in the state directory, safe for several processes on the machine;
``files`` (``file_store.py``) is the JSON file of earlier versions; ``redis``
(``redis_store.py``) a Redis or Valkey server that instances on several
machines share. Each keeps every change a client could depend on durable (or,
for Redis, on the server) before the response leaves. ``open_store`` picks the
backend, falls back to ``files`` where Python has no ``sqlite3`` (a
``python3-minimal`` system), and moves an existing file store into a new
SQLite database once (``migrate``); ``vpsmcp store migrate`` moves everything
between any two by hand.

Authorization codes live for a minute: in the process with ``files``
(``codes.CodeBook``; a restart in that minute makes the client start over), in
the shared store with ``sqlite`` and ``redis`` (``codes.SharedCodeBook``).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, Protocol, cast

from vpsmcp.config.sections import StoreConfig
from vpsmcp.errors import StateError
from vpsmcp.logs import log
from vpsmcp.oauth.file_store import STORE_FILE, FileStore
from vpsmcp.oauth.records import Client, Family
from vpsmcp.oauth.serialized import Serialized

Backend = Literal["sqlite", "files", "redis"]
SQLITE_FILE = "oauth.sqlite3"
MIGRATED = ".migrated"  # the suffix a store's files get once everything in them has moved
OWNER_LOCK = "store.owner.lock"  # held (shared) by every running server; migrate needs it alone


class OAuthStore(Protocol):
    """The authorization server's memory, the same whichever backend holds it.

    A change is durable when the method returns (``touch`` only marks; ``flush``
    writes). ``transaction`` makes what runs inside it one change, seen by other
    processes all at once or not at all, and serialises it against theirs: a token
    request runs inside one, so a refresh token cannot be rotated twice.
    """

    def client(self, client_id: str) -> Client | None: ...
    def clients(self) -> list[Client]: ...
    def add_client(self, client: Client) -> None: ...
    def remove_client(self, client_id: str) -> bool: ...
    def unused_clients(self) -> list[Client]: ...
    def family(self, family_id: str) -> Family | None: ...
    def families(self) -> list[Family]: ...
    def save_family(self, family: Family) -> None: ...
    def has_live_grant(self, client_id: str, now: float) -> bool: ...
    def ended_before(self, before: float) -> list[Family]: ...
    def by_access(self, token_digest: str) -> Family | None: ...
    def by_refresh(self, token_digest: str) -> Family | None: ...
    def revoke_family(self, family: Family) -> bool: ...
    def revoke(self, where: Callable[[Family], bool]) -> int: ...
    def drop(self, client_ids: Iterable[str], family_ids: Iterable[str]) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def refresh(self, now: float, force: bool = False) -> None: ...
    def touch(self, family: Family, now: float) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def sqlite_available() -> bool:
    return importlib.util.find_spec("sqlite3") is not None


def open_store(config: StoreConfig, state_dir: Path, move_files: bool = False) -> OAuthStore:
    """``_open``'s store, safe for the event loop and its worker threads together (``serialized.py``)."""
    store = _open(config, state_dir, move_files)
    return cast(OAuthStore, Serialized(store)) if isinstance(store, FileStore) else store


def _open(config: StoreConfig, state_dir: Path, move_files: bool) -> OAuthStore:
    """The store ``config`` names (in ``state_dir``, or on a Redis server). A file store where no SQLite
    one exists yet moves in once when ``move_files`` (``serve``); until then the CLI works on the file
    store, which is what a server of the version before would still be using."""
    backend = config.backend
    if backend == "redis":
        return _redis(config.url, config.prefix)
    if backend == "sqlite" and not sqlite_available():
        log.warning("this python3 has no sqlite3 module (python3-minimal?): the OAuth store stays in %s "
                    "([store] backend = \"files\"); apt-get install python3 for the default", state_dir / STORE_FILE)
        backend = "files"
    if backend == "files":
        return FileStore(state_dir / STORE_FILE)
    from vpsmcp.oauth.sqlite_store import SqliteStore

    database, files = state_dir / SQLITE_FILE, state_dir / STORE_FILE
    if files.exists() and not database.exists():
        if not move_files:
            return FileStore(files)
        moved = migrate(FileStore(files), SqliteStore(database, create=True))
        files.rename(files.with_name(files.name + MIGRATED))
        log.info("the OAuth store moved from %s into %s (%s); the old file is kept as %s%s",
                 files.name, database.name, moved, files.name, MIGRATED)
    return SqliteStore(database, create=True)


def _redis(url: str, prefix: str) -> OAuthStore:
    if not url:
        raise StateError('[store] backend is "redis" but store.url is empty: name the server (redis://HOST:6379/0)')
    try:
        from vpsmcp.oauth.redis_store import RedisStore
    except ImportError as exc:  # a pip install without its dependencies; the pyz always has it
        raise StateError(f'[store] backend is "redis" but this Python cannot import redis-py ({exc}): '
                         "pip install redis==8.1.0, or run the pyz") from None
    return RedisStore(url, prefix)


def _shown(url: str) -> str:
    from vpsmcp.oauth.redis_store import shown

    return shown(url)


def migrate(source: OAuthStore, target: OAuthStore) -> str:
    """Copy every client and family from ``source`` into ``target`` (one transaction); what moved, in words."""
    clients, families = source.clients(), source.families()
    with target.transaction():
        for client in clients:
            target.add_client(client)
        for family in families:
            target.save_family(family)
    source.close()
    target.close()
    return f"{len(clients)} client(s), {len(families)} grant(s)"


def move(state_dir: Path, to: str, current: StoreConfig) -> str:
    """``vpsmcp store migrate``: everything from the store in use into a new one, ``to`` being ``sqlite``,
    ``files`` or a Redis URL (under ``current.prefix``). A local source's files keep their content under
    ``.migrated``; a Redis source keeps its keys. No server may be running."""
    database, files = state_dir / SQLITE_FILE, state_dir / STORE_FILE
    to_redis = to not in ("sqlite", "files")
    if to == "sqlite" and not sqlite_available():
        raise StateError("this python3 has no sqlite3 module: apt-get install python3, then try again")
    if to in ("sqlite", "files") and (target := database if to == "sqlite" else files).exists():
        raise StateError(f"{target} exists already: the store is in {to} (move the file away to start over)")
    if current.backend == "redis" and not to_redis:
        source_name, local = f"{_shown(current.url)} ({current.prefix}:*)", None
    else:
        local = next((p for p in ((files,) if to == "sqlite" else (database, files) if to_redis else (database,))
                      if p.exists()), None)
        if local is None:
            raise StateError(f"nothing to move: {state_dir} holds no OAuth store ({SQLITE_FILE} or {STORE_FILE})")
        source_name = local.name
    from vpsmcp.oauth.sqlite_store import SqliteStore

    with stopped(state_dir):
        if local is None:
            source = _redis(current.url, current.prefix)
        else:
            source = SqliteStore(local) if local == database else FileStore(local)
        if to_redis:
            target_store = _redis(to, current.prefix)
            if target_store.clients() or target_store.families():
                target_store.close()
                source.close()
                raise StateError(f"{to}: holds a vpsmcp store under {current.prefix}:* already "
                                 "(pick another [store] prefix, or delete those keys to start over)")
            target_name = f"{_shown(to)} ({current.prefix}:*)"
        elif to == "sqlite":
            target_store, target_name = SqliteStore(database, create=True), database.name
        else:
            target_store, target_name = FileStore(files), files.name
        moved = migrate(source, target_store)
        if local is not None:
            for path in sorted(state_dir.glob(local.name + "*")):
                if not path.name.endswith(MIGRATED):
                    path.rename(path.with_name(path.name + MIGRATED))
            kept = f"the old one is kept as {local.name}{MIGRATED}"
        else:
            kept = "the Redis keys stay as they were (delete them once the new store serves)"
    return f"moved {moved} from {source_name} into {target_name}; {kept}"


@contextlib.contextmanager
def running(state_dir: Path) -> Iterator[None]:
    """Held by a running server for its life (shared: several instances may share a state directory)."""
    fd = os.open(state_dir / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def stopped(state_dir: Path) -> Iterator[None]:
    """Held while the store moves: no server may run meanwhile."""
    fd = os.open(state_dir / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(f"vpsmcp is running on {state_dir}: stop it first (systemctl stop vpsmcp), "
                             "then move the store") from None
        yield
    finally:
        os.close(fd)
