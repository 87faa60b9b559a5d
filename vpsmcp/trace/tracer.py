"""The connection trace of a running server: flows in memory, the journal on disk, the metrics.

The middleware hands each request over when its answer starts (``started``)
and when it is done (``ended``). In between, the tracer hears of it as the
observer each part was built with: the endpoint's (who was admitted, why one
was refused, the session, a client quirk), the dispatcher's (how each request
ended, ``protocol/outcomes.py``) and the authorization service's
(``oauth/events.py``); it leaves those notes on the request in ``CURRENT``. A
note that arrives after the answer started (a call answered on an event
stream or a WebSocket) becomes a step of its own.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from vpsmcp.errors import ScopeRequired, TokenRefused, TransportError
from vpsmcp.protocol.caller import Caller
from vpsmcp.protocol.jsonrpc import Request
from vpsmcp.protocol.outcomes import Answered
from vpsmcp.trace.flows import Flow, FlowBook
from vpsmcp.trace.journal import FILE_NAME, Journal
from vpsmcp.trace.metrics import Metrics
from vpsmcp.trace.pending import CURRENT, MAX_ERROR_BODY, Pending
from vpsmcp.trace.steps import CHALLENGE, TOKEN_REFUSED, UNTRACED, Note, Step, clip, describe, is_error
from vpsmcp.transport.era import Decision

FLUSH_INTERVAL = 1.0  # tallies of counted-only requests
FLUSH_DELAY = 0.05  # a written step reaches the file (logs --follow, the status page) this soon
QUIRK_SUBJECT = "client quirk:"
ERROR_CODE = re.compile(r"[a-z_]{1,40}")
CAPTURED = frozenset({"token", "register"})


class Tracer:
    """Flows, journal and metrics, fed by the middleware and the observers."""

    def __init__(self, book: FlowBook, journal: Journal, trusted: frozenset[str] = frozenset()) -> None:
        self.book = book
        self.journal = journal
        self.trusted = trusted
        self.metrics = Metrics()
        self._untold: set[Flow] = set()
        self._flush_soon: asyncio.TimerHandle | None = None

    @classmethod
    def in_state_dir(cls, state_dir: Path, flows: int, max_bytes: int, keep: int,
                     trusted: frozenset[str] = frozenset()) -> Tracer:
        return cls(FlowBook(flows), Journal(state_dir / FILE_NAME, max_bytes, keep), trusted)

    # -- the middleware ---------------------------------------------------
    def started(self, pending: Pending, status: int, headers: Any) -> None:
        """The answer starts: count it and, unless an error body must be read first, trace it."""
        pending.status = status
        if headers is not None:
            for name, value in headers:
                if name == b"content-type":
                    pending.stream = value.startswith(b"text/event-stream")
                    break
        elif status == 101:
            pending.stream = True
        self.metrics.streams += pending.stream
        if status >= 400 and pending.kind in CAPTURED:
            pending.capture = bytearray()
            return
        self.commit(pending)

    def body(self, pending: Pending, chunk: bytes, more: bool) -> None:
        """A chunk of a captured error body; the last one traces the request."""
        assert pending.capture is not None
        pending.capture += chunk[: MAX_ERROR_BODY - len(pending.capture)]
        if not more:
            self.commit(pending)

    def ended(self, pending: Pending) -> None:
        self.metrics.streams -= pending.stream
        if not pending.committed:
            self.commit(pending)  # never answered: the client went away, or the server failed

    def commit(self, pending: Pending) -> None:
        pending.committed = True
        now = time.time()
        notes = tuple(pending.notes) if pending.notes else ()
        error = is_error(pending.status, pending.refused, notes)
        self.metrics.answered(pending.label, pending.status, time.monotonic() - pending.started, now, error)
        if pending.kind in UNTRACED:
            return
        flow = self.book.place(pending.client_id, pending.pair, now, pending.kind != "other",
                               opens=pending.refused == CHALLENGE)
        if flow is not None:
            if pending.quirk is not None and pending.quirk[0] not in flow.quirks:
                flow.quirks.add(pending.quirk[0])  # said once per flow; later requests are only counted
                notes = (*notes, (QUIRK_SUBJECT, pending.quirk[1]))
            key = (pending.scope.get("method"), pending.scope.get("path"), pending.status, notes, pending.refused)
            self._record(flow, pending, key, notes, error, now)

    def _record(self, flow: Flow, pending: Pending, key: Hashable, notes: tuple[Note, ...], error: bool,
                now: float) -> None:
        """Count the request in its flow; write it unless it only repeats the previous one."""
        if flow.count(key, error, now):
            self._untold.add(flow)
            return
        outcome, stage = describe(pending.kind, pending.method, pending.status, notes, pending.refused,
                                  _error_code(pending.capture), pending.stream)
        step = Step(now, pending.method, pending.path, pending.status, outcome, stage, error,
                    (time.monotonic() - pending.started) * 1000)
        if not flow.keep(step, key, error, now):
            self._untold.add(flow)
            return
        address, agent = pending.pair()
        entry: dict[str, Any] = {"flow": flow.id, **step.to_json(), "addr": address, "ua": agent}
        if flow.client_id is not None:
            entry["client"] = flow.client_id
        self.journal.add(entry)
        self._soon()

    def _soon(self) -> None:
        """Flush within ``FLUSH_DELAY``, batching what arrives meanwhile (no loop: the next flush writes it)."""
        if self._flush_soon is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._flush_soon = loop.call_later(FLUSH_DELAY, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_soon = None
        self.flush()

    # -- the authorization service's observer (oauth/events.py) ---------
    def client(self, client_id: str | None, event: str = "", detail: str = "") -> None:
        """``AuthEvents``: the authorization service names the client and what happened."""
        pending = CURRENT.get()
        if pending is None:
            return
        if client_id:
            pending.client_id = clip(client_id, 200)
        if event:
            self._note(pending, event, detail)

    # -- the endpoint's observer (transport/endpoint.py) ----------------
    def admitted(self, principal: Caller) -> None:
        if principal.client_id is not None and (pending := CURRENT.get()) is not None:
            pending.client_id = principal.client_id

    def refused(self, error: TransportError) -> None:
        pending = CURRENT.get()
        if pending is None:
            return
        if isinstance(error, TokenRefused):
            pending.refused = TOKEN_REFUSED if error.sent else CHALLENGE
        elif isinstance(error, ScopeRequired):
            pending.refused = f"403 needs scope {error.scope}"

    def joined(self, session_id: str) -> None:
        if (pending := CURRENT.get()) is not None:
            pending.session_id = clip(session_id, 64)

    def quirk(self, decision: Decision) -> None:
        """A request served despite a documented client quirk (``transport/era.py``): counted, and said once a flow."""
        if decision.quirk is None:
            return
        self.metrics.quirk(decision.quirk.value)
        pending = CURRENT.get()
        if pending is not None:
            pending.quirk = (decision.quirk.value, decision.detail)

    # -- the dispatcher's observer (protocol/outcomes.py) ----------------
    def admit(self, request: Request) -> str | None:
        return None  # the trace never stops a request

    def answered(self, answer: Answered) -> None:
        """How a request ended: a metric for a tool call (a name the registry does not know is
        ``unknown``: labels stay bounded), and a note on the request."""
        name = answer.name if answer.known else "unknown" if answer.name is not None else None
        if answer.method == "tools/call":
            self.metrics.tool_called(name or "unknown", answer.outcome.value)
        pending = CURRENT.get()
        if pending is not None:
            subject = f"{answer.method} {clip(answer.name, 60)}" if answer.name else answer.method
            self._note(pending, subject, answer.words)

    def _note(self, pending: Pending, subject: str, result: str) -> None:
        if not pending.committed:
            pending.note(subject, result)
            return
        now = time.time()
        flow = self.book.place(pending.client_id, pending.pair, now, True)
        assert flow is not None
        notes = ((subject, result),)
        self._record(flow, pending, ("late", pending.scope.get("path"), notes), notes, is_error(200, "", notes), now)

    # -- writing ----------------------------------------------------------
    def flush(self) -> None:
        """Write the steps taken and a tally for each flow that had requests only counted."""
        now = time.time()
        for flow in self._untold:
            latest = flow.untold_last
            more, errors = flow.tally()
            if more and latest is not None:
                self.journal.add({"flow": flow.id, "t": round(flow.untold_at, 3), "tally": more, "errors": errors,
                                  "last": f"{latest.route} {latest.status} {latest.outcome}"})
        self._untold.clear()
        if self.journal.dropped:
            self.journal.add({"t": round(now, 3), "dropped": self.journal.dropped})
            self.journal.dropped = 0
        self.journal.flush()

    async def run(self) -> None:
        """Flush once a second until cancelled (the server's background task)."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()


def _error_code(body: bytearray | None) -> str:
    """The ``error`` member of an OAuth error body (RFC 6749 §5.2), if it looks like one."""
    if not body:
        return ""
    try:
        code = json.loads(bytes(body)).get("error", "")
    except (ValueError, AttributeError):
        return ""
    return code if isinstance(code, str) and ERROR_CODE.fullmatch(code) else ""
