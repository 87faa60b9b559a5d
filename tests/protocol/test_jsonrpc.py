from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsmcp.errors import JsonRpcError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import ErrorResponse, Notification, Request, Response, encode, parse

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500)
@given(st.binary())
def test_any_bytes_parse_or_raise_our_error(data: bytes) -> None:
    try:
        parse(data)
    except JsonRpcError:
        pass


@settings(max_examples=500)
@given(JSON)
def test_any_json_value_parses_or_raises_our_error(value: object) -> None:
    try:
        parse(json.dumps(value).encode())
    except JsonRpcError:
        pass


@settings(max_examples=300)
@given(
    st.one_of(st.text(min_size=1), st.integers()),
    st.text(min_size=1),
    st.dictionaries(st.text(), JSON, max_size=3),
)
def test_requests_round_trip(msg_id: str | int, method: str, params: dict[str, object]) -> None:
    request = Request(msg_id, method, params)
    assert parse(encode(request)) == request


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"}', Request(1, "ping")),
        (b'{"jsonrpc":"2.0","id":"a","method":"x","params":{"k":1}}', Request("a", "x", {"k": 1})),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', Notification("notifications/initialized")),
        (b'{"jsonrpc":"2.0","id":3,"result":{}}', Response(3, {})),
        (b'{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}', ErrorResponse(3, -1, "no")),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":null}', Request(1, "x")),
    ],
)
def test_valid_messages(body: bytes, expected: object) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize(
    ("body", "code", "message_id"),
    [
        (b"", jsonrpc.PARSE_ERROR, None),
        (b"{", jsonrpc.PARSE_ERROR, None),
        (b"\xff\xfe", jsonrpc.PARSE_ERROR, None),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"v":NaN}}', jsonrpc.PARSE_ERROR, None),
        (b"[" * 100_000, jsonrpc.PARSE_ERROR, None),
        (b"[]", jsonrpc.INVALID_REQUEST, None),
        (b"42", jsonrpc.INVALID_REQUEST, None),
        (b'{"id":1,"method":"x"}', jsonrpc.INVALID_REQUEST, 1),
        (b'{"jsonrpc":"2.0","id":null,"method":"x"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"x"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":7,"method":""}', jsonrpc.INVALID_REQUEST, 7),
        (b'{"jsonrpc":"2.0","id":7,"method":"x","params":[1]}', jsonrpc.INVALID_REQUEST, 7),
        (b'{"jsonrpc":"2.0","id":7}', jsonrpc.INVALID_REQUEST, None),
    ],
)
def test_invalid_messages_carry_code_and_id(body: bytes, code: int, message_id: object) -> None:
    with pytest.raises(JsonRpcError) as info:
        parse(body)
    assert info.value.code == code
    assert info.value.id == message_id


def test_batch_parses_to_list() -> None:
    body = b'[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]'
    assert parse(body) == [Request(1, "a"), Notification("b")]


def test_error_response_encodes_data_only_when_present() -> None:
    assert json.loads(encode(ErrorResponse(1, -32601, "nope"))) == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32601, "message": "nope"},
    }
    assert json.loads(encode(ErrorResponse(None, 1, "m", {"x": 1})))["error"]["data"] == {"x": 1}


def test_a_lone_surrogate_is_answered_with_escapes_that_decode_to_it() -> None:
    message = jsonrpc.parse(b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}')
    assert isinstance(message, jsonrpc.Request) and message.id == "\ud800"
    encoded = jsonrpc.encode(jsonrpc.Response(message.id, {"echo": "x\udfffy"}))
    assert encoded.isascii() and json.loads(encoded) == {"jsonrpc": "2.0", "id": "\ud800", "result": {"echo": "x\udfffy"}}
    assert jsonrpc.encode(jsonrpc.Response(1, {"text": "é"})) == '{"jsonrpc":"2.0","id":1,"result":{"text":"é"}}'.encode()
