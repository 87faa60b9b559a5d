"""The gate and the dispatcher, watched: who a request came from and how each call ended.

Both wrap the real thing at its seam (``access.Gate``; ``Dispatcher.handle``)
so no transport needs to know the trace exists, and both only leave a note
on the request in ``CURRENT`` — a context-variable lookup and an attribute
write on the hot path.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vpsmcp.access import Gate, Principal
from vpsmcp.errors import JsonRpcError, TransportError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.dispatch import Dispatcher
from vpsmcp.protocol.jsonrpc import Request
from vpsmcp.protocol.session import Session
from vpsmcp.trace.pending import CURRENT
from vpsmcp.trace.steps import CHALLENGE, TOKEN_REFUSED
from vpsmcp.trace.tracer import Tracer

NAMED = frozenset({"tools/call", "prompts/get"})


class WatchedGate:
    """``access.Gate`` that tells the trace who was admitted, and why someone was not."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def admit(self, headers: Mapping[str, str], resource: str) -> Principal:
        try:
            principal = self.gate.admit(headers, resource)
        except TransportError as exc:
            pending = CURRENT.get()
            if pending is not None and exc.status == 401:
                pending.refused = TOKEN_REFUSED if "authorization" in headers else CHALLENGE
            raise
        if principal.client_id is not None:
            pending = CURRENT.get()
            if pending is not None:
                pending.client_id = principal.client_id
        return principal

    def refuse_scope(self, principal: Principal, scope: str, resource: str) -> TransportError:
        pending = CURRENT.get()
        if pending is not None:
            pending.refused = f"403 needs scope {scope}"
        return self.gate.refuse_scope(principal, scope, resource)


@dataclass
class TracedDispatcher(Dispatcher):
    """``Dispatcher`` that reports each answer: ok, failed (``isError``), a JSON-RPC error, cancelled."""

    tracer: Tracer | None = None

    @classmethod
    def around(cls, dispatcher: Dispatcher, tracer: Tracer) -> TracedDispatcher:
        fields = {f.name: getattr(dispatcher, f.name) for f in dataclasses.fields(dispatcher) if f.init}
        return cls(**fields, tracer=tracer)

    async def handle(self, request: Request, ctx: Context, session: Session | None = None) -> dict[str, Any]:
        try:
            result = await super().handle(request, ctx, session)
        except JsonRpcError as exc:
            self._report(request, f"error {exc.code}")
            raise
        except asyncio.CancelledError:
            self._report(request, "cancelled")
            raise
        except Exception:
            self._report(request, "internal error")
            raise
        self._report(request, "failed" if result.get("isError") else "ok")
        return result

    def _report(self, request: Request, outcome: str) -> None:
        if self.tracer is None:
            return
        name = request.params.get("name") if request.method in NAMED else None
        if isinstance(name, str) and outcome != "ok" and self.registry.tool(name) is None:
            name = "unknown"  # a client's made-up name is no label: keep the metrics bounded
        self.tracer.rpc(request.method, name if isinstance(name, str) else None, outcome)
