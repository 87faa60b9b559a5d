"""The official MCP SDK's OAuth client, with the test playing the owner at the consent page."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.helpers.oauth_flow import HIDDEN

REDIRECT_URI = "http://127.0.0.1:9/callback"
TIMEOUT = 60.0
HttpFactory = Callable[..., httpx2.AsyncClient]


@dataclass
class Owner:
    """Acts at the consent page for ``password``, granting every scope offered."""

    password: str
    http: HttpFactory = httpx2.AsyncClient
    location: str = ""
    pages: int = 0

    async def redirect_handler(self, authorization_url: str) -> None:
        async with self.http(timeout=10) as http:
            page = await http.get(authorization_url)
            assert page.status_code == 200, page.text
            self.pages += 1
            form: dict[str, Any] = {k: html.unescape(v) for k, v in HIDDEN.findall(page.text)}
            form.update(password=self.password, decision="allow",
                        scope=re.findall(r'name="scope" value="([^"]+)"', page.text))
            answer = await http.post(authorization_url.split("?")[0], data=form)
        assert answer.status_code == 302, answer.text
        self.location = answer.headers["location"]

    async def callback_handler(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self.location).query)
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0], iss=query["iss"][0])


@dataclass
class MemoryStorage:
    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Login:
    """One client's identity across sessions: its storage and the owner who consents for it."""

    owner: Owner
    storage: MemoryStorage = field(default_factory=MemoryStorage)


def call_with_login(url: str, login: Login, tool: str, arguments: dict[str, Any], mode: str = "auto",
                    metadata_url: str | None = None, expired: bool = False) -> tuple[str | None, list[str]]:
    """One SDK session to ``url`` (…/mcp) that logs in as needed: (protocol version, texts of the call)."""

    async def conversation() -> tuple[str | None, list[str]]:
        provider = OAuthClientProvider(
            url,
            OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT_URI)], client_name="SDK test",
                                token_endpoint_auth_method="none" if metadata_url else None),
            login.storage,
            redirect_handler=login.owner.redirect_handler,
            callback_handler=login.owner.callback_handler,
            client_metadata_url=metadata_url,
        )
        if expired:  # the SDK refreshes only when its own clock says the token expired: make it say so
            provider.context.token_expiry_time = 1.0
        with anyio.fail_after(TIMEOUT):
            async with login.owner.http(auth=provider, timeout=TIMEOUT) as http:
                async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
                    result = await client.call_tool(tool, arguments)
                    return client.protocol_version, [getattr(block, "text", "") for block in result.content]

    return anyio.run(conversation)
