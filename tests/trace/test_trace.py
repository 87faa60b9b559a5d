"""The connection trace's core with plain values: linking requests into flows, words, verdicts, the journal."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from vpsmcp.trace import flows as flows_module
from vpsmcp.trace.flows import MAX_STEPS, FlowBook
from vpsmcp.trace.journal import Journal, files_oldest_first
from vpsmcp.trace.reading import read_histories
from vpsmcp.trace.steps import CHALLENGE, TOKEN_REFUSED, Step, classify, describe, is_error
from vpsmcp.trace.verdict import judge

BACKEND = ("203.0.113.7", "Claude-User")
BROWSER = ("198.51.100.2", "Mozilla/5.0")


def step(stage: str = "", t: float = 1000.0, error: bool = False, outcome: str = "x") -> Step:
    return Step(t, "POST", "/x", 400 if error else 200, outcome, stage, error)


@pytest.mark.parametrize(("path", "method", "kind", "label"), [
    ("/mcp", "POST", "mcp", "/mcp"),
    ("/mcp/", "GET", "mcp", "/mcp"),
    ("/authorize", "GET", "authorize", "/authorize"),
    ("/authorize", "POST", "consent", "/authorize"),
    ("/.well-known/oauth-protected-resource/mcp", "GET", "resource-metadata", "/.well-known/oauth-protected-resource"),
    ("/.well-known/openid-configuration/mcp", "GET", "server-metadata", "/.well-known/openid-configuration"),
    ("/status/login", "POST", "status", "/status"),
    ("/wp-login.php", "GET", "other", "other"),
])
def test_paths_are_classified_with_bounded_labels(path: str, method: str, kind: str, label: str) -> None:
    assert classify(path, method) == (kind, label)


def test_a_first_challenge_is_no_error_but_a_refused_token_is() -> None:
    assert not is_error(401, CHALLENGE, ())
    assert is_error(401, TOKEN_REFUSED, ())
    assert is_error(200, "", (("tools/call echo", "refused -32602"),))
    assert is_error(200, "", (("tools/call echo", "tool_error"),)) and is_error(200, "", (("ping", "crashed"),))
    assert not is_error(200, "", (("tools/call echo", "cancelled"),))
    assert not is_error(200, "", (("tools/call echo", "ok"),))


@pytest.mark.parametrize(("kind", "method", "status", "notes", "refused", "code", "words", "stage"), [
    ("mcp", "POST", 401, (), CHALLENGE, "", CHALLENGE, "challenge"),
    ("mcp", "POST", 200, (("initialize", "ok"),), "", "", "initialize ok", "mcp"),
    ("mcp", "POST", 200, (("tools/call echo", "ok"),), "", "", "tools/call echo ok", "called"),
    ("mcp", "POST", 200, (("tools/call echo", "tool_error"),), "", "", "tools/call echo tool_error", ""),
    ("register", "POST", 201, (("registered", "client abc"),), "", "", "registered client abc", "registered"),
    ("consent", "POST", 302, (("owner denied", ""),), "", "", "owner denied", "denied"),
    ("consent", "POST", 401, (), "", "", "wrong owner password", ""),
    ("token", "POST", 400, (), "", "invalid_grant", "token refused: 400 invalid_grant", ""),
    ("token", "POST", 200, (), "", "", "token issued", "token"),
])
def test_outcomes_are_said_in_words(kind: str, method: str, status: int, notes: tuple[tuple[str, str], ...],
                                    refused: str, code: str, words: str, stage: str) -> None:
    assert describe(kind, method, status, notes, refused, code) == (words, stage)


def test_a_call_answered_on_an_event_stream_says_so_until_its_result_comes() -> None:
    assert describe("mcp", "POST", 200, (), "", "", stream=True) == ("answering on an event stream", "")
    assert describe("mcp", "GET", 200, (), "", "", stream=True) == ("event stream opened", "")


def test_a_registration_links_the_browser_and_the_bearer_calls_into_one_flow() -> None:
    book = FlowBook(10)
    challenge = book.place(None, lambda: BACKEND, 1000.0, True)
    registered = book.place("client-1", lambda: BACKEND, 1001.0, True)
    consent = book.place("client-1", lambda: BROWSER, 1002.0, True)
    call = book.place("client-1", lambda: ("203.0.113.9", "Claude-User"), 1003.0, True)
    assert challenge is registered is consent is call
    assert challenge is not None and challenge.client_id == "client-1"


def test_registering_again_starts_a_new_flow_and_later_requests_follow_it() -> None:
    book = FlowBook(10)
    first = book.place("client-1", lambda: BACKEND, 1000.0, True)
    second = book.place("client-2", lambda: BACKEND, 1001.0, True)
    after = book.place(None, lambda: BACKEND, 1002.0, True)
    assert first is not second and after is second


def test_a_new_clients_first_challenge_behind_the_same_bare_node_user_agent_starts_its_own_flow() -> None:
    # The TypeScript SDK logs in, then Gemini CLI on the same machine connects: both say "node".
    node = ("127.0.0.1", "node")
    book = FlowBook(10)
    typescript = book.place(None, lambda: node, 1000.0, True, opens=True)
    assert book.place("client-ts", lambda: node, 1001.0, True) is typescript
    gemini = book.place(None, lambda: node, 1002.0, True, opens=True)  # no token at all: a connection opens
    assert gemini is not typescript and gemini is not None and gemini.client_id is None
    assert book.place("client-gemini", lambda: node, 1003.0, True) is gemini
    assert book.place("client-ts", lambda: node, 1004.0, True) is typescript
    refused = book.place(None, lambda: node, 1005.0, True, opens=False)  # a token refused: its own client again
    assert refused is gemini


def test_stray_paths_start_no_flow_but_join_a_known_client() -> None:
    book = FlowBook(10)
    assert book.place(None, lambda: BROWSER, 1000.0, False) is None
    flow = book.place(None, lambda: BROWSER, 1000.0, True)
    assert book.place(None, lambda: BROWSER, 1001.0, False) is flow


def test_a_quiet_flow_is_over_and_the_ring_keeps_the_newest() -> None:
    book = FlowBook(2)
    old = book.place("a", lambda: BACKEND, 1000.0, True)
    assert old is not None
    old.seen = 1000.0
    assert book.place("a", lambda: BACKEND, 1000.0 + flows_module.IDLE + 1, True) is not old
    book.place("b", lambda: BROWSER, 5000.0, True)
    book.place("c", lambda: ("192.0.2.1", "x"), 5001.0, True)
    assert len(book.flows) == 2 and book.by_client("a") is None


def test_repeated_requests_are_counted_not_kept_and_a_failure_after_the_cap_is_kept() -> None:
    flow = FlowBook(1).place("a", lambda: BACKEND, 1000.0, True)
    assert flow is not None

    def written(key: object, error: bool = False) -> bool:
        return not flow.count(key, error, 1000.0) and flow.keep(step("called", error=error), key, error, 1000.0)

    assert written("same")
    assert not any(written("same") for _ in range(1000))
    for n in range(MAX_STEPS):
        written(n)
    assert len(flow.steps) == MAX_STEPS and flow.requests == 1001 + MAX_STEPS
    assert written("refused", error=True) and flow.last is flow.steps[-1] and flow.last.error
    assert flow.tally() == (1001, 0) and flow.tally() == (0, 0)


@pytest.mark.parametrize(("stages", "sentence"), [
    (["challenge", "resource-metadata", "server-metadata", "registered"], "registered at .*, never came back to /authorize"),
    (["registered", "consent-page", "approved"], "the owner approved at .*, the client never came back to /token"),
    (["token"], "got a token at .*, never called /mcp with the token"),
    (["registered", "consent-page", "denied"], "the owner denied access at "),
    (["mcp", "listed", "called"], "called tools at [0-9:]+$"),
    ([], "never reached a step of a connection"),
])
def test_the_verdict_names_the_step_never_tried(stages: list[str], sentence: str) -> None:
    verdict = judge([step(s, 1000.0 + i) for i, s in enumerate(stages)])
    assert re.search(sentence, verdict.sentence), verdict.sentence


def test_the_verdict_ends_with_the_latest_failure() -> None:
    steps = [step("token", 1000.0), step("", 1001.0, error=True, outcome=TOKEN_REFUSED)]
    assert re.search(f"^got a token at .*; last: POST /x → {TOKEN_REFUSED} at [0-9:]+$", judge(steps).sentence)


def test_the_journal_appends_0600_and_rotates_keeping_a_few_files(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "trace.jsonl", max_bytes=300, keep=2)
    for batch in range(6):
        for n in range(3):
            journal.add({"flow": f"f{batch}", **step("called", 1000.0 + n).to_json()})
        journal.flush()
    files = files_oldest_first(tmp_path / "trace.jsonl")
    assert {f.name for f in files} <= {"trace.jsonl", "trace.jsonl.1", "trace.jsonl.2"} and len(files) >= 2
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert lines and all(line["flow"].startswith("f") for line in lines)
    assert [h.id for h in read_histories(tmp_path / "trace.jsonl")] == sorted({line["flow"] for line in lines})


def test_a_journal_that_cannot_be_written_drops_its_batch_and_carries_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "missing" / "trace.jsonl", max_bytes=1000, keep=1)
    journal.add({"flow": "f", "t": 1.0})
    journal.flush()
    assert journal.dropped == 1 and journal.pending == []


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    good = {"flow": "abc", **step("registered").to_json(), "client": "c1", "addr": "a", "ua": "u"}
    (tmp_path / "trace.jsonl").write_text("not json\n[1]\n" + json.dumps(good) + '\n{"flow": "abc", "t"')
    [history] = read_histories(tmp_path / "trace.jsonl")
    assert history.client_id == "c1" and [s.stage for s in history.steps] == ["registered"]
