"""The log lines vpsmcp writes: the same failure repeated thousands of times is written a bounded number of times."""

from __future__ import annotations

import io
import logging

import pytest

from vpsmcp import logs
from vpsmcp.logs import RepeatLimit, setup_logging


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    setup_logging("text", "info", out)
    return out


def test_a_line_repeated_for_every_connection_is_written_a_bounded_number_of_times(stream: io.StringIO) -> None:
    # What asyncio logs for every accept() once descriptors run out, with its traceback.
    for _ in range(5000):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            logging.getLogger("asyncio").error("socket.accept() out of system resource", exc_info=True)
    lines = stream.getvalue()
    assert lines.count("socket.accept() out of system resource") == 10
    assert lines.count("Traceback") == 10 and "more like this are not logged for 60 s" in lines
    logging.getLogger("vpsmcp").warning("something else")  # another kind of line is not held back
    assert "something else" in stream.getvalue()


def test_after_the_window_the_count_of_lines_not_written_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("vpsmcp.logs.time.monotonic", lambda: now[0])
    limit = RepeatLimit(burst=3, window=60)
    records = [logging.LogRecord("vpsmcp", logging.ERROR, __file__, 1, "store full: %s", ("x",), None) for _ in range(10)]
    assert [limit.filter(r) for r in records] == [True] * 3 + [False] * 7
    now[0] += 61
    later = logging.LogRecord("vpsmcp", logging.ERROR, __file__, 1, "store full: %s", ("x",), None)
    assert limit.filter(later) and later.getMessage() == "store full: x [7 more like this were not logged in the 60 s before]"


def test_the_access_log_is_never_limited(stream: io.StringIO) -> None:
    for _ in range(50):
        logs.access_log.info("access", extra={"fields": {"path": "/healthz"}})
    assert stream.getvalue().count("path=/healthz") == 50
