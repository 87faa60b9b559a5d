"""Checking the audit log's chain: an edited, removed, inserted or cut-off record is reported.

Walks every audit file oldest first. A record whose content does not match
its hash was edited; one whose ``prev`` is not the hash before it, or whose
number does not follow, shows a record removed or inserted; a last line
without its newline is torn or cut; and ``audit.head`` names the newest
record written, so records cut from the end are missed. When old files were
rotated away, the chain is checked from the oldest record kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpsmcp.audit.log import GENESIS, HEAD_NAME, log_files, record_hash


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``verify`` found."""

    records: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Walk:
    head: dict[str, Any] | None
    problems: list[str]
    records: int = 0
    first_seq: int | None = None
    prev_seq: int | None = None
    prev_hash: str | None = None
    head_hash_seen: str | None = None

    def check(self, where: str, record: dict[str, Any]) -> None:
        seq = record.get("seq")
        if not isinstance(seq, int):
            self.problems.append(f"{where}: no record number (edited)")
            return
        where = f"{where} (record {seq})"
        if record_hash(record) != record.get("hash"):
            self.problems.append(f"{where}: its content does not match its hash (edited)")
        if self.prev_seq is None:
            self.first_seq = seq
            if seq == 1 and record.get("prev") != GENESIS:
                self.problems.append(f"{where}: the first record does not start the chain (edited)")
        else:
            if seq != self.prev_seq + 1:
                self.problems.append(f"{where}: follows record {self.prev_seq} (records removed or inserted)")
            if record.get("prev") != self.prev_hash:
                self.problems.append(f"{where}: does not chain to record {self.prev_seq} (a record before it "
                                     "was edited, removed or inserted)")
        if self.head is not None and seq == self.head.get("seq"):
            self.head_hash_seen = str(record.get("hash"))
        self.records += 1
        self.prev_seq, self.prev_hash = seq, str(record.get("hash"))


def verify(directory: Path) -> Verdict:
    """Check every audit file in ``directory`` and the head against each other."""
    head = _read_head(directory)
    walk = _Walk(head if isinstance(head, dict) else None, [])
    if head == "unreadable":
        walk.problems.append(f"{HEAD_NAME} is not a record of the newest entry (edited)")
    for path in log_files(directory):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            walk.problems.append(f"{path.name}: the last line is incomplete (torn write or cut)")
        for number, line in enumerate(data.splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                walk.problems.append(f"{path.name} line {number}: not a JSON record (edited or torn)")
                continue
            if isinstance(record, dict):
                walk.check(f"{path.name} line {number}", record)
            else:
                walk.problems.append(f"{path.name} line {number}: not a record (edited)")
    _check_head(walk)
    return Verdict(walk.records, walk.first_seq, walk.prev_seq, walk.prev_hash, tuple(walk.problems))


def _check_head(walk: _Walk) -> None:
    if walk.head is None:
        if walk.records and not any(HEAD_NAME in p for p in walk.problems):
            walk.problems.append(f"{HEAD_NAME} is missing, so records cut from the end cannot be noticed")
        return
    seq = walk.head.get("seq")
    if not isinstance(seq, int):
        walk.problems.append(f"{HEAD_NAME} holds no record number (edited)")
    elif walk.prev_seq is None or seq > walk.prev_seq:
        ends = f"ends at record {walk.prev_seq}" if walk.prev_seq is not None else "is empty"
        walk.problems.append(f"the log {ends}, but record {seq} was written: records were cut from the end")
    elif walk.head_hash_seen is not None and walk.head_hash_seen != walk.head.get("hash"):
        walk.problems.append(f"record {seq} is not the record {HEAD_NAME} names (edited)")


def _read_head(directory: Path) -> dict[str, Any] | str | None:
    try:
        head = json.loads((directory / HEAD_NAME).read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return "unreadable"
    return head if isinstance(head, dict) else "unreadable"


def records(directory: Path) -> Iterator[dict[str, Any]]:
    """Every readable record, oldest first."""
    for path in log_files(directory):
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
