"""The doctor's parsers and verdicts, with plain values: challenges, event streams, URLs, statuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsmcp.doctor.challenge import Challenge, bearer_of, parse_challenges
from vpsmcp.doctor.discovery import metadata_urls
from vpsmcp.doctor.model import EXIT_STATUS, Check, DoctorError, Outcome, Status, verdict
from vpsmcp.doctor.sse import EventParser, Item
from vpsmcp.doctor.streaming import _lumps
from vpsmcp.doctor.target import canonical, is_internal_host, parse_target


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b"',
         [Challenge("Bearer", {"resource_metadata": "https://h/.well-known/oauth-protected-resource/mcp",
                               "scope": "a b"})]),
        ('Basic realm="x", Bearer error="invalid_token", error_description="a, \\"b\\""',
         [Challenge("Basic", {"realm": "x"}), Challenge("Bearer", {"error": "invalid_token",
                                                                    "error_description": 'a, "b"'})]),
        ("Bearer", [Challenge("Bearer", {})]),
        ("Basic dXNlcjpwYXNz, Bearer scope=x", [Challenge("Basic", {}), Challenge("Bearer", {"scope": "x"})]),
        ('bearer Resource_Metadata=u,scope="y"', [Challenge("bearer", {"resource_metadata": "u", "scope": "y"})]),
        ("", []),
    ],
)
def test_challenges_are_parsed_as_rfc_9110_writes_them(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_the_bearer_challenge_is_found_among_others() -> None:
    found = bearer_of('Basic realm="x", Bearer resource_metadata="u"')
    assert found is not None and found.params == {"resource_metadata": "u"}
    assert bearer_of('Basic realm="x"') is None and bearer_of(None) is None


@given(st.text(max_size=200))
def test_any_header_parses_to_challenges_or_nothing(header: str) -> None:
    assert all(isinstance(c, Challenge) for c in parse_challenges(header))


def _strip(items: list[Item]) -> list[tuple[bool, str, str, str | None]]:
    return [(i.comment, i.event, i.data, i.id) for i in items]


def test_events_and_comments_are_read_across_chunks_and_line_endings() -> None:
    stream = b"id: 0\r\nretry: 1000\r\ndata: \r\n\r\n: keep-alive\n\nevent: endpoint\rdata: /messages?x=1\r\r" \
             b"data: {\"a\":\ndata: 1}\n\nretry: 5\n\n"
    whole = _strip(EventParser().feed(stream, 0.0))
    parser = EventParser()
    pieces = [item for i in range(len(stream)) for item in parser.feed(stream[i:i + 1], 0.0)]
    assert _strip(pieces) == whole == [
        (False, "message", "", "0"),
        (True, "message", "keep-alive", None),
        (False, "endpoint", "/messages?x=1", None),
        (False, "message", '{"a":\n1}', None),
    ]


def test_multibyte_text_split_between_chunks_is_kept() -> None:
    parser = EventParser()
    data = "data: é✓\n\n".encode()
    items = parser.feed(data[:7], 0.0) + parser.feed(data[7:], 0.0)
    assert [i.data for i in items] == ["é✓"]


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
def test_any_bytes_give_items_in_any_chunking(data: bytes, size: int) -> None:
    whole = _strip(EventParser().feed(data, 0.0))
    parser = EventParser()
    pieces = [item for i in range(0, len(data), size) for item in parser.feed(data[i:i + size], 0.0)]
    assert _strip(pieces) == whole


def test_keep_alives_that_arrive_together_are_counted_as_held_back() -> None:
    spaced = [(0.5, True), (1.0, True), (1.5, True)]
    lumped = [(3.0, True), (3.001, True), (3.002, True)]
    assert _lumps(spaced) == 0
    assert _lumps(lumped) == 2
    assert _lumps([(1.0, False), (1.001, False)]) == 0  # messages may come together


@pytest.mark.parametrize(
    ("text", "url", "origin"),
    [
        ("https://Mcp.Example.com", "https://mcp.example.com/mcp", "https://mcp.example.com"),
        ("https://mcp.example.com/", "https://mcp.example.com/mcp", "https://mcp.example.com"),
        ("https://mcp.example.com:443/mcp/", "https://mcp.example.com/mcp", "https://mcp.example.com"),
        ("http://127.0.0.1:8765/sse", "http://127.0.0.1:8765/sse", "http://127.0.0.1:8765"),
        ("http://[::1]:9/mcp", "http://[::1]:9/mcp", "http://[::1]:9"),
    ],
)
def test_targets_default_to_mcp_and_keep_non_default_ports(text: str, url: str, origin: str) -> None:
    target = parse_target(text)
    assert (target.url, target.origin) == (url, origin)


@pytest.mark.parametrize("text", ["ftp://x/mcp", "https://", "https://h/mcp?x=1", "https://u:p@h/mcp",
                                  "https://h:99999/mcp", "mcp.example.com"])
def test_targets_that_cannot_be_checked_are_refused(text: str) -> None:
    with pytest.raises(DoctorError):
        parse_target(text)


def test_canonical_urls_ignore_case_default_port_and_trailing_slash() -> None:
    assert canonical("HTTPS://Host:443/mcp/") == "https://host/mcp"
    assert canonical("http://host:8080/") == "http://host:8080"


@pytest.mark.parametrize(("host", "internal"), [("127.0.0.1", True), ("10.1.2.3", True), ("localhost", True),
                                                 ("::1", True), ("203.0.113.9", True), ("8.8.8.8", False),
                                                 ("mcp.example.com", False)])
def test_internal_hosts_are_those_no_one_else_reaches(host: str, internal: bool) -> None:
    assert is_internal_host(host) is internal


def test_metadata_urls_follow_the_order_clients_try() -> None:
    assert metadata_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://as.example/tenant/") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant",
        "https://as.example/.well-known/openid-configuration/tenant",
        "https://as.example/tenant/.well-known/openid-configuration",
    ]


def _check(status: Status) -> Check:
    return Check("group", "name", Outcome(status, "seen"), 0.0)


@pytest.mark.parametrize(
    ("found", "overall", "exit_status"),
    [
        ([Status.PASS, Status.SKIP], Status.PASS, 0),
        ([Status.PASS, Status.WARN, Status.SKIP], Status.WARN, 3),
        ([Status.WARN, Status.FAIL, Status.PASS], Status.FAIL, 1),
        ([], Status.PASS, 0),
    ],
)
def test_the_verdict_is_the_worst_step_and_skips_do_not_count(
    found: list[Status], overall: Status, exit_status: int
) -> None:
    result = verdict([_check(s) for s in found])
    assert result is overall and EXIT_STATUS[result] == exit_status
