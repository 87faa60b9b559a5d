"""Plugins: the owner's own tools, resources and prompts in a few lines of Python.

A plugin module creates a ``Plugin`` named ``plugin`` and decorates functions::

    from vpsmcp.plugin import Plugin

    plugin = Plugin()

    @plugin.tool()
    async def disk_free(ctx, path: str = "/") -> str:
        \"\"\"Free space under a path.\"\"\"
        ...

and the config names it: ``[plugins] modules = ["my_tools"]`` (a module on
``plugins.paths``) or a path to a ``.py`` file. The input schema comes from the
signature unless one is given; the description from the docstring. Plain
functions run in a worker thread so they cannot stall the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from vpsmcp.errors import ConfigError, ConfigErrors, ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import (
    DEFAULT_SCOPE,
    Completer,
    Prompt,
    PromptArgument,
    Resource,
    ResourceTemplate,
    StaticProvider,
    Tool,
)

F = typing.TypeVar("F", bound=Callable[..., Any])

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


class Plugin:
    """Collects what a plugin module offers; ``provider`` serves it."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.provider = StaticProvider()

    def tool(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        annotations: dict[str, Any] | None = None,
        title: str | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> Callable[[F], F]:
        """Register a function ``(ctx, **arguments)`` as a tool."""

        def register(func: F) -> F:
            schema = input_schema if input_schema is not None else schema_from_signature(func)
            self.provider.tool_list.append(
                Tool(
                    name=name or func.__name__,
                    description=description or inspect.getdoc(func) or "",
                    input_schema=schema,
                    handler=_tool_handler(func, schema),
                    output_schema=output_schema,
                    annotations=annotations,
                    title=title,
                    scope=scope,
                )
            )
            return func

        return register

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        scope: str = DEFAULT_SCOPE,
        complete: Completer | None = None,
    ) -> Callable[[F], F]:
        """Register ``(ctx, uri, **variables)`` as a resource; a ``{var}`` in ``uri`` makes a template."""

        def register(func: F) -> F:
            reader = _resource_reader(func)
            doc = description or inspect.getdoc(func) or ""
            if "{" in uri:
                self.provider.template_list.append(
                    ResourceTemplate(uri, name or func.__name__, reader, doc, mime_type, scope, complete)
                )
            else:
                self.provider.resource_list.append(Resource(uri, name or func.__name__, reader, doc, mime_type, scope))
            return func

        return register

    def prompt(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        scope: str = DEFAULT_SCOPE,
        complete: Completer | None = None,
    ) -> Callable[[F], F]:
        """Register ``(ctx, **arguments) -> messages`` as a prompt; its string parameters are the arguments."""

        def register(func: F) -> F:
            params = list(inspect.signature(func).parameters.values())[1:]
            arguments = tuple(
                PromptArgument(p.name, "", p.default is inspect.Parameter.empty) for p in params
            )
            self.provider.prompt_list.append(
                Prompt(
                    name or func.__name__,
                    _prompt_renderer(func),
                    description or inspect.getdoc(func) or "",
                    arguments,
                    scope,
                    complete,
                )
            )
            return func

        return register


def _caller(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """An async callable running ``func``: awaited if async, else in a worker thread."""
    if inspect.iscoroutinefunction(func):
        return func
    return functools.partial(asyncio.to_thread, func)


def _tool_handler(func: Callable[..., Any], schema: dict[str, Any]) -> Any:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(func).parameters.values())
    call = _caller(func)

    async def handler(ctx: Context, arguments: dict[str, Any]) -> Any:
        missing = sorted(required - arguments.keys())
        if missing:
            raise ToolError(f"missing required argument(s): {', '.join(missing)}")
        unknown = sorted(arguments.keys() - properties.keys())
        if unknown and not takes_any:
            raise ToolError(f"unknown argument(s): {', '.join(unknown)}")
        for key, value in arguments.items():
            problem = _type_problem(properties.get(key, {}), value)
            if problem:
                raise ToolError(f"argument {key!r}: {problem}")
        return await call(ctx, **arguments)

    return handler


def _resource_reader(func: Callable[..., Any]) -> Any:
    call = _caller(func)

    async def read(ctx: Context, uri: str, variables: dict[str, str]) -> Any:
        return await call(ctx, uri, **variables)

    return read


def _prompt_renderer(func: Callable[..., Any]) -> Any:
    call = _caller(func)

    async def render(ctx: Context, arguments: dict[str, str]) -> Any:
        return await call(ctx, **arguments)

    return render


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _type_problem(schema: dict[str, Any], value: Any) -> str | None:
    expected = schema.get("type")
    check = _TYPE_CHECKS.get(expected) if isinstance(expected, str) else None
    if check is not None and not check(value):
        return f"expected {expected}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"expected one of {schema['enum']}"
    return None


def schema_from_signature(func: Callable[..., Any]) -> dict[str, Any]:
    """A JSON Schema for the parameters after ``ctx``, from their annotations and defaults."""
    hints = typing.get_type_hints(func)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in list(inspect.signature(func).parameters.values())[1:]:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        prop = _schema_of(hints.get(param.name, Any))
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif param.default is not None:
            prop["default"] = param.default
        properties[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _schema_of(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin is Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _schema_of(args[0])
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        return {"type": "array", "items": _schema_of(args[0])} if args else {"type": "array"}
    if origin is dict:
        return {"type": "object"}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    return {}


def load_plugins(specs: Sequence[str], paths: Sequence[str], source: str) -> list[Plugin]:
    """Import each plugin module named in the config and return its ``plugin``."""
    for path in paths:
        if path not in sys.path:
            sys.path.insert(0, path)
    plugins = []
    errors: list[ConfigError] = []  # every module that fails is named, not only the first
    for index, spec in enumerate(specs):
        key = f"plugins.modules[{index}]"
        try:
            module = _import(spec)
        except Exception as exc:  # a plugin's own bug must name the plugin, not crash start-up blindly
            errors.append(ConfigError(source, key, f"cannot load plugin {spec!r}: {type(exc).__name__}: {exc}"))
            continue
        plugin = getattr(module, "plugin", None)
        if not isinstance(plugin, Plugin):
            errors.append(ConfigError(source, key, f"plugin {spec!r} defines no `plugin = Plugin()`"))
            continue
        plugins.append(plugin)
    if (error := ConfigErrors.of(errors)) is not None:
        raise error
    return plugins


def _import(spec: str) -> types.ModuleType:
    if not spec.endswith(".py"):
        return importlib.import_module(spec)
    path = Path(spec)
    module_spec = importlib.util.spec_from_file_location(f"vpsmcp_plugin_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"no such file: {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module
