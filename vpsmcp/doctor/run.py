"""One doctor run: its options, what the steps learned so far, and the loop that runs them.

Steps run in the order a connector meets them; each is a function
``(Run) -> Outcome`` and may leave facts for the steps after it (the
challenge's metadata URL, the token, the session). A step whose request got
no answer fails with the probe's words; nothing a server does can stop the
run or hold it past the time limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vpsmcp.doctor.challenge import Challenge
from vpsmcp.doctor.fixes import Fix
from vpsmcp.doctor.model import Check, Outcome, ProbeError, Status, failed, skipped
from vpsmcp.doctor.probe import Probe
from vpsmcp.doctor.target import Target


@dataclass(frozen=True, slots=True)
class Options:
    """What the person asked for on the command line."""

    timeout: float = 10.0
    stream_wait: float = 20.0
    local: bool = False
    ca_file: str | None = None
    login: bool = False
    open_browser: bool = True
    login_timeout: float = 300.0
    token: str | None = None
    tool: str | None = None


@dataclass
class Stream:
    """A timed event stream: when its headers and each item arrived (seconds after the request)."""

    path: str
    headers_at: float
    arrivals: list[tuple[float, bool]]  # (seconds, is a comment)
    primed: bool  # whether an event was sent at once: the legacy endpoint event, or a priming event that came
    window: float
    closed_at: float | None = None  # when the stream ended before the window did (seconds after the request)


@dataclass
class Facts:
    """What earlier steps learned, for the steps after them. Mutable: it fills up during a run."""

    vpsmcp: str | None = None  # vpsmcp's version ("" if unknown), when the server is vpsmcp
    unreachable: str | None = None  # why no request can reach the server: the steps after are skipped
    auth: str = "unknown"  # "oauth" (401 with a challenge), "none", or "unknown"
    challenge: Challenge | None = None
    metadata_url: str | None = None
    resource_metadata: dict[str, Any] | None = None
    issuer: str | None = None
    server_metadata: dict[str, Any] | None = None
    client: dict[str, Any] | None = None  # what dynamic registration returned
    other_clients: dict[str, dict[str, Any]] = field(default_factory=dict)  # registered as ChatGPT, Codex
    token: str | None = None
    login: dict[str, Any] | None = None  # the token response of --login
    login_client: dict[str, Any] | None = None  # the client --login registered
    modern: bool = False
    handshake_version: str | None = None
    session: str | None = None
    tools: list[dict[str, Any]] | None = None
    stream: Stream | None = None

    @property
    def scope(self) -> str:
        """The scope to ask for: the challenge's, else the resource metadata's (MCP authorization, scope selection)."""
        if self.challenge and self.challenge.params.get("scope"):
            return self.challenge.params["scope"]
        scopes = (self.resource_metadata or {}).get("scopes_supported") or []
        return " ".join(s for s in scopes if isinstance(s, str))


class Reporter(Protocol):
    """Where a run's progress and results go (the text and JSON renderers)."""

    def started(self, group: str, name: str) -> None: ...

    def finished(self, check: Check) -> None: ...

    def note(self, text: str) -> None:
        """Something the person must see now (the login URL, a long wait)."""


@dataclass
class Run:
    target: Target
    options: Options
    probe: Probe
    reporter: Reporter
    facts: Facts = field(default_factory=Facts)

    def fix(self, fix: Fix) -> str:
        """The fix for this server: vpsmcp's setting when it is vpsmcp, else the general advice."""
        text = fix.vpsmcp if self.facts.vpsmcp is not None and fix.vpsmcp else fix.generic
        return text.format(origin=self.target.origin, host=self.target.host, path=self.target.path)

    @property
    def authorized(self) -> bool:
        """Whether MCP requests can be made: a token, or a server without authentication."""
        return self.facts.token is not None or self.facts.auth == "none"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.facts.token}"} if self.facts.token else {}

    def needs_access(self) -> Outcome | None:
        """The skip of a step that needs to be let in, when it cannot be."""
        if self.authorized:
            return None
        if self.facts.auth == "oauth":
            return skipped("needs a token: run again with --login to check what lies behind the login")
        return skipped("the MCP endpoint did not let the doctor in (see above)")


Step = Callable[[Run], Outcome]


@dataclass(frozen=True, slots=True)
class StepSpec:
    group: str
    name: str
    step: Step


def run_steps(run: Run, steps: Sequence[StepSpec]) -> list[Check]:
    """Run every step in order, reporting each as it starts and ends."""
    checks: list[Check] = []
    for spec in steps:
        run.reporter.started(spec.group, spec.name)
        start = time.monotonic()
        try:
            if run.facts.unreachable:
                outcome = skipped(f"not tried: {run.facts.unreachable}")
            else:
                outcome = spec.step(run)
        except ProbeError as exc:
            outcome = failed(str(exc), _cause_of(exc))
        check = Check(spec.group, spec.name, outcome, round(time.monotonic() - start, 3))
        checks.append(check)
        run.reporter.finished(check)
    return checks


def _cause_of(exc: ProbeError) -> str:
    return {
        "timeout": "the server (or a proxy in front of it) did not answer in time; clients give up the same way",
        "dns": "the name does not resolve from here",
        "tls": "TLS failed, so no client can connect",
        "connect": "nothing accepted the connection",
        "http": "the connection closed without an answer",
    }.get(exc.kind, "the request failed")


def status_counts(checks: Sequence[Check]) -> dict[Status, int]:
    return {status: sum(1 for c in checks if c.status is status) for status in Status}
