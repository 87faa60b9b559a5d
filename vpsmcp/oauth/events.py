"""What the authorization server tells the connection trace: the seam ``oauth/service.py`` calls.

The trace sees every request from the outside (path, status, timing), but only
the service knows which client a request was about and what the owner decided.
It says so through ``AuthEvents``; the trace attaches that to the request being
served. Calls are cheap and never raise, and no secret is ever passed: only a
client id and a few words.
"""

from __future__ import annotations

from typing import Protocol


class AuthEvents(Protocol):
    """Called by the authorization service while it serves a request."""

    def client(self, client_id: str | None, event: str = "", detail: str = "") -> None:
        """The request concerns ``client_id``; ``event`` names what happened ("registered",
        "owner approved", "owner denied"), ``detail`` adds words (the scopes granted).
        With no ``event`` the call only links the request to the client."""


class NoAuthEvents:
    """``AuthEvents`` for a service nobody traces (the CLI's, tests')."""

    def client(self, client_id: str | None, event: str = "", detail: str = "") -> None:
        return None


NO_AUTH_EVENTS = NoAuthEvents()
