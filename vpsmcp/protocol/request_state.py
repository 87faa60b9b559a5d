"""The opaque ``requestState`` of a 2026-07-28 ``input_required`` result.

The server keeps nothing between a call and its retry; instead it hands the
client the answers gathered so far, signed with the server's secret so a
client cannot forge or edit them, and bound to the method and target they
were gathered for (SEP-2322).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from vpsmcp.errors import JsonRpcError
from vpsmcp.protocol.jsonrpc import INVALID_PARAMS

PREFIX = "v1."


class RequestStateCodec:
    """Signs and verifies request states with an HMAC-SHA256 key."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"vpsmcp request state\0" + secret.encode()).digest()

    def encode(self, target: str, answers: dict[str, Any]) -> str:
        payload = json.dumps({"t": target, "a": answers}, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return PREFIX + _b64(mac + payload)

    def decode(self, target: str, state: object) -> dict[str, Any]:
        """The answers carried by ``state``; a forged, edited or misdirected state is an error."""
        bad = JsonRpcError(INVALID_PARAMS, "Invalid requestState: not issued by this server for this request")
        if not isinstance(state, str) or not state.startswith(PREFIX):
            raise bad
        body = state[len(PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise bad from None
        mac, payload = raw[:32], raw[32:]
        if not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()):
            raise bad
        data = json.loads(payload)
        if data.get("t") != target or not isinstance(data.get("a"), dict):
            raise bad
        answers: dict[str, Any] = data["a"]
        return answers


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
