from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.redis_support import RedisServer
from tests.helpers.support import ServerProcess, serve_from_checkout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real vpsmcp on a free port, logging JSON."""
    with serve_from_checkout(tmp_path, "--log-format", "json") as proc:
        yield proc


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Debian redis-server for the whole run; tests keep apart by key prefix."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
