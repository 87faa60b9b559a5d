"""The baseline of bench/gateway.py: the stdio server called directly, with no gateway in between.

A minimal asyncio client on the server's pipes: one ``initialize``, then
``tools/call`` for a fixed time from ``connections`` concurrent callers
multiplexed over the one pipe by request id (as the gateway does).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from typing import Any

from load import Sample


class StdioClient:
    """Newline-delimited JSON-RPC to a child process; answers matched by id."""

    def __init__(self, argv: list[str], cpu: int | None) -> None:
        self.argv = argv
        self.cpu = cpu
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0

    async def __aenter__(self) -> StdioClient:
        cpu = self.cpu
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=2**24,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
        self.reader = asyncio.create_task(self._read())
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
        await self.call("initialize", init)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            future = self.waiting.pop(message.get("id"), None) if "method" not in message else None
            if future is not None:
                future.set_result(message)

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self._write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        answer = await future
        if "result" not in answer:
            raise RuntimeError(f"direct {method}: {answer}")
        return dict(answer["result"])


async def measure(client: StdioClient, params: dict[str, Any], connections: int, seconds: float) -> Sample:
    """tools/call from ``connections`` callers for ``seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        while (started := time.perf_counter()) < deadline:
            await client.call("tools/call", params)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(connections)))
    took = time.perf_counter() - began
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Sample(len(latencies), took, statistics.median(ordered) * 1e3, p99 * 1e3, 0)
