"""The calls in flight on one upstream session, and which of them a message from upstream belongs to.

Every request the gateway sends upstream gets a fresh integer id of its own;
the client's request id and progress token never travel upstream (a progress
token is replaced by the upstream id). So two clients that chose the same id
never meet, and a message finds its call by our id alone.

Rule: everything that decides where an upstream message goes lives here.

| message from upstream                     | goes to                                        |
|-------------------------------------------|------------------------------------------------|
| a response                                | the call with its id                           |
| ``notifications/progress``                | the call whose id is its ``progressToken``     |
| anything sent on a request's own stream   | that request's call (Streamable HTTP only)     |
| anything else (stdio, legacy SSE)         | the one client call in flight, if exactly one  |

With several client calls in flight and nothing to tell them apart, a log
message stays in vpsmcp's log and a question is refused: a caller never sees
what was meant for another.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from vpsmcp.protocol.context import Context
from vpsmcp.protocol.jsonrpc import ErrorResponse, Message, Notification, RequestId, Response


@dataclass(frozen=True, slots=True)
class Lost:
    """Put in a call's inbox when the link broke before the call was answered."""

    reason: str


@dataclass(eq=False, slots=True)
class Call:
    """One request sent upstream; its messages queue in ``inbox`` for the task that made it."""

    id: int
    method: str
    ctx: Context | None  # None for the gateway's own requests (initialize, lists)
    inbox: asyncio.Queue[Message | Lost] = field(default_factory=asyncio.Queue)
    settled: bool = False  # answered, failed or lost: nothing to cancel upstream
    asking: RequestId | None = None  # an upstream question this call is answering


class Calls:
    """Ids handed out and the calls waiting for them."""

    def __init__(self) -> None:
        self._next = 0
        self._open: dict[int, Call] = {}

    def __len__(self) -> int:
        return len(self._open)

    def open(self, method: str, ctx: Context | None) -> Call:
        self._next += 1
        call = Call(self._next, method, ctx)
        self._open[call.id] = call
        return call

    def close(self, call: Call) -> None:
        self._open.pop(call.id, None)

    def owner(self, message: Message, related: RequestId | None) -> Call | None:
        """The call ``message`` belongs to, or ``None`` when no one (or not one alone) can be told."""
        if isinstance(message, (Response, ErrorResponse)):
            return self._open.get(message.id) if isinstance(message.id, int) else None
        if isinstance(message, Notification) and message.method == "notifications/progress":
            token = message.params.get("progressToken")
            return self._open.get(token) if isinstance(token, int) and not isinstance(token, bool) else None
        if isinstance(related, int):
            return self._open.get(related)
        clients = [call for call in self._open.values() if call.ctx is not None]
        return clients[0] if len(clients) == 1 else None

    def client_calls(self) -> int:
        return sum(1 for call in self._open.values() if call.ctx is not None)

    def lose_all(self, reason: str) -> None:
        """Tell every waiting call that the link is gone."""
        for call in self._open.values():
            call.inbox.put_nowait(Lost(reason))
