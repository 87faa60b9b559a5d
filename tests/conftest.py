from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.support import ServerProcess, serve_from_checkout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real vpsmcp on a free port, logging JSON."""
    with serve_from_checkout(tmp_path, "--log-format", "json") as proc:
        yield proc
