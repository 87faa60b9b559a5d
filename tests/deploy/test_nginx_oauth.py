"""Through a real nginx with TLS, the official SDK client logs in from nothing and calls a tool.

The whole OAuth flow crosses the proxy: the 401 challenge, discovery and
every metadata URL must be the public https ones for the client to follow
them, and the consent page and token endpoint are reached through nginx too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.nginx_support import Nginx, proxied
from tests.helpers.oauth_flow import set_password
from tests.helpers.sdk_oauth import Login, Owner, call_with_login
from tests.helpers.support import ROOT, ServerProcess

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "echo_plugin.py"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Nginx]]:
    tmp: Path = tmp_path_factory.mktemp("nginx-oauth")
    config = tmp / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n')
    set_password(tmp / "state", PASSWORD)
    with proxied(tmp, "--config", str(config)) as (server, nginx):
        yield server, nginx
    assert "Traceback" not in server.output(), server.output()


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_the_sdk_client_completes_oauth_through_nginx_and_calls_a_tool(
    behind: tuple[ServerProcess, Nginx], mode: str, version: str
) -> None:
    server, nginx = behind
    login = Login(Owner(PASSWORD, http=nginx.sdk_http_client))
    url = nginx.base_url + "/mcp"
    assert call_with_login(url, login, "echo", {"text": "over https"}, mode) == (version, ["over https"])
    assert login.owner.pages == 1
    assert login.owner.location.startswith("http://127.0.0.1:9/callback?code=")
    assert f"iss={nginx.base_url.replace(':', '%3A').replace('/', '%2F')}" in login.owner.location
    assert login.storage.client_info is not None
    assert login.storage.client_info.issuer == nginx.base_url
