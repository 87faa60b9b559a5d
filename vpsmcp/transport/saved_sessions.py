"""Handshake-era sessions that outlive a restart of vpsmcp.

Claude's connector does not re-initialize after a 404 for its session
(claude-ai-mcp#450, claude-code#48557) and neither do the official SDK
clients: after ``systemctl restart vpsmcp`` or an upgrade they kept sending
the old ``Mcp-Session-Id`` and got 404 until restarted themselves. So a
graceful stop writes the open sessions — what ``initialize`` said and what
the client set since, never the id itself, only its SHA-256 — to
``sessions.json`` (0600), and the next start serves them again: a known id
with the same credential picks up where it was, its idle time counting the
time the server was down. The file is read once at start and removed; the
next graceful stop writes again what is open, and the kept sessions no
client has asked for yet, each until it would have expired. A crash
(SIGKILL, power) carries none: their clients get the 404 the spec prescribes. What does not survive:
streams (a client reconnects its GET stream), calls in flight and
server→client requests waiting for an answer.

Several instances behind one balancer share them instead, on a ``SessionShelf``
(the sqlite store): ``initialize`` puts its session there (again every half
idle timeout while it is used), so a request the balancer sends to another
instance — a new one, or one that took over from an instance that stopped or
died — is served there from what the shelf holds; a session the client ended
(DELETE) or that was evicted leaves the shelf with it, and every instance
holding a copy sees it gone at its next request (one lookup per request).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vpsmcp.atomic import write_atomic
from vpsmcp.protocol.session import Phase, Session

log = logging.getLogger("vpsmcp.transport")

FILE = "sessions.json"
FORMAT = 1


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(slots=True)
class SavedSession:
    """An open session as written at a graceful stop."""

    binding: str
    client: str | None
    idle: float  # seconds without a request, as of ``saved_at``
    saved_at: float  # wall-clock time of the stop
    version: str
    client_info: dict[str, Any] = field(default_factory=dict)
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    subscriptions: list[str] = field(default_factory=list)

    def idle_now(self, now: float) -> float:
        return self.idle + max(0.0, now - self.saved_at)

    def protocol(self) -> Session:
        return Session(version=self.version, phase=Phase.OPEN, client_info=self.client_info,
                       client_capabilities=self.client_capabilities, log_level=self.log_level, initialized=True,
                       subscriptions=set(self.subscriptions))


@runtime_checkable
class SessionShelf(Protocol):
    """Where the instances behind one balancer keep their sessions, by id hash."""

    def put_session(self, key: str, record: dict[str, Any], saved_at: float) -> None: ...
    def session(self, key: str) -> dict[str, Any] | None: ...
    def has_session(self, key: str) -> bool: ...
    def drop_session(self, key: str) -> None: ...


def shelved(record: dict[str, Any]) -> SavedSession | None:
    """A shelf's record as a ``SavedSession``; ``None`` for one this version does not read."""
    try:
        return SavedSession(**record)
    except TypeError:
        return None


def as_record(saved: SavedSession) -> dict[str, Any]:
    return {name: getattr(saved, name) for name in SavedSession.__slots__}


def snapshot(session_id: str, binding: str, client: str | None, protocol: Session, idle: float,
             now: float) -> tuple[str, SavedSession] | None:
    """What to write for one session (``None`` for one that is not open)."""
    if protocol.phase is not Phase.OPEN:
        return None
    return id_hash(session_id), SavedSession(binding, client, idle, now, protocol.version, protocol.client_info,
                                             protocol.client_capabilities, protocol.log_level,
                                             sorted(protocol.subscriptions))


def save(directory: Path, sessions: dict[str, SavedSession]) -> None:
    """Write ``sessions`` (by id hash) for the next start; nothing when there are none."""
    if not sessions:
        return
    body = {"format": FORMAT, "sessions": {key: as_record(saved) for key, saved in sessions.items()}}
    try:
        write_atomic(directory / FILE, json.dumps(body, ensure_ascii=True).encode())
    except OSError as exc:
        log.warning("could not keep %d session(s) for the next start (%s): their clients will "
                    "initialize again", len(sessions), exc.strerror or exc)
        return
    log.info("kept %d open session(s) for the next start", len(sessions))


def load(directory: Path, idle_timeout: float, now: float | None = None) -> dict[str, SavedSession]:
    """The sessions the last graceful stop kept that have not expired since; the file is removed."""
    path = directory / FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("cannot read %s (%s): the sessions of the last run are not served again", path, exc.strerror)
        return {}
    try:
        path.unlink()
    except OSError as exc:
        log.warning("cannot remove %s (%s): the sessions of the last run are not served again", path, exc.strerror)
        return {}
    now = time.time() if now is None else now
    try:
        body = json.loads(raw)
        if body.get("format") != FORMAT:
            raise ValueError(f"format {body.get('format')!r}")
        saved = {key: SavedSession(**value) for key, value in body["sessions"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("%s is not what vpsmcp writes (%s): the sessions of the last run are not served again", path, exc)
        return {}
    return {key: s for key, s in saved.items() if s.idle_now(now) <= idle_timeout}

