"""Checks every MCP request passes before it is read: Host, Origin, size.

DNS-rebinding protection (basic/transports, "Security Warning"): a page on a
hostile site may reach a server on the owner's machine through the browser;
its requests carry that site's ``Origin`` (or, after rebinding, an unknown
``Host``). A present but foreign ``Origin`` gets 403, an unknown ``Host``
421. An absent ``Origin`` is allowed: non-browser clients send none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from vpsmcp.errors import TransportError
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True, slots=True)
class Guard:
    """Which ``Host`` and ``Origin`` values this server answers."""

    hosts: frozenset[str]
    origins: frozenset[str]
    max_body: int

    @classmethod
    def build(cls, public_url: str, listen: str, allowed_origins: Iterable[str], max_body: int) -> Guard:
        public = urlsplit(public_url)
        hosts = {public.netloc.lower(), (public.hostname or "").lower()}
        if listen in LOOPBACK_NAMES or listen.startswith("127."):
            hosts |= LOOPBACK_NAMES
        origins = {_origin(public_url)} | {_origin(o) for o in allowed_origins}
        return cls(frozenset(h for h in hosts if h), frozenset(origins), max_body)

    def check(self, headers: Mapping[str, str]) -> None:
        """Raise the error to answer with, or return when the request may proceed."""
        host = headers.get("host", "").lower()
        if host and host not in self.hosts and _strip_port(host) not in self.hosts:
            raise TransportError(421, INVALID_REQUEST, f"Misdirected request: unknown Host {host!r}")
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            raise TransportError(403, INVALID_REQUEST, f"Forbidden: Origin {origin!r} is not allowed")
        length = headers.get("content-length")
        if length and length.isascii() and length.isdigit() and int(length) > self.max_body:
            raise TransportError(413, INVALID_REQUEST, f"Request body larger than {self.max_body} bytes")

    def _origin_allowed(self, origin: str) -> bool:
        origin = origin.lower()
        if origin in self.origins:
            return True
        try:
            parts = urlsplit(origin)
            host = parts.hostname or ""
        except ValueError:  # "http://[::1" and the like: no origin at all, so not an allowed one
            return False
        return host in LOOPBACK_NAMES and parts.scheme in ("http", "https")


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
