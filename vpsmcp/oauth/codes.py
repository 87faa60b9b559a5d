"""Authorization codes: one minute, one use, in memory (RFC 6749 §4.1.2, §10.5).

A code is taken out of the book by the first token request that names it,
whether that exchange then succeeds or not: a code that failed its PKCE
check cannot be tried again (authlib alone would keep it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vpsmcp.oauth.records import digest

CODE_LIFETIME = 60.0


@dataclass(frozen=True, slots=True)
class AuthCode:
    """What the owner approved, waiting for the client's token request."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    resource: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float

    # authlib's AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.scopes)


class CodeBook:
    """Issued, unused codes by digest, on ``clock`` (a test can turn it past a code's lifetime)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._codes: dict[str, AuthCode] = {}

    def expiry(self) -> float:
        """When a code issued now stops working."""
        return self.clock() + CODE_LIFETIME

    def put(self, code: str, record: AuthCode) -> None:
        self.sweep()
        self._codes[digest(code)] = record

    def take(self, code: str, client_id: str) -> AuthCode | None:
        """The code's record if it is live and the client's; it is spent either way."""
        record = self._codes.pop(digest(code), None)
        if record is None or record.expires_at <= self.clock() or record.client_id != client_id:
            return None
        return record

    def sweep(self) -> None:
        now = self.clock()
        for key in [k for k, r in self._codes.items() if r.expires_at <= now]:
            del self._codes[key]
