"""The hub's token for one node, as the gateway link asks for it: fresh, renewed before it expires.

The server keeps the current access token in memory and goes to the fleet file
only to renew it: in the last quarter of its life, and once when the node
answers 401 to it. Renewing happens under the file's lock in a worker thread:
another instance (or ``vpsmcp fleet``) that renewed first has left a token that
is still fresh, and it is taken instead of rotating the refresh token again.
When the node says ``invalid_grant`` (its owner revoked the hub's grant) or
refuses a personal access token, the node is marked logged out in the file,
and every call fails at once naming ``vpsmcp fleet login NAME`` until someone
runs it; a node that cannot be reached is only that (the next call tries again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from vpsmcp.errors import UpstreamError
from vpsmcp.fleet import oauth
from vpsmcp.fleet.nodes import Fleet, Node, expiring


class NodeCredential:
    """The ``gateway.link.Credential`` of one fleet node."""

    def __init__(self, fleet: Fleet, name: str) -> None:
        self.fleet = fleet
        self.name = name
        self.fix = f"log the hub in again (vpsmcp fleet login {name})"
        self._node: Node | None = None  # as last read or renewed; its access token is the one sent
        self._lock = asyncio.Lock()

    async def header(self) -> str:
        if self._node is None or expiring(self._node):
            async with self._lock:
                if self._node is None or expiring(self._node):
                    self._node = await asyncio.to_thread(fresh, self.fleet, self.name, None)
        return "Bearer " + self._node.access_token

    async def renew(self, refused: str) -> str:
        async with self._lock:
            if self._node is None or "Bearer " + self._node.access_token == refused:
                self._node = await asyncio.to_thread(fresh, self.fleet, self.name, refused.removeprefix("Bearer "))
        return "Bearer " + self._node.access_token

    async def keep_fresh(self) -> None:
        """Renew the token before it expires even when nobody calls the node (so its refresh token
        never lapses either): a look every eighth of its lifetime, between 5 s and an hour."""
        while True:
            with contextlib.suppress(UpstreamError):  # said to callers (and the status page) by the link
                await self.header()
            lifetime = self._node.lifetime if self._node is not None else 0.0
            await asyncio.sleep(min(3600.0, max(5.0, lifetime / 8)))


def fresh(fleet: Fleet, name: str, refused: str | None = None) -> Node:
    """The node with an access token good for now, renewed if it expires soon or ``refused`` is the
    one on file; ``UpstreamError`` (naming the node and what to do) when there is none."""
    with fleet.changing() as nodes:
        node = nodes.get(name)
        if node is None:
            raise UpstreamError(name, "is no longer in the fleet (vpsmcp fleet remove): restart vpsmcp to drop its tools")
        if node.logged_out:
            raise UpstreamError(name, f"{node.logged_out}: {_fix(node)}")
        if node.access_token != refused and not expiring(node):
            return node
        problem = _renew(node)
        if isinstance(problem, Node):
            nodes[name] = problem
            return problem
        why, logged_out = problem
        if logged_out:  # kept in the file (the block ends normally), so every instance and the CLI see it
            nodes[name] = replace(node, logged_out=why)
    raise UpstreamError(name, f"{why}: {_fix(node)}" if logged_out else why)


def _renew(node: Node) -> Node | tuple[str, bool]:
    """The node with renewed tokens, or (why not, whether the hub is logged out for good)."""
    if node.kind == "token" or not node.refresh_token:
        return "refused the hub's personal access token", True
    try:
        answer = oauth.token(node.token_endpoint, {"grant_type": "refresh_token", "refresh_token": node.refresh_token,
                                                   **oauth.client_form(node.client_id, node.client_secret)})
    except oauth.Refused as exc:
        if exc.error == "invalid_grant":
            return "revoked the hub's grant", True
        if exc.error in ("invalid_client", "unauthorized_client"):
            return "no longer knows the hub's client", True
        return f"refused to renew the hub's token ({exc})", False
    except oauth.Unreachable as exc:
        return f"cannot renew the hub's token: {exc}", False
    return with_tokens(node, answer)


def _fix(node: Node) -> str:
    if node.kind == "token":
        return (f"make a new personal access token on the node (vpsmcp tokens create) and run "
                f"`{node.login_command()} --token-stdin` on the hub")
    return f"run `{node.login_command()}` on the hub"


def with_tokens(node: Node, answer: dict[str, object], now: float | None = None) -> Node:
    """``node`` holding what a token endpoint answered (a refresh token rotates if a new one came)."""
    now = time.time() if now is None else now
    expires_in = answer.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 0.0
    refresh = answer.get("refresh_token")
    return replace(node, access_token=str(answer["access_token"]), lifetime=lifetime,
                   expires_at=now + lifetime if lifetime else 0.0, renewed_at=now, logged_out="",
                   refresh_token=refresh if isinstance(refresh, str) else node.refresh_token,
                   scope=str(answer.get("scope") or node.scope))
