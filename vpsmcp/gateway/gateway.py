"""Every configured upstream, for the app: providers to register, start at boot, stop at shutdown.

The one place the gateway meets the process: it is handed vpsmcp's
environment (a stdio upstream gets only a few variables of it, see
``process_groups.child_env``) and the path of the status file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vpsmcp.config.sections import UpstreamConfig
from vpsmcp.gateway import status
from vpsmcp.gateway.legacy_sse import LegacySseLink
from vpsmcp.gateway.provider import UpstreamProvider
from vpsmcp.gateway.stdio import StdioLink
from vpsmcp.gateway.streamable import StreamableLink
from vpsmcp.gateway.supervisor import MakeLink, State
from vpsmcp.process_groups import child_env

log = logging.getLogger("vpsmcp.upstream")

STATUS_INTERVAL = 1.0  # seconds between looks at whether the status changed


def transport_of(config: UpstreamConfig) -> str:
    """``stdio``, ``streamable-http`` or ``sse``."""
    if config.transport != "auto":
        return config.transport
    return "stdio" if config.argv else "streamable-http"


def link_factory(name: str, config: UpstreamConfig, env: Mapping[str, str]) -> MakeLink:
    """How to make a new link to upstream ``name`` (each start makes a new one)."""
    transport = transport_of(config)
    if transport == "stdio":
        child = child_env(env, config.env)
        return lambda wire: StdioLink(name, config.argv, child, config.cwd, wire)
    headers = dict(config.headers)
    if transport == "sse":
        return lambda wire: LegacySseLink(name, config.url, headers, wire)
    return lambda wire: StreamableLink(name, config.url, headers, wire)


class Gateway:
    """The upstreams and their providers."""

    def __init__(
        self,
        upstreams: Mapping[str, UpstreamConfig],
        env: Mapping[str, str],
        status_path: Path | None = None,
        clashes: Callable[[], list[str]] = list,
        nodes: Sequence[UpstreamProvider] = (),
    ) -> None:
        """``nodes``: the fleet's (fleet/node.py), supervised and shown like any upstream."""
        self.providers = [UpstreamProvider(name, c, link_factory(name, c, env)) for name, c in upstreams.items()]
        self.providers += nodes
        self.status_path = status_path
        self.clashes = clashes
        self._writer: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the ``start = "boot"`` upstreams and the status writer (async: it needs the running loop)."""
        for provider in self.providers:
            if provider.config.start == "boot":
                provider.upstream.begin()
            self._background.append(asyncio.create_task(provider.background()))
        if self.status_path is not None and self.providers:
            self._writer = asyncio.create_task(self._write_status(self.status_path))

    async def stop(self) -> None:
        """Stop every upstream at once (each closes stdin, then signals its process group)."""
        for task in (*self._background, *((self._writer,) if self._writer is not None else ())):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(p.upstream.stop() for p in self.providers))
        if self.status_path is not None and self.providers:
            await asyncio.to_thread(status.write, self.status_path, self.snapshot())

    def snapshot(self) -> status.Snapshot:
        return status.Snapshot(os.getpid(), time.time(), tuple(map(_status, self.providers)), tuple(self.clashes()))

    async def _write_status(self, path: Path) -> None:
        written: tuple[status.UpstreamStatus, ...] | None = None
        while True:
            snapshot = self.snapshot()
            if snapshot.upstreams != written:
                try:
                    await asyncio.to_thread(status.write, path, snapshot)
                    written = snapshot.upstreams
                except OSError as exc:
                    log.warning("cannot write %s: %s", path, exc.strerror or exc)
            await asyncio.sleep(STATUS_INTERVAL)


def _status(provider: UpstreamProvider) -> status.UpstreamStatus:
    upstream, config = provider.upstream, provider.config
    session = upstream.session
    link = session.link.describe() if session is not None and upstream.state is State.READY else "-"
    return status.UpstreamStatus(
        name=provider.name,
        transport=transport_of(config),
        target=" ".join(config.argv) if config.argv else config.url,
        state=upstream.state.value,
        since=upstream.since,
        tools=len(provider.tools()),
        restarts=upstream.restarts,
        last_error=upstream.last_error,
        link=link,
    )

