"""The session store of the handshake era's Streamable HTTP and legacy SSE transports.

A session holds the protocol state (``protocol.session.Session``), who may
use it, its outbound streams, the server→client requests awaiting answers,
and the calls still running. Closing a session — by DELETE, expiry or
shutdown — cancels and fails all of those, so nothing it held lingers.
Ids are 128 random bits, visible ASCII (basic/transports, "Session Management").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from vpsmcp.errors import JsonRpcError, StateError, TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, SESSION_NOT_FOUND, Notification, RequestId
from vpsmcp.protocol.session import Phase, Session
from vpsmcp.transport import saved_sessions
from vpsmcp.transport.saved_sessions import SavedSession, SessionShelf
from vpsmcp.transport.streams import OutboundStream

log = logging.getLogger("vpsmcp.transport")

DONE_STREAM_KEEP = 120.0  # seconds a finished stream stays resumable
MAX_STREAMS = 64  # resumable streams kept per session; the oldest go first


@dataclass(eq=False)
class HttpSession:
    """One client's session and everything it holds."""

    id: str
    binding: str
    client: str | None = None
    protocol: Session = field(default_factory=Session)
    last_seen: float = field(default_factory=time.monotonic)
    standalone: OutboundStream = field(default_factory=lambda: OutboundStream(standalone=True))
    streams: dict[str, OutboundStream] = field(default_factory=dict)
    running: dict[RequestId, asyncio.Task[Any]] = field(default_factory=dict)
    waiting: dict[RequestId, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    readers: int = 0  # connections currently streaming from this session
    survives_restart: bool = False  # Streamable HTTP: kept at a graceful stop (saved_sessions.py)
    shared_at: float = -1e9  # when it was last put on the shelf several instances share (monotonic)
    shelf_key: str = ""  # its id hash there, once shared or taken from there
    _next_request: int = 0

    def keep(self, stream: OutboundStream) -> None:
        """Make ``stream`` resumable with ``Last-Event-ID`` (only streams answered as SSE are)."""
        self.streams[stream.stream_id] = stream
        while len(self.streams) > MAX_STREAMS:
            del self.streams[next(iter(self.streams))]

    def find_stream(self, stream_id: str) -> OutboundStream | None:
        if stream_id == self.standalone.stream_id:
            return self.standalone
        return self.streams.get(stream_id)

    def next_request_id(self) -> str:
        self._next_request += 1
        return f"vpsmcp-{self._next_request}"

    def answer(self, request_id: RequestId, result: dict[str, Any] | None, error: JsonRpcError | None) -> bool:
        """Deliver the client's answer to a server→client request; False if none was waiting."""
        future = self.waiting.pop(request_id, None)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or {})
        return True

    def close(self) -> None:
        """Cancel running calls, fail waiting requests, end every stream."""
        self.protocol.close()
        for task in self.running.values():
            task.cancel()
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(JsonRpcError(INTERNAL_ERROR, "session closed"))
        self.waiting.clear()
        self.standalone.close()
        for stream in self.streams.values():
            stream.close()

    def sweep_streams(self, now: float) -> None:
        for stream_id, stream in list(self.streams.items()):
            if stream.finished_at is not None and now - stream.finished_at > DONE_STREAM_KEEP:
                del self.streams[stream_id]


class SessionStore:
    """Sessions by id, with an idle timeout, a cap, and caps per credential and per client.

    A client that opens sessions and never ends them (Claude's connector opens
    one per call; mcp-remote leaves its first behind) would otherwise fill the
    whole store and lock every other client out with 503 for the idle timeout.
    Past ``per_credential`` (one grant) or ``per_client`` (all the grants of
    one registered client together), a new session ends the longest-idle one
    of its own group instead; the anonymous caller of ``--no-auth`` has no cap
    of its own, since every local client shares it.
    """

    def __init__(self, idle_timeout: float, max_sessions: int, per_credential: int | None = None,
                 per_client: int | None = None, shelf: SessionShelf | None = None) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.per_credential = per_credential or max_sessions
        self.per_client = per_client or max_sessions
        self._sessions: dict[str, HttpSession] = {}
        self._groups: dict[str, dict[str, HttpSession]] = {}  # "grant:BINDING" and "client:ID" → sessions
        self.saved: dict[str, SavedSession] = {}  # by id hash: the last run's, served again when asked for
        self.shelf = shelf  # several instances: the sessions they share (saved_sessions.SessionShelf)

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, principal: Caller, survives_restart: bool = False) -> HttpSession:
        """A new session for ``principal``; 503 when the cap is reached."""
        if principal.client_id is not None:
            for group, cap, whose in ((f"grant:{principal.binding}", self.per_credential, "credential"),
                                      (f"client:{principal.client_id}", self.per_client, "client")):
                mine = self._groups.get(group, {})
                if len(mine) >= cap:
                    self._evict_idlest(mine, whose)
        if len(self._sessions) >= self.max_sessions:
            self.sweep()
        if len(self._sessions) >= self.max_sessions:
            raise TransportError(
                503, INTERNAL_ERROR, "Too many sessions; try again later", headers={"Retry-After": "30"}
            )
        session = HttpSession(secrets.token_hex(16), principal.binding, principal.client_id,
                              survives_restart=survives_restart)
        self._add(session)
        return session

    def _add(self, session: HttpSession) -> None:
        self._sessions[session.id] = session
        for group in self._groups_of(session):
            self._groups.setdefault(group, {})[session.id] = session

    @staticmethod
    def _groups_of(session: HttpSession) -> tuple[str, ...]:
        if session.client is None:
            return ()
        return f"grant:{session.binding}", f"client:{session.client}"

    def _evict_idlest(self, sessions: dict[str, HttpSession], whose: str) -> None:
        """End the longest-idle of ``sessions`` that no connection is reading; 503 if every one is in use."""
        idle = [s for s in sessions.values() if s.readers == 0]
        if not idle:
            raise TransportError(503, INTERNAL_ERROR, f"Too many sessions for this {whose}, all in use; "
                                 "end one (DELETE) or try again later", headers={"Retry-After": "30"})
        self.remove(min(idle, key=lambda s: s.last_seen).id)

    def get(self, session_id: str | None, principal: Caller) -> HttpSession:
        """The caller's live session: 400 without an id, 404 for an unknown, expired or foreign one."""
        if not session_id:
            raise TransportError(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header")
        session = self._sessions.get(session_id) or self._revive(session_id, principal)
        if session is not None and session.shelf_key and not self._still_shared(session):
            self.remove(session.id, unshare=False)  # another instance ended it (DELETE, eviction)
            session = None
        now = time.monotonic()
        if session is not None and self._expired(session, now):
            self.remove(session.id)
            session = None
        # A session used with another credential is reported as unknown, revealing nothing.
        if session is None or not secrets.compare_digest(session.binding, principal.binding):
            raise TransportError(404, SESSION_NOT_FOUND, "Session not found; initialize a new session")
        session.last_seen = now
        if self.shelf is not None and session.survives_restart and now - session.shared_at > self.idle_timeout / 2:
            self.share(session)  # still in use: the other instances keep it for another idle timeout
        return session

    def share(self, session: HttpSession) -> None:
        """Put ``session`` on the shelf, for the other instances (a no-op with none). A shelf that
        cannot be written leaves the session served here only, and says so once."""
        if self.shelf is None:
            return
        protocol = session.protocol
        saved = SavedSession(session.binding, session.client, 0.0, time.time(), protocol.version, protocol.client_info,
                             protocol.client_capabilities, protocol.log_level, sorted(protocol.subscriptions))
        key = saved_sessions.id_hash(session.id)
        try:
            self.shelf.put_session(key, saved_sessions.as_record(saved), saved.saved_at)
        except StateError as exc:
            log.warning("session not shared with the other instances (%s): a request for it there gets 404", exc)
            return
        session.shared_at, session.shelf_key = time.monotonic(), key

    def changed(self, session: HttpSession) -> None:
        """``session``'s state is changing (log level, subscriptions): the shelf gets it again at its next
        request, once the change is made."""
        if session.shelf_key:
            session.shared_at = -1e9

    def _still_shared(self, session: HttpSession) -> bool:
        """Whether the shelf still holds ``session`` (a shelf that cannot be read is given the benefit)."""
        assert self.shelf is not None
        try:
            return self.shelf.has_session(session.shelf_key)
        except StateError:
            return True

    def _revive(self, session_id: str, principal: Caller) -> HttpSession | None:
        """The session ``session_id``, open again, if the last run kept it or another instance shared it,
        and ``principal`` holds it."""
        key = saved_sessions.id_hash(session_id)
        kept = self.saved.get(key)
        saved = kept or self._shelved(key)
        if saved is None or not secrets.compare_digest(saved.binding, principal.binding):
            return None  # a foreign credential takes nothing away from the session's holder
        self.saved.pop(key, None)
        idle = saved.idle_now(time.time())
        if idle > self.idle_timeout:
            return None
        session = HttpSession(session_id, saved.binding, saved.client, saved.protocol(),
                              last_seen=time.monotonic() - idle, survives_restart=True)
        self._add(session)
        if kept is not None:
            self.share(session)  # kept by this instance's last run: now for the others too
        elif self.shelf is not None:
            session.shared_at, session.shelf_key = time.monotonic(), key
        return session

    def _shelved(self, key: str) -> SavedSession | None:
        if self.shelf is None:
            return None
        try:
            record = self.shelf.session(key)
        except StateError as exc:
            log.warning("the shared sessions cannot be read (%s): answering 404", exc)
            return None
        return None if record is None else saved_sessions.shelved(record)

    def keep(self) -> dict[str, SavedSession]:
        """What a graceful stop writes so the next start serves these sessions again: the open
        Streamable HTTP ones, and the last run's not asked for yet."""
        now, wall = time.monotonic(), time.time()
        kept = {key: s for key, s in self.saved.items() if s.idle_now(wall) <= self.idle_timeout}
        for session in self._sessions.values():
            if session.survives_restart and not self._expired(session, now):
                found = saved_sessions.snapshot(session.id, session.binding, session.client, session.protocol,
                                                now - session.last_seen, wall)
                if found is not None:
                    kept[found[0]] = found[1]
        return kept

    def remove(self, session_id: str, unshare: bool = True) -> bool:
        """End a session; it leaves the shelf too (``unshare``), unless this instance is only stopping
        (``close_all``): then another instance serves it next."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        if unshare and self.shelf is not None and session.shelf_key:
            with contextlib.suppress(StateError):
                self.shelf.drop_session(session.shelf_key)
        for group in self._groups_of(session):
            mine = self._groups.get(group)
            if mine is not None:
                mine.pop(session_id, None)
                if not mine:
                    del self._groups[group]
        session.close()
        return True

    def sweep(self) -> int:
        """Expire idle sessions; returns how many were removed."""
        now = time.monotonic()
        expired = [s.id for s in self._sessions.values() if self._expired(s, now)]
        for session_id in expired:
            self.remove(session_id)
        for session in self._sessions.values():
            session.sweep_streams(now)
        return len(expired)

    def broadcast(self, notification: Notification) -> None:
        """Send ``notification`` to every open session on its standalone stream (a list changed)."""
        for session in self._sessions.values():
            if session.protocol.phase is Phase.OPEN:
                session.standalone.put(notification)

    def all(self) -> list[HttpSession]:
        return list(self._sessions.values())

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.remove(session_id, unshare=False)

    def _expired(self, session: HttpSession, now: float) -> bool:
        return session.readers == 0 and now - session.last_seen > self.idle_timeout
