"""The request being served, as the trace sees it while it is still open.

The middleware makes one ``Pending`` per request and puts it in ``CURRENT``
(a context variable: every task the request starts inherits it), so the
gate, the dispatcher and the authorization service can leave notes on the
request they serve without being handed anything.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from vpsmcp.trace.steps import Note, clip

MAX_NOTES = 8
MAX_ERROR_BODY = 4096


@dataclass(slots=True, eq=False)
class Pending:
    """One request between its arrival and its answer."""

    scope: dict[str, Any]
    kind: str
    label: str
    started: float  # monotonic
    status: int = 0
    client_id: str | None = None
    session_id: str | None = None  # the MCP session, for the access log
    refused: str = ""  # the gate's refusal, in words
    notes: list[Note] | None = None
    capture: bytearray | None = None  # an error body whose "error" code we read (token, registration)
    committed: bool = False
    stream: bool = False
    quirk: tuple[str, str] | None = None  # (kind, words): a client quirk the transport served
    trusted: frozenset[str] = frozenset()  # proxies whose X-Forwarded-For names the client
    _pair: tuple[str, str] | None = None

    @property
    def method(self) -> str:
        return str(self.scope.get("method", "WS"))

    @property
    def path(self) -> str:
        return clip(str(self.scope.get("path", "")))

    def note(self, subject: str, result: str) -> None:
        if self.notes is None:
            self.notes = [(subject, result)]
        elif len(self.notes) < MAX_NOTES:
            self.notes.append((subject, result))

    def pair(self) -> tuple[str, str]:
        """(address, user agent); the address is X-Forwarded-For's last hop when the peer is a
        trusted proxy — the same rule as ``oauth.setup.client_address_of``."""
        if self._pair is not None:
            return self._pair
        agent = forwarded = ""
        for name, value in self.scope.get("headers", ()):
            if name == b"user-agent":
                agent = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        peer = str((self.scope.get("client") or ("",))[0])
        if forwarded and peer in self.trusted:
            peer = forwarded.split(",")[-1].strip()
        self._pair = (clip(peer, 64), clip(agent))
        return self._pair


CURRENT: ContextVar[Pending | None] = ContextVar("vpsmcp_trace_pending", default=None)
