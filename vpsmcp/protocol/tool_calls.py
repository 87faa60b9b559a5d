"""What the dispatcher reports about each ``tools/call``, for the audit log.

The dispatcher is free of I/O, so it does not write the audit log itself: it
hands a ``ToolCall`` to an observer injected through its constructor, once
per call, whatever the outcome — a result, a tool error, a refusal, a
cancellation, or a stateless round that asks the client for input — before
the answer goes out. An observer that cannot record makes the dispatcher
withhold that answer, and refuse the next calls before they run (``admit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Status = Literal["ok", "error", "refused", "cancelled", "input_required", "failed"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One ``tools/call``: who asked for what, how it ended, and how long it took.

    ``status``: ``ok``; ``error`` (the tool answered ``isError``); ``refused``
    (a protocol error: unknown tool, bad params, missing scope); ``cancelled``;
    ``input_required`` (the stateless era's question to the client);
    ``failed`` (anything else that escaped). ``detail`` is the error's text.
    """

    tool: str
    arguments: Any
    client_id: str | None
    token_id: str | None
    status: Status
    detail: str | None
    duration: float


class CallObserver(Protocol):
    """What the dispatcher reports each call to (the audit log)."""

    def admit(self) -> str | None:
        """``None`` when a call may run; else why it may not (it is refused, and that is recorded)."""

    def record(self, call: ToolCall) -> None:
        """Record ``call``; raise ``VpsmcpError`` if it cannot be (the answer is then withheld)."""
