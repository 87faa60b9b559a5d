"""vpsmcp as an MCP client: one initialized session per upstream, shared by every caller.

``initialize`` is done once per link (basic/lifecycle), never per call: the
slow path FastMCP's proxy took (fastmcp#3466). Concurrent calls are
multiplexed with ids of our own (``calls``). A call's task reads its own
inbox, so whatever the upstream says during the call — progress, log
messages, questions for the client — is relayed by the task that owns the
call, in order, before its result:

- progress and log messages go to the caller's ``Context``;
- a question (``sampling/createMessage``, ``elicitation/create``,
  ``roots/list``) is asked with ``Context.ask``. In the stateless 2026-07-28
  era that ends the call with an ``input_required`` result: the upstream's
  question is refused, its call cancelled, and the client's retry runs the
  call again, when the upstream asks the same question and the answer is
  there (its key is the method and the question's ordinal);
- a caller that goes away (cancelled task, timeout) cancels the upstream
  call with ``notifications/cancelled`` (basic/utilities/cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from vpsmcp import __version__
from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.calls import Call, Calls, Lost
from vpsmcp.gateway.link import Link, Wire
from vpsmcp.protocol.context import ASKS_NEED, LOG_LEVELS, Context, InputRequired
from vpsmcp.protocol.jsonrpc import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    ErrorResponse,
    Message,
    Notification,
    Request,
    RequestId,
    Response,
    error_response,
)
from vpsmcp.protocol.versions import HANDSHAKE_VERSIONS, LATEST_HANDSHAKE, Era

log = logging.getLogger("vpsmcp.upstream")

CLIENT_INFO = {"name": "vpsmcp-gateway", "version": __version__}
CAPABILITY = {"sampling": {}, "elicitation": {"form": {}}, "roots": {"listChanged": False}}
LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/resources/list_changed": "resources",
    "notifications/prompts/list_changed": "prompts",
}
# An upstream's log message that no caller can be given goes to our log at its own level.
PYTHON_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING}
RELAYED = frozenset({"notifications/progress", "notifications/message"})  # the rest are the gateway's own
RETRIED = "vpsmcp passed the question on to its client; the call will be made again with the answer"


class UpstreamSession:
    """An MCP client session over one link."""

    def __init__(
        self,
        name: str,
        make_link: Callable[[Wire], Link],
        asks: Sequence[str],
        on_list_changed: Callable[[str], None],
    ) -> None:
        self.name = name
        self.asks = frozenset(asks)
        self.link = make_link(Wire(self._receive, self._lost))
        self.calls = Calls()
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.on_list_changed = on_list_changed
        self.version = LATEST_HANDSHAKE
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect and do the ``initialize`` handshake (basic/lifecycle, "Initialization")."""
        await self.link.open()
        capabilities = {name: CAPABILITY[name] for name in self.asks}
        params = {"protocolVersion": LATEST_HANDSHAKE, "capabilities": capabilities, "clientInfo": CLIENT_INFO}
        result = await self.request("initialize", params)
        version = result.get("protocolVersion")
        if version not in HANDSHAKE_VERSIONS:
            raise UpstreamError(self.name, f"answered initialize with protocol version {version!r}, not one vpsmcp speaks")
        self.version = str(version)
        self.capabilities = _dict(result.get("capabilities"))
        self.server_info = _dict(result.get("serverInfo"))
        negotiated = getattr(self.link, "negotiated", None)
        if negotiated is not None:
            negotiated(self.version)
        await self.link.send(Notification("notifications/initialized"))

    async def close(self) -> None:
        self._lost("closed")
        await self.link.close()
        for task in list(self._background):
            task.cancel()

    async def request(
        self, method: str, params: dict[str, Any], ctx: Context | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a request and follow it to its result; raises ``JsonRpcError`` or ``UpstreamError``."""
        if self.lost.done():
            raise UpstreamError(self.name, f"is not connected ({self.lost.result()})")
        call = self.calls.open(method, ctx)
        if ctx is not None and ctx.progress_token is not None:
            params = {**params, "_meta": {**_dict(params.get("_meta")), "progressToken": call.id}}
        try:
            await self.link.send(Request(call.id, method, params))
            async with asyncio.timeout(timeout):
                return await self._follow(call)
        except TimeoutError:
            raise UpstreamError(self.name, f"did not answer {method} within {timeout:g} s") from None
        finally:
            self.calls.close(call)
            if not call.settled:
                self._abandon(call)

    async def _follow(self, call: Call) -> dict[str, Any]:
        while True:
            item = await call.inbox.get()
            if isinstance(item, Response):
                call.settled = True
                return item.result
            if isinstance(item, ErrorResponse):
                call.settled = True
                raise JsonRpcError(item.code, item.message, item.data)
            if isinstance(item, Lost):
                call.settled = True
                raise UpstreamError(self.name, f"broke off during {call.method}: {item.reason}")
            if isinstance(item, Notification) and call.ctx is not None:
                await _relay(call.ctx, item)
            elif isinstance(item, Request):
                await self._answer(call, item)

    async def _answer(self, call: Call, request: Request) -> None:
        """Ask the caller's client what the upstream asks, and give the upstream the answer."""
        ctx = call.ctx
        if ctx is None:
            self._reply(ErrorResponse(request.id, INTERNAL_ERROR, "vpsmcp has no client to ask"))
            return
        params = request.params
        if ctx.era is Era.STATELESS and request.method == "elicitation/create":
            params = {"mode": "form", **params}
        call.asking = request.id
        reply: Message
        try:
            reply = Response(request.id, await ctx.ask(request.method, params))
        except InputRequired:
            self._reply(ErrorResponse(request.id, INTERNAL_ERROR, RETRIED))
            raise
        except JsonRpcError as exc:
            reply = error_response(exc, request.id)
        finally:
            call.asking = None
        self._reply(reply)

    def _abandon(self, call: Call) -> None:
        """The caller went away: cancel the upstream call and any question it is waiting on."""
        if call.asking is not None:
            self._reply(ErrorResponse(call.asking, INTERNAL_ERROR, "the call was cancelled"))
        if self.lost.done() or call.method == "initialize":
            return
        self._reply(Notification("notifications/cancelled", {"requestId": call.id, "reason": "cancelled by the caller"}))

    def _receive(self, message: Message, related: RequestId | None) -> None:
        """``Wire.deliver``: route one message from upstream (see ``calls``)."""
        if isinstance(message, Request) and ASKS_NEED.get(message.method) not in self.asks:
            self._reply(_unasked(message))
            return
        if isinstance(message, Notification) and message.method not in RELAYED:
            self._notice(message)
            return
        owner = self.calls.owner(message, related)
        if owner is not None:
            owner.inbox.put_nowait(message)
        elif isinstance(message, Request):
            self._reply(self._refusal(message))
        elif isinstance(message, Notification):
            self._notice(message)

    def _refusal(self, request: Request) -> ErrorResponse:
        calls = self.calls.client_calls()
        why = "it came outside any call" if calls == 0 else f"it cannot be told which of {calls} calls it belongs to"
        log.warning("upstream %s asked %s; refused: %s", self.name, request.method, why)
        return ErrorResponse(request.id, INTERNAL_ERROR, f"vpsmcp cannot pass this request on: {why}")

    def _notice(self, notification: Notification) -> None:
        kind = LIST_CHANGED.get(notification.method)
        if kind is not None:
            self.on_list_changed(kind)
        elif notification.method == "notifications/message":
            params = notification.params
            level = PYTHON_LEVELS.get(str(params.get("level")), logging.ERROR)
            log.log(level, "%s: %s", self.name, params.get("data"), extra={"fields": {"upstream": self.name}})

    def _reply(self, message: Message) -> None:
        """Send without waiting (from a ``finally`` or a sync callback); a failure is the link's to report."""
        task = asyncio.create_task(_quietly(self.link.send(message)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _lost(self, reason: str) -> None:
        """``Wire.lost``: fail every call in flight; the supervisor waits on ``lost``."""
        if not self.lost.done():
            self.lost.set_result(reason)
            self.calls.lose_all(reason)


def _unasked(request: Request) -> Response | ErrorResponse:
    """The answer to a request no caller is asked: ``ping``, or one the config does not forward."""
    if request.method == "ping":
        return Response(request.id, {})
    return ErrorResponse(request.id, METHOD_NOT_FOUND, f"Method not found: {request.method}")


async def _relay(ctx: Context, notification: Notification) -> None:
    params = notification.params
    if notification.method == "notifications/progress":
        progress = params.get("progress")
        if isinstance(progress, (int, float)):
            total, message = params.get("total"), params.get("message")
            await ctx.progress(
                progress, total if isinstance(total, (int, float)) else None, message if isinstance(message, str) else None
            )
    elif notification.method == "notifications/message" and params.get("level") in LOG_LEVELS:
        logger = params.get("logger")
        await ctx.log(str(params["level"]), params.get("data"), logger if isinstance(logger, str) else None)


async def _quietly(sending: Awaitable[None]) -> None:
    with contextlib.suppress(UpstreamError):
        await sending


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
