"""``/metrics``: off by default; on, Prometheus text that a real parser reads and that counts what happened."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.oauth_server import call_tool
from tests.helpers.support import ROOT, serve_from_checkout
from vpsmcp.config.sections import MetricsConfig, parse_config
from vpsmcp.errors import ConfigError
from vpsmcp.status.scrape import ScrapeRefused, admit

TOKEN = "m" * 40


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels (the parser raises on a malformed one)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.slow
def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    with serve_from_checkout(tmp_path, "--no-auth") as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404


@pytest.mark.slow
def test_enabled_metrics_parse_and_count_requests_tool_calls_and_upstreams(tmp_path: Path) -> None:
    upstream = [sys.executable, str(ROOT / "tests" / "upstreams" / "scripted_stdio.py")]
    config = tmp_path / "vpsmcp.toml"
    config.write_text(
        f'[plugins]\nmodules = [{json.dumps(str(ROOT / "tests" / "plugins" / "echo_plugin.py"))}]\n'
        f"[metrics]\nenabled = true\n[upstreams.scripted]\nargv = {json.dumps(upstream)}\nstart = \"boot\"\n"
    )
    with serve_from_checkout(tmp_path, "--no-auth", "--config", str(config)) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert call_tool(server.url, None).status_code == 200
        found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answer = httpx.get(f"{server.url}/metrics")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
            found = samples(answer.text)
            if found.get(("vpsmcp_upstream_up", frozenset({("upstream", "scripted")}))) == 1:
                break
            time.sleep(0.2)
        refused = httpx.get(f"{server.url}/metrics", headers={"x-forwarded-for": "203.0.113.5"})
        via = httpx.get(f"{server.url}/metrics", headers={"via": "1.1 proxy.example"})
    assert refused.status_code == 403 and via.status_code == 403
    assert found[("vpsmcp_http_requests_total", frozenset({("route", "/healthz"), ("status", "200")}))] == 1
    assert found[("vpsmcp_tool_calls_total", frozenset({("tool", "echo"), ("outcome", "ok")}))] == 1
    assert found[("vpsmcp_http_request_duration_seconds_count", frozenset({("route", "/mcp")}))] == 1
    assert found[("vpsmcp_http_request_duration_seconds_bucket", frozenset({("route", "/mcp"), ("le", "+Inf")}))] == 1
    assert found[("vpsmcp_upstream_up", frozenset({("upstream", "scripted")}))] == 1
    assert found[("vpsmcp_upstream_restarts_total", frozenset({("upstream", "scripted")}))] == 0
    assert found[("vpsmcp_http_requests_in_flight", frozenset())] == 1  # the scrape itself
    assert ("vpsmcp_sessions", frozenset()) in found and ("vpsmcp_open_streams", frozenset()) in found


@pytest.mark.parametrize(("token", "authorization", "peer", "forwarded", "status"), [
    ("", "", "127.0.0.1", None, None),
    ("", "", "::1", None, None),
    ("", "", "203.0.113.5", None, 403),
    ("", "", "127.0.0.1", "x-forwarded-for", 403),
    (TOKEN, "", "127.0.0.1", None, 401),
    (TOKEN, "Bearer " + "x" * 40, "127.0.0.1", None, 401),
    (TOKEN, "Basic " + TOKEN, "127.0.0.1", None, 401),
    (TOKEN, "Bearer " + TOKEN, "203.0.113.5", "forwarded", None),
])
def test_who_may_scrape(token: str, authorization: str, peer: str, forwarded: str | None, status: int | None) -> None:
    config = MetricsConfig(enabled=True, token=token)
    if status is None:
        admit(config, authorization, peer, forwarded)
        return
    with pytest.raises(ScrapeRefused) as refused:
        admit(config, authorization, peer, forwarded)
    assert refused.value.status == status
    assert ("WWW-Authenticate" in refused.value.headers) == (status == 401)


def test_a_short_metrics_token_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="metrics.token.*at least 32 characters"):
        parse_config('[metrics]\nenabled = true\ntoken = "short"\n', "vpsmcp.toml")
