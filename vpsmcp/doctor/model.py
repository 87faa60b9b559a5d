"""What one step of the doctor found, and the verdict over all of them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from vpsmcp.errors import VpsmcpError


class Status(enum.Enum):
    """How a step went. ``SKIP``: it could not run (a step before it failed, or it does not apply)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def mark(self) -> str:
        return _MARKS[self]

    @property
    def ascii_mark(self) -> str:
        return _ASCII_MARKS[self]


_MARKS = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}
_ASCII_MARKS = {Status.PASS: "+", Status.WARN: "!", Status.FAIL: "x", Status.SKIP: "-"}

# The clients a warning can be fatal to (Outcome.fatal_to); doctor.clients says what each one does.
CLAUDE, CLAUDE_CODE, CHATGPT, CODEX, MCP_REMOTE, SDK = "claude", "claude-code", "chatgpt", "codex", "mcp-remote", "sdk"

# The process exit status of a run: 2 stays argparse's (a usage error).
EXIT_STATUS = {Status.PASS: 0, Status.FAIL: 1, Status.WARN: 3, Status.SKIP: 0}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step saw (``summary``), and for a warning or failure why it matters and what to do.

    ``fatal_to``: the clients (keys of doctor.clients) for which this warning is a failure — a server
    the spec allows, which one client's documented behaviour cannot use.
    """

    status: Status
    summary: str
    cause: str = ""
    fix: str = ""
    fatal_to: frozenset[str] = frozenset()


def passed(summary: str) -> Outcome:
    return Outcome(Status.PASS, summary)


def warned(summary: str, cause: str, fix: str = "", fatal_to: frozenset[str] = frozenset()) -> Outcome:
    return Outcome(Status.WARN, summary, cause, fix, fatal_to)


def failed(summary: str, cause: str, fix: str = "") -> Outcome:
    return Outcome(Status.FAIL, summary, cause, fix)


def skipped(summary: str) -> Outcome:
    return Outcome(Status.SKIP, summary)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: a step, its group, its outcome and how long it took."""

    group: str
    name: str
    outcome: Outcome
    seconds: float

    @property
    def status(self) -> Status:
        return self.outcome.status


def verdict(checks: Iterable[Check]) -> Status:
    """Fail if any step failed, else warn if any warned, else pass (skips do not count)."""
    statuses = {c.status for c in checks}
    for status in (Status.FAIL, Status.WARN):
        if status in statuses:
            return status
    return Status.PASS


class DoctorError(VpsmcpError):
    """``vpsmcp doctor`` was asked something it cannot do (a URL it cannot check, say)."""

    exit_status = 2


class ProbeError(DoctorError):
    """A request the doctor sent got no usable answer: ``kind`` is dns, connect, tls, timeout or http."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
