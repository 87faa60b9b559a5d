"""The official conformance suite through the gateway: its fixture as a stdio *upstream*.

``vpsmcp stdio`` serves tests/fixtures/conformance.py; a ``--no-auth``
vpsmcp whose only content is that upstream, with an empty prefix, is what
the suite talks to. The 0.1.16 and 0.2.0-alpha.12 active suites (handshake
era) must pass as they do against the plugin served directly
(tests/clients/test_conformance.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import tomli_w

from tests.clients.test_conformance import FIXTURE, SUITES, Served, Suite, report, run_suite
from tests.helpers.support import ROOT, serve_from_checkout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def through_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("gateway-conformance")
    inner = tmp / "fixture.toml"
    inner.write_text(tomli_w.dumps({"plugins": {"modules": [str(FIXTURE)]}}))
    upstream = {
        "argv": [sys.executable, "-m", "vpsmcp", "stdio", "--config", str(inner)],
        "env": {"PYTHONPATH": str(ROOT)},
        "prefix": "",
        "start": "boot",
    }
    config = tmp / "vpsmcp.toml"
    config.write_text(tomli_w.dumps({"upstreams": {"conformance": upstream}}))
    with serve_from_checkout(tmp, "--config", str(config), "--no-auth") as server:
        server.wait_for_line(r"upstream conformance ready", timeout=30)
        yield Served(server, server.url + "/mcp", tmp)


@pytest.mark.parametrize("suite", SUITES[:2], ids=lambda s: s.label.replace(" ", "-"))
def test_active_suite_passes_through_the_gateway(
    through_gateway: Served, suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_suite(through_gateway, suite)
    detail = report(outcome, suite, through_gateway, capsys)
    assert outcome.failed == 0, detail
    assert outcome.returncode == 0, detail
    assert outcome.passed > 0 and outcome.scenarios, detail
