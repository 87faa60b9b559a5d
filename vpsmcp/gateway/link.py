"""The seam between an upstream session and its wire: stdio, Streamable HTTP or legacy SSE.

A link carries JSON-RPC messages both ways. What arrives is handed to
``Wire.deliver`` with the id of the request it is related to, when the
transport can tell (a message on the event stream of a POST belongs to that
POST's request); stdio and legacy SSE cannot, and say ``None``. When the
link breaks for good — the process exited, wrote garbage, the HTTP session
expired — it calls ``Wire.lost`` once with the reason, and the supervisor
starts a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vpsmcp.protocol.jsonrpc import Message, RequestId

Deliver = Callable[[Message, "RequestId | None"], None]


@dataclass(frozen=True, slots=True)
class Wire:
    """What a link reports to the session above it."""

    deliver: Deliver
    lost: Callable[[str], None]


class Credential(Protocol):
    """A bearer token an upstream issued to vpsmcp itself (a fleet node's grant to its hub), never a
    client's. Both calls raise ``UpstreamError`` saying what the owner must do when none can be had;
    ``fix`` says it for an upstream that refuses even a renewed token."""

    fix: str

    async def header(self) -> str:
        """The ``Authorization`` value to send now (renewed before it expires)."""

    async def renew(self, refused: str) -> str:
        """The upstream answered 401 to ``refused``: a new value (a refresh), or why there is none."""


class Link(Protocol):
    """One connection to an upstream MCP server."""

    async def open(self) -> None:
        """Connect (start the process, reach the URL); raises ``UpstreamError``."""

    async def send(self, message: Message) -> None:
        """Send one message; raises ``UpstreamError`` when it cannot be sent."""

    async def close(self) -> None:
        """End the connection and everything it started; never raises."""

    def describe(self) -> str:
        """What it is connected to, for status and logs (``pid 123``, a URL)."""
