"""Running a POST's requests and choosing how to answer: JSON or an event stream.

Each request runs as a task that writes its notifications and its response
to an ``OutboundStream``. The answer is JSON when every response is ready
before anything else was said; once a task sends a notification or a
server→client request, or ``heartbeat`` seconds pass, the answer becomes an
event stream, so a quick call costs no streaming and a long one keeps the
connection alive through proxies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from vpsmcp.errors import JsonRpcError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import (
    INTERNAL_ERROR,
    ErrorResponse,
    Notification,
    Request,
    RequestId,
    error_response,
)
from vpsmcp.protocol.jsonrpc import (
    Response as RpcResponse,
)
from vpsmcp.protocol.session import Session
from vpsmcp.transport import sse
from vpsmcp.transport.answer import Answer
from vpsmcp.transport.sessions import HttpSession
from vpsmcp.transport.streams import OutboundStream, StoredEvent

log = logging.getLogger("vpsmcp.transport")

CLIENT_ANSWER_TIMEOUT = 600.0


class StreamPeer:
    """The client as seen from one request: notifications and questions go to its stream."""

    def __init__(self, stream: OutboundStream, session: HttpSession | None) -> None:
        self.stream = stream
        self.session = session

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        self.stream.put(Notification(method, params))

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.session is None:
            raise JsonRpcError(INTERNAL_ERROR, "no channel to the client: this request has no session")
        request_id = self.session.next_request_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.session.waiting[request_id] = future
        self.stream.put(Request(request_id, method, params))
        try:
            return await asyncio.wait_for(future, CLIENT_ANSWER_TIMEOUT)
        except TimeoutError:
            raise JsonRpcError(INTERNAL_ERROR, f"the client did not answer {method}") from None
        finally:
            self.session.waiting.pop(request_id, None)


async def run_request(
    dispatcher: Dispatcher,
    request: Request,
    ctx: Context,
    session: Session | None,
    stream: OutboundStream,
) -> None:
    """Dispatch ``request`` and put its response (or error) on ``stream``."""
    reply: RpcResponse | ErrorResponse
    task = asyncio.current_task()
    assert task is not None
    dispatcher.inflight.add(task)
    try:
        reply = RpcResponse(request.id, await dispatcher.handle(request, ctx, session))
    except JsonRpcError as exc:
        reply = error_response(exc, request.id)
    except asyncio.CancelledError:
        if dispatcher.inflight.cut_reason is None:
            stream.settle(request.id)  # a cancelled request gets no response (basic/utilities/cancellation)
            raise
        reply = ErrorResponse(request.id, INTERNAL_ERROR, dispatcher.inflight.cut_reason)  # cut by a shutdown
    except Exception:
        log.exception("request %s (%s) failed", request.id, request.method)
        reply = ErrorResponse(request.id, INTERNAL_ERROR, "Internal error")
    finally:
        dispatcher.inflight.discard(task)
    try:
        stream.put(reply)
    except (TypeError, ValueError):  # a result JSON cannot carry (NaN, an object)
        log.exception("result of request %s (%s) is not JSON", request.id, request.method)
        stream.put(ErrorResponse(request.id, INTERNAL_ERROR, "Internal error: the result is not valid JSON"))


def start(
    running: dict[RequestId, asyncio.Task[Any]],
    dispatcher: Dispatcher,
    request: Request,
    ctx: Context,
    session: Session | None,
    stream: OutboundStream,
) -> asyncio.Task[None]:
    """Run ``request`` as a task registered in ``running`` (so it can be cancelled)."""
    task = asyncio.create_task(run_request(dispatcher, request, ctx, session, stream))
    running[request.id] = task
    task.add_done_callback(lambda _: running.pop(request.id, None))
    return task


async def settled(stream: OutboundStream, heartbeat: float) -> bool:
    """Wait until the stream is done or has said something; True if it can be answered as JSON."""
    await asyncio.sleep(0)  # a quick handler finishes in its first step: no waiter, no timer
    if not stream.events and not stream.done and not await stream.wait(heartbeat):
        return False  # silent for a whole heartbeat: stream, so the connection stays alive
    if not stream.done:
        return False
    return all(isinstance(e.message, (RpcResponse, ErrorResponse)) for e in stream.events)


def json_answer(stream: OutboundStream, batch: bool, status_of: Callable[[ErrorResponse], int] | None = None) -> Answer:
    """The responses on ``stream`` as one JSON body (an array for a batch)."""
    replies = [e for e in stream.events if isinstance(e.message, (RpcResponse, ErrorResponse))]
    if not replies:
        return Answer.empty(202)  # every request was cancelled: nothing to answer
    if batch:
        return Answer.json(b"[" + b",".join(e.data for e in replies) + b"]")
    first = replies[0].message
    status = status_of(first) if status_of is not None and isinstance(first, ErrorResponse) else 200
    return Answer.json(replies[0].data, status)


def event_stream(body: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> Answer:
    """An SSE answer; it lasts as long as the stream (no timeout cuts it short)."""
    return Answer(200, body, {**sse.SSE_HEADERS, **(headers or {})})


async def relay(
    stream: OutboundStream,
    heartbeat: float,
    *,
    after: int = 0,
    ids: bool,
    priming_retry_ms: int | None = None,
) -> AsyncIterator[bytes]:
    """Frame ``stream``'s events as SSE, with heartbeats while idle."""
    if priming_retry_ms is not None:
        yield sse.priming(stream.event_id(after), priming_retry_ms)
    event: StoredEvent | None
    async for event in stream.read(after, heartbeat):
        if event is None:
            yield sse.HEARTBEAT
        else:
            yield sse.event(event.data, event_id=stream.event_id(event.seq) if ids else None)
