"""Who is calling: the credential a request came with, as the core sees it (plain data, no I/O).

The transport's gate (``access.Gate``) makes one for every request; the
dispatcher hands it to handlers in ``Context.caller`` and names it in each
``Answered``; sessions are bound to it (``binding``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller; ``scopes=None`` means unrestricted (no-auth mode)."""

    client_id: str | None = None
    token_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def binding(self) -> str:
        """What a session is bound to: the credential's grant, not the token value."""
        return f"{self.client_id or '-'}:{self.token_id or '-'}"


ANONYMOUS = Caller()
