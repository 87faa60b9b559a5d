"""How each real client will fare: one line per client, read off the steps it meets and what it demands.

The steps say what the server does; people ask "will Claude connect?". Each
client here is the steps it goes through, in its order, and what it demands
beyond the spec, as its public threads document it: Claude's hosted
connector reaches only public https names on port 443 over IPv4
(claude-ai-mcp#85, claude.com's troubleshooting page), sends a 2026-07-28
body under a 2025-11-25 header after ``server/discover`` (claude-code#93290:
the step "Claude's request"), never opens the GET stream (claude-ai-mcp#1005)
and picks a client ID metadata document whenever one is offered with
``none``. ChatGPT's connectors are hosted too (a public https URL) and
register a callback per connector; Codex logs in through a loopback callback
with a path (the step "ChatGPT, Codex"). A client fails at the first step it
needs that failed, or that warned with the client in ``fatal_to``; a step it
needs that could not be checked (behind the login) leaves it unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from vpsmcp.doctor.model import CHATGPT, CLAUDE, CLAUDE_CODE, CODEX, MCP_REMOTE, SDK, Check, Status
from vpsmcp.doctor.run import Run

Verdict = Literal["connects", "fails", "unknown"]
DISCOVERY = ("401 challenge", "resource metadata", "server metadata", "issuer", "PKCE and endpoints")
REGISTRATION = ("registration", "authorize", "token endpoint")
CLAUDE_CIMD = "https://claude.ai/oauth/mcp-oauth-client-metadata"


@dataclass(frozen=True, slots=True)
class ClientModel:
    key: str  # what a step's ``fatal_to`` names it by
    name: str
    needs: tuple[str, ...]  # the steps it meets, in its order
    demands: Callable[[Run], str | None] = lambda run: None  # what it needs beyond the steps, if unmet
    notes: Callable[[Run], str | None] = lambda run: None  # what it will do here that the owner should know


@dataclass(frozen=True, slots=True)
class Prediction:
    client: str
    verdict: Verdict
    words: str


def _hosted(run: Run) -> str | None:
    """What Claude's hosted connector refuses before sending a request."""
    t = run.target
    if t.scheme != "https":
        return "will fail before any request: it reaches only https URLs"
    if t.port != 443:
        return f"will fail before any request: it connects on port 443 only, not {t.port} (claude-ai-mcp#85)"
    if run.options.local:
        return "unknown: checked with --local, so whether its name resolves to a public IPv4 address was not"
    return None


def _chatgpt_hosted(run: Run) -> str | None:
    """ChatGPT's connectors, too, are reached from OpenAI's servers: a public https URL."""
    if run.target.scheme != "https":
        return "will fail before any request: it reaches only https URLs"
    if run.options.local:
        return "unknown: checked with --local, so whether its name resolves to a public address was not"
    return None


def _cimd_choice(run: Run) -> str | None:
    document = run.facts.server_metadata or {}
    methods = document.get("token_endpoint_auth_methods_supported") or []
    if document.get("client_id_metadata_document_supported") is True and "none" in methods:
        return (f"it will choose a client ID metadata document here, so the server must be able to fetch "
                f"{CLAUDE_CIMD} over https")
    return None


CLIENTS: tuple[ClientModel, ...] = (
    ClientModel(CLAUDE, "Claude (claude.ai connector; Desktop, Code through it)",
                ("DNS", "port", "TLS", *DISCOVERY, *REGISTRATION, "server/discover", "initialize", "tools/list",
                 "Claude's request", "tool call"),
                demands=_hosted, notes=_cimd_choice),
    ClientModel(CLAUDE_CODE, "Claude Code (direct)",
                ("port", "TLS", *DISCOVERY, *REGISTRATION, "server/discover", "initialize", "tools/list", "tool call")),
    ClientModel(CHATGPT, "ChatGPT (connectors, developer mode)",
                ("DNS", "port", "TLS", *DISCOVERY, *REGISTRATION, "ChatGPT, Codex", "initialize", "tools/list",
                 "tool call"),
                demands=_chatgpt_hosted),
    ClientModel(CODEX, "Codex (CLI and IDE)",
                ("port", "TLS", *DISCOVERY, *REGISTRATION, "ChatGPT, Codex", "initialize", "tools/list",
                 "tool call")),
    ClientModel(MCP_REMOTE, "mcp-remote",
                ("port", "TLS", *DISCOVERY, *REGISTRATION, "initialize", "tools/list", "tool call")),
    ClientModel(SDK, "official SDK clients (Python, TypeScript)",
                ("port", "TLS", *DISCOVERY, *REGISTRATION, "server/discover", "initialize", "tools/list", "sessions",
                 "tool call")),
)


def predict(run: Run, checks: Sequence[Check]) -> list[Prediction]:
    by_name = {check.name: check for check in checks}
    return [_predict(run, model, by_name) for model in CLIENTS]


def _predict(run: Run, model: ClientModel, by_name: dict[str, Check]) -> Prediction:
    demand = model.demands(run)
    unchecked: str | None = None
    warnings: list[str] = []
    for name in model.needs:
        check = by_name.get(name)
        if check is None:
            continue
        if check.status is Status.FAIL or (check.status is Status.WARN and model.key in check.outcome.fatal_to):
            failure = f"at {name}: {check.outcome.summary}"
            if demand is not None and demand.startswith("will fail"):  # both, so one fix is not a surprise
                return Prediction(model.name, "fails", f"{demand}; past that, it would fail {failure}")
            return Prediction(model.name, "fails", f"will fail {failure}")
        if check.status is Status.WARN:
            warnings.append(f"{name} ({check.outcome.summary})")
        if check.status is Status.SKIP and "--login" in check.outcome.summary and unchecked is None:
            unchecked = name
    if demand is not None and demand.startswith("will fail"):
        return Prediction(model.name, "fails", demand)
    note = model.notes(run)
    tail = "".join(f"; {text}" for text in (note,) if text)
    if unchecked is not None:
        return Prediction(model.name, "unknown", f"gets as far as the login; from {unchecked} on not checked "
                                                 f"(run again with --login){tail}")
    if demand is not None:
        return Prediction(model.name, "unknown", demand + tail)
    but = f", but: {'; '.join(warnings)}" if warnings else ""
    return Prediction(model.name, "connects", f"will connect{but}{tail}")
