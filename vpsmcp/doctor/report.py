"""The doctor's report: lines with ✓/✗/! as the steps finish, or one JSON document.

Text goes to stdout line by line (on a terminal, the running step shows
until it ends); each warning and failure is followed by its cause and fix.
``--json`` prints one document at the end and sends anything a person must
see meanwhile (the login URL) to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from vpsmcp.doctor.clients import Prediction
from vpsmcp.doctor.model import Check, Status, verdict
from vpsmcp.doctor.plan import GROUP_TITLES
from vpsmcp.doctor.run import status_counts

NAME_WIDTH = 19


class TextReporter:
    """Readable lines, progress included."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.progress = out.isatty()
        self.unicode = _can_encode(out, "✓✗…→")
        self.group: str | None = None
        self.showing = False

    def begin(self, url: str) -> None:
        self._write(f"vpsmcp doctor: {url}\n")

    def started(self, group: str, name: str) -> None:
        if group != self.group:
            self.group = group
            self._write(f"\n{GROUP_TITLES.get(group, group)}\n")
        if self.progress:
            self.out.write(f"  {'…' if self.unicode else '.'} {name}")
            self.out.flush()
            self.showing = True

    def finished(self, check: Check) -> None:
        mark = check.status.mark if self.unicode else check.status.ascii_mark
        lines = [f"  {mark} {check.name:<{NAME_WIDTH}} {check.outcome.summary}"]
        if check.outcome.cause:
            lines.append(f"      why: {check.outcome.cause}")
        if check.outcome.fix:
            lines.append(f"      fix: {check.outcome.fix}")
        self._write("\n".join(lines) + "\n")

    def note(self, text: str) -> None:
        self._write("\n" + text + "\n\n")

    def end(self, checks: Sequence[Check], clients: Sequence[Prediction] = ()) -> None:
        if clients:
            marks = {"connects": "✓", "fails": "✗", "unknown": "?"} if self.unicode else \
                {"connects": "+", "fails": "x", "unknown": "?"}
            self._write("\nClients\n" + "".join(f"  {marks[p.verdict]} {p.client}: {p.words}\n" for p in clients))
        counts = status_counts(checks)
        parts = [f"{counts[Status.PASS]} passed", _plural(counts[Status.WARN], "warning"),
                 f"{counts[Status.FAIL]} failed", f"{counts[Status.SKIP]} skipped"]
        self._write(f"\n{', '.join(parts)}: {verdict(checks).value}\n")

    def _write(self, text: str) -> None:
        if self.showing:
            self.out.write("\r\x1b[K")
            self.showing = False
        if not self.unicode:
            text = text.encode("ascii", "replace").decode("ascii")
        self.out.write(text)
        self.out.flush()


class JsonReporter:
    """One JSON document at the end; notes for people go to ``notes`` (stderr)."""

    def __init__(self, out: TextIO, notes: TextIO) -> None:
        self.out = out
        self.notes = notes
        self.url = ""

    def begin(self, url: str) -> None:
        self.url = url

    def started(self, group: str, name: str) -> None:
        return None

    def finished(self, check: Check) -> None:
        return None

    def note(self, text: str) -> None:
        self.notes.write(text + "\n")
        self.notes.flush()

    def end(self, checks: Sequence[Check], clients: Sequence[Prediction] = ()) -> None:
        counts = status_counts(checks)
        document = {
            "url": self.url,
            "verdict": verdict(checks).value,
            "counts": {status.value: counts[status] for status in Status},
            "checks": [
                {"group": c.group, "name": c.name, "status": c.status.value, "summary": c.outcome.summary,
                 "cause": c.outcome.cause, "fix": c.outcome.fix, "seconds": c.seconds}
                for c in checks
            ],
            "clients": [{"client": p.client, "verdict": p.verdict, "words": p.words} for p in clients],
        }
        self.out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        self.out.flush()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _can_encode(out: TextIO, sample: str) -> bool:
    try:
        sample.encode(getattr(out, "encoding", None) or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True
