"""Two vpsmcp instances on one state directory behind the shipped nginx site, as `--instances 2` deploys them.

The official SDK client logs in through nginx — its OAuth requests spread
over both instances — and then, in one handshake-era session, calls a tool
again and again while the instance holding the session is stopped: nginx
hands the session to the other, which serves it from the shared store, and
the client never sees the gap. Then the stateless era, whose requests go
round-robin, reaches both.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from tests.helpers.nginx_support import HOSTNAME, Nginx, TlsFiles, free_port, resolving
from tests.helpers.oauth_flow import set_password
from tests.helpers.sdk_oauth import REDIRECT_URI, Login, Owner, call_with_login
from tests.helpers.support import ROOT, ServerProcess, serve_from_checkout

pytestmark = pytest.mark.slow

PLUGIN = ROOT / "tests" / "plugins" / "echo_plugin.py"
PASSWORD = "correct horse battery staple"
CALLS = 12


def mcp_posts(server: ServerProcess) -> int:
    return len(re.findall(r"method=POST path=/mcp status=200", server.output()))


def test_a_session_outlives_the_instance_that_held_it(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n')
    set_password(tmp_path / "state", PASSWORD)
    tls = TlsFiles.make(tmp_path / "tls")
    https_port = free_port()
    public_url = f"https://{HOSTNAME}:{https_port}"
    instances = [serve_from_checkout(tmp_path, "--public-url", public_url, "--config", str(config),
                                     "--instance", name).start() for name in ("a", "b")]
    ports = [int(server.url.rsplit(":", 1)[1]) for server in instances]
    nginx = Nginx(tmp_path / "nginx", tls, https_port, ports[0], more_upstreams=(ports[1],))
    url = public_url + "/mcp"
    login = Login(Owner(PASSWORD, http=nginx.sdk_http_client))
    texts: list[str] = []
    stopped: list[ServerProcess] = []

    async def conversation() -> None:
        provider = OAuthClientProvider(url, OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT_URI)],
                                                                client_name="two instances"),
                                       login.storage, redirect_handler=login.owner.redirect_handler,
                                       callback_handler=login.owner.callback_handler)
        with anyio.fail_after(90):
            async with login.owner.http(auth=provider, timeout=30) as http:
                async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                    for n in range(CALLS):
                        if n == CALLS // 2:  # stop the instance this session's requests went to, gracefully
                            holder = max(instances, key=mcp_posts)
                            await anyio.to_thread.run_sync(holder.stop)
                            stopped.append(holder)
                        result = await client.call_tool("echo", {"text": f"call {n}"})
                        texts.extend(getattr(block, "text", "") for block in result.content)

    try:
        nginx.start()
        with resolving():
            anyio.run(conversation)
            survivor = next(s for s in instances if s not in stopped)
            before = mcp_posts(survivor)
            assert call_with_login(url, login, "echo", {"text": "stateless"}, "auto") == ("2026-07-28", ["stateless"])
    finally:
        nginx.stop()
        for server in instances:
            server.stop()
    assert texts == [f"call {n}" for n in range(CALLS)], texts
    assert len(stopped) == 1 and mcp_posts(stopped[0]) >= CALLS // 2, "the first half went to one instance"
    assert mcp_posts(survivor) >= before + 1 and before >= CALLS // 2, "the second half went on in the other"
    for server in instances:
        assert "Traceback" not in server.output(), server.output()
