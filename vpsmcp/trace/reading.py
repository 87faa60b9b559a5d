"""Reading ``trace.jsonl`` back: its lines grouped into flows, and new lines as they come.

Lines are read from the rotated files oldest first. A line that is not a
trace entry (a torn last line while the server writes, a foreign file) is
skipped rather than stopping the reader: the trace is for looking, not for
trusting.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpsmcp.trace.journal import files_oldest_first
from vpsmcp.trace.steps import Step


@dataclass(frozen=True, slots=True)
class Tally:
    """Requests a flow made that were counted, not kept: ``more`` of them, ``errors`` failed."""

    t: float
    more: int
    errors: int
    last: str


@dataclass(slots=True)
class History:
    """One flow as the journal tells it."""

    id: str
    client_id: str | None = None
    address: str = ""
    user_agent: str = ""
    entries: list[Step | Tally] = field(default_factory=list)
    origins: dict[float, tuple[str, str]] = field(default_factory=dict)  # step time → (address, agent)

    @property
    def steps(self) -> list[Step]:
        return [e for e in self.entries if isinstance(e, Step)]

    @property
    def started(self) -> float:
        return self.entries[0].t if self.entries else 0.0

    @property
    def seen(self) -> float:
        return self.entries[-1].t if self.entries else 0.0

    def add(self, entry: dict[str, Any]) -> Step | Tally:
        self.client_id = str(entry["client"]) if entry.get("client") else self.client_id
        if "tally" in entry:
            item: Step | Tally = Tally(float(entry["t"]), int(entry["tally"]), int(entry.get("errors", 0)),
                                       str(entry.get("last", "")))
        else:
            item = Step.from_json(entry)
            origin = (str(entry.get("addr", "")), str(entry.get("ua", "")))
            if not self.address and not self.user_agent:
                self.address, self.user_agent = origin
            self.origins[item.t] = origin
        self.entries.append(item)
        return item


def entries(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The trace entries among ``lines``: JSON objects naming a flow."""
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("flow"), str) and "t" in entry:
            yield entry


def read_histories(path: Path) -> list[History]:
    """Every flow in ``path`` and its rotated files, in the order they started."""
    found: dict[str, History] = {}
    for file in files_oldest_first(path):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        for entry in entries(data.splitlines()):
            try:
                found.setdefault(entry["flow"], History(entry["flow"])).add(entry)
            except (KeyError, ValueError, TypeError):
                continue
    return list(found.values())


def follow(path: Path, interval: float = 0.05) -> Iterator[dict[str, Any]]:
    """Entries appended to ``path`` from now on; survives rotation (a new file is read from its start)."""
    position, inode = _end_of(path)
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            time.sleep(interval)
            continue
        if st.st_ino != inode or st.st_size < position:
            position, inode = 0, st.st_ino
        if st.st_size > position:
            with open(path, "rb") as f:
                f.seek(position)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]  # leave a torn last line for next time
            position += len(complete)
            yield from entries(complete.splitlines())
        else:
            time.sleep(interval)


def _end_of(path: Path) -> tuple[int, int | None]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, None
    return st.st_size, st.st_ino
