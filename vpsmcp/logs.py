"""Logging: readable lines or one JSON object per line, and the access log.

The access log is written by hypercorn's logger hook (``server/access_log.py``), which
runs once a response has been sent, so it costs the request path nothing and
sees the true duration of streamed responses. Only the path is logged, never
the query string or headers, so codes, tokens and secrets never reach a log.
Who made the request and in which session are read from the same record
the connection trace keeps of it: the trace middleware puts it in the ASGI
scope under ``SCOPE_REQUEST`` (``trace/pending.py``: ``client_id``,
``session_id``), and the access line reads them back.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

SCOPE_REQUEST = "vpsmcp.request"  # the trace's record of the request: who, which session

log = logging.getLogger("vpsmcp")
access_log = logging.getLogger("vpsmcp.access")


class TextFormatter(logging.Formatter):
    """``2026-11-24T10:02:03Z INFO message key=value …``"""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        line = f"{stamp} {record.levelname} {record.getMessage()}"
        fields: dict[str, Any] = getattr(record, "fields", {})
        if fields:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or text == "" or '"' in text) else text


class RepeatLimit(logging.Filter):
    """Let through at most ``burst`` lines of one kind (logger, level, message template) per
    ``window`` seconds, saying so on the last one let through and counting the rest on the next.

    When something fails for every connection — descriptors running out, a full disk — the same
    line (often with a traceback) would otherwise be written thousands of times a second: a log
    that grew by 129 MB in 75 s buried the one line that said why. The access log is not limited.
    """

    MAX_KINDS = 1000

    def __init__(self, burst: int = 10, window: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._kinds: dict[tuple[str, int, str], list[float]] = {}  # kind → [window start, lines, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == access_log.name:
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] > self.window:
            if len(self._kinds) >= self.MAX_KINDS:
                self._kinds.clear()
            self._kinds[kind] = [now, 1, 0]
            if seen is not None and seen[2]:
                record.msg = f"{record.msg} [{seen[2]:.0f} more like this were not logged in the {self.window:g} s before]"
            return True
        seen[1] += 1
        if seen[1] < self.burst:
            return True
        if seen[1] == self.burst:
            record.msg = f"{record.msg} [repeated {self.burst} times: more like this are not logged for {self.window:g} s]"
            return True
        seen[2] += 1
        return False


def setup_logging(fmt: str, level: str, stream: TextIO | None = None) -> None:
    """Send vpsmcp's, hypercorn's and asyncio's logs to ``stream`` (stderr) in ``fmt``, each kind of
    line at most ``RepeatLimit``'s burst per window."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatLimit())
    for name in ("vpsmcp", "hypercorn.error", "quart.app", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
