"""The audit log: every tool call, append-only and hash-chained, in the state directory.

Each call becomes one JSON line in ``audit.jsonl`` (0600): when, who (client
and token id), which tool with which arguments (secrets redacted, long values
summarised), how it ended, how long it took. Every record carries the hash of
the one before it (``prev``) and its own (``hash``: SHA-256 of the record's
canonical JSON without it), so an edited record breaks the chain. The newest
record's number and hash are also kept in ``audit.head`` (written atomically),
so records cut from the end are noticed too. When the file reaches
``audit.max_bytes`` it is renamed ``audit.jsonl.1`` (older ones shift up to
``audit.keep``) and the chain goes on in a fresh file.

A chain without a key shows accidents and clumsy edits; someone who can
rewrite the whole state directory can rewrite the chain too. Copy the head
hash that ``vpsmcp audit --verify`` prints somewhere else to pin it.

Records are chained in call order as calls end (a hash of a few hundred
bytes), and written by one writer thread, so a call never waits on the disk
and the event loop never blocks. The writer commits in groups: it gathers
for ``GROUP_WINDOW`` after the first record, then writes the group with one
write and one fsync, and rewrites the head at most once a second (and at
shutdown) — a head that lags is still a true record of the chain. So the
log keeps up with thousands of calls a second, and the thread spends its
time in system calls, not holding the interpreter the server needs.
"""

from __future__ import annotations

import asyncio
import datetime
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
from vpsmcp.config import AuditConfig
from vpsmcp.errors import StateError
from vpsmcp.protocol.tool_calls import ToolCall

log = logging.getLogger("vpsmcp.audit")

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
GENESIS = "0" * 64
REDACTED = "[redacted]"
GROUP_WINDOW = 0.05  # seconds the writer gathers records before one write + fsync (each wakes the thread)
HEAD_INTERVAL = 1.0  # seconds between two head updates under load
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


class AuditLog:
    """Appends records to the chain; one writer thread keeps them in order."""

    def __init__(self, directory: Path, config: AuditConfig) -> None:
        self.directory = directory
        self.config = config
        self.path = directory / LOG_NAME
        self._seq, self._prev = _last_record(directory)
        self._queued: list[bytes] = []
        self._wake = threading.Condition()
        self._closed = False
        self._head_written = 0.0
        self._second: tuple[int, str] = (-1, "")  # the last whole second stamped, formatted
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._write_groups, name="vpsmcp-audit", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, directory: Path, config: AuditConfig) -> AuditLog:
        """The audit log of the state directory ``directory``, ready to chain on."""
        try:
            return cls(directory, config)
        except OSError as exc:
            raise StateError(f"audit log in {directory}: {exc.strerror or exc}") from None

    def record(self, call: ToolCall) -> None:
        """Chain ``call`` and queue it for writing (the dispatcher's observer); returns at once."""
        self.append({
            "time": self._timestamp(time.time()),
            "client": call.client_id, "token": call.token_id, "tool": call.tool,
            "arguments": redact(call.arguments), "status": call.status,
            "error": call.detail[:MAX_STRING] if call.detail else None,
            "duration_ms": round(call.duration * 1000, 3),
        })

    def _timestamp(self, now: float) -> str:
        """``now`` in ISO 8601 UTC with milliseconds, as ``datetime.isoformat(timespec="milliseconds")``
        spells it; the date and time of day are formatted once a second, not once a call."""
        second = int(now)
        if second != self._second[0]:
            self._second = (second, datetime.datetime.fromtimestamp(second, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{self._second[1]}.{int((now - second) * 1000):03d}+00:00"

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Chain ``fields`` onto the log; written by the writer (at once, once it has stopped)."""
        with self._wake:
            record = {"seq": self._seq + 1, **fields, "prev": self._prev}
            body = canonical(record)
            record["hash"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
            self._seq, self._prev = record["seq"], record["hash"]
            line = f'{body[:-1]},"hash":"{record["hash"]}"}}\n'.encode("utf-8")  # one encoding, not two
            if not self._closed:
                self._queued.append(line)
                if len(self._queued) == 1:
                    self._wake.notify()
                return record
            head = (self._seq, self._prev)
        self._commit([line], head, final=True)  # the writer has stopped: a call cancelled during shutdown
        return record

    def _write_groups(self) -> None:
        while True:
            with self._wake:
                while not self._queued and not self._closed:
                    self._wake.wait()
                if not self._closed:
                    self._wake.wait(GROUP_WINDOW)  # let the group grow; close() cuts this short
                group, self._queued = self._queued, []
                head, closed = (self._seq, self._prev), self._closed
            self._commit(group, head, final=closed)
            if closed:
                return

    def _commit(self, group: list[bytes], head: tuple[int, str], final: bool) -> None:
        """Write ``group`` durably; the head too if it is due (or ``final``)."""
        try:
            with self._write_lock:
                self._write_rotating(group)
                due = final or (group and time.monotonic() - self._head_written >= HEAD_INTERVAL)
                if due and head[0] > 0:
                    write_atomic(self.directory / HEAD_NAME, canonical({"seq": head[0], "hash": head[1]}).encode())
                    self._head_written = time.monotonic()
        except OSError as exc:
            log.error("could not write the audit log %s: %s", self.path, exc.strerror or exc)

    def _write_rotating(self, lines: list[bytes]) -> None:
        """Append ``lines``, starting a new file whenever the next line would pass ``max_bytes``."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        chunk: list[bytes] = []  # joined once: adding bytes to bytes copies the whole group each time
        for line in lines:
            if size > 0 and size + len(line) > self.config.max_bytes:
                self._write(b"".join(chunk))
                self._rotate()
                size, chunk = 0, []
            chunk.append(line)
            size += len(line)
        self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        if not data:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rotate(self) -> None:
        (self.directory / f"{LOG_NAME}.{self.config.keep}").unlink(missing_ok=True)
        for n in range(self.config.keep - 1, 0, -1):
            older = self.directory / f"{LOG_NAME}.{n}"
            if older.exists():
                older.rename(self.directory / f"{LOG_NAME}.{n + 1}")
        self.path.rename(self.directory / f"{LOG_NAME}.1")

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        with self._wake:
            head = (self._seq, self._prev)
        self._commit([], head, final=True)

    async def aclose(self) -> None:
        """``close`` from the event loop (at shutdown), without blocking it."""
        await asyncio.to_thread(self.close)


def _last_record(directory: Path) -> tuple[int, str]:
    """(seq, hash) of the newest complete record, or (0, GENESIS) for a new log.

    A torn last line (a crash mid-write) is left where it is for ``--verify`` to
    report; the next record starts on a new line and chains to the last good one.
    """
    for path in reversed(log_files(directory)):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "ab") as out:
                out.write(b"\n")
        for line in reversed(data.splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str):
                return record["seq"], record["hash"]
    return 0, GENESIS
