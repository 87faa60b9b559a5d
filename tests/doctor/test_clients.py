"""The per-client verdicts (doctor/clients.py), read off the steps as a run leaves them."""

from __future__ import annotations

from typing import Any

from vpsmcp.doctor.clients import predict
from vpsmcp.doctor.model import CHATGPT, CLAUDE, Check, Outcome, Status
from vpsmcp.doctor.probe import Probe
from vpsmcp.doctor.run import Options, Run
from vpsmcp.doctor.target import parse_target

STEPS = ("DNS", "port", "TLS", "401 challenge", "resource metadata", "server metadata", "issuer",
         "PKCE and endpoints", "registration", "authorize", "token endpoint", "ChatGPT, Codex", "server/discover",
         "initialize",
         "tools/list", "Claude's request", "sessions", "tool call")


class Silent:
    def started(self, group: str, name: str) -> None: ...
    def finished(self, check: Check) -> None: ...
    def note(self, text: str) -> None: ...


def verdicts(url: str, changed: dict[str, tuple[Any, ...]] | None = None, local: bool = False,
             metadata: dict[str, Any] | None = None) -> dict[str, tuple[str, str]]:
    run = Run(parse_target(url), Options(local=local), Probe(5.0), Silent())
    run.facts.server_metadata = metadata
    checks = [Check("g", name, Outcome(*(changed or {}).get(name, (Status.PASS, "ok"))), 0.0) for name in STEPS]
    return {p.client.split(" (")[0]: (p.verdict, p.words) for p in predict(run, checks)}


def test_a_server_that_passes_everything_on_https_443_is_one_every_client_connects_to() -> None:
    assert {name: verdict for name, (verdict, _) in verdicts("https://mcp.example.com/mcp").items()} == {
        "Claude": "connects", "Claude Code": "connects", "ChatGPT": "connects", "Codex": "connects",
        "mcp-remote": "connects", "official SDK clients": "connects"}


def test_chatgpts_callback_refused_fails_chatgpt_alone() -> None:
    refused = (Status.WARN, "refused ChatGPT's callback …: invalid_redirect_uri (Codex accepted)", "", "",
               frozenset({CHATGPT}))
    found = verdicts("https://mcp.example.com/mcp", {"ChatGPT, Codex": refused})
    assert found["ChatGPT"][0] == "fails" and found["ChatGPT"][1].startswith("will fail at ChatGPT, Codex: refused")
    assert {name for name, (verdict, _) in found.items() if verdict != "connects"} == {"ChatGPT"}
    assert verdicts("http://127.0.0.1:8765/mcp", local=True)["ChatGPT"][1] == \
        "will fail before any request: it reaches only https URLs"


def test_claudes_mismatched_header_refused_fails_claude_alone() -> None:
    refused = (Status.WARN, "HTTP 400, JSON-RPC -32020", "", "", frozenset({CLAUDE}))  # as protocol.py says it
    found = verdicts("https://mcp.example.com/mcp", {"Claude's request": refused})
    assert found["Claude"] == ("fails", "will fail at Claude's request: HTTP 400, JSON-RPC -32020")
    assert found["official SDK clients"][0] == "connects" and found["Claude Code"][0] == "connects"
    # A warning fatal to no one is a warning for Claude too.
    assert verdicts("https://mcp.example.com/mcp", {"Claude's request": refused[:2]})["Claude"][0] == "connects"


def test_a_client_refused_before_any_request_is_also_told_where_it_would_fail_next() -> None:
    refused = (Status.WARN, "HTTP 400, JSON-RPC -32020", "", "", frozenset({CLAUDE}))
    verdict, words = verdicts("http://127.0.0.1:8765/mcp", {"Claude's request": refused}, local=True)["Claude"]
    assert verdict == "fails"
    assert words == ("will fail before any request: it reaches only https URLs; past that, it would fail at "
                     "Claude's request: HTTP 400, JSON-RPC -32020")


def test_claude_reaches_only_https_on_port_443() -> None:
    assert verdicts("http://127.0.0.1:8765/mcp", local=True)["Claude"][1] == \
        "will fail before any request: it reaches only https URLs"
    assert "port 443 only, not 8443" in verdicts("https://mcp.example.com:8443/mcp")["Claude"][1]
    assert verdicts("http://127.0.0.1:8765/mcp", local=True)["Claude Code"][0] == "connects"


def test_what_lies_behind_the_login_leaves_a_client_unknown_and_a_failure_names_its_step() -> None:
    skipped = dict.fromkeys(("server/discover", "initialize", "tools/list", "Claude's request", "sessions", "tool call"), (Status.SKIP, "needs a token: run again with --login to check what lies behind the login"))
    verdict, words = verdicts("https://mcp.example.com/mcp", skipped)["official SDK clients"]
    assert verdict == "unknown" and "from server/discover on not checked" in words
    broken = verdicts("https://mcp.example.com/mcp", {"issuer": (Status.FAIL, "issuer differs by a slash")})
    assert all(v == ("fails", "will fail at issuer: issuer differs by a slash") for v in broken.values())


def test_claude_is_told_it_will_choose_a_metadata_document_when_one_is_offered_with_none() -> None:
    metadata = {"client_id_metadata_document_supported": True, "token_endpoint_auth_methods_supported": ["none"]}
    verdict, words = verdicts("https://mcp.example.com/mcp", metadata=metadata)["Claude"]
    assert verdict == "connects" and "https://claude.ai/oauth/mcp-oauth-client-metadata" in words
