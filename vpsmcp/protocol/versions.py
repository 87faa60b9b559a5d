"""Protocol versions and the two eras they belong to.

Handshake era (2024-11-05 … 2025-11-25): ``initialize`` negotiates a version
and, over Streamable HTTP, a session. Stateless era (2026-07-28): every
request carries its version and capabilities in ``params._meta``; the client
learns what the server speaks from ``server/discover``.
"""

from __future__ import annotations

from enum import Enum

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS = ("2026-07-28",)
SUPPORTED_VERSIONS = HANDSHAKE_VERSIONS + STATELESS_VERSIONS
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
# What a Streamable HTTP request without MCP-Protocol-Version is taken to speak
# (basic/transports, "Protocol Version Header").
DEFAULT_HTTP_VERSION = "2025-03-26"


class Era(Enum):
    """Which set of protocol rules a message follows."""

    HANDSHAKE = "handshake"
    STATELESS = "stateless"


def era_of(version: str) -> Era | None:
    """The era of a version we support, else ``None``."""
    if version in STATELESS_VERSIONS:
        return Era.STATELESS
    if version in HANDSHAKE_VERSIONS:
        return Era.HANDSHAKE
    return None


def negotiate(requested: object) -> str:
    """The version to answer ``initialize`` with: the client's if we speak it
    in the handshake era, else our latest (basic/lifecycle, "Version Negotiation")."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE


def at_least(version: str, minimum: str) -> bool:
    """Versions are dates, so they order as strings."""
    return version >= minimum
