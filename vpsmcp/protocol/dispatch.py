"""Method dispatch: a parsed request and its context in, a result out.

No I/O: the transport hands in a ``Context`` (with a ``Peer`` to reach the
client) and, in the handshake era, the ``Session``; handlers raise
``JsonRpcError`` and the transport renders it. ``handle`` decides how each
request ended and tells the observers it was built with (``outcomes.py``). Results are decorated for the
era they go to: the 2026-07-28 era adds ``resultType``, the server info in
``_meta`` and, on list/read/discover results, ``ttlMs`` and ``cacheScope``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from vpsmcp import __version__
from vpsmcp.errors import JsonRpcError, ToolError, VpsmcpError
from vpsmcp.protocol.context import LOG_LEVELS, Context, InputRequired
from vpsmcp.protocol.inflight import InFlight
from vpsmcp.protocol.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    Request,
)
from vpsmcp.protocol.outcomes import Answered, DispatchObserver, Outcome
from vpsmcp.protocol.registry import Registry, allowed
from vpsmcp.protocol.request_state import RequestStateCodec
from vpsmcp.protocol.results import tool_result
from vpsmcp.protocol.session import Session
from vpsmcp.protocol.versions import SUPPORTED_VERSIONS, Era, negotiate
from vpsmcp.scopes import ON_BEHALF_KEY

log = logging.getLogger("vpsmcp.dispatch")

META = "io.modelcontextprotocol/"
SERVER_INFO_KEY = META + "serverInfo"
CACHEABLE = frozenset(
    {"server/discover", "tools/list", "resources/list", "resources/templates/list", "resources/read", "prompts/list"}
)
HANDSHAKE_ONLY = frozenset({"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
STATELESS_ONLY = frozenset({"server/discover"})
NAMED = frozenset({"tools/call", "prompts/get"})  # requests whose answer names a tool or prompt
MAX_BEHALF = 200  # characters of a fleet hub's on-behalf-of kept for the audit

T = TypeVar("T")
Handler = Callable[["Dispatcher", Request, Context, "Session | None"], Awaitable[dict[str, Any]]]


@dataclass
class Dispatcher:
    """Serves one registry to every client, in both eras."""

    registry: Registry
    state_codec: RequestStateCodec
    instructions: str | None = None
    page_size: int = 100
    server_info: dict[str, Any] = field(default_factory=lambda: {"name": "vpsmcp", "version": __version__})
    observers: Sequence[DispatchObserver] = ()  # told how every request ended, in order (audit, trace)
    inflight: InFlight = field(default_factory=InFlight)  # the requests being handled (transport/exchange.py)

    def capabilities(self, era: Era) -> dict[str, Any]:
        """What this server offers. The stateless era announces no change
        notifications: they travel on ``subscriptions/listen``, not served yet."""
        if era is Era.STATELESS:
            return {"tools": {}, "resources": {}, "prompts": {}, "completions": {}}
        return {
            "tools": {"listChanged": True},
            "resources": {"subscribe": True, "listChanged": True},
            "prompts": {"listChanged": True},
            "logging": {},
            "completions": {},
        }

    async def handle(self, request: Request, ctx: Context, session: Session | None = None) -> dict[str, Any]:
        """The result of ``request``; raises ``JsonRpcError``. Every observer hears how it ended,
        before the answer leaves: one an observer refuses does not run, and one that ran but an
        observer could not record is withheld (the audit cannot be skipped)."""
        if not self.observers:
            return await self._answer(request, ctx, session)
        started = time.monotonic()
        refusal = None
        for observer in self.observers:
            if (refusal := observer.admit(request)) is not None:
                break
        outcome, code, detail = Outcome.CRASHED, None, None
        try:
            if refusal is not None:
                raise JsonRpcError(INTERNAL_ERROR, f"Refused, not run: {refusal}")
            result = await self._answer(request, ctx, session)
            outcome, detail = _classified(result)
            return result
        except JsonRpcError as exc:
            outcome, code, detail = Outcome.REFUSED, exc.code, exc.message
            raise
        except asyncio.CancelledError:
            outcome = Outcome.CANCELLED
            raise
        finally:
            self._tell(self._answered(request, ctx, outcome, code, detail, time.monotonic() - started),
                       ran=refusal is None and outcome is not Outcome.CANCELLED)

    async def _answer(self, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
        handler = METHODS.get(request.method)
        excluded = HANDSHAKE_ONLY if ctx.era is Era.STATELESS else STATELESS_ONLY
        if handler is None or request.method in excluded:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if session is not None and not session.accepts(request.method):
            raise JsonRpcError(INVALID_REQUEST, f"{request.method} is not allowed in a {session.phase.value} session")
        try:
            result = await handler(self, request, ctx, session)
        except _Asked as asked:
            result = asked.result
        if session is not None:
            session.advance(request.method)
        if ctx.era is Era.STATELESS:
            result.setdefault("resultType", "complete")
            result["_meta"] = {**result.get("_meta", {}), SERVER_INFO_KEY: self.server_info}
            if request.method in CACHEABLE:
                result.setdefault("ttlMs", 0)
                result.setdefault("cacheScope", "private")
        return result

    def _answered(self, request: Request, ctx: Context, outcome: Outcome, code: int | None, detail: str | None,
                  duration: float) -> Answered:
        name = request.params.get("name") if request.method in NAMED else None
        name = name if isinstance(name, str) else None
        served = outcome in (Outcome.OK, Outcome.TOOL_ERROR)  # answered: the registry had it
        if request.method != "tools/call":
            known = name is not None and (served or self.registry.prompt(name) is not None)
            return Answered(request.method, name, known, request.params.get("arguments"), outcome, code, detail,
                            duration, ctx.client_id, ctx.token_id)
        tool = self.registry.tool(name) if name is not None else None  # one lookup: known, and the fleet node
        meta = request.params.get("_meta")
        behalf = meta.get(ON_BEHALF_KEY) if isinstance(meta, dict) else None
        return Answered(request.method, name, name is not None and (served or tool is not None),
                        request.params.get("arguments"), outcome, code, detail, duration, ctx.client_id, ctx.token_id,
                        tool.host if tool is not None else None, behalf[:MAX_BEHALF] if isinstance(behalf, str) else None)

    def _tell(self, answer: Answered, ran: bool) -> None:
        """Tell every observer; if one cannot record a request that ran, its answer is withheld,
        and the observers after it hear that instead."""
        withheld: JsonRpcError | None = None
        for observer in self.observers:
            try:
                observer.answered(answer)
            except Exception as exc:
                if not isinstance(exc, VpsmcpError):
                    log.exception("a dispatch observer failed")
                if ran and withheld is None:
                    why = f" ({exc})" if isinstance(exc, VpsmcpError) else ""
                    withheld = JsonRpcError(INTERNAL_ERROR, f"The call ran, but its audit record could not be "
                                                            f"written{why}, so its answer is withheld")
                    answer = answer._replace(outcome=Outcome.REFUSED, code=INTERNAL_ERROR, detail=withheld.message)
        if withheld is not None:
            raise withheld

    def required_scope(self, request: Request) -> str | None:
        """The scope a ``tools/call``, ``resources/read`` or ``prompts/get`` needs, if it names something."""
        name = request.params.get("name")
        if request.method == "tools/call" and isinstance(name, str):
            tool = self.registry.tool(name)
            return tool.scope if tool else None
        if request.method == "prompts/get" and isinstance(name, str):
            prompt = self.registry.prompt(name)
            return prompt.scope if prompt else None
        uri = request.params.get("uri")
        if request.method == "resources/read" and isinstance(uri, str):
            found = self.registry.find_resource(uri)
            return found[0].scope if found else None
        return None

    def page(self, items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
        """One page of a list result, with ``nextCursor`` when more follow."""
        start = _decode_cursor(params.get("cursor"))
        result: dict[str, Any] = {key: items[start : start + self.page_size]}
        if start + self.page_size < len(items):
            result["nextCursor"] = _encode_cursor(start + self.page_size)
        return result


async def _initialize(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    version = negotiate(request.params.get("protocolVersion"))
    if session is not None:
        session.version = version
        session.client_info = _dict(request.params.get("clientInfo"))
        session.client_capabilities = _dict(request.params.get("capabilities"))
    result: dict[str, Any] = {
        "protocolVersion": version,
        "capabilities": d.capabilities(ctx.era),
        "serverInfo": d.server_info,
    }
    if d.instructions:
        result["instructions"] = d.instructions
    return result


async def _discover(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    result: dict[str, Any] = {"supportedVersions": list(SUPPORTED_VERSIONS), "capabilities": d.capabilities(ctx.era)}
    if d.instructions:
        result["instructions"] = d.instructions
    return result


async def _ping(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    return {}


async def _set_level(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    level = request.params.get("level")
    if level not in LOG_LEVELS:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: level must be one of {', '.join(LOG_LEVELS)}")
    if session is not None:
        session.log_level = level
    return {}


class _Listed(Protocol):
    @property
    def scope(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...


def _lister(items: Callable[[Registry], Sequence[_Listed]], key: str) -> Handler:
    """A ``*/list`` handler: what the caller's scopes allow, one page at a time."""

    async def handler(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
        await d.registry.prepare()
        visible = [item.describe() for item in items(d.registry) if allowed(item.scope, ctx.scopes)]
        return d.page(visible, request.params, key)

    return handler


async def _tools_call(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    name = request.params.get("name")
    unready = await d.registry.prepare_for("tool", name)
    tool = d.registry.tool(name) if isinstance(name, str) else None
    if tool is None or not allowed(tool.scope, ctx.scopes):
        raise JsonRpcError(INVALID_PARAMS, _unknown("tool", name, unready, ctx))
    arguments = request.params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
    try:
        value = await _asking(d, request, ctx, f"tools/call:{tool.name}", lambda: tool.handler(ctx, arguments))
    except ToolError as exc:
        return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
    except (JsonRpcError, _Asked, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("tool %s failed", tool.name)
        return {"content": [{"type": "text", "text": f"internal error in tool {tool.name}"}], "isError": True}
    return tool_result(value)


def _unknown(kind: str, name: object, unready: list[tuple[str, str]], ctx: Context, what: str = "") -> str:
    """The message for a name nobody offers, with why a provider that would offer it does not yet
    (only a provider the caller may use: the others stay unnamed)."""
    reasons = [why for scope, why in unready if allowed(scope, ctx.scopes)]
    return f"{what or 'Unknown ' + kind}: {name}" + "".join(f"; {why}" for why in reasons)


def _classified(result: dict[str, Any]) -> tuple[Outcome, str | None]:
    """How a result ended: a question to the client, a tool error (with its text), or ok."""
    if result.get("resultType") == "input_required":
        return Outcome.INPUT_REQUIRED, None
    if result.get("isError"):
        texts = (str(c.get("text", "")) for c in result.get("content", []) if isinstance(c, dict))
        return Outcome.TOOL_ERROR, " ".join(texts)
    return Outcome.OK, None


class _Asked(Exception):
    """Carries an ``input_required`` result out of a handler to ``Dispatcher.handle`` (stateless era)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result


async def _asking(d: Dispatcher, request: Request, ctx: Context, target: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run a handler that may ask the client; in the stateless era, with the answers
    gathered so far (SEP-2322), turning a new question into ``_Asked``."""
    if ctx.era is Era.STATELESS:
        _restore_answers(d, request, ctx, target)
    try:
        return await work()
    except InputRequired as asked:
        raise _Asked(
            {
                "resultType": "input_required",
                "inputRequests": asked.requests,
                "requestState": d.state_codec.encode(target, dict(ctx.input_responses)),
            }
        ) from None


def _restore_answers(d: Dispatcher, request: Request, ctx: Context, target: str) -> None:
    """Merge the answers of earlier rounds (signed state) with this round's."""
    answers: dict[str, Any] = {}
    if "requestState" in request.params:
        answers = d.state_codec.decode(target, request.params["requestState"])
    fresh = request.params.get("inputResponses") or {}
    if not isinstance(fresh, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: inputResponses must be an object")
    ctx.input_responses = {**answers, **fresh}


async def _resources_read(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    uri = request.params.get("uri")
    unready = await d.registry.prepare_for("resource", uri)
    found = d.registry.find_resource(uri) if isinstance(uri, str) else None
    if found is None or not allowed(found[0].scope, ctx.scopes):
        # 2026-07-28 moved "not found" to invalid params (SEP-2164); earlier versions use -32002.
        code = INVALID_PARAMS if ctx.era is Era.STATELESS else RESOURCE_NOT_FOUND
        raise JsonRpcError(code, _unknown("resource", uri, unready, ctx, "Resource not found"), data={"uri": uri})
    resource, variables = found
    contents = await _asking(d, request, ctx, f"resources/read:{uri}", lambda: resource.read(ctx, str(uri), variables))
    return {"contents": _contents(str(uri), contents)}


def _contents(uri: str, read: Any) -> list[Any]:
    """What a reader returned as ``contents``: a list as it is, one item in a list; text (a ``str``)
    and bytes (a ``blob``) as a resource's contents at ``uri``."""
    if isinstance(read, str):
        return [{"uri": uri, "text": read}]
    if isinstance(read, bytes):
        return [{"uri": uri, "blob": base64.b64encode(read).decode()}]
    return read if isinstance(read, list) else [read]


async def _subscribe(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    uri = request.params.get("uri")
    if not isinstance(uri, str):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a string")
    if session is None:  # a handshake-era request that came without Mcp-Session-Id (transport/era.py)
        raise JsonRpcError(INVALID_REQUEST, f"{request.method} needs a session: send the Mcp-Session-Id from initialize")
    if request.method == "resources/subscribe":
        session.subscriptions.add(uri)
    else:
        session.subscriptions.discard(uri)
    return {}


async def _prompts_get(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    name = request.params.get("name")
    unready = await d.registry.prepare_for("prompt", name)
    prompt = d.registry.prompt(name) if isinstance(name, str) else None
    if prompt is None or not allowed(prompt.scope, ctx.scopes):
        raise JsonRpcError(INVALID_PARAMS, _unknown("prompt", name, unready, ctx))
    arguments = request.params.get("arguments") or {}
    if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: prompt arguments must be strings")
    missing = [a.name for a in prompt.arguments if a.required and a.name not in arguments]
    if missing:
        raise JsonRpcError(INVALID_PARAMS, f"Missing required arguments: {', '.join(missing)}")
    rendered = await _asking(d, request, ctx, f"prompts/get:{prompt.name}", lambda: prompt.render(ctx, arguments))
    if isinstance(rendered, str):  # one message from the user
        return {"messages": [{"role": "user", "content": {"type": "text", "text": rendered}}]}
    return rendered if isinstance(rendered, dict) else {"messages": rendered}


async def _complete(d: Dispatcher, request: Request, ctx: Context, session: Session | None) -> dict[str, Any]:
    ref, argument = _dict(request.params.get("ref")), _dict(request.params.get("argument"))
    context_args = _dict(_dict(request.params.get("context")).get("arguments"))
    completer = None
    if ref.get("type") == "ref/prompt":
        await d.registry.prepare_for("prompt", ref.get("name"))
        prompt = d.registry.prompt(str(ref.get("name")))
        completer = prompt.complete if prompt else None
    elif ref.get("type") == "ref/resource":
        await d.registry.prepare_for("template", ref.get("uri"))
        template = next((t for t in d.registry.resource_templates() if t.uri_template == ref.get("uri")), None)
        completer = template.complete if template else None
    else:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: ref.type must be ref/prompt or ref/resource")
    values: list[str] = []
    if completer is not None:
        values = list(await completer(ctx, str(argument.get("name", "")), str(argument.get("value", "")), context_args))
    return {"completion": {"values": values[:100], "total": len(values), "hasMore": len(values) > 100}}


METHODS: dict[str, Handler] = {
    "initialize": _initialize,
    "server/discover": _discover,
    "ping": _ping,
    "logging/setLevel": _set_level,
    "tools/list": _lister(Registry.tools, "tools"),
    "tools/call": _tools_call,
    "resources/list": _lister(Registry.resources, "resources"),
    "resources/templates/list": _lister(Registry.resource_templates, "resourceTemplates"),
    "resources/read": _resources_read,
    "resources/subscribe": _subscribe,
    "resources/unsubscribe": _subscribe,
    "prompts/list": _lister(Registry.prompts, "prompts"),
    "prompts/get": _prompts_get,
    "completion/complete": _complete,
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if cursor is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(cursor)))["o"]
    except (ValueError, KeyError, TypeError):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return offset

