"""Authorization codes: one minute, one use (RFC 6749 §4.1.2, §10.5); in memory, or in a shared store.

A code is taken out of the book by the first token request that names it,
whether that exchange then succeeds or not: a code that failed its PKCE
check cannot be tried again (authlib alone would keep it). A spent code is
remembered for a while with the grant it produced, so a replay can revoke
that grant (RFC 6749 §4.1.2: the code was stolen, and so may its tokens be).

``CodeBook`` keeps them in this process (the ``files`` store); ``SharedCodeBook``
in the store several instances share (``sqlite``): the owner may approve on one
instance and the client exchange the code on another, and the code is spent
once whichever sees it first (the token request's transaction holds the lock).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vpsmcp.oauth.records import digest

CODE_LIFETIME = 60.0
SPENT_MEMORY = 600.0


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
    digest: str = ""

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
        self._spent: dict[str, tuple[float, str | None]] = {}  # digest -> (forget at, grant id)

    def expiry(self) -> float:
        """When a code issued now stops working."""
        return self.clock() + CODE_LIFETIME

    def put(self, code: str, record: AuthCode) -> None:
        self.sweep()
        key = digest(code)
        self._codes[key] = dataclasses.replace(record, digest=key)

    def take(self, code: str, client_id: str) -> AuthCode | None:
        """The code's record if it is live and the client's; it is spent either way."""
        key = digest(code)
        record = self._codes.pop(key, None)
        if record is None:
            return None
        self._spent[key] = (self.clock() + SPENT_MEMORY, None)
        if record.expires_at <= self.clock() or record.client_id != client_id:
            return None
        return record

    def issued(self, code_digest: str, grant_id: str) -> None:
        """Remember which grant a spent code produced."""
        if code_digest in self._spent:
            self._spent[code_digest] = (self._spent[code_digest][0], grant_id)

    def replayed(self, code: str) -> str | None:
        """The grant of a code presented again after it was spent, if it produced one."""
        spent = self._spent.get(digest(code))
        return spent[1] if spent else None

    def sweep(self) -> None:
        now = self.clock()
        for key in [k for k, r in self._codes.items() if r.expires_at <= now]:
            del self._codes[key]
        for key in [k for k, (forget_at, _) in self._spent.items() if forget_at <= now]:
            del self._spent[key]


@runtime_checkable
class CodeShelf(Protocol):
    """Where a shared store keeps codes by digest (``sqlite_store.SqliteStore``)."""

    def put_code(self, key: str, record: dict[str, Any], expires_at: float, forget_at: float) -> None: ...
    def take_code(self, key: str, forget_at: float) -> dict[str, Any] | None: ...
    def code_issued(self, key: str, grant_id: str) -> None: ...
    def code_grant(self, key: str) -> str | None: ...
    def sweep_codes(self, now: float) -> None: ...


class SharedCodeBook(CodeBook):
    """``CodeBook`` on a ``CodeShelf``: the same rules, seen by every instance."""

    def __init__(self, shelf: CodeShelf, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.shelf = shelf

    def put(self, code: str, record: AuthCode) -> None:
        key = digest(code)
        fields = dataclasses.asdict(dataclasses.replace(record, digest=key))
        self.shelf.put_code(key, fields, record.expires_at, self.clock() + SPENT_MEMORY)

    def take(self, code: str, client_id: str) -> AuthCode | None:
        fields = self.shelf.take_code(digest(code), self.clock() + SPENT_MEMORY)
        if fields is None:
            return None
        record = AuthCode(**{**fields, "scopes": tuple(fields["scopes"])})
        if record.expires_at <= self.clock() or record.client_id != client_id:
            return None
        return record

    def issued(self, code_digest: str, grant_id: str) -> None:
        self.shelf.code_issued(code_digest, grant_id)

    def replayed(self, code: str) -> str | None:
        return self.shelf.code_grant(digest(code))

    def sweep(self) -> None:
        self.shelf.sweep_codes(self.clock())
