"""How far a flow got, and what it never tried, in one sentence.

The stages are ordered as MCP basic/authorization orders them; the furthest
one a flow reached names what it did, and the one after names what it never
did: "registered at 10:02, never came back to /authorize". A flow whose
latest request failed says that too, since that is where to look.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from vpsmcp.trace.steps import Step

STAGES = (
    "challenge", "resource-metadata", "server-metadata", "registered", "consent-page", "approved", "token",
    "mcp", "listed", "called",
)
DID = {
    "challenge": "got the 401 challenge",
    "resource-metadata": "fetched the protected resource metadata",
    "server-metadata": "fetched the authorization server metadata",
    "registered": "registered",
    "consent-page": "the consent page was shown",
    "approved": "the owner approved",
    "token": "got a token",
    "mcp": "connected",
    "listed": "listed tools",
    "called": "called tools",
}
NEVER = {
    "challenge": "never fetched the protected resource metadata (/.well-known/oauth-protected-resource)",
    "resource-metadata": "never fetched the authorization server metadata (/.well-known/oauth-authorization-server)",
    "server-metadata": "never registered (/register) nor came to /authorize",
    "registered": "never came back to /authorize",
    "consent-page": "the owner never answered it",
    "approved": "the client never came back to /token",
    "token": "never called /mcp with the token",
    "mcp": "never listed tools",
    "listed": "never called a tool",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The furthest stage reached ("" for none), and the sentence."""

    reached: str
    sentence: str
    complete: bool  # reached the end, or the owner said no: nothing is missing


DOCTOR_MARK = "(vpsmcp doctor)"  # in the user agent of every request vpsmcp doctor makes (doctor/probe.py)
DOCTOR = Verdict("", "vpsmcp doctor testing this server: the refusals it provoked were asked for; "
                 "its own report says what failed", True)


def is_doctor(user_agent: str) -> bool:
    return DOCTOR_MARK in user_agent


def judge(steps: Sequence[Step], last: Step | None = None, user_agent: str = "") -> Verdict:
    """The verdict on a flow's ``steps``; ``last`` is its latest request when it was not kept.
    A flow of the doctor's probes is said to be one (it provokes refusals on purpose)."""
    if is_doctor(user_agent):
        return DOCTOR
    last = last or (steps[-1] if steps else None)
    denied = next((s for s in steps if s.stage == "denied"), None)
    best: Step | None = None
    for step in steps:
        if step.stage in STAGES and (best is None or STAGES.index(step.stage) > STAGES.index(best.stage)):
            best = step
    if denied is not None and (best is None or STAGES.index(best.stage) < STAGES.index("token")):
        return Verdict("denied", f"the owner denied access at {clock(denied.t)}", True)
    if best is None:
        sentence = "never reached a step of a connection"
        return Verdict("", _with_failure(sentence, last, None), False)
    complete = best.stage == "called"
    sentence = f"{DID[best.stage]} at {clock(best.t)}" + ("" if complete else f", {NEVER[best.stage]}")
    return Verdict(best.stage, _with_failure(sentence, last, best), complete)


def _with_failure(sentence: str, last: Step | None, best: Step | None) -> str:
    if last is None or not last.error or last is best:
        return sentence
    return f"{sentence}; last: {last.route} → {last.outcome} at {clock(last.t)}"


def clock(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))
