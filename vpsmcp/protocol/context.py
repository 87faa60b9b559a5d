"""What a tool, resource or prompt handler is handed for one request.

A handler is written once for both eras. It reports progress and logs
through ``Context``, and asks the client (elicitation, sampling, roots) with
``ask``. In the handshake era ``ask`` sends a server→client request over the
transport and waits for the answer. In the stateless 2026-07-28 era there is
no such channel: ``ask`` looks the answer up among the ``inputResponses`` the
client sent with this retry and, when it is not there yet, raises
``InputRequired``; the dispatcher turns that into an ``input_required``
result, and the client calls again with the answer (SEP-2322). The handler
then runs again from the start, so handlers ask before they change anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from vpsmcp.errors import JsonRpcError
from vpsmcp.protocol.caller import ANONYMOUS, Caller
from vpsmcp.protocol.jsonrpc import MISSING_CLIENT_CAPABILITY, RequestId
from vpsmcp.protocol.versions import Era

ASKS_NEED = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def progress_token(params: Mapping[str, Any]) -> str | int | None:
    """The ``_meta.progressToken`` of a request's params, if it is a valid one."""
    meta = params.get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return token if isinstance(token, (str, int)) and not isinstance(token, bool) else None


class Peer(Protocol):
    """The transport's side of one request: a way to reach the client."""

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification related to the current request."""

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a server→client request and wait for its result (handshake era)."""


class InputRequired(Exception):
    """The stateless era's way to ask the client: unwinds the handler.

    Not a ``VpsmcpError``: it is control flow the dispatcher always catches.
    """

    def __init__(self, requests: dict[str, dict[str, Any]]) -> None:
        super().__init__("input required")
        self.requests = requests


@dataclass(slots=True)
class Context:
    """One request's view of its caller."""

    request_id: RequestId
    version: str
    era: Era
    peer: Peer
    caller: Caller = ANONYMOUS
    client_capabilities: Mapping[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    progress_token: str | int | None = None
    input_responses: Mapping[str, Any] = field(default_factory=dict)
    _asked: int = 0

    @property
    def scopes(self) -> frozenset[str] | None:
        """The caller's scopes (``None``: unrestricted)."""
        return self.caller.scopes

    @property
    def client_id(self) -> str | None:
        return self.caller.client_id

    @property
    def token_id(self) -> str | None:
        return self.caller.token_id

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress, if the caller asked for it with a progress token."""
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.peer.notify("notifications/progress", params)

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """Send a log message if ``level`` is at or above the level the client chose."""
        if not self.wants_log(level):
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger:
            params["logger"] = logger
        await self.peer.notify("notifications/message", params)

    def wants_log(self, level: str) -> bool:
        """Handshake era: everything until ``logging/setLevel``; stateless: only with a ``logLevel``."""
        if self.log_level is None:
            return self.era is Era.HANDSHAKE
        return LOG_LEVELS.index(level) >= LOG_LEVELS.index(self.log_level)

    def can(self, capability: str) -> bool:
        """Whether the client declared ``capability`` (``sampling``, ``elicitation``, ``roots``)."""
        return isinstance(self.client_capabilities.get(capability), dict)

    async def ask(self, method: str, params: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """Ask the client (``elicitation/create``, ``sampling/createMessage``, ``roots/list``).

        ``key`` names the question in the stateless era's ``inputRequests``;
        by default questions are numbered in the order they are asked.
        """
        capability = ASKS_NEED[method]
        if not self.can(capability):
            raise JsonRpcError(
                MISSING_CLIENT_CAPABILITY,
                f"This request needs the client capability {capability!r}",
                data={"requiredCapabilities": {capability: {}}},
            )
        if self.era is Era.HANDSHAKE:
            return await self.peer.request(method, params)
        key = key or f"{method}#{self._asked}"
        self._asked += 1
        answer = self.input_responses.get(key)
        if isinstance(answer, dict):
            return answer
        raise InputRequired({key: {"method": method, "params": params}})

    async def ask_all(self, *asks: Callable[[], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Ask several questions at once, e.g. ``ctx.ask_all(lambda: ctx.elicit(...), lambda: ctx.roots())``.

        ``ask`` ends the call at the first unanswered question; this collects
        every unanswered one, so a stateless client gets them all in one
        ``input_required`` round. A handshake-era client is asked in turn.
        """
        answers: list[dict[str, Any]] = []
        missing: dict[str, dict[str, Any]] = {}
        for ask in asks:
            try:
                answers.append(await ask())
            except InputRequired as needed:
                missing.update(needed.requests)
        if missing:
            raise InputRequired(missing)
        return answers

    async def elicit(self, message: str, requested_schema: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """Ask the person for structured input (``elicitation/create``, form mode)."""
        params: dict[str, Any] = {"message": message, "requestedSchema": requested_schema}
        if self.era is Era.STATELESS:
            params["mode"] = "form"
        return await self.ask("elicitation/create", params, key)

    async def sample(
        self, messages: list[dict[str, Any]], max_tokens: int, key: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Ask the client's model for a completion (``sampling/createMessage``)."""
        return await self.ask("sampling/createMessage", {"messages": messages, "maxTokens": max_tokens, **options}, key)

    async def roots(self, key: str | None = None) -> dict[str, Any]:
        """The client's roots (``roots/list``)."""
        return await self.ask("roots/list", {}, key)
