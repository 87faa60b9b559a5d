"""One traced request: which step of a connection it was, and what it got, in words.

A client connecting to a protected MCP server goes through *stages* in order
(MCP basic/authorization): the 401 challenge, the protected resource metadata
(RFC 9728), the authorization server metadata (RFC 8414), registration
(RFC 7591), the consent page, the owner's decision, the token (RFC 6749 §4.1.3),
then MCP itself. A request's path and method give its *kind*; its status and
the notes the service and the dispatcher left on it give its outcome in words
and the stage it reached, if any.

Only the path is kept, never the query string, a body, or a header other than
the user agent: codes, tokens and passwords cannot reach the trace.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from vpsmcp import paths
from vpsmcp.protocol.outcomes import Outcome

CHALLENGE = "401 challenge sent"
TOKEN_REFUSED = "401 token refused"
MAX_PATH = 120

Note = tuple[str, str]  # (subject, result): ("tools/call echo", "ok"), ("registered", "client abc")

_EXACT = {
    **{path: ("mcp", path) for path in paths.MCP_TRANSPORTS}, paths.MCP + "/": ("mcp", paths.MCP),
    "/register": ("register", "/register"), "/token": ("token", "/token"),
    "/authorize": ("authorize", "/authorize"), "/revoke": ("revoke", "/revoke"),
    paths.HEALTHZ: ("health", paths.HEALTHZ), paths.METRICS: ("metrics", paths.METRICS),
}
_PREFIXES = (
    ("/.well-known/oauth-protected-resource", "resource-metadata"),
    ("/.well-known/oauth-authorization-server", "server-metadata"),
    ("/.well-known/openid-configuration", "server-metadata"),
    ("/mcp/.well-known/oauth-authorization-server", "server-metadata"),
    ("/mcp/.well-known/openid-configuration", "server-metadata"),
)
UNTRACED = frozenset({"health", "metrics", "status"})  # the owner's and monitors' requests are no connection

# (kind, status) → (words, stage) when neither the service nor the dispatcher said more.
_OUTCOMES = {
    ("resource-metadata", 200): ("resource metadata sent", "resource-metadata"),
    ("server-metadata", 200): ("server metadata sent", "server-metadata"),
    ("register", 201): ("registered", "registered"),
    ("authorize", 200): ("consent page shown", "consent-page"),
    ("authorize", 302): ("authorize request refused (error sent to the redirect URI)", ""),
    ("authorize", 400): ("authorize request invalid (error page shown)", ""),
    ("consent", 400): ("consent form refused (expired, forged, or nothing ticked)", ""),
    ("consent", 401): ("wrong owner password", ""),
    ("consent", 429): ("too many password attempts", ""),
    ("consent", 503): ("no owner password set", ""),
    ("token", 200): ("token issued", "token"),
    ("revoke", 200): ("token revoked", ""),
    ("mcp", 101): ("websocket open", ""),
    ("mcp", 202): ("accepted", ""),
    ("mcp", 400): ("400 bad request (missing session id, bad JSON-RPC or headers)", ""),
    ("mcp", 403): ("403 forbidden (Origin not allowed, or proxied with auth off)", ""),
    ("mcp", 404): ("404 session not found", ""),
    ("mcp", 405): ("405 method not allowed", ""),
    ("mcp", 406): ("406 Accept refused", ""),
    ("mcp", 413): ("413 body too large", ""),
    ("mcp", 415): ("415 not JSON", ""),
    ("mcp", 421): ("421 wrong Host", ""),
    ("mcp", 503): ("503 too many sessions", ""),
}
_NOTE_STAGES = (("tools/call", "called"), ("tools/list", "listed"))
_AUTH_STAGES = {"registered": "registered", "owner approved": "approved", "owner denied": "denied"}
_FAILED = tuple(o.value for o in (Outcome.TOOL_ERROR, Outcome.REFUSED, Outcome.CRASHED))


@functools.lru_cache(maxsize=512)
def classify(path: str, method: str) -> tuple[str, str]:
    """The request's kind and the route label metrics use (bounded: never the raw path)."""
    found = _EXACT.get(path)
    if found is not None:
        kind, label = found
        return ("consent", label) if kind == "authorize" and method == "POST" else found
    if path == "/status" or path.startswith("/status/"):
        return "status", "/status"
    for prefix, kind in _PREFIXES:
        if path.startswith(prefix):
            return kind, prefix
    return "other", "other"


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a flow, as the trace keeps it."""

    t: float  # wall-clock time the answer started
    method: str
    path: str
    status: int
    outcome: str
    stage: str = ""
    error: bool = False
    ms: float = 0.0

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"t": round(self.t, 3), "method": self.method, "path": self.path,
                                 "status": self.status, "outcome": self.outcome, "ms": round(self.ms, 2)}
        if self.stage:
            entry["stage"] = self.stage
        if self.error:
            entry["error"] = True
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Step:
        return cls(float(entry["t"]), str(entry["method"]), str(entry["path"]), int(entry["status"]),
                   str(entry["outcome"]), str(entry.get("stage", "")), bool(entry.get("error", False)),
                   float(entry.get("ms", 0.0)))


def is_error(status: int, refused: str, notes: tuple[Note, ...]) -> bool:
    """Whether a request failed: a refusal other than the expected first challenge, or a failed call."""
    if status >= 400:
        return refused != CHALLENGE
    for _, result in notes:
        if result.startswith(_FAILED):
            return True
    return False


def describe(kind: str, method: str, status: int, notes: tuple[Note, ...], refused: str, error_code: str,
             stream: bool = False) -> tuple[str, str]:
    """The outcome in words and the stage reached (or ""); ``stream``: answered as an event stream."""
    if notes:
        return "; ".join(f"{s} {r}".rstrip() for s, r in notes), _stage_of(kind, status, notes)
    if refused:
        return refused, "challenge" if refused == CHALLENGE else ""
    found = _OUTCOMES.get((kind, status))
    if found is not None:
        return found
    if kind == "mcp" and status == 200:
        if method == "POST":
            return ("answering on an event stream" if stream else "ok"), ""
        return ("event stream opened" if method == "GET" else "session ended" if method == "DELETE" else "ok"), ""
    words = f"{status} {error_code}".rstrip() if status >= 400 else str(status)
    return (f"{kind} refused: {words}" if kind in ("token", "register") else words), ""


def _stage_of(kind: str, status: int, notes: tuple[Note, ...]) -> str:
    if kind != "mcp":
        return next((_AUTH_STAGES[s] for s, _ in notes if s in _AUTH_STAGES), "")
    ok = [subject for subject, result in notes if result == "ok"]
    for prefix, stage in _NOTE_STAGES:
        if any(subject.startswith(prefix) for subject in ok):
            return stage
    return "mcp" if ok else ""


def clip(text: str, limit: int = MAX_PATH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
