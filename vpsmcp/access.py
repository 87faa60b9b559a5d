"""Who is calling: the one seam where the bearer-token check plugs in.

Every transport asks ``Gate.admit(headers)`` before doing anything else and
gets a ``Principal`` back, or the gate raises the error to answer with (a 401
with its ``WWW-Authenticate`` challenge, once OAuth is in force). Sessions
are bound to the principal that created them (``Principal.binding``).
"""

from __future__ import annotations

from collections.abc import Mapping

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller; ``scopes=None`` means unrestricted (no-auth mode)."""

    client_id: str | None = None
    token_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def binding(self) -> str:
        """What a session is bound to: the credential's grant, not the token value."""
        return f"{self.client_id or '-'}:{self.token_id or '-'}"


ANONYMOUS = Principal()


class Gate(Protocol):
    """Decides who a request comes from, or refuses it."""

    def admit(self, headers: Mapping[str, str], resource: str) -> Principal:
        """The caller of a request to ``resource`` (``/mcp``, ``/sse``, ``/ws``)."""


class OpenGate:
    """No authentication: only ever served on loopback (enforced by the caller)."""

    def admit(self, headers: Mapping[str, str], resource: str) -> Principal:
        return ANONYMOUS
