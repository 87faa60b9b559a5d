"""Declaring a built-in tool: schema, annotations, scope, time limit, error wording.

``declare`` turns a handler ``(ctx, args) -> ToolResult`` into a registry
``Tool`` whose wrapper checks the arguments against the input schema, bounds
the call's duration, and turns the operating system's refusals into one
readable line ("permission denied: …") — a tool error the model can act on,
never a stack trace.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.tools.arguments import Args, check_arguments
from vpsmcp.tools.schemas import Schema

Run = Callable[[Context, Args], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class Effect:
    """What a tool does to the machine, as MCP tool annotations describe it."""

    read_only: bool
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False

    def annotations(self, title: str) -> dict[str, Any]:
        return {
            "title": title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }


OBSERVES = Effect(read_only=True)


def declare(
    name: str,
    title: str,
    description: str,
    scope: str,
    run: Run,
    inputs: Schema,
    output: Schema | None,
    effect: Effect = OBSERVES,
    time_limit: float | None = None,
) -> Tool:
    """A registry ``Tool`` for ``run``; ``time_limit`` bounds each call (``None``: the handler bounds itself)."""

    async def handler(ctx: Context, arguments: dict[str, Any]) -> ToolResult:
        args = Args(check_arguments(inputs, arguments))
        try:
            async with asyncio.timeout(time_limit):
                return await run(ctx, args)
        except TimeoutError:
            raise ToolError(f"{name} did not finish within {time_limit:g} s (tools.timeout)") from None
        except OSError as exc:
            raise ToolError(os_error_text(exc)) from None

    return Tool(
        name=name,
        description=description,
        input_schema=inputs,
        handler=handler,
        output_schema=output,
        annotations=effect.annotations(title),
        title=title,
        scope=scope,
    )


def os_error_text(exc: OSError, what: str | None = None) -> str:
    """One line for an operating-system error: ``permission denied: /etc/shadow``."""
    subject = what or (str(exc.filename) if exc.filename is not None else "")
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif isinstance(exc, FileNotFoundError):
        reason = "not found"
    else:
        reason = (exc.strerror or str(exc)).lower()
    return f"{reason}: {subject}" if subject else reason


@dataclass(frozen=True, slots=True)
class Declarer:
    """Declares tools that share a scope, a time limit and (unless told otherwise) an effect."""

    scope: str
    time_limit: float | None
    effect: Effect = OBSERVES

    def __call__(
        self,
        name: str,
        title: str,
        description: str,
        run: Run,
        inputs: Schema,
        output: Schema | None,
        effect: Effect | None = None,
    ) -> Tool:
        return declare(name, title, description, self.scope, run, inputs, output, effect or self.effect, self.time_limit)
