"""Keeping one upstream running: start (lazily or at boot), restart with backoff, stop with the service.

Rule: what each state means for a caller lives in ``CALLERS``; the moves
between states in ``MOVES``. A caller never waits on a broken upstream: while
it is restarting, calls fail at once with an error naming it and its last
error, and list requests answer without it. A new link means a new session
and a fresh ``initialize``, so an upstream that restarted (or whose HTTP
session expired) is re-initialized without anyone noticing but the calls
that were in flight (mcp-proxy#149, agentgateway#3622).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from vpsmcp.config.sections import UpstreamConfig
from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.catalog import KINDS, REFETCH, Catalog, fetch
from vpsmcp.gateway.link import Link, Wire
from vpsmcp.gateway.session import UpstreamSession
from vpsmcp.protocol.context import Context

log = logging.getLogger("vpsmcp.upstream")


class State(Enum):
    IDLE = "idle"  # lazy and not asked for yet
    STARTING = "starting"  # connecting and initializing
    READY = "ready"
    RESTARTING = "restarting"  # lost; waiting out the backoff
    STOPPED = "stopped"  # vpsmcp is shutting down


CALLERS: dict[State, str] = {
    State.IDLE: "start it and wait",
    State.STARTING: "wait, at most start_timeout",
    State.READY: "call",
    State.RESTARTING: "fail at once",
    State.STOPPED: "fail at once",
}
MOVES: frozenset[tuple[State, State]] = frozenset(
    {
        (State.IDLE, State.STARTING),
        (State.STARTING, State.READY),
        (State.STARTING, State.RESTARTING),
        (State.READY, State.RESTARTING),
        (State.RESTARTING, State.STARTING),
    }
    | {(state, State.STOPPED) for state in State}
)
BACKOFF = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before each consecutive restart
HEALTHY_AFTER = 10.0  # seconds of being ready that reset the backoff

MakeLink = Callable[[Wire], Link]


class Upstream:
    """One upstream server: its state, its current session and what it offers."""

    def __init__(
        self, name: str, config: UpstreamConfig, make_link: MakeLink, on_change: Callable[[frozenset[str]], None]
    ) -> None:
        self.name = name
        self.config = config
        self.make_link = make_link
        self.on_change = on_change
        self.state = State.IDLE
        self.since = time.time()
        self.catalog = Catalog()
        self.listed = False  # the catalog has been fetched at least once
        self.session: UpstreamSession | None = None
        self.restarts = 0
        self.last_error = ""
        self.retry_at = 0.0
        self._lists_wait_until = 0.0
        self._settled = asyncio.Event()  # set whenever it is not STARTING
        self._task: asyncio.Task[None] | None = None
        self._current: UpstreamSession | None = None
        self._dirty: set[str] = set()
        self._refreshing: asyncio.Task[None] | None = None

    def begin(self) -> None:
        """Start it if nobody has yet (lazy start, or boot)."""
        if self.state is State.IDLE:
            self._move(State.STARTING)
            self._lists_wait_until = time.monotonic() + self.config.list_timeout
            self._task = asyncio.create_task(self._run())

    def pending(self) -> Awaitable[None] | None:
        """For a list request: what to wait for before this upstream's lists are known, if anything.

        Lists wait for it only during the first ``list_timeout`` after it began starting, all of them
        together: an upstream that hangs while starting costs the lists of that moment, not every list
        after (they answer without it, and a ``list_changed`` follows when it is ready)."""
        if self.listed or self.state in (State.RESTARTING, State.STOPPED):
            return None
        self.begin()
        left = self._lists_wait_until - time.monotonic()
        return self._wait_settled(left) if left > 0 else None

    def starting(self) -> Awaitable[None] | None:
        """For a request naming something only this upstream might offer, before it has ever listed:
        what to wait for (its start, as a call waits; ``None`` when it is broken or stopped)."""
        if self.listed or self.state in (State.RESTARTING, State.STOPPED):
            return None
        self.begin()
        return self._wait_settled(self.config.start_timeout)

    def unready(self) -> str | None:
        """Why it offers nothing yet (it has never listed), or ``None`` once it has."""
        if self.listed:
            return None
        if self.state is State.RESTARTING:
            return f"has not started yet (next try in {max(0.0, self.retry_at - time.monotonic()):.0f} s) after: {self.last_error}"
        return f"has not started yet ({self.state.value})"

    async def call(self, ctx: Context | None, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request upstream on behalf of ``ctx``'s caller; raises ``UpstreamError`` or ``JsonRpcError``."""
        session = self.session if self.state is State.READY else await self._ready_session()
        assert session is not None
        return await session.request(method, params, ctx, self.config.request_timeout)

    async def _ready_session(self) -> UpstreamSession:
        self.begin()
        if self.state is State.STARTING:
            try:
                await asyncio.wait_for(self._settled.wait(), self.config.start_timeout)
            except TimeoutError:
                raise UpstreamError(self.name, f"did not start within {self.config.start_timeout:g} s") from None
        if self.state is State.READY and self.session is not None:
            return self.session
        if self.state is State.RESTARTING:
            wait = max(0.0, self.retry_at - time.monotonic())
            raise UpstreamError(self.name, f"is restarting (next try in {wait:.0f} s) after: {self.last_error}")
        raise UpstreamError(self.name, "is stopped")

    async def _wait_settled(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)

    async def _run(self) -> None:
        failures = 0
        while True:
            session = UpstreamSession(self.name, self.make_link, self.config.asks, self._list_changed)
            self._current = session
            reason = await self._start(session)
            if reason is None:
                began = time.monotonic()
                reason = await asyncio.shield(session.lost)
                self.session = None
                failures = 0 if time.monotonic() - began >= HEALTHY_AFTER else failures
            delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            self.last_error = reason
            self.retry_at = time.monotonic() + delay
            log.warning("upstream %s %s; restarting in %g s", self.name, reason, delay, extra={"fields": {"upstream": self.name}})
            # Restarting before the old link is closed: stopping a process that ignores its stdin takes
            # its grace period, and callers meanwhile fail at once instead of waiting for it.
            self._move(State.RESTARTING)
            await session.close()
            await asyncio.sleep(max(0.0, self.retry_at - time.monotonic()))
            self.restarts += 1
            self._move(State.STARTING)

    async def _start(self, session: UpstreamSession) -> str | None:
        """Connect, initialize and list; ``None`` when ready, else why not."""
        timeout = self.config.start_timeout
        try:
            async with asyncio.timeout(timeout):
                await session.start()
                catalog = await fetch(session, self.catalog, KINDS, timeout)
        except TimeoutError:
            return session.lost.result() if session.lost.done() else f"did not start within {timeout:g} s"
        except UpstreamError as exc:
            return exc.problem
        except JsonRpcError as exc:
            return f"answered with an error while starting: {exc.message}"
        changed, self.catalog, self.listed = catalog != self.catalog, catalog, True
        self.session = session
        self._move(State.READY)
        link = session.link.describe()
        log.info("upstream %s ready (%s, %s)", self.name, session.server_info.get("name", "?"), link,
                 extra={"fields": {"upstream": self.name, "tools": len(catalog.tools)}})
        if changed:
            self.on_change(frozenset({"tools", "resources", "prompts"}))
        if self._dirty:
            self._list_changed("")
        return None

    def _list_changed(self, kind: str) -> None:
        """The upstream said a list changed: fetch it again, one refresh at a time."""
        self._dirty.update(REFETCH.get(kind, ()))
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        while self._dirty and self.session is not None and self.state is State.READY:
            kinds, self._dirty = self._dirty, set()
            try:
                catalog = await fetch(self.session, self.catalog, kinds, self.config.request_timeout)
            except (UpstreamError, JsonRpcError) as exc:
                log.warning("upstream %s: cannot fetch its changed lists: %s", self.name, exc)
                return
            if catalog != self.catalog:
                self.catalog = catalog
                self.on_change(frozenset("resources" if kind == "templates" else kind for kind in kinds))

    def _move(self, state: State) -> None:
        assert (self.state, state) in MOVES, f"{self.state} -> {state}"
        self.state, self.since = state, time.time()
        if state is State.STARTING:
            self._settled.clear()
        else:
            self._settled.set()

    async def stop(self) -> None:
        """Stop for good: end the run loop and the link (closing stdin, then signals)."""
        self._move(State.STOPPED)
        for task in (self._task, self._refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._current is not None:
            await self._current.close()
        self.session = None
