"""One fleet node as a registry provider: another vpsmcp's tools, resources and prompts, here.

A node is a Streamable HTTP upstream (the gateway's supervision: start at
boot, restart with backoff, calls fail at once naming the node while it is
down) with three differences:

- the hub's own token goes with each request (``credentials.NodeCredential``),
  never the caller's (MCP authorization, "Token Passthrough");
- names carry ``NAME_`` (``web1_status``), resource URIs ``NAME+`` (``web1+file:///etc/hosts``,
  still a URI: the scheme ``web1+file``), descriptions say the host, and an
  entry needs ``fleet:NAME`` *and* the scope the node says it needs in its
  ``_meta`` (``io.vpsmcp/scope``): a client granted ``fleet:web1 vps:read``
  gets web1's read tools only. An entry that names no scope (a node too old
  to say) needs ``vps:exec`` besides, the riskiest there is;
- each call tells the node who asked the hub (``_meta`` ``io.vpsmcp/on-behalf-of``),
  which the node's audit records beside the hub's client id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vpsmcp import scopes
from vpsmcp.config.sections import UpstreamConfig
from vpsmcp.fleet.credentials import NodeCredential
from vpsmcp.fleet.nodes import Fleet, Node
from vpsmcp.gateway.provider import UpstreamProvider
from vpsmcp.gateway.streamable import StreamableLink
from vpsmcp.protocol.context import Context

UNKNOWN_SCOPE = scopes.EXEC  # what an entry naming no scope needs besides fleet:NAME


class NodeProvider(UpstreamProvider):
    """A fleet node's offer, prefixed, scoped and described as acting on that host."""

    def __init__(self, node: Node, fleet: Fleet) -> None:
        self.credential = NodeCredential(fleet, node.name)
        self.url = node.url
        config = UpstreamConfig(url=node.url, prefix=f"{node.name}_", start="boot", asks=("sampling", "elicitation"))
        super().__init__(node.name, config,
                         lambda wire: StreamableLink(node.name, node.url, {}, wire, self.credential),
                         scope=scopes.fleet(node.name))
        self.host = node.name

    def scope_of(self, entry: dict[str, Any]) -> str:
        meta = entry.get("_meta")
        named = meta.get(scopes.SCOPE_KEY) if isinstance(meta, dict) else None
        needed = named.split() if isinstance(named, str) and named.strip() else [UNKNOWN_SCOPE]
        return " ".join([self.scope, *(s for s in needed if s != self.scope)])

    def uri_of(self, uri: str) -> str:
        return f"{self.name}+{uri}"

    def upstream_uri(self, uri: str) -> str:
        return uri.removeprefix(f"{self.name}+")

    def description_of(self, text: str) -> str:
        return f"On the host {self.name} ({self.url}): {text}" if text else f"On the host {self.name} ({self.url})."

    async def background(self) -> None:
        await self.credential.keep_fresh()

    def outgoing(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.client_id is None:  # no caller to name (auth.mode = "none")
            return params
        meta = params.get("_meta")
        return {**params, "_meta": {**(meta if isinstance(meta, dict) else {}), scopes.ON_BEHALF_KEY: ctx.client_id}}


def providers(state_dir: Path) -> list[NodeProvider]:
    """A provider for each node in the state directory's fleet file."""
    fleet = Fleet(state_dir)
    return [NodeProvider(node, fleet) for node in fleet.read().values()]
