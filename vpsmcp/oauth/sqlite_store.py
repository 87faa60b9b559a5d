"""The ``sqlite`` backend: clients and token families in one SQLite database (the standard library's ``sqlite3``).

The database (``STATE_DIR/oauth.sqlite3``, 0600) runs in WAL mode with
``synchronous = FULL``: a change is on disk when its ``COMMIT`` returns, which
is before the response that depends on it leaves, and a kill -9 or a power cut
leaves every committed change and nothing half-written. A write costs what it
changes (a family's row and its token digests), not the size of the store.

Several processes may open it at once — the server, the CLI, other instances
on the machine. Each keeps a cache of the families it has looked up (a bearer
check is then a dictionary lookup) and drops it whenever ``PRAGMA
data_version`` says another connection has committed since: a revocation from
the CLI counts from the next request. ``transaction`` is ``BEGIN IMMEDIATE``:
a token request holds the database's one write lock from reading the refresh
token to storing its successor, so two processes can never both rotate it.

Threads: the server runs transactions in worker threads (a commit's fsync, or
a wait for another process's write lock, blocks) while the event loop reads.
So the store has two connections: transactions run on the writer, one thread
at a time (a lock), and see their own changes; every other call reads on the
reader, which sees only what is committed and never waits for the writer.

Tables: ``clients`` (the record as JSON, and whether it holds a grant),
``families`` (the record as JSON, with the columns queries need), ``tokens``
(each access and refresh token's digest → its family). ``last_used_at`` is a
column of its own, written by ``flush`` without touching the record, so
bookkeeping never overwrites a revocation another process made. For instances
that share the database: ``codes`` (``codes.SharedCodeBook``), ``sessions``
(``saved_sessions.SessionShelf``, by id hash), ``login_failures``
(``owner.SharedLoginLimiter``) and ``documents`` (``cimd.DocumentShelf``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from vpsmcp.errors import StateError
from vpsmcp.oauth.family_cache import FamilyCache
from vpsmcp.oauth.records import Client, Family

SCHEMA_VERSION = 2  # 2: codes, sessions and failed logins shared by instances
BUSY_TIMEOUT_MS = 10_000  # how long a write waits for another process's transaction
SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    record TEXT NOT NULL,
    granted INTEGER NOT NULL DEFAULT 0  -- holds a grant (kept by save_family and drop): the unused are few
);
CREATE INDEX IF NOT EXISTS clients_unused ON clients (granted, created_at);
CREATE TABLE IF NOT EXISTS families (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL NOT NULL,   -- revoked_at, else refresh_expires_at: what the sweep looks at
    last_used_at REAL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS families_by_client ON families (client_id);
CREATE INDEX IF NOT EXISTS families_by_end ON families (ended_at);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh'))
);
CREATE INDEX IF NOT EXISTS tokens_by_family ON tokens (family_id);
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY,
    record TEXT,              -- NULL once spent
    expires_at REAL NOT NULL,
    forget_at REAL NOT NULL,  -- a spent code is remembered until then, with the grant it produced
    grant_id TEXT
);
CREATE TABLE IF NOT EXISTS login_failures (
    address TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (last);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,  -- SHA-256 of a handshake-era session id, never the id
    saved_at REAL NOT NULL,
    record TEXT NOT NULL
);
"""
# Tables added since, without a new schema version: a version before ignores them, so an upgrade can
# be rolled back (``upgrade --rollback``) onto the same database.
ADDED = {
    "documents": """CREATE TABLE IF NOT EXISTS documents (
        client_id TEXT PRIMARY KEY,  -- a client ID metadata document's URL
        record TEXT NOT NULL,        -- the client it describes
        expires_at REAL NOT NULL     -- when it should be fetched again (it may serve stale a while after)
    )""",
}
FAILURE_MEMORY = 3_600.0  # failed logins older than this are forgotten (the brake's longest wait is 15 min)
DOCUMENT_MEMORY = 7 * 86_400.0  # a document past its time this long is dropped (cimd.MAX_STALE)
SESSION_MEMORY = 86_400.0  # a shared session not written again for a day is dropped at the next sweep


class SqliteStore(FamilyCache):
    """``OAuthStore`` on one SQLite database (see the module docstring)."""

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = path
        if create and not path.exists():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives -wal and -shm the same mode
        self._local = threading.local()  # .writing: this thread is inside a transaction (on the writer)
        self._write_lock = threading.Lock()
        try:
            self._writer = _connect(path)
            version = self._writer.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(f"{path}: written by a newer vpsmcp (schema {version}); upgrade vpsmcp to read it")
            if version < SCHEMA_VERSION:
                with self._writing():
                    self._writer.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            tables = {row[0] for row in self._writer.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if missing := [sql for name, sql in ADDED.items() if name not in tables]:
                with self._writing():
                    self._writer.executescript("BEGIN IMMEDIATE; " + "; ".join(missing) + "; COMMIT;")
            self._reader = _connect(path)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: not a usable vpsmcp OAuth store ({exc}); move it away to start empty") from None
        self._seen = {"reader": -1, "writer": -1}  # each connection's data_version when the cache was last checked
        self._start_cache()

    # -- clients -----------------------------------------------------------------
    def client(self, client_id: str) -> Client | None:
        row = self._one("SELECT record FROM clients WHERE client_id = ?", client_id)
        return None if row is None else Client.from_json(json.loads(row[0]))

    def clients(self) -> list[Client]:
        return [Client.from_json(json.loads(r[0])) for r in self._all("SELECT record FROM clients ORDER BY created_at")]

    def add_client(self, client: Client) -> None:
        with self.transaction():
            self._execute("INSERT OR REPLACE INTO clients VALUES (?, ?, ?, "
                          "EXISTS (SELECT 1 FROM families WHERE client_id = ?1))",
                          client.client_id, client.created_at, json.dumps(client.to_json()))

    def remove_client(self, client_id: str) -> bool:
        """Forget a client and revoke everything issued to it."""
        with self.transaction():
            if self._one("SELECT 1 FROM clients WHERE client_id = ?", client_id) is None:
                return False
            self._execute("DELETE FROM clients WHERE client_id = ?", client_id)
            self._revoke_where("client_id = ?", client_id)
        return True

    def unused_clients(self) -> list[Client]:
        rows = self._all("SELECT record FROM clients WHERE granted = 0 ORDER BY created_at")
        return [Client.from_json(json.loads(r[0])) for r in rows]

    # -- families ----------------------------------------------------------------
    def family(self, family_id: str) -> Family | None:
        self._check_version()
        cached = self._families.get(family_id)
        if cached is not None:
            return cached
        return self._load("SELECT record, last_used_at FROM families WHERE id = ?", family_id)

    def families(self) -> list[Family]:
        rows = self._all("SELECT record, last_used_at FROM families ORDER BY created_at")
        return [_family(record, last_used) for record, last_used in rows]

    def save_family(self, family: Family) -> None:
        with self.transaction():
            record = family.to_json()
            last_used = record.pop("last_used_at")
            self._execute("INSERT OR REPLACE INTO families VALUES (?, ?, ?, ?, ?, ?)", family.id, family.client_id,
                          family.created_at, family.revoked_at or family.refresh_expires_at, last_used,
                          json.dumps(record, separators=(",", ":")))
            self._execute("UPDATE clients SET granted = 1 WHERE client_id = ? AND granted = 0", family.client_id)
            # only what changed: a rotation adds two digests and drops a few, not the grant's whole history
            wanted = {**dict.fromkeys(family.access, "access"), **dict.fromkeys((*family.live, *family.retired), "refresh")}
            stored = dict(self._all("SELECT digest, kind FROM tokens WHERE family_id = ?", family.id))
            with self._writing():
                self._db.executemany("DELETE FROM tokens WHERE digest = ?",
                                     [(d,) for d, kind in stored.items() if wanted.get(d) != kind])
                self._db.executemany("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)",
                                     [(d, family.id, kind) for d, kind in wanted.items() if stored.get(d) != kind])
            self._forget(family.id)
            self._remember(family)

    def has_live_grant(self, client_id: str, now: float) -> bool:
        rows = self._all("SELECT record, last_used_at FROM families WHERE client_id = ?", client_id)
        return any(not _family(record, last_used).expired(now) for record, last_used in rows)

    def ended_before(self, before: float) -> list[Family]:
        rows = self._all("SELECT record, last_used_at FROM families WHERE ended_at < ?", before)
        return [_family(record, last_used) for record, last_used in rows]

    def revoke_family(self, family: Family) -> bool:
        """Revoke ``family`` as the database has it now (another process may have changed it)."""
        with self.transaction():
            return self._revoke_where("id = ?", family.id) > 0

    def revoke(self, where: Callable[[Family], bool]) -> int:
        """Revoke, durably, every live grant ``where`` picks; how many."""
        with self.transaction():
            chosen = [f for f in self.families() if f.revoked_at is None and where(f)]
            now = time.time()
            for family in chosen:
                family.revoke(now)
                self.save_family(family)
            return len(chosen)

    def drop(self, client_ids: Iterable[str], family_ids: Iterable[str]) -> None:
        """Remove swept records for good."""
        with self.transaction():
            for client_id in client_ids:
                self._execute("DELETE FROM clients WHERE client_id = ?", client_id)
            holders: set[str] = set()
            for family_id in family_ids:
                holders.update(r[0] for r in self._all("SELECT client_id FROM families WHERE id = ?", family_id))
                self._execute("DELETE FROM families WHERE id = ?", family_id)
                self._execute("DELETE FROM tokens WHERE family_id = ?", family_id)
                self._forget(family_id)
            for client_id in holders:  # a client whose last grant went is unused again (the caps count it)
                self._execute("UPDATE clients SET granted = 0 WHERE client_id = ? AND "
                              "NOT EXISTS (SELECT 1 FROM families WHERE client_id = ?1)", client_id)

    # -- authorization codes, for every instance (codes.SharedCodeBook) --------------------
    def put_code(self, key: str, record: dict[str, Any], expires_at: float, forget_at: float) -> None:
        with self.transaction():
            self._execute("INSERT OR REPLACE INTO codes VALUES (?, ?, ?, ?, NULL)", key, json.dumps(record),
                          expires_at, forget_at)

    def take_code(self, key: str, forget_at: float) -> dict[str, Any] | None:
        """The code's record, spent now whatever comes of the exchange; ``None`` if unknown or spent."""
        with self.transaction():
            row = self._one("SELECT record FROM codes WHERE digest = ?", key)
            if row is None or row[0] is None:
                return None
            self._execute("UPDATE codes SET record = NULL, forget_at = ? WHERE digest = ?", forget_at, key)
        record: dict[str, Any] = json.loads(row[0])
        return record

    def code_issued(self, key: str, grant_id: str) -> None:
        with self.transaction():
            self._execute("UPDATE codes SET grant_id = ? WHERE digest = ? AND record IS NULL", grant_id, key)

    def code_grant(self, key: str) -> str | None:
        row = self._one("SELECT grant_id FROM codes WHERE digest = ? AND record IS NULL", key)
        return None if row is None else row[0]

    def sweep_codes(self, now: float) -> None:
        with self.transaction():
            self._execute("DELETE FROM codes WHERE (record IS NOT NULL AND expires_at <= ?) OR "
                          "(record IS NULL AND forget_at <= ?)", now, now)

    # -- failed owner logins, counted for every instance (owner.SharedLoginLimiter) ----------------
    def login_failures(self, address: str) -> tuple[int, float]:
        row = self._one("SELECT count, last FROM login_failures WHERE address = ?", address)
        return (0, 0.0) if row is None else (int(row[0]), float(row[1]))

    def login_failed(self, address: str, now: float) -> None:
        with self.transaction():
            self._execute("DELETE FROM login_failures WHERE last < ?", now - FAILURE_MEMORY)
            self._execute("INSERT INTO login_failures VALUES (?, 1, ?) ON CONFLICT (address) DO UPDATE "
                          "SET count = count + 1, last = excluded.last", address, now)

    def login_succeeded(self, address: str) -> None:
        with self.transaction():
            self._execute("DELETE FROM login_failures WHERE address = ?", address)

    # -- client metadata documents, for every instance (cimd.DocumentShelf) ----------------
    def put_document(self, client_id: str, record: dict[str, Any], expires_at: float) -> None:
        with self.transaction():
            self._execute("DELETE FROM documents WHERE expires_at < ?", time.time() - DOCUMENT_MEMORY)
            self._execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)", client_id, json.dumps(record), expires_at)

    def document(self, client_id: str) -> tuple[dict[str, Any], float] | None:
        row = self._one("SELECT record, expires_at FROM documents WHERE client_id = ?", client_id)
        return None if row is None else (dict(json.loads(row[0])), float(row[1]))

    # -- handshake-era sessions, for every instance (saved_sessions.SessionShelf) ----------------
    def put_session(self, key: str, record: dict[str, Any], saved_at: float) -> None:
        with self.transaction():
            self._execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", key, saved_at, json.dumps(record))

    def session(self, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT record FROM sessions WHERE id_hash = ?", key)
        return None if row is None else dict(json.loads(row[0]))

    def has_session(self, key: str) -> bool:
        return self._one("SELECT 1 FROM sessions WHERE id_hash = ?", key) is not None

    def drop_session(self, key: str) -> None:
        with self.transaction():
            self._execute("DELETE FROM sessions WHERE id_hash = ?", key)

    def sweep_sessions(self, now: float) -> None:
        with self.transaction():
            self._execute("DELETE FROM sessions WHERE saved_at < ?", now - SESSION_MEMORY)

    # -- bookkeeping ---------------------------------------------------------------
    def flush(self) -> None:
        """Write pending last-use times (their own column: a record another process changed stays as it is)."""
        if not self._touched:
            return
        touched = self._take_touched()
        with self.transaction(), self._writing():
            self._db.executemany(
                "UPDATE families SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                [(at, family_id) for family_id, at in touched.items()])

    def refresh(self, now: float, force: bool = False) -> None:
        """Nothing to do: every lookup sees other processes' commits (``data_version``)."""

    def close(self) -> None:
        with contextlib.suppress(StateError):
            self.flush()
        self._reader.close()
        self._writer.close()

    @property
    def _db(self) -> sqlite3.Connection:
        """The writer inside this thread's transaction, else the reader."""
        return self._writer if getattr(self._local, "writing", False) else self._reader

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One change, made under the database's write lock (``BEGIN IMMEDIATE``) on the writer, one
        thread at a time; nested ones join it."""
        if getattr(self._local, "writing", False):
            yield
            return
        with self._write_lock:
            self._local.writing = True
            try:
                with self._writing():
                    self._writer.execute("BEGIN IMMEDIATE")
                try:
                    self._check_version()  # another process may have committed while we waited for the lock
                    yield
                    with self._writing():
                        self._writer.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._writer.execute("ROLLBACK")
                    self._drop_cache()  # what was changed in memory for the rolled-back transaction goes too
                    raise
            finally:
                self._local.writing = False

    # -- the cache -------------------------------------------------------------------
    def _by_token(self, token_digest: str, kind: str) -> Family | None:
        self._check_version()
        cached = self._by_digest.get(token_digest)
        if cached is not None:
            return cached
        return self._load("SELECT f.record, f.last_used_at FROM tokens t JOIN families f ON f.id = t.family_id "
                          "WHERE t.digest = ? AND t.kind = ?", token_digest, kind)

    def _load(self, sql: str, *args: Any) -> Family | None:
        row = self._one(sql, *args)
        if row is None:
            return None
        family = _family(*row)
        cached = self._families.get(family.id)
        if cached is not None:
            return cached
        self._remember(family)
        return family

    def _drop_cache(self) -> None:
        self._clear()
        self._seen = {"reader": -1, "writer": -1}

    def _check_version(self) -> None:
        """Drop the cache if another connection (another process's, or this store's writer for the
        reader) committed since this connection last looked."""
        which = "writer" if getattr(self._local, "writing", False) else "reader"
        version = int(self._one("PRAGMA data_version")[0])
        if version != self._seen[which]:
            self._clear()
            self._seen[which] = version

    def _revoke_where(self, condition: str, arg: str) -> int:
        rows = self._all(f"SELECT record, last_used_at FROM families WHERE {condition}", arg)  # noqa: S608
        now = time.time()
        count = 0
        for record, last_used in rows:
            family = _family(record, last_used)
            if family.revoke(now):
                self._forget(family.id)
                self.save_family(family)
                count += 1
        return count

    # -- SQL, with errors as StateError ------------------------------------------------
    def _one(self, sql: str, *args: Any) -> Any:
        with self._reading():
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[Any]:
        with self._reading():
            return self._db.execute(sql, args).fetchall()

    def _execute(self, sql: str, *args: Any) -> None:
        with self._writing():
            self._db.execute(sql, args)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot be read: {exc}") from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot be written: {exc}") from None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _family(record: str, last_used_at: float | None) -> Family:
    return Family.from_json({**json.loads(record), "last_used_at": last_used_at})
