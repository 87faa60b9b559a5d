"""The lean ASGI endpoint's own rules, driven with ASGI events (the server tests cover the rest)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from vpsmcp.errors import TransportError
from vpsmcp.transport.asgi import Body, ClientGone


def body_of(messages: list[dict[str, Any]], limit: int = 10, timeout: float = 0.2) -> Body:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    task = asyncio.current_task()
    assert task is not None
    return Body(SimpleNamespace(max_body=limit, body_timeout=timeout), queue.get, task)  # type: ignore[arg-type]


def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    async def slow() -> None:
        body = body_of([{"type": "http.request", "body": b"{", "more_body": True}])  # and then nothing
        with pytest.raises(TransportError) as info:
            await body.read()
        assert info.value.status == 408
    asyncio.run(slow())


def test_a_body_past_the_limit_is_413_at_once_and_one_in_chunks_is_joined() -> None:
    async def chunks() -> None:
        big = body_of([{"type": "http.request", "body": b"x" * 8, "more_body": True},
                       {"type": "http.request", "body": b"x" * 8, "more_body": True}])  # never ends: 413 first
        with pytest.raises(TransportError) as info:
            await big.read()
        assert info.value.status == 413
        fits = body_of([{"type": "http.request", "body": b"12", "more_body": True},
                        {"type": "http.request", "body": b"34", "more_body": False}])
        assert await fits.read() == b"1234"
        fits.stop_watching()
    asyncio.run(chunks())


def test_a_client_leaving_mid_body_ends_the_request_quietly() -> None:
    async def leaves() -> None:
        body = body_of([{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])
        with pytest.raises(ClientGone):
            await body.read()
    asyncio.run(leaves())
