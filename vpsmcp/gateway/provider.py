"""One upstream as a registry ``Provider``: its lists, renamed, filtered and scoped.

Tool and prompt names get the upstream's prefix (``fs__read_file``); resource
URIs are kept, since they name things outside vpsmcp (a clash is reported
like any other). ``allow`` and ``deny`` are shell patterns on the upstream's
own tool names. Everything needs the scope ``upstream:NAME``, so an owner can
grant a client one upstream and not another. The lists are rebuilt only when
the upstream's catalog changes, and ``pending``/``subscribe`` tell the
registry when to wait and when to look again.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from vpsmcp import scopes
from vpsmcp.config.sections import UpstreamConfig
from vpsmcp.errors import JsonRpcError, UpstreamError
from vpsmcp.gateway.catalog import Catalog
from vpsmcp.gateway.supervisor import MakeLink, Upstream
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.jsonrpc import INTERNAL_ERROR
from vpsmcp.protocol.registry import Completer, Kind, Prompt, PromptArgument, Resource, ResourceTemplate, Tool
from vpsmcp.protocol.results import WireResult

Listener = Callable[[frozenset[str]], None]


class UpstreamProvider:
    """What one upstream offers, as the registry sees it.

    A fleet node (``fleet/node.py``) is one too, and changes what the hooks say: the scope each
    entry needs, its description, what a call carries, and ``host``."""

    host: str | None = None  # the fleet node this provider's tools act on

    def __init__(self, name: str, config: UpstreamConfig, make_link: MakeLink, scope: str | None = None) -> None:
        self.name = name
        self.config = config
        self.prefix = config.prefix.replace("{name}", name)
        self.scope = scope or scopes.upstream(name)
        self.upstream = Upstream(name, config, make_link, self._changed)
        self._listeners: list[Listener] = []
        self._built: Catalog | None = None
        self._tools: list[Tool] = []
        self._resources: list[Resource] = []
        self._templates: list[ResourceTemplate] = []
        self._prompts: list[Prompt] = []

    def offers(self, tool_name: str) -> bool:
        """Whether ``allow``/``deny`` let the upstream's tool ``tool_name`` through."""
        allowed = not self.config.allow or any(fnmatch.fnmatchcase(tool_name, p) for p in self.config.allow)
        return allowed and not any(fnmatch.fnmatchcase(tool_name, p) for p in self.config.deny)

    def tools(self) -> Sequence[Tool]:
        self._build()
        return self._tools

    def resources(self) -> Sequence[Resource]:
        self._build()
        return self._resources

    def resource_templates(self) -> Sequence[ResourceTemplate]:
        self._build()
        return self._templates

    def prompts(self) -> Sequence[Prompt]:
        self._build()
        return self._prompts

    def pending(self) -> Awaitable[None] | None:
        return self.upstream.pending()

    def might_offer(self, kind: Kind, name: str) -> bool:
        """Whether ``name`` could be this upstream's once it has listed (tool and prompt names carry its prefix)."""
        if kind in ("resource", "template"):
            return name.startswith(self.uri_of(""))  # what this provider puts before its URIs (often nothing)
        if not name.startswith(self.prefix):
            return False
        return kind != "tool" or self.offers(name[len(self.prefix):])

    def awaiting(self, kind: Kind, name: str) -> Awaitable[None] | None:
        return self.upstream.starting() if self.might_offer(kind, name) else None

    def unready(self, kind: Kind, name: str) -> tuple[str, str] | None:
        why = self.upstream.unready() if self.might_offer(kind, name) else None
        return None if why is None else (self.scope, f"upstream {self.name!r}, which would offer it, {why}")

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, kinds: frozenset[str]) -> None:
        for listener in self._listeners:
            listener(kinds)

    def _build(self) -> None:
        catalog = self.upstream.catalog
        if catalog is self._built:
            return
        self._built = catalog
        self._tools = [t for t in map(self._tool, catalog.tools) if t is not None]
        self._resources = [r for r in map(self._resource, catalog.resources) if r is not None]
        self._templates = [t for t in map(self._template, catalog.templates) if t is not None]
        self._prompts = [p for p in map(self._prompt, catalog.prompts) if p is not None]

    def _tool(self, entry: dict[str, Any]) -> Tool | None:
        name = entry.get("name")
        if not isinstance(name, str) or not self.offers(name):
            return None
        schema = entry.get("inputSchema")
        return Tool(
            name=self.prefix + name,
            description=self.description_of(_text(entry.get("description"))),
            input_schema=schema if isinstance(schema, dict) else {"type": "object"},
            handler=self._call_tool(name),
            output_schema=_dict_or_none(entry.get("outputSchema")),
            annotations=_dict_or_none(entry.get("annotations")),
            title=entry.get("title") if isinstance(entry.get("title"), str) else None,
            scope=self.scope_of(entry),
            host=self.host,
        )

    def scope_of(self, entry: dict[str, Any]) -> str:
        """The scope an entry of the upstream's lists needs here: the upstream's, for everything."""
        return self.scope

    def uri_of(self, uri: str) -> str:
        """A resource URI (or template) as offered here: the upstream's own (it names something outside)."""
        return uri

    def upstream_uri(self, uri: str) -> str:
        """The upstream's URI for one offered here (``uri_of`` undone)."""
        return uri

    def description_of(self, text: str) -> str:
        """An entry's description as offered here."""
        return text

    async def background(self) -> None:
        """What runs beside the upstream for as long as the gateway does (nothing, for a plain upstream)."""

    def outgoing(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        """What a call sends upstream on behalf of ``ctx``'s caller: the parameters as they are."""
        return params

    def _call_tool(self, name: str) -> Callable[[Context, dict[str, Any]], Awaitable[Any]]:
        async def handler(ctx: Context, arguments: dict[str, Any]) -> WireResult:
            params = self.outgoing(ctx, {"name": name, "arguments": arguments})
            return WireResult(await self.upstream.call(ctx, "tools/call", params))

        return handler

    def _resource(self, entry: dict[str, Any]) -> Resource | None:
        uri, name = entry.get("uri"), entry.get("name")
        if not isinstance(uri, str):
            return None
        return Resource(self.uri_of(uri), _text(name) or uri, self._read,
                        self.description_of(_text(entry.get("description"))),
                        _str_or_none(entry.get("mimeType")), self.scope_of(entry))

    def _template(self, entry: dict[str, Any]) -> ResourceTemplate | None:
        template, name = entry.get("uriTemplate"), entry.get("name")
        if not isinstance(template, str):
            return None
        complete = self._completer({"type": "ref/resource", "uri": template})
        return ResourceTemplate(self.uri_of(template), _text(name) or template, self._read,
                                self.description_of(_text(entry.get("description"))),
                                _str_or_none(entry.get("mimeType")), self.scope_of(entry), complete)

    async def _read(self, ctx: Context, uri: str, variables: dict[str, str]) -> Any:
        result = await self._ask(ctx, "resources/read", {"uri": self.upstream_uri(uri)})
        contents = result.get("contents")
        return contents if isinstance(contents, list) else []

    def _prompt(self, entry: dict[str, Any]) -> Prompt | None:
        name = entry.get("name")
        if not isinstance(name, str):
            return None
        arguments = tuple(
            PromptArgument(str(a["name"]), _text(a.get("description")), a.get("required") is True)
            for a in entry.get("arguments") or () if isinstance(a, dict) and isinstance(a.get("name"), str)
        )

        async def render(ctx: Context, args: dict[str, str]) -> Any:
            return await self._ask(ctx, "prompts/get", {"name": name, "arguments": args})

        complete = self._completer({"type": "ref/prompt", "name": name})
        return Prompt(self.prefix + name, render, self.description_of(_text(entry.get("description"))), arguments,
                      self.scope_of(entry), complete)

    def _completer(self, ref: dict[str, Any]) -> Completer:
        async def complete(ctx: Context, argument: str, value: str, context: dict[str, str]) -> Sequence[str]:
            session = self.upstream.session
            if session is None or "completions" not in session.capabilities:
                return []
            params: dict[str, Any] = {"ref": ref, "argument": {"name": argument, "value": value}}
            if context:
                params["context"] = {"arguments": context}
            completion = (await self._ask(ctx, "completion/complete", params)).get("completion")
            values = completion.get("values") if isinstance(completion, dict) else None
            return [str(v) for v in values] if isinstance(values, list) else []

        return complete

    async def _ask(self, ctx: Context, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A call that is not a tool call: an unavailable upstream is a JSON-RPC error, not a tool result."""
        try:
            return await self.upstream.call(ctx, method, self.outgoing(ctx, params))
        except UpstreamError as exc:
            raise JsonRpcError(INTERNAL_ERROR, str(exc)) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
