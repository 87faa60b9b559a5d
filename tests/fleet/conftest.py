"""A node (a real ``vpsmcp serve`` with OAuth) shared by a module's tests, and a fresh hub per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.fleet_support import Machine


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    machine = Machine(tmp_path_factory.mktemp("node"), "node-owner-password").prepare().start()
    try:
        yield machine
    finally:
        machine.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Machine:
    return Machine(tmp_path / "hub", "hub-owner-password").prepare()
