"""The ``files`` backend: every client and token family in one JSON file, rewritten whole.

Kept for installs that have it (``[store] backend = "files"``) and for a
``python3`` without ``sqlite3``. Everything is held in memory (a bearer check
is a dictionary lookup) and every change that a client could depend on — a
registration, a token issued, a rotation, a revocation — is written to one
JSON file with ``write_atomic`` *before* the response leaves. A kill -9 at
any moment leaves the previous or the new file, and no token a client has
received can be missing from it. Each write costs the size of everything
stored, so the ``sqlite`` backend is the default. Last-use times are only
bookkeeping: they are flushed with the next write or by ``flush``, so a crash
may lose a few of them. One process owns it; the CLI's writes are merged in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from vpsmcp.atomic import write_atomic
from vpsmcp.errors import StateError
from vpsmcp.oauth.records import Client, Family

STORE_FILE = "oauth.json"
FORMAT = 1


class FileStore:
    """``OAuthStore`` on one 0600 JSON file in the state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._clients: dict[str, Client] = {}
        self._families: dict[str, Family] = {}
        self._access: dict[str, Family] = {}
        self._refresh: dict[str, Family] = {}
        self._dirty = False
        self._dropped: set[str] = set()
        self._stamp: tuple[int, int] | None = None
        self._written_at = 0.0
        self._checked_at = 0.0
        self._load()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> FileStore:
        return cls(state_dir / STORE_FILE)

    def client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def clients(self) -> list[Client]:
        return sorted(self._clients.values(), key=lambda c: c.created_at)

    def add_client(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self.commit()

    def remove_client(self, client_id: str) -> bool:
        """Forget a client and revoke everything issued to it."""
        if client_id not in self._clients:
            return False
        self._forget_client(client_id)
        self._dropped.add(client_id)
        self.commit()
        return True

    def family(self, family_id: str) -> Family | None:
        return self._families.get(family_id)

    def families(self) -> list[Family]:
        return sorted(self._families.values(), key=lambda f: f.created_at)

    def save_family(self, family: Family) -> None:
        self._families[family.id] = family
        self.commit()

    def unused_clients(self) -> list[Client]:
        used = {f.client_id for f in self._families.values()}
        return [c for c in self.clients() if c.client_id not in used]

    def has_live_grant(self, client_id: str, now: float) -> bool:
        return any(f.client_id == client_id and not f.expired(now) for f in self._families.values())

    def ended_before(self, before: float) -> list[Family]:
        return [f for f in self._families.values() if (f.revoked_at or f.refresh_expires_at) < before]

    def revoke_family(self, family: Family) -> bool:
        return self.revoke(lambda f: f.id == family.id) > 0

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One process owns the file; its threads take turns through ``Serialized`` (serialized.py)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        self.flush()

    def by_access(self, token_digest: str) -> Family | None:
        return self._access.get(token_digest)

    def by_refresh(self, token_digest: str) -> Family | None:
        return self._refresh.get(token_digest)

    def touch(self, family: Family, now: float) -> None:
        family.last_used_at = now
        self._dirty = True

    def flush(self) -> None:
        """Write pending last-use times."""
        if self._dirty:
            self.commit()

    def drop(self, client_ids: Iterable[str], family_ids: Iterable[str]) -> None:
        """Remove swept records for good."""
        for client_id in client_ids:
            self._clients.pop(client_id, None)
            self._dropped.add(client_id)
        for family_id in family_ids:
            self._families.pop(family_id, None)
            self._dropped.add(family_id)
        self.commit()

    def commit(self) -> None:
        """Persist everything, durably, merging what another process (the CLI) wrote meanwhile."""
        with self._locked():
            disk = self._read()
            if disk is not None and self._stamp_of() != self._stamp:
                self._merge(*disk)
            data = {
                "format": FORMAT,
                "clients": [c.to_json() for c in self._clients.values()],
                "families": [f.to_json() for f in self._families.values()],
            }
            try:
                write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode())
            except OSError as exc:
                self._roll_back()
                raise StateError(f"{self.path}: cannot be written: {exc.strerror or exc}") from None
            self._stamp = self._stamp_of()
            self._written_at = time.time()
        self._dirty = False
        self._reindex()

    def _roll_back(self) -> None:
        """A change that could not be saved is undone in memory too: back to what the file holds
        (a refresh token rotated only in memory would make the client's retry look like reuse)."""
        disk = self._read()
        self._clients, self._families = disk if disk is not None else ({}, {})
        self._stamp = self._stamp_of()
        self._dirty = False
        self._reindex()

    def revoke(self, where: Callable[[Family], bool]) -> int:
        """Revoke, durably, every live grant ``where`` picks; how many (no write when none)."""
        now = time.time()
        count = sum(family.revoke(now) for family in self._families.values() if family.revoked_at is None and where(family))
        if count:
            self.commit()
        return count

    def refresh(self, now: float, force: bool = False) -> None:
        """Pick up another process's changes (a revocation from the CLI), at most once a second
        unless ``force`` (a token just made by the CLI, not known yet: one ``stat``)."""
        if now - self._checked_at < 1.0 and not force:
            return
        self._checked_at = now
        if self._stamp_of() != self._stamp:
            with contextlib.suppress(StateError):  # not saved (a full disk): the file's version was read back
                self.commit()

    def _merge(self, clients: dict[str, Client], families: dict[str, Family]) -> None:
        """Two-way merge: the other writer may add, remove and revoke; we keep our newer records."""
        for client_id, client in clients.items():
            if client_id not in self._clients and client_id not in self._dropped:
                self._clients[client_id] = client
        for client_id in [c for c, v in self._clients.items() if c not in clients and v.created_at <= self._written_at]:
            self._forget_client(client_id)
        for family_id, family in families.items():
            mine = self._families.get(family_id)
            if mine is None and family_id not in self._dropped:
                self._families[family_id] = family
            elif mine is not None and family.revoked_at is not None:
                mine.revoke(family.revoked_at)  # the other writer revoked it: so do we, at its time
        for family_id in [f for f, v in self._families.items() if f not in families and v.created_at <= self._written_at]:
            del self._families[family_id]

    def _forget_client(self, client_id: str) -> None:
        self._clients.pop(client_id, None)
        now = time.time()
        for family in self._families.values():
            if family.client_id == client_id:
                family.revoke(now)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes (the server and the CLI)."""
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _stamp_of(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _reindex(self) -> None:
        self._access = {d: f for f in self._families.values() for d in f.access}
        self._refresh = {d: f for f in self._families.values() for d in (*f.live, *f.retired)}

    def _load(self) -> None:
        with self._locked():
            disk = self._read()
            self._stamp = self._stamp_of()
        if disk is not None:
            self._clients, self._families = disk
            self._reindex()

    def _read(self) -> tuple[dict[str, Client], dict[str, Family]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot be read: {exc.strerror or exc}") from None
        try:
            data: Any = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            clients = [Client.from_json(c) for c in data["clients"]]
            families = [Family.from_json(f) for f in data["families"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{self.path}: not a vpsmcp OAuth store ({exc}); move it away to start empty") from None
        return {c.client_id: c for c in clients}, {f.id: f for f in families}
