"""How each request ended, in one vocabulary: the audit log, the trace and ``/metrics`` all use it.

The dispatcher is free of I/O, so it writes nothing itself: ``Dispatcher.handle``
decides each request's ``Outcome`` once, in one place, and hands an ``Answered``
to the observers given to its constructor, in order, before the answer goes
out. An observer that must not miss a call (the audit log) refuses calls before
they run (``admit``) and, when it cannot record one that ran, raises
``VpsmcpError`` from ``answered``: the answer is then withheld.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple, Protocol

from vpsmcp.protocol.jsonrpc import Request


class Outcome(Enum):
    """How a request ended; ``.value`` is the word audit records, trace notes and metric labels use."""

    OK = "ok"
    TOOL_ERROR = "tool_error"  # the tool answered isError: a result the model reads, not a protocol error
    REFUSED = "refused"  # a JSON-RPC error: unknown tool, bad params, missing scope, the audit unwritable
    CANCELLED = "cancelled"
    INPUT_REQUIRED = "input_required"  # the stateless era's question to the client
    CRASHED = "crashed"  # an exception escaped the handler


class Answered(NamedTuple):
    """One request answered: what was asked, by whom, how it ended and how long it took.

    ``name`` is the tool or prompt as the client named it; ``known`` whether the
    registry offers it (a made-up name is no metric label). ``code`` is the
    JSON-RPC error code of a refusal; ``detail`` the error's or the tool error's text. ``host`` and
    ``on_behalf_of`` are the two sides of a fleet call: the node a hub's tool acts on, and on a
    node, the hub's caller as the hub says it in the call's ``_meta``.
    A tuple: immutable, and made in a fraction of a frozen dataclass's time (once a request).
    """

    method: str
    name: str | None
    known: bool
    arguments: Any
    outcome: Outcome
    code: int | None
    detail: str | None
    duration: float
    client_id: str | None
    token_id: str | None
    host: str | None = None  # the fleet node the tool acts on (a hub's record)
    on_behalf_of: str | None = None  # who asked the fleet hub that called us (its word, informational)

    @property
    def words(self) -> str:
        """The outcome as the trace writes it: ``refused -32602``, ``tool_error``, ``ok``."""
        return f"{self.outcome.value} {self.code}" if self.code is not None else self.outcome.value


class DispatchObserver(Protocol):
    """Told how each request ended (the audit log, the trace)."""

    def admit(self, request: Request) -> str | None:
        """``None`` when ``request`` may run; else why it may not (it is refused, and told as such)."""

    def answered(self, answer: Answered) -> None:
        """Take note of ``answer``; raise ``VpsmcpError`` if it had to be recorded and could not."""
