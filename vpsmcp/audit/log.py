"""The audit log: every tool call, append-only and hash-chained, in the state directory.

Each call becomes one JSON line in ``audit.jsonl`` (0600): when, who (client
and token id), which tool with which arguments (secrets redacted, long values
summarised), how it ended, how long it took; for a fleet call, on the hub the
node it went to (``node``), on the node the hub's caller as the hub says it
(``on_behalf_of``: recorded, never trusted for access). Every record carries the hash of
the one before it (``prev``) and its own (``hash``: SHA-256 of the record's
canonical JSON without it), so an edited record breaks the chain. The newest
record's number and hash are also kept in ``audit.head`` (written atomically),
so records cut from the end are noticed too. When the file reaches
``audit.max_bytes`` it is renamed ``audit.jsonl.1`` (older ones shift up to
``audit.keep``) and the chain goes on in a fresh file.

A chain without a key shows accidents and clumsy edits; someone who can
rewrite the whole state directory can rewrite the chain too. Copy the head
hash that ``vpsmcp audit --verify`` prints somewhere else to pin it.

The promise: a call whose answer the client received is in the log. Each
record is chained and appended (one ``write`` to the open file, whole or not
at all: a short or failed write is cut back off) as the call ends and before
its answer leaves, so a crash of the process — SIGKILL included — loses no
acknowledged call: the kernel has the bytes. Making them durable against a
power cut is grouped: one syncer thread fsyncs at most every ``GROUP_WINDOW``
and rewrites the head at most once a second (and at shutdown) — a head that
lags is still a true record of the chain — so a power cut can lose the last
``GROUP_WINDOW`` of records, and nothing else. The event loop never waits on
an fsync.

The audit cannot be skipped. A value it could not encode (a lone surrogate)
is recorded escaped; if a record cannot be written (a full disk), the call's
answer is withheld and says so, and the next calls are refused, not run, until
a record can be written again (``AuditLog.admit``); the records that could
not be written wait in memory and are written first, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from vpsmcp.atomic import write_atomic
from vpsmcp.config.sections import AuditConfig
from vpsmcp.errors import StateError
from vpsmcp.protocol.jsonrpc import Request
from vpsmcp.protocol.outcomes import Answered

log = logging.getLogger("vpsmcp.audit")

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
LOCK_NAME = "audit.lock"  # held by the one process writing this chain
GENESIS = "0" * 64
REDACTED = "[redacted]"
GROUP_WINDOW = 0.05  # seconds the writer gathers records before one write + fsync (each wakes the thread)
HEAD_INTERVAL = 1.0  # seconds between two head updates under load
MAX_WAITING = 1000  # records kept in memory while the log cannot be written (then the oldest go)
MAX_STRING = 1000  # longer argument values are replaced by their length and hash
SECRET_KEYS = re.compile(r"pass(word|wd|phrase)?|token|secret|key|auth|cookie|credential|private", re.IGNORECASE)


def redact(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced and long strings summarised."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEYS.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return f"[{len(value)} characters, sha256 {digest[:16]}]"
    return value


def escaped(value: Any) -> Any:
    """``value`` with lone surrogates (which UTF-8 cannot carry) written out as ``\\udXXX`` text."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(record: dict[str, Any]) -> str:
    """The one JSON spelling of ``record`` that hashes are taken over."""
    return _CANONICAL.encode(record)  # one encoder: json.dumps with options builds one per call


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record without its own ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def log_files(directory: Path) -> list[Path]:
    """The audit files that exist, oldest first (``audit.jsonl.N`` … ``audit.jsonl``)."""
    rotated = sorted(
        (p for p in directory.glob(LOG_NAME + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]), reverse=True,
    )
    current = directory / LOG_NAME
    return rotated + ([current] if current.exists() else [])


class AuditUnavailable(StateError):
    """The audit log cannot be written now; no call may run unrecorded."""


class AuditLog:
    """Appends records to the chain as calls end; a syncer thread makes them durable in groups."""

    def __init__(self, directory: Path, config: AuditConfig, instance: str = "") -> None:
        self.directory = directory
        self.config = config
        self.instance = instance
        self.path = directory / LOG_NAME
        self._owner = _own(directory)
        self._seq, self._prev, self._torn = _last_record(directory)
        self._lock = threading.Condition()  # the chain, the file and its size; the syncer waits on it
        self._sync_lock = threading.Lock()  # held across an fsync, so rotation never closes a file being synced
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self._unsynced = False
        self._closed = False
        self._head_written = 0.0
        self._second: tuple[int, str] = (-1, "")  # the last whole second stamped, formatted
        self.broken: str | None = None  # why the last write failed, until one succeeds
        self._waiting: list[dict[str, Any]] = []  # records not written yet, oldest first
        self.lost = 0  # records dropped after MAX_WAITING waited
        self._thread = threading.Thread(target=self._sync_groups, name="vpsmcp-audit", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, directory: Path, config: AuditConfig, instance: str = "") -> AuditLog:
        """The audit log in ``directory`` (the state directory, or an instance's own), ready to chain on;
        each record names ``instance`` when there are several. One process writes a chain: a second is
        refused, naming the setting that keeps instances apart."""
        try:
            return cls(directory, config, instance)
        except OSError as exc:
            raise StateError(f"audit log in {directory}: {exc.strerror or exc}") from None

    def admit(self, request: Request) -> str | None:
        """``None`` when a call may run; else why not. Records that could not be written are tried
        again first, in order: once the disk has room, they are in the log and calls run again.
        Only ``tools/call`` is audited: anything else may always run."""
        if request.method != "tools/call":
            return None
        if self._waiting:
            with self._lock:
                with contextlib.suppress(AuditUnavailable):
                    self._write_waiting()
        return self.broken

    def answered(self, answer: Answered) -> None:
        """Chain and write a ``tools/call`` (the dispatcher's observer, before the answer leaves);
        ``AuditUnavailable`` if it cannot be written. ``status`` is the outcome's word."""
        if answer.method != "tools/call":
            return
        self.append({
            "time": self._timestamp(time.time()),
            "client": answer.client_id, "token": answer.token_id, "tool": answer.name,
            "arguments": redact(answer.arguments), "status": answer.outcome.value,
            "error": answer.detail[:MAX_STRING] if answer.detail else None,
            "duration_ms": round(answer.duration * 1000, 3),
            **({"instance": self.instance} if self.instance else {}),
            **({"node": answer.host} if answer.host else {}),
            **({"on_behalf_of": answer.on_behalf_of} if answer.on_behalf_of else {}),
        })

    def _timestamp(self, now: float) -> str:
        """``now`` in ISO 8601 UTC with milliseconds, as ``datetime.isoformat(timespec="milliseconds")``
        spells it; the date and time of day are formatted once a second, not once a call."""
        second = int(now)
        if second != self._second[0]:
            self._second = (second, datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{self._second[1]}.{int((now - second) * 1000):03d}+00:00"

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Chain ``fields`` onto the log and write it; ``AuditUnavailable`` if it cannot be written now
        (it is kept, and written first once it can be: the chain never has a gap)."""
        with self._lock:
            if len(self._waiting) >= MAX_WAITING:
                self._waiting.pop(0)
                self.lost += 1
                log.error("the audit log could not be written for %d records: the oldest was dropped", MAX_WAITING)
            self._waiting.append(escaped(fields))
            return self._write_waiting()

    def _write_waiting(self) -> dict[str, Any]:
        """Write the records waiting, oldest first (holding ``_lock``); the last one written."""
        record: dict[str, Any] = {}
        while self._waiting:
            record = {"seq": self._seq + 1, **self._waiting[0], "prev": self._prev}
            body = canonical(record)
            record["hash"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
            self._write(f'{body[:-1]},"hash":"{record["hash"]}"}}\n'.encode())  # one encoding, not two
            self._waiting.pop(0)
            self._seq, self._prev = record["seq"], record["hash"]
        if self._closed:  # the syncer has stopped: a call cancelled during shutdown
            self._sync(self._fd, (self._seq, self._prev), final=True)
        elif not self._unsynced:
            self._unsynced = True
            self._lock.notify()
        return record

    def _write(self, line: bytes) -> None:
        """Append ``line`` whole, or leave the file as it was and raise ``AuditUnavailable``."""
        try:
            if self._size > 0 and self._size + len(line) > self.config.max_bytes:
                self._rotate()
            if self._torn:
                line = b"\n" + line  # after a torn line left by a crash: start a line of our own
            written = 0
            try:
                while written < len(line):
                    n = os.write(self._fd, line[written:])
                    if n == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    written += n
            except OSError:
                if written:
                    os.ftruncate(self._fd, self._size)  # no torn record: cut the part that got in
                raise
        except OSError as exc:
            if self.broken is None:
                log.error("cannot write the audit log %s: %s", self.path, exc.strerror or exc)
            self.broken = f"the audit log {self.path} cannot be written: {exc.strerror or exc}"
            raise AuditUnavailable(self.broken) from None
        self._size += written
        self._torn = False
        if self.broken is not None:
            log.warning("the audit log %s can be written again", self.path)
            self.broken = None

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _rotate(self) -> None:
        """Start a new file (holding ``_lock``): the old one synced, renamed ``.1``, older ones shifted up."""
        with self._sync_lock:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            (self.directory / f"{LOG_NAME}.{self.config.keep}").unlink(missing_ok=True)
            for n in range(self.config.keep - 1, 0, -1):
                older = self.directory / f"{LOG_NAME}.{n}"
                if older.exists():
                    older.rename(self.directory / f"{LOG_NAME}.{n + 1}")
            self.path.rename(self.directory / f"{LOG_NAME}.1")
            self._fd, self._size, self._torn = self._open(), 0, False

    def _sync_groups(self) -> None:
        """The syncer: after each burst of records, one fsync and (at most once a second) the head."""
        while True:
            with self._lock:
                while not self._unsynced and not self._closed:
                    self._lock.wait()
                if not self._closed:
                    self._lock.wait(GROUP_WINDOW)  # let the group grow; close() cuts this short
                self._unsynced = False
                fd, head, closed = self._fd, (self._seq, self._prev), self._closed
            self._sync(fd, head, final=closed)
            if closed:
                return

    def _sync(self, fd: int, head: tuple[int, str], final: bool) -> None:
        try:
            with self._sync_lock:
                if fd == self._fd and fd >= 0:  # else rotation synced it already
                    os.fsync(fd)
            if head[0] > 0 and (final or time.monotonic() - self._head_written >= HEAD_INTERVAL):
                write_atomic(self.directory / HEAD_NAME, canonical({"seq": head[0], "hash": head[1]}).encode())
                self._head_written = time.monotonic()
        except OSError as exc:
            log.error("could not sync the audit log %s: %s", self.path, exc.strerror or exc)

    def close(self) -> None:
        """Sync what is written and the head, and stop the syncer; a record after this is synced at once."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self._owner)  # the chain is free for the next process

    async def aclose(self) -> None:
        """``close`` from the event loop (at shutdown), without blocking it."""
        await asyncio.to_thread(self.close)


def _own(directory: Path) -> int:
    """An exclusive lock on ``directory``'s audit chain for this process's life (the descriptor is kept)."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateError(f"another vpsmcp is writing the audit log in {directory}: give each instance that shares "
                         "a state directory its own name (serve --instance NAME, or [server] instance)") from None
    return fd


def _last_record(directory: Path) -> tuple[int, str, bool]:
    """(seq, hash) of the newest complete record, or (0, GENESIS) for a new log; and whether the
    current file ends in a torn line.

    A torn last line (a crash mid-write) is left where it is for ``--verify`` to
    report; the next record starts on a new line and chains to the last good one.
    Nothing is written here, so a server can start on a full disk.
    """
    current = directory / LOG_NAME
    torn = False
    if current.exists():
        data = current.read_bytes()
        torn = bool(data) and not data.endswith(b"\n")
    for path in reversed(log_files(directory)):
        data = path.read_bytes()
        for line in reversed(data.splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str):
                return record["seq"], record["hash"], torn
    return 0, GENESIS, torn
