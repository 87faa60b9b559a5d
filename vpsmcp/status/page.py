"""What the status page shows, gathered from the live server into plain rows.

Read-only: the rows are built fresh for each page view from the runtime,
the OAuth store, the session store, the trace and the gateway. Nothing here
shows a token, a session id in full, or a query string.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpsmcp import __version__
from vpsmcp.gateway.status import Snapshot
from vpsmcp.oauth import personal
from vpsmcp.oauth.service import AuthorizationService
from vpsmcp.server.runtime import Runtime
from vpsmcp.status.chart import Chart, chart
from vpsmcp.trace.tracer import Tracer
from vpsmcp.trace.verdict import judge
from vpsmcp.transport.sessions import SessionStore

RECENT_FLOWS = 15


@dataclass
class Sources:
    """The live objects the page reads; ``upstreams`` is the gateway's snapshot, if there are upstreams."""

    runtime: Runtime
    tracer: Tracer
    sessions: SessionStore
    oauth: AuthorizationService | None
    upstreams: Callable[[], Snapshot | None]


@dataclass(frozen=True, slots=True)
class ClientRow:
    client_id: str
    name: str
    source: str
    created: str
    last_used: str
    scopes: str
    active_grants: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: str  # the first characters of its id
    client_id: str
    client_name: str
    version: str
    idle: str
    streams: int


@dataclass(frozen=True, slots=True)
class FlowRow:
    id: str
    client_id: str
    origin: str
    requests: int
    errors: int
    last_time: str
    last_route: str
    last_status: int
    last_outcome: str
    failed: bool
    verdict: str


def gather(src: Sources, now: float | None = None) -> dict[str, Any]:
    """Everything the template needs."""
    now = time.time() if now is None else now
    snapshot = src.upstreams()
    timeline: Chart = chart(src.tracer.metrics.timeline.series(now))
    return {
        "version": __version__,
        "uptime": span(src.runtime.uptime()),
        "auth_mode": src.runtime.config.auth.mode,
        "public_url": src.runtime.public_url,
        "in_flight": src.tracer.metrics.in_flight,
        "streams": src.tracer.metrics.streams,
        "clients": clients(src.oauth, now) if src.oauth is not None else None,
        "client_metadata": src.oauth.cimd_offer.describe() if src.oauth is not None else None,
        "sessions": sessions(src.sessions),
        "flows": flows(src.tracer),
        "upstreams": list(snapshot.upstreams) if snapshot is not None else None,
        "chart": timeline,
        "span": span,
        "when": when,
        "now": now,
    }


def clients(oauth: AuthorizationService, now: float) -> list[ClientRow]:
    oauth.store.refresh(now, force=True)  # what `vpsmcp tokens` / `clients` changed a moment ago: one stat
    families = oauth.store.families()
    rows = []
    for client in oauth.store.clients():
        mine = [f for f in families if f.client_id == client.client_id]
        live = [f for f in mine if not f.expired(now)]
        used = max((f.last_used_at or 0.0 for f in mine), default=0.0)
        scopes = sorted({s for f in live for s in f.scopes})
        rows.append(ClientRow(client.client_id, client.name or "(unnamed)", client.source, when(client.created_at),
                              when(used) if used else "never", " ".join(scopes) or "-", len(live)))
    for family in families:  # personal access tokens have no client record: a row each, revocable by name
        name = personal.name_of(family.client_id)
        if name is not None and not family.expired(now):
            rows.append(ClientRow(family.client_id, f"{name} (personal access token)", "pat", when(family.created_at),
                                  when(family.last_used_at) if family.last_used_at else "never", family.scope, 1))
    return sorted(rows, key=lambda r: (r.active_grants == 0, r.last_used == "never", r.name))


def sessions(store: SessionStore) -> list[SessionRow]:
    now = time.monotonic()
    rows = []
    for s in store.all():
        client_id = s.binding.split(":", 1)[0]
        info = s.protocol.client_info or {}
        name = f"{info.get('name', '')} {info.get('version', '')}".strip() or "-"
        rows.append(SessionRow(s.id[:8] + "…", client_id, name, s.protocol.version or "-", span(now - s.last_seen),
                               s.readers))
    return rows


def flows(tracer: Tracer) -> list[FlowRow]:
    rows = []
    for flow in tracer.book.recent(RECENT_FLOWS):
        last = flow.last
        if last is None:
            continue
        rows.append(FlowRow(
            flow.id, flow.client_id or "-", f"{flow.address} {flow.user_agent}".strip(), flow.requests, flow.errors,
            when(last.t), last.route, last.status, last.outcome, last.error, judge(flow.steps, last, flow.user_agent).sentence,
        ))
    return rows


def span(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3 h 5 min``, ``2 d 4 h``."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
