"""What the server offers: tools, resources, resource templates and prompts.

Every source of them — built-in tools, plugin modules, upstream servers — is
a ``Provider``; the ``Registry`` merges providers behind one interface, so a
tool is written once and served to every era and transport. Each tool names
the scope it needs; the dispatcher hides and refuses tools outside the
caller's scopes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from vpsmcp.scopes import PLUGINS, SCOPE_KEY, ordered

if TYPE_CHECKING:
    from vpsmcp.protocol.context import Context

ToolHandler = Callable[["Context", dict[str, Any]], Awaitable[Any]]
ResourceReader = Callable[["Context", str, dict[str, str]], Awaitable[Any]]
PromptRenderer = Callable[["Context", dict[str, str]], Awaitable[Any]]
Completer = Callable[["Context", str, str, dict[str, str]], Awaitable[Sequence[str]]]

DEFAULT_SCOPE = PLUGINS
KINDS = frozenset({"tools", "resources", "prompts"})

log = logging.getLogger("vpsmcp.registry")


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool: its wire description, the scope it needs, and its handler."""

    name: str
    description: str
    input_schema: dict[str, Any]
    handler: ToolHandler
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    title: str | None = None
    scope: str = DEFAULT_SCOPE
    host: str | None = None  # the fleet node it acts on, for the audit (None: this server)

    def describe(self) -> dict[str, Any]:
        """The ``tools/list`` entry; ``_meta`` says the scope it needs (a fleet hub maps it)."""
        entry: dict[str, Any] = {"name": self.name, "description": self.description, "inputSchema": self.input_schema,
                                 "_meta": {SCOPE_KEY: self.scope}}
        if self.title:
            entry["title"] = self.title
        if self.output_schema is not None:
            entry["outputSchema"] = self.output_schema
        if self.annotations:
            entry["annotations"] = self.annotations
        return entry


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource with a fixed URI."""

    uri: str
    name: str
    read: ResourceReader
    description: str = ""
    mime_type: str | None = None
    scope: str = DEFAULT_SCOPE

    def describe(self) -> dict[str, Any]:
        """The ``resources/list`` entry."""
        entry: dict[str, Any] = {"uri": self.uri, "name": self.name, "_meta": {SCOPE_KEY: self.scope}}
        if self.description:
            entry["description"] = self.description
        if self.mime_type:
            entry["mimeType"] = self.mime_type
        return entry


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """Resources whose URIs match an RFC 6570 level-1 template such as ``test://x/{id}``."""

    uri_template: str
    name: str
    read: ResourceReader
    description: str = ""
    mime_type: str | None = None
    scope: str = DEFAULT_SCOPE
    complete: Completer | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.uri_template)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        object.__setattr__(self, "_pattern", re.compile(regex + r"\Z"))

    def match(self, uri: str) -> dict[str, str] | None:
        """The template variables when ``uri`` matches, else ``None``."""
        found = self._pattern.match(uri)
        return found.groupdict() if found else None

    def describe(self) -> dict[str, Any]:
        """The ``resources/templates/list`` entry."""
        entry: dict[str, Any] = {"uriTemplate": self.uri_template, "name": self.name, "_meta": {SCOPE_KEY: self.scope}}
        if self.description:
            entry["description"] = self.description
        if self.mime_type:
            entry["mimeType"] = self.mime_type
        return entry


@dataclass(frozen=True, slots=True)
class PromptArgument:
    """One argument a prompt takes."""

    name: str
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt template."""

    name: str
    render: PromptRenderer
    description: str = ""
    arguments: tuple[PromptArgument, ...] = ()
    scope: str = DEFAULT_SCOPE
    complete: Completer | None = None

    def describe(self) -> dict[str, Any]:
        """The ``prompts/list`` entry."""
        entry: dict[str, Any] = {"name": self.name, "_meta": {SCOPE_KEY: self.scope}}
        if self.description:
            entry["description"] = self.description
        if self.arguments:
            entry["arguments"] = [
                {"name": a.name, "description": a.description, "required": a.required} for a in self.arguments
            ]
        return entry


Kind = Literal["tool", "prompt", "resource", "template"]  # what a request names: a tool, prompt, URI, URI template


class Provider(Protocol):
    """A source of tools, resources and prompts."""

    def tools(self) -> Sequence[Tool]: ...
    def resources(self) -> Sequence[Resource]: ...
    def resource_templates(self) -> Sequence[ResourceTemplate]: ...
    def prompts(self) -> Sequence[Prompt]: ...


@runtime_checkable
class ChangingProvider(Protocol):
    """A provider whose lists change at run time (a gateway upstream).

    ``pending`` is what a list request waits for before its lists are known
    (``None``: nothing); ``awaiting(kind, name)`` what a request naming
    something nobody offers yet waits for, if this provider might offer it
    once started, and ``unready(kind, name)`` why it still does not (its scope
    and the reason); ``subscribe`` registers a listener called with the kinds
    (``tools``, ``resources``, ``prompts``) whose lists changed.
    """

    def pending(self) -> Awaitable[None] | None: ...
    def awaiting(self, kind: Kind, name: str) -> Awaitable[None] | None: ...
    def unready(self, kind: Kind, name: str) -> tuple[str, str] | None: ...
    def subscribe(self, listener: Callable[[frozenset[str]], None]) -> None: ...


@dataclass(slots=True)
class StaticProvider:
    """A provider whose offer is fixed once built (plugin modules, built-ins)."""

    tool_list: list[Tool] = field(default_factory=list)
    resource_list: list[Resource] = field(default_factory=list)
    template_list: list[ResourceTemplate] = field(default_factory=list)
    prompt_list: list[Prompt] = field(default_factory=list)

    def tools(self) -> Sequence[Tool]:
        return self.tool_list

    def resources(self) -> Sequence[Resource]:
        return self.resource_list

    def resource_templates(self) -> Sequence[ResourceTemplate]:
        return self.template_list

    def prompts(self) -> Sequence[Prompt]:
        return self.prompt_list


class Registry:
    """All providers merged; names are unique (the first provider wins a clash)."""

    def __init__(self, providers: Sequence[Provider] = ()) -> None:
        self.providers = list(providers)
        self.clashes: list[str] = []
        self._tools: dict[str, Tool] = {}
        self._resources: dict[str, Resource] = {}
        self._templates: list[ResourceTemplate] = []
        self._prompts: dict[str, Prompt] = {}
        self._listeners: list[Callable[[frozenset[str]], None]] = []
        self._changing = [p for p in self.providers if isinstance(p, ChangingProvider)]
        for provider in self._changing:
            provider.subscribe(self._provider_changed)
        self.refresh()

    def watch(self, listener: Callable[[frozenset[str]], None]) -> None:
        """Call ``listener`` with the kinds whose lists changed, after the registry has caught up."""
        self._listeners.append(listener)

    async def prepare(self) -> None:
        """Before a list: wait (each provider bounds its own wait) until the lists of starting providers are known."""
        waits = [w for p in self._changing if (w := p.pending()) is not None]
        if waits:
            await asyncio.gather(*waits)

    async def prepare_for(self, kind: Kind, name: object) -> list[tuple[str, str]]:
        """Before a request naming one thing: nothing to wait for when it is offered already; else wait
        for the starting providers that might offer it (and only those), and return, for the ones that
        still do not, their scope and why."""
        if not isinstance(name, str) or self._offered(kind, name):
            return []
        waits = [w for p in self._changing if (w := p.awaiting(kind, name)) is not None]
        if waits:
            await asyncio.gather(*waits)
        if self._offered(kind, name):
            return []
        return [why for p in self._changing if (why := p.unready(kind, name)) is not None]

    def _offered(self, kind: Kind, name: str) -> bool:
        if kind == "tool":
            return name in self._tools
        if kind == "prompt":
            return name in self._prompts
        if kind == "template":
            return any(t.uri_template == name for t in self._templates)
        return self.find_resource(name) is not None

    def _provider_changed(self, kinds: frozenset[str]) -> None:
        known = set(self.clashes)
        self.refresh()
        for clash in self.clashes:
            if clash not in known:
                log.warning("%s", clash)
        for listener in self._listeners:
            listener(kinds)

    def refresh(self) -> None:
        """Re-read every provider (after one reports that its lists changed)."""
        self.clashes = []
        self._tools = self._merge("tool", (t for p in self.providers for t in p.tools()), lambda t: t.name)
        self._resources = self._merge("resource", (r for p in self.providers for r in p.resources()), lambda r: r.uri)
        self._prompts = self._merge("prompt", (x for p in self.providers for x in p.prompts()), lambda x: x.name)
        self._templates = [t for p in self.providers for t in p.resource_templates()]

    def _merge(self, kind: str, items: Any, key: Callable[[Any], str]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for item in items:
            name = key(item)
            if name in merged:
                self.clashes.append(f"{kind} {name!r} is offered twice; the first one is served")
                continue
            merged[name] = item
        return merged

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def tool(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def resources(self) -> list[Resource]:
        return list(self._resources.values())

    def resource_templates(self) -> list[ResourceTemplate]:
        return list(self._templates)

    def find_resource(self, uri: str) -> tuple[Resource | ResourceTemplate, dict[str, str]] | None:
        """The resource or template serving ``uri``, with the template's variables."""
        if uri in self._resources:
            return self._resources[uri], {}
        for template in self._templates:
            variables = template.match(uri)
            if variables is not None:
                return template, variables
        return None

    def prompts(self) -> list[Prompt]:
        return list(self._prompts.values())

    def prompt(self, name: str) -> Prompt | None:
        return self._prompts.get(name)


def allowed(scope: str, granted: Mapping[str, object] | frozenset[str] | None) -> bool:
    """Whether a caller holding ``granted`` scopes may use something needing ``scope``.

    ``None`` means no authorization is in force (no-auth mode): everything is allowed. A scope
    with spaces (a fleet node's ``fleet:web1 vps:read``) needs each of its names.
    """
    if granted is None:
        return True
    return all(s in granted for s in scope.split()) if " " in scope else scope in granted


def registry_scopes(registry: Registry) -> list[str]:
    """Every scope something in ``registry`` needs, built-in ones first (what a token may ask for)."""
    items: list[Any] = [*registry.tools(), *registry.resources(), *registry.resource_templates(), *registry.prompts()]
    # A provider with one scope for everything it offers (a gateway upstream) needs it before it has listed anything.
    declared = [scope for p in registry.providers if isinstance(scope := getattr(p, "scope", None), str)]
    return ordered([name for scope in (*(item.scope for item in items), *declared) for name in scope.split()]) or [PLUGINS]
