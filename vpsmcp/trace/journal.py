"""``trace.jsonl``: the connection trace on disk, one JSON object per line, rotated by size.

Strategy: the request path only appends a dict to a list; the server's
flush task (``Tracer.run``) writes the list once a second and at shutdown, in
one ``write`` to a file opened with ``O_APPEND``, so a reader never sees half a
batch from us and the hot path never touches the disk. When the file passes
``max_bytes`` it becomes ``trace.jsonl.1`` (the older ones move up, the oldest
beyond ``keep`` is deleted). Files are 0600 in the 0700 state directory.

A failed write is logged once and the batch dropped: the trace is a
diagnostic, and losing some of it must never stop the server answering.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("vpsmcp.trace")

FILE_NAME = "trace.jsonl"
MAX_PENDING = 20_000  # lines held between flushes; beyond, the oldest are dropped and counted


class Journal:
    """Buffered, rotated appends to ``path``."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self.pending: list[dict[str, Any]] = []
        self.dropped = 0
        self._failing = False

    def add(self, entry: dict[str, Any]) -> None:
        self.pending.append(entry)
        if len(self.pending) > MAX_PENDING:
            del self.pending[: MAX_PENDING // 10]
            self.dropped += MAX_PENDING // 10

    def flush(self) -> None:
        """Write what is pending; rotate when the file has grown past ``max_bytes``."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        text = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in batch)
        data = text.encode("utf-8", "backslashreplace")  # a lone surrogate becomes its \\u escape: still JSON
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                size = _append_whole(fd, data)
            finally:
                os.close(fd)
            if size >= self.max_bytes:
                self._rotate()
        except OSError as exc:
            if not self._failing:
                log.warning("cannot write the connection trace %s: %s", self.path, exc.strerror or exc)
            self._failing = True
            self.dropped += len(batch)
            return
        self._failing = False

    def _rotate(self) -> None:
        oldest = rotated(self.path, self.keep)
        oldest.unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            older = rotated(self.path, n)
            if older.exists():
                older.rename(rotated(self.path, n + 1))
        self.path.rename(rotated(self.path, 1))


def _append_whole(fd: int, data: bytes) -> int:
    """Append ``data`` whole, or cut off what got in and raise (no torn or glued lines); the new size."""
    start = os.fstat(fd).st_size
    written = 0
    try:
        while written < len(data):
            n = os.write(fd, data[written:])
            if n == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written += n
    except OSError:
        if written:
            os.ftruncate(fd, start)
        raise
    return start + written


def rotated(path: Path, n: int) -> Path:
    """The ``n``-th older file: ``trace.jsonl.1`` is the newest rotated one."""
    return path.with_name(f"{path.name}.{n}")


def files_oldest_first(path: Path, keep: int = 64) -> list[Path]:
    """The trace file and its rotated predecessors that exist, oldest first."""
    older = [rotated(path, n) for n in range(keep, 0, -1)]
    return [p for p in [*older, path] if p.exists()]
