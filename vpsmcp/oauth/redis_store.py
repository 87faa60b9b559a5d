"""The ``redis`` backend: clients and token families in Redis or Valkey, shared by instances on several machines.

``[store] url`` names the server (``redis://``, ``rediss://`` for TLS,
``unix:///path``; a password and a database number come in the URL, as
redis-py reads them) and ``prefix`` starts every key, so one server can hold
several vpsmcp stores. Keys (``P`` is the prefix):

- ``P:client:ID`` the client record (JSON); ``P:clients`` and ``P:unused``
  sorted sets of client ids by creation (``unused``: holding no grant);
- ``P:family:ID`` a hash (``record`` JSON, ``last_used_at``, ``client_id``);
  ``P:families`` by creation, ``P:ended`` by the time the grant ends (what the
  sweep reads), ``P:grants:CLIENT`` the client's family ids,
  ``P:tokens:ID`` the family's token digests (digest → kind) and
  ``P:token:DIGEST`` → ``kind family-id``; all of a family's keys expire a
  day after the sweep would have dropped them, should no sweep run;
- ``P:code:DIGEST`` and ``P:spent:DIGEST``, ``P:login:ADDRESS``,
  ``P:session:HASH``, ``P:document:URL``: codes, failed logins, shared
  sessions and client metadata documents, each with the
  lifetime it has in the store (Redis expires them; nothing sweeps);
- ``P:lock`` and ``P:version``: see below.

``transaction`` takes ``P:lock`` (``SET NX PX``, a random value, released only
by its holder) and sends every write made inside it as one ``MULTI``/``EXEC``
that also increments ``P:version``: other instances see all of the change or
none of it, and a token request holds the lock from reading the refresh token
to storing its successor, so two instances never both rotate it. The ``EXEC``
watches the lock: a holder that stalled past the lock's life gets a
``StateError`` (503) instead of writing over its successor. Each instance
caches the families it looked up and drops the cache when ``P:version`` moved.
A code is spent by one script (``GETDEL`` and the spent mark together).

An unreachable server is a ``StateError`` naming the URL (its password
hidden) and the cause: at start ``serve`` stops with it, during traffic that
request is answered 503. The store's calls run on the event loop, so a server
that stops answering (a machine gone, not one refusing connections) would hold
every request for the timeout: after the first connection error or timeout
the store is marked down, every call fails at once (503), and a thread pings
the server every half second until it answers again, when calls resume.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from vpsmcp.errors import StateError
from vpsmcp.oauth.family_cache import FamilyCache
from vpsmcp.oauth.records import RETAIN_ENDED, Client, Family

TIMEOUT = 2.0  # seconds a command (or a connect) may take before the request is answered 503
PROBE_EVERY = 0.5  # seconds between pings while the server is down
LOCK_MS = 1_000  # the write lock's life: a holder stalled longer loses it (and its change); a transaction takes ms
LOCK_WAIT = 3.0  # how long a write waits for another's transaction before a 503: past a killed holder's lock
FAILURE_MEMORY = 3_600  # as sqlite_store's
SESSION_MEMORY = 86_400
DOCUMENT_MEMORY = 7 * 86_400  # a document serves stale this long past its time (cimd.MAX_STALE)
KEEP_AFTER_END = int(RETAIN_ENDED) + 86_400  # a family's keys outlive the sweep's retention by a day, should none run

# KEYS[1] the code, KEYS[2] its spent mark; ARGV[1] when the mark is forgotten (unix seconds)
TAKE_CODE = """
local record = redis.call('GETDEL', KEYS[1])
if record then redis.call('SET', KEYS[2], '', 'EXAT', ARGV[1]) end
return record
"""
# KEYS[1] the lock; ARGV[1] the holder's value
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# KEYS the families' hashes; ARGV their last-use times: only families that still exist, never backwards
TOUCH = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local was = tonumber(redis.call('HGET', key, 'last_used_at') or '0') or 0
    if tonumber(ARGV[i]) > was then redis.call('HSET', key, 'last_used_at', ARGV[i]) end
  end
end
return 0
"""


def shown(url: str) -> str:
    """``url`` with its password hidden, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisStore(FamilyCache):
    """``OAuthStore`` (and the shelves instances share) on one Redis or Valkey server (see the module docstring)."""

    remote = True  # every call is a round trip: the bearer check runs off the event loop too (serialized.py)

    def __init__(self, url: str, prefix: str = "vpsmcp") -> None:
        self.url = shown(url)
        self.prefix = prefix
        self._down: str | None = None  # why the server is taken for down (a thread pings it meanwhile)
        self._down_lock = threading.Lock()
        self._closed = threading.Event()
        try:
            # one retry, on a connection error only: a pooled connection that a Redis restart closed
            options = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT,
                       "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))}
            self._redis: Any = redis.Redis.from_url(url, decode_responses=True, **options)  # typed loosely
            self._prober: Any = redis.Redis.from_url(url, **options)  # the down-detector's own connections
        except ValueError as exc:
            raise StateError(f"{self.url}: not a Redis URL ({exc})") from None
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise StateError(f"{self.url}: cannot be reached: {_cause(exc)}") from None
        self._take_code = self._redis.register_script(TAKE_CODE)
        self._release = self._redis.register_script(RELEASE)
        self._touch_script = self._redis.register_script(TOUCH)
        self._tx = _Transaction()  # this thread's open transaction, if any
        self._write_lock = threading.Lock()  # one transaction at a time in this process (the Redis lock: across)
        self._version: str | None = "-"
        self._start_cache()
        self._orphan: tuple[str, str] | None = None  # our lock, left held because Redis went away at the release

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- clients -----------------------------------------------------------------
    def client(self, client_id: str) -> Client | None:
        with self._reading():
            record = self._redis.get(self.key("client", client_id))
        return None if record is None else Client.from_json(json.loads(record))

    def clients(self) -> list[Client]:
        return self._clients_in("clients")

    def add_client(self, client: Client) -> None:
        with self.transaction():
            with self._reading():
                granted = self._redis.exists(self.key("grants", client.client_id))
            self._tx.pipe.set(self.key("client", client.client_id), json.dumps(client.to_json()))
            self._tx.pipe.zadd(self.key("clients"), {client.client_id: client.created_at})
            if not granted:
                self._tx.pipe.zadd(self.key("unused"), {client.client_id: client.created_at})

    def remove_client(self, client_id: str) -> bool:
        """Forget a client and revoke everything issued to it."""
        with self.transaction():
            if self.client(client_id) is None:
                return False
            self._tx.pipe.delete(self.key("client", client_id))
            self._tx.pipe.zrem(self.key("clients"), client_id)
            self._tx.pipe.zrem(self.key("unused"), client_id)
            self._revoke_all(self._families_of(client_id))
        return True

    def unused_clients(self) -> list[Client]:
        return self._clients_in("unused")

    # -- families ----------------------------------------------------------------
    def family(self, family_id: str) -> Family | None:
        self._check_version()
        cached = self._families.get(family_id)
        if cached is not None:
            return cached
        return self._load(family_id)

    def families(self) -> list[Family]:
        with self._reading():
            ids = self._redis.zrange(self.key("families"), 0, -1)
        return self._fetch(ids)

    def save_family(self, family: Family) -> None:
        with self.transaction():
            record = family.to_json()
            last_used = record.pop("last_used_at")
            ended = family.revoked_at or family.refresh_expires_at
            expires = int(ended) + KEEP_AFTER_END
            key, tokens = self.key("family", family.id), self.key("tokens", family.id)
            fields = {"record": json.dumps(record, separators=(",", ":")), "client_id": family.client_id}
            self._tx.pipe.hset(key, mapping={**fields, **({"last_used_at": last_used} if last_used else {})})
            self._tx.pipe.zadd(self.key("families"), {family.id: family.created_at})
            self._tx.pipe.zadd(self.key("ended"), {family.id: ended})
            self._tx.pipe.sadd(self.key("grants", family.client_id), family.id)
            self._tx.pipe.zrem(self.key("unused"), family.client_id)
            # only what changed: a rotation adds two digests and drops a few, not the grant's whole history
            wanted = {**dict.fromkeys(family.access, "access"), **dict.fromkeys((*family.live, *family.retired), "refresh")}
            stored = self._tx.pending.get(family.id)
            if stored is None:
                with self._reading():
                    stored = self._redis.hgetall(tokens)
            gone = [d for d, kind in stored.items() if wanted.get(d) != kind]
            if gone:
                self._tx.pipe.hdel(tokens, *gone)
                self._tx.pipe.delete(*(self.key("token", d) for d in gone))
            for d, kind in wanted.items():
                self._tx.pipe.set(self.key("token", d), f"{kind} {family.id}", exat=expires)
            added = {d: kind for d, kind in wanted.items() if stored.get(d) != kind}
            if added:
                self._tx.pipe.hset(tokens, mapping=added)
            for k in (key, tokens):
                self._tx.pipe.expireat(k, expires)
            self._tx.pending[family.id] = wanted
            self._forget(family.id)
            self._remember(family)

    def has_live_grant(self, client_id: str, now: float) -> bool:
        return any(not f.expired(now) for f in self._families_of(client_id))

    def ended_before(self, before: float) -> list[Family]:
        with self._reading():
            ids = self._redis.zrangebyscore(self.key("ended"), "-inf", f"({before}")
        return self._fetch(ids)

    def revoke_family(self, family: Family) -> bool:
        """Revoke ``family`` as the store has it now (another instance may have changed it)."""
        with self.transaction():
            self._forget(family.id)
            current = self._load(family.id)
            return current is not None and self._revoke_all([current]) > 0

    def revoke(self, where: Callable[[Family], bool]) -> int:
        """Revoke, durably, every live grant ``where`` picks; how many."""
        with self.transaction():
            return self._revoke_all([f for f in self.families() if f.revoked_at is None and where(f)])

    def drop(self, client_ids: Iterable[str], family_ids: Iterable[str]) -> None:
        """Remove swept records for good."""
        with self.transaction():
            for client_id in client_ids:
                self._tx.pipe.delete(self.key("client", client_id))
                for index in ("clients", "unused"):
                    self._tx.pipe.zrem(self.key(index), client_id)
            emptied: dict[str, set[str]] = {}
            for family_id in family_ids:
                with self._reading():
                    holder = self._redis.hget(self.key("family", family_id), "client_id")
                    digests = self._redis.hkeys(self.key("tokens", family_id))
                if holder:
                    emptied.setdefault(holder, set()).add(family_id)
                    self._tx.pipe.srem(self.key("grants", holder), family_id)
                self._tx.pipe.delete(self.key("family", family_id), self.key("tokens", family_id),
                                  *(self.key("token", d) for d in digests))
                for index in ("families", "ended"):
                    self._tx.pipe.zrem(self.key(index), family_id)
                self._forget(family_id)
            for client_id, dropped in emptied.items():  # a client whose last grant went is unused again
                with self._reading():
                    left = set(self._redis.smembers(self.key("grants", client_id))) - dropped
                    created = self._redis.zscore(self.key("clients"), client_id)
                if not left and created is not None:
                    self._tx.pipe.zadd(self.key("unused"), {client_id: created})

    # -- authorization codes, for every instance (codes.SharedCodeBook) --------------------
    def put_code(self, key: str, record: dict[str, Any], expires_at: float, forget_at: float) -> None:
        with self._writing():
            self._redis.set(self.key("code", key), json.dumps(record), exat=_later(expires_at))

    def take_code(self, key: str, forget_at: float) -> dict[str, Any] | None:
        """The code's record, spent now whatever comes of the exchange; ``None`` if unknown or spent."""
        with self._writing():
            raw = self._take_code(keys=[self.key("code", key), self.key("spent", key)], args=[_later(forget_at)])
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    def code_issued(self, key: str, grant_id: str) -> None:
        with self._writing():
            self._redis.set(self.key("spent", key), grant_id, xx=True, keepttl=True)

    def code_grant(self, key: str) -> str | None:
        with self._reading():
            grant = self._redis.get(self.key("spent", key))
        return grant or None

    def sweep_codes(self, now: float) -> None:
        """Nothing to do: Redis expires codes and spent marks."""

    # -- failed owner logins, counted for every instance (owner.SharedLoginLimiter) ----------------
    def login_failures(self, address: str) -> tuple[int, float]:
        with self._reading():
            count, last = self._redis.hmget(self.key("login", address), ["count", "last"])
        return (0, 0.0) if count is None else (int(count), float(last or 0))

    def login_failed(self, address: str, now: float) -> None:
        key = self.key("login", address)
        with self._writing():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hincrby(key, "count", 1).hset(key, "last", now).expire(key, FAILURE_MEMORY)
            pipe.execute()

    def login_succeeded(self, address: str) -> None:
        with self._writing():
            self._redis.delete(self.key("login", address))

    # -- client metadata documents, for every instance (cimd.DocumentShelf) ----------------
    def put_document(self, client_id: str, record: dict[str, Any], expires_at: float) -> None:
        entry = json.dumps({"record": record, "expires_at": expires_at})
        with self._writing():
            self._redis.set(self.key("document", client_id), entry, exat=_later(expires_at + DOCUMENT_MEMORY))

    def document(self, client_id: str) -> tuple[dict[str, Any], float] | None:
        with self._reading():
            raw = self._redis.get(self.key("document", client_id))
        if raw is None:
            return None
        entry = json.loads(raw)
        return dict(entry["record"]), float(entry["expires_at"])

    # -- handshake-era sessions, for every instance (saved_sessions.SessionShelf) ----------------
    def put_session(self, key: str, record: dict[str, Any], saved_at: float) -> None:
        with self._writing():
            self._redis.set(self.key("session", key), json.dumps(record), exat=_later(saved_at + SESSION_MEMORY))

    def session(self, key: str) -> dict[str, Any] | None:
        with self._reading():
            raw = self._redis.get(self.key("session", key))
        return None if raw is None else dict(json.loads(raw))

    def has_session(self, key: str) -> bool:
        with self._reading():
            return bool(self._redis.exists(self.key("session", key)))

    def drop_session(self, key: str) -> None:
        with self._writing():
            self._redis.delete(self.key("session", key))

    def sweep_sessions(self, now: float) -> None:
        """Nothing to do: Redis expires shared sessions."""

    # -- bookkeeping ---------------------------------------------------------------
    def flush(self) -> None:
        """Write pending last-use times (only to families that still exist, never backwards)."""
        if not self._touched:
            return
        touched = self._take_touched()
        with self._writing():
            self._touch_script(keys=[self.key("family", f) for f in touched], args=list(touched.values()))

    def refresh(self, now: float, force: bool = False) -> None:
        """Nothing to do: every lookup sees other instances' changes (``P:version``)."""

    def close(self) -> None:
        with contextlib.suppress(StateError):
            self.flush()
        self._closed.set()
        self._redis.close()
        self._prober.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One change, made under the store's write lock and sent as one ``MULTI``; nested ones join it."""
        if self._tx.pipe is not None:
            yield
            return
        with self._write_lock:
            yield from self._transaction()

    def _transaction(self) -> Iterator[None]:
        holder = secrets.token_hex(16)
        lock = self.key("lock")
        self._acquire(lock, holder)
        pipe: Any = None
        try:
            with self._writing():
                pipe = self._redis.pipeline(transaction=True)
                pipe.watch(lock)  # the EXEC fails if the lock expired and another instance took it
                pipe.multi()
                self._tx.pipe, self._tx.pending = pipe, {}
                self._check_version()  # another instance may have written while we waited for the lock
            yield
            with self._writing():
                if len(pipe):
                    pipe.incr(self.key("version"))
                    self._version = str(pipe.execute()[-1])  # this change's own: the cache holds it
                else:
                    pipe.reset()
        except BaseException:
            if pipe is not None:
                with contextlib.suppress(redis.RedisError):
                    pipe.reset()
            self._drop_cache()  # what was changed in memory for the dropped transaction goes too
            raise
        finally:
            self._tx.pipe, self._tx.pending, self._tx.checked = None, {}, False
            self._orphan = (lock, holder)
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[lock], args=[holder])
                self._orphan = None

    def _acquire(self, lock: str, holder: str) -> None:
        if self._orphan is not None:  # a Redis restart kept our last lock: free it, not wait out its life
            with self._writing():
                self._release(keys=[self._orphan[0]], args=[self._orphan[1]])
            self._orphan = None
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            with self._writing():
                if self._redis.set(lock, holder, nx=True, px=LOCK_MS):
                    return
            if time.monotonic() > deadline:
                raise StateError(f"{self.url}: another instance holds the store's write lock ({lock}) too long")
            time.sleep(0.002)

    # -- the cache -------------------------------------------------------------------
    def _by_token(self, token_digest: str, kind: str) -> Family | None:
        self._check_version()
        cached = self._by_digest.get(token_digest)
        if cached is not None:
            return cached
        with self._reading():
            entry = self._redis.get(self.key("token", token_digest))
        if entry is None:
            return None
        stored_kind, family_id = entry.split(" ", 1)
        return self._load(family_id) if stored_kind == kind else None

    def _load(self, family_id: str) -> Family | None:
        found = self._fetch([family_id])
        if not found:
            return None
        cached = self._families.get(family_id)
        if cached is not None:
            return cached
        self._remember(found[0])
        return found[0]

    def _fetch(self, family_ids: list[str]) -> list[Family]:
        with self._reading():
            pipe = self._redis.pipeline(transaction=False)
            for family_id in family_ids:
                pipe.hmget(self.key("family", family_id), ["record", "last_used_at"])
            rows = pipe.execute() if family_ids else []
        return [_family(record, last_used) for record, last_used in rows if record is not None]

    def _families_of(self, client_id: str) -> list[Family]:
        with self._reading():
            ids = sorted(self._redis.smembers(self.key("grants", client_id)))
        return self._fetch(ids)

    def _clients_in(self, index: str) -> list[Client]:
        with self._reading():
            ids = self._redis.zrange(self.key(index), 0, -1)
            records = self._redis.mget([self.key("client", i) for i in ids]) if ids else []
        return [Client.from_json(json.loads(r)) for r in records if r is not None]

    def _revoke_all(self, families: list[Family]) -> int:
        now = time.time()
        count = 0
        for family in families:
            if family.revoke(now):
                self.save_family(family)
                count += 1
        return count

    def _drop_cache(self) -> None:
        self._clear()
        self._version = "-"

    def _check_version(self) -> None:
        if self._tx.pipe is not None and self._tx.checked:
            return  # under the lock nobody else writes; the cache holds this transaction's own changes
        with self._reading():
            version = self._redis.get(self.key("version"))
        self._tx.checked = self._tx.pipe is not None
        if version != self._version:
            self._clear()
            self._version = version

    # -- errors as StateError, and the server taken for down ----------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._calling("read"):
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._calling("written"):
            yield

    @contextlib.contextmanager
    def _calling(self, verb: str) -> Iterator[None]:
        if self._down is not None:
            raise StateError(f"{self.url}: cannot be {verb}: {self._down} (trying again every {PROBE_EVERY} s)")
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._mark_down(_cause(exc))
            raise StateError(f"{self.url}: cannot be {verb}: {_cause(exc)}") from None
        except redis.RedisError as exc:
            raise StateError(f"{self.url}: cannot be {verb}: {_cause(exc)}") from None

    def _mark_down(self, cause: str) -> None:
        with self._down_lock:
            if self._down is not None:
                return
            self._down = cause
        threading.Thread(target=self._probe, name="vpsmcp-redis-probe", daemon=True).start()

    def _probe(self) -> None:
        """Ping until the server answers (or the store is closed), then let calls through again."""
        while not self._closed.wait(PROBE_EVERY):
            try:
                self._prober.ping()
            except redis.RedisError:
                continue
            self._down = None
            return


class _Transaction(threading.local):
    """One thread's open transaction: its ``MULTI``, the token digests it wrote per family, and
    whether it has read the version since it took the lock."""

    def __init__(self) -> None:
        self.pipe: Any = None
        self.pending: dict[str, dict[str, str]] = {}
        self.checked = False


def _family(record: str, last_used_at: str | None) -> Family:
    return Family.from_json({**json.loads(record), "last_used_at": float(last_used_at) if last_used_at else None})


def _later(at: float) -> int:
    """A unix time for EXAT: whole seconds, never in the past (Redis would refuse or drop at once)."""
    return max(int(at) + 1, int(time.time()) + 1)


def _cause(exc: redis.RedisError) -> str:
    if isinstance(exc, redis.WatchError):
        return "the write lock expired during the change (nothing was written)"
    return str(exc) or type(exc).__name__
