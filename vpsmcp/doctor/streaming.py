"""Event streams: does each event reach the client when the server writes it, and do keep-alives come?

A buffering proxy (nginx with ``proxy_buffering on``, gzip, Cloudflare
Tunnel: claude-code#5826) holds small events until its buffer fills, so a
tool's progress and even its result arrive late, in a lump, or never —
and Claude's proxy gives up on a stream silent for about 30 s. The doctor
opens a stream, times every event and comment for ``--stream-wait``
seconds, and reads the timing — but says a proxy buffers only on evidence:
an event the server must have sent at once that came late or not at all
(the ``endpoint`` event of ``/sse``, which the 2024-11-05 transport sends
first; a priming event — an id with empty data — on ``GET /mcp``, which
2025-11-25 servers SHOULD send and some do not), keep-alives let go in a
lump, or headers held back. A server that sends nothing on an idle stream,
or whose first item is its own keep-alive a while later, gives nothing to
time: the official SDKs do exactly that, directly on loopback.
"""

from __future__ import annotations

import itertools
import time

from vpsmcp.doctor import fixes
from vpsmcp.doctor.model import Outcome, ProbeError, failed, passed, skipped, warned
from vpsmcp.doctor.probe import Opened
from vpsmcp.doctor.run import Run, StepSpec, Stream
from vpsmcp.doctor.sse import EventParser

GROUP = "streaming"
FIRST_EVENT_LIMIT = 1.0  # seconds from headers to an event the server sends at once
TOGETHER = 0.05  # keep-alives this close together were held back and let go at once
SHORT_WAIT = 20.0  # below this a missing keep-alive may just not be due yet (vpsmcp and the SDK: 15 s)
CLAUDE_SILENCE_LIMIT = 30.0  # Claude's proxy answered 502 after about this long without a byte
CUT_AFTER_SILENCE = 2.0  # a stream ending after this long without a byte was cut by an idle timeout


def held_back(run: Run, path: str) -> Outcome:
    """The failure of a stream whose very headers never came: nginx holds them with the first events."""
    return failed(f"GET {path}: no answer within {run.options.timeout:g} s, though the server answers a stream at once",
                  "a proxy buffers the stream (it holds even the headers until its buffer fills)",
                  run.fix(fixes.BUFFERING))


def open_stream(run: Run, path: str, headers: dict[str, str]) -> Opened | Outcome:
    """``GET path`` for an event stream; a timeout before the headers is a buffering proxy."""
    try:
        # As clients ask (httpx, Node's fetch): a proxy that compresses event streams shows itself only then.
        return run.probe.open("GET", run.target.at(path), {"Accept": "text/event-stream",
                                                            "Accept-Encoding": "gzip, deflate, br", **headers})
    except ProbeError as exc:
        if exc.kind != "timeout":
            raise
        return held_back(run, path)


def compression(run: Run, opened: Opened) -> Outcome | None:
    """The failure of an event stream a proxy compresses (it holds events until it has enough to compress)."""
    encoding = (opened.header("content-encoding") or "").strip().lower()
    if encoding and encoding != "identity":
        return failed(f"the event stream is compressed ({encoding})",
                      "a compressor holds events until it has enough to compress", run.fix(fixes.GZIP))
    return None


def _open_stream(run: Run) -> tuple[Opened, bool, str] | Outcome:
    """The stream to time: the session's ``GET /mcp`` stream, else the legacy ``/sse`` one."""
    t, f = run.target, run.facts
    if f.session:
        headers = {"Mcp-Session-Id": f.session, **run.auth_headers()}
        if f.handshake_version:
            headers["MCP-Protocol-Version"] = f.handshake_version
        opened = open_stream(run, t.path, headers)
        if isinstance(opened, Outcome):
            return opened
        if opened.status == 200:
            return opened, False, t.path  # whether it primes is seen in what arrives (_time_items)
        opened.close()
    opened = open_stream(run, "/sse", run.auth_headers())
    if isinstance(opened, Outcome):
        return opened
    if opened.status == 200:
        return opened, True, "/sse"
    opened.close()
    return skipped("no event stream to time: no GET stream on the session and nothing at /sse")


def event_stream(run: Run) -> Outcome:
    if (skip := run.needs_access()) is not None:
        return skip
    start = time.monotonic()
    opened_or_skip = _open_stream(run)
    if isinstance(opened_or_skip, Outcome):
        return opened_or_skip
    opened, primed, path = opened_or_skip
    window = run.options.stream_wait
    try:
        if (opened.header("content-type") or "").split(";")[0].strip() != "text/event-stream":
            return failed(f"the stream is {opened.header('content-type')!r}, not text/event-stream",
                          "clients cannot read it as events")
        if (compressed := compression(run, opened)) is not None:
            return compressed
        arrivals, priming, closed_at = _time_items(opened, start + opened.seconds + window, start)
    finally:
        opened.close()
    stream = Stream(path, opened.seconds, arrivals, primed or priming, window, closed_at)
    run.facts.stream = stream
    return _judge_delivery(run, stream)


def _time_items(opened: Opened, until: float, start: float) -> tuple[list[tuple[float, bool]], bool, float | None]:
    """When each event and comment arrived, whether the first was a priming event (an id, no data),
    and when the stream ended, if it did before ``until``."""
    parser = EventParser()
    arrivals: list[tuple[float, bool]] = []
    priming = False
    while (chunk := opened.read_some(until)) is not None:
        if not chunk:
            return arrivals, priming, time.monotonic() - start
        for item in parser.feed(chunk):
            if not arrivals:
                priming = not item.comment and item.id is not None and item.data == ""
            arrivals.append((item.at - start, item.comment))
    return arrivals, priming, None


def _judge_delivery(run: Run, s: Stream) -> Outcome:
    if s.closed_at is not None:
        last = max([s.headers_at] + [at for at, _ in s.arrivals])
        silence = s.closed_at - last
        if silence >= CUT_AFTER_SILENCE:  # ended by the silence, not by the server's choice: an idle timeout
            return failed(f"{s.path}: the stream was cut after {silence:.1f} s without a byte",
                          "something between closes idle event streams before the server's keep-alive comes: "
                          "a client's stream breaks whenever a tool works that long", run.fix(fixes.READ_TIMEOUT))
    if s.primed:
        if not s.arrivals:
            return failed(f"{s.path}: headers after {s.headers_at:.2f} s, then nothing for {s.window:g} s, "
                          "though the server sends an event at once",
                          "a proxy buffers the stream: events reach clients late or never, and Claude gives up",
                          run.fix(fixes.BUFFERING))
        delay = s.arrivals[0][0] - s.headers_at
        if delay > FIRST_EVENT_LIMIT:
            return failed(f"{s.path}: the first event came {delay:.1f} s after the headers, though sent at once",
                          "a proxy buffers the stream", run.fix(fixes.BUFFERING))
    lumps = _lumps(s.arrivals[1:] if s.primed else s.arrivals)
    if lumps:
        return failed(f"{s.path}: {lumps} keep-alives arrived together after a silence",
                      "a proxy holds events back and lets them go in lumps", run.fix(fixes.BUFFERING))
    if not s.arrivals:
        return skipped(f"{s.path}: the server sent nothing on its idle stream in {s.window:g} s: nothing to time "
                       "(no priming event, no keep-alive)")
    first = (f"first event {1000 * (s.arrivals[0][0] - s.headers_at):.0f} ms after the headers" if s.primed
             else f"first item {s.arrivals[0][0] - s.headers_at:.1f} s after the headers (the server's own pace)")
    count = f"{len(s.arrivals)} item" + ("" if len(s.arrivals) == 1 else "s")
    return passed(f"{s.path}: {first}; {count} in {s.window:g} s, none held back")


def _lumps(arrivals: list[tuple[float, bool]]) -> int:
    """How many keep-alives arrived bunched with the one before them (servers space them out)."""
    return sum(1 for (a, _), (b, comment) in itertools.pairwise(arrivals) if comment and b - a < TOGETHER)


def keep_alive(run: Run) -> Outcome:
    s = run.facts.stream
    if s is None:
        return skipped("no stream was timed (see above)")
    times = [s.headers_at] + [at for at, _ in s.arrivals]
    silence = max(b - a for a, b in itertools.pairwise([*times, s.headers_at + s.window]))
    later = [at for at, _ in (s.arrivals[1:] if s.primed else s.arrivals)]
    if not later:
        if s.window < SHORT_WAIT:  # a keep-alive every 15 s (vpsmcp, the SDKs) may just not be due yet
            return skipped(f"no keep-alive in {s.window:g} s, too short to tell (see --stream-wait; 20 s or more)")
        return warned(f"no keep-alive in {s.window:g} s",
                      "proxies close idle streams (nginx's proxy_read_timeout is 60 s by default, AWS ALB 60 s) and "
                      "Claude gives up after about 30 s without a byte", run.fix(fixes.HEARTBEAT))
    if silence > CLAUDE_SILENCE_LIMIT:
        return warned(f"silent for {silence:.0f} s", "Claude gives up after about 30 s without a byte",
                      run.fix(fixes.HEARTBEAT))
    return passed(f"a keep-alive within {later[0] - s.headers_at:.1f} s; longest silence {silence:.1f} s")


STEPS = (
    StepSpec(GROUP, "event stream", event_stream),
    StepSpec(GROUP, "keep-alive", keep_alive),
)
