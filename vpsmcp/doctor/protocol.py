"""The MCP protocol behind the login: the era probe, the handshake, sessions, a tool.

Clients of 2026-07-28 (Claude, the official SDK) open with ``server/discover``
and fall back to ``initialize`` on an error — but only if an answer comes
(SDK client/_probe.py waits 10 s). Sessions: a request without
``Mcp-Session-Id`` SHOULD get 400, an unknown one MUST get 404 so the client
starts over (basic/transports, "Session Management"). Requests carry no
``MCP-Protocol-Version`` after initialize, as Claude sends none (claude-ai-mcp#70).
"""

from __future__ import annotations

from typing import Any

from vpsmcp.doctor import fixes, rpc
from vpsmcp.doctor.model import CLAUDE, Outcome, ProbeError, failed, passed, skipped, warned
from vpsmcp.doctor.refusals import refused
from vpsmcp.doctor.run import Run, StepSpec

GROUP = "protocol"
DISCOVER_TIMEOUT = 10.0  # how long the official SDK waits for the probe (client/_probe.py)
UNKNOWN_SESSION = "vpsmcp-doctor-unknown-session"


def discover(run: Run) -> Outcome:
    if (skip := run.needs_access()) is not None:
        return skip
    body, headers = rpc.modern(1, "server/discover")
    limit = min(run.options.timeout, DISCOVER_TIMEOUT)
    try:
        answer = rpc.post(run.probe, run.target.url, body, {**headers, **run.auth_headers()}, limit)
    except ProbeError as exc:
        if exc.kind != "timeout":
            raise
        return failed(f"server/discover got no answer within {limit:g} s",
                      "clients that open with server/discover (Claude, the official SDK) wait for it before "
                      "falling back to initialize — the SDK 10 s, others for ever", run.fix(fixes.DISCOVER))
    if answer.result is not None:
        run.facts.modern = True
        return passed(f"2026-07-28: supportedVersions {answer.result.get('supportedVersions')}")
    if answer.status in (401, 403):
        return failed(f"server/discover with the token: {answer.describe()}", "the token is not accepted")
    error = answer.error
    if error is None:
        return warned(f"server/discover: {answer.describe()}, not a JSON-RPC error",
                      "clients fall back to initialize on a JSON-RPC error in the body; some only then",
                      run.fix(fixes.DISCOVER))
    if answer.status == 404 or error.get("code") == -32601:
        return warned(f"server/discover: {answer.describe()}", "some clients stall on -32601 instead of falling back",
                      run.fix(fixes.METHOD_NOT_FOUND))
    return passed(f"handshake era only ({answer.describe()}): clients fall back to initialize")


def initialize(run: Run) -> Outcome:
    if (skip := run.needs_access()) is not None:
        return skip
    answer = rpc.post(run.probe, run.target.url, rpc.initialize(), run.auth_headers())
    result = answer.result
    if result is None:
        if run.facts.modern:
            return warned(f"initialize: {answer.describe()}",
                          "clients of the handshake era (2025-03-26 … 2025-11-25) cannot connect")
        if answer.status != 200 and answer.error is None:
            return refused(run, "initialize", answer.status, answer.header, answer.text)
        return failed(f"initialize: {answer.describe()}", "no client can start a session")
    info = result.get("serverInfo")
    info = info if isinstance(info, dict) else {}
    if info.get("name") == "vpsmcp" and not run.facts.vpsmcp:
        run.facts.vpsmcp = str(info.get("version", ""))
    version = str(result.get("protocolVersion"))
    run.facts.handshake_version, run.facts.session = version, answer.header("mcp-session-id")
    ack = _post_as_session(run, rpc.notification("notifications/initialized"))
    seen = (f"{version} with {info.get('name', '?')} {info.get('version', '')}".rstrip()
            + (", a session" if run.facts.session else ", no session") + (", as an event stream" if answer.streamed else ""))
    if ack.status != 202:
        return warned(f"{seen}; notifications/initialized got {ack.describe()}, not 202",
                      "a notification is acknowledged with 202 and no body (basic/transports)")
    return passed(seen)


def _post_as_session(run: Run, message: dict[str, Any], session: str | None = None,
                     timeout: float | None = None) -> rpc.Answer:
    headers = dict(run.auth_headers())
    if session or run.facts.session:
        headers["Mcp-Session-Id"] = session or run.facts.session or ""
    return rpc.post(run.probe, run.target.url, message, headers, timeout)


def _call(run: Run, method: str, params: dict[str, Any], timeout: float | None = None) -> rpc.Answer:
    """A request in the era the server speaks: the handshake (with the session) if it did, else 2026-07-28."""
    if run.facts.handshake_version:
        return _post_as_session(run, rpc.request(2, method, params), timeout=timeout)
    body, headers = rpc.modern(2, method, params)
    return rpc.post(run.probe, run.target.url, body, {**headers, **run.auth_headers()}, timeout)


def tools_list(run: Run) -> Outcome:
    if (skip := run.needs_access()) is not None:
        return skip
    if not (run.facts.handshake_version or run.facts.modern):
        return skipped("no era answered")
    answer = _call(run, "tools/list", {})
    tools = (answer.result or {}).get("tools")
    if not isinstance(tools, list):
        return failed(f"tools/list: {answer.describe()}", "clients see no tools")
    run.facts.tools = [t for t in tools if isinstance(t, dict)]
    names = [str(t.get("name")) for t in run.facts.tools]
    shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    more = " (more pages)" if (answer.result or {}).get("nextCursor") else ""
    return passed(f"{len(names)} tools{more}" + (f": {shown}" if names else ""))


def sessions(run: Run) -> Outcome:
    if not run.facts.session:
        if (skip := run.needs_access()) is not None:  # it never got as far as a session
            return skip
        return skipped("the server issues no session ids")
    missing = rpc.post(run.probe, run.target.url, rpc.request(3, "tools/list", {}), run.auth_headers())
    unknown = _post_as_session(run, rpc.request(4, "tools/list", {}), session=UNKNOWN_SESSION)
    if unknown.status != 404:
        return failed(f"an unknown session id gets {unknown.describe()}, not 404",
                      "a client holding an expired session id never starts a new one (claude-code#48557)",
                      run.fix(fixes.SESSION_UNKNOWN))
    if missing.status == 200 and missing.result is not None:
        # Claude's connector sends some requests without the session id (claude-ai-mcp#99): serving them is right.
        return passed("an unknown session id → 404; a request without one is served (as Claude's connector needs)")
    if missing.status != 400:
        return warned(f"a request without a session id gets {missing.describe()}, not 400",
                      "clients cannot tell a lost session from other errors", run.fix(fixes.SESSION_MISSING))
    return passed("no session id → 400, an unknown one → 404")


def tool_call(run: Run) -> Outcome:
    if run.facts.tools is None:
        return skipped("no tool list")
    name = run.options.tool or _read_only_tool(run.facts.tools)
    if name is None:
        return skipped("no tool is marked readOnlyHint and callable without arguments; name one with --tool")
    answer = _call(run, "tools/call", {"name": name, "arguments": {}}, max(run.options.timeout, 30.0))
    result = answer.result
    if result is None:
        if answer.status == 403:
            return failed(f"tools/call {name}: {answer.describe()}", "the token lacks the scope this tool needs",
                          "allow that scope on the consent page, or call another tool with --tool")
        return failed(f"tools/call {name}: {answer.describe()}", "the call did not reach the tool")
    text = _first_text(result)
    if result.get("isError"):
        return warned(f"{name} answered with an error: {text}", "the call reached the tool, which failed")
    return passed(f"called {name}: {text}")


def _read_only_tool(tools: list[dict[str, Any]]) -> str | None:
    for tool in tools:
        annotations = tool.get("annotations") or {}
        schema = tool.get("inputSchema") or {}
        if annotations.get("readOnlyHint") is True and not schema.get("required"):
            return str(tool.get("name"))
    return None


def _first_text(result: dict[str, Any]) -> str:
    for item in result.get("content") or []:
        if isinstance(item, dict) and item.get("type") == "text":
            text = str(item.get("text", "")).strip().replace("\n", " ")
            return repr(text[:80] + ("…" if len(text) > 80 else ""))
    return "(no text)"


def end_session(run: Run) -> None:
    """DELETE the doctor's session, so it does not linger until it expires."""
    if run.facts.session:
        try:
            run.probe.request("DELETE", run.target.url, {"Mcp-Session-Id": run.facts.session, **run.auth_headers()})
        except ProbeError:
            pass  # the session expires on its own; the report is already complete
        run.facts.session = None


def claudes_request(run: Run) -> Outcome:
    """A request as Claude's connector sends it after ``server/discover`` (anthropics/claude-code#93290):
    a 2026-07-28 body under ``MCP-Protocol-Version: 2025-11-25``, no session. A strict server answers
    -32020 and every tool call fails in Claude while it shows "connected"."""
    if (skip := run.needs_access()) is not None:
        return skip
    if not run.facts.modern:
        return skipped("the server speaks no 2026-07-28: Claude sends it handshake-era requests")
    body, headers = rpc.modern(3, "tools/list")
    headers["MCP-Protocol-Version"] = "2025-11-25"
    answer = rpc.post(run.probe, run.target.url, body, {**headers, **run.auth_headers()})
    if answer.result is not None and isinstance(answer.result.get("tools"), list):
        return passed("a 2026-07-28 body under MCP-Protocol-Version: 2025-11-25 (as Claude sends it) is served")
    # A warning, not a failure: the spec's strict answer, fatal to one client (the Claude verdict says so).
    return warned(f"Claude's request (a 2026-07-28 body under MCP-Protocol-Version: 2025-11-25): {answer.describe()}",
                  "Claude's connector sends every request so (anthropics/claude-code#93290): every tool call "
                  "fails in Claude while it shows connected; other clients are not affected", FIX_BY_BODY,
                  fatal_to=frozenset({CLAUDE}))


FIX_BY_BODY = ("serve a request by the era its body names (params._meta's protocolVersion) when the "
               "MCP-Protocol-Version header disagrees, as vpsmcp does")

STEPS = (
    StepSpec(GROUP, "server/discover", discover),
    StepSpec(GROUP, "initialize", initialize),
    StepSpec(GROUP, "tools/list", tools_list),
    StepSpec(GROUP, "Claude's request", claudes_request),
    StepSpec(GROUP, "sessions", sessions),
    StepSpec(GROUP, "tool call", tool_call),
)
