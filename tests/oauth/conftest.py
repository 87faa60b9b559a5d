"""The OAuth server the authorization tests share: one per module, with OAuth on and the scoped plugin.

A module that needs another (``test_registration_limits``' low limits, ``test_sdk``'s SDK
plugin) defines its own ``server``, which wins over this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.oauth_flow import password_from
from tests.helpers.oauth_server import fresh_address, oauth_server
from tests.helpers.support import ServerProcess


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``vpsmcp serve`` with OAuth on for this module's tests; no traceback may reach its output."""
    with oauth_server(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])) as proc:
        yield proc
    assert "Traceback" not in proc.output(), proc.output()


@pytest.fixture(scope="module")
def password(server: ServerProcess) -> str:
    """The owner password the server printed at its first start."""
    return password_from(server.output())


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A client with its own cookie jar, at an address no other test uses (the login brake is per address)."""
    with httpx.Client(timeout=10, headers={"X-Forwarded-For": fresh_address()}) as client:
        yield client

